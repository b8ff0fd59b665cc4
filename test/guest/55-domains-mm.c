// SPDX-License-Identifier: GPL-2.0
/*
 * Merge domains across swap and migration: a merged page that leaves memory
 * or moves never takes a page of another domain with it, and comes back
 * merged within its own domain only.
 *
 * merge_domains=uid. Four workers hold NPAGES pages of one byte each,
 * registered by themselves (MERGE_RANGE): A and C as uid 1000, B and D as
 * uid 1001. Merged: exactly two KSM pages (shared 2, sharing 4 * NPAGES - 2,
 * nothing unshared), A's and C's pages all map one PFN, B's and D's
 * another. Proven by the PFNs each worker maps (read by the root parent from
 * /proc/PID/pagemap) and by exact counters; then:
 *
 * - Swap (a zram device and a memory cgroup's memory.reclaim, as 80-swap):
 *   every mapping of both KSM pages goes out (the pagemap swap bit on all
 *   4 * NPAGES), each worker reads its pages back in with every byte
 *   intact, and the scanner merges them again into one KSM page per
 *   domain, with the same counters. (Read back, every mapping gets a page
 *   of its own: the kernel's ksm_might_need_to_copy() copies a swapped-in
 *   page for each mapping but the one, anon_vma and index, it was read in
 *   for. The log counts the distinct pages, 64 on 6.1, 6.12 and 7.3: these
 *   scans really merge anew, and could pair the two domains if the trees
 *   let them.)
 * - Migration (move_pages() with MPOL_MF_MOVE_ALL, as 81-migrate): each KSM
 *   page moves to the other NUMA node with all of its mappings and only
 *   those (the other domain's page stays where it is); afterwards the same
 *   PFN split, counters and bytes.
 * - Migration with merge_across_nodes=0, where a moved KSM page's stable
 *   node is parked and inserted again into its new node's tree, keyed by
 *   the domain of the process the scanner finds it in: with every page on
 *   node 0 first, uid 1000's KSM page moves to node 1, then uid 1001's
 *   page with the same contents follows it there, where a lookup keyed
 *   without the domain would merge it into uid 1000's; they stay two KSM
 *   pages.
 *
 * At the end run=2 unmerges everything (bytes intact, nothing shared), the
 * tunables go back to merge_domains=none and merge_across_nodes=1, and once
 * the workers are gone nothing is tracked any more. Swap and migration are
 * skipped, with the reasons 80-swap and 81-migrate give, where the guest has
 * no zram/memory cgroup or a single NUMA node.
 */
#include "ksmtest.h"

#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/swap.h>
#include <sys/wait.h>

#define NPAGES	16
#define BYTE	0x6b
#define PLAN	15
#define ANSWER_MS	60000	/* how long a worker may take to answer */

/**
 * struct worker - a child holding NPAGES identical pages
 * @name: A, B, C or D
 * @uid: its uid
 * @pid: its pid
 * @addr: where its pages are
 * @up: reads its answers
 * @down: sends it commands ('r': read every byte of its pages back)
 */
struct worker {
	char name;
	uid_t uid;
	pid_t pid;
	uint64_t addr;
	int up, down;
};

enum { A, B, C, D, NWORKERS };

static struct worker w[NWORKERS];
static int fd;
static long psize;

/*
 * Child: become @uid, fill and register its pages, then serve commands:
 * 'r' answers the number of bytes of its pages that are not BYTE (reading
 * them faults every swapped-out page back in).
 */
static void worker_main(uid_t uid, int up, int down)
{
	uint64_t msg;
	char *m, c;

	if (setresuid(uid, uid, uid))
		_exit(3);
	m = ksmt_map_filled(NPAGES, BYTE);
	if (!m || ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, NPAGES * psize))
		_exit(4);
	msg = (uintptr_t)m;
	if (write(up, &msg, sizeof(msg)) != sizeof(msg))
		_exit(5);
	while (read(down, &c, 1) == 1) {
		if (c != 'r')
			continue;
		msg = 0;
		for (long i = 0; i < NPAGES * psize; i++)
			msg += m[i] != (char)BYTE;
		if (write(up, &msg, sizeof(msg)) != sizeof(msg))
			_exit(6);
	}
	_exit(0);
}

/**
 * answer() - the next answer of worker @x, or bail out
 * @x: the worker
 * @what: what it was asked, for the message
 *
 * Waits at most ANSWER_MS: a worker stuck (a fault that never completes)
 * or dead fails the test with a message naming it, not the harness's
 * timeout.
 *
 * Return: the 64-bit answer.
 */
static uint64_t answer(struct worker *x, const char *what)
{
	struct pollfd p = { .fd = x->up, .events = POLLIN };
	uint64_t msg;

	if (poll(&p, 1, ANSWER_MS) != 1)
		ktap_exit_fail_msg("timeout: worker %c (pid %d, uid %u) did not answer %s within %d s",
				   x->name, x->pid, x->uid, what, ANSWER_MS / 1000);
	if (read(x->up, &msg, sizeof(msg)) != sizeof(msg))
		ktap_exit_fail_msg("worker %c (pid %d, uid %u) died before answering %s", x->name,
				   x->pid, x->uid, what);
	return msg;
}

static void start(struct worker *x, char name, uid_t uid)
{
	int up[2], down[2];

	if (pipe(up) || pipe(down))
		ktap_exit_fail_msg("pipe: %s", strerror(errno));
	fflush(stdout);
	x->name = name;
	x->uid = uid;
	x->pid = fork();
	if (x->pid < 0)
		ktap_exit_fail_msg("fork: %s", strerror(errno));
	if (x->pid == 0) {
		close(up[0]);
		close(down[1]);
		worker_main(uid, up[1], down[0]);
	}
	close(up[1]);
	close(down[0]);
	x->up = up[0];
	x->down = down[1];
	x->addr = answer(x, "its start");
}

static void stop(struct worker *x)
{
	kill(x->pid, SIGKILL);
	waitpid(x->pid, NULL, 0);
	close(x->up);
	close(x->down);
}

/**
 * bad_bytes() - have every worker read all of its pages
 *
 * Return: the bytes, over all workers, that are not BYTE (0: all intact).
 */
static uint64_t bad_bytes(void)
{
	uint64_t bad = 0, n;

	for (int i = 0; i < NWORKERS; i++)
		if (write(w[i].down, "r", 1) != 1)
			ktap_exit_fail_msg("worker %c: %s", w[i].name, strerror(errno));
	for (int i = 0; i < NWORKERS; i++) {
		n = answer(&w[i], "how many of its bytes changed");
		if (n)
			ktap_print_msg("worker %c: %llu bytes are not %#x", w[i].name,
				       (unsigned long long)n, BYTE);
		bad += n;
	}
	return bad;
}

/* How many of worker @x's pages pagemap reports present (bit 63). */
static int present_pages(struct worker *x)
{
	int n = 0;

	for (int i = 0; i < NPAGES; i++)
		n += ksmt_pagemap_entry(x->pid, x->addr + i * psize) >> 63;
	return n;
}

/* How many distinct PFNs the workers' NWORKERS * NPAGES mappings map (for the log). */
static int distinct_pfns(void)
{
	uint64_t pfn[NWORKERS * NPAGES];
	int n = 0;

	for (int i = 0; i < NWORKERS; i++) {
		for (int j = 0; j < NPAGES; j++) {
			uint64_t e = ksmt_pagemap_entry(w[i].pid, w[i].addr + j * psize);
			bool seen = false;

			e = (e >> 63) ? (e & ((1ULL << 55) - 1)) : 0;
			for (int k = 0; k < n && !seen; k++)
				seen = pfn[k] == e;
			if (!seen)
				pfn[n++] = e;
		}
	}
	return n;
}

/**
 * on_node() - whether all of worker @x's pages are on NUMA node @node
 * @x: the worker
 * @node: the node
 *
 * Return: true if a move_pages() query puts every one of them there.
 */
static bool on_node(struct worker *x, int node)
{
	int status[NPAGES];

	if (ksmt_move_pages_of(x->pid, x->addr, NPAGES, -1, status))
		ktap_exit_fail_msg("move_pages query of worker %c: %s", x->name, strerror(errno));
	for (int i = 0; i < NPAGES; i++) {
		if (status[i] != node) {
			ktap_print_msg("worker %c: page %d on node %d, not %d", x->name, i,
				       status[i], node);
			return false;
		}
	}
	return true;
}

/**
 * move_ksm_page() - move the KSM page worker @x maps to NUMA node @node
 * @x: the worker (its first page; the others and the other worker of its
 *	domain map the same page)
 * @node: the target node
 *
 * Moved with the scanner stopped: a reference it holds for a moment makes
 * migration fail (transiently), as with the kernel's ksmd (81-migrate).
 *
 * Return: true if move_pages() returned 0 with the page on @node.
 */
static bool move_ksm_page(struct worker *x, int node)
{
	int status = -1;
	long ret;

	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	ret = ksmt_move_pages_of(x->pid, x->addr, 1, node, &status);
	ktap_print_msg("move_pages of worker %c's KSM page to node %d: ret %ld status %d",
		       x->name, node, ret, status);
	return ret == 0 && status == node;
}

/**
 * apart() - the promise of merge_domains=uid, read from the page tables
 * @pac: set to the PFN uid 1000's workers map (0 if they map no one page)
 * @pbd: set to the PFN uid 1001's workers map
 *
 * Return: true if A and C map one PFN with all their pages, B and D
 * another with all theirs, and the two differ.
 */
static bool apart(uint64_t *pac, uint64_t *pbd)
{
	uint64_t pa = ksmt_pfn_all(w[A].pid, w[A].addr, NPAGES);
	uint64_t pb = ksmt_pfn_all(w[B].pid, w[B].addr, NPAGES);
	uint64_t pc = ksmt_pfn_all(w[C].pid, w[C].addr, NPAGES);
	uint64_t pd = ksmt_pfn_all(w[D].pid, w[D].addr, NPAGES);

	ktap_print_msg("PFNs: uid 1000: A %#llx C %#llx; uid 1001: B %#llx D %#llx",
		       (unsigned long long)pa, (unsigned long long)pc,
		       (unsigned long long)pb, (unsigned long long)pd);
	*pac = pa == pc ? pa : 0;
	*pbd = pb == pd ? pb : 0;
	return pa && pa == pc && pb && pb == pd && pa != pb;
}

/**
 * merged() - run the scanner until the counters are exactly @shared/@sharing
 * @shared: pages_shared wanted
 * @sharing: pages_sharing wanted
 *
 * Full scans one at a time (at most 12), until two in a row end with
 * exactly @shared and @sharing and nothing unshared; the scanner is left
 * running. A scanner that does not finish a full scan within the 60 s of
 * ksmt_settle() ends the wait with a message saying so.
 *
 * Return: true if the counters settled there.
 */
static bool merged(uint64_t shared, uint64_t sharing)
{
	struct ksmmod_stats s;
	uint64_t before;
	int hits = 0;

	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	for (int i = 0; i < 12 && hits < 2; i++) {
		before = ksmt_stats(fd).full_scans;
		s = ksmt_settle(fd, 1);
		if (s.full_scans <= before) {
			ktap_print_msg("timeout: no full scan within 60 s (full_scans %llu)",
				       (unsigned long long)s.full_scans);
			return false;
		}
		if (s.pages_shared == shared && s.pages_sharing == sharing && !s.pages_unshared)
			hits++;
		else
			hits = 0;
	}
	if (hits < 2)
		ktap_print_msg("counters did not settle at shared %llu sharing %llu unshared 0",
			       (unsigned long long)shared, (unsigned long long)sharing);
	return hits == 2;
}

/* Set the tunables of @mask from @p through SET_PARAMS: 0 or -errno. */
static int set(struct ksmmod_params p, uint64_t mask)
{
	return ksmt_set_params(fd, &p, mask);
}

/* Tests 4-7: swap every mapping of both KSM pages out and back in. */
static void swap_cycle(void)
{
	int out[NWORKERS], in[NWORKERS], nout = 0, nin = 0;
	uint64_t pac, pbd, bad;
	struct ksmmod_stats s;
	bool ok;

	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	/* A KSM page goes out with all of its mappings: A's brings C's, B's D's. */
	ksmt_reclaim_of(w[A].pid, w[A].addr, NPAGES);
	ksmt_reclaim_of(w[B].pid, w[B].addr, NPAGES);
	for (int i = 0; i < NWORKERS; i++) {
		out[i] = ksmt_swapped_pages_of(w[i].pid, w[i].addr, NPAGES);
		nout += out[i];
	}
	s = ksmt_stats(fd);
	ktap_print_msg("while swapped out (scanner stopped): shared %llu sharing %llu",
		       (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing);
	ktap_test_result(nout == NWORKERS * NPAGES,
			 "reclaim swapped out every mapping of both KSM pages: %d of %d (A %d B %d C %d D %d)",
			 nout, NWORKERS * NPAGES, out[A], out[B], out[C], out[D]);

	bad = bad_bytes();
	nout = 0;
	for (int i = 0; i < NWORKERS; i++) {
		in[i] = present_pages(&w[i]);
		nin += in[i];
		nout += ksmt_swapped_pages_of(w[i].pid, w[i].addr, NPAGES);
	}
	ktap_print_msg("after swap-in, before any scan: %d distinct pages behind the %d mappings",
		       distinct_pfns(), NWORKERS * NPAGES);
	ktap_test_result(!bad && nin == NWORKERS * NPAGES && !nout,
			 "each worker read its pages back in: %d of %d present (A %d B %d C %d D %d), %d swapped, %llu bytes changed",
			 nin, NWORKERS * NPAGES, in[A], in[B], in[C], in[D], nout,
			 (unsigned long long)bad);

	ktap_test_result(merged(2, NWORKERS * NPAGES - 2),
			 "after swap-in the scanner merges again: shared 2 sharing %d, nothing unshared",
			 NWORKERS * NPAGES - 2);
	ok = apart(&pac, &pbd);
	ok = !bad_bytes() && ok;
	ktap_test_result(ok,
			 "after swap-in: A and C share one KSM page (%#llx), B and D another (%#llx), bytes intact",
			 (unsigned long long)pac, (unsigned long long)pbd);
}

/* Tests 8-10: move each KSM page to the other node (merge_across_nodes=1). */
static void migrate_across(void)
{
	uint64_t pac, pbd, pac2, pbd2, pac3, pbd3;
	int status = -1, from_ac, from_bd;
	bool ok;

	apart(&pac, &pbd);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	if (ksmt_move_pages_of(w[A].pid, w[A].addr, 1, -1, &status))
		ktap_exit_fail_msg("move_pages query: %s", strerror(errno));
	from_ac = status;
	if (ksmt_move_pages_of(w[B].pid, w[B].addr, 1, -1, &status))
		ktap_exit_fail_msg("move_pages query: %s", strerror(errno));
	from_bd = status;
	ktap_print_msg("uid 1000's KSM page is on node %d, uid 1001's on node %d", from_ac, from_bd);

	ok = move_ksm_page(&w[A], from_ac == 0 ? 1 : 0);
	ok = apart(&pac2, &pbd2) && ok;
	ktap_test_result(ok && pac2 != pac && pbd2 == pbd && on_node(&w[A], from_ac == 0 ? 1 : 0) &&
			 on_node(&w[C], from_ac == 0 ? 1 : 0),
			 "uid 1000's KSM page moved to node %d with all of A's and C's mappings (%#llx -> %#llx), uid 1001's stayed (%#llx)",
			 from_ac == 0 ? 1 : 0, (unsigned long long)pac, (unsigned long long)pac2,
			 (unsigned long long)pbd2);

	ok = move_ksm_page(&w[B], from_bd == 0 ? 1 : 0);
	ok = apart(&pac3, &pbd3) && ok;
	ktap_test_result(ok && pbd3 != pbd2 && pac3 == pac2 && on_node(&w[B], from_bd == 0 ? 1 : 0) &&
			 on_node(&w[D], from_bd == 0 ? 1 : 0),
			 "uid 1001's KSM page moved to node %d with all of B's and D's mappings (%#llx -> %#llx), uid 1000's stayed (%#llx)",
			 from_bd == 0 ? 1 : 0, (unsigned long long)pbd2, (unsigned long long)pbd3,
			 (unsigned long long)pac3);

	ok = merged(2, NWORKERS * NPAGES - 2);
	ok = apart(&pac, &pbd) && ok;
	ktap_test_result(ok && pac == pac3 && pbd == pbd3 && !bad_bytes(),
			 "after migration the scans keep both KSM pages where they are: shared 2 sharing %d, PFNs unchanged, bytes intact",
			 NWORKERS * NPAGES - 2);
}

/*
 * Tests 11-13: merge_across_nodes=0, both domains' pages on node 0, then
 * each domain's KSM page moved to node 1 in turn.
 */
static void migrate_per_node(void)
{
	uint64_t pac, pbd, pac2, pbd2;
	int status[NPAGES], err;
	bool ok;

	ksmt_set_run(fd, KSMMOD_RUN_UNMERGE);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	err = set((struct ksmmod_params){ .merge_across_nodes = 0 }, KSMMOD_PARAM_MERGE_ACROSS_NODES);
	ok = !err;
	for (int i = 0; i < NWORKERS; i++)
		if (ksmt_move_pages_of(w[i].pid, w[i].addr, NPAGES, 0, status)) {
			ktap_print_msg("move_pages of worker %c's pages to node 0: %s", w[i].name,
				       strerror(errno));
			ok = false;
		}
	ok = merged(2, NWORKERS * NPAGES - 2) && ok;
	ok = apart(&pac, &pbd) && ok;
	ktap_test_result(ok && on_node(&w[A], 0) && on_node(&w[B], 0),
			 "merge_across_nodes=0 (%s), every page on node 0: one KSM page per domain there",
			 err ? strerror(-err) : "ok");

	/* Parked, then inserted again into node 1's tree under uid 1000. */
	ok = move_ksm_page(&w[A], 1);
	ok = merged(2, NWORKERS * NPAGES - 2) && ok;
	ok = apart(&pac2, &pbd2) && ok;
	ktap_test_result(ok && pac2 != pac && pbd2 == pbd && on_node(&w[A], 1) && on_node(&w[C], 1) &&
			 on_node(&w[B], 0),
			 "uid 1000's KSM page moved to node 1 (%#llx -> %#llx): its node goes to node 1's tree, still two KSM pages",
			 (unsigned long long)pac, (unsigned long long)pac2);

	/* Same contents, same node, other domain: must not join uid 1000's page. */
	ok = move_ksm_page(&w[B], 1);
	ok = merged(2, NWORKERS * NPAGES - 2) && ok;
	ok = apart(&pac, &pbd) && ok;
	ktap_test_result(ok && pac == pac2 && pbd != pbd2 && on_node(&w[B], 1) && on_node(&w[D], 1) &&
			 !bad_bytes(),
			 "uid 1001's KSM page moved to node 1 too (%#llx -> %#llx): it does not join uid 1000's there, bytes intact",
			 (unsigned long long)pbd2, (unsigned long long)pbd);
}

int main(void)
{
	struct ksmmod_stats s;
	bool swap, numa;
	int err;

	ktap_print_header(PLAN);
	psize = sysconf(_SC_PAGESIZE);
	/* Before the workers start: they are in this memory cgroup then. */
	swap = ksmt_swap_on() && ksmt_own_memcg();
	numa = !access("/sys/devices/system/node/node1", F_OK);
	ksmt_ensure_loaded();
	fd = ksmt_open();
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	if (ksmt_stats(fd).pages_shared || ksmt_stats(fd).mm_slots)
		ktap_exit_fail_msg("ksmmod not idle at the start: an earlier test left pages or processes");

	/* 1-3: two domains, two KSM pages. */
	err = ksmt_write_errno(KSMT_DOMAINS, "uid");
	ktap_test_result(!err && ksmt_domains_read("none [uid] cgroup"), "merge_domains=uid (%s)",
			 err ? strerror(-err) : "ok");
	start(&w[A], 'A', 1000);
	start(&w[B], 'B', 1001);
	start(&w[C], 'C', 1000);
	start(&w[D], 'D', 1001);
	ktap_test_result(merged(2, NWORKERS * NPAGES - 2),
			 "merged: shared 2 sharing %d (one KSM page per uid), nothing unshared",
			 NWORKERS * NPAGES - 2);
	{
		uint64_t pac, pbd;
		bool ok = apart(&pac, &pbd);

		ktap_test_result(ok,
				 "A and C (uid 1000) map one KSM page (%#llx), B and D (uid 1001) another (%#llx)",
				 (unsigned long long)pac, (unsigned long long)pbd);
	}

	/* 4-7: swap. */
	if (swap) {
		swap_cycle();
	} else {
		for (int i = 0; i < 4; i++)
			ktap_test_skip("merge domains across swap",
				       "no zram swap device or no memory cgroup with memory.reclaim in this guest");
	}

	/* 8-13: migration. */
	if (numa) {
		migrate_across();
		migrate_per_node();
	} else {
		for (int i = 0; i < 6; i++)
			ktap_test_skip("merge domains across migration", "guest has a single NUMA node");
	}

	/* 14-15: run=2, the defaults again, nobody left. */
	ksmt_set_run(fd, KSMMOD_RUN_UNMERGE);
	s = ksmt_stats(fd);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	err = set((struct ksmmod_params){ .merge_across_nodes = 1 }, KSMMOD_PARAM_MERGE_ACROSS_NODES);
	err = err ?: ksmt_write_errno(KSMT_DOMAINS, "none");
	ktap_test_result(!s.pages_shared && !s.pages_sharing && !bad_bytes() && !err &&
			 ksmt_domains_read("[none] uid cgroup"),
			 "run=2: shared %llu sharing %llu, bytes intact; merge_across_nodes=1 and merge_domains=none again (%s)",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing,
			 err ? strerror(-err) : "ok");
	for (int i = 0; i < NWORKERS; i++)
		stop(&w[i]);
	s = ksmt_wait_drained(fd);
	ktap_test_result(!s.pages_shared && !s.pages_sharing && !s.pages_unshared && !s.rmap_items &&
			 !s.mm_slots,
			 "workers stopped: nothing merged or tracked (slots %llu items %llu)",
			 (unsigned long long)s.mm_slots, (unsigned long long)s.rmap_items);
	if (swap && swapoff("/dev/zram0"))
		ktap_print_msg("swapoff /dev/zram0: %s", strerror(errno));
	close(fd);
	return ktap_finished();
}
