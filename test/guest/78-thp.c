// SPDX-License-Identifier: GPL-2.0
/*
 * Transparent huge pages: a huge page whose 512 subpages are identical is
 * split when its subpages are merged (not before), and ends up as one
 * KSM page mapped 512 times, every byte intact.
 */
#include <stdint.h>
#include <sys/mman.h>

#include "ksmtest.h"

#define HPAGE	KSMT_HPAGE

/* AnonHugePages of this process, in kB (-1 if unknown). */
static long anon_huge_kb(void)
{
	static char buf[8192];
	char *p;

	if (ksmt_read_file("/proc/self/smaps_rollup", buf, sizeof(buf)) <= 0)
		return -1;
	p = strstr(buf, "AnonHugePages:");
	return p ? atol(p + strlen("AnonHugePages:")) : -1;
}

int main(void)
{
	long psize = sysconf(_SC_PAGESIZE), before, after;
	struct ksmmod_range r;
	struct ksmmod_stats s;
	struct ksmmod_params mps;
	bool same = true, intact = true;
	char *mem;
	int fd, err;

	ktap_print_header(4);
	if (access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK)) {
		for (int i = 0; i < 4; i++)
			ktap_test_skip("THP split and merge", "kernel without transparent huge pages");
		return ktap_finished();
	}
	ksmt_ensure_loaded();
	fd = ksmt_open();
	mem = ksmt_map_thp(0x3c);
	before = anon_huge_kb();
	if (before < 2048) {
		for (int i = 0; i < 4; i++)
			ktap_test_skip("THP split and merge", "the kernel gave no huge page (AnonHugePages < 2 MiB)");
		return ktap_finished();
	}
	ktap_print_msg("AnonHugePages before: %ld kB", before);

	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.start = (uintptr_t)mem;
	r.length = HPAGE;
	/* Room for all 512 mappings on one page (no chains yet). */
	memset(&mps, 0, sizeof(mps));
	mps.max_page_sharing = 1024;
	err = ksmt_set_params(fd, &mps, KSMMOD_PARAM_MAX_PAGE_SHARING);
	if (!err)
		err = ksmt_ioctl(fd, KSMMOD_IOC_MERGE_RANGE, &r);
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	s = ksmt_settle(fd, 5);
	ktap_test_result(!err && s.pages_shared == 1 && s.pages_sharing == 511,
			 "a huge page of identical subpages: shared %llu sharing %llu (want 1 511)",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing);
	after = anon_huge_kb();
	ktap_test_result(after <= before - 2048, "the huge page was split (AnonHugePages %ld -> %ld kB)",
			 before, after);
	for (unsigned long off = psize; off < HPAGE; off += psize)
		if (ksmt_pfn_of(mem + off) != ksmt_pfn_of(mem))
			same = false;
	ktap_test_result(same && ksmt_pfn_of(mem), "pagemap: all 512 subpages map one PFN");
	for (unsigned long i = 0; i < HPAGE; i++)
		if (mem[i] != 0x3c)
			intact = false;
	ktap_test_result(intact, "every byte intact");
	ksmt_ioctl(fd, KSMMOD_IOC_UNMERGE_RANGE, &r);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	mps.max_page_sharing = 256;
	if (ksmt_set_params(fd, &mps, KSMMOD_PARAM_MAX_PAGE_SHARING))
		ktap_print_msg("could not restore max_page_sharing=256: %s", strerror(errno));
	close(fd);
	return ktap_finished();
}
