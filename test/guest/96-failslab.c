// SPDX-License-Identifier: GPL-2.0
/*
 * Allocation failure (failslab and fail_page_alloc, each limited to one task
 * with /proc/PID/make-it-fail).
 *
 * In the scanner (ksmmodd): a page that needs a new rmap item while none can
 * be allocated ends the batch, and nothing else changes. In particular the
 * items of merged pages further on stay on their stable node, so the
 * kernel's rmap walks still find every mapping: move_pages() of the KSM page
 * during the failures moves it with all its mappings. Once the failures
 * stop, the new pages get their items and the counters are exact.
 *
 * In the ioctl caller: MERGE_RANGE with every slab allocation failing
 * returns ENOMEM and registers nothing (PROCESS_STATS: registered bytes
 * unchanged); UNMERGE_RANGE
 * with every page allocation failing (no page to copy a merged page into)
 * returns ENOMEM and changes nothing (exact counters, bytes intact); both
 * work once the failures stop.
 *
 * In the scanner again, with every rmap item there already: no stable node,
 * chain or dup can be allocated, so pages that would make a new KSM page or
 * grow a full one into a chain stay apart, with their bytes; chains are
 * pruned as usual; afterwards everything merges (exact counters).
 *
 * Registration of a new process: ADD_PROCESS (ENOMEM) and drop-in
 * madvise(MADV_MERGEABLE) (EAGAIN, as the kernel's KSM) leave it unregistered
 * and its mappings without VM_MERGEABLE.
 *
 * Load and unload (/proc/thread-self/fail-nth: one allocation of the caller
 * fails, at ksmmod.failpoints= points spread over those of ksmmod's init, 24
 * by default, from an offset chosen by the printed seed, ksmmod.seed=
 * replays): caches, the ftrace hooks, the device, sysfs, the scanner thread;
 * and at every allocation of an unload with merged pages.
 * 99-kmemleak then finds nothing leaked.
 *
 * Needs CONFIG_FAILSLAB (the debug lane); Debian's stock kernels have no
 * fault injection, so there it skips and says so.
 */
#include <dirent.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "ksmtest.h"

#define NPAGES	128	/* 0-7: new pages faulted in later; 64-127: one content */
#define FS	"/sys/kernel/debug/failslab/"
#define FP	"/sys/kernel/debug/fail_page_alloc/"
#define PLAN	17

static int fd;
static long psize;

/* The pid of ksmmodd, or -1. */
static int ksmmodd_pid(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int pid = -1;

	while (d && (e = readdir(d))) {
		char path[300], comm[32] = "";

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		if (ksmt_read_file(path, comm, sizeof(comm)) > 0 && !strcmp(comm, "ksmmodd\n")) {
			pid = atoi(e->d_name);
			break;
		}
	}
	if (d)
		closedir(d);
	return pid;
}

/*
 * Fail every allocation of @pid from @dir (FS or FP: slab or page
 * allocator), or (!@on) none. @pid < 0: set up or switch off @dir only.
 */
static bool inject(const char *dir, int pid, bool on)
{
	char path[64], f[96];
	bool ok = true;

	snprintf(path, sizeof(path), "/proc/%d/make-it-fail", pid);
	if (!on) {
		ok = pid < 0 || ksmt_write_file(path, "0");
		snprintf(f, sizeof(f), "%sprobability", dir);
		return ksmt_write_file(f, "0") && ok;
	}
	/* fail_page_alloc skips highmem-capable (user) and order-0 pages by default. */
	static const char *const knobs[][2] = {
		{ "verbose", "0" }, { "task-filter", "Y" }, { "ignore-gfp-wait", "N" },
		{ "ignore-gfp-highmem", "N" }, { "interval", "1" }, { "times", "-1" },
		{ "space", "0" }, { "min-order", "0" }, { "probability", "100" },
	};
	for (unsigned int i = 0; i < sizeof(knobs) / sizeof(knobs[0]); i++) {
		snprintf(f, sizeof(f), "%s%s", dir, knobs[i][0]);
		if (access(f, F_OK) == 0)
			ok = ksmt_write_file(f, knobs[i][1]) && ok;
	}
	return ok && (pid < 0 || ksmt_write_file(path, "1"));
}

static bool failslab(int pid, bool on)
{
	return inject(FS, pid, on);
}

/*
 * @cmd on [@m, +@len) with every @dir allocation of this process failing.
 * make-it-fail is opened before the failures start: opening a file needs
 * memory too, and the failures could not be switched off again.
 */
static int range_failing(const char *dir, unsigned long cmd, char *m, long len)
{
	int mif, err;

	if (!inject(dir, -1, true))
		ktap_exit_fail_msg("cannot set up %s", dir);
	mif = open("/proc/self/make-it-fail", O_WRONLY | O_CLOEXEC);
	if (mif < 0 || write(mif, "0", 1) != 1)
		ktap_exit_fail_msg("make-it-fail: %s", strerror(errno));
	if (pwrite(mif, "1", 1, 0) != 1)
		ktap_exit_fail_msg("make-it-fail: %s", strerror(errno));
	err = ksmt_range(fd, cmd, m, len);
	if (pwrite(mif, "0", 1, 0) != 1)
		ktap_exit_fail_msg("make-it-fail off: %s", strerror(errno));
	close(mif);
	inject(dir, -1, false);
	return err;
}

/* MERGE_RANGE and UNMERGE_RANGE while the caller's allocations fail. */
static void caller_failing(void)
{
	struct ksmmod_process_stats ps;
	uint64_t before, after;
	struct ksmmod_stats s;
	int err, stats;
	char *m;

	m = mmap(NULL, 64 * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	madvise(m, 64 * psize, MADV_NOHUGEPAGE);
	memset(m, 0x78, 64 * psize);
	/* This process is known from the first part: its registered bytes must not change. */
	memset(&ps, 0, sizeof(ps));
	ps.size = sizeof(ps);
	stats = ksmt_ioctl(fd, KSMMOD_IOC_PROCESS_STATS, &ps);
	before = stats ? 0 : ps.registered_bytes;
	err = range_failing(FS, KSMMOD_IOC_MERGE_RANGE, m, 64 * psize);
	memset(&ps, 0, sizeof(ps));
	ps.size = sizeof(ps);
	stats = ksmt_ioctl(fd, KSMMOD_IOC_PROCESS_STATS, &ps);
	after = stats ? 0 : ps.registered_bytes;
	ktap_test_result(err == -ENOMEM && after == before,
			 "MERGE_RANGE with every slab allocation failing: %s, registered bytes %llu -> %llu (want ENOMEM, unchanged)",
			 strerror(-err), (unsigned long long)before, (unsigned long long)after);
	err = ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, 64 * psize);
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	s = ksmt_settle(fd, 3);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	ktap_test_result(!err && s.pages_shared == 1 && s.pages_sharing == 63,
			 "MERGE_RANGE once the failures stop: %s, shared %llu sharing %llu (want 1 63)",
			 err ? strerror(-err) : "ok", (unsigned long long)s.pages_shared,
			 (unsigned long long)s.pages_sharing);
	err = range_failing(FP, KSMMOD_IOC_UNMERGE_RANGE, m, 64 * psize);
	s = ksmt_stats(fd);
	ktap_test_result(err == -ENOMEM && s.pages_shared == 1 && s.pages_sharing == 63 &&
			 ksmt_bytes_ok(m, 64 * psize, 0x78),
			 "UNMERGE_RANGE with every page allocation failing: %s, shared %llu sharing %llu (want ENOMEM, 1 63), bytes intact",
			 strerror(-err), (unsigned long long)s.pages_shared,
			 (unsigned long long)s.pages_sharing);
	err = ksmt_range(fd, KSMMOD_IOC_UNMERGE_RANGE, m, 64 * psize);
	s = ksmt_stats(fd);
	ktap_test_result(!err && s.pages_shared == 0 && s.pages_sharing == 0 &&
			 ksmt_bytes_ok(m, 64 * psize, 0x78),
			 "UNMERGE_RANGE once the failures stop: %s, shared %llu sharing %llu, bytes intact",
			 err ? strerror(-err) : "ok", (unsigned long long)s.pages_shared,
			 (unsigned long long)s.pages_sharing);
	munmap(m, 64 * psize);
}

static int node_of(void *addr)
{
	int status = -1;

	return ksmt_move_page(addr, -1, &status) ? -errno : status;
}

/*
 * Set max_page_sharing (unless 0: it cannot change while pages are merged)
 * and the chain pruning interval.
 */
static void set_sharing(unsigned int mps, unsigned int prune_ms)
{
	struct ksmmod_params p;

	memset(&p, 0, sizeof(p));
	p.max_page_sharing = mps;
	p.stable_node_chains_prune_millisecs = prune_ms;
	if (ksmt_set_params(fd, &p, (mps ? KSMMOD_PARAM_MAX_PAGE_SHARING : 0) |
			    KSMMOD_PARAM_STABLE_NODE_CHAINS_PRUNE_MILLISECS))
		ktap_exit_fail_msg("SET_PARAMS max_page_sharing %u: %s", mps, strerror(errno));
}

/* Scan for half a second with every allocation of ksmmodd failing. */
static struct ksmmod_stats scan_failing(int pid)
{
	if (!failslab(pid, true)) {
		failslab(pid, false);
		ktap_exit_fail_msg("cannot set up failslab for ksmmodd: %s", strerror(errno));
	}
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	usleep(500 * 1000);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	failslab(pid, false);
	return ksmt_stats(fd);
}

static struct ksmmod_stats scan_settled(void)
{
	struct ksmmod_stats s;

	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	s = ksmt_settle(fd, 3);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	return s;
}

/* Pages [@from, @to) of @m are @byte each and none maps @pfn or a PFN another of them maps. */
static bool apart(char *m, int from, int to, int byte, uint64_t pfn)
{
	for (int i = from; i < to; i++) {
		uint64_t p = ksmt_pfn_of(m + i * psize);

		if (!ksmt_bytes_ok(m + i * psize, psize, byte) || !p || p == pfn)
			return false;
		for (int j = from; j < i; j++)
			if (ksmt_pfn_of(m + j * psize) == p)
				return false;
	}
	return true;
}

#define CSTATS(s) (unsigned long long)(s).pages_shared, (unsigned long long)(s).pages_sharing, \
	(unsigned long long)(s).stable_node_chains, (unsigned long long)(s).stable_node_dups

/*
 * Stable nodes, chains and dups that ksmmodd cannot allocate (every rmap item
 * exists already, so only those allocations fail): a page that would make a
 * new KSM page, turn a full node into a chain or add a dup to a chain stays
 * as it was, with its own page and its bytes; nothing else changes. Then
 * chain pruning with the failures on: dups whose pages are gone leave the
 * chain. Once the failures stop, everything merges as it would have.
 */
static void scanner_nodes_failing(int pid)
{
	struct ksmmod_stats s;
	uint64_t pfn;
	char *m;

	m = mmap(NULL, 24 * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	madvise(m, 24 * psize, MADV_NOHUGEPAGE);
	for (int i = 0; i < 24; i++)
		snprintf(m + i * psize, psize, "unique page %d", i);
	set_sharing(4, 2000);
	if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, 24 * psize))
		ktap_exit_fail_msg("MERGE_RANGE: %s", strerror(errno));
	scan_settled();			/* every page has its item now */
	memset(m, 0x55, 4 * psize);
	s = scan_settled();
	pfn = ksmt_pfn_of(m);
	/* Pages 4-7 as 0-3: the full node must become a chain of two dups. */
	memset(m + 4 * psize, 0x55, 4 * psize);
	s = scan_failing(pid);
	ktap_test_result(s.pages_shared == 1 && s.pages_sharing == 3 && s.stable_node_chains == 0 &&
			 apart(m, 4, 8, 0x55, pfn) && ksmt_bytes_ok(m, 4 * psize, 0x55),
			 "no chain can be allocated: shared %llu sharing %llu chains %llu dups %llu (want 1 3 0 0), the 4 new pages apart and intact",
			 CSTATS(s));
	s = scan_settled();
	ktap_test_result(s.pages_shared == 2 && s.pages_sharing == 6 && s.stable_node_chains == 1 &&
			 s.stable_node_dups == 2 && ksmt_bytes_ok(m, 8 * psize, 0x55),
			 "failures over: shared %llu sharing %llu chains %llu dups %llu (want 2 6 1 2)",
			 CSTATS(s));

	/* A content no KSM page has yet: no stable node can be allocated. */
	memset(m + 8 * psize, 0x66, 8 * psize);
	s = scan_failing(pid);
	ktap_test_result(s.pages_shared == 2 && s.pages_sharing == 6 && apart(m, 8, 16, 0x66, 0),
			 "no stable node can be allocated: shared %llu sharing %llu chains %llu dups %llu (want 2 6), the 8 new pages apart and intact",
			 CSTATS(s));
	s = scan_settled();
	ktap_test_result(s.pages_shared == 4 && s.pages_sharing == 12 && s.stable_node_chains == 2 &&
			 s.stable_node_dups == 4 && ksmt_bytes_ok(m + 8 * psize, 8 * psize, 0x66),
			 "failures over: shared %llu sharing %llu chains %llu dups %llu (want 4 12 2 4)",
			 CSTATS(s));

	/* Every 0x55 page gone: both dups of that chain are stale; prune with the failures on. */
	madvise(m, 8 * psize, MADV_DONTNEED);
	set_sharing(0, 10);
	s = scan_failing(pid);
	ktap_test_result(s.pages_shared == 2 && s.pages_sharing == 6 && s.stable_node_chains == 1 &&
			 s.stable_node_dups == 2 && ksmt_bytes_ok(m + 8 * psize, 8 * psize, 0x66),
			 "chains pruned while allocations fail: shared %llu sharing %llu chains %llu dups %llu (want 2 6 1 2)",
			 CSTATS(s));
	ksmt_set_run(fd, KSMMOD_RUN_UNMERGE);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	set_sharing(256, 2000);
	munmap(m, 24 * psize);
	ksmt_wait_drained(fd);
}

/*
 * Registration of a new process while its slab allocations fail: ADD_PROCESS
 * fails with ENOMEM and (drop-in mode) madvise(MADV_MERGEABLE) with EAGAIN,
 * as the kernel's madvise does when its KSM cannot allocate, and leave the process
 * unregistered and the mapping without VM_MERGEABLE; both work afterwards.
 * Runs in a child (a process ksmmod does not know); exit status: bit 0 ADD_PROCESS
 * wrong, bit 1 madvise wrong, 0x40 skipped madvise (not drop-in).
 */
static int register_child(void)
{
	struct ksmmod_process_stats ps;
	struct ksmmod_process proc;
	int err, mif, ret = 0, mg;
	char *m;

	m = ksmt_map_filled(16, 0x31);
	memset(&proc, 0, sizeof(proc));
	proc.size = sizeof(proc);
	memset(&ps, 0, sizeof(ps));
	ps.size = sizeof(ps);
	/* The fork of a registered process is registered: leave first. */
	if (!ksmt_ioctl(fd, KSMMOD_IOC_PROCESS_STATS, &ps) &&
	    ksmt_ioctl(fd, KSMMOD_IOC_REMOVE_PROCESS, &proc))
		return 0x80;
	if (!ksmt_ioctl(fd, KSMMOD_IOC_PROCESS_STATS, &ps) || errno != ENOENT)
		return 0x80;
	mif = open("/proc/self/make-it-fail", O_WRONLY | O_CLOEXEC);
	if (mif < 0 || write(mif, "0", 1) != 1)
		return 0x80;
	if (pwrite(mif, "1", 1, 0) != 1)
		return 0x80;
	err = ksmt_ioctl(fd, KSMMOD_IOC_ADD_PROCESS, &proc);
	pwrite(mif, "0", 1, 0);
	memset(&ps, 0, sizeof(ps));
	ps.size = sizeof(ps);
	ktap_print_msg("child: ADD_PROCESS failing: %s; PROCESS_STATS: %s", strerror(-err),
		       ksmt_ioctl(fd, KSMMOD_IOC_PROCESS_STATS, &ps) ? strerror(errno) : "registered");
	if (err != -ENOMEM || !ksmt_ioctl(fd, KSMMOD_IOC_PROCESS_STATS, &ps) || errno != ENOENT)
		ret |= 1;
	if (ksmt_dropin()) {
		if (pwrite(mif, "1", 1, 0) != 1)
			return 0x80;
		err = madvise(m, 16 * psize, MADV_MERGEABLE) ? errno : 0;
		pwrite(mif, "0", 1, 0);
		mg = ksmt_vma_has(m, NULL, "mg", NULL);
		ktap_print_msg("child: madvise(MADV_MERGEABLE) failing: %s; VmFlags mg: %d", strerror(err), mg);
		if ((err != EAGAIN && err != ENOMEM) || mg != 0 || !ksmt_ioctl(fd, KSMMOD_IOC_PROCESS_STATS, &ps) ||
		    errno != ENOENT)
			ret |= 2;
		if (madvise(m, 16 * psize, MADV_MERGEABLE) || ksmt_vma_has(m, NULL, "mg", NULL) != 1)
			ret |= 2;
	} else {
		ret |= 0x40;
	}
	if (ksmt_ioctl(fd, KSMMOD_IOC_ADD_PROCESS, &proc) || ksmt_ioctl(fd, KSMMOD_IOC_PROCESS_STATS, &ps))
		ret |= 1;
	return ret;
}

static void registration_failing(void)
{
	int status = -1;
	pid_t pid;

	if (!inject(FS, -1, true))
		ktap_exit_fail_msg("cannot set up %s", FS);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		int r = register_child();

		fflush(stdout);
		_exit(r);
	}
	waitpid(pid, &status, 0);
	inject(FS, -1, false);
	ktap_test_result(WIFEXITED(status) && !(WEXITSTATUS(status) & 0x81),
			 "ADD_PROCESS of a new process whose allocations fail: ENOMEM, not registered; works afterwards (status %#x)",
			 status);
	if (WIFEXITED(status) && (WEXITSTATUS(status) & 0x40))
		ktap_test_skip("madvise(MADV_MERGEABLE) failing", "the module is not in drop-in mode");
	else
		ktap_test_result(WIFEXITED(status) && !(WEXITSTATUS(status) & 0x82),
				 "madvise(MADV_MERGEABLE) whose allocations fail: EAGAIN, no VM_MERGEABLE, not registered; works afterwards (status %#x)",
				 status);
	ksmt_wait_drained(fd);
}

/* /proc/thread-self/fail-nth, kept open: opening it would count as calls too. */
static int fnfd = -1;

/* Make the @n-th fault-injectable call of this thread fail (0: none). */
static void fail_nth(int n)
{
	char v[16];

	snprintf(v, sizeof(v), "%d", n);
	if (pwrite(fnfd, v, strlen(v), 0) != (ssize_t)strlen(v))
		ktap_exit_fail_msg("fail-nth %d: %s", n, strerror(errno));
}

/* The fault-injectable calls left before the failure (0: it happened). */
static long fail_nth_left(void)
{
	char v[32] = "";

	return pread(fnfd, v, sizeof(v) - 1, 0) > 0 ? atol(v) : -1;
}

#define FAR	1000000

/*
 * A line in the kernel log. Between "injecting allocation failures" and
 * "injection over", the stack dumps with which the kernel reports a failed
 * allocation (the module loader's vmalloc, kmem_cache_create()) are expected
 * (test/harness/ktap-summary.sh); any other splat still fails the run.
 */
static void kmsg_mark(const char *what)
{
	char line[128];
	int k = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);

	snprintf(line, sizeof(line), "ksmmod-test: %s\n", what);
	if (k < 0 || write(k, line, strlen(line)) < 0)
		ktap_print_msg("/dev/kmsg: %s", strerror(errno));
	if (k >= 0)
		close(k);
}

/*
 * Load and unload with one slab allocation failing, at NPOINTS points spread
 * over all the allocations the load (the kernel's module loader, then
 * ksmmod's init: symbol resolution, caches, ftrace and kprobe hooks, the
 * device, sysfs, the scanner thread) or the unload (with merged pages
 * handed over) makes in this thread (/proc/thread-self/fail-nth): a load
 * either fails and leaves nothing behind or works; an unload either works or
 * fails and leaves the module working; merged bytes stay intact.
 */
static void load_unload_failing(int npoints)
{
	int loads = 0, failed = 0, bad = 0, unloads = 0, ufailed = 0, ubad = 0, len = 0;
	char outcome[1024] = "";
	long total, utotal = 0, off, first, span;
	unsigned long long seed;
	bool dropin;
	char *m;

	fnfd = open("/proc/thread-self/fail-nth", O_RDWR | O_CLOEXEC);
	if (fnfd < 0)
		ktap_exit_fail_msg("fail-nth: %s", strerror(errno));
	close(fd);
	if (ksmt_unload())
		ktap_exit_fail_msg("rmmod: %s", strerror(errno));
	kmsg_mark("injecting allocation failures (load and unload)");
	/* failslab counts GFP_KERNEL allocations; nobody fails but through fail-nth */
	if (!inject(FS, -1, true) || !ksmt_write_file(FS "probability", "0"))
		ktap_exit_fail_msg("cannot set up %s", FS);
	fail_nth(FAR);
	if (ksmt_load(NULL))
		ktap_exit_fail_msg("insmod: %s", strerror(errno));
	total = FAR - fail_nth_left();
	dropin = ksmt_dropin();
	fail_nth(0);
	if (ksmt_unload())
		ktap_exit_fail_msg("rmmod: %s", strerror(errno));
	/*
	 * Where ksmmod's init starts allocating: a load refused at the end of
	 * symbol resolution makes all the module loader's allocations (and one
	 * for the parameter's string) and none of the init's. The kernel's own
	 * loader WARNs on some of its failures (jump_label_module_notify()):
	 * only ksmmod's init is failed.
	 */
	fail_nth(FAR);
	if (!ksmt_load("require_symbol=ksmmod_no_such_symbol"))
		ktap_exit_fail_msg("insmod with require_symbol=ksmmod_no_such_symbol loaded");
	first = FAR - fail_nth_left() - 1;
	fail_nth(0);
	/* The points: every span/npoints-th allocation, from a seeded offset. */
	span = total - first + 1;
	seed = ksmt_cmdline_ull("ksmmod.seed", 0);
	if (!seed)
		seed = (unsigned long long)time(NULL) ^ getpid();
	off = (long)(seed % (unsigned long long)(span / npoints + 1));
	ktap_print_msg("a load makes %ld allocations here, ksmmod's init from the %ld-th on; failing from %ld on, every %ld-th (seed %llu: replay with ksmmod.seed=%llu)",
		       total, first, first + off, span / npoints, seed, seed);
	for (int k = 0; k < npoints; k++) {
		int n = (int)(first + off + (long)k * span / npoints), err;
		long left;

		fail_nth(0);
		if (ksmt_loaded() && ksmt_unload())
			ktap_exit_fail_msg("rmmod: %s", strerror(errno));
		fail_nth(n);
		err = ksmt_load(NULL);
		left = fail_nth_left();
		fail_nth(0);
		loads++;
		if (len < (int)sizeof(outcome) - 16)
			len += snprintf(outcome + len, sizeof(outcome) - len, " %d:%s", n,
					err ? "refused" : left ? "loaded(not reached)" : "loaded");
		if (err) {
			failed++;
			if (ksmt_loaded() || !access(KSMMOD_DEV, F_OK) || left) {
				bad++;
				ktap_print_msg("load with allocation %d failing: %s, left behind: module %d device %d (fail-nth %ld)",
					       n, strerror(-err), ksmt_loaded(), !access(KSMMOD_DEV, F_OK), left);
			}
		} else {
			/* Loaded: all of it, or the failure went to something optional (debugfs). */
			int dfd = open(KSMMOD_DEV, O_RDWR | O_CLOEXEC);
			struct ksmmod_stats st;

			if (dfd < 0 || ksmt_get_stats(dfd, &st) || access("/sys/kernel/mm/ksmmod/run", F_OK) ||
			    ksmt_dropin() != dropin) {
				bad++;
				ktap_print_msg("load with allocation %d failing: loaded, but device %d, sysfs %d, drop-in %d",
					       n, dfd >= 0, !access("/sys/kernel/mm/ksmmod/run", F_OK), ksmt_dropin());
			}
			if (dfd >= 0)
				close(dfd);
		}
	}
	ktap_print_msg("allocation failing: outcome of the load:%s", outcome);
	ktap_test_result(bad == 0 && failed > 0,
			 "load with one of its init's %ld allocations failing, at %d points: %d refused cleanly, %d loaded, %d left something behind",
			 span, loads, failed, loads - failed, bad);

	/* Unload with merged pages. */
	if (!ksmt_loaded() && ksmt_load(NULL))
		ktap_exit_fail_msg("insmod: %s", strerror(errno));
	fd = ksmt_open();
	/* k = 0 counts the unload's allocations; then one point each, at most npoints. */
	for (int k = 0; k <= (utotal && utotal < npoints ? utotal : npoints); k++) {
		struct ksmmod_stats s;
		int n, err;
		long left;

		m = ksmt_map_filled(16, 0x42);
		if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, 16 * psize))
			ktap_exit_fail_msg("MERGE_RANGE: %s", strerror(errno));
		s = scan_settled();
		close(fd);
		if (!utotal) {
			fail_nth(FAR);
			err = ksmt_unload();
			utotal = FAR - fail_nth_left();
			fail_nth(0);
			if (err)
				ktap_exit_fail_msg("rmmod: %s", strerror(-err));
			ktap_print_msg("an unload with 16 merged pages makes %ld allocations here", utotal);
		} else {
			n = utotal < npoints ? k : 1 + (int)((long)(k - 1) * utotal / npoints);
			fail_nth(n);
			err = ksmt_unload();
			left = fail_nth_left();
			fail_nth(0);
			unloads++;
			if (err) {
				ufailed++;
				fd = ksmt_open();
				s = ksmt_stats(fd);
				close(fd);
				if (!ksmt_loaded() || s.pages_shared != 1 || s.pages_sharing != 15)
					ubad++;
				if (ksmt_unload())
					ktap_exit_fail_msg("rmmod: %s", strerror(errno));
			}
			if (!ksmt_bytes_ok(m, 16 * psize, 0x42) || ksmt_loaded()) {
				ubad++;
				ktap_print_msg("unload with allocation %d failing: %s, fail-nth %ld",
					       n, err ? strerror(-err) : "ok", left);
			}
		}
		memset(m, 0x43, psize);		/* CoW of the handed-over page still works */
		if (!ksmt_bytes_ok(m, psize, 0x43) || !ksmt_bytes_ok(m + psize, 15 * psize, 0x42))
			ubad++;
		munmap(m, 16 * psize);
		if (ksmt_load(NULL))
			ktap_exit_fail_msg("insmod: %s", strerror(errno));
		fd = ksmt_open();
	}
	inject(FS, -1, false);
	kmsg_mark("injection over");
	ktap_test_result(ubad == 0 && unloads > 0,
			 "unload with 16 merged pages and one of its %ld allocations failing, at %d points: %d refused, %d bad (module gone or counters off after a refusal, bytes changed)",
			 utotal, unloads, ufailed, ubad);
}

static void skip_all(const char *why)
{
	for (int i = 0; i < PLAN; i++)
		ktap_test_skip("allocation failures (fault injection)", why);
	exit(ktap_finished());
}

int main(void)
{
	int pid, from, to, status = -1, followed;
	struct ksmmod_stats s;
	uint64_t pfn;
	bool ok;
	long ret;
	char *m;

	ktap_print_header(PLAN);
	if (access(FS "probability", F_OK) || access(FP "probability", F_OK))
		skip_all("no failslab/fail_page_alloc in this kernel (CONFIG_FAILSLAB, CONFIG_FAIL_PAGE_ALLOC, CONFIG_FAULT_INJECTION_DEBUG_FS)");
	if (access("/sys/devices/system/node/node1", F_OK))
		skip_all("guest has a single NUMA node");
	ksmt_ensure_loaded();
	fd = ksmt_open();
	psize = sysconf(_SC_PAGESIZE);
	pid = ksmmodd_pid();
	if (pid < 0)
		ktap_exit_fail_msg("no ksmmodd thread");
	ksmt_set_run(fd, KSMMOD_RUN_STOP);

	m = mmap(NULL, NPAGES * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	madvise(m, NPAGES * psize, MADV_NOHUGEPAGE);
	memset(m + 64 * psize, 0x77, 64 * psize);
	if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, NPAGES * psize))
		ktap_exit_fail_msg("MERGE_RANGE: %s", strerror(errno));
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	s = ksmt_settle(fd, 3);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	ktap_test_result(s.pages_shared == 1 && s.pages_sharing == 63 && s.rmap_items == 64,
			 "merged: shared %llu sharing %llu items %llu (want 1 63 64)",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing,
			 (unsigned long long)s.rmap_items);

	/* New pages before the merged ones: the scan needs items for them first. */
	for (int i = 0; i < 8; i++)
		snprintf(m + i * psize, psize, "new page %d", i);
	if (!failslab(pid, true)) {
		failslab(pid, false);
		ktap_exit_fail_msg("cannot set up failslab for ksmmodd: %s", strerror(errno));
	}
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	usleep(500 * 1000);	/* about 100 batches, each ending at the first page */
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	s = ksmt_stats(fd);
	ktap_test_result(s.pages_shared == 1 && s.pages_sharing == 63 && s.rmap_items == 64,
			 "every item allocation failing: nothing unlinked (shared %llu sharing %llu items %llu, want 1 63 64)",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing,
			 (unsigned long long)s.rmap_items);

	/* Migration finds every mapping through the items (still failing). */
	from = node_of(m + 64 * psize);
	to = from == 0 ? 1 : 0;
	ret = ksmt_move_page(m + 64 * psize, to, &status);
	pfn = ksmt_pfn_of(m + 64 * psize);
	followed = 0;
	for (int i = 64; i < NPAGES; i++)
		followed += pfn && ksmt_pfn_of(m + i * psize) == pfn && node_of(m + i * psize) == to;
	failslab(pid, false);
	ktap_test_result(ret == 0 && status == to && followed == 64,
			 "move_pages of the KSM page during the failures: node %d->%d (ret %ld), %d of 64 mappings followed",
			 from, status, ret, followed);

	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	s = ksmt_settle(fd, 3);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	ok = ksmt_bytes_ok(m + 64 * psize, 64 * psize, 0x77);
	for (int i = 0; i < 8; i++) {
		char want[64] = "";

		snprintf(want, sizeof(want), "new page %d", i);
		ok = ok && !memcmp(m + i * psize, want, sizeof(want));
	}
	ktap_test_result(ok && s.pages_shared == 1 && s.pages_sharing == 63 && s.rmap_items == 72 &&
			 s.pages_unshared == 8,
			 "failures over: shared %llu sharing %llu unshared %llu items %llu (want 1 63 8 72), bytes intact",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing,
			 (unsigned long long)s.pages_unshared, (unsigned long long)s.rmap_items);
	ksmt_set_run(fd, KSMMOD_RUN_UNMERGE);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	munmap(m, NPAGES * psize);
	caller_failing();
	scanner_nodes_failing(pid);
	registration_failing();
	if (access("/proc/thread-self/fail-nth", W_OK))
		for (int i = 0; i < 2; i++)
			ktap_test_skip("load and unload with an allocation failing", "no /proc/thread-self/fail-nth");
	else
		load_unload_failing((int)ksmt_cmdline_ull("ksmmod.failpoints", 24));
	close(fd);
	return ktap_finished();
}
