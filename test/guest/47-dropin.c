// SPDX-License-Identifier: GPL-2.0
/*
 * Drop-in mode: unmodified programs using madvise(MADV_MERGEABLE) and (6.4+)
 * prctl(PR_SET_MEMORY_MERGE) are served by ksmmod, not the kernel's KSM.
 *
 * - madvise'd identical pages merge: ksmmod's counters move, the kernel's
 *   /sys/kernel/mm/ksm/pages_sharing stays 0; pagemap PFNs prove it; the
 *   process is "ksm_mergeable: yes" in /proc/self/ksm_stat (where it has that line);
 * - a forked child is in KSM too (its pages are tracked after a scan); when
 *   it exits its metadata is gone at once, with the scanner stopped;
 * - MADV_UNMERGEABLE breaks every merged page at once;
 * - prctl(PR_SET_MEMORY_MERGE) makes mappings created afterwards merge;
 * - after rmmod the same calls reach the kernel's KSM again (its counters
 *   move); loading ksmmod while the kernel's KSM runs is refused with a
 *   message saying what to do.
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include "ksmtest.h"

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE	67
#define PR_GET_MEMORY_MERGE	68
#endif

#define NPAGES	32

static int fd;
static long psize;

static long kernel_ksm(const char *name)
{
	char path[128], buf[64];

	snprintf(path, sizeof(path), "/sys/kernel/mm/ksm/%s", name);
	if (ksmt_read_file(path, buf, sizeof(buf)) <= 0)
		return -1;
	return atol(buf);
}

static int kernel_ksm_run(const char *val)
{
	return ksmt_write_errno("/sys/kernel/mm/ksm/run", val);
}

static char *map_filled(int byte)
{
	char *m = ksmt_map_filled(NPAGES, byte);

	if (!m)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	return m;
}

static bool one_pfn(char *m)
{
	uint64_t pfn = ksmt_pfn_of(m);

	for (int i = 1; i < NPAGES; i++)
		if (ksmt_pfn_of(m + i * psize) != pfn)
			return false;
	return pfn != 0;
}

static bool all_distinct(char *m)
{
	for (int i = 0; i < NPAGES; i++)
		for (int j = i + 1; j < NPAGES; j++)
			if (ksmt_pfn_of(m + i * psize) == ksmt_pfn_of(m + j * psize))
				return false;
	return true;
}

static bool bytes_ok(char *m, int byte)
{
	for (long i = 0; i < NPAGES * psize; i++)
		if (m[i] != (char)byte)
			return false;
	return true;
}

/* Whether /proc/self/ksm_stat contains @text. */
static bool stat_has(const char *text)
{
	char buf[512];

	return ksmt_read_file("/proc/self/ksm_stat", buf, sizeof(buf)) > 0 && strstr(buf, text);
}

int main(void)
{
	/* PR_SET_MEMORY_MERGE came with 6.4: EINVAL before. */
	bool have_prctl = prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0) >= 0;
	struct ksmmod_stats s, before;
	int status, p[2], err;
	char *m, *n, buf[8];
	pid_t pid;

	ktap_print_header(11);
	ksmt_ensure_loaded();
	if (ksmt_read_file("/sys/module/ksmmod/parameters/dropin", buf, sizeof(buf)) <= 0 ||
	    buf[0] != 'Y')
		ktap_exit_fail_msg("ksmmod is not in drop-in mode (dropin=%c)", buf[0]);
	fd = ksmt_open();
	psize = sysconf(_SC_PAGESIZE);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);

	/* madvise() reaches ksmmod. */
	m = map_filled(0x71);
	err = madvise(m, NPAGES * psize, MADV_MERGEABLE) ? -errno : 0;
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	ksmt_settle(fd, 3);
	s = ksmt_settle(fd, 1);
	ktap_test_result(!err && s.pages_shared == 1 && s.pages_sharing == NPAGES - 1 && one_pfn(m) &&
			 kernel_ksm("pages_sharing") == 0 && kernel_ksm("pages_shared") == 0,
			 "madvise(MADV_MERGEABLE) pages merge in ksmmod (shared %llu sharing %llu), not in the kernel's KSM",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing);
	/* the kernel prints "ksm_mergeable: yes|no" (6.10+) */
	if (stat_has("ksm_mergeable: "))
		ktap_test_result(stat_has("ksm_mergeable: yes\n"),
				 "/proc/self/ksm_stat says ksm_mergeable: yes");
	else
		ktap_test_skip("/proc/self/ksm_stat ksm_mergeable",
			       "this kernel's /proc/self/ksm_stat has no ksm_mergeable line");

	/* fork: the child is in KSM too; its exit frees its metadata at once. */
	if (pipe(p))
		ktap_exit_fail_msg("pipe: %s", strerror(errno));
	pid = fork();
	if (pid == 0) {
		char c;

		m[0] = 0x72;	/* a private page: the rest stay merged */
		if (read(p[0], &c, 1) != 1)
			_exit(3);
		_exit(m[0] == 0x72 && m[psize] == 0x71 ? 0 : 2);
	}
	ksmt_settle(fd, 3);
	s = ksmt_settle(fd, 1);
	ktap_test_result(s.mm_slots == 2 && s.rmap_items >= 2 * NPAGES,
			 "the forked child is in ksmmod too (slots %llu, items %llu)",
			 (unsigned long long)s.mm_slots, (unsigned long long)s.rmap_items);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	before = ksmt_stats(fd);
	if (write(p[1], "x", 1) != 1)
		ktap_exit_fail_msg("pipe write");
	waitpid(pid, &status, 0);
	s = ksmt_stats(fd);
	ktap_test_result(WIFEXITED(status) && WEXITSTATUS(status) == 0 && s.mm_slots == 1 &&
			 s.rmap_items <= NPAGES && s.pages_sharing == NPAGES - 1,
			 "child exit frees its metadata with no scan: slots %llu -> %llu, items %llu -> %llu, sharing %llu",
			 (unsigned long long)before.mm_slots, (unsigned long long)s.mm_slots,
			 (unsigned long long)before.rmap_items, (unsigned long long)s.rmap_items,
			 (unsigned long long)s.pages_sharing);
	close(p[0]);
	close(p[1]);

	/* MADV_UNMERGEABLE breaks every merged page before returning. */
	err = madvise(m, NPAGES * psize, MADV_UNMERGEABLE) ? -errno : 0;
	ktap_test_result(!err && all_distinct(m) && bytes_ok(m, 0x71),
			 "MADV_UNMERGEABLE: every page private again, bytes intact (%d)", err);
	munmap(m, NPAGES * psize);

	/* prctl(PR_SET_MEMORY_MERGE): later mappings merge without madvise. */
	if (have_prctl) {
		err = prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0) ? -errno : 0;
		n = map_filled(0x73);
		ksmt_set_run(fd, KSMMOD_RUN_MERGE);
		ksmt_settle(fd, 3);
		s = ksmt_settle(fd, 1);
		ktap_test_result(!err && prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0) == 1 && one_pfn(n) &&
				 s.pages_shared == 1 && s.pages_sharing == NPAGES - 1 &&
				 kernel_ksm("pages_sharing") == 0,
				 "PR_SET_MEMORY_MERGE: a new mapping merges in ksmmod (sharing %llu)",
				 (unsigned long long)s.pages_sharing);
		err = prctl(PR_SET_MEMORY_MERGE, 0, 0, 0, 0) ? -errno : 0;
		ktap_test_result(!err && prctl(PR_GET_MEMORY_MERGE, 0, 0, 0, 0) == 0 && all_distinct(n) &&
				 bytes_ok(n, 0x73),
				 "PR_SET_MEMORY_MERGE 0 unmerges it (%d)", err);
		munmap(n, NPAGES * psize);
	} else {
		ktap_test_skip("PR_SET_MEMORY_MERGE", "prctl PR_SET_MEMORY_MERGE is 6.4+");
		ktap_test_skip("PR_SET_MEMORY_MERGE 0", "prctl PR_SET_MEMORY_MERGE is 6.4+");
	}
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	close(fd);

	/* rmmod: madvise reaches the kernel's KSM again. */
	err = ksmt_unload();
	ktap_test_result(!err, "rmmod (%d)", err);
	m = map_filled(0x74);
	err = madvise(m, NPAGES * psize, MADV_MERGEABLE) ? -errno : 0;
	{
		long start = kernel_ksm("full_scans");

		kernel_ksm_run("1");
		for (int i = 0; i < 3000 && kernel_ksm("full_scans") < start + 3; i++)
			usleep(20000);
	}
	ktap_test_result(!err && kernel_ksm("pages_shared") == 1 &&
			 kernel_ksm("pages_sharing") == NPAGES - 1 && one_pfn(m),
			 "without ksmmod madvise'd pages merge in the kernel's KSM (sharing %ld)",
			 kernel_ksm("pages_sharing"));

	/* Loading next to a running kernel KSM is refused, with a reason. */
	{
		int kmsg = ksmt_kmsg_open();

		err = ksmt_load(NULL);
		ktap_test_result(err == -EBUSY && ksmt_kmsg_contains(kmsg, "the kernel's KSM is running"),
				 "loading while the kernel's KSM runs: EBUSY with a message (%d)", err);
		close(kmsg);
	}
	kernel_ksm_run("2");
	kernel_ksm_run("0");
	munmap(m, NPAGES * psize);
	err = ksmt_load(NULL);
	ktap_test_result(!err && kernel_ksm("pages_shared") == 0,
			 "after the kernel's KSM unmerged and stopped, ksmmod loads (%d)", err);
	return ktap_finished();
}
