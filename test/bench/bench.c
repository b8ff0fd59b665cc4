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
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NPROC	4

static const char *sysdir;
static long psize;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static long sys_get(const char *name)
{
	char path[256], buf[64];
	int fd;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", sysdir, name);
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

/* CPU seconds (user + system) of the kernel thread named @comm, or -1. */
static double thread_cpu(const char *comm)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	double cpu = -1;

	while (d && (e = readdir(d))) {
		char path[300], buf[512];
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

/* A child with @pages pages: identical (0x5a) except that @unique of them are unique. */
static pid_t spawn(long pages, long unique, int id, int ready)
{
	pid_t pid = fork();

	if (pid == 0) {
		char *m = mmap(NULL, pages * psize, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (m == MAP_FAILED)
			_exit(1);
		madvise(m, pages * psize, MADV_NOHUGEPAGE);
		memset(m, 0x5a, pages * psize);
		for (long i = 0; i < unique; i++)
			snprintf(m + i * psize, 64, "unique %d %ld", id, i);
		if (madvise(m, pages * psize, MADV_MERGEABLE))
			_exit(2);
		if (write(ready, "r", 1) != 1)
			_exit(3);
		for (;;)
			pause();
	}
	return pid;
}

static void start_procs(pid_t *pids, long pages, long unique)
{
	int p[2];
	char c;

	if (pipe(p))
		exit(1);
	for (int i = 0; i < NPROC; i++)
		pids[i] = spawn(pages, unique, i, p[1]);
	for (int i = 0; i < NPROC; i++)
		if (read(p[0], &c, 1) != 1)
			exit(1);
	close(p[0]);
	close(p[1]);
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

static int bench_unique(long mib)
{
	long pages = mib * 1048576 / psize, scans0, scanned;
	double t0, cpu0, cpu, secs;
	pid_t pid;

	sys_set("run", 0);
	sys_set("pages_to_scan", 10000);
	sys_set("sleep_millisecs", 0);
	{
		int p[2];
		char c;

		if (pipe(p))
			return 1;
		pid = spawn(pages, pages, 0, p[1]);
		if (read(p[0], &c, 1) != 1)
			return 1;
		close(p[0]);
		close(p[1]);
	}
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
	printf("# bench workload=unique mib=%ld pages=%ld seconds=%.3f scanner_cpu_s=%.3f cpu_ns_per_scanned_page=%.0f pages_scanned_per_s=%.0f\n",
	       mib, pages, secs, cpu, cpu * 1e9 / scanned, scanned / secs);
	stop_procs(&pid, 1);
	sys_set("run", 2);
	sys_set("run", 0);
	return 0;
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
	double t0, tm, th;

	if (!a || !b)
		return 1;
	memset(a, 0x5a, pages * psize);
	memset(b, 0x5a, pages * psize);
	t0 = now();
	for (long i = 0; i < pages; i++)
		sink += memcmp(a + i * psize, b + i * psize, psize);
	tm = now() - t0;
	t0 = now();
	for (long i = 0; i < pages; i++)
		sink += xxh64(a + i * psize, psize, 0);
	th = now() - t0;
	printf("# bench workload=ceiling mib=%ld memcmp_pages_per_s=%.0f memcmp_ns_per_page=%.0f xxh64_pages_per_s=%.0f xxh64_ns_per_page=%.0f\n",
	       mib, pages / tm, tm * 1e9 / pages, pages / th, th * 1e9 / pages);
	free(a);
	free(b);
	return 0;
}

int main(int argc, char **argv)
{
	long mib;

	if (argc != 4) {
		fprintf(stderr, "usage: bench merge|merge-half|cpu|unique|ceiling SYSFS_DIR MIB\n");
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
	fprintf(stderr, "bench: unknown workload %s\n", argv[1]);
	return 2;
}
