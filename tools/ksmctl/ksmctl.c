// SPDX-License-Identifier: GPL-2.0
/*
 * ksmctl - control the ksmmod kernel module through /dev/ksmmod.
 *
 *   ksmctl [-d PATH] version
 *   ksmctl [-d PATH] status [--raw]
 *   ksmctl [-d PATH] set NAME=VALUE...
 *   ksmctl help
 *
 * Exit status: 0 success, 1 error, 2 usage error (bad command line).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <linux/ksmmod.h>

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#define EXIT_USAGE	2

#define DEFAULT_DEVICE	"/dev/" KSMMOD_DEVICE_NAME

/* The UAPI promises these sizes; catch a header that breaks them. */
_Static_assert(sizeof(struct ksmmod_api) == KSMMOD_API_SIZE_VER0, "ksmmod_api size");
_Static_assert(sizeof(struct ksmmod_params) == KSMMOD_PARAMS_SIZE_VER0, "ksmmod_params size");
_Static_assert(sizeof(struct ksmmod_stats) == KSMMOD_STATS_SIZE_VER0, "ksmmod_stats size");

static const char *device = DEFAULT_DEVICE;

/* One tunable of struct ksmmod_params. */
struct param_desc {
	const char *name;
	__u64 bit;		/* KSMMOD_PARAM_* */
	size_t offset;		/* of the __u32 field in struct ksmmod_params */
	uint32_t min;
	uint32_t max;
	bool pages;		/* value is a number of pages */
};

#define PARAM(_name, _bit, _min, _max, _pages) {			\
	.name = #_name,							\
	.bit = (_bit),							\
	.offset = offsetof(struct ksmmod_params, _name),		\
	.min = (_min),							\
	.max = (_max),							\
	.pages = (_pages),						\
}

static const struct param_desc params[] = {
	PARAM(run, KSMMOD_PARAM_RUN, 0, KSMMOD_RUN_UNMERGE, false),
	PARAM(pages_to_scan, KSMMOD_PARAM_PAGES_TO_SCAN, 0, UINT32_MAX, true),
	PARAM(sleep_millisecs, KSMMOD_PARAM_SLEEP_MILLISECS, 0, UINT32_MAX, false),
	PARAM(max_page_sharing, KSMMOD_PARAM_MAX_PAGE_SHARING, 2, INT32_MAX, false),
	PARAM(stable_node_chains_prune_millisecs,
	      KSMMOD_PARAM_STABLE_NODE_CHAINS_PRUNE_MILLISECS, 0, UINT32_MAX, false),
	PARAM(merge_across_nodes, KSMMOD_PARAM_MERGE_ACROSS_NODES, 0, 1, false),
	PARAM(use_zero_pages, KSMMOD_PARAM_USE_ZERO_PAGES, 0, 1, false),
};

/* One counter of struct ksmmod_stats (general_profit is handled apart). */
struct stat_desc {
	const char *name;
	size_t offset;		/* of the __u64 field in struct ksmmod_stats */
	bool pages;		/* value is a number of pages */
};

#define STAT(_name, _pages) {						\
	.name = #_name,							\
	.offset = offsetof(struct ksmmod_stats, _name),			\
	.pages = (_pages),						\
}

static const struct stat_desc stats[] = {
	STAT(pages_shared, true),
	STAT(pages_sharing, true),
	STAT(pages_unshared, true),
	STAT(pages_volatile, true),
	STAT(pages_scanned, true),
	STAT(pages_skipped, true),
	STAT(full_scans, false),
	STAT(stable_node_chains, false),
	STAT(stable_node_dups, true),
	STAT(ksm_zero_pages, true),
	STAT(rmap_items, false),
};

static const char * const run_names[] = {
	[KSMMOD_RUN_STOP] = "stop",
	[KSMMOD_RUN_MERGE] = "merge",
	[KSMMOD_RUN_UNMERGE] = "unmerge",
};

static const char * const feature_names[] = {
	"params",	/* KSMMOD_FEATURE_PARAMS */
	"stats",	/* KSMMOD_FEATURE_STATS */
};

static const char * const ioctl_names[] = {
	[KSMMOD_NR_API] = "API",
	[KSMMOD_NR_GET_PARAMS] = "GET_PARAMS",
	[KSMMOD_NR_SET_PARAMS] = "SET_PARAMS",
	[KSMMOD_NR_GET_STATS] = "GET_STATS",
};

/* Print "ksmctl: <message>" on stderr. */
__attribute__((format(printf, 1, 2)))
static void err_msg(const char *fmt, ...)
{
	va_list ap;

	fputs("ksmctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* Print the help text on @f. */
static void usage(FILE *f)
{
	fprintf(f,
		"usage: ksmctl [-d PATH | --device PATH] COMMAND [ARGS]\n"
		"\n"
		"Control the ksmmod kernel module (Kernel Samepage Merging).\n"
		"\n"
		"commands:\n"
		"  version              show module API version, features and ioctls\n"
		"  status [--raw]       show all parameters and counters\n"
		"                       (--raw: 'name value' lines only)\n"
		"  set NAME=VALUE...    change parameters, all or none\n"
		"                       (run also accepts stop, merge, unmerge)\n"
		"  help                 show this help\n"
		"\n"
		"options:\n"
		"  -d, --device PATH    device to use (default %s)\n"
		"\n"
		"parameters:\n",
		DEFAULT_DEVICE);
	for (size_t i = 0; i < ARRAY_SIZE(params); i++)
		fprintf(f, "  %-36s %" PRIu32 "-%" PRIu32 "\n",
			params[i].name, params[i].min, params[i].max);
}

/* Report a malformed command line and return the usage exit status. */
__attribute__((format(printf, 1, 2)))
static int usage_err(const char *fmt, ...)
{
	va_list ap;

	fputs("ksmctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return EXIT_USAGE;
}

static unsigned long page_size(void)
{
	long sz = sysconf(_SC_PAGESIZE);

	return sz > 0 ? (unsigned long)sz : 4096;
}

/*
 * Format @bytes (may be negative) as "N B" below 1 KiB, else with one decimal
 * in the largest binary unit that keeps the number >= 1 (e.g. "3.9 MiB").
 */
static const char *fmt_size(char *buf, size_t len, long double bytes)
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
static const char *fmt_pages(char *buf, size_t len, uint64_t pages)
{
	return fmt_size(buf, len, (long double)pages * page_size());
}

/*
 * Open the device and check that it is a character device. On failure print
 * one line explaining it and return -1.
 */
static int open_device(int flags)
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
static void ioctl_err(const char *what)
{
	switch (errno) {
	case ENOTTY:
		err_msg("%s: the module does not support this command (module too old?)", what);
		break;
	case E2BIG:
		err_msg("%s: the module rejects unknown fields (module older than ksmctl?)", what);
		break;
	default:
		err_msg("%s: %s", what, strerror(errno));
		break;
	}
}

/* KSMMOD_IOC_API: fill @api. Returns 0, or -1 after printing the error. */
static int get_api(int fd, struct ksmmod_api *api)
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

/* Print the names of the bits set in @bits, unknown ones as "bitN". */
static void print_bits(uint64_t bits, const char * const *names, size_t nr_names)
{
	bool first = true;

	if (!bits) {
		printf(" (none)\n");
		return;
	}
	for (unsigned int i = 0; i < 64; i++) {
		if (!(bits & (1ULL << i)))
			continue;
		if (i < nr_names && names[i])
			printf("%s%s", first ? " " : ", ", names[i]);
		else
			printf("%sbit%u", first ? " " : ", ", i);
		first = false;
	}
	printf("\n");
}

/* "ksmctl version": show what the module reports about itself. */
static int cmd_version(void)
{
	struct ksmmod_api api;
	int fd, ret;

	fd = open_device(O_RDONLY);
	if (fd < 0)
		return EXIT_FAILURE;
	ret = get_api(fd, &api);
	close(fd);
	if (ret)
		return EXIT_FAILURE;

	printf("ksmctl API version: %u\n", KSMMOD_API_VERSION);
	printf("module API version: %" PRIu32 "\n", (uint32_t)api.api_version);
	printf("module version:     %.*s\n",
	       (int)strnlen(api.module_version, sizeof(api.module_version)),
	       api.module_version);
	printf("kernel release:     %.*s\n",
	       (int)strnlen(api.kernel_release, sizeof(api.kernel_release)),
	       api.kernel_release);
	printf("features:          ");
	print_bits(api.features, feature_names, ARRAY_SIZE(feature_names));
	printf("ioctls:            ");
	print_bits(api.ioctls, ioctl_names, ARRAY_SIZE(ioctl_names));
	fflush(stdout);

	if (api.api_version < KSMMOD_API_VERSION)
		fprintf(stderr,
			"ksmctl: warning: module API version %" PRIu32
			" is older than ksmctl's (%u); some commands may fail\n",
			(uint32_t)api.api_version, KSMMOD_API_VERSION);
	return EXIT_SUCCESS;
}

static uint32_t *param_field(struct ksmmod_params *p, const struct param_desc *d)
{
	return (uint32_t *)((char *)p + d->offset);
}

/* "ksmctl status [--raw]": print every parameter and counter. */
static int cmd_status(bool raw)
{
	struct ksmmod_params p;
	struct ksmmod_stats s;
	int width = (int)strlen("general_profit");
	char buf[64];
	int fd;

	fd = open_device(O_RDONLY);
	if (fd < 0)
		return EXIT_FAILURE;

	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	if (ioctl(fd, KSMMOD_IOC_GET_PARAMS, &p) < 0) {
		ioctl_err("KSMMOD_IOC_GET_PARAMS");
		close(fd);
		return EXIT_FAILURE;
	}
	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	if (ioctl(fd, KSMMOD_IOC_GET_STATS, &s) < 0) {
		ioctl_err("KSMMOD_IOC_GET_STATS");
		close(fd);
		return EXIT_FAILURE;
	}
	close(fd);

	for (size_t i = 0; i < ARRAY_SIZE(params); i++)
		if ((int)strlen(params[i].name) > width)
			width = (int)strlen(params[i].name);
	for (size_t i = 0; i < ARRAY_SIZE(stats); i++)
		if ((int)strlen(stats[i].name) > width)
			width = (int)strlen(stats[i].name);

	/* Parameters: only those the module reports in @mask. */
	for (size_t i = 0; i < ARRAY_SIZE(params); i++) {
		const struct param_desc *d = &params[i];
		uint32_t v = *param_field(&p, d);

		if (!(p.mask & d->bit))
			continue;
		if (raw) {
			printf("%s %" PRIu32 "\n", d->name, v);
		} else if (d->bit == KSMMOD_PARAM_RUN) {
			printf("%-*s  %" PRIu32 " (%s)\n", width, d->name, v,
			       v < ARRAY_SIZE(run_names) ? run_names[v] : "unknown");
		} else if (d->pages) {
			printf("%-*s  %" PRIu32 " (%s)\n", width, d->name, v,
			       fmt_pages(buf, sizeof(buf), v));
		} else {
			printf("%-*s  %" PRIu32 "\n", width, d->name, v);
		}
	}

	if (!raw)
		printf("\n");

	for (size_t i = 0; i < ARRAY_SIZE(stats); i++) {
		const struct stat_desc *d = &stats[i];
		uint64_t v = *(const __u64 *)((const char *)&s + d->offset);

		if (raw)
			printf("%s %" PRIu64 "\n", d->name, v);
		else if (d->pages)
			printf("%-*s  %" PRIu64 " (%s)\n", width, d->name, v,
			       fmt_pages(buf, sizeof(buf), v));
		else
			printf("%-*s  %" PRIu64 "\n", width, d->name, v);
	}
	if (raw)
		printf("general_profit %" PRId64 "\n", (int64_t)s.general_profit);
	else
		printf("%-*s  %" PRId64 " (%s)\n", width, "general_profit",
		       (int64_t)s.general_profit,
		       fmt_size(buf, sizeof(buf), (long double)s.general_profit));
	return EXIT_SUCCESS;
}

/*
 * Parse a decimal unsigned 32-bit number: digits only (no sign, no blanks,
 * no trailing garbage), at least one. Returns 0, -EINVAL if @s is not such a
 * number, -ERANGE if it does not fit in 32 bits.
 */
static int parse_u32(const char *s, uint32_t *out)
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

/* Append "name min-max" of every parameter in @mask to @buf. */
static void fmt_ranges(char *buf, size_t len, uint64_t mask)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(params) && n < len; i++) {
		if (!(mask & params[i].bit))
			continue;
		n += (size_t)snprintf(buf + n, len - n, "%s%s %" PRIu32 "-%" PRIu32,
				      n ? ", " : "", params[i].name,
				      params[i].min, params[i].max);
	}
}

/*
 * "ksmctl set NAME=VALUE...": parse and check every assignment, then change
 * all of them with a single KSMMOD_IOC_SET_PARAMS, so all or none change.
 * A malformed command line exits 2; a well-formed assignment with an unknown
 * name, a repeated name or a bad value exits 1, as the module's -EINVAL would.
 */
static int cmd_set(int argc, char **argv)
{
	struct ksmmod_params p;
	char ranges[512];
	int fd, ret;

	if (argc < 1)
		return usage_err("set: no NAME=VALUE given");

	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);

	for (int i = 0; i < argc; i++) {
		const struct param_desc *d = NULL;
		const char *eq = strchr(argv[i], '=');
		const char *val;
		size_t nlen;
		uint32_t v;

		if (!eq || eq == argv[i])
			return usage_err("set: '%s' is not NAME=VALUE", argv[i]);
		nlen = (size_t)(eq - argv[i]);
		val = eq + 1;

		for (size_t j = 0; j < ARRAY_SIZE(params); j++) {
			if (strlen(params[j].name) == nlen &&
			    !strncmp(params[j].name, argv[i], nlen)) {
				d = &params[j];
				break;
			}
		}
		if (!d) {
			char known[512];
			size_t n = 0;

			for (size_t j = 0; j < ARRAY_SIZE(params) && n < sizeof(known); j++)
				n += (size_t)snprintf(known + n, sizeof(known) - n, "%s%s",
						      j ? ", " : "", params[j].name);
			err_msg("unknown parameter '%.*s' (known: %s)", (int)nlen, argv[i], known);
			return EXIT_FAILURE;
		}
		if (p.mask & d->bit) {
			err_msg("parameter '%s' given twice", d->name);
			return EXIT_FAILURE;
		}

		ret = parse_u32(val, &v);
		if (ret == -EINVAL) {
			bool named = false;

			if (d->bit == KSMMOD_PARAM_RUN) {
				for (uint32_t r = 0; r < ARRAY_SIZE(run_names); r++) {
					if (!strcmp(val, run_names[r])) {
						v = r;
						named = true;
						break;
					}
				}
			}
			if (!named) {
				err_msg("%s: invalid value: not a decimal number (%s %" PRIu32
					"-%" PRIu32 "%s)", argv[i], d->name, d->min, d->max,
					d->bit == KSMMOD_PARAM_RUN ?
					", stop, merge, unmerge" : "");
				return EXIT_FAILURE;
			}
		}
		if (ret == -ERANGE || v < d->min || v > d->max) {
			err_msg("%s: invalid value: out of range (%s %" PRIu32 "-%" PRIu32 ")",
				argv[i], d->name, d->min, d->max);
			return EXIT_FAILURE;
		}

		*param_field(&p, d) = v;
		p.mask |= d->bit;
	}

	fd = open_device(O_RDWR);
	if (fd < 0)
		return EXIT_FAILURE;
	if (ioctl(fd, KSMMOD_IOC_SET_PARAMS, &p) < 0) {
		switch (errno) {
		case EPERM:
			err_msg("changing parameters needs CAP_SYS_ADMIN");
			break;
		case EBUSY:
			/* User-visible string left unsplit (kernel style). */
			err_msg("max_page_sharing and merge_across_nodes cannot change while pages are merged (set run=2 first)");
			break;
		case EINVAL:
			fmt_ranges(ranges, sizeof(ranges), p.mask);
			err_msg("invalid value (ranges: %s)", ranges);
			break;
		default:
			ioctl_err("KSMMOD_IOC_SET_PARAMS");
			break;
		}
		close(fd);
		return EXIT_FAILURE;
	}
	close(fd);
	return EXIT_SUCCESS;
}

static bool is_help(const char *s)
{
	return !strcmp(s, "help") || !strcmp(s, "-h") || !strcmp(s, "--help");
}

int main(int argc, char **argv)
{
	const char *cmd;
	int i = 1;

	/* Global options, before the command. */
	while (i < argc && argv[i][0] == '-') {
		const char *a = argv[i];

		if (is_help(a)) {
			usage(stdout);
			return EXIT_SUCCESS;
		} else if (!strcmp(a, "-d") || !strcmp(a, "--device")) {
			if (i + 1 >= argc)
				return usage_err("option '%s' needs a PATH", a);
			device = argv[i + 1];
			i += 2;
		} else if (!strncmp(a, "--device=", 9)) {
			device = a + 9;
			i++;
		} else if (!strncmp(a, "-d", 2)) {
			device = a + 2;
			i++;
		} else if (!strcmp(a, "--")) {
			i++;
			break;
		} else {
			return usage_err("unknown option '%s' (try 'ksmctl help')", a);
		}
		if (!*device)
			return usage_err("empty device PATH");
	}

	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[i++];

	if (is_help(cmd)) {
		if (i < argc)
			return usage_err("help: unexpected argument '%s'", argv[i]);
		usage(stdout);
		return EXIT_SUCCESS;
	}
	if (!strcmp(cmd, "version")) {
		if (i < argc)
			return usage_err("version: unexpected argument '%s'", argv[i]);
		return cmd_version();
	}
	if (!strcmp(cmd, "status")) {
		bool raw = false;

		for (; i < argc; i++) {
			if (!strcmp(argv[i], "--raw") && !raw)
				raw = true;
			else
				return usage_err("status: unexpected argument '%s'", argv[i]);
		}
		return cmd_status(raw);
	}
	if (!strcmp(cmd, "set"))
		return cmd_set(argc - i, argv + i);

	return usage_err("unknown command '%s' (try 'ksmctl help')", cmd);
}
