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
 * Needs CONFIG_FAILSLAB (the debug lane); Debian's stock kernels have no
 * fault injection, so there it skips and says so.
 */
#include <dirent.h>
#include <stdint.h>
#include <sys/mman.h>

#include "ksmtest.h"

#define NPAGES	128	/* 0-7: new pages faulted in later; 64-127: one content */
#define FS	"/sys/kernel/debug/failslab/"
#define FP	"/sys/kernel/debug/fail_page_alloc/"
#define PLAN	8

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

static void skip_all(const char *why)
{
	for (int i = 0; i < PLAN; i++)
		ktap_test_skip("rmap item allocation failure mid-scan", why);
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
	close(fd);
	return ktap_finished();
}
