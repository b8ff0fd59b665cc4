// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmodctl: "metrics", the Prometheus text format, and the processes
 * ksmmod knows (also for "watch").
 */
#include "ksmmodctl.h"

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
void read_comm(pid_t pid, char *buf, size_t len)
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

/*
 * Every process with memory registered (PROCESS_STATS asked for each /proc
 * entry; processes that exit meanwhile, or are not registered, are left out).
 * Return: the array (free() it), *@nr set; NULL with *@nr 0 if none.
 */
struct proc_entry *registered_procs(int fd, size_t *nr)
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
int cmd_metrics(void)
{
	struct proc_entry *procs;
	struct ksmmod_params p;
	struct ksmmod_stats s;
	size_t nr;
	int fd;

	fd = open_params_stats(&p, &s);
	if (fd < 0)
		return EXIT_FAILURE;
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

