// SPDX-License-Identifier: GPL-2.0
/*
 * Pages behind NUMA-hinting (PROT_NONE) PTEs merge and unmerge.
 *
 * Automatic NUMA balancing makes a running task's PTEs PROT_NONE to sample
 * its accesses; they stay so until the task touches the page. Debian's 6.1
 * follow_page() refuses such PTEs unless asked with FOLL_FORCE, so memory a
 * process does not touch after being marked (an idle VM's RAM, a cache)
 * would never be scanned, and merged pages there never unmerged. A child
 * here fills memory on NUMA node 1 while running on node 0 (NUMA balancing
 * leaves local pages of a single-threaded process alone), spins without
 * touching it until NUMA balancing has marked it, then sleeps; all of it
 * must merge, and unmerge again.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "ksmtest.h"

#define NPAGES	512
#define BYTE	0x4e

static long vmstat(const char *name)
{
	char buf[16384], *p;

	if (ksmt_read_file("/proc/vmstat", buf, sizeof(buf)) <= 0)
		return -1;
	for (p = buf; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
		if (!strncmp(p, name, strlen(name)) && p[strlen(name)] == ' ')
			return atol(p + strlen(name) + 1);
	return -1;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(void)
{
	long psize = sysconf(_SC_PAGESIZE), updates0, updates;
	struct ksmmod_stats s;
	int fd, pfd[2], status;
	char *m;
	pid_t pid;

	ktap_print_header(3);
	if (access("/proc/sys/kernel/numa_balancing", W_OK) ||
	    access("/sys/devices/system/node/node1", F_OK)) {
		ktap_test_skip("NUMA hinting faults", "no NUMA balancing or a single NUMA node");
		ktap_test_skip("merge of PROT_NONE-hinted pages", "as above");
		ktap_test_skip("unmerge of PROT_NONE-hinted pages", "as above");
		return ktap_finished();
	}
	ksmt_ensure_loaded();
	fd = ksmt_open();
	ksmt_write_file("/proc/sys/kernel/numa_balancing", "1");
	{
		char v[16] = "", cpus0[64] = "", cpus1[64] = "";

		ksmt_read_file("/proc/sys/kernel/numa_balancing", v, sizeof(v));
		ksmt_read_file("/sys/devices/system/node/node0/cpulist", cpus0, sizeof(cpus0));
		ksmt_read_file("/sys/devices/system/node/node1/cpulist", cpus1, sizeof(cpus1));
		ktap_print_msg("numa_balancing %.1s, node0 cpus %.1s, node1 cpus %.1s", v, cpus0, cpus1);
	}

	m = mmap(NULL, NPAGES * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED || pipe(pfd))
		ktap_exit_fail_msg("mmap/pipe: %s", strerror(errno));
	madvise(m, NPAGES * psize, MADV_NOHUGEPAGE);
	updates0 = vmstat("numa_pte_updates");
	pid = fork();
	if (pid == 0) {
		unsigned long node1 = 1UL << 1;
		volatile unsigned long spin = 0;
		char cpus[64] = "";
		cpu_set_t set;
		double t0;
		char c = 1;

		/* Memory on node 1 (MPOL_BIND), the task on node 0's first CPU. */
		if (syscall(SYS_set_mempolicy, 2, &node1, 8 * sizeof(node1)))
			_exit(1);
		ksmt_read_file("/sys/devices/system/node/node0/cpulist", cpus, sizeof(cpus));
		CPU_ZERO(&set);
		CPU_SET(atoi(cpus), &set);
		sched_setaffinity(0, sizeof(set), &set);
		memset(m, BYTE, NPAGES * psize);
		/* Back to the default policy: NUMA balancing skips MPOL_BIND tasks. */
		syscall(SYS_set_mempolicy, 0, NULL, 0UL);
		if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, NPAGES * psize))
			_exit(1);
		/* Run (NUMA balancing scans running tasks) without touching @m. */
		for (t0 = now(); now() - t0 < 8;)
			spin++;
		if (write(pfd[1], &c, 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	if (read(pfd[0], &status, 1) != 1)
		ktap_exit_fail_msg("child failed");
	updates = vmstat("numa_pte_updates");
	ktap_print_msg("numa_pte_updates %ld -> %ld", updates0, updates);
	if (updates - updates0 >= NPAGES)
		ktap_test_result(true, "NUMA balancing made %ld PTEs PROT_NONE while the child ran",
				 updates - updates0);
	else
		ktap_test_skip("NUMA hinting faults",
			       "NUMA balancing marked fewer PTEs than the child has pages within 8 s: the merge below proves less");

	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	s = ksmt_settle(fd, 4);
	ktap_test_result(s.pages_shared == 2 && s.pages_sharing == NPAGES - 2,
			 "the untouched child's pages merged: shared %llu sharing %llu (want 2 %d: 256 + 256 dups)",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing,
			 NPAGES - 2);
	ksmt_set_run(fd, KSMMOD_RUN_UNMERGE);
	s = ksmt_stats(fd);
	ktap_test_result(s.pages_shared == 0 && s.pages_sharing == 0 && s.stable_node_dups == 0,
			 "run=2 unmerged them all: shared %llu sharing %llu dups %llu",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing,
			 (unsigned long long)s.stable_node_dups);
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	return ktap_finished();
}
