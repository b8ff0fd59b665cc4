// SPDX-License-Identifier: GPL-2.0
/*
 * Hole-skipping scans: scanning follows populated pages, not address space.
 *
 * A 4 TiB MAP_NORESERVE mapping with NT pages touched (one every 2 GiB,
 * pairs of equal contents) is registered. The scanner skips the unpopulated
 * upper levels of the page tables a PUD (1 GiB) or PMD (2 MiB) at a time
 * and holes cost no part of pages_to_scan (mm/ksm.c walked such holes page
 * by page until 6.16, and a 32 TiB one kept ksmd busy for an hour): exactly
 * NT pages are looked at per full scan, full scans keep completing (4
 * within the wait of 60 s; their speed against a dense mapping is make
 * bench's), each in one scanner batch when pages_to_scan covers the touched
 * pages (debugfs scanner: batches), and the pairs merge.
 */
#include <stdint.h>
#include <sys/mman.h>

#include "ksmtest.h"

#define SPAN	(4ULL << 40)	/* 4 TiB */
#define STEP	(2ULL << 30)	/* one page every 2 GiB */
#define NT	((int)(SPAN / STEP))

/* The scanner's batches so far (debugfs), -1 if unreadable. */
static long long batches(void)
{
	char buf[64];
	long long n;

	if (ksmt_read_file("/sys/kernel/debug/ksmmod/scanner", buf, sizeof(buf)) <= 0 ||
	    sscanf(buf, "batches %lld", &n) != 1)
		return -1;
	return n;
}

int main(void)
{
	long psize = sysconf(_SC_PAGESIZE);
	struct ksmmod_stats s0, s;
	struct ksmmod_params p;
	struct timespec t0, t1;
	bool merged = true;
	char *m;
	int fd;

	long long b0, b;

	ktap_print_header(3);
	ksmt_ensure_loaded();
	fd = ksmt_open();
	m = mmap(NULL, SPAN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	if (m == MAP_FAILED)
		ktap_exit_fail_msg("mmap of 4 TiB: %s", strerror(errno));
	madvise(m, SPAN, MADV_NOHUGEPAGE);
	for (int i = 0; i < NT; i++) {
		memset(m + (uint64_t)i * STEP, 0x5a, psize);
		*(uint64_t *)(m + (uint64_t)i * STEP) = 1 + i / 2;	/* pair i / 2 */
	}

	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, SPAN))
		ktap_exit_fail_msg("MERGE_RANGE of 4 TiB: %s", strerror(errno));
	/* One batch per full scan (a batch ends with its scan), 50 ms apart. */
	memset(&p, 0, sizeof(p));
	p.run = KSMMOD_RUN_MERGE;
	p.pages_to_scan = 4 * NT;
	p.sleep_millisecs = 50;
	p.smart_scan = 0;
	s0 = ksmt_stats(fd);
	b0 = batches();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (ksmt_set_params(fd, &p, KSMMOD_PARAM_RUN | KSMMOD_PARAM_PAGES_TO_SCAN |
			    KSMMOD_PARAM_SLEEP_MILLISECS | KSMMOD_PARAM_SMART_SCAN))
		ktap_exit_fail_msg("SET_PARAMS: %s", strerror(errno));
	s = ksmt_stats(fd);
	for (int i = 0; i < 6000 && s.full_scans < s0.full_scans + 4; i++) {
		usleep(10000);
		s = ksmt_stats(fd);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	s = ksmt_stats(fd);
	b = batches();
	ktap_print_msg("4 full scans took %ld ms", (long)((t1.tv_sec - t0.tv_sec) * 1000 +
							 (t1.tv_nsec - t0.tv_nsec) / 1000000));
	ktap_test_result(s.full_scans - s0.full_scans >= 4 &&
			 s.pages_scanned - s0.pages_scanned == (s.full_scans - s0.full_scans) * NT,
			 "%llu full scans of 4 TiB looked at exactly %d pages each (%llu in all)",
			 (unsigned long long)(s.full_scans - s0.full_scans), NT,
			 (unsigned long long)(s.pages_scanned - s0.pages_scanned));
	/*
	 * A batch ends with its full scan, so at most one more than the scans
	 * (the one run=0 cut short); a walk of the holes' 2 million page table
	 * slots that took budget would need hundreds.
	 */
	ktap_test_result(b0 >= 0 && b - b0 >= 4 && b - b0 <= (long long)(s.full_scans -
									   s0.full_scans) + 1,
			 "%lld scanner batches for %llu full scans of 4 TiB (pages_to_scan %d)",
			 b - b0, (unsigned long long)(s.full_scans - s0.full_scans), 4 * NT);
	for (int i = 0; i < NT; i += 2)
		merged &= ksmt_pfn_of(m + (uint64_t)i * STEP) == ksmt_pfn_of(m + (uint64_t)(i + 1) * STEP);
	ktap_test_result(merged && s.pages_sharing - s0.pages_sharing == NT / 2,
			 "the %d pairs merged (sharing +%lld)", NT / 2,
			 (long long)(s.pages_sharing - s0.pages_sharing));

	/*
	 * munmap, not UNMERGE_RANGE: that ends with the kernel's own
	 * madvise(MADV_UNMERGEABLE), whose unmerge on 6.1 and 6.12 visits
	 * every address of the 4 TiB (minutes under QEMU; 7.3's skips holes).
	 */
	munmap(m, SPAN);
	memset(&p, 0, sizeof(p));
	p.pages_to_scan = 100;
	p.sleep_millisecs = 20;
	p.smart_scan = 1;
	ksmt_set_params(fd, &p, KSMMOD_PARAM_PAGES_TO_SCAN | KSMMOD_PARAM_SLEEP_MILLISECS |
			KSMMOD_PARAM_SMART_SCAN);
	close(fd);
	return ktap_finished();
}
