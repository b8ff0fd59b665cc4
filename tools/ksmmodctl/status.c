// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmodctl: "version" and "status": what the module reports, as text,
 * "name value" lines (--raw) or JSON (--json).
 */
#include "ksmmodctl.h"

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
	"domains",	/* KSMMOD_FEATURE_DOMAINS */
	"domain_ioctls",	/* KSMMOD_FEATURE_DOMAIN_IOCTLS */
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
	[KSMMOD_NR_PROCESS_STATS] = "PROCESS_STATS",
	[KSMMOD_NR_SET_DOMAIN] = "SET_DOMAIN",
	[KSMMOD_NR_DOMAIN_STATS] = "DOMAIN_STATS",
};

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
int cmd_version(void)
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

/* Counter @i of stats[] then stats_tail[] (general_profit apart), NULL past the last. */
const struct stat_desc *stat_at(size_t i)
{
	if (i < ARRAY_SIZE(stats))
		return &stats[i];
	i -= ARRAY_SIZE(stats);
	return i < ARRAY_SIZE(stats_tail) ? &stats_tail[i] : NULL;
}

/* The value of counter @d of @s, or -1 if the module did not write it. */
int64_t stat_value(const struct ksmmod_stats *s, const struct stat_desc *d)
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
	for (size_t i = 0; i < nr_params; i++) {
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
int cmd_status(bool raw, bool json)
{
	struct ksmmod_params p;
	struct ksmmod_stats s;
	int width = (int)strlen("general_profit");
	char buf[64];
	int fd;

	fd = open_params_stats(&p, &s);
	if (fd < 0)
		return EXIT_FAILURE;
	close(fd);
	if (json) {
		print_status_json(&p, &s);
		return EXIT_SUCCESS;
	}

	for (size_t i = 0; i < nr_params; i++)
		if ((int)strlen(params[i].name) > width)
			width = (int)strlen(params[i].name);
	for (size_t i = 0; i < ARRAY_SIZE(stats); i++)
		if ((int)strlen(stats[i].name) > width)
			width = (int)strlen(stats[i].name);
	for (size_t i = 0; i < ARRAY_SIZE(stats_tail); i++)
		if ((int)strlen(stats_tail[i].name) > width)
			width = (int)strlen(stats_tail[i].name);

	/* Parameters: only those the module reports in @mask. */
	for (size_t i = 0; i < nr_params; i++) {
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

/* "ksmmodctl status [--raw | --json] PID": KSMMOD_IOC_PROCESS_STATS of one process. */
int cmd_process_status(pid_t pid, bool raw, bool json)
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
		printf(", \"thp_unsplittable\": %" PRIu64, (uint64_t)ps.thp_unsplittable);
		printf(", \"domain_kind\": \"%s\", \"domain_id\": %" PRIu64 "}\n",
		       kind_name(ps.domain_kind), (uint64_t)ps.domain_id);
		return EXIT_SUCCESS;
	}
	if (raw) {
		printf("pid %d\nregistered_bytes %" PRIu64 "\nrmap_items %" PRIu64
		       "\nmerging_pages %" PRIu64 "\nzero_pages %" PRIu64 "\nprocess_profit %" PRId64
		       "\nmerge_any %s\nmergeable %s\nineligible_pages %" PRIu64
		       "\nmerge_pinned %" PRIu64 "\nthp_unsplittable %" PRIu64
		       "\ndomain_kind %s\ndomain_id %" PRIu64 "\n",
		       (int)pid, (uint64_t)ps.registered_bytes, (uint64_t)ps.rmap_items,
		       (uint64_t)ps.merging_pages, (uint64_t)ps.zero_pages, (int64_t)ps.process_profit,
		       ps.merge_any ? "yes" : "no", ps.mergeable ? "yes" : "no",
		       (uint64_t)ps.ineligible_pages, (uint64_t)ps.merge_pinned,
		       (uint64_t)ps.thp_unsplittable, kind_name(ps.domain_kind),
		       (uint64_t)ps.domain_id);
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
	printf("%-16s  %s %" PRIu64 " (merge domain)\n", "domain", kind_name(ps.domain_kind),
	       (uint64_t)ps.domain_id);
	return EXIT_SUCCESS;
}

