// SPDX-License-Identifier: GPL-2.0
/*
 * A PTE-mapped transparent huge page (its PMD split by an mprotect() of one
 * subpage, the huge page itself still whole): its 512 identical subpages
 * merge into one KSM page. The scanner looks pages up a page table at a
 * time, with a reference on each; the huge page can be split (which a merge
 * of a subpage needs) only while the scanner holds no more than one
 * reference on it.
 */
#include <stdint.h>
#include <sys/mman.h>

#include "ksmtest.h"

#define HPAGE	KSMT_HPAGE
/* Whether @pfn is part of a large folio (-1 if /proc/kpageflags is unreadable). */
static int pfn_compound(uint64_t pfn)
{
	uint64_t flags;

	if (ksmt_kpageflags(pfn, &flags))
		return -1;
	return !!(flags & ((1ULL << KPF_COMPOUND_HEAD) | (1ULL << KPF_COMPOUND_TAIL)));
}

int main(void)
{
	long psize = sysconf(_SC_PAGESIZE);
	struct ksmmod_params mps;
	struct ksmmod_stats s;
	bool same = true, intact = true;
	char *mem;
	int fd, err;

	ktap_print_header(4);
	if (access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK)) {
		for (int i = 0; i < 4; i++)
			ktap_test_skip("PTE-mapped THP merge", "kernel without transparent huge pages");
		return ktap_finished();
	}
	ksmt_ensure_loaded();
	fd = ksmt_open();
	mem = ksmt_map_thp(0x5c);
	/* Split the PMD mapping, not the huge page: mprotect() one subpage. */
	if (mprotect(mem + 7 * psize, psize, PROT_READ) ||
	    mprotect(mem + 7 * psize, psize, PROT_READ | PROT_WRITE))
		ktap_exit_fail_msg("mprotect: %s", strerror(errno));
	if (pfn_compound(ksmt_pfn_of(mem)) != 1 || pfn_compound(ksmt_pfn_of(mem + HPAGE - psize)) != 1) {
		for (int i = 0; i < 4; i++)
			ktap_test_skip("PTE-mapped THP merge", "no PTE-mapped huge page (none given, or split)");
		return ktap_finished();
	}

	memset(&mps, 0, sizeof(mps));
	mps.max_page_sharing = 1024;
	err = ksmt_set_params(fd, &mps, KSMMOD_PARAM_MAX_PAGE_SHARING);
	if (!err)
		err = ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, mem, HPAGE);
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	s = ksmt_settle(fd, 6);
	ktap_test_result(!err && s.pages_shared == 1 && s.pages_sharing == 511,
			 "a PTE-mapped huge page of identical subpages: shared %llu sharing %llu (want 1 511)",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing);
	for (unsigned long off = psize; off < HPAGE; off += psize)
		if (ksmt_pfn_of(mem + off) != ksmt_pfn_of(mem))
			same = false;
	ktap_test_result(same && ksmt_pfn_of(mem), "pagemap: all 512 subpages map one PFN");
	ktap_test_result(pfn_compound(ksmt_pfn_of(mem)) == 0, "the merged page is an order-0 page");
	for (unsigned long i = 0; i < HPAGE; i++)
		if (mem[i] != 0x5c)
			intact = false;
	ktap_test_result(intact, "every byte intact");
	ksmt_range(fd, KSMMOD_IOC_UNMERGE_RANGE, mem, HPAGE);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	mps.max_page_sharing = 256;
	if (ksmt_set_params(fd, &mps, KSMMOD_PARAM_MAX_PAGE_SHARING))
		ktap_print_msg("could not restore max_page_sharing=256: %s", strerror(errno));
	close(fd);
	return ktap_finished();
}
