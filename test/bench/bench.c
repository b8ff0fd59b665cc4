// SPDX-License-Identifier: GPL-2.0
/*
 * bench - one ksmmod benchmark workload, run in the guest by bench-guest.sh.
 *
 *   bench WORKLOAD SYSFS_DIR MIB
 *
 * SYSFS_DIR is /sys/kernel/mm/ksm (the kernel's KSM) or /sys/kernel/mm/ksmmod
 * (ksmmod in drop-in mode): the program is the same for both, it only uses
 * madvise(MADV_MERGEABLE) and the sysfs files, so both implementations run
 * exactly the same workload. Output: "# bench key=value ..." lines (parsed
 * by scripts/bench.sh) and "# progress t=SECONDS saved_mib=MIB" samples.
 *
 * Workloads:
 *   merge        4 processes x MIB of identical pages; pages_to_scan 10000,
 *                sleep 0, max_page_sharing above the page count (both):
 *                seconds until pages_sharing reaches its final value
 *   merge-half   the same with half of each process's pages unique
 *   cpu          4 processes x MIB identical at the default knobs (100 pages
 *                / 20 ms): scanner CPU time per merged page, pages scanned/s
 *   unique       MIB of unique pages, pages_to_scan 10000, sleep 0: scanner
 *                CPU time per scanned page over 3 full scans
 *   ceiling      memcmp() and xxh64 of 4 KiB pages in this guest (MIB of data)
 *   unmerge-run2, unmerge-madvise, unmerge-range
 *                4 processes x MIB/4 of identical pages merged (MIB in all),
 *                then undone by run=2, by madvise(MADV_UNMERGEABLE) in each
 *                process, or by the range call: ksmmod's UNMERGE_RANGE ioctl,
 *                the kernel's madvise(MADV_UNMERGEABLE) (its only range call);
 *                MiB/s of merged mappings made private again
 *   cow          (third argument: N pages, not MiB) N pages merged in pairs
 *                and N tracked unique pages: time to write one byte into each
 *                of the N merged pages (a CoW fault each) vs the N unmerged
 *   rmap         (third argument: M mappings; a fourth: max_page_sharing)
 *                one content in M pages over 4 processes; when merged, time
 *                move_pages(MPOL_MF_MOVE_ALL) of single merged pages to the
 *                other NUMA node and MADV_PAGEOUT of them (process_madvise),
 *                with the page's mapcount (from /proc/kpagecount)
 *   metadata     4 processes x MIB, half unique: slab memory of the
 *                implementation's caches per tracked page after 3 full scans
 *   densify      4 processes x MIB of one content merged at max_page_sharing
 *                256 (chains of dups), then 90% of the pages unmapped
 *                (MADV_DONTNEED, spread over every dup): at the default knobs,
 *                pages_shared/pages_sharing and scanner CPU over the next 30 s
 *                (10 s below 16 MiB)
 *                (ksmmod with its default densify_chains=1; the kernel keeps
 *                its half-empty dups)
 *   sparse       (third argument: G GiB) a G GiB MAP_NORESERVE mapping with
 *                2048 pages touched, evenly spread, 1024 pairs of equal
 *                contents; pages_to_scan 10000, sleep 0: seconds and scanner
 *                CPU per full scan, over up to 20 full scans after the first
 *                (at most 60 s in all: no full scan in that time is reported
 *                as scans=0); then unmapped without unmerging (the kernel's
 *                KSM unmerges address by address), the scanner left running
 *                until pages_shared and pages_sharing are 0 again (30 s at
 *                most, else an error)
 *   sparse-wide  the same over G GiB (bench-guest.sh: 4 TiB, one page every
 *                2 GiB: a page table and a PMD table per page)
 *   sparse-dense the same 2048 pages in one dense mapping
 *   advisor      MIB of unique pages, advisor_mode scan-time with a target
 *                scan time of 5 s (2 s below 128 MiB), min pages 100, default
 *                max_cpu, smart_scan 0 (it would skip the unique pages), for 18 target scan times (8 s below 16 MiB): every
 *                full scan's time, CPU share and pages_to_scan after it
 *                ("# bench-advisor-scan" lines), then the last 3 full scans'
 *                mean time and CPU share, the final pages_to_scan and the
 *                second scan's time (the first starts mid-way)
 *   scale        (a fourth argument: P processes) P processes x MIB of one
 *                content, pages_to_scan 10000, sleep 0: time and scanner CPU
 *                to merge, slab memory per tracked page when merged (workload
 *                scale-PxMIB; bench-guest.sh runs the sizes and counts)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/ksmmod.h>

#define NPROC	4
/* MPOL_MF_MOVE_ALL of <numaif.h> (libnuma is not needed for one flag). */
#define MPOL_MF_MOVE_ALL_	(1 << 2)

static const char *sysdir;
static long psize;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* The number at the start of file @dir/@name; -1 if unreadable. */
static long read_long_at(const char *dir, const char *name)
{
	char path[PATH_MAX + 64], buf[64];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	return atol(buf);
}

static long sys_get(const char *name)
{
	return read_long_at(sysdir, name);
}

static void sys_set(const char *name, long v)
{
	char path[256], buf[32];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", sysdir, name);
	snprintf(buf, sizeof(buf), "%ld", v);
	fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, buf, strlen(buf)) < 0) {
		fprintf(stderr, "bench: cannot set %s=%ld: %s\n", path, v, strerror(errno));
		exit(1);
	}
	close(fd);
}

/*
 * CPU seconds of the kernel thread named @comm, or -1: the scheduler's run
 * time from /proc/<pid>/schedstat (ns), else utime + stime from
 * /proc/<pid>/stat (clock ticks: 10 ms steps, coarse for short workloads).
 */
static double thread_cpu(const char *comm)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	double cpu = -1;

	while (d && (e = readdir(d))) {
		char path[300], buf[512];
		unsigned long long ns;
		unsigned long ut, st;
		int fd;
		ssize_t n;
		char *p;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/stat", e->d_name);
		fd = open(path, O_RDONLY);
		if (fd < 0)
			continue;
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		if (n <= 0)
			continue;
		buf[n] = 0;
		p = strchr(buf, '(');
		if (!p || strncmp(p + 1, comm, strlen(comm)) || p[1 + strlen(comm)] != ')')
			continue;
		p = strrchr(buf, ')');
		/* fields after ')': state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime */
		if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
			cpu = (ut + st) / (double)sysconf(_SC_CLK_TCK);
		snprintf(path, sizeof(path), "/proc/%s/schedstat", e->d_name);
		fd = open(path, O_RDONLY);
		if (fd >= 0) {
			n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (n > 0) {
				buf[n] = 0;
				if (sscanf(buf, "%llu", &ns) == 1)
					cpu = ns / 1e9;
			}
		}
		break;
	}
	if (d)
		closedir(d);
	return cpu;
}

static const char *scanner(void)
{
	return strstr(sysdir, "ksmmod") ? "ksmmodd" : "ksmd";
}

/* What a child reports when its memory is ready. */
struct ready_msg {
	int id;
	uintptr_t addr;
};

/* A child's commands (on its command pipe), answered with a double: seconds. */
#define CMD_MADV_UNMERGEABLE	'm'
#define CMD_UNMERGE_RANGE	'i'
#define CMD_THIN		't'	/* MADV_DONTNEED 9 pages in 10 */

/* Whether the densify workload keeps page @i (1 in 10, spread evenly). */
static bool thin_keeps(long i)
{
	return (i * 2654435761UL >> 8) % 10 == 0;
}

static int unmerge_range_ioctl(void *addr, size_t len)
{
	struct ksmmod_range r = { .size = sizeof(r), .start = (uintptr_t)addr, .length = len };
	int fd = open("/dev/" KSMMOD_DEVICE_NAME, O_RDWR | O_CLOEXEC), ret;

	if (fd < 0)
		return -1;
	ret = ioctl(fd, KSMMOD_IOC_UNMERGE_RANGE, &r);
	close(fd);
	return ret;
}

/*
 * A child with @pages pages of @fill, except that @unique of them are unique;
 * mergeable; reports its address on @ready, then serves @cmd (if >= 0) with
 * answers on @res, or just waits to be killed.
 */
static pid_t spawn_fill(long pages, long unique, int id, int ready, int cmd, int res, int fill)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct ready_msg msg = { .id = id };
		char *m = mmap(NULL, pages * psize, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		char c;

		if (m == MAP_FAILED)
			_exit(1);
		madvise(m, pages * psize, MADV_NOHUGEPAGE);
		memset(m, fill, pages * psize);
		for (long i = 0; i < unique; i++)
			snprintf(m + i * psize, 64, "unique %d %ld", id, i);
		if (madvise(m, pages * psize, MADV_MERGEABLE))
			_exit(2);
		msg.addr = (uintptr_t)m;
		if (write(ready, &msg, sizeof(msg)) != sizeof(msg))
			_exit(3);
		while (cmd >= 0 && read(cmd, &c, 1) == 1) {
			double t0 = now(), secs;
			int ret = 0;

			if (c == CMD_THIN) {
				for (long i = 0; i < pages; i++)
					if (!thin_keeps(i))
						ret |= madvise(m + i * psize, psize, MADV_DONTNEED);
			} else {
				ret = c == CMD_MADV_UNMERGEABLE ?
					madvise(m, pages * psize, MADV_UNMERGEABLE) :
					unmerge_range_ioctl(m, pages * psize);
			}

			secs = ret ? -1 : now() - t0;
			if (ret)
				fprintf(stderr, "bench: child %d: unmerge '%c': %s\n", id, c, strerror(errno));
			if (write(res, &secs, sizeof(secs)) != sizeof(secs))
				_exit(4);
		}
		for (;;)
			pause();
	}
	return pid;
}

/*
 * Start @n children of @pages pages (@unique unique) and wait until all are
 * ready; @addrs (if not NULL) gets their addresses. With @cmd/@res (2 fds
 * each per child, or NULL) the children take commands.
 */
static void start_procs_ex(pid_t *pids, int n, long pages, long unique, int fill,
			   uintptr_t *addrs, int (*cmd)[2], int (*res)[2])
{
	struct ready_msg msg;
	int p[2];

	if (pipe(p))
		exit(1);
	for (int i = 0; i < n; i++) {
		if (cmd && (pipe(cmd[i]) || pipe(res[i])))
			exit(1);
		pids[i] = spawn_fill(pages, unique, i, p[1], cmd ? cmd[i][0] : -1,
				     res ? res[i][1] : -1, fill);
	}
	for (int i = 0; i < n; i++) {
		if (read(p[0], &msg, sizeof(msg)) != sizeof(msg))
			exit(1);
		if (addrs && msg.id >= 0 && msg.id < n)
			addrs[msg.id] = msg.addr;
	}
	close(p[0]);
	close(p[1]);
}

static void start_procs(pid_t *pids, long pages, long unique)
{
	start_procs_ex(pids, NPROC, pages, unique, 0x5a, NULL, NULL, NULL);
}

static void stop_procs(pid_t *pids, int n)
{
	for (int i = 0; i < n; i++) {
		kill(pids[i], SIGKILL);
		waitpid(pids[i], NULL, 0);
	}
}

/* Wait until pages_sharing stays at @target; return seconds, sampling progress. */
static double wait_sharing(long target, double t0, double limit)
{
	double next = 0;

	for (;;) {
		double t = now() - t0;
		long sharing = sys_get("pages_sharing");

		if (t >= next) {
			printf("# progress t=%.2f saved_mib=%.2f\n", t, sharing * psize / 1048576.0);
			next = t + 0.5;
		}
		if (sharing >= target)
			return t;
		if (t > limit)
			return -1;
		usleep(10000);
	}
}

/*
 * Wait until pages_shared and pages_sharing are both 0 (the implementation
 * has let go of every KSM page); return the seconds it took, or -1 after
 * @limit seconds.
 */
static double wait_unshared(double limit)
{
	double t0 = now();

	while (sys_get("pages_sharing") > 0 || sys_get("pages_shared") > 0) {
		if (now() - t0 > limit)
			return -1;
		usleep(1000);
	}
	return now() - t0;
}

static int bench_merge(long mib, bool half)
{
	long pages = mib * 1048576 / psize, unique = half ? pages / 2 : 0;
	long target = NPROC * (pages - unique) - 1;
	double t0, cpu0, secs, cpu;
	pid_t pids[NPROC];

	sys_set("run", 0);
	sys_set("pages_to_scan", 10000);
	sys_set("sleep_millisecs", 0);
	/*
	 * One content shared by every page: with max_page_sharing at its
	 * default the count a KSM page can reach depends on chains (see
	 * ksm_tests -M); give both implementations room for all of them.
	 */
	sys_set("max_page_sharing", NPROC * pages);
	start_procs(pids, pages, unique);
	cpu0 = thread_cpu(scanner());
	t0 = now();
	sys_set("run", 1);
	secs = wait_sharing(target, t0, 300);
	cpu = thread_cpu(scanner()) - cpu0;
	printf("# bench workload=%s mib_per_proc=%ld pages=%ld seconds=%.3f mib_per_s=%.2f scanner_cpu_s=%.3f full_scans=%ld\n",
	       half ? "merge-half" : "merge", mib, NPROC * pages, secs,
	       secs > 0 ? NPROC * mib / secs : 0, cpu, sys_get("full_scans"));
	stop_procs(pids, NPROC);
	sys_set("run", 2);
	sys_set("run", 0);
	sys_set("max_page_sharing", 256);
	return secs > 0 ? 0 : 1;
}

static int bench_cpu(long mib)
{
	long pages = mib * 1048576 / psize;
	long target = NPROC * pages - 1;
	double t0, cpu0, secs, cpu;
	long scanned0, scanned;
	pid_t pids[NPROC];

	sys_set("run", 0);
	sys_set("pages_to_scan", 100);
	sys_set("sleep_millisecs", 20);
	sys_set("max_page_sharing", NPROC * pages);
	start_procs(pids, pages, 0);
	cpu0 = thread_cpu(scanner());
	scanned0 = sys_get("pages_scanned");
	t0 = now();
	sys_set("run", 1);
	secs = wait_sharing(target, t0, 300);
	cpu = thread_cpu(scanner()) - cpu0;
	scanned = sys_get("pages_scanned");
	printf("# bench workload=cpu mib_per_proc=%ld merged=%ld seconds=%.3f scanner_cpu_s=%.3f cpu_us_per_merged_page=%.2f pages_scanned_per_s=%.0f\n",
	       mib, target, secs, cpu, cpu * 1e6 / target,
	       scanned >= 0 && secs > 0 ? (scanned - scanned0) / secs : -1);
	stop_procs(pids, NPROC);
	sys_set("run", 2);
	sys_set("run", 0);
	sys_set("pages_to_scan", 100);
	sys_set("sleep_millisecs", 20);
	sys_set("max_page_sharing", 256);
	return secs > 0 ? 0 : 1;
}

static uint64_t xxh64(const void *input, size_t len, uint64_t seed);

/*
 * Pages per second that xxh64 hashes in user space here, now (over @mib
 * MiB): the unique workload's ceiling, measured around each of its runs,
 * as the host's speed drifts over minutes under TCG.
 */
static double xxh64_rate(long mib)
{
	long pages = mib * 1048576 / psize;
	char *a = malloc(pages * psize);
	volatile uint64_t sink = 0;
	double t0;

	if (!a)
		return -1;
	memset(a, 0x5a, pages * psize);
	t0 = now();
	for (long i = 0; i < pages; i++)
		sink += xxh64(a + i * psize, psize, 0);
	t0 = now() - t0;
	free(a);
	return pages / t0;
}

static int bench_unique(long mib)
{
	long pages = mib * 1048576 / psize, scans0, scanned;
	double t0, cpu0, cpu, secs, ceil0, ceil1;
	pid_t pid;

	ceil0 = xxh64_rate(64);
	sys_set("run", 0);
	sys_set("pages_to_scan", 10000);
	sys_set("sleep_millisecs", 0);
	start_procs_ex(&pid, 1, pages, pages, 0x5a, NULL, NULL, NULL);
	sys_set("run", 1);
	/* The first full scan only records checksums: measure the next three. */
	scans0 = sys_get("full_scans");
	while (sys_get("full_scans") < scans0 + 1)
		usleep(5000);
	scans0 = sys_get("full_scans");
	cpu0 = thread_cpu(scanner());
	t0 = now();
	while (sys_get("full_scans") < scans0 + 3 && now() - t0 < 600)
		usleep(5000);
	secs = now() - t0;
	cpu = thread_cpu(scanner()) - cpu0;
	scanned = 3 * pages;
	stop_procs(&pid, 1);
	sys_set("run", 2);
	sys_set("run", 0);
	ceil1 = xxh64_rate(64);
	if (ceil0 <= 0 || ceil1 <= 0)
		return 1;
	printf("# bench workload=unique mib=%ld pages=%ld seconds=%.3f scanner_cpu_s=%.3f cpu_ns_per_scanned_page=%.0f pages_scanned_per_s=%.0f xxh64_pages_per_s=%.0f of_xxh64=%.3f\n",
	       mib, pages, secs, cpu, cpu * 1e9 / scanned, scanned / secs, (ceil0 + ceil1) / 2,
	       scanned / secs / ((ceil0 + ceil1) / 2));
	return 0;
}

/* Stop and unmerge everything, back to the given max_page_sharing. */
static void reset(long max_sharing)
{
	sys_set("run", 2);
	sys_set("run", 0);
	sys_set("pages_to_scan", 100);
	sys_set("sleep_millisecs", 20);
	sys_set("max_page_sharing", max_sharing);
}

static bool is_ksmmod(void)
{
	return strstr(sysdir, "ksmmod") != NULL;
}

/*
 * Workload 4: @mib MiB of identical pages in NPROC processes, merged, then
 * unmerged by @how: "run2", "madvise" or "range" (UNMERGE_RANGE for ksmmod,
 * madvise(MADV_UNMERGEABLE) for the kernel, which has no other range call).
 */
static int bench_unmerge(long mib, const char *how)
{
	long pages = mib * 1048576 / psize / NPROC, merged;
	int cmd[NPROC][2], res[NPROC][2];
	const char *method = how;
	double t0, secs = 0, merge_s;
	pid_t pids[NPROC];
	bool ok = true;

	if (!strcmp(how, "range"))
		method = is_ksmmod() ? "ioctl" : "madvise";
	sys_set("run", 0);
	sys_set("pages_to_scan", 10000);
	sys_set("sleep_millisecs", 0);
	sys_set("max_page_sharing", NPROC * pages);
	start_procs_ex(pids, NPROC, pages, 0, 0x5a, NULL, cmd, res);
	t0 = now();
	sys_set("run", 1);
	merge_s = wait_sharing(NPROC * pages - 1, t0, 300);
	sys_set("run", 0);
	merged = sys_get("pages_shared") + sys_get("pages_sharing");
	if (!strcmp(how, "run2")) {
		sys_set("run", 2);
		secs = wait_unshared(300);
		ok = secs >= 0;
	} else {
		char c = !strcmp(method, "ioctl") ? CMD_UNMERGE_RANGE : CMD_MADV_UNMERGEABLE;

		/* One process after the other: the time is the sum of the calls. */
		for (int i = 0; i < NPROC; i++) {
			double s = -1;

			if (write(cmd[i][1], &c, 1) != 1 || read(res[i][0], &s, sizeof(s)) != sizeof(s) ||
			    s < 0)
				ok = false;
			secs += s;
		}
	}
	printf("# bench workload=unmerge-%s method=%s mib=%ld merged_pages=%ld merge_seconds=%.3f seconds=%.4f mib_per_s=%.1f sharing_after=%ld\n",
	       how, method, mib, merged, merge_s, secs,
	       ok && secs > 0 ? merged * psize / 1048576.0 / secs : -1, sys_get("pages_sharing"));
	stop_procs(pids, NPROC);
	for (int i = 0; i < NPROC; i++) {
		close(cmd[i][0]); close(cmd[i][1]); close(res[i][0]); close(res[i][1]);
	}
	reset(256);
	return ok && merge_s > 0 ? 0 : 1;
}

/*
 * Workload 5: @n pages merged in pairs (page i and page n + i hold the same
 * content, different for each i) and @n tracked unique pages, in this process.
 * Once merged (and the scanner stopped), write one byte into each of the @n
 * first pages of the pairs (a CoW fault each), and into each unique page.
 */
static int bench_cow(long n)
{
	char *m = mmap(NULL, 3 * n * psize, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	char *pair = m, *solo = m + 2 * n * psize;
	double t0, merge_s, t_merged, t_unmerged;
	long scans, sharing;

	if (m == MAP_FAILED)
		return 1;
	madvise(m, 3 * n * psize, MADV_NOHUGEPAGE);
	for (long i = 0; i < n; i++) {
		memset(pair + i * psize, 0x33, psize);
		snprintf(pair + i * psize, 64, "cow pair %ld", i);
		memcpy(pair + (n + i) * psize, pair + i * psize, psize);
		memset(solo + i * psize, 0x44, psize);
		snprintf(solo + i * psize, 64, "cow solo %ld", i);
	}
	sys_set("run", 0);
	sys_set("pages_to_scan", 10000);
	sys_set("sleep_millisecs", 0);
	if (madvise(m, 3 * n * psize, MADV_MERGEABLE))
		return 1;
	t0 = now();
	sys_set("run", 1);
	merge_s = wait_sharing(n, t0, 300);
	/* One more full scan: every unique page is tracked too. */
	scans = sys_get("full_scans");
	while (sys_get("full_scans") < scans + 2 && now() - t0 < 300)
		usleep(5000);
	sys_set("run", 0);
	sharing = sys_get("pages_sharing");
	t0 = now();
	for (long i = 0; i < n; i++)
		solo[i * psize + 100] = 1;
	t_unmerged = now() - t0;
	t0 = now();
	for (long i = 0; i < n; i++)
		pair[i * psize + 100] = 1;
	t_merged = now() - t0;
	printf("# bench workload=cow pages=%ld merge_seconds=%.3f sharing_before=%ld merged_write_us_per_page=%.3f unmerged_write_us_per_page=%.3f merged_over_unmerged=%.1f\n",
	       n, merge_s, sharing, t_merged * 1e6 / n, t_unmerged * 1e6 / n,
	       t_unmerged > 0 ? t_merged / t_unmerged : -1);
	munmap(m, 3 * n * psize);
	reset(256);
	return merge_s > 0 && sharing >= n ? 0 : 1;
}

/* PFN of @addr in process @pid, or 0 (not present or no access). */
static uint64_t pfn_of(pid_t pid, uintptr_t addr)
{
	char path[64];
	uint64_t e = 0;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	if (pread(fd, &e, sizeof(e), addr / psize * sizeof(e)) != sizeof(e))
		e = 0;
	close(fd);
	return e >> 63 ? e & ((1ULL << 55) - 1) : 0;
}

static long kpagecount(uint64_t pfn)
{
	uint64_t c = 0;
	int fd = open("/proc/kpagecount", O_RDONLY);

	if (fd < 0)
		return -1;
	if (pread(fd, &c, sizeof(c), pfn * sizeof(c)) != sizeof(c))
		c = -1;
	close(fd);
	return c;
}

/* NUMA node of @addr in @pid (move_pages query), or a negative errno. */
static int node_of(pid_t pid, uintptr_t addr)
{
	void *p = (void *)addr;
	int status = -1;

	if (syscall(SYS_move_pages, pid, 1UL, &p, NULL, &status, 0))
		return -errno;
	return status;
}

static int online_nodes(void)
{
	char path[64];
	int n = 0;

	for (;; n++) {
		snprintf(path, sizeof(path), "/sys/devices/system/node/node%d", n);
		if (access(path, F_OK))
			return n;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

#define RMAP_SAMPLES	9

/*
 * Pick up to RMAP_SAMPLES pages among the @n processes @pids, @pages pages
 * each at @addrs: merged pages (mapped more than once) if there are any,
 * distinct KSM pages first, spread over the processes and the range; else
 * pages of the first process spread over its range. @who/@out/@pfns get the
 * process index, the address and the PFN of each; @merged how many are
 * merged. Returns the count.
 */
static int pick_samples(pid_t *pids, uintptr_t *addrs, int n, long pages, int *who,
			uintptr_t *out, uint64_t *pfns, int *merged)
{
	long *idx = calloc(n * pages, sizeof(long)), ncand = 0;
	uint64_t *pm = calloc(n * pages, sizeof(uint64_t));
	int kfd = open("/proc/kpagecount", O_RDONLY), cnt = 0;

	for (int p = 0; idx && pm && p < n; p++) {
		uint64_t *e = pm + p * pages;
		char path[64];
		int fd;

		snprintf(path, sizeof(path), "/proc/%d/pagemap", pids[p]);
		fd = open(path, O_RDONLY);
		if (fd < 0 || pread(fd, e, pages * sizeof(*e), addrs[p] / psize * sizeof(*e)) !=
		    (ssize_t)(pages * sizeof(*e)))
			memset(e, 0, pages * sizeof(*e));
		if (fd >= 0)
			close(fd);
		for (long i = 0; i < pages; i++) {
			uint64_t c = 0;

			e[i] = e[i] >> 63 ? e[i] & ((1ULL << 55) - 1) : 0;
			if (e[i] && kfd >= 0 && pread(kfd, &c, sizeof(c), e[i] * sizeof(c)) == sizeof(c) &&
			    c > 1)
				idx[ncand++] = p * pages + i;
		}
	}
	if (kfd >= 0)
		close(kfd);
	*merged = 0;
	/* Two passes over the merged pages: first one per distinct PFN. */
	for (int pass = 0; pass < 2 && cnt < RMAP_SAMPLES; pass++) {
		for (int j = 0; j < RMAP_SAMPLES && cnt < RMAP_SAMPLES && ncand; j++) {
			for (long t = 0; t < ncand; t++) {
				long g = idx[(j * ncand / RMAP_SAMPLES + t) % ncand];
				bool dup = false;

				for (int k = 0; k < cnt; k++)
					dup |= pass == 0 ? pfns[k] == pm[g] :
						who[k] == g / pages && out[k] == addrs[g / pages] + g % pages * psize;
				if (dup)
					continue;
				who[cnt] = g / pages;
				out[cnt] = addrs[g / pages] + g % pages * psize;
				pfns[cnt++] = pm[g];
				(*merged)++;
				break;
			}
		}
	}
	for (int j = 0; cnt < RMAP_SAMPLES && pm && j < RMAP_SAMPLES; j++) {
		long i = (2 * j + 1) * pages / (2 * RMAP_SAMPLES);

		who[cnt] = 0;
		out[cnt] = addrs[0] + i * psize;
		pfns[cnt++] = pm[i];
	}
	free(idx);
	free(pm);
	return cnt;
}

/*
 * Workload 6: one content in @mappings pages over NPROC processes, merged at
 * max_page_sharing @limit (the merge stops when all are merged or nothing
 * changed over 3 full scans and 10 s: ksmmod without chains stops at the
 * limit; merge_seconds is then the time of the last change).
 * Then, with the scanner stopped, RMAP_SAMPLES merged pages (see pick_samples):
 * move_pages(MPOL_MF_MOVE_ALL) of each to the other NUMA node (an rmap walk
 * over every mapping of the page, twice: unmap and remap) and MADV_PAGEOUT of
 * each (process_madvise). Samples: one "# bench" line per page.
 */
static int bench_rmap(long mappings, long limit)
{
	long pages = mappings / NPROC, merged, shared, sharing, last = -1;
	int nodes = online_nodes(), pidfd[NPROC], who[RMAP_SAMPLES], moved = 0, paged_out = 0, distinct = 0;
	double t0, last_change, merge_s, move_us[RMAP_SAMPLES], pageout_us[RMAP_SAMPLES];
	int nsamples, merged_samples;
	uint64_t pfns[RMAP_SAMPLES];
	uintptr_t addrs[NPROC], sample[RMAP_SAMPLES];
	long scans, stable_scans = 0;
	char wl[32];
	pid_t pids[NPROC];

	snprintf(wl, sizeof(wl), "rmap-%s", limit == 256 ? "256" : "max");
	sys_set("run", 0);
	sys_set("pages_to_scan", 10000);
	sys_set("sleep_millisecs", 0);
	sys_set("max_page_sharing", limit);
	start_procs_ex(pids, NPROC, pages, 0, 0x77, addrs, NULL, NULL);
	t0 = last_change = now();
	sys_set("run", 1);
	merge_s = -1;
	scans = sys_get("full_scans");
	for (;;) {
		long s = sys_get("full_scans");

		merged = sys_get("pages_shared") + sys_get("pages_sharing");
		if (merged >= NPROC * pages) {
			merge_s = now() - t0;
			break;
		}
		if (s != scans) {
			if (merged != last)
				last_change = now();
			stable_scans = merged == last ? stable_scans + (s - scans) : 0;
			last = merged;
			scans = s;
			/*
			 * Stuck: nothing merged over 3 full scans and 10 s (6.1's
			 * KSM was seen to add dups to a chain in bursts, more than
			 * 3 fast scans apart).
			 */
			if (stable_scans >= 3 && now() - last_change >= 10) {
				merge_s = last_change - t0;
				break;
			}
		}
		if (now() - t0 > 600)
			break;
		usleep(10000);
	}
	sys_set("run", 0);
	shared = sys_get("pages_shared");
	sharing = sys_get("pages_sharing");
	for (int i = 0; i < NPROC; i++)
		pidfd[i] = syscall(SYS_pidfd_open, pids[i], 0);
	nsamples = pick_samples(pids, addrs, NPROC, pages, who, sample, pfns, &merged_samples);
	for (int j = 0; j < nsamples; j++) {
		int k;

		for (k = 0; k < j && pfns[k] != pfns[j]; k++)
			;
		distinct += k == j;
	}
	for (int j = 0; j < nsamples; j++) {
		uintptr_t a = sample[j];
		pid_t pid = pids[who[j]];
		int from = node_of(pid, a), to = nodes > 1 && from == 0 ? 1 : 0, status = -1;
		void *p = (void *)a;
		uint64_t pfn = pfn_of(pid, a);
		long count = pfn ? kpagecount(pfn) : -1;

		t0 = now();
		if (syscall(SYS_move_pages, pid, 1UL, &p, &to, &status, MPOL_MF_MOVE_ALL_))
			status = -errno;
		move_us[j] = (now() - t0) * 1e6;
		moved += status == to;
		{
			struct iovec iov = { .iov_base = p, .iov_len = psize };

			t0 = now();
			if (syscall(SYS_process_madvise, pidfd[who[j]], &iov, 1UL, MADV_PAGEOUT, 0U) < 0)
				fprintf(stderr, "bench: process_madvise: %s\n", strerror(errno));
			pageout_us[j] = (now() - t0) * 1e6;
		}
		paged_out += pfn_of(pid, a) == 0;
		printf("# bench workload=%s move_us=%.1f pageout_us=%.1f mapcount=%ld\n",
		       wl, move_us[j], pageout_us[j], count);
		if (status != to)
			printf("# rmap sample %d: move_pages from node %d to %d: status %d\n",
			       j, from, to, status);
	}
	if (!nsamples) {
		printf("# bench-error rmap: no page to sample\n");
		move_us[0] = pageout_us[0] = -1;
		nsamples = 1;
	}
	qsort(move_us, nsamples, sizeof(double), cmp_double);
	qsort(pageout_us, nsamples, sizeof(double), cmp_double);
	printf("# bench workload=%s max_page_sharing=%ld mappings=%ld merged_mappings=%ld pages_shared=%ld pages_sharing=%ld merge_seconds=%.2f nodes=%d samples=%d merged_samples=%d distinct_pages=%d moved=%d paged_out=%d move_us_median=%.1f move_us_max=%.1f pageout_us_median=%.1f pageout_us_max=%.1f\n",
	       wl, limit, NPROC * pages, shared + sharing, shared, sharing, merge_s, nodes,
	       nsamples, merged_samples, distinct, moved, paged_out, move_us[nsamples / 2],
	       move_us[nsamples - 1], pageout_us[nsamples / 2], pageout_us[nsamples - 1]);
	for (int i = 0; i < NPROC; i++)
		close(pidfd[i]);
	stop_procs(pids, NPROC);
	reset(256);
	return merge_s > 0 ? 0 : 1;
}

/* Slab caches of each implementation (ksm_mm_slot is mm_slot on neither). */
/*
 * Densify: @mib MiB of one content in each of NPROC processes, merged into
 * chains at max_page_sharing 256; then 9 pages in 10 unmapped in every
 * process. What is saved after 30 s at the default knobs, and at what
 * scanner CPU cost.
 */
static int bench_densify(long mib)
{
	long pages = mib * 1048576 / psize, kept = 0, shared0, shared = 0, sharing = 0;
	int cmd[NPROC][2], res[NPROC][2];
	double t0, cpu0, cpu, merge_s, settle_s = -1, window = mib >= 16 ? 30 : 10;
	pid_t pids[NPROC];
	bool ok = true;

	for (long i = 0; i < pages; i++)
		kept += thin_keeps(i);
	sys_set("run", 0);
	sys_set("pages_to_scan", 10000);
	sys_set("sleep_millisecs", 0);
	sys_set("max_page_sharing", 256);
	start_procs_ex(pids, NPROC, pages, 0, 0x5a, NULL, cmd, res);
	t0 = now();
	sys_set("run", 1);
	merge_s = wait_sharing(NPROC * pages - (NPROC * pages + 255) / 256, t0, 300);
	shared0 = sys_get("pages_shared");
	/* The default knobs from here on. */
	sys_set("pages_to_scan", 100);
	sys_set("sleep_millisecs", 20);
	for (int i = 0; i < NPROC; i++) {
		char c = CMD_THIN;
		double s = -1;

		if (write(cmd[i][1], &c, 1) != 1 || read(res[i][0], &s, sizeof(s)) != sizeof(s) || s < 0)
			ok = false;
	}
	cpu0 = thread_cpu(scanner());
	t0 = now();
	while (now() - t0 < window) {
		long sh = sys_get("pages_shared"), sg = sys_get("pages_sharing");

		if (sh != shared || sg != sharing) {
			shared = sh;
			sharing = sg;
			settle_s = now() - t0;
		}
		usleep(100000);
	}
	cpu = thread_cpu(scanner()) - cpu0;
	printf("# bench workload=densify mib_per_proc=%ld window_s=%.0f mappings_left=%ld merge_seconds=%.2f shared_before=%ld pages_shared=%ld pages_sharing=%ld saved_mib=%.2f settle_seconds=%.1f scanner_cpu_s=%.3f densify_moves=%ld\n",
	       mib, window, NPROC * kept, merge_s, shared0, shared, sharing, sharing * psize / 1048576.0,
	       settle_s, cpu, is_ksmmod() ? sys_get("densify_moves") : 0);
	stop_procs(pids, NPROC);
	for (int i = 0; i < NPROC; i++) {
		close(cmd[i][0]); close(cmd[i][1]); close(res[i][0]); close(res[i][1]);
	}
	reset(256);
	return ok && merge_s > 0 ? 0 : 1;
}

static const char *const kernel_caches[] = { "ksm_rmap_item", "ksm_stable_node", "ksm_mm_slot", NULL };
static const char *const ksmmod_caches[] = { "ksmmod_rmap_item", "ksmmod_stable_node",
					     "ksmmod_mm_slot", "ksmmod_range_node", NULL };


/*
 * Bytes of slab memory (whole slabs) and of allocated objects (objects x
 * slab_size) in the implementation's caches; a cache merged with another
 * (an alias) is counted once, and the caller uses differences only.
 */
static void slab_bytes(long *slab, long *objs, char *names, size_t len)
{
	const char *const *c = is_ksmmod() ? ksmmod_caches : kernel_caches;
	char seen[8][PATH_MAX];
	int nseen = 0;

	*slab = *objs = 0;
	names[0] = 0;
	for (; *c; c++) {
		char path[300], real[PATH_MAX];
		long order, slabs, objects, size;
		int k;

		snprintf(path, sizeof(path), "/sys/kernel/slab/%s", *c);
		if (!realpath(path, real))
			continue;
		for (k = 0; k < nseen && strcmp(seen[k], real); k++)
			;
		snprintf(names + strlen(names), len - strlen(names), "%s%s:%s", names[0] ? "," : "",
			 *c, strrchr(real, '/') + 1);
		if (k < nseen)
			continue;
		strcpy(seen[nseen++], real);
		order = read_long_at(real, "order");
		slabs = read_long_at(real, "slabs");
		objects = read_long_at(real, "objects");
		size = read_long_at(real, "slab_size");
		if (order >= 0 && slabs >= 0)
			*slab += slabs * (psize << order);
		if (objects >= 0 && size >= 0)
			*objs += objects * size;
	}
}

/* Workload 7: NPROC x @mib, half unique; slab memory per tracked page. */
static int bench_metadata(long mib)
{
	long pages = mib * 1048576 / psize, slab0, objs0, slab1, objs1, scans;
	char names0[512], names[512];
	pid_t pids[NPROC];
	double t0;

	sys_set("run", 0);
	sys_set("pages_to_scan", 10000);
	sys_set("sleep_millisecs", 0);
	sys_set("max_page_sharing", NPROC * pages);
	slab_bytes(&slab0, &objs0, names0, sizeof(names0));
	start_procs(pids, pages, pages / 2);
	t0 = now();
	sys_set("run", 1);
	/* Three full scans: every page has its rmap item, the duplicates are merged. */
	scans = sys_get("full_scans");
	while (sys_get("full_scans") < scans + 3 && now() - t0 < 600)
		usleep(10000);
	sys_set("run", 0);
	slab_bytes(&slab1, &objs1, names, sizeof(names));
	printf("# bench workload=metadata tracked_pages=%ld pages_shared=%ld pages_sharing=%ld pages_unshared=%ld slab_bytes=%ld object_bytes=%ld slab_bytes_per_page=%.1f object_bytes_per_page=%.1f caches=%s\n",
	       NPROC * pages, sys_get("pages_shared"), sys_get("pages_sharing"),
	       sys_get("pages_unshared"), slab1 - slab0, objs1 - objs0,
	       (slab1 - slab0) / (double)(NPROC * pages), (objs1 - objs0) / (double)(NPROC * pages),
	       names[0] ? names : "none");
	stop_procs(pids, NPROC);
	reset(256);
	return names[0] && now() - t0 < 600 ? 0 : 1;
}

/*
 * Workload: scale (issue 19). @nprocs processes of @mib MiB each, one content
 * everywhere, merged at full speed (pages_to_scan 10000, sleep 0): time and
 * scanner CPU to merge, and the implementation's slab memory per tracked
 * page once everything is merged. The guest script runs it at several sizes
 * and process counts; the report fits time against registered memory.
 */
static int bench_scale(long mib, int nprocs)
{
	long pages = mib * 1048576 / psize, total, slab0, objs0, slab1, objs1;
	char names0[512], names[512];
	double t0, cpu0, secs, cpu;
	pid_t *pids;

	if (nprocs < 1 || pages < 1)
		return 2;
	total = nprocs * pages;
	pids = calloc(nprocs, sizeof(*pids));
	if (!pids)
		return 1;
	sys_set("run", 0);
	sys_set("pages_to_scan", 10000);
	sys_set("sleep_millisecs", 0);
	sys_set("max_page_sharing", total);
	slab_bytes(&slab0, &objs0, names0, sizeof(names0));
	start_procs_ex(pids, nprocs, pages, 0, 0x5a, NULL, NULL, NULL);
	cpu0 = thread_cpu(scanner());
	t0 = now();
	sys_set("run", 1);
	secs = wait_sharing(total - 1, t0, 900);
	cpu = thread_cpu(scanner()) - cpu0;
	slab_bytes(&slab1, &objs1, names, sizeof(names));
	printf("# bench workload=scale-%dx%ld procs=%d mib_per_proc=%ld total_mib=%ld pages=%ld seconds=%.3f scanner_cpu_s=%.3f slab_bytes_per_page=%.1f object_bytes_per_page=%.1f full_scans=%ld\n",
	       nprocs, mib, nprocs, mib, nprocs * mib, total, secs, cpu,
	       (slab1 - slab0) / (double)total, (objs1 - objs0) / (double)total,
	       sys_get("full_scans"));
	stop_procs(pids, nprocs);
	free(pids);
	reset(256);
	return secs > 0 ? 0 : 1;
}

/* xxh64 (public domain algorithm by Yann Collet), as the kernel's lib/xxhash.c. */
#define P1 11400714785074694791ULL
#define P2 14029467366897019727ULL
#define P3 1609587929392839161ULL
#define P4 9650029242287828579ULL
#define P5 2870177450012600261ULL
static inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }
static inline uint64_t round1(uint64_t acc, uint64_t in) { return rotl(acc + in * P2, 31) * P1; }
static inline uint64_t merge1(uint64_t acc, uint64_t v) { return (acc ^ round1(0, v)) * P1 + P4; }

static uint64_t xxh64(const void *input, size_t len, uint64_t seed)
{
	const uint8_t *p = input, *end = p + len;
	uint64_t v1 = seed + P1 + P2, v2 = seed + P2, v3 = seed, v4 = seed - P1, h;

	while (p + 32 <= end) {
		uint64_t a, b, c, d;

		memcpy(&a, p, 8); memcpy(&b, p + 8, 8); memcpy(&c, p + 16, 8); memcpy(&d, p + 24, 8);
		v1 = round1(v1, a); v2 = round1(v2, b); v3 = round1(v3, c); v4 = round1(v4, d);
		p += 32;
	}
	h = rotl(v1, 1) + rotl(v2, 7) + rotl(v3, 12) + rotl(v4, 18);
	h = merge1(h, v1); h = merge1(h, v2); h = merge1(h, v3); h = merge1(h, v4);
	h += len;
	while (p + 8 <= end) {
		uint64_t k;

		memcpy(&k, p, 8);
		h ^= round1(0, k);
		h = rotl(h, 27) * P1 + P4;
		p += 8;
	}
	h ^= h >> 33; h *= P2; h ^= h >> 29; h *= P3; h ^= h >> 32;
	return h;
}

static int bench_ceiling(long mib)
{
	long pages = mib * 1048576 / psize;
	char *a = malloc(pages * psize), *b = malloc(pages * psize);
	volatile uint64_t sink = 0;
	double t0, tm, xr;

	if (!a || !b)
		return 1;
	memset(a, 0x5a, pages * psize);
	memset(b, 0x5a, pages * psize);
	t0 = now();
	for (long i = 0; i < pages; i++)
		sink += memcmp(a + i * psize, b + i * psize, psize);
	tm = now() - t0;
	free(a);
	free(b);
	xr = xxh64_rate(mib);
	if (xr <= 0)
		return 1;
	printf("# bench workload=ceiling mib=%ld memcmp_pages_per_s=%.0f memcmp_ns_per_page=%.0f xxh64_pages_per_s=%.0f xxh64_ns_per_page=%.0f\n",
	       mib, pages / tm, tm * 1e9 / pages, xr, 1e9 / xr);
	return 0;
}

#define SPARSE_PAGES	2048
#define SPARSE_SCANS	20	/* full scans timed (each ~10 ms in a TCG guest) */
#define SPARSE_CAP	60	/* seconds (a KSM that walked every address of 4 TiB would take longer) */

/*
 * Time full scans of what is registered: up to @nscans after the first one
 * (which only records checksums), at most @cap seconds. Returns the scans
 * measured; *@secs and *@cpu get their wall and scanner CPU seconds, up to
 * the end of the last of them (a scan the cap cuts off does not count).
 */
static long time_scans(long nscans, double cap, double *secs, double *cpu)
{
	double t0, cpu0, tlast, cpulast, start = now();
	long scans0 = sys_get("full_scans"), done = 0, n;

	while (sys_get("full_scans") < scans0 + 1 && now() - start < cap)
		usleep(2000);
	scans0 = sys_get("full_scans");
	cpu0 = cpulast = thread_cpu(scanner());
	t0 = tlast = now();
	while (done < nscans && now() - start < cap) {
		usleep(2000);
		n = sys_get("full_scans") - scans0;
		if (n != done) {
			done = n;
			tlast = now();
			cpulast = thread_cpu(scanner());
		}
	}
	*secs = tlast - t0;
	*cpu = cpulast - cpu0;
	return done;
}

/*
 * sparse, sparse-wide, sparse-dense (@name): what a full scan costs when the
 * touched pages are spread thin over @gib GiB, or dense (@dense).
 */
static int bench_sparse(const char *name, long gib, bool dense)
{
	size_t span = dense ? (size_t)SPARSE_PAGES * psize : (size_t)gib << 30;
	size_t step = span / SPARSE_PAGES;
	double secs, cpu;
	long scans, left;
	char *m;

	sys_set("run", 0);
	sys_set("pages_to_scan", 10000);
	sys_set("sleep_millisecs", 0);
	m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		 -1, 0);
	if (m == MAP_FAILED)
		return 1;
	madvise(m, span, MADV_NOHUGEPAGE);
	for (long i = 0; i < SPARSE_PAGES; i++) {
		memset(m + i * step, 0x5a, psize);
		*(long *)(m + i * step) = 1 + i / 2;	/* pairs */
	}
	if (madvise(m, span, MADV_MERGEABLE))
		return 1;
	sys_set("run", 1);
	scans = time_scans(SPARSE_SCANS, SPARSE_CAP, &secs, &cpu);
	printf("# bench workload=%s span_gib=%.3f pages=%d scans=%ld seconds_per_scan=%.5f scanner_cpu_s_per_scan=%.5f\n",
	       name, span / 1073741824.0, SPARSE_PAGES, scans,
	       scans ? secs / scans : -1, scans ? cpu / scans : -1);
	/*
	 * No run=2 or MADV_UNMERGEABLE: the kernel's KSM unmerges address by
	 * address (for 4 TiB on 6.12 it had not finished when the run was stopped).
	 * Unmapping frees the merged pairs; the scanner, still running, drops
	 * its items for them, so that the next workload counts none of them.
	 * (Not also "two more full scans": after the unmap, the kernel's
	 * full_scans did not advance twice within 30 s on 6.12.)
	 */
	munmap(m, span);
	wait_unshared(30);
	left = sys_get("pages_shared") + sys_get("pages_sharing");
	sys_set("run", 0);
	sys_set("pages_to_scan", 100);
	sys_set("sleep_millisecs", 20);
	if (left > 0) {
		printf("# bench-error %s: %ld KSM pages and mappings still counted 30 s after the unmap\n",
		       name, left);
		return 1;
	}
	return 0;	/* no full scan within the cap is a result (scans=0), not an error */
}

/* Write advisor_mode (a word, not a number). */
static void sys_set_word(const char *name, const char *v)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", sysdir, name);
	fd = open(path, O_WRONLY);
	if (fd < 0 || write(fd, v, strlen(v)) < 0) {
		fprintf(stderr, "bench: cannot set %s=%s: %s\n", path, v, strerror(errno));
		exit(1);
	}
	close(fd);
}

/* advisor: does the scan-time advisor reach its target, at what CPU share? */
static int bench_advisor(long mib)
{
	long pages = mib * 1048576 / psize, target = mib < 128 ? 2 : 5, n = 0, f;
	double window = mib < 16 ? 8 : 18.0 * target, t[64], c[64], t0;
	long pts[64];
	pid_t pid;

	if (read_long_at(sysdir, "advisor_target_scan_time") < 0) {
		printf("# bench workload=advisor unsupported=1\n");
		return 0;
	}
	sys_set("run", 0);
	sys_set("sleep_millisecs", 20);
	/*
	 * Smart scan would skip the unique pages after a few scans and make
	 * every full scan short whatever the advisor does (both kernels
	 * that have the advisor have smart scan).
	 */
	sys_set("smart_scan", 0);
	sys_set("advisor_target_scan_time", target);
	sys_set("advisor_min_pages_to_scan", 100);
	sys_set_word("advisor_mode", "scan-time");
	start_procs_ex(&pid, 1, pages, pages, 0x5a, NULL, NULL, NULL);
	/*
	 * Every full scan's end, its scanner CPU and the pages_to_scan the
	 * advisor chose after it, over the whole window: the convergence.
	 */
	f = sys_get("full_scans");
	t0 = now();
	t[0] = t0;
	c[0] = thread_cpu(scanner());
	pts[0] = sys_get("pages_to_scan");
	sys_set("run", 1);
	while (now() - t0 < window && n < 63) {
		usleep(10000);
		if (sys_get("full_scans") <= f)
			continue;
		f = sys_get("full_scans");
		n++;
		t[n] = now();
		c[n] = thread_cpu(scanner());
		pts[n] = sys_get("pages_to_scan");
		printf("# bench-advisor-scan impl=%s scan=%ld seconds=%.2f cpu_percent=%.1f pages_to_scan=%ld\n",
		       scanner(), n, t[n] - t[n - 1], 100 * (c[n] - c[n - 1]) / (t[n] - t[n - 1]),
		       pts[n]);
	}
	/* Scan 1 may have begun before the process was there: scan 2 is the first whole one. */
	if (n >= 4)
		printf("# bench workload=advisor mib=%ld target_s=%ld window_s=%.0f scans=%ld first_scan_seconds=%.2f scan_seconds=%.2f scanner_cpu_percent=%.1f pages_to_scan=%ld\n",
		       mib, target, window, n, t[2] - t[1], (t[n] - t[n - 3]) / 3,
		       100 * (c[n] - c[n - 3]) / (t[n] - t[n - 3]), pts[n]);
	else
		printf("# bench workload=advisor mib=%ld target_s=%ld window_s=%.0f scans=%ld\n",
		       mib, target, window, n);
	stop_procs(&pid, 1);
	sys_set("run", 2);
	sys_set("run", 0);
	sys_set_word("advisor_mode", "none");
	sys_set("advisor_target_scan_time", 200);
	sys_set("advisor_min_pages_to_scan", 500);
	sys_set("smart_scan", 1);
	return n >= 4 ? 0 : 1;
}

int main(int argc, char **argv)
{
	long mib;

	if (argc < 4) {
		fprintf(stderr, "usage: bench WORKLOAD SYSFS_DIR SIZE [MAX_PAGE_SHARING|PROCESSES]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	sysdir = argv[2];
	mib = atol(argv[3]);
	psize = sysconf(_SC_PAGESIZE);
	if (!strcmp(argv[1], "merge"))
		return bench_merge(mib, false);
	if (!strcmp(argv[1], "merge-half"))
		return bench_merge(mib, true);
	if (!strcmp(argv[1], "cpu"))
		return bench_cpu(mib);
	if (!strcmp(argv[1], "unique"))
		return bench_unique(mib);
	if (!strcmp(argv[1], "ceiling"))
		return bench_ceiling(mib);
	if (!strncmp(argv[1], "unmerge-", 8))
		return bench_unmerge(mib, argv[1] + 8);
	if (!strcmp(argv[1], "cow"))
		return bench_cow(mib);
	if (!strcmp(argv[1], "rmap"))
		return bench_rmap(mib, argc > 4 ? atol(argv[4]) : 256);
	if (!strcmp(argv[1], "densify"))
		return bench_densify(mib);
	if (!strcmp(argv[1], "metadata"))
		return bench_metadata(mib);
	if (!strcmp(argv[1], "scale"))
		return bench_scale(mib, argc > 4 ? atoi(argv[4]) : NPROC);
	if (!strcmp(argv[1], "sparse") || !strcmp(argv[1], "sparse-wide") ||
	    !strcmp(argv[1], "sparse-dense"))
		return bench_sparse(argv[1], mib, !strcmp(argv[1], "sparse-dense"));
	if (!strcmp(argv[1], "advisor"))
		return bench_advisor(mib);
	fprintf(stderr, "bench: unknown workload %s\n", argv[1]);
	return 2;
}
