// SPDX-License-Identifier: GPL-2.0
/*
 * Merged pages through the life of a process: fork (both sides read the
 * right data, writes stay private), MADV_DONTNEED, munmap, mprotect
 * (PROT_NONE), a page that changes every scan (volatile), and a page pinned
 * by vmsplice (not merged while pinned).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>

#include "ksmtest.h"

#define NPAGES	32

static int fd;
static long psize;

static char *map_filled(int npages, int byte)
{
	char *m = ksmt_map_filled(npages, byte);

	if (!m)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, npages * psize))
		ktap_exit_fail_msg("MERGE_RANGE failed");
	return m;
}

static void unregister(char *m, int npages)
{
	ksmt_range(fd, KSMMOD_IOC_UNMERGE_RANGE, m, npages * psize);
}

int main(void)
{
	struct ksmmod_stats s;
	int status, p[2];
	char *m, *v, *pin;
	struct iovec iov;
	pid_t pid;

	ktap_print_header(13);
	ksmt_ensure_loaded();
	fd = ksmt_open();
	psize = sysconf(_SC_PAGESIZE);
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);

	m = map_filled(NPAGES, 0x5a);
	s = ksmt_settle(fd, 3);
	ktap_test_result(s.pages_shared == 1 && s.pages_sharing == NPAGES - 1,
			 "%d identical pages merged (shared %llu sharing %llu)", NPAGES,
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing);

	/* fork: the child sees the data, its writes stay private, and ours too. */
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int ok = ksmt_bytes_ok(m, NPAGES * psize, 0x5a);

		m[3 * psize] = 0x01;
		ok = ok && m[3 * psize] == 0x01 && m[4 * psize] == 0x5a;
		_exit(ok ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	ktap_test_result(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			 "fork: the child reads the merged data and its write stays private");
	ktap_test_result(ksmt_bytes_ok(m, NPAGES * psize, 0x5a), "fork: the parent's data is untouched");
	m[7 * psize] = 0x02;
	ktap_test_result(m[7 * psize] == 0x02 && m[7 * psize + 1] == 0x5a && m[8 * psize] == 0x5a &&
			 ksmt_pfn_of(m + 7 * psize) != ksmt_pfn_of(m + 8 * psize),
			 "parent write after fork: private copy");

	/* MADV_DONTNEED drops a merged mapping: the page reads as zeros. */
	madvise(m + 10 * psize, psize, MADV_DONTNEED);
	ktap_test_result(ksmt_bytes_ok(m + 10 * psize, psize, 0) && m[11 * psize] == 0x5a,
			 "MADV_DONTNEED on a merged page: zeros there, neighbours intact");
	/* mprotect(PROT_NONE) and back. */
	mprotect(m + 12 * psize, 2 * psize, PROT_NONE);
	s = ksmt_settle(fd, 2);
	mprotect(m + 12 * psize, 2 * psize, PROT_READ | PROT_WRITE);
	ktap_test_result(ksmt_bytes_ok(m + 12 * psize, 2 * psize, 0x5a),
			 "mprotect(PROT_NONE) and back: merged data intact");
	/* munmap part of the merged range. */
	munmap(m + 20 * psize, 4 * psize);
	s = ksmt_settle(fd, 3);
	/* 31 extra mappings - page 7 (CoW) - page 10 (DONTNEED) - 4 unmapped = 25 */
	ktap_test_result(s.pages_shared == 1 && s.pages_sharing == NPAGES - 7 &&
			 ksmt_bytes_ok(m + 24 * psize, 8 * psize, 0x5a),
			 "after CoW, DONTNEED and munmap: sharing %llu (want %d), data intact",
			 (unsigned long long)s.pages_sharing, NPAGES - 7);
	unregister(m, 20);
	unregister(m + 24 * psize, 8);

	/*
	 * A page rewritten all the time never gets into a tree: volatile.
	 * 100 ms between batches, so that every interval between two visits
	 * of the page has writes in it even if this process is off the CPU
	 * for a few milliseconds (2 vCPUs, a debug kernel's own threads).
	 */
	/*
	 * The two pages differ before the scanner sees them: else it may
	 * merge them before the first write (a KSM page left mapped once:
	 * "shared 1", seen on PREEMPT_RT).
	 */
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	v = map_filled(2, 0x66);
	*(volatile unsigned int *)v = 1;
	{
		struct ksmmod_params p = { .sleep_millisecs = 100 };
		uint64_t end;
		unsigned int n = 1;

		ksmt_set_run(fd, KSMMOD_RUN_MERGE);
		ksmt_set_params(fd, &p, KSMMOD_PARAM_SLEEP_MILLISECS);
		end = ksmt_stats(fd).full_scans + 4;
		while (ksmt_stats(fd).full_scans < end)
			for (int i = 0; i < 1000; i++)
				*(volatile unsigned int *)v = ++n;
		s = ksmt_stats(fd);
		ksmt_set_run(fd, KSMMOD_RUN_MERGE);	/* sleep_millisecs 5 again */
	}
	ktap_test_result(s.pages_volatile >= 1 && s.pages_shared == 0,
			 "a page rewritten during every scan is volatile (volatile %llu, shared %llu)",
			 (unsigned long long)s.pages_volatile, (unsigned long long)s.pages_shared);
	unregister(v, 2);

	/*
	 * A page pinned by vmsplice is not merged while pinned. The scanner
	 * is stopped until the pin is taken: with four pages, two full scans
	 * could otherwise merge them all before vmsplice() runs.
	 */
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	pin = map_filled(4, 0x77);
	if (pipe(p))
		ktap_exit_fail_msg("pipe");
	iov.iov_base = pin;
	iov.iov_len = psize;
	if (vmsplice(p[1], &iov, 1, 0) != psize)
		ktap_exit_fail_msg("vmsplice: %s", strerror(errno));
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	s = ksmt_settle(fd, 3);
	ktap_print_msg("pinned: shared %llu sharing %llu unshared %llu volatile %llu items %llu pfns %#llx %#llx %#llx %#llx",
		       (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing,
		       (unsigned long long)s.pages_unshared, (unsigned long long)s.pages_volatile,
		       (unsigned long long)s.rmap_items, (unsigned long long)ksmt_pfn_of(pin),
		       (unsigned long long)ksmt_pfn_of(pin + psize), (unsigned long long)ksmt_pfn_of(pin + 2 * psize),
		       (unsigned long long)ksmt_pfn_of(pin + 3 * psize));
	ktap_test_result(s.pages_shared == 1 && s.pages_sharing == 2 &&
			 ksmt_pfn_of(pin) != ksmt_pfn_of(pin + psize) && ksmt_pfn_of(pin + psize) == ksmt_pfn_of(pin + 3 * psize),
			 "vmsplice-pinned page left alone, the 3 others merged (shared %llu sharing %llu)",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing);
	{
		char buf[4096];
		ssize_t n = read(p[0], buf, sizeof(buf));

		ktap_test_result(n == psize && ksmt_bytes_ok(buf, psize, 0x77),
				 "the pipe still delivers the pinned page's bytes");
	}
	close(p[0]);
	close(p[1]);
	s = ksmt_settle(fd, 3);
	ktap_test_result(s.pages_shared == 1 && s.pages_sharing == 3,
			 "once unpinned it merges too (sharing %llu)", (unsigned long long)s.pages_sharing);
	pin[0] = 0x01;
	ktap_test_result(pin[0] == 0x01 && ksmt_bytes_ok(pin + 1, 4 * psize - 1, 0x77),
			 "write after merge: private copy, other bytes intact");
	unregister(pin, 4);
	s = ksmt_stats(fd);
	ktap_test_result(s.pages_shared == 0 && s.pages_sharing == 0 && s.rmap_items == 0,
			 "everything unregistered: counters back to zero (items %llu)",
			 (unsigned long long)s.rmap_items);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	close(fd);
	return ktap_finished();
}
