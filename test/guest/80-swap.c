// SPDX-License-Identifier: GPL-2.0
/*
 * Merged pages and the kernel's own rmap users: reclaim swaps merged pages
 * out (it unmaps every mapping through our stable node, as rmap_walk_ksm()
 * reads it), reading brings back the right bytes, a write gets a private
 * copy; rmmod with merged pages swapped out, then every page read and
 * written. Swap is a zram device (its modules come from the kernel image,
 * listed in /modules.order). MADV_PAGEOUT leaves pages mapped more than once
 * alone, so reclaim is driven through a memory cgroup's memory.reclaim.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/wait.h>

#include "ksmtest.h"

#define NPAGES	64

static int fd;
static long psize;

static bool pattern_ok(char *m, int changed)
{
	for (int i = 0; i < NPAGES; i++)
		for (long b = 0; b < psize; b += 512) {
			char want = i < NPAGES / 2 ? 0x61 : 0x62;

			if (i == changed && b == 0)
				want = 0x01;
			if (m[i * psize + b] != want)
				return false;
		}
	return true;
}

int main(void)
{
	struct ksmmod_stats s;
	int err, out;
	char *m;

	ktap_print_header(8);
	if (!ksmt_swap_on() || !ksmt_own_memcg()) {
		for (int i = 0; i < 8; i++)
			ktap_test_skip("merged pages and swap",
				       "no zram swap device or no memory cgroup with memory.reclaim in this guest");
		return ktap_finished();
	}
	ksmt_ensure_loaded();
	fd = ksmt_open();
	psize = sysconf(_SC_PAGESIZE);
	m = mmap(NULL, NPAGES * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	madvise(m, NPAGES * psize, MADV_NOHUGEPAGE);
	memset(m, 0x61, NPAGES / 2 * psize);
	memset(m + NPAGES / 2 * psize, 0x62, NPAGES / 2 * psize);
	err = ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, NPAGES * psize);
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	s = ksmt_settle(fd, 3);
	ktap_test_result(!err && s.pages_shared == 2 && s.pages_sharing == NPAGES - 2,
			 "merged: shared %llu sharing %llu", (unsigned long long)s.pages_shared,
			 (unsigned long long)s.pages_sharing);

	/* Reclaim needs the rmap walk over our nodes to unmap every mapping. */
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	ksmt_reclaim(m, NPAGES);
	out = ksmt_swapped_pages(m, NPAGES);
	/*
	 * A KSM page goes to swap only once reclaim has unmapped every one of
	 * its mappings through rmap_walk_ksm() over our node: one swapped-out
	 * merged mapping proves that walk; all 64 is what 6.12 achieves.
	 */
	ktap_test_result(out > 0, "reclaim swapped out merged mappings (%d of %d)", out, NPAGES);
	ktap_test_result(pattern_ok(m, -1), "swapped back in: every page has its bytes");
	m[5 * psize] = 0x01;
	ktap_test_result(pattern_ok(m, 5) && ksmt_pfn_of(m + 5 * psize) != ksmt_pfn_of(m + 6 * psize),
			 "write after swap-in: private copy, others intact");

	/* Merge again, swap out, unload the module, then use every page. */
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	s = ksmt_settle(fd, 3);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	ktap_test_result(s.pages_shared == 2 && s.pages_sharing == NPAGES - 3,
			 "merged again (shared %llu sharing %llu)", (unsigned long long)s.pages_shared,
			 (unsigned long long)s.pages_sharing);
	ksmt_reclaim(m, NPAGES);
	out = ksmt_swapped_pages(m, NPAGES);
	close(fd);
	err = ksmt_unload();
	ktap_test_result(!err && out > 0, "rmmod with %d merged pages swapped out (%s)", out,
			 err ? strerror(-err) : "ok");
	ktap_test_result(pattern_ok(m, 5), "after rmmod: every swapped page reads back right");
	memset(m, 0x63, NPAGES * psize);
	ktap_test_result(m[0] == 0x63 && m[NPAGES * psize - 1] == 0x63 && !swapoff("/dev/zram0"),
			 "after rmmod: pages writable, swapoff succeeds");
	if (ksmt_load(NULL))
		ktap_print_msg("reloading the module failed");
	return ktap_finished();
}
