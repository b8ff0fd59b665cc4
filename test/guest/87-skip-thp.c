// SPDX-License-Identifier: GPL-2.0
/*
 * Smart scan skipping the pages of a huge page (PMD-mapped THP).
 *
 * The scanner looks at a PMD-mapped THP one address at a time, outside its
 * batches, with the process's mmap_lock held. A THP of distinct pages never
 * merges, so from its pages' fifth look on smart scan skips them; a skipped
 * page must release that lock like any other. Left held, every skip took the
 * lock once more and the process's next mmap write (munmap here, or its
 * exit) waited for ever. Checked: the huge page is there, smart scan skipped
 * its pages, and munmap from another thread returns.
 */
#define _GNU_SOURCE	/* pthread_timedjoin_np() */
#include <pthread.h>
#include <stdint.h>
#include <sys/mman.h>
#include <time.h>

#include "ksmtest.h"

/* AnonHugePages of this process, in kB (-1 if unknown). */
static long anon_huge_kb(void)
{
	char buf[65536];
	char *p;

	if (ksmt_read_file("/proc/self/smaps_rollup", buf, sizeof(buf)) <= 0)
		return -1;
	p = strstr(buf, "AnonHugePages:");
	return p ? atol(p + strlen("AnonHugePages:")) : -1;
}

static char *mem;
static int go[2];

/*
 * Started before the scanning (its stack is an mmap, which would wait for
 * the lock too): waits for the word, then unmaps the huge page.
 */
static void *unmapper(void *unused)
{
	char c;

	(void)unused;
	if (read(go[0], &c, 1) == 1)
		munmap(mem, KSMT_HPAGE);
	return NULL;
}

int main(void)
{
	long psize = sysconf(_SC_PAGESIZE);
	struct ksmmod_stats s0, s;
	struct ksmmod_params p;
	struct timespec until;
	pthread_t t;
	long huge;
	int fd, i;

	ktap_print_header(3);
	ksmt_ensure_loaded();
	if (access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK)) {
		for (i = 0; i < 3; i++)
			ktap_test_skip("smart scan of a huge page", "kernel without transparent huge pages");
		return ktap_finished();
	}
	fd = ksmt_open();
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	mem = ksmt_map_thp(0);
	for (i = 0; i < (int)(KSMT_HPAGE / psize); i++)
		*(uint64_t *)(mem + (long)i * psize) = 0x1000 + i;	/* all distinct */
	huge = anon_huge_kb();
	if (huge < 2048) {
		for (i = 0; i < 3; i++)
			ktap_test_skip("smart scan of a huge page",
				       "the kernel gave no huge page (AnonHugePages < 2 MiB)");
		return ktap_finished();
	}
	ktap_test_result(true, "a huge page is mapped (AnonHugePages %ld kB)", huge);
	if (pipe(go) || pthread_create(&t, NULL, unmapper, NULL))
		ktap_exit_fail_msg("pipe or pthread_create failed");
	if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, mem, KSMT_HPAGE))
		ktap_exit_fail_msg("MERGE_RANGE: %s", strerror(errno));

	/* Smart scan on (the tests' helper turns it off while merging). */
	memset(&p, 0, sizeof(p));
	p.run = KSMMOD_RUN_MERGE;
	p.pages_to_scan = 4096;
	p.sleep_millisecs = 20;
	p.smart_scan = 1;
	s0 = ksmt_stats(fd);
	if (ksmt_set_params(fd, &p, KSMMOD_PARAM_RUN | KSMMOD_PARAM_PAGES_TO_SCAN |
			    KSMMOD_PARAM_SLEEP_MILLISECS | KSMMOD_PARAM_SMART_SCAN))
		ktap_exit_fail_msg("SET_PARAMS: %s", strerror(errno));
	s = ksmt_stats(fd);
	for (i = 0; i < 3000 && s.full_scans < s0.full_scans + 8; i++) {
		usleep(20000);
		s = ksmt_stats(fd);
	}
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	s = ksmt_stats(fd);
	ktap_test_result(s.pages_skipped > s0.pages_skipped && anon_huge_kb() >= 2048,
			 "%llu full scans, %llu pages skipped, still a huge page",
			 (unsigned long long)(s.full_scans - s0.full_scans),
			 (unsigned long long)(s.pages_skipped - s0.pages_skipped));

	/* munmap takes the mmap_lock for writing: it must not wait for ever. */
	if (write(go[1], "x", 1) != 1)
		ktap_exit_fail_msg("write to the pipe: %s", strerror(errno));
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += 30;
	i = pthread_timedjoin_np(t, NULL, &until);
	ktap_test_result(i == 0, "munmap of the huge page returned%s",
			 i ? " NOT within 30 s: the mmap_lock was left held" : "");
	/* Otherwise the process cannot exit either: the harness times out. */
	fflush(stdout);
	close(fd);
	return ktap_finished();
}
