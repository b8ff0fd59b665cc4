// SPDX-License-Identifier: GPL-2.0
/*
 * Merging, end to end: identical pages in one and in two processes merge to
 * the exact pages_shared/pages_sharing counts, /proc/self/pagemap proves
 * they share one PFN, unique pages stay apart, every byte survives; a write
 * gets a private copy; UNMERGE_RANGE, run=2 and rmmod with merged pages
 * leave private pages with their contents.
 *
 * Merge runs: pages of one page table that go into the same KSM page in the
 * same pass are merged under one page table lock and one TLB flush. 64
 * identical pages filling the first two batches of a page table, page 10
 * written between the first and the second full scan (so that its hash at
 * the last scan still says it is like the others): the runs stop at page
 * 10, which stays private with its bytes, and go on after it; exactly
 * three runs (pages 2-9, 11-31, 32-63: pages 0 and 1 make the KSM page).
 */
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "ksmtest.h"

#define NPAGES	64	/* 0-31: 0x11, 32-47: unique, 48-63: 0x22 */

static int fd;
static long psize;

static void fill(char *mem)
{
	for (int i = 0; i < NPAGES; i++) {
		char *p = mem + i * psize;

		if (i < 32)
			memset(p, 0x11, psize);
		else if (i < 48)
			snprintf(p, psize, "unique page %d", i);
		else
			memset(p, 0x22, psize);
	}
}

/* Every byte of @mem as fill() left it (page @changed has 0x99 at byte 0). */
static bool contents_ok(char *mem, int changed)
{
	char buf[4096];

	for (int i = 0; i < NPAGES; i++) {
		char *p = mem + i * psize;

		if (i >= 32 && i < 48) {
			memset(buf, 0, sizeof(buf));
			snprintf(buf, sizeof(buf), "unique page %d", i);
			if (memcmp(p, buf, psize))
				return false;
			continue;
		}
		for (long b = 0; b < psize; b++) {
			char want = i < 32 ? 0x11 : 0x22;

			if (i == changed && b == 0)
				want = (char)0x99;
			if (p[b] != want)
				return false;
		}
	}
	return true;
}

/* PFNs: 0-31 one PFN, 48-63 another, the unique ones distinct from all. */
static bool pfns_merged(char *mem, int except)
{
	uint64_t a = ksmt_pfn_of(mem), b = ksmt_pfn_of(mem + 48 * psize);

	if (!a || !b || a == b)
		return false;
	for (int i = 0; i < NPAGES; i++) {
		uint64_t f = ksmt_pfn_of(mem + i * psize);

		if (i == except || (i >= 32 && i < 48)) {
			if (f == a || f == b)
				return false;
		} else if (f != (i < 32 ? a : b)) {
			return false;
		}
	}
	return true;
}

static bool pfns_all_distinct(char *mem)
{
	for (int i = 0; i < NPAGES; i++)
		for (int j = i + 1; j < NPAGES; j++)
			if (ksmt_pfn_of(mem + i * psize) == ksmt_pfn_of(mem + j * psize))
				return false;
	return true;
}

/* The merge runs part (see the top of this file); the module freshly loaded. */
static void test_merge_runs(void)
{
	long long runs0, pages0, runs, pages;
	struct ksmmod_params saved, p;
	uint64_t scans, pfn;
	struct ksmmod_stats s;
	char *map, *m;
	bool ok;

	fd = ksmt_open();
	if (ksmt_get_params(fd, &saved))
		ktap_exit_fail_msg("GET_PARAMS: %s", strerror(errno));
	p = saved;
	p.run = KSMMOD_RUN_STOP;
	p.pages_to_scan = 1000;		/* a full scan in one batch */
	p.sleep_millisecs = 4000;	/* time to write page 10 after it */
	if (ksmt_set_params(fd, &p, KSMMOD_PARAM_RUN | KSMMOD_PARAM_PAGES_TO_SCAN |
			    KSMMOD_PARAM_SLEEP_MILLISECS))
		ktap_exit_fail_msg("SET_PARAMS: %s", strerror(errno));
	/* The first 64 pages of a page table (2 MiB aligned): two batches of 32. */
	map = mmap(NULL, 4 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (map == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	madvise(map, 4 << 20, MADV_NOHUGEPAGE);
	m = (char *)(((uintptr_t)map + (2 << 20) - 1) & ~(uintptr_t)((2 << 20) - 1));
	memset(m, 0x77, NPAGES * psize);
	if (!ksmt_merge_runs(&runs0, &pages0))
		ktap_exit_fail_msg("no merge_runs in /sys/kernel/debug/ksmmod/scanner");
	ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, NPAGES * psize);
	scans = ksmt_stats(fd).full_scans;
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	for (int i = 0; i < 1500 && ksmt_stats(fd).full_scans == scans; i++)
		usleep(10 * 1000);
	/* Scanned once: every item has the hash of 0x77 pages. Now page 10 differs. */
	m[10 * psize] = (char)0x99;
	s = ksmt_settle(fd, 2);
	ok = ksmt_merge_runs(&runs, &pages);
	/*
	 * At least 3: a loaded host may let one more go by before the read
	 * (pages_unshared is not asserted: smart scan takes page 10 out of
	 * the unstable tree from its fifth scan on).
	 */
	ktap_test_result(s.full_scans >= scans + 3 && s.pages_shared == 1 && s.pages_sharing == 62,
			 "merge runs: after %llu full scans (3 or more) shared %llu sharing %llu (want 1 62)",
			 (unsigned long long)(s.full_scans - scans), (unsigned long long)s.pages_shared,
			 (unsigned long long)s.pages_sharing);
	ktap_test_result(ok && runs - runs0 == 3 && pages - pages0 == 61,
			 "merge runs: %lld runs of %lld pages in all (want 3 of 61: 2-9, 11-31, 32-63)",
			 runs - runs0, pages - pages0);
	pfn = ksmt_pfn_of(m);
	ok = pfn && ksmt_pfn_of(m + 10 * psize) != pfn;
	for (int i = 0; i < NPAGES; i++)
		ok &= i == 10 || ksmt_pfn_of(m + i * psize) == pfn;
	if (!ktap_test_result(ok, "merge runs: pagemap: 63 pages share one PFN, page 10 its own"))
		for (int i = 0; i < NPAGES; i++)
			ktap_print_msg("page %d pfn %#llx", i, (unsigned long long)ksmt_pfn_of(m + i * psize));
	ok = m[10 * psize] == (char)0x99 && ksmt_bytes_ok(m + 10 * psize + 1, psize - 1, 0x77) &&
	     ksmt_bytes_ok(m, 10 * psize, 0x77) &&
	     ksmt_bytes_ok(m + 11 * psize, (NPAGES - 11) * psize, 0x77);
	ktap_test_result(ok, "merge runs: every byte intact, page 10's write kept");
	ksmt_range(fd, KSMMOD_IOC_UNMERGE_RANGE, m, NPAGES * psize);
	munmap(map, 4 << 20);
	if (ksmt_set_params(fd, &saved, KSMMOD_PARAM_RUN | KSMMOD_PARAM_PAGES_TO_SCAN |
			    KSMMOD_PARAM_SLEEP_MILLISECS))
		ktap_exit_fail_msg("SET_PARAMS: %s", strerror(errno));
	close(fd);
}

static long proc_merging_pages(void)
{
	char buf[64];

	if (ksmt_read_file("/proc/self/ksm_merging_pages", buf, sizeof(buf)) <= 0)
		return -1;
	return atol(buf);
}

int main(void)
{
	struct ksmmod_stats s;
	int pipefd[2], status, err;
	uint64_t child_pfn = 0, want;
	char *mem, *other;
	pid_t pid;

	ktap_print_header(28);
	ksmt_ensure_loaded();
	fd = ksmt_open();
	psize = sysconf(_SC_PAGESIZE);
	mem = mmap(NULL, NPAGES * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	other = mmap(NULL, 32 * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED || other == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	madvise(mem, NPAGES * psize, MADV_NOHUGEPAGE);
	madvise(other, 32 * psize, MADV_NOHUGEPAGE);
	fill(mem);

	/* One process. */
	err = ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, mem, NPAGES * psize);
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	s = ksmt_settle(fd, 3);
	ktap_test_result(!err && s.pages_shared == 2 && s.pages_sharing == 46,
			 "one process: pages_shared %llu (want 2), pages_sharing %llu (want 46)",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing);
	ktap_test_result(s.pages_unshared == 16 && s.rmap_items == 64,
			 "unique pages unshared: %llu (want 16), rmap_items %llu (want 64)",
			 (unsigned long long)s.pages_unshared, (unsigned long long)s.rmap_items);
	if (!ktap_test_result(pfns_merged(mem, -1), "pagemap: identical pages share a PFN, unique ones do not"))
		for (int i = 0; i < NPAGES; i++)
			ktap_print_msg("page %d pfn %#llx", i, (unsigned long long)ksmt_pfn_of(mem + i * psize));
	ktap_test_result(contents_ok(mem, -1), "every byte intact after merging");
	ktap_test_result(proc_merging_pages() == 48, "/proc/self/ksm_merging_pages = %ld (want 48)",
			 proc_merging_pages());
	ktap_test_result(s.general_profit == (46LL * psize - 64LL * 64),
			 "general_profit = %lld (46 pages - 64 items x 64 B)", (long long)s.general_profit);

	/* Copy on write. */
	mem[5 * psize] = (char)0x99;
	ktap_test_result(ksmt_pfn_of(mem + 5 * psize) != ksmt_pfn_of(mem) && contents_ok(mem, 5),
			 "write to a merged page: private copy, all other bytes intact");
	s = ksmt_settle(fd, 3);
	ktap_test_result(s.pages_shared == 2 && s.pages_sharing == 45 && s.pages_unshared == 17,
			 "after the write: shared %llu sharing %llu unshared %llu (want 2 45 17)",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing,
			 (unsigned long long)s.pages_unshared);
	ktap_test_result(pfns_merged(mem, 5), "PFNs after the write: page 5 alone, the rest merged");

	/* Two processes: a child's pages merge with ours. */
	memset(other, 0x33, 32 * psize);
	ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, other, 32 * psize);
	if (pipe(pipefd))
		ktap_exit_fail_msg("pipe");
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		char *c = mmap(NULL, 32 * psize, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uint64_t f;

		madvise(c, 32 * psize, MADV_NOHUGEPAGE);
		memset(c, 0x33, 32 * psize);
		ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, c, 32 * psize);
		ksmt_settle(fd, 3);
		f = ksmt_pfn_of(c);
		for (int i = 1; i < 32; i++)
			if (ksmt_pfn_of(c + i * psize) != f)
				f = 0;
		for (int i = 0; i < 32 * psize; i++)
			if (c[i] != 0x33)
				f = 0;
		if (write(pipefd[1], &f, sizeof(f)) != sizeof(f))
			_exit(1);
		pause();
		_exit(0);
	}
	if (read(pipefd[0], &child_pfn, sizeof(child_pfn)) != sizeof(child_pfn))
		child_pfn = 0;
	s = ksmt_stats(fd);
	ktap_test_result(child_pfn && child_pfn == ksmt_pfn_of(other),
			 "two processes: the child's 32 pages and ours share one PFN");
	/*
	 * In drop-in mode (the default) registered memory is inherited
	 * across fork, as madvise(MADV_MERGEABLE) is: the child's 47 + 32
	 * inherited mappings of our KSM pages count too.
	 */
	want = 45 + 63 + (ksmt_dropin() ? 47 + 32 : 0);
	ktap_test_result(s.pages_shared == 3 && s.pages_sharing == want,
			 "two processes: shared %llu (want 3), sharing %llu (want %llu)",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing,
			 (unsigned long long)want);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	s = ksmt_settle(fd, 2);
	ktap_test_result(s.pages_shared == 3 && s.pages_sharing == 45 + 31 && s.mm_slots == 1,
			 "child exited: shared %llu sharing %llu slots %llu (want 3 76 1)",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing,
			 (unsigned long long)s.mm_slots);

	/* UNMERGE_RANGE. */
	err = ksmt_range(fd, KSMMOD_IOC_UNMERGE_RANGE, mem, NPAGES * psize);
	s = ksmt_stats(fd);
	ktap_test_result(!err && pfns_all_distinct(mem) && contents_ok(mem, 5),
			 "UNMERGE_RANGE: every page private again, bytes intact");
	ktap_test_result(s.pages_shared == 1 && s.pages_sharing == 31 && s.pages_unshared == 0 &&
			 s.rmap_items == 32,
			 "UNMERGE_RANGE: counters shared %llu sharing %llu unshared %llu items %llu (want 1 31 0 32)",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing,
			 (unsigned long long)s.pages_unshared, (unsigned long long)s.rmap_items);
	ktap_test_result(proc_merging_pages() == 32, "/proc/self/ksm_merging_pages = %ld (want 32)",
			 proc_merging_pages());

	/* run=2 unmerges everything, keeps the registration. */
	ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, mem, NPAGES * psize);
	s = ksmt_settle(fd, 3);
	ktap_test_result(s.pages_shared == 3 && s.pages_sharing == 45 + 31,
			 "registered again: merged again (shared %llu sharing %llu)",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing);
	ksmt_set_run(fd, KSMMOD_RUN_UNMERGE);
	s = ksmt_stats(fd);
	ktap_test_result(s.pages_shared == 0 && s.pages_sharing == 0 && s.pages_unshared == 0 &&
			 s.rmap_items == 0 && s.mm_slots == 1,
			 "run=2: no merged pages, no items, registration kept");
	ktap_test_result(pfns_all_distinct(mem) && contents_ok(mem, 5) && ksmt_pfn_of(other) != ksmt_pfn_of(other + psize),
			 "run=2: every page private, bytes intact");

	/* Merge again, then unload the module with pages merged. */
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	s = ksmt_settle(fd, 3);
	ktap_test_result(s.pages_shared == 3, "run=1 again: merged again (shared %llu)",
			 (unsigned long long)s.pages_shared);
	close(fd);
	err = ksmt_unload();
	ktap_test_result(!err, "rmmod with merged pages (%s)", err ? strerror(-err) : "ok");
	ktap_test_result(pfns_all_distinct(mem) && contents_ok(mem, 5), "after rmmod: private pages, bytes intact");
	memset(mem, 0x44, NPAGES * psize);
	memset(other, 0x55, 32 * psize);
	ktap_test_result(mem[NPAGES * psize - 1] == 0x44 && other[0] == 0x55 && other[32 * psize - 1] == 0x55,
			 "after rmmod: pages writable");
	err = ksmt_load(NULL);
	ktap_test_result(!err, "module loads again");
	fd = ksmt_open();
	s = ksmt_stats(fd);
	ktap_test_result(s.pages_shared == 0 && s.mm_slots == 0 && s.rmap_items == 0,
			 "fresh module: nothing registered");
	close(fd);
	test_merge_runs();
	return ktap_finished();
}
