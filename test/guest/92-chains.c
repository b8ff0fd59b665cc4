// SPDX-License-Identifier: GPL-2.0
/*
 * max_page_sharing: stable node chains and dups.
 *
 * 1000 identical pages merge into 4 KSM pages (dups of one chain) with the
 * default limit of 256, as the kernel's ksm_tests -M expects, and into 500
 * with the limit 2; the limit cannot change while pages are merged. Stale
 * dups are pruned; densify_chains moves the mappings of under-filled dups
 * onto one; migration and swap-out of every dup keep every byte.
 * PFNs from /proc/self/pagemap prove what is shared.
 */
#include <sys/mman.h>
#include <time.h>

#include "ksmtest.h"

#define N	1000	/* identical pages */
#define BYTE	0x5a
#define KEEP	10	/* mappings left in each of three dups */

static int fd;
static long psize;

#define ULL(x)	((unsigned long long)(x))

/* Set tunables named in @mask to the values in @p; 0 or -errno. */
static int set(__u64 mask, struct ksmmod_params p)
{
	return ksmt_set_params(fd, &p, mask);
}

static int set_limit(unsigned int limit)
{
	return set(KSMMOD_PARAM_MAX_PAGE_SHARING, (struct ksmmod_params){ .max_page_sharing = limit });
}

/*
 * Group the pages of [@m, @m + @n pages) by PFN: @pfn[i] is page i's PFN;
 * returns the number of distinct PFNs (0 if a page is not present), and in
 * @most the most pages sharing one PFN.
 */
static int pfn_groups(char *m, int n, uint64_t *pfn, int *most)
{
	int distinct = 0;

	*most = 0;
	for (int i = 0; i < n; i++) {
		int same = 0;
		bool first = true;

		pfn[i] = ksmt_pfn_of(m + i * psize);
		if (!pfn[i])
			return 0;
		for (int j = 0; j < i; j++)
			if (pfn[j] == pfn[i])
				first = false;
		distinct += first;
		for (int j = 0; j <= i; j++)
			same += pfn[j] == pfn[i];
		if (same > *most)
			*most = same;
	}
	return distinct;
}

static void print_chains(const char *when, struct ksmmod_stats s)
{
	ktap_print_msg("%s: shared %llu sharing %llu chains %llu dups %llu dup_mappings %llu moves %llu",
		       when, ULL(s.pages_shared), ULL(s.pages_sharing), ULL(s.stable_node_chains),
		       ULL(s.stable_node_dups), ULL(s.stable_node_dup_mappings),
		       ULL(s.densify_moves));
}

static bool counts(struct ksmmod_stats s, __u64 shared, __u64 sharing, __u64 chains, __u64 dups,
		   __u64 dup_mappings)
{
	return s.pages_shared == shared && s.pages_sharing == sharing &&
	       s.stable_node_chains == chains && s.stable_node_dups == dups &&
	       s.stable_node_dup_mappings == dup_mappings;
}

/* run=2, then run=1 and wait until the N pages are merged again. */
static struct ksmmod_stats remerge(void)
{
	ksmt_set_run(fd, KSMMOD_RUN_UNMERGE);
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	return ksmt_settle(fd, 4);
}

/* Wait (at most @secs seconds) until @done holds for the counters. */
static struct ksmmod_stats wait_for(bool (*done)(struct ksmmod_stats), int secs, int *scans)
{
	struct timespec t = { 0, 50 * 1000 * 1000 };
	uint64_t start = ksmt_stats(fd).full_scans;
	struct ksmmod_stats s = ksmt_stats(fd);

	for (int i = 0; i < secs * 20 && !done(s); i++) {
		nanosleep(&t, NULL);
		s = ksmt_stats(fd);
	}
	*scans = (int)(s.full_scans - start);
	return s;
}

static bool pruned(struct ksmmod_stats s)
{
	return s.stable_node_dups == 3 && s.stable_node_dup_mappings == 3 * KEEP;
}

static bool densified(struct ksmmod_stats s)
{
	return s.stable_node_chains == 0 && s.pages_shared == 1;
}

int main(void)
{
	static uint64_t pfn[N];
	struct ksmmod_params before, after;
	struct ksmmod_stats s;
	int distinct, most, err, scans, kept;
	bool can_swap;
	char *m;

	ktap_print_header(16);
	ksmt_ensure_loaded();
	fd = ksmt_open();
	psize = sysconf(_SC_PAGESIZE);
	/* Before allocating: pages are charged to the memory cgroup they fault in. */
	can_swap = ksmt_swap_on() && ksmt_own_memcg();
	m = mmap(NULL, N * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	madvise(m, N * psize, MADV_NOHUGEPAGE);
	memset(m, BYTE, N * psize);
	if (set(KSMMOD_PARAM_DENSIFY_CHAINS | KSMMOD_PARAM_STABLE_NODE_CHAINS_PRUNE_MILLISECS,
		(struct ksmmod_params){ .densify_chains = 0,
					.stable_node_chains_prune_millisecs = 100 }))
		ktap_exit_fail_msg("SET_PARAMS densify/prune: %s", strerror(errno));
	if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, N * psize))
		ktap_exit_fail_msg("MERGE_RANGE: %s", strerror(errno));

	/* The default limit: 256 + 256 + 256 + 232. */
	s = remerge();
	print_chains("limit 256", s);
	ktap_test_result(counts(s, 4, 996, 1, 4, 1000),
			 "limit 256: shared %llu sharing %llu chains %llu dups %llu dup_mappings %llu (want 4 996 1 4 1000)",
			 ULL(s.pages_shared), ULL(s.pages_sharing), ULL(s.stable_node_chains),
			 ULL(s.stable_node_dups), ULL(s.stable_node_dup_mappings));
	distinct = pfn_groups(m, N, pfn, &most);
	ktap_test_result(distinct == 4 && most == 256,
			 "pagemap: %d PFNs (want 4), at most %d mappings of one (want 256)", distinct, most);
	ktap_test_result(ksmt_bytes_ok(m, N * psize, BYTE), "every byte intact");
	{
		char line[256], *found = NULL;
		FILE *f = popen("ksmmodctl status", "r");

		while (f && fgets(line, sizeof(line), f))
			if (!strncmp(line, "sharing_per_dup", 15))
				found = strdup(line);
		if (f)
			pclose(f);
		ktap_test_result(found && strstr(found, " 250.0 (of max_page_sharing 256)"),
				 "ksmmodctl status: %s", found ? found : "no sharing_per_dup line");
	}

	/* The limit cannot change while merged. */
	ksmt_get_params(fd, &before);
	err = set_limit(300);
	ksmt_get_params(fd, &after);
	ktap_test_result(err == -EBUSY && after.max_page_sharing == 256 &&
			 counts(ksmt_stats(fd), 4, 996, 1, 4, 1000),
			 "max_page_sharing=300 while merged: %s (want EBUSY), unchanged",
			 strerror(-err));
	ktap_test_result(set_limit(1) == -EINVAL, "max_page_sharing=1: EINVAL");
	ksmt_set_run(fd, KSMMOD_RUN_UNMERGE);
	s = ksmt_stats(fd);
	ktap_test_result(counts(s, 0, 0, 0, 0, 0) && pfn_groups(m, N, pfn, &most) == N,
			 "run=2: no chain, no dup, %d PFNs", pfn_groups(m, N, pfn, &most));
	ktap_test_result(set_limit(2) == 0, "max_page_sharing=2 after run=2: accepted");

	/* The smallest limit: pairs. */
	s = remerge();
	print_chains("limit 2", s);
	ktap_test_result(counts(s, 500, 500, 1, 500, 1000),
			 "limit 2: shared %llu sharing %llu chains %llu dups %llu (want 500 500 1 500)",
			 ULL(s.pages_shared), ULL(s.pages_sharing), ULL(s.stable_node_chains),
			 ULL(s.stable_node_dups));
	distinct = pfn_groups(m, N, pfn, &most);
	ktap_test_result(distinct == 500 && most == 2 && ksmt_bytes_ok(m, N * psize, BYTE),
			 "pagemap: %d PFNs (want 500), at most %d each (want 2), bytes intact",
			 distinct, most);

	/* Stale dups are pruned: unmap all of one dup, most of the others. */
	ksmt_set_run(fd, KSMMOD_RUN_UNMERGE);
	set_limit(256);
	s = remerge();
	distinct = pfn_groups(m, N, pfn, &most);
	kept = 0;
	for (int i = 0; i < N; i++) {
		int nth = 0;

		for (int j = 0; j < i; j++)
			nth += pfn[j] == pfn[i];
		/* All mappings of page 0's dup go; KEEP of each other dup stay. */
		if (pfn[i] == pfn[0] || nth >= KEEP)
			madvise(m + i * psize, psize, MADV_DONTNEED);
		else
			kept++;
	}
	s = wait_for(pruned, 20, &scans);
	print_chains("after unmapping", s);
	ktap_test_result(distinct == 4 && kept == 3 * KEEP && counts(s, 3, 3 * KEEP - 3, 1, 3, 3 * KEEP),
			 "stale dup pruned: shared %llu sharing %llu chains %llu dups %llu dup_mappings %llu (want 3 %d 1 3 %d)",
			 ULL(s.pages_shared), ULL(s.pages_sharing), ULL(s.stable_node_chains),
			 ULL(s.stable_node_dups), ULL(s.stable_node_dup_mappings), 3 * KEEP - 3,
			 3 * KEEP);

	/* Densify: the 30 mappings end up on one page; the chain collapses. */
	set(KSMMOD_PARAM_DENSIFY_CHAINS, (struct ksmmod_params){ .densify_chains = 1 });
	s = wait_for(densified, 20, &scans);
	print_chains("densified", s);
	ktap_test_result(densified(s) && s.pages_sharing == 3 * KEEP - 1 &&
			 s.stable_node_dups == 0 && s.densify_moves == 2 * KEEP,
			 "densify: shared %llu sharing %llu chains %llu dups %llu moves %llu after %d full scans (want 1 %d 0 0 %d)",
			 ULL(s.pages_shared), ULL(s.pages_sharing), ULL(s.stable_node_chains),
			 ULL(s.stable_node_dups), ULL(s.densify_moves), scans, 3 * KEEP - 1, 2 * KEEP);
	{
		uint64_t one = 0;
		bool ok = true;

		for (int i = 0; i < N; i++) {
			uint64_t f = ksmt_pfn_of(m + i * psize);

			if (!f)
				continue;	/* unmapped above */
			if (!one)
				one = f;
			ok &= f == one && ksmt_bytes_ok(m + i * psize, psize, BYTE);
		}
		ktap_test_result(ok && one, "pagemap: the %d mappings left share one PFN, bytes intact",
				 kept);
	}

	/* Migration and swap of every dup of a chain. */
	memset(m, BYTE, N * psize);
	s = remerge();
	distinct = pfn_groups(m, N, pfn, &most);
	if (access("/sys/devices/system/node/node1", F_OK)) {
		ktap_test_skip("move_pages of every dup", "the guest has no NUMA node 1");
	} else {
		int moved = 0;

		for (int i = 0; i < N; i++) {
			bool first = true;
			int status = -1;

			for (int j = 0; j < i; j++)
				first &= pfn[j] != pfn[i];
			if (!first)
				continue;
			/* A page busy for a moment (being scanned, in a batch) is retried. */
			for (int try = 0; try < 10 && status != 1; try++) {
				if (try)
					usleep(100000);
				if (ksmt_move_page(m + i * psize, 1, &status))
					status = -errno;
			}
			if (status == 1)
				moved++;
			else
				ktap_print_msg("page %d: move_pages status %d", i, status);
		}
		s = ksmt_settle(fd, 2);
		ktap_test_result(distinct == 4 && moved == 4 && ksmt_bytes_ok(m, N * psize, BYTE) &&
				 counts(s, 4, 996, 1, 4, 1000),
				 "move_pages of one page of each of the 4 dups: %d moved, bytes intact, counts kept",
				 moved);
	}
	if (!can_swap) {
		ktap_test_skip("swap-out of every dup", "no zram swap or no memory cgroup with memory.reclaim");
	} else {
		int out = ksmt_reclaim(m, N);
		bool ok = ksmt_bytes_ok(m, N * psize, BYTE);

		ktap_test_result(out > 0 && ok, "reclaim swapped out %d of %d mappings of the 4 dups; every byte reads back",
				 out, N);
		syscall(SYS_swapoff, "/dev/zram0");
	}
	ktap_test_result(ksmt_bytes_ok(m, N * psize, BYTE), "every byte intact at the end");

	ksmt_set_run(fd, KSMMOD_RUN_UNMERGE);
	set(KSMMOD_PARAM_DENSIFY_CHAINS | KSMMOD_PARAM_STABLE_NODE_CHAINS_PRUNE_MILLISECS,
	    (struct ksmmod_params){ .densify_chains = 1, .stable_node_chains_prune_millisecs = 2000 });
	return ktap_finished();
}
