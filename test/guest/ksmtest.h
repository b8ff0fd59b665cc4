/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by ksmmod's in-guest tests: loading the module, talking to
 * /dev/ksmmod, reading the kernel log.
 */
#ifndef KSMMOD_KSMTEST_H
#define KSMMOD_KSMTEST_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/kernel-page-flags.h>
#include <linux/ksmmod.h>

#include "ktap.h"

#define KSMMOD_KO	"/ksmmod.ko"
#define KSMMOD_DEV	"/dev/ksmmod"

/* finit_module(2) of /ksmmod.ko with @params exactly; returns 0 or -errno. */
static inline int ksmt_load_raw(const char *params)
{
	int fd = open(KSMMOD_KO, O_RDONLY | O_CLOEXEC);
	int ret, err;

	if (fd < 0)
		return -errno;
	ret = syscall(SYS_finit_module, fd, params ? params : "", 0);
	err = errno;
	close(fd);
	return ret ? -err : 0;
}

/*
 * finit_module(2) of /ksmmod.ko with @params; returns 0 or -errno. On a
 * kernel without BTF (the debug lane's, built from the same sources as the
 * stock 6.12) the module's layout guard cannot check anything and refuses to
 * load unless told that the layout is known: 66-layout-guard tests that
 * refusal, every other test loads with layout_unverified=1 there.
 */
static inline int ksmt_load(const char *params)
{
	char buf[512];

	if (access("/sys/kernel/btf/vmlinux", F_OK) == 0)
		return ksmt_load_raw(params);
	snprintf(buf, sizeof(buf), "%s layout_unverified=1", params ? params : "");
	return ksmt_load_raw(buf);
}

/* delete_module(2); returns 0 or -errno. */
static inline int ksmt_unload(void)
{
	return syscall(SYS_delete_module, "ksmmod", O_NONBLOCK) ? -errno : 0;
}

static inline bool ksmt_loaded(void)
{
	return access("/sys/module/ksmmod", F_OK) == 0;
}

/* Load the module unless it is loaded; bail out if that fails. */
static inline void ksmt_ensure_loaded(void)
{
	int err;

	if (ksmt_loaded())
		return;
	err = ksmt_load(NULL);
	if (err)
		ktap_exit_fail_msg("cannot load %s: %s", KSMMOD_KO, strerror(-err));
}

static inline int ksmt_open(void)
{
	int fd = open(KSMMOD_DEV, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		ktap_exit_fail_msg("open %s: %s", KSMMOD_DEV, strerror(errno));
	return fd;
}

/* ioctl returning 0 or -errno. */
static inline int ksmt_ioctl(int fd, unsigned long cmd, void *arg)
{
	return ioctl(fd, cmd, arg) ? -errno : 0;
}

static inline int ksmt_get_params(int fd, struct ksmmod_params *p)
{
	memset(p, 0, sizeof(*p));
	p->size = sizeof(*p);
	return ksmt_ioctl(fd, KSMMOD_IOC_GET_PARAMS, p);
}

static inline int ksmt_get_stats(int fd, struct ksmmod_stats *s)
{
	memset(s, 0, sizeof(*s));
	s->size = sizeof(*s);
	return ksmt_ioctl(fd, KSMMOD_IOC_GET_STATS, s);
}

/* Set one or more tunables: @mask selects the fields of @p to apply. */
static inline int ksmt_set_params(int fd, struct ksmmod_params *p, __u64 mask)
{
	p->size = sizeof(*p);
	p->flags = 0;
	p->mask = mask;
	return ksmt_ioctl(fd, KSMMOD_IOC_SET_PARAMS, p);
}

/* Read a whole (small) file into @buf; returns bytes read or -errno. */
static inline ssize_t ksmt_read_file(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, total = 0;

	if (fd < 0)
		return -errno;
	while (total < (ssize_t)size - 1 && (n = read(fd, buf + total, size - 1 - total)) > 0)
		total += n;
	close(fd);
	buf[total] = '\0';
	return total;
}

/* Kernel log reader: records printed after ksmt_kmsg_open(). */
static inline int ksmt_kmsg_open(void)
{
	int fd = open("/dev/kmsg", O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	if (fd >= 0)
		lseek(fd, 0, SEEK_END);
	return fd;
}

/* True if a record read from @fd (since open) contains @needle. */
static inline bool ksmt_kmsg_contains(int fd, const char *needle)
{
	char rec[2048];
	bool found = false;
	ssize_t n;

	for (;;) {
		n = read(fd, rec, sizeof(rec) - 1);
		if (n < 0 && errno == EPIPE)
			continue;	/* overwritten records: keep reading */
		if (n <= 0)
			break;
		rec[n] = '\0';
		if (strstr(rec, needle)) {
			printf("# kmsg: %s", strchr(rec, ';') ? strchr(rec, ';') + 1 : rec);
			found = true;
		}
	}
	return found;
}

static inline const char *ksmt_release(void)
{
	static struct utsname u;

	if (!u.release[0])
		uname(&u);
	return u.release;
}

/* ADD_PROCESS or REMOVE_PROCESS (@cmd) of @pidfd (0: the caller), no flags; 0 or -errno. */
static inline int ksmt_process(int fd, unsigned long cmd, int pidfd)
{
	struct ksmmod_process p;

	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.pidfd = pidfd;
	return ksmt_ioctl(fd, cmd, &p);
}

/* MERGE_RANGE or UNMERGE_RANGE (@cmd) of the caller's [@start, +@len); 0 or -errno. */
static inline int ksmt_range(int fd, unsigned long cmd, void *start, uint64_t len)
{
	struct ksmmod_range r;

	memset(&r, 0, sizeof(r));
	r.size = sizeof(r);
	r.start = (uintptr_t)start;
	r.length = len;
	return ksmt_ioctl(fd, cmd, &r);
}

/*
 * @npages private anonymous pages, no THP, every byte @byte; NULL if mmap()
 * failed (errno set): the caller fails the test, or exits if it is a child.
 */
static inline char *ksmt_map_filled(long npages, int byte)
{
	long psize = sysconf(_SC_PAGESIZE);
	char *m = mmap(NULL, npages * psize, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		return NULL;
	madvise(m, npages * psize, MADV_NOHUGEPAGE);
	memset(m, byte, npages * psize);
	return m;
}

/**
 * ksmt_read_u64_at() - the @index-th 64-bit word of @path
 * @path: a file of one word per page (/proc/PID/pagemap, /proc/kpageflags)
 * @index: the page (virtual page number or PFN)
 * @v: set to the word (undefined on failure)
 *
 * Return: 0, or -1 with errno set (a short read sets EIO).
 */
static inline int ksmt_read_u64_at(const char *path, uint64_t index, uint64_t *v)
{
	int f = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (f < 0)
		return -1;
	n = pread(f, v, sizeof(*v), index * sizeof(*v));
	close(f);
	if (n == sizeof(*v))
		return 0;
	if (n >= 0)
		errno = EIO;
	return -1;
}

/**
 * ksmt_kpageflags() - the /proc/kpageflags word of page frame @pfn (needs root)
 * @pfn: the page frame
 * @flags: set to its flags (bit numbers KPF_* of linux/kernel-page-flags.h)
 *
 * Return: 0, or -1 (and *@flags 0) if the file cannot be read there.
 */
static inline int ksmt_kpageflags(uint64_t pfn, uint64_t *flags)
{
	if (ksmt_read_u64_at("/proc/kpageflags", pfn, flags)) {
		*flags = 0;
		return -1;
	}
	return 0;
}

/**
 * ksmt_pagemap_entry() - the /proc/PID/pagemap entry of one page
 * @pid: the process (0: the caller)
 * @addr: an address in its page
 *
 * Needs root to see PFNs (and another process's entries at all). Bails out
 * if the file cannot be read.
 *
 * Return: the raw 64-bit entry (bit 63 present, bit 62 swapped, bits 0-54
 * the PFN of a present page).
 */
static inline uint64_t ksmt_pagemap_entry(pid_t pid, uint64_t addr)
{
	long psize = sysconf(_SC_PAGESIZE);
	char path[64];
	uint64_t e = 0;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/pagemap");
	if (ksmt_read_u64_at(path, addr / psize, &e))
		ktap_exit_fail_msg("%s: %s", path, strerror(errno));
	return e;
}

/* PFN mapped at @addr in this process (0: not present); needs root. */
static inline uint64_t ksmt_pfn_of(void *addr)
{
	uint64_t e = ksmt_pagemap_entry(0, (uintptr_t)addr);

	return (e >> 63) ? (e & ((1ULL << 55) - 1)) : 0;
}

/**
 * ksmt_pfn_all() - the one PFN that @n pages of a process map
 * @pid: the process (0: the caller)
 * @addr: the first page
 * @n: how many pages
 *
 * For a process whose @n identical pages are expected to be merged into one
 * KSM page: says which page that is, read by root from its pagemap.
 *
 * Return: the PFN every one of the pages maps, or 0 if one is not present
 * or they do not all map the same page (the first difference is printed).
 */
static inline uint64_t ksmt_pfn_all(pid_t pid, uint64_t addr, int n)
{
	long psize = sysconf(_SC_PAGESIZE);
	uint64_t e, pfn = 0;

	for (int i = 0; i < n; i++) {
		e = ksmt_pagemap_entry(pid, addr + i * psize);
		e = (e >> 63) ? (e & ((1ULL << 55) - 1)) : 0;
		if (!i) {
			pfn = e;
		} else if (e != pfn && pfn) {
			ktap_print_msg("pid %d: page %d maps %#llx, page 0 %#llx", pid, i,
				       (unsigned long long)e, (unsigned long long)pfn);
			pfn = 0;
		}
	}
	return pfn;
}

#define KSMT_DOMAINS	"/sys/kernel/mm/ksmmod/merge_domains"

/* Whether merge_domains reads @want (what it reads is printed if not). */
static inline bool ksmt_domains_read(const char *want)
{
	char buf[64] = "";

	ksmt_read_file(KSMT_DOMAINS, buf, sizeof(buf));
	buf[strcspn(buf, "\n")] = '\0';
	if (strcmp(buf, want))
		ktap_print_msg("merge_domains reads '%s', want '%s'", buf, want);
	return !strcmp(buf, want);
}

/* Counters, or bail out. */
static inline struct ksmmod_stats ksmt_stats(int fd)
{
	struct ksmmod_stats s;

	if (ksmt_get_stats(fd, &s))
		ktap_exit_fail_msg("GET_STATS failed");
	return s;
}

/*
 * Set run, with a fast scan rate for tests (1000 pages every 5 ms). While it
 * runs for a test, smart scan is off: tests count what a given number of
 * full scans does, and smart scan would skip unique pages from their fifth
 * scan on (83-smartscan and the soak test it); stopping restores the
 * default (on).
 */
static inline void ksmt_set_run(int fd, unsigned int run)
{
	struct ksmmod_params p;

	memset(&p, 0, sizeof(p));
	p.run = run;
	p.pages_to_scan = 1000;
	p.sleep_millisecs = 5;
	p.smart_scan = run != KSMMOD_RUN_MERGE;
	if (ksmt_set_params(fd, &p, KSMMOD_PARAM_RUN | KSMMOD_PARAM_PAGES_TO_SCAN |
			    KSMMOD_PARAM_SLEEP_MILLISECS | KSMMOD_PARAM_SMART_SCAN))
		ktap_exit_fail_msg("SET_PARAMS run=%u: %s", run, strerror(errno));
}

/* Set use_zero_pages through @fd, or bail out. */
static inline void ksmt_set_zero_pages(int fd, unsigned int on)
{
	struct ksmmod_params p;

	memset(&p, 0, sizeof(p));
	p.use_zero_pages = on;
	if (ksmt_set_params(fd, &p, KSMMOD_PARAM_USE_ZERO_PAGES))
		ktap_exit_fail_msg("SET_PARAMS use_zero_pages=%u: %s", on, strerror(errno));
}

/*
 * Wait (at most 60 s) for @n more full scans; print and return the counters.
 * They are read with the scanner stopped between two batches (run=0 returns
 * once its batch is done, as with the kernel's KSM) and then restarted:
 * while it runs, a read can catch a page's item out of the unstable tree for
 * the moment it takes to insert it again (pages_unshared one short).
 */
static inline struct ksmmod_stats ksmt_settle(int fd, int n)
{
	uint64_t target = ksmt_stats(fd).full_scans + n;
	struct timespec t = { 0, 20 * 1000 * 1000 };
	struct ksmmod_params p;
	struct ksmmod_stats s;
	bool running;

	for (int i = 0; i < 3000 && ksmt_stats(fd).full_scans < target; i++)
		nanosleep(&t, NULL);
	running = !ksmt_get_params(fd, &p) && p.run == KSMMOD_RUN_MERGE;
	if (running) {
		p.run = KSMMOD_RUN_STOP;
		if (ksmt_set_params(fd, &p, KSMMOD_PARAM_RUN))
			ktap_exit_fail_msg("SET_PARAMS run=0: %s", strerror(errno));
	}
	s = ksmt_stats(fd);
	if (running) {
		p.run = KSMMOD_RUN_MERGE;
		if (ksmt_set_params(fd, &p, KSMMOD_PARAM_RUN))
			ktap_exit_fail_msg("SET_PARAMS run=1: %s", strerror(errno));
	}
	if (s.full_scans < target)
		ktap_print_msg("timeout waiting for %d full scans", n);
	ktap_print_msg("full_scans %llu shared %llu sharing %llu unshared %llu volatile %llu items %llu scanned %llu",
		       (unsigned long long)s.full_scans, (unsigned long long)s.pages_shared,
		       (unsigned long long)s.pages_sharing, (unsigned long long)s.pages_unshared,
		       (unsigned long long)s.pages_volatile, (unsigned long long)s.rmap_items,
		       (unsigned long long)s.pages_scanned);
	return s;
}

/* Print file @path as "# @what: LINE" diagnostics (nothing if unreadable). */
static inline void ksmt_print_file(const char *what, const char *path)
{
	char buf[4096], *line, *save;

	if (ksmt_read_file(path, buf, sizeof(buf)) <= 0)
		return;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		ktap_print_msg("%s: %s", what, line);
}

/*
 * The scanner's merge runs so far (debugfs: runs of several pages of one
 * page table merged in one visit, and the pages they merged); false if
 * unreadable.
 */
static inline bool ksmt_merge_runs(long long *runs, long long *pages)
{
	char buf[256], *l;

	if (ksmt_read_file("/sys/kernel/debug/ksmmod/scanner", buf, sizeof(buf)) <= 0)
		return false;
	l = strstr(buf, "merge_runs ");
	return l && sscanf(l, "merge_runs %lld\nmerge_run_pages %lld", runs, pages) == 2;
}

/* Whether the loaded module is in drop-in mode (module parameter dropin). */
static inline bool ksmt_dropin(void)
{
	char buf[8];

	return ksmt_read_file("/sys/module/ksmmod/parameters/dropin", buf, sizeof(buf)) > 0 &&
	       buf[0] == 'Y';
}

/* Write @val to the file @path; true on success. */
static inline bool ksmt_write_file(const char *path, const char *val)
{
	int f = open(path, O_WRONLY | O_CLOEXEC);
	bool ok = f >= 0 && write(f, val, strlen(val)) == (ssize_t)strlen(val);

	if (f >= 0)
		close(f);
	return ok;
}

/*
 * Poll the counters of @fd into @s (up to 10 s: debug kernels are slow)
 * until @cond holds.
 */
#define KSMT_WAIT_STATS(fd, s, cond)						\
	do {									\
		for (int _i = 0; _i < 1000; _i++) {				\
			s = ksmt_stats(fd);					\
			if (cond)						\
				break;						\
			usleep(10000);						\
		}								\
	} while (0)

/*
 * A 2 MiB-aligned, 2 MiB anonymous region asking for a huge page
 * (MADV_HUGEPAGE), every byte @byte; bails out if it cannot be mapped.
 * Whether a huge page backs it is the caller's to check.
 */
#define KSMT_HPAGE	(2UL << 20)
static inline char *ksmt_map_thp(int byte)
{
	char *raw = mmap(NULL, 2 * KSMT_HPAGE, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *mem;

	if (raw == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	mem = (char *)(((uintptr_t)raw + KSMT_HPAGE - 1) & ~(KSMT_HPAGE - 1));
	madvise(mem, KSMT_HPAGE, MADV_HUGEPAGE);
	memset(mem, byte, KSMT_HPAGE);
	return mem;
}

/* Write @val to @path in one write(); 0 or -errno (the errno a sysfs store returned). */
static inline int ksmt_write_errno(const char *path, const char *val)
{
	int f = open(path, O_WRONLY | O_CLOEXEC);
	int err = 0;

	if (f < 0)
		return -errno;
	if (write(f, val, strlen(val)) < 0)
		err = -errno;
	close(f);
	return err;
}

/* Whether every byte of [@m, @m + @len) is @byte. */
static inline bool ksmt_bytes_ok(const char *m, long len, int byte)
{
	for (long i = 0; i < len; i++)
		if (m[i] != (char)byte)
			return false;
	return true;
}

#ifndef MPOL_MF_MOVE_ALL
#define MPOL_MF_MOVE_ALL	(1 << 2)	/* pages mapped more than once too (root) */
#endif

/*
 * move_pages(2) of the page at @addr to NUMA node @node (with
 * MPOL_MF_MOVE_ALL, so a KSM page moves too), or (@node < 0) only query its
 * node into @status. Returns the syscall's result.
 */
static inline long ksmt_move_page(void *addr, int node, int *status)
{
	void *pages[1] = { addr };
	int nodes[1] = { node };

	return syscall(SYS_move_pages, 0, 1UL, pages, node < 0 ? NULL : nodes, status,
		       MPOL_MF_MOVE_ALL);
}

/**
 * ksmt_move_pages_of() - move_pages(2) of another process's pages
 * @pid: the process (0: the caller); root may move anyone's
 * @addr: the first of @n consecutive pages
 * @n: how many (at most 512)
 * @node: the NUMA node to move them to; < 0: only query their nodes
 * @status: @n entries, set to each page's node or -errno
 *
 * With MPOL_MF_MOVE_ALL, so that a KSM page (mapped more than once) moves
 * too, with every one of its mappings in every process.
 *
 * Return: the syscall's result (0, the number of pages not moved, or -1).
 */
static inline long ksmt_move_pages_of(pid_t pid, uint64_t addr, int n, int node, int *status)
{
	long psize = sysconf(_SC_PAGESIZE);
	void *pages[512];
	int nodes[512];

	if (n > 512)
		ktap_exit_fail_msg("ksmt_move_pages_of: %d pages", n);
	for (int i = 0; i < n; i++) {
		pages[i] = (void *)(uintptr_t)(addr + i * psize);
		nodes[i] = node;
	}
	return syscall(SYS_move_pages, pid, (unsigned long)n, pages, node < 0 ? NULL : nodes,
		       status, MPOL_MF_MOVE_ALL);
}

/* Load the modules listed in /modules.order (zram and its dependencies). */
static inline void ksmt_load_listed_modules(void)
{
	char list[1024], path[300], *name, *save;

	if (ksmt_read_file("/modules.order", list, sizeof(list)) <= 0)
		return;
	for (name = strtok_r(list, "\n", &save); name; name = strtok_r(NULL, "\n", &save)) {
		int mfd, flags = strstr(name, ".xz") ? 4 /* MODULE_INIT_COMPRESSED_FILE */ : 0;

		snprintf(path, sizeof(path), "/%s", name);
		mfd = open(path, O_RDONLY | O_CLOEXEC);
		if (mfd < 0)
			continue;
		if (syscall(SYS_finit_module, mfd, "", flags) && errno != EEXIST)
			ktap_print_msg("loading %s: %s", name, strerror(errno));
		close(mfd);
	}
}

/* Set up 128 MiB of swap on /dev/zram0 (once per boot); false if impossible. */
static inline bool ksmt_swap_on(void)
{
	char buf[4096];

	if (ksmt_read_file("/proc/swaps", buf, sizeof(buf)) > 0 && strstr(buf, "/dev/zram0"))
		return true;
	ksmt_load_listed_modules();
	if (access("/sys/block/zram0", F_OK))
		return false;
	ksmt_write_file("/sys/block/zram0/comp_algorithm", "lzo-rle");
	/* Sized by an earlier test of this boot (it cannot be sized twice)? */
	if (!ksmt_write_file("/sys/block/zram0/disksize", "128M") &&
	    (ksmt_read_file("/sys/block/zram0/disksize", buf, sizeof(buf)) <= 0 || !atoll(buf)))
		return false;
	if (system("mkswap /dev/zram0 >/dev/null 2>&1"))
		return false;
	return syscall(SYS_swapon, "/dev/zram0", 0) == 0;
}

/* Put this process in its own memory cgroup (cgroup v2); false if impossible. */
static inline bool ksmt_own_memcg(void)
{
	char pid[32];

	mkdir("/sys/fs/cgroup", 0755);
	if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) &&
	    system("mount -t cgroup2 none /sys/fs/cgroup"))
		return false;
	ksmt_write_file("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
	mkdir("/sys/fs/cgroup/ksmtest", 0755);
	snprintf(pid, sizeof(pid), "%d", getpid());
	return ksmt_write_file("/sys/fs/cgroup/ksmtest/cgroup.procs", pid) &&
	       !access("/sys/fs/cgroup/ksmtest/memory.reclaim", W_OK);
}

/*
 * Number of pages of process @pid's (0: the caller's) [@addr, @addr + @n
 * pages) that pagemap reports swapped out (needs root for another process).
 */
static inline int ksmt_swapped_pages_of(pid_t pid, uint64_t addr, int n)
{
	long psize = sysconf(_SC_PAGESIZE);
	char path[64];
	int pm, count = 0;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/pagemap");
	pm = open(path, O_RDONLY | O_CLOEXEC);
	for (int i = 0; i < n; i++) {
		uint64_t e = 0;

		if (pread(pm, &e, sizeof(e), (addr + i * psize) / psize * sizeof(e)) ==
		    sizeof(e) && (e >> 62 & 1))
			count++;
	}
	close(pm);
	return count;
}

/* Number of pages of [@p, @p + @n pages) that pagemap reports swapped out. */
static inline int ksmt_swapped_pages(char *p, int n)
{
	return ksmt_swapped_pages_of(0, (uintptr_t)p, n);
}

/*
 * Have the memory cgroup of ksmt_own_memcg() reclaim (swap out) its memory
 * until all of process @pid's (0: the caller's) [@addr, @addr + @n pages)
 * is out, at most 200 times: recently used pages take passes of LRU aging
 * first, and 6.1's reclaim needs many more passes than 6.12's for pages
 * mapped many times. The process must be in that cgroup (a child forked
 * after ksmt_own_memcg() is). Returns the pages out.
 */
static inline int ksmt_reclaim_of(pid_t pid, uint64_t addr, int n)
{
	ksmt_write_file("/proc/sys/vm/swappiness", "200");
	for (int i = 0; i < 200 && ksmt_swapped_pages_of(pid, addr, n) < n; i++) {
		ksmt_write_file("/sys/fs/cgroup/ksmtest/memory.reclaim", "64M");
		usleep(10000);
	}
	ksmt_write_file("/proc/sys/vm/swappiness", "60");
	return ksmt_swapped_pages_of(pid, addr, n);
}

/* ksmt_reclaim_of() of the caller's [@p, @p + @n pages). */
static inline int ksmt_reclaim(char *p, int n)
{
	return ksmt_reclaim_of(0, (uintptr_t)p, n);
}

/*
 * The VmFlags of the mapping containing @addr contain @flag (smaps); -1 if
 * no mapping contains it. Optionally counts the mappings overlapping
 * [@addr, @end) in *@nvmas.
 */
static inline int ksmt_vma_has(void *addr, void *end, const char *flag, int *nvmas)
{
	FILE *f = fopen("/proc/self/smaps", "re");
	unsigned long a = (unsigned long)addr, e = end ? (unsigned long)end : a + 1;
	unsigned long s, t;
	char line[512], tok[8];
	int found = -1, in = 0;

	if (nvmas)
		*nvmas = 0;
	if (!f)
		return -1;
	snprintf(tok, sizeof(tok), " %s", flag);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &s, &t) == 2 && strchr(line, '-') &&
		    line[strspn(line, "0123456789abcdef")] == '-') {
			in = s <= a && a < t;
			if (nvmas && s < e && t > a)
				(*nvmas)++;
			continue;
		}
		if (in && !strncmp(line, "VmFlags:", 8)) {
			char *nl = strchr(line, '\n');

			if (nl)
				*nl = ' ';
			strcat(line, " ");
			snprintf(tok, sizeof(tok), " %s ", flag);
			found = strstr(line + 8, tok) != NULL;
			in = 0;
		}
	}
	fclose(f);
	return found;
}

/* KSMMOD_IOC_PROCESS_STATS of @pidfd (0: the caller) into @ps; 0 or -errno. */
static inline int ksmt_process_stats(int fd, uint32_t pidfd, struct ksmmod_process_stats *ps)
{
	memset(ps, 0, sizeof(*ps));
	ps->size = sizeof(*ps);
	ps->pidfd = pidfd;
	return ksmt_ioctl(fd, KSMMOD_IOC_PROCESS_STATS, ps);
}

#define KSMT_KSMMODCTL	"/bin/ksmmodctl"

/* Read @fd to its end into @buf (@size with the NUL), then close it. */
static inline void ksmt_read_all(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;

	while (len < size - 1 && (n = read(fd, buf + len, size - 1 - len)) > 0)
		len += n;
	buf[len] = '\0';
	close(fd);
}

/*
 * Run /bin/ksmmodctl with @argv, its standard output into @out and its
 * standard error into @err (either NULL: left as ours); returns its exit
 * code (127: it could not be run, 128: killed).
 */
static inline int ksmt_ksmmodctl(char *const argv[], char *out, size_t olen, char *err, size_t elen)
{
	int po[2], pe[2], status;
	pid_t pid;

	if ((out && pipe(po)) || (err && pipe(pe)))
		ktap_exit_fail_msg("pipe: %s", strerror(errno));
	pid = fork();
	if (pid == 0) {
		if (out)
			dup2(po[1], 1);
		if (err)
			dup2(pe[1], 2);
		execv(KSMT_KSMMODCTL, argv);
		_exit(127);
	}
	if (out) {
		close(po[1]);
		ksmt_read_all(po[0], out, olen);
	}
	if (err) {
		close(pe[1]);
		ksmt_read_all(pe[0], err, elen);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/*
 * Wait (up to 10 s) until nothing is merged or tracked any more: for the end
 * of a test, when no registered process may be left to scan (so no full
 * scan to wait for, as ksmt_settle() does). Returns the last statistics.
 */
static inline struct ksmmod_stats ksmt_wait_drained(int fd)
{
	struct ksmmod_stats s;

	for (int i = 0; i < 100; i++) {
		s = ksmt_stats(fd);
		if (!s.pages_shared && !s.pages_sharing && !s.pages_unshared && !s.rmap_items &&
		    !s.mm_slots)
			break;
		usleep(100 * 1000);
	}
	return s;
}

/*
 * The value of "@key=N" on the guest's kernel command line (set per lane by
 * scripts/check.sh, e.g. ksmmod.soak=300 on the debug lane), or @def. The
 * last occurrence counts, as in init.sh: KSMMOD_CMDLINE comes after the
 * lane's settings and overrides them.
 */
static inline unsigned long long ksmt_cmdline_ull(const char *key, unsigned long long def)
{
	char buf[4096], *p = buf, *tok;
	size_t klen = strlen(key);
	unsigned long long val = def;

	if (ksmt_read_file("/proc/cmdline", buf, sizeof(buf)) <= 0)
		return def;
	while ((tok = strsep(&p, " \n"))) {
		if (!strncmp(tok, key, klen) && tok[klen] == '=' && tok[klen + 1])
			val = strtoull(tok + klen + 1, NULL, 0);
	}
	return val;
}

#endif /* KSMMOD_KSMTEST_H */
