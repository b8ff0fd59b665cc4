// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmodctl - control the ksmmod kernel module through /dev/ksmmod.
 *
 *   ksmmodctl [-d PATH] version
 *   ksmmodctl [-d PATH] status [--raw | --json] [PID]
 *   ksmmodctl [-d PATH] metrics
 *   ksmmodctl [-d PATH] set NAME=VALUE...
 *   ksmmodctl [-d PATH] apply [--check] FILE
 *   ksmmodctl [-d PATH] merge|unmerge PID ADDR LENGTH
 *   ksmmodctl [-d PATH] add|remove PID
 *   ksmmodctl [-d PATH] run [--] CMD [ARGS...]
 *   ksmmodctl help
 *
 * Exit status: 0 success, 1 error, 2 usage error (bad command line); run
 * exits with CMD's status, or 126 (CMD cannot be executed) or 127 (CMD not
 * found) as env(1) does.
 */
#include <ctype.h>
#include <dirent.h>
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
#include <sys/syscall.h>
#include <unistd.h>

#ifndef EXIT_CANNOT_EXEC
#define EXIT_CANNOT_EXEC	126
#define EXIT_NOT_FOUND		127
#endif

#include <linux/ksmmod.h>

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#define EXIT_USAGE	2

#define DEFAULT_DEVICE	"/dev/" KSMMOD_DEVICE_NAME

/* pidfd_open(2), Linux 5.3; the same number on every architecture. */
#ifndef SYS_pidfd_open
#define SYS_pidfd_open	434
#endif

/* The UAPI promises these sizes; catch a header that breaks them. */
_Static_assert(sizeof(struct ksmmod_api) == KSMMOD_API_SIZE_VER0, "ksmmod_api size");
_Static_assert(sizeof(struct ksmmod_params) == KSMMOD_PARAMS_SIZE_VER0, "ksmmod_params size");
_Static_assert(sizeof(struct ksmmod_stats) == KSMMOD_STATS_SIZE_VER0, "ksmmod_stats size");
_Static_assert(sizeof(struct ksmmod_range) == KSMMOD_RANGE_SIZE_VER0, "ksmmod_range size");
_Static_assert(sizeof(struct ksmmod_process) == KSMMOD_PROCESS_SIZE_VER0, "ksmmod_process size");

static const char *device = DEFAULT_DEVICE;

static const char * const run_names[] = {
	[KSMMOD_RUN_STOP] = "stop",
	[KSMMOD_RUN_MERGE] = "merge",
	[KSMMOD_RUN_UNMERGE] = "unmerge",
	NULL
};

/* advisor_mode's values, as /sys/kernel/mm/ksm/advisor_mode names them. */
static const char * const advisor_names[] = {
	[KSMMOD_ADVISOR_NONE] = "none",
	[KSMMOD_ADVISOR_SCAN_TIME] = "scan-time",
	NULL
};

/* One tunable of struct ksmmod_params. */
struct param_desc {
	const char *name;
	__u64 bit;		/* KSMMOD_PARAM_* */
	size_t offset;		/* of the __u32 field in struct ksmmod_params */
	uint32_t min;
	uint32_t max;
	bool pages;		/* value is a number of pages */
	const char * const *names;	/* NULL, or a name for each value 0..max */
};

#define PARAM(_name, _bit, _min, _max, _pages) {			\
	.name = #_name,							\
	.bit = (_bit),							\
	.offset = offsetof(struct ksmmod_params, _name),		\
	.min = (_min),							\
	.max = (_max),							\
	.pages = (_pages),						\
}

#define NAMED_PARAM(_name, _bit, _names) {				\
	.name = #_name,							\
	.bit = (_bit),							\
	.offset = offsetof(struct ksmmod_params, _name),		\
	.min = 0,							\
	.max = ARRAY_SIZE(_names) - 2,					\
	.names = (_names),						\
}

static const struct param_desc params[] = {
	NAMED_PARAM(run, KSMMOD_PARAM_RUN, run_names),
	PARAM(pages_to_scan, KSMMOD_PARAM_PAGES_TO_SCAN, 0, UINT32_MAX, true),
	PARAM(sleep_millisecs, KSMMOD_PARAM_SLEEP_MILLISECS, 0, UINT32_MAX, false),
	PARAM(max_page_sharing, KSMMOD_PARAM_MAX_PAGE_SHARING, 2, INT32_MAX, false),
	PARAM(stable_node_chains_prune_millisecs,
	      KSMMOD_PARAM_STABLE_NODE_CHAINS_PRUNE_MILLISECS, 0, UINT32_MAX, false),
	PARAM(merge_across_nodes, KSMMOD_PARAM_MERGE_ACROSS_NODES, 0, 1, false),
	PARAM(use_zero_pages, KSMMOD_PARAM_USE_ZERO_PAGES, 0, 1, false),
	PARAM(densify_chains, KSMMOD_PARAM_DENSIFY_CHAINS, 0, 1, false),
	PARAM(smart_scan, KSMMOD_PARAM_SMART_SCAN, 0, 1, false),
	NAMED_PARAM(advisor_mode, KSMMOD_PARAM_ADVISOR_MODE, advisor_names),
	PARAM(advisor_max_cpu, KSMMOD_PARAM_ADVISOR_MAX_CPU, 0, UINT32_MAX, false),
	PARAM(advisor_target_scan_time, KSMMOD_PARAM_ADVISOR_TARGET_SCAN_TIME, 1, UINT32_MAX,
	      false),
	PARAM(advisor_min_pages_to_scan, KSMMOD_PARAM_ADVISOR_MIN_PAGES_TO_SCAN, 0, UINT32_MAX,
	      true),
	PARAM(advisor_max_pages_to_scan, KSMMOD_PARAM_ADVISOR_MAX_PAGES_TO_SCAN, 0, UINT32_MAX,
	      true),
};

/* One counter of struct ksmmod_stats (general_profit is handled apart). */
struct stat_desc {
	const char *name;
	size_t offset;		/* of the __u64 field in struct ksmmod_stats */
	bool pages;		/* value is a number of pages */
	const char *unit;	/* else: what is counted, shown as "(unit)", or NULL */
};

#define STAT(_name, _pages) STAT_UNIT(_name, _pages, NULL)
#define STAT_UNIT(_name, _pages, _unit) {				\
	.name = #_name,							\
	.offset = offsetof(struct ksmmod_stats, _name),			\
	.pages = (_pages),						\
	.unit = (_unit),						\
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

/* Counters after general_profit, in the order of struct ksmmod_stats. */
static const struct stat_desc stats_tail[] = {
	STAT_UNIT(mm_slots, false, "processes"),
	STAT(stable_node_dup_mappings, false),
	STAT(densify_moves, false),
	/* Why pages do not merge (with pages_volatile and pages_skipped). */
	STAT(ineligible_pages, true),
	STAT_UNIT(merge_pinned, false, "merges refused"),
	STAT_UNIT(thp_unsplittable, false, "merges given up"),
};

static const char * const feature_names[] = {
	"params",	/* KSMMOD_FEATURE_PARAMS */
	"stats",	/* KSMMOD_FEATURE_STATS */
	"register",	/* KSMMOD_FEATURE_REGISTER */
	"process_stats",	/* KSMMOD_FEATURE_PROCESS_STATS */
	"keep_exec",	/* KSMMOD_FEATURE_KEEP_EXEC */
	"chains",	/* KSMMOD_FEATURE_CHAINS */
	"smart_scan",	/* KSMMOD_FEATURE_SMART_SCAN */
	"advisor",	/* KSMMOD_FEATURE_ADVISOR */
	"why",		/* KSMMOD_FEATURE_WHY */
};

static const char * const ioctl_names[] = {
	[KSMMOD_NR_API] = "API",
	[KSMMOD_NR_GET_PARAMS] = "GET_PARAMS",
	[KSMMOD_NR_SET_PARAMS] = "SET_PARAMS",
	[KSMMOD_NR_GET_STATS] = "GET_STATS",
	[KSMMOD_NR_MERGE_RANGE] = "MERGE_RANGE",
	[KSMMOD_NR_UNMERGE_RANGE] = "UNMERGE_RANGE",
	[KSMMOD_NR_ADD_PROCESS] = "ADD_PROCESS",
	[KSMMOD_NR_REMOVE_PROCESS] = "REMOVE_PROCESS",
};

/* Print "ksmmodctl: <message>" on stderr. */
static void verr_msg(const char *fmt, va_list ap)
{
	fputs("ksmmodctl: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

__attribute__((format(printf, 1, 2)))
static void err_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	verr_msg(fmt, ap);
	va_end(ap);
}

/* Print the help text on @f. */
static void usage(FILE *f)
{
	fprintf(f,
		"usage: ksmmodctl [-d PATH | --device PATH] COMMAND [ARGS]\n"
		"\n"
		"Control the ksmmod kernel module (Kernel Samepage Merging).\n"
		"\n"
		"commands:\n"
		"  version              show module API version, features and ioctls\n"
		"  status [--raw|--json]\n"
		"                       show all parameters and counters\n"
		"  status [--raw|--json] PID\n"
		"                       show what ksmmod does for process PID\n"
		"                       (--raw: 'name value' lines only; --json: one\n"
		"                       JSON object)\n"
		"  metrics              parameters, counters and each process's profit\n"
		"                       in the Prometheus text format (node_exporter's\n"
		"                       textfile collector)\n"
		"  set NAME=VALUE...    change parameters, all or none\n"
		"                       (run also accepts stop, merge, unmerge)\n"
		"  apply [--check] FILE set the parameters of a configuration file\n"
		"                       (NAME = VALUE lines, # comments), all or none;\n"
		"                       --check: only check the file\n"
		"  merge PID ADDR LENGTH\n"
		"                       make process PID's private anonymous memory in\n"
		"                       ADDR..ADDR+LENGTH mergeable (like MADV_MERGEABLE)\n"
		"  unmerge PID ADDR LENGTH\n"
		"                       undo merge for that range: merged pages become\n"
		"                       private copies again (like MADV_UNMERGEABLE)\n"
		"  add PID              make all private anonymous memory process PID\n"
		"                       has now mergeable\n"
		"  remove PID           unmerge and forget all memory of process PID\n"
		"  run [--] CMD [ARGS...]\n"
		"                       run CMD with all its private anonymous memory\n"
		"                       mergeable, including memory it maps later, its\n"
		"                       children's and what it execs (needs drop-in mode)\n"
		"  help                 show this help\n"
		"\n"
		"PID is a process id (> 0). ADDR and LENGTH are decimal or 0x-hex; ADDR\n"
		"must be page aligned; LENGTH may end in K, M or G (KiB, MiB, GiB) and is\n"
		"rounded up to whole pages.\n"
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

	va_start(ap, fmt);
	verr_msg(fmt, ap);
	va_end(ap);
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
		err_msg("%s: the module rejects unknown fields (module older than ksmmodctl?)", what);
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

/* "ksmmodctl version": show what the module reports about itself. */
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

	printf("ksmmodctl API version: %u\n", KSMMOD_API_VERSION);
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
			"ksmmodctl: warning: module API version %" PRIu32
			" is older than ksmmodctl's (%u); some commands may fail\n",
			(uint32_t)api.api_version, KSMMOD_API_VERSION);
	return EXIT_SUCCESS;
}

static uint32_t *param_field(struct ksmmod_params *p, const struct param_desc *d)
{
	return (uint32_t *)((char *)p + d->offset);
}

/*
 * Print counter @d of @s, if the module wrote it (an older module writes a
 * shorter struct and sets @size to the bytes it wrote).
 */
static void print_stat(const struct ksmmod_stats *s, const struct stat_desc *d,
		       bool raw, int width)
{
	uint64_t v = *(const __u64 *)((const char *)s + d->offset);
	char buf[64];

	if (s->size < d->offset + sizeof(__u64))
		return;
	if (raw)
		printf("%s %" PRIu64 "\n", d->name, v);
	else if (d->pages)
		printf("%-*s  %" PRIu64 " (%s)\n", width, d->name, v,
		       fmt_pages(buf, sizeof(buf), v));
	else if (d->unit)
		printf("%-*s  %" PRIu64 " (%s)\n", width, d->name, v, d->unit);
	else
		printf("%-*s  %" PRIu64 "\n", width, d->name, v);
}

/* Read every parameter and counter from the open device @fd; 0 or -1 (said why). */
static int get_params_stats(int fd, struct ksmmod_params *p, struct ksmmod_stats *s)
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

/* Counter @i of stats[] then stats_tail[] (general_profit apart), NULL past the last. */
static const struct stat_desc *stat_at(size_t i)
{
	if (i < ARRAY_SIZE(stats))
		return &stats[i];
	i -= ARRAY_SIZE(stats);
	return i < ARRAY_SIZE(stats_tail) ? &stats_tail[i] : NULL;
}

/* The value of counter @d of @s, or -1 if the module did not write it. */
static int64_t stat_value(const struct ksmmod_stats *s, const struct stat_desc *d)
{
	if (s->size < d->offset + sizeof(__u64))
		return -1;
	return (int64_t)*(const __u64 *)((const char *)s + d->offset);
}

/* "ksmmodctl status --json": parameters and counters as one JSON object. */
static void print_status_json(const struct ksmmod_params *p, const struct ksmmod_stats *s)
{
	const struct stat_desc *d;
	const char *sep = "";

	printf("{\"params\": {");
	for (size_t i = 0; i < ARRAY_SIZE(params); i++) {
		if (!(p->mask & params[i].bit))
			continue;
		printf("%s\"%s\": %" PRIu32, sep, params[i].name,
		       *param_field((struct ksmmod_params *)p, &params[i]));
		sep = ", ";
	}
	printf("}, \"stats\": {\"general_profit\": %" PRId64, (int64_t)s->general_profit);
	for (size_t i = 0; (d = stat_at(i)); i++) {
		int64_t v = stat_value(s, d);

		if (v >= 0)
			printf(", \"%s\": %" PRId64, d->name, v);
	}
	printf("}, \"page_size\": %lu}\n", page_size());
}

/* "ksmmodctl status [--raw | --json]": print every parameter and counter. */
static int cmd_status(bool raw, bool json)
{
	struct ksmmod_params p;
	struct ksmmod_stats s;
	int width = (int)strlen("general_profit");
	char buf[64];
	int fd;

	fd = open_device(O_RDONLY);
	if (fd < 0)
		return EXIT_FAILURE;
	if (get_params_stats(fd, &p, &s)) {
		close(fd);
		return EXIT_FAILURE;
	}
	close(fd);
	if (json) {
		print_status_json(&p, &s);
		return EXIT_SUCCESS;
	}

	for (size_t i = 0; i < ARRAY_SIZE(params); i++)
		if ((int)strlen(params[i].name) > width)
			width = (int)strlen(params[i].name);
	for (size_t i = 0; i < ARRAY_SIZE(stats); i++)
		if ((int)strlen(stats[i].name) > width)
			width = (int)strlen(stats[i].name);
	for (size_t i = 0; i < ARRAY_SIZE(stats_tail); i++)
		if ((int)strlen(stats_tail[i].name) > width)
			width = (int)strlen(stats_tail[i].name);

	/* Parameters: only those the module reports in @mask. */
	for (size_t i = 0; i < ARRAY_SIZE(params); i++) {
		const struct param_desc *d = &params[i];
		uint32_t v = *param_field(&p, d);

		if (!(p.mask & d->bit))
			continue;
		if (raw) {
			printf("%s %" PRIu32 "\n", d->name, v);
		} else if (d->names) {
			printf("%-*s  %" PRIu32 " (%s)\n", width, d->name, v,
			       v <= d->max ? d->names[v] : "unknown");
		} else if (d->pages) {
			printf("%-*s  %" PRIu32 " (%s)\n", width, d->name, v,
			       fmt_pages(buf, sizeof(buf), v));
		} else {
			printf("%-*s  %" PRIu32 "\n", width, d->name, v);
		}
	}

	if (!raw)
		printf("\n");

	for (size_t i = 0; i < ARRAY_SIZE(stats); i++)
		print_stat(&s, &stats[i], raw, width);
	if (raw)
		printf("general_profit %" PRId64 "\n", (int64_t)s.general_profit);
	else
		printf("%-*s  %" PRId64 " (%s)\n", width, "general_profit",
		       (int64_t)s.general_profit,
		       fmt_size(buf, sizeof(buf), (long double)s.general_profit));
	for (size_t i = 0; i < ARRAY_SIZE(stats_tail); i++)
		print_stat(&s, &stats_tail[i], raw, width);
	/* Mappings per dup: how densely the chains of max_page_sharing are filled. */
	if (!raw && s.stable_node_dups)
		printf("%-*s  %.1f (of max_page_sharing %" PRIu32 ")\n", width, "sharing_per_dup",
		       (double)s.stable_node_dup_mappings / (double)s.stable_node_dups,
		       p.max_page_sharing);
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
 * One NAME=VALUE setting into @p: @name (@nlen bytes) must be a parameter
 * given once, @val a number in its range (or one of its names). On error,
 * print one line that starts with @where (a "FILE:LINE: " or "") and names
 * the setting, and return -1.
 */
static int parse_setting(const char *where, const char *name, size_t nlen, const char *val,
			 struct ksmmod_params *p)
{
	const struct param_desc *d = NULL;
	uint32_t v;
	int ret;

	for (size_t j = 0; j < ARRAY_SIZE(params); j++) {
		if (strlen(params[j].name) == nlen && !strncmp(params[j].name, name, nlen)) {
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
		err_msg("%sunknown parameter '%.*s' (known: %s)", where, (int)nlen, name, known);
		return -1;
	}
	if (p->mask & d->bit) {
		err_msg("%sparameter '%s' given twice", where, d->name);
		return -1;
	}

	ret = parse_u32(val, &v);
	if (ret == -EINVAL) {
		bool named = false;

		for (uint32_t r = 0; d->names && d->names[r]; r++) {
			if (!strcmp(val, d->names[r])) {
				v = r;
				named = true;
				ret = 0;
				break;
			}
		}
		if (!named) {
			char names[128] = "";
			size_t n = 0;

			for (uint32_t r = 0; d->names && d->names[r] && n < sizeof(names); r++)
				n += (size_t)snprintf(names + n, sizeof(names) - n, ", %s",
						      d->names[r]);
			err_msg("%s%s=%s: invalid value: not a decimal number (%s %" PRIu32
				"-%" PRIu32 "%s)", where, d->name, val, d->name, d->min, d->max, names);
			return -1;
		}
	}
	if (ret == -ERANGE || v < d->min || v > d->max) {
		err_msg("%s%s=%s: invalid value: out of range (%s %" PRIu32 "-%" PRIu32 ")",
			where, d->name, val, d->name, d->min, d->max);
		return -1;
	}

	*param_field(p, d) = v;
	p->mask |= d->bit;
	return 0;
}

/* SET_PARAMS of every parameter in @p->mask, all or none: EXIT_SUCCESS or EXIT_FAILURE. */
static int apply_params(struct ksmmod_params *p)
{
	char ranges[512];
	int fd;

	if (!p->mask)
		return EXIT_SUCCESS;
	fd = open_device(O_RDWR);
	if (fd < 0)
		return EXIT_FAILURE;
	if (ioctl(fd, KSMMOD_IOC_SET_PARAMS, p) < 0) {
		switch (errno) {
		case EPERM:
			err_msg("changing parameters needs CAP_SYS_ADMIN");
			break;
		case EBUSY:
			/* User-visible string left unsplit (kernel style). */
			err_msg("max_page_sharing and merge_across_nodes cannot change while pages are merged (set run=2 first)");
			break;
		case EINVAL:
			fmt_ranges(ranges, sizeof(ranges), p->mask);
			err_msg("invalid value (ranges: %s)%s", ranges,
				(p->mask & KSMMOD_PARAM_PAGES_TO_SCAN) ?
				"; pages_to_scan cannot be set while advisor_mode is scan-time" : "");
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

/*
 * "ksmmodctl set NAME=VALUE...": parse and check every assignment, then change
 * all of them with a single KSMMOD_IOC_SET_PARAMS, so all or none change.
 * A malformed command line exits 2; a well-formed assignment with an unknown
 * name, a repeated name or a bad value exits 1, as the module's -EINVAL would.
 */
static int cmd_set(int argc, char **argv)
{
	struct ksmmod_params p;

	if (argc < 1)
		return usage_err("set: no NAME=VALUE given");

	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	for (int i = 0; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');

		if (!eq || eq == argv[i])
			return usage_err("set: '%s' is not NAME=VALUE", argv[i]);
		if (parse_setting("", argv[i], (size_t)(eq - argv[i]), eq + 1, &p))
			return EXIT_FAILURE;
	}
	return apply_params(&p);
}

/*
 * "ksmmodctl apply FILE": the settings of a configuration file (e.g.
 * /etc/ksmmod.conf, what ksmmod.service applies at boot and on reload), as
 * one atomic update. A line is "NAME = VALUE" (the names of
 * /sys/kernel/mm/ksmmod; blanks around both optional), a comment from '#'
 * on, or blank. The whole file is checked first: a bad line is reported
 * with its file, line and key, and nothing is applied. With --check, only
 * the file is checked (no device needed).
 */
static int cmd_apply(int argc, char **argv)
{
	bool check = argc > 0 && !strcmp(argv[0], "--check");
	struct ksmmod_params p;
	char line[1024], where[PATH_MAX + 32];
	unsigned int lineno = 0;
	bool bad = false;
	FILE *f;

	if (check) {
		argc--;
		argv++;
	}
	if (argc != 1)
		return usage_err("apply: expected [--check] FILE");
	f = fopen(argv[0], "re");
	if (!f) {
		err_msg("%s: %s", argv[0], strerror(errno));
		return EXIT_FAILURE;
	}
	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	while (fgets(line, sizeof(line), f)) {
		char *name, *eq, *val, *end;

		lineno++;
		snprintf(where, sizeof(where), "%s:%u: ", argv[0], lineno);
		if (!strchr(line, '\n') && !feof(f)) {
			err_msg("%sline longer than %zu characters", where, sizeof(line) - 2);
			bad = true;
			break;
		}
		line[strcspn(line, "#\n")] = 0;
		for (name = line; isspace((unsigned char)*name); name++)
			;
		if (!*name)
			continue;
		eq = strchr(name, '=');
		if (!eq || eq == name) {
			err_msg("%s'%s' is not NAME = VALUE", where, name);
			bad = true;
			break;
		}
		for (end = eq; end > name && isspace((unsigned char)end[-1]); end--)
			;
		for (val = eq + 1; isspace((unsigned char)*val); val++)
			;
		for (char *e = val + strlen(val); e > val && isspace((unsigned char)e[-1]); e--)
			e[-1] = 0;
		if (parse_setting(where, name, (size_t)(end - name), val, &p)) {
			bad = true;
			break;
		}
	}
	if (!bad && ferror(f)) {
		err_msg("%s: %s", argv[0], strerror(errno));
		bad = true;
	}
	fclose(f);
	if (bad) {
		err_msg("%s: nothing applied", argv[0]);
		return EXIT_FAILURE;
	}
	return check ? EXIT_SUCCESS : apply_params(&p);
}

/*
 * Parse an unsigned 64-bit number: decimal, or hex after "0x"/"0X"; digits
 * only (no sign, no blanks), at least one. With @suffix, one of K, M, G
 * (or k, m, g) may follow: KiB, MiB, GiB. Returns 0, -EINVAL if @s is not
 * such a number, -ERANGE if it does not fit in 64 bits.
 */
static int parse_u64(const char *s, bool suffix, uint64_t *out)
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
static int parse_pid(const char *cmd, const char *s, pid_t *out)
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
static int open_pidfd(pid_t pid)
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
static int open_device_pidfd(int flags, pid_t pid, int *pidfd)
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

/* "ksmmodctl status [--raw | --json] PID": KSMMOD_IOC_PROCESS_STATS of one process. */
static int cmd_process_status(pid_t pid, bool raw, bool json)
{
	struct ksmmod_process_stats ps;
	char buf[64];
	int fd, pidfd, err;

	fd = open_device_pidfd(O_RDONLY, pid, &pidfd);
	if (fd < 0)
		return EXIT_FAILURE;
	memset(&ps, 0, sizeof(ps));
	ps.size = sizeof(ps);
	ps.pidfd = (uint32_t)pidfd;
	err = ioctl(fd, KSMMOD_IOC_PROCESS_STATS, &ps);
	close(pidfd);
	close(fd);
	if (err < 0) {
		if (errno == ENOENT)
			err_msg("process %d has no memory registered with ksmmod", (int)pid);
		else if (errno == EPERM)
			err_msg("not allowed to read process %d's statistics (need CAP_SYS_ADMIN or ptrace read access)",
				(int)pid);
		else
			ioctl_err("KSMMOD_IOC_PROCESS_STATS");
		return EXIT_FAILURE;
	}
	if (json) {
		printf("{\"pid\": %d", (int)pid);
		printf(", \"registered_bytes\": %" PRIu64, (uint64_t)ps.registered_bytes);
		printf(", \"rmap_items\": %" PRIu64, (uint64_t)ps.rmap_items);
		printf(", \"merging_pages\": %" PRIu64, (uint64_t)ps.merging_pages);
		printf(", \"zero_pages\": %" PRIu64, (uint64_t)ps.zero_pages);
		printf(", \"process_profit\": %" PRId64, (int64_t)ps.process_profit);
		printf(", \"merge_any\": %s", ps.merge_any ? "true" : "false");
		printf(", \"mergeable\": %s", ps.mergeable ? "true" : "false");
		printf(", \"ineligible_pages\": %" PRIu64, (uint64_t)ps.ineligible_pages);
		printf(", \"merge_pinned\": %" PRIu64, (uint64_t)ps.merge_pinned);
		printf(", \"thp_unsplittable\": %" PRIu64 "}\n", (uint64_t)ps.thp_unsplittable);
		return EXIT_SUCCESS;
	}
	if (raw) {
		printf("pid %d\nregistered_bytes %" PRIu64 "\nrmap_items %" PRIu64
		       "\nmerging_pages %" PRIu64 "\nzero_pages %" PRIu64 "\nprocess_profit %" PRId64
		       "\nmerge_any %s\nmergeable %s\nineligible_pages %" PRIu64
		       "\nmerge_pinned %" PRIu64 "\nthp_unsplittable %" PRIu64 "\n",
		       (int)pid, (uint64_t)ps.registered_bytes, (uint64_t)ps.rmap_items,
		       (uint64_t)ps.merging_pages, (uint64_t)ps.zero_pages, (int64_t)ps.process_profit,
		       ps.merge_any ? "yes" : "no", ps.mergeable ? "yes" : "no",
		       (uint64_t)ps.ineligible_pages, (uint64_t)ps.merge_pinned,
		       (uint64_t)ps.thp_unsplittable);
		return EXIT_SUCCESS;
	}
	printf("%-16s  %d\n", "pid", (int)pid);
	printf("%-16s  %" PRIu64 " (%s)\n", "registered_bytes", (uint64_t)ps.registered_bytes,
	       fmt_size(buf, sizeof(buf), (long double)ps.registered_bytes));
	printf("%-16s  %" PRIu64 " (%s)\n", "rmap_items", (uint64_t)ps.rmap_items,
	       fmt_pages(buf, sizeof(buf), ps.rmap_items));
	printf("%-16s  %" PRIu64 " (%s)\n", "merging_pages", (uint64_t)ps.merging_pages,
	       fmt_pages(buf, sizeof(buf), ps.merging_pages));
	printf("%-16s  %" PRIu64 " (%s)\n", "zero_pages", (uint64_t)ps.zero_pages,
	       fmt_pages(buf, sizeof(buf), ps.zero_pages));
	printf("%-16s  %" PRId64 " (%s)\n", "process_profit", (int64_t)ps.process_profit,
	       fmt_size(buf, sizeof(buf), (long double)ps.process_profit));
	printf("%-16s  %s\n", "merge_any", ps.merge_any ? "yes" : "no");
	printf("%-16s  %s\n", "mergeable", ps.mergeable ? "yes" : "no");
	/* Why its pages do not merge. */
	printf("%-16s  %" PRIu64 " (%s; shared, file-backed, PFN/IO, hugetlb mappings)\n",
	       "ineligible_pages", (uint64_t)ps.ineligible_pages,
	       fmt_pages(buf, sizeof(buf), ps.ineligible_pages));
	printf("%-16s  %" PRIu64 " (merges refused: page pinned)\n", "merge_pinned",
	       (uint64_t)ps.merge_pinned);
	printf("%-16s  %" PRIu64 " (merges given up: huge page not splittable)\n",
	       "thp_unsplittable", (uint64_t)ps.thp_unsplittable);
	return EXIT_SUCCESS;
}

/* One of the registration commands. */
struct reg_cmd {
	const char *name;	/* on the command line */
	unsigned long ioc;	/* KSMMOD_IOC_* */
	const char *ioc_name;
	bool range;		/* takes ADDR LENGTH: struct ksmmod_range */
	bool registers;		/* adds memory (else removes it) */
};

static const struct reg_cmd reg_cmds[] = {
	{ "merge", KSMMOD_IOC_MERGE_RANGE, "KSMMOD_IOC_MERGE_RANGE", true, true },
	{ "unmerge", KSMMOD_IOC_UNMERGE_RANGE, "KSMMOD_IOC_UNMERGE_RANGE", true, false },
	{ "add", KSMMOD_IOC_ADD_PROCESS, "KSMMOD_IOC_ADD_PROCESS", false, true },
	{ "remove", KSMMOD_IOC_REMOVE_PROCESS, "KSMMOD_IOC_REMOVE_PROCESS", false, false },
};

/* Explain in one line why registration command @c on process @pid failed. */
static void reg_err(const struct reg_cmd *c, pid_t pid)
{
	int p = (int)pid;

	switch (errno) {
	case ESRCH:
		err_msg("process %d: no such process", p);
		break;
	case EPERM:
		err_msg("not allowed to %s process %d's memory (need CAP_SYS_ADMIN or ptrace access)",
			c->registers ? "register" : "unregister", p);
		break;
	case EBUSY:
		/* User-visible string left unsplit (kernel style). */
		err_msg("process %d uses the kernel's own KSM (MADV_MERGEABLE or PR_SET_MEMORY_MERGE); ksmmod does not take it over", p);
		break;
	case ENOMEM:
		if (!c->range)
			goto other;
		err_msg("part of the range is not mapped in process %d", p);
		break;
	case EINVAL:
		if (!c->range)
			goto other;
		err_msg("bad range (ADDR must be page aligned; ADDR+LENGTH must not overflow)");
		break;
	case ENOENT:
		if (c->registers)
			goto other;
		err_msg("process %d has no memory registered with ksmmod", p);
		break;
	default:
other:
		ioctl_err(c->ioc_name);
		break;
	}
}

/*
 * "ksmmodctl merge|unmerge PID ADDR LENGTH", "ksmmodctl add|remove PID": open a
 * pidfd of PID and pass it to the module with one ioctl.
 */
static int cmd_register(const struct reg_cmd *c, int argc, char **argv)
{
	struct ksmmod_range r;
	struct ksmmod_process pr;
	uint64_t addr = 0, length = 0;
	int nargs = c->range ? 3 : 1;
	int fd, pidfd, ret;
	pid_t pid = 0;
	void *arg;

	if (argc < nargs)
		return usage_err("%s: expected %s", c->name,
				 c->range ? "PID ADDR LENGTH" : "PID");
	if (argc > nargs)
		return usage_err("%s: unexpected argument '%s'", c->name, argv[nargs]);
	ret = parse_pid(c->name, argv[0], &pid);
	if (ret)
		return ret;
	if (c->range) {
		ret = parse_u64(argv[1], false, &addr);
		if (ret)
			return usage_err("%s: ADDR '%s' %s", c->name, argv[1],
					 ret == -ERANGE ? "does not fit in 64 bits" :
					 "is not a number (decimal or 0x-hex)");
		ret = parse_u64(argv[2], true, &length);
		if (ret)
			return usage_err("%s: LENGTH '%s' %s", c->name, argv[2],
					 ret == -ERANGE ? "does not fit in 64 bits" :
					 "is not a number (decimal or 0x-hex, optional K, M or G)");
	}

	fd = open_device_pidfd(O_RDWR, pid, &pidfd);
	if (fd < 0)
		return EXIT_FAILURE;

	if (c->range) {
		memset(&r, 0, sizeof(r));
		r.size = sizeof(r);
		r.pidfd = (__u32)pidfd;
		r.start = addr;
		r.length = length;
		arg = &r;
	} else {
		memset(&pr, 0, sizeof(pr));
		pr.size = sizeof(pr);
		pr.pidfd = (__u32)pidfd;
		arg = &pr;
	}
	ret = ioctl(fd, c->ioc, arg);
	if (ret < 0)
		reg_err(c, pid);
	close(pidfd);
	close(fd);
	return ret < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * "ksmmodctl run [--] CMD [ARGS...]": register ksmmodctl itself whole, with
 * KSMMOD_PROCESS_KEEP_EXEC, then exec CMD in its place: CMD, what it maps
 * later and its children (fork) are registered, and so is whatever they
 * exec. Needs drop-in mode (KSMMOD_FEATURE_KEEP_EXEC).
 */
static int cmd_run(int argc, char **argv)
{
	struct ksmmod_process pr;
	int fd, err;

	if (argc > 0 && !strcmp(argv[0], "--")) {
		argc--;
		argv++;
	}
	if (argc < 1)
		return usage_err("run: expected CMD [ARGS...]");

	fd = open_device(O_RDWR);
	if (fd < 0)
		return EXIT_FAILURE;
	memset(&pr, 0, sizeof(pr));
	pr.size = sizeof(pr);
	pr.flags = KSMMOD_PROCESS_KEEP_EXEC;
	pr.pidfd = 0;	/* ksmmodctl itself */
	if (ioctl(fd, KSMMOD_IOC_ADD_PROCESS, &pr) < 0) {
		if (errno == EOPNOTSUPP || errno == EINVAL)
			err_msg("run: this ksmmod cannot follow a process across exec (too old: no KSMMOD_PROCESS_KEEP_EXEC)");
		else if (errno == EBUSY)
			err_msg("run: ksmmodctl uses the kernel's own KSM; ksmmod does not take it over");
		else
			ioctl_err("KSMMOD_IOC_ADD_PROCESS");
		close(fd);
		return EXIT_FAILURE;
	}
	close(fd);
	execvp(argv[0], argv);
	err = errno;
	err_msg("run: cannot run '%s': %s", argv[0], strerror(err));
	return err == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC;
}

/*
 * One Prometheus metric of the system-wide counters: named as
 * node_exporter's ksmd collector names /sys/kernel/mm/ksm's files
 * (node_ksmd_*), with ksmmod_ in front; counters that only grow end in
 * _total.
 */
struct metric_desc {
	const char *name;
	const char *stat;	/* field of struct ksmmod_stats (stats[]/stats_tail[] name) */
	bool counter;
	const char *help;
};

static const struct metric_desc metrics[] = {
	{ "pages_shared", "pages_shared", false, "KSM pages in use (merged pages kept)" },
	{ "pages_sharing", "pages_sharing", false, "Mappings of KSM pages beyond the first (pages saved)" },
	{ "pages_unshared", "pages_unshared", false, "Pages unique so far, checked for merging" },
	{ "pages_volatile", "pages_volatile", false, "Pages changing too fast to be merged" },
	{ "pages_scanned_total", "pages_scanned", true, "Pages scanned" },
	{ "pages_skipped_total", "pages_skipped", true, "Pages skipped by smart scan" },
	{ "full_scans_total", "full_scans", true, "Full scans of the registered memory" },
	{ "stable_node_chains", "stable_node_chains", false, "Stable node chains (max_page_sharing)" },
	{ "stable_node_dups", "stable_node_dups", false, "KSM pages in chains" },
	{ "ksm_zero_pages", "ksm_zero_pages", false, "Empty pages mapped to the zero page" },
	{ "rmap_items", "rmap_items", false, "Pages tracked" },
	{ "mm_slots", "mm_slots", false, "Processes registered" },
	{ "densify_moves_total", "densify_moves", true, "Mappings moved to a denser dup" },
	{ "ineligible_pages", "ineligible_pages", false,
	  "Pages asked to merge that cannot be merged, at the last full scan" },
	{ "merge_pinned_total", "merge_pinned", true, "Merges refused: page pinned" },
	{ "thp_unsplittable_total", "thp_unsplittable", true,
	  "Merges given up: huge page not splittable" },
};

/* A label value in the Prometheus text format: backslash, quote, newline escaped. */
static void print_label_value(const char *v)
{
	for (; *v; v++) {
		if (*v == '\\' || *v == '"')
			printf("\\%c", *v);
		else if (*v == '\n')
			printf("\\n");
		else
			putchar(*v);
	}
}

/* The comm of process @pid (/proc/PID/comm), "?" if it cannot be read. */
static void read_comm(pid_t pid, char *buf, size_t len)
{
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/comm", (int)pid);
	f = fopen(path, "re");
	if (!f || !fgets(buf, (int)len, f))
		snprintf(buf, len, "?");
	else
		buf[strcspn(buf, "\n")] = 0;
	if (f)
		fclose(f);
}

/* Per-process gauges: one line each for every process ksmmod knows. */
struct proc_metric {
	const char *name;
	const char *help;
};

static const struct proc_metric proc_metrics[] = {
	{ "process_profit_bytes", "Memory saved for the process minus its metadata (ksm_stat)" },
	{ "process_merging_pages", "Pages of the process mapped to KSM pages" },
	{ "process_zero_pages", "Pages of the process mapped to the zero page by ksmmod" },
	{ "process_rmap_items", "Pages of the process tracked" },
};

/* A process with memory registered, for the per-process metrics. */
struct proc_entry {
	pid_t pid;
	char comm[64];
	struct ksmmod_process_stats ps;
};

/*
 * Every process with memory registered (PROCESS_STATS asked for each /proc
 * entry; processes that exit meanwhile, or are not registered, are left out).
 * Return: the array (free() it), *@nr set; NULL with *@nr 0 if none.
 */
static struct proc_entry *registered_procs(int fd, size_t *nr)
{
	struct proc_entry *procs = NULL, *more;
	size_t room = 0;
	struct dirent *e;
	DIR *d = opendir("/proc");

	*nr = 0;
	if (!d)
		return NULL;
	while ((e = readdir(d))) {
		struct ksmmod_process_stats ps;
		pid_t pid;
		int pidfd;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid = (pid_t)atol(e->d_name);
		pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (pidfd < 0)
			continue;
		memset(&ps, 0, sizeof(ps));
		ps.size = sizeof(ps);
		ps.pidfd = (uint32_t)pidfd;
		if (ioctl(fd, KSMMOD_IOC_PROCESS_STATS, &ps) < 0) {
			close(pidfd);
			continue;
		}
		close(pidfd);
		if (*nr == room) {
			room = room ? 2 * room : 16;
			more = realloc(procs, room * sizeof(*procs));
			if (!more)
				break;
			procs = more;
		}
		procs[*nr].pid = pid;
		procs[*nr].ps = ps;
		read_comm(pid, procs[*nr].comm, sizeof(procs[*nr].comm));
		(*nr)++;
	}
	closedir(d);
	return procs;
}

/* Value of per-process metric @m (index in proc_metrics[]) of @ps. */
static int64_t proc_metric_value(const struct ksmmod_process_stats *ps, size_t m)
{
	switch (m) {
	case 0:
		return (int64_t)ps->process_profit;
	case 1:
		return (int64_t)ps->merging_pages;
	case 2:
		return (int64_t)ps->zero_pages;
	default:
		return (int64_t)ps->rmap_items;
	}
}

/* "ksmmodctl metrics": the Prometheus text exposition format, version 0.0.4. */
static int cmd_metrics(void)
{
	struct proc_entry *procs;
	struct ksmmod_params p;
	struct ksmmod_stats s;
	size_t nr;
	int fd;

	fd = open_device(O_RDONLY);
	if (fd < 0)
		return EXIT_FAILURE;
	if (get_params_stats(fd, &p, &s)) {
		close(fd);
		return EXIT_FAILURE;
	}
	for (size_t i = 0; i < ARRAY_SIZE(metrics); i++) {
		const struct metric_desc *m = &metrics[i];
		const struct stat_desc *d;
		int64_t v = -1;

		for (size_t j = 0; (d = stat_at(j)); j++)
			if (!strcmp(d->name, m->stat))
				v = stat_value(&s, d);
		if (v < 0)
			continue;
		printf("# HELP ksmmod_%s %s.\n# TYPE ksmmod_%s %s\nksmmod_%s %" PRId64 "\n",
		       m->name, m->help, m->name, m->counter ? "counter" : "gauge", m->name, v);
	}
	printf("# HELP ksmmod_general_profit_bytes Memory saved minus ksmmod's metadata.\n"
	       "# TYPE ksmmod_general_profit_bytes gauge\nksmmod_general_profit_bytes %" PRId64 "\n",
	       (int64_t)s.general_profit);
	/* The knobs node_exporter's ksmd collector exports, and a few of ksmmod's. */
	if (p.mask & KSMMOD_PARAM_RUN)
		printf("# HELP ksmmod_run Whether the scanner runs (0 stop, 1 merge, 2 unmerge).\n"
		       "# TYPE ksmmod_run gauge\nksmmod_run %" PRIu32 "\n", p.run);
	if (p.mask & KSMMOD_PARAM_PAGES_TO_SCAN)
		printf("# HELP ksmmod_pages_to_scan Pages scanned per batch.\n"
		       "# TYPE ksmmod_pages_to_scan gauge\nksmmod_pages_to_scan %" PRIu32 "\n",
		       p.pages_to_scan);
	if (p.mask & KSMMOD_PARAM_SLEEP_MILLISECS)
		printf("# HELP ksmmod_sleep_seconds Sleep between batches.\n"
		       "# TYPE ksmmod_sleep_seconds gauge\nksmmod_sleep_seconds %.3f\n",
		       p.sleep_millisecs / 1000.0);
	if (p.mask & KSMMOD_PARAM_MERGE_ACROSS_NODES)
		printf("# HELP ksmmod_merge_across_nodes Whether pages merge across NUMA nodes.\n"
		       "# TYPE ksmmod_merge_across_nodes gauge\nksmmod_merge_across_nodes %" PRIu32
		       "\n", p.merge_across_nodes);
	if (p.mask & KSMMOD_PARAM_MAX_PAGE_SHARING)
		printf("# HELP ksmmod_max_page_sharing Mappings of one KSM page at most.\n"
		       "# TYPE ksmmod_max_page_sharing gauge\nksmmod_max_page_sharing %" PRIu32 "\n",
		       p.max_page_sharing);
	printf("# HELP ksmmod_page_size_bytes The page size pages are counted in.\n"
	       "# TYPE ksmmod_page_size_bytes gauge\nksmmod_page_size_bytes %lu\n", page_size());
	procs = registered_procs(fd, &nr);
	close(fd);
	for (size_t m = 0; m < ARRAY_SIZE(proc_metrics); m++) {
		printf("# HELP ksmmod_%s %s.\n# TYPE ksmmod_%s gauge\n", proc_metrics[m].name,
		       proc_metrics[m].help, proc_metrics[m].name);
		for (size_t i = 0; i < nr; i++) {
			printf("ksmmod_%s{pid=\"%d\",comm=\"", proc_metrics[m].name, (int)procs[i].pid);
			print_label_value(procs[i].comm);
			printf("\"} %" PRId64 "\n", proc_metric_value(&procs[i].ps, m));
		}
	}
	free(procs);
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
			return usage_err("unknown option '%s' (try 'ksmmodctl help')", a);
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
		bool raw = false, json = false, have_pid = false;
		pid_t pid = 0;

		for (; i < argc; i++) {
			if (!strcmp(argv[i], "--raw") && !raw && !json) {
				raw = true;
			} else if (!strcmp(argv[i], "--json") && !raw && !json) {
				json = true;
			} else if (!have_pid && argv[i][0] != '-') {
				int ret = parse_pid("status", argv[i], &pid);

				if (ret)
					return ret;
				have_pid = true;
			} else {
				return usage_err("status: unexpected argument '%s'", argv[i]);
			}
		}
		return have_pid ? cmd_process_status(pid, raw, json) : cmd_status(raw, json);
	}
	if (!strcmp(cmd, "metrics")) {
		if (i < argc)
			return usage_err("metrics: unexpected argument '%s'", argv[i]);
		return cmd_metrics();
	}
	if (!strcmp(cmd, "set"))
		return cmd_set(argc - i, argv + i);
	if (!strcmp(cmd, "apply"))
		return cmd_apply(argc - i, argv + i);
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - i, argv + i);
	for (size_t j = 0; j < ARRAY_SIZE(reg_cmds); j++)
		if (!strcmp(cmd, reg_cmds[j].name))
			return cmd_register(&reg_cmds[j], argc - i, argv + i);

	return usage_err("unknown command '%s' (try 'ksmmodctl help')", cmd);
}
