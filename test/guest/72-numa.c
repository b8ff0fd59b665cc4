// SPDX-License-Identifier: GPL-2.0
/*
 * merge_across_nodes=0: one stable and one unstable tree per NUMA node.
 *
 * Identical pages on two nodes merge into one KSM page per node (exact
 * counters, PFNs on the right node), never across nodes; the tunable cannot
 * change while pages are merged (EBUSY). When the kernel migrates one node's
 * KSM page to the other node, its stable node is parked and, at the next
 * scans, its mappings are merged into the other node's KSM page with the
 * same contents: one KSM page left, every byte intact. With
 * merge_across_nodes=1, the same pages merge into a single KSM page.
 */
#include <stdint.h>
#include <sys/mman.h>

#include "ksmtest.h"

#define HALF	32	/* pages per node */

static long psize;

/* move_pages() of @n pages to @node, or (@node < 0) query their nodes. */
static long move_pages_to(char *m, int n, int node, int *status)
{
	void *pages[2 * HALF];
	int nodes[2 * HALF];

	for (int i = 0; i < n; i++) {
		pages[i] = m + i * psize;
		nodes[i] = node;
	}
	return syscall(SYS_move_pages, 0, (unsigned long)n, pages, node < 0 ? NULL : nodes,
		       status, MPOL_MF_MOVE_ALL);
}

/* All @n pages at @m on node @node and with PFN @pfn (0: any one PFN). */
static bool pages_on(char *m, int n, int node, uint64_t *pfn)
{
	int status[2 * HALF];

	if (move_pages_to(m, n, -1, status))
		return false;
	if (!*pfn)
		*pfn = ksmt_pfn_of(m);
	for (int i = 0; i < n; i++)
		if (status[i] != node || ksmt_pfn_of(m + i * psize) != *pfn)
			return false;
	return *pfn != 0;
}

static int set_across(int fd, unsigned int v)
{
	struct ksmmod_params p;

	memset(&p, 0, sizeof(p));
	p.merge_across_nodes = v;
	return ksmt_set_params(fd, &p, KSMMOD_PARAM_MERGE_ACROSS_NODES);
}

int main(void)
{
	uint64_t pfn0 = 0, pfn1 = 0, pfn = 0;
	int fd, status[2 * HALF], err;
	struct ksmmod_params p;
	struct ksmmod_stats s;
	char *m;

	ktap_print_header(10);
	if (access("/sys/devices/system/node/node1", F_OK)) {
		for (int i = 0; i < 10; i++)
			ktap_test_skip("merge_across_nodes", "guest has a single NUMA node");
		return ktap_finished();
	}
	ksmt_ensure_loaded();
	fd = ksmt_open();
	psize = sysconf(_SC_PAGESIZE);
	ksmt_set_run(fd, KSMMOD_RUN_UNMERGE);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	err = set_across(fd, 0);
	ktap_test_result(!err && !ksmt_get_params(fd, &p) && p.merge_across_nodes == 0,
			 "merge_across_nodes=0 accepted with nothing merged (%d)", err);

	m = mmap(NULL, 2 * HALF * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	madvise(m, 2 * HALF * psize, MADV_NOHUGEPAGE);
	memset(m, 0x6e, 2 * HALF * psize);
	if (move_pages_to(m, HALF, 0, status) || move_pages_to(m + HALF * psize, HALF, 1, status))
		ktap_exit_fail_msg("move_pages: %s", strerror(errno));
	if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, 2 * HALF * psize))
		ktap_exit_fail_msg("MERGE_RANGE failed");
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	ksmt_settle(fd, 3);
	s = ksmt_settle(fd, 1);
	ktap_test_result(s.pages_shared == 2 && s.pages_sharing == 2 * HALF - 2,
			 "one KSM page per node: shared %llu (2), sharing %llu (%d)",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing,
			 2 * HALF - 2);
	ktap_test_result(pages_on(m, HALF, 0, &pfn0) && pages_on(m + HALF * psize, HALF, 1, &pfn1) &&
			 pfn0 != pfn1,
			 "node 0's pages share a node-0 PFN, node 1's a node-1 PFN");
	err = set_across(fd, 1);
	ktap_test_result(err == -EBUSY && !ksmt_get_params(fd, &p) && p.merge_across_nodes == 0,
			 "changing merge_across_nodes while merged: EBUSY, unchanged (%d)", err);

	/* Migrate node 0's KSM page to node 1: its node is now in the wrong tree. */
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	err = (int)move_pages_to(m, 1, 1, status);
	pfn = 0;
	ktap_test_result(!err && status[0] == 1 && pages_on(m, HALF, 1, &pfn) && pfn != pfn0,
			 "move_pages moved node 0's KSM page (all %d mappings) to node 1", HALF);
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	ksmt_settle(fd, 3);
	s = ksmt_settle(fd, 1);
	pfn = 0;
	ktap_test_result(s.pages_shared == 1 && s.pages_sharing == 2 * HALF - 1 &&
			 pages_on(m, 2 * HALF, 1, &pfn),
			 "the moved page's mappings joined node 1's KSM page: shared %llu sharing %llu",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing);
	ktap_test_result(ksmt_bytes_ok(m, 2 * HALF * psize, 0x6e), "every byte intact");

	/* Back to one tree for all nodes. */
	ksmt_set_run(fd, KSMMOD_RUN_UNMERGE);
	s = ksmt_stats(fd);
	ktap_test_result(s.pages_shared == 0 && s.pages_sharing == 0 && !set_across(fd, 1),
			 "run=2 unmerged all; merge_across_nodes=1 accepted again");
	if (move_pages_to(m, HALF, 0, status) || move_pages_to(m + HALF * psize, HALF, 1, status))
		ktap_exit_fail_msg("move_pages: %s", strerror(errno));
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	ksmt_settle(fd, 3);
	s = ksmt_settle(fd, 1);
	pfn = 0;
	ktap_test_result(s.pages_shared == 1 && s.pages_sharing == 2 * HALF - 1,
			 "merge_across_nodes=1: one KSM page for both nodes (shared %llu sharing %llu)",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing);
	ktap_test_result(ksmt_bytes_ok(m, 2 * HALF * psize, 0x6e), "every byte intact");

	ksmt_set_run(fd, KSMMOD_RUN_UNMERGE);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	ksmt_range(fd, KSMMOD_IOC_UNMERGE_RANGE, m, 2 * HALF * psize);
	munmap(m, 2 * HALF * psize);
	return ktap_finished();
}
