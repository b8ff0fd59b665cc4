// SPDX-License-Identifier: GPL-2.0
/*
 * Merged pages mapped by a process ksmmod does not know: without drop-in
 * mode, a child forked after MERGE_RANGE merged its parent's pages maps the
 * parent's KSM pages, and ksmmod has no rmap item for those mappings.
 *
 * run=2 and rmmod must still leave no KSM page of ksmmod's behind: the
 * child's pages become private copies with their bytes (no two share a
 * PFN any more), nothing is leaked, and after rmmod the child hands its
 * memory to the kernel's own KSM (madvise, ksmd running), which merges it
 * with exact counts and unmerges it again, with no kernel error. Left
 * behind, such a node would point into freed module memory, and mm/ksm.c
 * would take it for a forked KSM page of its own and link it into its tree.
 *
 * The same handover while ksmmod is loaded (prctl(PR_SET_MEMORY_MERGE) on
 * 6.4+, which enters the kernel's KSM without unmerging anything): the
 * child's mappings of ksmmod's KSM pages are copied before ksmd can meet
 * them, ksmd merges the child's memory on its own, ksmmod keeps the parent's.
 */
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "ksmtest.h"

#define NPAGES		32	/* 16 contents, two pages each */
#define KSM		"/sys/kernel/mm/ksm/"
#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE	67
#endif

static long psize;

static int pattern(int i)
{
	return 0x40 + i / 2;
}

/*
 * Pairs of @m (pages 2i and 2i+1, same contents) that share one PFN: still
 * merged. (/proc/kpageflags cannot tell: 6.12 reports every anonymous page
 * as KSM.)
 */
static int merged_pairs(char *m)
{
	int n = 0;

	for (int i = 0; i < NPAGES; i += 2) {
		uint64_t pfn = ksmt_pfn_of(m + i * psize);

		n += pfn && pfn == ksmt_pfn_of(m + (i + 1) * psize);
	}
	return n;
}

static bool bytes_ok(char *m)
{
	for (int i = 0; i < NPAGES; i++)
		if (!ksmt_bytes_ok(m + i * psize, psize, pattern(i)))
			return false;
	return true;
}

static long ksm_counter(const char *name)
{
	char path[128], buf[32];

	snprintf(path, sizeof(path), KSM "%s", name);
	return ksmt_read_file(path, buf, sizeof(buf)) > 0 ? atol(buf) : -1;
}

/* Merge @m in ksmmod; true if 16 KSM pages with 16 more mappings. */
static bool merge(int fd)
{
	struct ksmmod_stats s;

	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	s = ksmt_settle(fd, 3);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	return s.pages_shared == 16 && s.pages_sharing == 16;
}

/*
 * A child that sleeps until @cmd is readable, then reports in @rep: KSM
 * pages of its range, bytes intact, and (for the handover) the kernel's
 * KSM counters after it merged the child's memory.
 */
static void child(char *m, int cmd, int rep, bool handover, int devfd)
{
	char c, line[128];
	long shared = -1, sharing = -1, unmerged = -1;
	int ksm, entered = -1;
	bool ok;

	if (devfd >= 0)
		close(devfd);
	if (read(cmd, &c, 1) != 1)
		_exit(1);
	ksm = merged_pairs(m);
	ok = bytes_ok(m);
	if (handover) {
		long target;

		ksmt_write_file(KSM "pages_to_scan", "1000");
		ksmt_write_file(KSM "sleep_millisecs", "5");
		/*
		 * PR_SET_MEMORY_MERGE (6.4+) makes ksmd scan the range as it
		 * is (still VM_MERGEABLE from ksmmod); madvise() would find
		 * it marked already and do nothing, so without the prctl the
		 * range is unmarked first.
		 */
		if (prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0) &&
		    (madvise(m, NPAGES * psize, MADV_UNMERGEABLE) ||
		     madvise(m, NPAGES * psize, MADV_MERGEABLE)))
			_exit(2);
		entered = merged_pairs(m);
		ksmt_write_file(KSM "run", "1");
		target = ksm_counter("full_scans") + 3;
		for (int i = 0; i < 3000 && ksm_counter("full_scans") < target; i++)
			usleep(20 * 1000);
		ksmt_write_file(KSM "run", "0");
		shared = ksm_counter("pages_shared");
		sharing = ksm_counter("pages_sharing");
		ksmt_write_file(KSM "run", "2");
		unmerged = ksm_counter("pages_shared") + ksm_counter("pages_sharing");
		ksmt_write_file(KSM "run", "0");
		ok = ok && bytes_ok(m);
	}
	snprintf(line, sizeof(line), "%d %d %ld %ld %ld %d\n", ksm, ok, shared, sharing, unmerged,
		 entered);
	_exit(write(rep, line, strlen(line)) > 0 ? 0 : 3);
}

int main(void)
{
	int fd, cmd[2], rep[2], ksm, ok, kmsg, err, status, entered;
	long shared, sharing, unmerged;
	struct ksmmod_stats s;
	char line[128] = "";
	bool leaked;
	pid_t c;
	char *m;

	ktap_print_header(9);
	psize = sysconf(_SC_PAGESIZE);
	if (ksmt_loaded() && ksmt_unload())
		ktap_exit_fail_msg("cannot unload ksmmod to load it with dropin=0");
	err = ksmt_load("dropin=0");
	if (err)
		ktap_exit_fail_msg("insmod dropin=0: %s", strerror(-err));
	fd = ksmt_open();
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	m = mmap(NULL, NPAGES * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	madvise(m, NPAGES * psize, MADV_NOHUGEPAGE);
	for (int i = 0; i < NPAGES; i++)
		memset(m + i * psize, pattern(i), psize);
	if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, NPAGES * psize))
		ktap_exit_fail_msg("MERGE_RANGE: %s", strerror(errno));

	/* run=2 with a forked child mapping the KSM pages. */
	ok = merge(fd);
	if (pipe(cmd) || pipe(rep))
		ktap_exit_fail_msg("pipe: %s", strerror(errno));
	c = fork();
	if (c == 0)
		child(m, cmd[0], rep[1], false, fd);
	ksmt_set_run(fd, KSMMOD_RUN_UNMERGE);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	if (write(cmd[1], "x", 1) != 1 || read(rep[0], line, sizeof(line) - 1) <= 0)
		ktap_exit_fail_msg("the child did not report");
	waitpid(c, &status, 0);
	sscanf(line, "%d %d", &ksm, &ok);
	ktap_test_result(ok && ksm == 0 && merged_pairs(m) == 0,
			 "run=2: the forked child's %d mappings of KSM pages copied (%d of 16 pairs still merged), bytes intact",
			 NPAGES, ksm);
	ktap_test_result(ksmt_stats(fd).pages_shared == 0, "run=2: no stable node left");

	/* rmmod with a forked child mapping the KSM pages, then the kernel's KSM. */
	ok = merge(fd);
	ktap_test_result(ok, "merged again: 16 KSM pages, 16 more mappings");
	memset(line, 0, sizeof(line));
	close(fd);	/* before the fork: the child must not hold the module */
	c = fork();
	if (c == 0)
		child(m, cmd[0], rep[1], true, -1);
	kmsg = ksmt_kmsg_open();
	err = ksmt_unload();
	leaked = ksmt_kmsg_contains(kmsg, "leaking");
	ktap_test_result(!err && !leaked, "rmmod with the child mapping the KSM pages (%s%s)",
			 err ? strerror(-err) : "ok", leaked ? ", metadata leaked" : "");
	if (write(cmd[1], "x", 1) != 1 || read(rep[0], line, sizeof(line) - 1) <= 0)
		ktap_exit_fail_msg("the child did not report");
	waitpid(c, &status, 0);
	ksm = -1;
	ok = 0;
	shared = sharing = unmerged = -1;
	sscanf(line, "%d %d %ld %ld %ld", &ksm, &ok, &shared, &sharing, &unmerged);
	ktap_test_result(ksm == 0 && merged_pairs(m) == 0,
			 "after rmmod: no page merged in the child (%d of 16 pairs still merged) or the parent", ksm);
	ktap_test_result(ok && shared == 16 && sharing == 16 && unmerged == 0,
			 "the child's memory in the kernel's KSM: shared %ld sharing %ld (want 16 16), run=2 leaves %ld, bytes intact",
			 shared, sharing, unmerged);

	/*
	 * With ksmmod loaded: the child hands its memory to the kernel's KSM
	 * while it maps ksmmod's KSM pages. They are copied before ksmd can
	 * see one; ksmd then merges the child's memory on its own, and ksmmod
	 * keeps the parent's merged.
	 */
	err = ksmt_load("dropin=0");
	if (err)
		ktap_exit_fail_msg("insmod dropin=0 again: %s", strerror(-err));
	fd = ksmt_open();
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, NPAGES * psize))
		ktap_exit_fail_msg("MERGE_RANGE again: %s", strerror(errno));
	if (!merge(fd))
		ktap_print_msg("the third merge did not reach 16 16");
	memset(line, 0, sizeof(line));
	c = fork();
	if (c == 0)
		child(m, cmd[0], rep[1], true, fd);
	if (write(cmd[1], "x", 1) != 1 || read(rep[0], line, sizeof(line) - 1) <= 0)
		ktap_exit_fail_msg("the child did not report");
	waitpid(c, &status, 0);
	ksm = entered = -1;
	ok = 0;
	shared = sharing = unmerged = -1;
	sscanf(line, "%d %d %ld %ld %ld %d", &ksm, &ok, &shared, &sharing, &unmerged, &entered);
	ktap_test_result(ksm == 16 && entered == 0,
			 "dropin=0, loaded: the child maps ksmmod's KSM pages (%d of 16 pairs), and none once it entered the kernel's KSM (%d)",
			 ksm, entered);
	s = ksmt_stats(fd);
	ktap_test_result(ok && shared == 16 && sharing == 16 && unmerged == 0 &&
			 merged_pairs(m) == 16 && s.pages_shared == 16 && s.pages_sharing == 16,
			 "the kernel's KSM merged the child's memory (shared %ld sharing %ld, run=2 leaves %ld), ksmmod keeps the parent's (%d pairs, shared %llu sharing %llu), bytes intact",
			 shared, sharing, unmerged, merged_pairs(m), (unsigned long long)s.pages_shared,
			 (unsigned long long)s.pages_sharing);
	close(fd);
	kmsg = ksmt_kmsg_open();
	err = ksmt_unload();
	leaked = ksmt_kmsg_contains(kmsg, "leaking");
	ktap_test_result(!err && !leaked && merged_pairs(m) == 0 && bytes_ok(m),
			 "rmmod after the handover (%s%s), the parent's pages private again, bytes intact",
			 err ? strerror(-err) : "ok", leaked ? ", metadata leaked" : "");
	munmap(m, NPAGES * psize);
	return ktap_finished();
}
