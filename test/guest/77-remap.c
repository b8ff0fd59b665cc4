// SPDX-License-Identifier: GPL-2.0
/*
 * mremap() of merged memory. Our N pages are merged with a child process's
 * twins (one KSM page per pair). Growing the range in place leaves the
 * merged pages alone, and the new tail merges once registered. Moving it
 * (MREMAP_MAYMOVE|MREMAP_FIXED) makes the kernel break the merged pages
 * first (VM_MERGEABLE, as for madvise): every page reads its original bytes
 * at the new address; the moved mapping keeps VM_MERGEABLE, as madvise()
 * leaves it, so it merges with the twins again (pagemap PFNs equal) and the
 * scanner forgets the stale mappings, to exact counters. Writes on either side stay private. Shrinking
 * the range drops merged mappings: the counters settle to exact values,
 * the kept pages stay merged and intact. Moving the range onto another
 * registered, merged range puts new pages where old rmap items still are:
 * they merge there without a new MERGE_RANGE, to exact counters.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "ksmtest.h"

#define N	16	/* pages twinned with the child: page i filled with 0xa0 + i */
#define G	8	/* pages added by growing in place: all 0x7e */
#define TAIL	0x7e

static int fd;
static long psize;
static int to_child[2], from_child[2];
static pid_t child;

/* Expected contents of our region: fill byte and first byte of each page. */
static unsigned char want_fill[N + G], want_first[N + G];

struct child_report {
	uint32_t ok;		/* every byte of the child's pages as expected */
	uint32_t pad;
	uint64_t pfn[N];
};

static void fill_page(char *p, int i)
{
	memset(p, i < N ? 0xa0 + i : TAIL, psize);
}

static void expect_original(void)
{
	for (int i = 0; i < N + G; i++)
		want_fill[i] = want_first[i] = i < N ? 0xa0 + i : TAIL;
}

/* Every byte of pages [0, n) of @m as want_fill/want_first say. */
static bool region_ok(char *m, int n)
{
	for (int i = 0; i < n; i++) {
		unsigned char *p = (unsigned char *)m + i * psize;

		if (p[0] != want_first[i])
			return false;
		for (long b = 1; b < psize; b++)
			if (p[b] != want_fill[i])
				return false;
	}
	return true;
}

static bool all_zero(char *m, long len)
{
	for (long i = 0; i < len; i++)
		if (m[i])
			return false;
	return true;
}

/* The child: N pages like ours, registered; answers 'V' (verify), 'W' (write page 3), 'Q'. */
static void child_main(void)
{
	unsigned char first[N];
	char *t, cmd;

	t = mmap(NULL, N * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (t == MAP_FAILED)
		_exit(1);
	madvise(t, N * psize, MADV_NOHUGEPAGE);
	for (int i = 0; i < N; i++) {
		fill_page(t + i * psize, i);
		first[i] = 0xa0 + i;
	}
	if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, t, N * psize))
		_exit(1);
	while (read(to_child[0], &cmd, 1) == 1) {
		struct child_report r;

		if (cmd == 'Q')
			break;
		if (cmd == 'W') {
			t[3 * psize] = (char)0xdd;
			first[3] = 0xdd;
		}
		memset(&r, 0, sizeof(r));
		r.ok = 1;
		for (int i = 0; i < N; i++) {
			unsigned char *p = (unsigned char *)t + i * psize;

			if (p[0] != first[i])
				r.ok = 0;
			for (long b = 1; b < psize; b++)
				if (p[b] != (unsigned char)(0xa0 + i))
					r.ok = 0;
			r.pfn[i] = ksmt_pfn_of(p);
		}
		if (write(from_child[1], &r, sizeof(r)) != sizeof(r))
			_exit(1);
	}
	_exit(0);
}

static struct child_report ask_child(char cmd)
{
	struct child_report r;

	if (write(to_child[1], &cmd, 1) != 1 || read(from_child[0], &r, sizeof(r)) != sizeof(r))
		ktap_exit_fail_msg("the child does not answer");
	return r;
}

/* Pages [0, n) of @m map their twins' PFNs (except bits of @skip), all distinct. */
static bool twins_merged(char *m, int n, const struct child_report *r, unsigned int skip)
{
	for (int i = 0; i < n && i < N; i++) {
		if (skip & (1U << i))
			continue;
		if (!r->pfn[i] || ksmt_pfn_of(m + i * psize) != r->pfn[i])
			return false;
		for (int j = i + 1; j < N; j++)
			if (r->pfn[i] == r->pfn[j])
				return false;
	}
	return true;
}

/* The G tail pages from page N on share one PFN, none of the twins'. */
static bool tail_merged(char *m, const struct child_report *r)
{
	uint64_t f = ksmt_pfn_of(m + N * psize);

	if (!f)
		return false;
	for (int i = N; i < N + G; i++)
		if (ksmt_pfn_of(m + i * psize) != f)
			return false;
	for (int i = 0; i < N; i++)
		if (r->pfn[i] == f)
			return false;
	return true;
}

/* No page of [0, n) shares a PFN with another or with a twin. */
static bool all_private(char *m, int n, const struct child_report *r)
{
	for (int i = 0; i < n; i++) {
		uint64_t f = ksmt_pfn_of(m + i * psize);

		if (!f)
			return false;
		for (int j = 0; j < N; j++)
			if (r->pfn[j] == f)
				return false;
		for (int j = i + 1; j < n; j++)
			if (ksmt_pfn_of(m + j * psize) == f)
				return false;
	}
	return true;
}

static void print_pfns(const char *what, char *m, int n, const struct child_report *r)
{
	for (int i = 0; i < n; i++)
		ktap_print_msg("%s page %d pfn %#llx twin %#llx", what, i,
			       (unsigned long long)ksmt_pfn_of(m + i * psize),
			       (unsigned long long)(i < N ? r->pfn[i] : 0));
}

#define COUNTS(s) (unsigned long long)(s).pages_shared, (unsigned long long)(s).pages_sharing, \
	(unsigned long long)(s).pages_unshared, (unsigned long long)(s).pages_volatile, \
	(unsigned long long)(s).rmap_items

int main(void)
{
	struct child_report r, r2;
	struct ksmmod_stats s;
	char *resv, *a, *b, *d, *ret;
	unsigned char vec[1];
	bool ok, gone;
	int err, status, merr;

	ktap_print_header(18);
	ksmt_ensure_loaded();
	fd = ksmt_open();
	psize = sysconf(_SC_PAGESIZE);
	expect_original();
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);

	if (pipe(to_child) || pipe(from_child))
		ktap_exit_fail_msg("pipe: %s", strerror(errno));
	fflush(stdout);
	child = fork();
	if (child < 0)
		ktap_exit_fail_msg("fork: %s", strerror(errno));
	if (child == 0)
		child_main();
	ask_child('V');		/* the child's pages are registered */

	/* A: N pages with G pages of reserved (PROT_NONE) address space after them. */
	resv = mmap(NULL, (N + G) * psize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (resv == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	a = mmap(resv, N * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
	if (a != resv)
		ktap_exit_fail_msg("mmap fixed: %s", strerror(errno));
	madvise(a, N * psize, MADV_NOHUGEPAGE);
	for (int i = 0; i < N; i++)
		fill_page(a + i * psize, i);
	err = ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, a, N * psize);
	s = ksmt_settle(fd, 3);
	r = ask_child('V');
	ok = twins_merged(a, N, &r, 0);
	if (!ktap_test_result(!err && r.ok && ok && s.pages_shared == N && s.pages_sharing == N,
			      "merged with the child's twins: shared %llu sharing %llu (want %d %d), PFNs equal",
			      (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing, N, N))
		print_pfns("A", a, N, &r);

	/* Grow in place: the merged pages do not move and stay merged. */
	munmap(a + N * psize, G * psize);
	ret = mremap(a, N * psize, (N + G) * psize, 0);
	merr = errno;
	ok = ret == a && twins_merged(a, N, &r, 0) && region_ok(a, N) &&
	     all_zero(a + N * psize, G * psize);
	ktap_test_result(ok, "mremap grows in place (%s): merged pages keep the twins' PFNs and bytes, new tail reads zeros",
			 ret == MAP_FAILED ? strerror(merr) : ret == a ? "same address" : "moved");
	if (ret != a)
		ktap_exit_fail_msg("cannot go on without the grown range");
	madvise(a, (N + G) * psize, MADV_NOHUGEPAGE);
	for (int i = N; i < N + G; i++)
		fill_page(a + i * psize, i);
	err = ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, a, (N + G) * psize);
	s = ksmt_settle(fd, 3);
	r = ask_child('V');
	ok = twins_merged(a, N, &r, 0) && tail_merged(a, &r) && region_ok(a, N + G);
	if (!ktap_test_result(!err && ok && s.pages_shared == N + 1 && s.pages_sharing == N + G - 1 &&
			      s.pages_unshared == 0 && s.rmap_items == 2 * N + G,
			      "grown range registered: tail merged too (shared %llu sharing %llu unshared %llu volatile %llu items %llu, want %d %d 0 0 %d)",
			      COUNTS(s), N + 1, N + G - 1, 2 * N + G))
		print_pfns("A", a, N + G, &r);

	/* Move it: the kernel breaks the merged pages before moving them. */
	b = mmap(NULL, (N + G) * psize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (b == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	/* Scanner stopped: the moved mapping stays VM_MERGEABLE and would merge again. */
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	ret = mremap(a, (N + G) * psize, (N + G) * psize, MREMAP_MAYMOVE | MREMAP_FIXED, b);
	merr = errno;
	gone = mincore(a, psize, vec) == -1 && errno == ENOMEM;
	ktap_test_result(ret == b && gone && region_ok(b, N + G),
			 "mremap MAYMOVE|FIXED: moved (%s), old address unmapped, every page reads its original bytes at the new address",
			 ret == MAP_FAILED ? strerror(merr) : ret == b ? "ok" : "elsewhere");
	if (ret != b)
		ktap_exit_fail_msg("cannot go on without the moved range");
	r = ask_child('V');
	ok = all_private(b, N + G, &r);
	if (!ktap_test_result(ok && r.ok, "moved pages are private copies (no PFN shared with a twin or each other), the child's bytes intact"))
		print_pfns("B", b, N + G, &r);
	/*
	 * As after madvise(), the moved mapping keeps VM_MERGEABLE: the
	 * drop-in process is scanned by that flag, so the new address merges
	 * again without a new MERGE_RANGE, and the stale mappings are
	 * forgotten (exact counters).
	 */
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	s = ksmt_settle(fd, 3);
	r = ask_child('V');
	ok = twins_merged(b, N, &r, 0) && tail_merged(b, &r);
	if (!ktap_test_result(ok && s.pages_shared == N + 1 && s.pages_sharing == N + G - 1 &&
			      s.pages_unshared == 0 && s.pages_volatile == 0 && s.rmap_items == 2 * N + G,
			      "the moved mapping stays mergeable, as after madvise(): merged again, stale mappings forgotten (shared %llu sharing %llu unshared %llu volatile %llu items %llu, want %d %d 0 0 %d)",
			      COUNTS(s), N + 1, N + G - 1, 2 * N + G))
		print_pfns("B", b, N + G, &r);

	/* Registering the new address changes nothing more. */
	err = ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, b, (N + G) * psize);
	s = ksmt_settle(fd, 3);
	r = ask_child('V');
	ok = twins_merged(b, N, &r, 0) && tail_merged(b, &r);
	if (!ktap_test_result(!err && ok && s.pages_shared == N + 1 && s.pages_sharing == N + G - 1 &&
			      s.pages_unshared == 0 && s.rmap_items == 2 * N + G,
			      "new address registered: still merged with the twins (shared %llu sharing %llu unshared %llu volatile %llu items %llu, want %d %d 0 0 %d)",
			      COUNTS(s), N + 1, N + G - 1, 2 * N + G))
		print_pfns("B", b, N + G, &r);
	ktap_test_result(region_ok(b, N + G) && r.ok, "every byte intact on both sides after merging again");

	/* Writes stay private, in both directions. */
	b[2 * psize] = (char)0xee;
	want_first[2] = 0xee;
	r2 = ask_child('V');
	ok = ksmt_pfn_of(b + 2 * psize) != r2.pfn[2] && r2.pfn[2] == r.pfn[2] && r2.ok && region_ok(b, N + G);
	ktap_test_result(ok, "our write at the new address: private copy, the child's twin keeps its bytes and PFN");
	r2 = ask_child('W');
	ok = r2.ok && r2.pfn[3] != r.pfn[3] && ksmt_pfn_of(b + 3 * psize) == r.pfn[3] && region_ok(b, N + G);
	ktap_test_result(ok, "the child's write: its private copy, our page keeps its bytes and the KSM page");
	r = r2;
	s = ksmt_settle(fd, 3);
	/* pairs 2 and 3 split: 2 unique pages; nodes 2 and 3 keep one mapping each */
	ktap_test_result(s.pages_shared == N + 1 && s.pages_sharing == N - 2 + G - 1 &&
			 s.pages_unshared == 2 && s.pages_volatile == 0 && s.rmap_items == 2 * N + G,
			 "after the writes: shared %llu sharing %llu unshared %llu volatile %llu items %llu (want %d %d 2 0 %d)",
			 COUNTS(s), N + 1, N - 2 + G - 1, 2 * N + G);

	/* Shrink: drop half of the twinned pages and the whole tail. */
	ret = mremap(b, (N + G) * psize, N / 2 * psize, 0);
	merr = errno;
	gone = mincore(b + N / 2 * psize, psize, vec) == -1 && errno == ENOMEM;
	ok = ret == b && gone && region_ok(b, N / 2) && twins_merged(b, N / 2, &r, 1U << 2 | 1U << 3) &&
	     ksmt_pfn_of(b + 3 * psize) != r.pfn[3];
	ktap_test_result(ok, "mremap shrinks in place (%s): tail unmapped, the kept pages keep their bytes and PFNs",
			 ret == MAP_FAILED ? strerror(merr) : ret == b ? "ok" : "moved");
	s = ksmt_settle(fd, 2);
	/*
	 * Nodes 0-15 keep >= 1 mapping (0, 1, 4-7 two: 6 sharing), the tail's
	 * node none; unique: our page 2 and the child's page 3; items 8 + 16.
	 */
	ktap_test_result(s.pages_shared == N && s.pages_sharing == 6 && s.pages_unshared == 2 &&
			 s.pages_volatile == 0 && s.rmap_items == N / 2 + N,
			 "after the shrink: shared %llu sharing %llu unshared %llu volatile %llu items %llu (want %d 6 2 0 %d)",
			 COUNTS(s), N, N / 2 + N);
	r = ask_child('V');
	ktap_test_result(r.ok && region_ok(b, N / 2) && twins_merged(b, N / 2, &r, 1U << 2 | 1U << 3),
			 "after the shrink: bytes intact on both sides, still merged");

	/*
	 * Move onto another registered, merged range: the pages arriving at
	 * D's addresses meet the rmap items D's old pages left there, and
	 * merge without a new MERGE_RANGE (the vma keeps VM_MERGEABLE).
	 */
	d = mmap(NULL, N / 2 * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (d == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	madvise(d, N / 2 * psize, MADV_NOHUGEPAGE);
	for (int i = 0; i < N / 2; i++)
		fill_page(d + i * psize, N / 2 + i);	/* twins of the child's pages 8-15 */
	err = ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, d, N / 2 * psize);
	s = ksmt_settle(fd, 3);
	ok = true;
	for (int i = 0; i < N / 2; i++)
		ok = ok && ksmt_pfn_of(d + i * psize) == r.pfn[N / 2 + i];
	ktap_test_result(!err && ok && s.pages_shared == N && s.pages_sharing == 6 + N / 2 &&
			 s.pages_unshared == 2 && s.pages_volatile == 0 && s.rmap_items == N + N,
			 "a second range D merged with the child's pages 8-15: shared %llu sharing %llu unshared %llu volatile %llu items %llu (want %d %d 2 0 %d)",
			 COUNTS(s), N, 6 + N / 2, N + N);
	ret = mremap(b, N / 2 * psize, N / 2 * psize, MREMAP_MAYMOVE | MREMAP_FIXED, d);
	merr = errno;
	gone = mincore(b, psize, vec) == -1 && errno == ENOMEM;
	ktap_test_result(ret == d && gone && region_ok(d, N / 2),
			 "mremap onto D (%s): old address unmapped, every page reads its bytes at D",
			 ret == MAP_FAILED ? strerror(merr) : ret == d ? "ok" : "elsewhere");
	if (ret != d)
		ktap_exit_fail_msg("cannot go on without the moved range");
	b = d;
	s = ksmt_settle(fd, 3);
	r = ask_child('V');
	/*
	 * Child's nodes 0-2 and 4-15 remain (node 3 had only our page 3, which
	 * the move broke); ours 0, 1, 4-7 merged into them: sharing 6; unique:
	 * the child's page 3, our page 2 (0xee) and our page 3 (twin gone).
	 */
	ok = r.ok && region_ok(b, N / 2) && twins_merged(b, N / 2, &r, 1U << 2 | 1U << 3) &&
	     ksmt_pfn_of(b + 2 * psize) != r.pfn[2] && ksmt_pfn_of(b + 3 * psize) != r.pfn[3];
	if (!ktap_test_result(ok && s.pages_shared == N - 1 && s.pages_sharing == 6 && s.pages_unshared == 3 &&
			      s.pages_volatile == 0 && s.rmap_items == N + N / 2,
			      "moved pages merged at D with the old items there: shared %llu sharing %llu unshared %llu volatile %llu items %llu (want %d 6 3 0 %d)",
			      COUNTS(s), N - 1, N + N / 2))
		print_pfns("D", b, N / 2, &r);

	/* Tear down: the child exits, we unmerge. */
	if (write(to_child[1], "Q", 1) != 1)
		ktap_print_msg("cannot tell the child to quit");
	waitpid(child, &status, 0);
	err = ksmt_range(fd, KSMMOD_IOC_UNMERGE_RANGE, b, N / 2 * psize);
	/* Nothing mergeable left: the process is forgotten, nothing to scan. */
	s = ksmt_wait_drained(fd);
	ok = !err && region_ok(b, N / 2) && all_private(b, N / 2, &(struct child_report){ 0 });
	ktap_test_result(ok && WIFEXITED(status) && WEXITSTATUS(status) == 0 && s.pages_shared == 0 &&
			 s.pages_sharing == 0 && s.pages_unshared == 0 && s.rmap_items == 0,
			 "child gone, range unmerged: private pages with their bytes, counters zero (shared %llu sharing %llu unshared %llu volatile %llu items %llu)",
			 COUNTS(s));
	{
		struct ksmmod_process p;

		memset(&p, 0, sizeof(p));
		p.size = sizeof(p);
		ksmt_ioctl(fd, KSMMOD_IOC_REMOVE_PROCESS, &p);
	}
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	close(fd);
	return ktap_finished();
}
