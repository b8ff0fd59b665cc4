// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmodctl: what every command uses: messages, the device, pidfds,
 * numbers on the command line, sizes.
 */
#include "ksmmodctl.h"

/* Print "ksmmodctl: <message>" on stderr. */
static void verr_msg(const char *fmt, va_list ap)
{
	fputs("ksmmodctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void err_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr_msg(fmt, ap);
	va_end(ap);
}

/* Report a malformed command line and return the usage exit status. */
int usage_err(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr_msg(fmt, ap);
	va_end(ap);
	return EXIT_USAGE;
}

unsigned long page_size(void)
{
	long sz = sysconf(_SC_PAGESIZE);

	return sz > 0 ? (unsigned long)sz : 4096;
}

/*
 * Format @bytes (may be negative) as "N B" below 1 KiB, else with one decimal
 * in the largest binary unit that keeps the number >= 1 (e.g. "3.9 MiB").
 */
const char *fmt_size(char *buf, size_t len, long double bytes)
{
	static const char * const units[] = {
		"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"
	};
	long double abs = bytes < 0 ? -bytes : bytes;
	size_t u = 0;

	if (abs < 1024) {
		snprintf(buf, len, "%.0Lf B", bytes);
		return buf;
	}
	bytes /= 1024;
	abs /= 1024;
	/* 1023.96 KiB would print as "1024.0 KiB": move on to the next unit. */
	while (abs >= 1023.95L && u < ARRAY_SIZE(units) - 1) {
		bytes /= 1024;
		abs /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1Lf %s", bytes, units[u]);
	return buf;
}

/* Format a page count as a size, e.g. "3.9 MiB". */
const char *fmt_pages(char *buf, size_t len, uint64_t pages)
{
	return fmt_size(buf, len, (long double)pages * page_size());
}

/*
 * Open the device and check that it is a character device. On failure print
 * one line explaining it and return -1.
 */
int open_device(int flags)
{
	int fd = open(device, flags | O_CLOEXEC);
	struct stat st;

	if (fd >= 0) {
		if (fstat(fd, &st) == 0 && !S_ISCHR(st.st_mode)) {
			err_msg("%s: not a character device (not the ksmmod device?)", device);
			close(fd);
			return -1;
		}
		return fd;
	}

	switch (errno) {
	case ENOENT:
	case ENODEV:
	case ENXIO:
		err_msg("%s: no such device (is the ksmmod module loaded? try: modprobe ksmmod)",
			device);
		break;
	case EACCES:
	case EPERM:
		err_msg("%s: permission denied (run as root)", device);
		break;
	default:
		err_msg("%s: %s", device, strerror(errno));
		break;
	}
	return -1;
}

/*
 * Explain a failed ioctl @what (errno set) in one line. Errors of SET_PARAMS
 * are explained by cmd_set() itself.
 */
void ioctl_err(const char *what)
{
	switch (errno) {
	case ENOTTY:
		err_msg("%s: the module does not support this command (module too old?)", what);
		break;
	case E2BIG:
		err_msg("%s: the module rejects unknown fields (module older than ksmmodctl?)", what);
		break;
	default:
		err_msg("%s: %s", what, strerror(errno));
		break;
	}
}

/* KSMMOD_IOC_API: fill @api. Returns 0, or -1 after printing the error. */
int get_api(int fd, struct ksmmod_api *api)
{
	memset(api, 0, sizeof(*api));
	api->size = sizeof(*api);
	api->api_version = KSMMOD_API_VERSION;
	if (ioctl(fd, KSMMOD_IOC_API, api) < 0) {
		ioctl_err("KSMMOD_IOC_API");
		return -1;
	}
	return 0;
}

/* Read every parameter and counter from the open device @fd; 0 or -1 (said why). */
int get_params_stats(int fd, struct ksmmod_params *p, struct ksmmod_stats *s)
{
	memset(p, 0, sizeof(*p));
	p->size = sizeof(*p);
	if (ioctl(fd, KSMMOD_IOC_GET_PARAMS, p) < 0) {
		ioctl_err("KSMMOD_IOC_GET_PARAMS");
		return -1;
	}
	memset(s, 0, sizeof(*s));
	s->size = sizeof(*s);
	if (ioctl(fd, KSMMOD_IOC_GET_STATS, s) < 0) {
		ioctl_err("KSMMOD_IOC_GET_STATS");
		return -1;
	}
	return 0;
}

/*
 * Open the device read-only and read every parameter and counter: the open
 * fd, or -1 (said why, nothing left open).
 */
int open_params_stats(struct ksmmod_params *p, struct ksmmod_stats *s)
{
	int fd = open_device(O_RDONLY);

	if (fd >= 0 && get_params_stats(fd, p, s)) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/*
 * Parse a decimal unsigned 32-bit number: digits only (no sign, no blanks,
 * no trailing garbage), at least one. Returns 0, -EINVAL if @s is not such a
 * number, -ERANGE if it does not fit in 32 bits.
 */
int parse_u32(const char *s, uint32_t *out)
{
	uint64_t v = 0;
	bool overflow = false;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -EINVAL;
		v = v * 10 + (uint64_t)(*s - '0');
		if (v > UINT32_MAX) {
			overflow = true;
			v = UINT32_MAX;	/* keep going: "9999999999x" is -EINVAL */
		}
	}
	if (overflow)
		return -ERANGE;
	*out = (uint32_t)v;
	return 0;
}

/*
 * Parse an unsigned 64-bit number: decimal, or hex after "0x"/"0X"; digits
 * only (no sign, no blanks), at least one. With @suffix, one of K, M, G
 * (or k, m, g) may follow: KiB, MiB, GiB. Returns 0, -EINVAL if @s is not
 * such a number, -ERANGE if it does not fit in 64 bits.
 */
int parse_u64(const char *s, bool suffix, uint64_t *out)
{
	unsigned int base = 10, shift = 0;
	bool overflow = false;
	uint64_t v = 0;
	const char *p;

	if ((s[0] == '0') && (s[1] == 'x' || s[1] == 'X')) {
		base = 16;
		s += 2;
	}
	if (!*s)
		return -EINVAL;
	for (p = s; *p; p++) {
		unsigned int digit;

		if (*p >= '0' && *p <= '9')
			digit = (unsigned int)(*p - '0');
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			digit = (unsigned int)(*p - 'a' + 10);
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			digit = (unsigned int)(*p - 'A' + 10);
		else
			break;
		if (v > (UINT64_MAX - digit) / base)
			overflow = true;	/* keep going: "99...9x" is -EINVAL */
		v = v * base + digit;
	}
	if (p == s)
		return -EINVAL;
	if (*p && suffix && !p[1]) {
		switch (*p) {
		case 'K': case 'k': shift = 10; break;
		case 'M': case 'm': shift = 20; break;
		case 'G': case 'g': shift = 30; break;
		default: return -EINVAL;
		}
	} else if (*p) {
		return -EINVAL;
	}
	if (overflow || (shift && v > (UINT64_MAX >> shift)))
		return -ERANGE;
	*out = v << shift;
	return 0;
}

/*
 * Parse the PID argument of @cmd: a positive decimal process id. Returns 0,
 * or the usage exit status after printing why.
 */
int parse_pid(const char *cmd, const char *s, pid_t *out)
{
	uint32_t v;
	int ret = parse_u32(s, &v);

	if (ret == -EINVAL)
		return usage_err("%s: PID '%s' is not a process id (a decimal number > 0)", cmd, s);
	if (ret == -ERANGE || v > INT32_MAX)
		return usage_err("%s: PID '%s' is out of range", cmd, s);
	if (v == 0)
		return usage_err("%s: PID must be > 0 (0 would be ksmmodctl itself, which exits at once)",
				 cmd);
	*out = (pid_t)v;
	return 0;
}

/*
 * pidfd_open(2) of @pid. Never returns descriptor 0: the module reads a
 * pidfd of 0 as "the caller", which is ksmmodctl. Returns the pidfd, or -1
 * after printing the error.
 */
int open_pidfd(pid_t pid)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);

	if (pidfd == 0) {
		/* stdin was closed: move it to a descriptor that means what it is. */
		int fd = fcntl(pidfd, F_DUPFD_CLOEXEC, 1);

		close(pidfd);
		pidfd = fd;
	}
	if (pidfd >= 0)
		return pidfd;

	switch (errno) {
	case ESRCH:
		err_msg("process %d: no such process", (int)pid);
		break;
	case EINVAL:
		err_msg("%d is not a process id (a thread id?)", (int)pid);
		break;
	case ENOSYS:
		err_msg("pidfd_open: not supported by this kernel (Linux 5.3 or later needed)");
		break;
	default:
		err_msg("pidfd_open(%d): %s", (int)pid, strerror(errno));
		break;
	}
	return -1;
}

/*
 * The device (opened with @flags) and a pidfd of @pid in *@pidfd. Returns
 * the device descriptor, or -1 (with nothing left open) after printing why.
 */
int open_device_pidfd(int flags, pid_t pid, int *pidfd)
{
	int fd = open_device(flags);

	if (fd < 0)
		return -1;
	*pidfd = open_pidfd(pid);
	if (*pidfd < 0) {
		close(fd);
		return -1;
	}
	return fd;
}
