// SPDX-License-Identifier: GPL-2.0
/*
 * Migration and compaction of merged pages: move_pages() moves a KSM page to
 * the other NUMA node (the kernel unmaps every mapping through our stable
 * node and rewrites the node's kpfn), and every mapping follows it with its
 * bytes; the node stays usable (a later write gets a private copy, unmerge
 * works); compaction while merged leaves everything intact.
 */
#include <stdint.h>
#include <sys/mman.h>

#include "ksmtest.h"

#define NPAGES	32
static bool all_same_pfn(char *m, long psize, uint64_t *pfn)
{
	*pfn = ksmt_pfn_of(m);
	for (int i = 1; i < NPAGES; i++)
		if (ksmt_pfn_of(m + i * psize) != *pfn)
			return false;
	return *pfn != 0;
}

int main(void)
{
	long psize = sysconf(_SC_PAGESIZE);
	uint64_t before = 0, after = 0;
	bool same;
	struct ksmmod_stats s;
	int fd, status = -1, target, err;
	long ret;
	char *m;

	ktap_print_header(8);
	if (access("/sys/devices/system/node/node1", F_OK)) {
		for (int i = 0; i < 8; i++)
			ktap_test_skip("migration of merged pages", "guest has a single NUMA node");
		return ktap_finished();
	}
	ksmt_ensure_loaded();
	fd = ksmt_open();
	m = mmap(NULL, NPAGES * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	madvise(m, NPAGES * psize, MADV_NOHUGEPAGE);
	memset(m, 0x4d, NPAGES * psize);
	err = ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, NPAGES * psize);
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	s = ksmt_settle(fd, 3);
	same = all_same_pfn(m, psize, &before);
	ktap_test_result(!err && s.pages_shared == 1 && s.pages_sharing == NPAGES - 1 && same,
			 "merged: one PFN for all %d pages", NPAGES);

	/*
	 * Where is it now? Move it to the other node, with the scanner
	 * stopped: a reference it holds for a moment makes migration fail
	 * (transiently), as with the kernel's ksmd.
	 */
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	ksmt_move_page(m, -1, &status);
	ktap_print_msg("the KSM page is on node %d", status);
	target = status == 0 ? 1 : 0;
	ret = ksmt_move_page(m, target, &status);
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	ktap_test_result(ret == 0 && status == target, "move_pages moved the KSM page to node %d (ret %ld status %d)",
			 target, ret, status);
	same = all_same_pfn(m, psize, &after);
	ktap_test_result(same && after != before,
			 "every mapping follows it: one new PFN (%#llx -> %#llx)",
			 (unsigned long long)before, (unsigned long long)after);
	ktap_test_result(ksmt_bytes_ok(m, NPAGES * psize, 0x4d), "every byte intact after migration");
	s = ksmt_settle(fd, 3);
	ktap_test_result(s.pages_shared == 1 && s.pages_sharing == NPAGES - 1,
			 "the stable node still finds its page (shared %llu sharing %llu)",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing);

	/* Compaction while merged. */
	{
		int c = open("/proc/sys/vm/compact_memory", O_WRONLY);

		if (c < 0 || write(c, "1", 1) != 1)
			ktap_print_msg("compact_memory: %s", strerror(errno));
		if (c >= 0)
			close(c);
	}
	s = ksmt_settle(fd, 2);
	same = all_same_pfn(m, psize, &after);
	ktap_test_result(ksmt_bytes_ok(m, NPAGES * psize, 0x4d) && same &&
			 s.pages_shared == 1 && s.pages_sharing == NPAGES - 1,
			 "after compact_memory: still merged, bytes intact");

	m[3 * psize] = 0x01;
	ktap_test_result(m[3 * psize] == 0x01 && ksmt_bytes_ok(m + 4 * psize, psize, 0x4d) &&
			 ksmt_pfn_of(m + 3 * psize) != ksmt_pfn_of(m),
			 "write after migration: private copy");
	err = ksmt_range(fd, KSMMOD_IOC_UNMERGE_RANGE, m, NPAGES * psize);
	s = ksmt_stats(fd);
	ktap_test_result(!err && s.pages_shared == 0 && s.pages_sharing == 0 &&
			 ksmt_bytes_ok(m + 4 * psize, (NPAGES - 4) * psize, 0x4d),
			 "unmerge after migration: counters zero, bytes intact");
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	close(fd);
	return ktap_finished();
}
