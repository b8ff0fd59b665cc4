// SPDX-License-Identifier: GPL-2.0
/*
 * Metadata follows the address space without waiting for the scanner (the
 * scanner is stopped and full_scans does not move while this is checked):
 *
 * - munmap of half a merged range frees its rmap items and its share of
 *   the counters at once (mmu_notifier MMU_NOTIFY_UNMAP);
 * - a registered process that exits is forgotten at once, in drop-in mode
 *   (the __ksm_exit hook) and without it (mmu_notifier release), also when
 *   it is killed while it registers;
 * - 1000 short-lived registered processes leave nothing behind.
 */
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "ksmtest.h"

#define NPAGES	64

static int fd;
static long psize;

/* A child that registers 4 pages of its own and exits (or waits for a kill). */
static pid_t child(bool wait)
{
	pid_t pid = fork();

	if (pid == 0) {
		char *m = mmap(NULL, 4 * psize, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (m == MAP_FAILED)
			_exit(2);
		memset(m, 0x5c, 4 * psize);
		if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, 4 * psize))
			_exit(3);
		if (wait)
			for (;;)
				pause();
		_exit(0);
	}
	return pid;
}

static void exit_test(const char *mode)
{
	struct ksmmod_stats s, before;
	int status;
	pid_t pid;

	before = ksmt_stats(fd);
	pid = child(true);
	KSMT_WAIT_STATS(fd, s, s.mm_slots == before.mm_slots + 1);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	KSMT_WAIT_STATS(fd, s, s.mm_slots == before.mm_slots);
	ktap_test_result(s.mm_slots == before.mm_slots && s.full_scans == before.full_scans,
			 "%s: an exiting registered process is forgotten with no scan (slots %llu)",
			 mode, (unsigned long long)s.mm_slots);
}

/*
 * Without drop-in mode the mmu_notifier's release() is the only news of an
 * exit: a process killed while it registers must not leave a slot without
 * one (mm_take_all_locks() gives up on a fatal signal). Kill each child as
 * soon as its slot shows, many times.
 */
static void kill_race_test(const char *mode, int rounds)
{
	struct ksmmod_stats s, before = ksmt_stats(fd);
	int status, i;

	for (i = 0; i < rounds; i++) {
		pid_t pid = child(true);

		KSMT_WAIT_STATS(fd, s, s.mm_slots == before.mm_slots + 1);
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		KSMT_WAIT_STATS(fd, s, s.mm_slots == before.mm_slots);
		if (s.mm_slots != before.mm_slots)
			break;
	}
	ktap_test_result(i == rounds && s.full_scans == before.full_scans,
			 "%s: %d processes killed as soon as they registered: each forgotten with no scan (slots %llu after %d)",
			 mode, rounds, (unsigned long long)s.mm_slots, i);
}

int main(void)
{
	struct ksmmod_stats s, before;
	int status, fails = 0;
	char *m;

	ktap_print_header(7);
	ksmt_ensure_loaded();
	fd = ksmt_open();
	psize = sysconf(_SC_PAGESIZE);

	m = mmap(NULL, NPAGES * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	madvise(m, NPAGES * psize, MADV_NOHUGEPAGE);
	memset(m, 0x5b, NPAGES * psize);
	if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, NPAGES * psize))
		ktap_exit_fail_msg("MERGE_RANGE failed");
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	ksmt_settle(fd, 3);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	before = ksmt_stats(fd);
	ktap_test_result(before.rmap_items == NPAGES && before.pages_sharing == NPAGES - 1,
			 "merged: items %llu sharing %llu", (unsigned long long)before.rmap_items,
			 (unsigned long long)before.pages_sharing);

	/* munmap half: items and sharing drop at once. */
	munmap(m + NPAGES / 2 * psize, NPAGES / 2 * psize);
	KSMT_WAIT_STATS(fd, s, s.rmap_items == NPAGES / 2);
	ktap_test_result(s.rmap_items == NPAGES / 2 && s.pages_sharing == NPAGES / 2 - 1 &&
			 s.pages_shared == 1 && s.full_scans == before.full_scans,
			 "munmap of half: items %llu, sharing %llu at once (full_scans unchanged)",
			 (unsigned long long)s.rmap_items, (unsigned long long)s.pages_sharing);
	ksmt_range(fd, KSMMOD_IOC_UNMERGE_RANGE, m, NPAGES / 2 * psize);
	munmap(m, NPAGES / 2 * psize);

	exit_test(ksmt_dropin() ? "drop-in mode" : "ioctl only");

	/* 1000 short-lived registered processes leave nothing behind. */
	before = ksmt_stats(fd);
	for (int i = 0; i < 1000; i++) {
		pid_t pid = child(false);

		waitpid(pid, &status, 0);
		fails += !WIFEXITED(status) || WEXITSTATUS(status);
	}
	KSMT_WAIT_STATS(fd, s, s.mm_slots == before.mm_slots && s.rmap_items == before.rmap_items);
	ktap_test_result(!fails && s.mm_slots == before.mm_slots && s.rmap_items == before.rmap_items,
			 "1000 short-lived processes: slots %llu items %llu as before (%d failed)",
			 (unsigned long long)s.mm_slots, (unsigned long long)s.rmap_items, fails);

	/* The same without drop-in mode: the mmu_notifier's release() does it. */
	close(fd);
	if (ksmt_unload() || ksmt_load("dropin=0"))
		ktap_exit_fail_msg("cannot reload with dropin=0");
	fd = ksmt_open();
	exit_test("dropin=0");
	kill_race_test("dropin=0", 40);
	close(fd);
	if (ksmt_unload() || ksmt_load(NULL))
		ktap_exit_fail_msg("cannot reload");
	fd = ksmt_open();
	s = ksmt_stats(fd);
	ktap_test_result(s.mm_slots == 0 && s.rmap_items == 0, "reloaded: nothing registered");
	return ktap_finished();
}
