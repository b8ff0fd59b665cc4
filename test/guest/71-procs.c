// SPDX-License-Identifier: GPL-2.0
/*
 * N identical pages in 1, 2 and 4 processes: three groups of processes,
 * each process of a group holding NPAGES pages of the group's own byte,
 * registered by the process itself. After merging, every page of a group,
 * across all its processes, maps one PFN (read from each process's own
 * /proc/self/pagemap), the three groups' PFNs differ, and the counters are
 * exact: one KSM page per group, 7 x NPAGES - 3 extra mappings. Every byte
 * is checked by its owner at the end.
 */
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "ksmtest.h"

#define NPAGES	32
#define NPROCS	7	/* group 0: 1 process, group 1: 2, group 2: 4 */

static const int group_of[NPROCS] = { 0, 1, 1, 2, 2, 2, 2 };
static const int group_byte[3] = { 0x61, 0x62, 0x63 };

/* Child: fill, register, report "ready", then on request report its PFN and bytes. */
static void worker(int fd, int byte, int up, int down)
{
	long psize = sysconf(_SC_PAGESIZE);
	char *m = ksmt_map_filled(NPAGES, byte);
	uint64_t msg[2];
	char c;

	if (!m)
		_exit(2);
	if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, NPAGES * psize))
		_exit(3);
	msg[0] = 0;
	if (write(up, msg, sizeof(msg)) != sizeof(msg))
		_exit(4);
	if (read(down, &c, 1) != 1)
		_exit(5);
	/* msg[0]: the PFN all pages share (0 if they do not); msg[1]: bytes ok. */
	msg[0] = ksmt_pfn_of(m);
	for (int i = 1; i < NPAGES; i++)
		if (ksmt_pfn_of(m + i * psize) != msg[0])
			msg[0] = 0;
	msg[1] = 1;
	for (long i = 0; i < NPAGES * psize; i++)
		if (m[i] != (char)byte)
			msg[1] = 0;
	if (write(up, msg, sizeof(msg)) != sizeof(msg))
		_exit(6);
	pause();
	_exit(0);
}

int main(void)
{
	int up[NPROCS][2], down[NPROCS][2], fd;
	uint64_t pfn[NPROCS], ok[NPROCS], msg[2];
	struct ksmmod_stats s;
	pid_t pids[NPROCS];
	bool good;

	ktap_print_header(6);
	ksmt_ensure_loaded();
	fd = ksmt_open();
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	fflush(stdout);
	for (int i = 0; i < NPROCS; i++) {
		if (pipe(up[i]) || pipe(down[i]))
			ktap_exit_fail_msg("pipe");
		pids[i] = fork();
		if (pids[i] == 0)
			worker(fd, group_byte[group_of[i]], up[i][1], down[i][0]);
		if (read(up[i][0], msg, sizeof(msg)) != sizeof(msg))
			ktap_exit_fail_msg("worker %d did not start", i);
	}
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	ksmt_settle(fd, 3);
	s = ksmt_settle(fd, 1);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	for (int i = 0; i < NPROCS; i++) {
		if (write(down[i][1], "x", 1) != 1 ||
		    read(up[i][0], msg, sizeof(msg)) != sizeof(msg))
			ktap_exit_fail_msg("worker %d did not answer", i);
		pfn[i] = msg[0];
		ok[i] = msg[1];
	}

	for (int g = 0; g < 3; g++) {
		uint64_t first = 0;

		good = true;
		for (int i = 0; i < NPROCS; i++) {
			if (group_of[i] != g)
				continue;
			if (!first)
				first = pfn[i];
			good = good && pfn[i] && pfn[i] == first;
		}
		ktap_test_result(good, "%d process(es) x %d identical pages: one PFN (%#llx)",
				 g == 0 ? 1 : g == 1 ? 2 : 4, NPAGES, (unsigned long long)first);
	}
	ktap_test_result(pfn[0] != pfn[1] && pfn[1] != pfn[3] && pfn[0] != pfn[3],
			 "the three groups' PFNs differ");
	ktap_test_result(s.pages_shared == 3 && s.pages_sharing == NPROCS * NPAGES - 3 &&
			 s.pages_unshared == 0 && s.pages_volatile == 0,
			 "counters: shared %llu (3), sharing %llu (%d), unshared %llu, volatile %llu",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing,
			 NPROCS * NPAGES - 3, (unsigned long long)s.pages_unshared,
			 (unsigned long long)s.pages_volatile);
	good = true;
	for (int i = 0; i < NPROCS; i++)
		good = good && ok[i];
	ktap_test_result(good, "every byte of every process intact");

	for (int i = 0; i < NPROCS; i++) {
		kill(pids[i], SIGKILL);
		waitpid(pids[i], NULL, 0);
	}
	return ktap_finished();
}
