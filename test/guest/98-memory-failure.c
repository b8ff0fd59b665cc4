// SPDX-License-Identifier: GPL-2.0
/*
 * Memory failure on a page ksmmod merged: the kernel's memory-failure code
 * walks ksmmod's stable node (collect_procs_ksm(), rmap_walk_ksm()) as it
 * walks its own.
 *
 * - Soft offline (MADV_SOFT_OFFLINE, a corrected error): the KSM page is
 *   migrated away; both processes mapping it still read their bytes, every
 *   mapping follows to one new PFN, the counters do not change.
 * - Hard error (MADV_HWPOISON) with vm.memory_failure_early_kill=1: every
 *   process mapping the page gets SIGBUS (the kernel collects the processes
 *   of a KSM page through its stable node, collect_procs_ksm()); 6.1 refuses
 *   a hard error on any KSM page, its own too (EBUSY, "can't handle KSM
 *   pages"), and both processes keep their bytes. Once the two processes are
 *   gone ksmmod's counters are back to zero, and it goes on merging.
 * The guest log is checked for kernel errors by the harness; 99-kmemleak
 * checks for leaks afterwards.
 */
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "ksmtest.h"

#ifndef MADV_HWPOISON
#define MADV_HWPOISON		100
#endif
#ifndef MADV_SOFT_OFFLINE
#define MADV_SOFT_OFFLINE	101
#endif
#define NPAGES		16	/* per process, all with one content */
#define KPF_HWPOISON	19

static int fd;
static long psize;
static void on_sigbus(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)si;
	(void)uc;
	_exit(42);
}

/*
 * One process: maps NPAGES pages of @byte, registers them, reports ready on
 * @rep and waits for a command on @cmd: 'c' check (bytes and PFNs), 's' soft
 * offline its page 0, 'h' hard-poison its page 0, 't' read its page 0, 'q'
 * quit. Reports one line per command. A SIGBUS ends it with exit code 42.
 */
static void victim(int byte, int cmd, int rep)
{
	struct sigaction sa = { .sa_sigaction = on_sigbus, .sa_flags = SA_SIGINFO };
	char c, line[96];
	char *m;
	int err;

	sigaction(SIGBUS, &sa, NULL);
	m = ksmt_map_filled(NPAGES, byte);
	if (!m)
		_exit(1);
	if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, NPAGES * psize))
		_exit(2);
	if (write(rep, "r\n", 2) != 2)
		_exit(3);
	while (read(cmd, &c, 1) == 1) {
		uint64_t pfn = ksmt_pfn_of(m);
		int same = 0;

		switch (c) {
		case 'c':
			for (int i = 0; i < NPAGES; i++)
				same += ksmt_pfn_of(m + i * psize) == pfn;
			snprintf(line, sizeof(line), "%d %d %llu\n", ksmt_bytes_ok(m, NPAGES * psize, byte),
				 same, (unsigned long long)pfn);
			break;
		case 's':
		case 'h':
			err = madvise(m, psize, c == 's' ? MADV_SOFT_OFFLINE : MADV_HWPOISON) ? errno : 0;
			snprintf(line, sizeof(line), "%d\n", err);
			break;
		case 't':
			snprintf(line, sizeof(line), "%d\n", *(volatile char *)m);
			break;
		default:
			_exit(0);
		}
		if (write(rep, line, strlen(line)) <= 0)
			_exit(4);
	}
	_exit(0);
}

struct proc {
	pid_t pid;
	int cmd, rep;
};

static struct proc start_victim(int byte)
{
	int c[2], r[2];
	struct proc p;
	char buf[8];

	if (pipe(c) || pipe(r))
		ktap_exit_fail_msg("pipe: %s", strerror(errno));
	p.pid = fork();
	if (p.pid == 0) {
		close(c[1]);
		close(r[0]);
		victim(byte, c[0], r[1]);
	}
	close(c[0]);
	close(r[1]);
	p.cmd = c[1];
	p.rep = r[0];
	if (read(p.rep, buf, 2) != 2)
		ktap_exit_fail_msg("a victim did not start");
	return p;
}

/* Send @c, read one reply line into @line; false if the process died. */
static bool ask(struct proc *p, char c, char *line, size_t size)
{
	ssize_t n;

	if (write(p->cmd, &c, 1) != 1)
		return false;
	n = read(p->rep, line, size - 1);
	if (n <= 0)
		return false;
	line[n] = 0;
	return true;
}

static int finish(struct proc *p)
{
	int status = 0;

	if (write(p->cmd, "q", 1) != 1) {
		/* gone already */
	}
	close(p->cmd);
	close(p->rep);
	waitpid(p->pid, &status, 0);
	return status;
}

static bool kpage_hwpoison(uint64_t pfn)
{
	int f = open("/proc/kpageflags", O_RDONLY | O_CLOEXEC);
	uint64_t flags = 0;

	if (f < 0 || pread(f, &flags, sizeof(flags), pfn * sizeof(flags)) != sizeof(flags))
		flags = 0;
	if (f >= 0)
		close(f);
	return flags & (1ULL << KPF_HWPOISON);
}

static bool memory_failure_supported(void)
{
	return access("/proc/sys/vm/memory_failure_early_kill", F_OK) == 0;
}

int main(void)
{
	int ok1, same1, ok2, same2, err, st1, st2;
	unsigned long long pfn1, pfn2, old;
	struct ksmmod_stats s, before;
	struct proc a, b;
	char line[96];

	ktap_print_header(6);
	psize = sysconf(_SC_PAGESIZE);
	signal(SIGPIPE, SIG_IGN);	/* a victim killed early closes its pipe */
	if (!memory_failure_supported()) {
		for (int i = 0; i < 6; i++)
			ktap_test_skip("memory failure", "kernel without CONFIG_MEMORY_FAILURE");
		return ktap_finished();
	}
	ksmt_ensure_loaded();
	fd = ksmt_open();
	ksmt_set_run(fd, KSMMOD_RUN_UNMERGE);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);

	/* Soft offline. */
	a = start_victim(0x6e);
	b = start_victim(0x6e);
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	before = ksmt_settle(fd, 3);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	if (!ask(&a, 'c', line, sizeof(line)) || sscanf(line, "%d %d %llu", &ok1, &same1, &pfn1) != 3)
		ktap_exit_fail_msg("victim a: no answer");
	old = pfn1;
	ktap_print_msg("merged: shared %llu sharing %llu, KSM page at PFN %#llx",
		       (unsigned long long)before.pages_shared,
		       (unsigned long long)before.pages_sharing, old);
	err = -1;
	if (ask(&a, 's', line, sizeof(line)))
		sscanf(line, "%d", &err);
	ok1 = ok2 = same1 = same2 = -1;
	pfn1 = pfn2 = 0;
	if (ask(&a, 'c', line, sizeof(line)))
		sscanf(line, "%d %d %llu", &ok1, &same1, &pfn1);
	if (ask(&b, 'c', line, sizeof(line)))
		sscanf(line, "%d %d %llu", &ok2, &same2, &pfn2);
	ktap_test_result(err == 0 && pfn1 && pfn1 != old && pfn1 == pfn2 && kpage_hwpoison(old),
			 "soft offline of a merged page: madvise %s, the KSM page moved from PFN %#llx to %#llx (both processes: %#llx), old page poisoned: %d",
			 err ? strerror(err) : "ok", old, pfn1, pfn2, kpage_hwpoison(old));
	s = ksmt_stats(fd);
	ktap_test_result(ok1 == 1 && ok2 == 1 && same1 == NPAGES && same2 == NPAGES &&
			 before.pages_shared == 1 && before.pages_sharing == 2 * NPAGES - 1 &&
			 s.pages_shared == before.pages_shared && s.pages_sharing == before.pages_sharing,
			 "after it: bytes intact (%d %d), all %d mappings of each process on it (%d %d), counters unchanged (shared %llu sharing %llu)",
			 ok1, ok2, NPAGES, same1, same2, (unsigned long long)s.pages_shared,
			 (unsigned long long)s.pages_sharing);

	/* Hard error, early kill: both processes get SIGBUS. */
	if (!ksmt_write_file("/proc/sys/vm/memory_failure_early_kill", "1"))
		ktap_print_msg("cannot set vm.memory_failure_early_kill");
	err = -1;
	if (ask(&a, 'h', line, sizeof(line)))
		sscanf(line, "%d", &err);
	if (err == EBUSY) {
		/*
		 * 6.1 refuses a hard error on any KSM page ("can't handle KSM
		 * pages"), its own as well: nothing happens to the page.
		 */
		ok1 = ok2 = same1 = same2 = -1;
		if (ask(&a, 'c', line, sizeof(line)))
			sscanf(line, "%d %d %llu", &ok1, &same1, &pfn1);
		if (ask(&b, 'c', line, sizeof(line)))
			sscanf(line, "%d %d %llu", &ok2, &same2, &pfn2);
		st1 = finish(&a);
		st2 = finish(&b);
		ktap_test_result(ok1 == 1 && same1 == NPAGES && WIFEXITED(st1) && !WEXITSTATUS(st1),
				 "hard error on a merged page: refused by this kernel (EBUSY, as for its own KSM pages), the process keeps its bytes");
		ktap_test_result(ok2 == 1 && same2 == NPAGES && pfn1 == pfn2 && WIFEXITED(st2) &&
				 !WEXITSTATUS(st2),
				 "the other process mapping the page keeps its bytes and mappings");
	} else {
		/*
		 * Killed at once where the kernel finds the processes of a
		 * KSM page (collect_procs_ksm(), 6.7+: they are gone
		 * already and these asks fail), else on the next access.
		 */
		ask(&a, 't', line, sizeof(line));
		ask(&b, 't', line, sizeof(line));
		st1 = finish(&a);
		st2 = finish(&b);
		ktap_test_result(WIFEXITED(st1) && WEXITSTATUS(st1) == 42,
				 "hard error on a merged page: the process that hit it got SIGBUS (%s %d, madvise %d)",
				 WIFEXITED(st1) ? "exit" : "signal",
				 WIFEXITED(st1) ? WEXITSTATUS(st1) : WTERMSIG(st1), err);
		ktap_test_result((WIFEXITED(st2) && WEXITSTATUS(st2) == 42) ||
				 (WIFSIGNALED(st2) && WTERMSIG(st2) == SIGBUS),
				 "the other process mapping the page got SIGBUS too (%s %d)",
				 WIFEXITED(st2) ? "exit" : "signal",
				 WIFEXITED(st2) ? WEXITSTATUS(st2) : WTERMSIG(st2));
	}
	ksmt_write_file("/proc/sys/vm/memory_failure_early_kill", "0");
	/* No process left to scan: no full scan to wait for, only the exits. */
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	s = ksmt_wait_drained(fd);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	ktap_test_result(s.pages_shared == 0 && s.pages_sharing == 0 && s.mm_slots == 0,
			 "both gone: shared %llu sharing %llu, %llu processes registered (want 0 0 0)",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing,
			 (unsigned long long)s.mm_slots);

	/* ksmmod goes on working, and unloads cleanly. */
	a = start_victim(0x2a);
	b = start_victim(0x2a);
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	s = ksmt_settle(fd, 3);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	finish(&a);
	finish(&b);
	close(fd);
	err = ksmt_unload();
	ktap_test_result(s.pages_shared == 1 && s.pages_sharing == 2 * NPAGES - 1 && !err,
			 "merging afterwards: shared %llu sharing %llu; rmmod %s",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing,
			 err ? strerror(-err) : "ok");
	if (ksmt_load(""))
		ktap_print_msg("could not load ksmmod again");
	return ktap_finished();
}
