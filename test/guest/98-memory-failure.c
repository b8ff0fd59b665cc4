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
 * Then the same test with the kernel's own KSM (ksmmod unloaded, the
 * processes use madvise(MADV_MERGEABLE), ksmd merges): every outcome (the
 * soft offline's result and move, the hard error's result, which processes
 * got SIGBUS, whose bytes stayed) must be the same as with ksmmod.
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

static int fd;
static long psize;
static bool kernel_ksm;		/* the processes use the kernel's KSM (madvise) */

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
	if (kernel_ksm ? madvise(m, NPAGES * psize, MADV_MERGEABLE) :
			 ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, NPAGES * psize))
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
	uint64_t flags;

	ksmt_kpageflags(pfn, &flags);	/* 0 if unreadable */
	return flags & (1ULL << KPF_HWPOISON);
}

static bool memory_failure_supported(void)
{
	return access("/proc/sys/vm/memory_failure_early_kill", F_OK) == 0;
}

#define KSM "/sys/kernel/mm/ksm/"

/* What happened in one run of the test, to compare the two KSMs. */
struct outcome {
	int soft_err;		/* MADV_SOFT_OFFLINE's errno */
	int soft_moved;		/* the page moved, both processes followed, old one poisoned */
	int soft_intact;	/* bytes and mappings intact afterwards */
	int hard_err;		/* MADV_HWPOISON's errno */
	int sigbus1, sigbus2;	/* the process that hit it, the other one */
	int hard_intact;	/* (refused) both keep their bytes */
};

/* The kernel's sysfs KSM counter @name. */
static long long ksm_counter(const char *name)
{
	char path[96], buf[32];

	snprintf(path, sizeof(path), KSM "%s", name);
	return ksmt_read_file(path, buf, sizeof(buf)) > 0 ? atoll(buf) : -1;
}

/* Merge the victims' pages: ksmmod's scanner, or ksmd (up to 60 s). */
static void merge_victims(void)
{
	if (!kernel_ksm) {
		ksmt_set_run(fd, KSMMOD_RUN_MERGE);
		ksmt_settle(fd, 3);
		ksmt_set_run(fd, KSMMOD_RUN_STOP);
		return;
	}
	ksmt_write_file(KSM "pages_to_scan", "1000");
	ksmt_write_file(KSM "sleep_millisecs", "10");
	ksmt_write_file(KSM "run", "1");
	for (int i = 0; i < 600 && ksm_counter("pages_sharing") < 2 * NPAGES - 1; i++)
		usleep(100 * 1000);
	ksmt_write_file(KSM "run", "0");
}

/* Exit status of a victim: 42 for SIGBUS (handled or not), else its status. */
static int sigbus_of(int st)
{
	return (WIFEXITED(st) && WEXITSTATUS(st) == 42) || (WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS);
}

static struct outcome scenario(void)
{
	const char *who = kernel_ksm ? "the kernel's KSM" : "ksmmod";
	int ok1, same1, ok2, same2, err, st1, st2;
	unsigned long long pfn1, pfn2, old;
	struct outcome o = { 0 };
	struct proc a, b;
	char line[96];

	/* Soft offline. */
	a = start_victim(0x6e);
	b = start_victim(0x6e);
	merge_victims();
	if (!ask(&a, 'c', line, sizeof(line)) || sscanf(line, "%d %d %llu", &ok1, &same1, &pfn1) != 3)
		ktap_exit_fail_msg("victim a: no answer");
	old = pfn1;
	ktap_print_msg("%s merged: all %d mappings on one page: %d, KSM page at PFN %#llx", who, NPAGES,
		       same1 == NPAGES, old);
	err = -1;
	if (ask(&a, 's', line, sizeof(line)))
		sscanf(line, "%d", &err);
	ok1 = ok2 = same1 = same2 = -1;
	pfn1 = pfn2 = 0;
	if (ask(&a, 'c', line, sizeof(line)))
		sscanf(line, "%d %d %llu", &ok1, &same1, &pfn1);
	if (ask(&b, 'c', line, sizeof(line)))
		sscanf(line, "%d %d %llu", &ok2, &same2, &pfn2);
	o.soft_err = err;
	o.soft_moved = pfn1 && pfn1 != old && pfn1 == pfn2 && kpage_hwpoison(old);
	o.soft_intact = ok1 == 1 && ok2 == 1 && same1 == NPAGES && same2 == NPAGES;
	ktap_print_msg("%s, soft offline: madvise %d, moved %#llx -> %#llx/%#llx, old poisoned %d, intact %d",
		       who, err, old, pfn1, pfn2, kpage_hwpoison(old), o.soft_intact);

	/* Hard error, early kill. */
	if (!ksmt_write_file("/proc/sys/vm/memory_failure_early_kill", "1"))
		ktap_print_msg("cannot set vm.memory_failure_early_kill");
	err = -1;
	if (ask(&a, 'h', line, sizeof(line)))
		sscanf(line, "%d", &err);
	o.hard_err = err;
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
		o.hard_intact = ok1 == 1 && same1 == NPAGES && ok2 == 1 && same2 == NPAGES && pfn1 == pfn2;
	} else {
		/*
		 * Killed at once where the kernel finds the processes of a
		 * KSM page (collect_procs_ksm(), 6.7+: they are gone
		 * already and these asks fail), else on the next access.
		 */
		ask(&a, 't', line, sizeof(line));
		ask(&b, 't', line, sizeof(line));
	}
	st1 = finish(&a);
	st2 = finish(&b);
	o.sigbus1 = sigbus_of(st1);
	o.sigbus2 = sigbus_of(st2);
	ktap_print_msg("%s, hard error: madvise %d, SIGBUS %d %d (status %#x %#x), bytes kept %d",
		       who, err, o.sigbus1, o.sigbus2, st1, st2, o.hard_intact);
	ksmt_write_file("/proc/sys/vm/memory_failure_early_kill", "0");
	return o;
}

int main(void)
{
	struct ksmmod_stats s, before;
	struct outcome o, k;
	struct proc a, b;
	int err;

	ktap_print_header(7);
	psize = sysconf(_SC_PAGESIZE);
	signal(SIGPIPE, SIG_IGN);	/* a victim killed early closes its pipe */
	if (!memory_failure_supported()) {
		for (int i = 0; i < 7; i++)
			ktap_test_skip("memory failure", "kernel without CONFIG_MEMORY_FAILURE");
		return ktap_finished();
	}
	ksmt_ensure_loaded();
	fd = ksmt_open();
	ksmt_set_run(fd, KSMMOD_RUN_UNMERGE);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);

	o = scenario();
	ktap_test_result(o.soft_err == 0 && o.soft_moved,
			 "soft offline of a merged page: madvise %d, the KSM page moved, every mapping of both processes followed, the old page poisoned",
			 o.soft_err);
	before = ksmt_stats(fd);
	ktap_test_result(o.soft_intact, "after it: bytes intact, all %d mappings of each process on it", NPAGES);
	if (o.hard_err == EBUSY) {
		ktap_test_result(o.hard_intact && !o.sigbus1,
				 "hard error on a merged page: refused by this kernel (EBUSY, as for its own KSM pages), the process keeps its bytes");
		ktap_test_result(o.hard_intact && !o.sigbus2,
				 "the other process mapping the page keeps its bytes and mappings");
	} else {
		ktap_test_result(o.sigbus1, "hard error on a merged page: the process that hit it got SIGBUS (madvise %d)",
				 o.hard_err);
		ktap_test_result(o.sigbus2, "the other process mapping the page got SIGBUS too");
	}
	/* No process left to scan: no full scan to wait for, only the exits. */
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	s = ksmt_wait_drained(fd);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	ktap_test_result(s.pages_shared == 0 && s.pages_sharing == 0 && s.mm_slots == 0,
			 "both gone: shared %llu sharing %llu, %llu processes registered (want 0 0 0; %llu %llu while they were there)",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing,
			 (unsigned long long)s.mm_slots, (unsigned long long)before.pages_shared,
			 (unsigned long long)before.pages_sharing);

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

	/* The same with the kernel's own KSM, ksmmod unloaded. */
	if (err || access(KSM "run", W_OK)) {
		ktap_test_skip("the kernel's own KSM in the same test", err ? "ksmmod did not unload" :
			       "no /sys/kernel/mm/ksm");
	} else {
		kernel_ksm = true;
		k = scenario();
		ktap_test_result(k.soft_err == o.soft_err && k.soft_moved == o.soft_moved &&
				 k.soft_intact == o.soft_intact && k.hard_err == o.hard_err &&
				 k.sigbus1 == o.sigbus1 && k.sigbus2 == o.sigbus2 &&
				 k.hard_intact == o.hard_intact,
				 "the kernel's own KSM in the same test, the same outcome: soft offline %d/%d moved %d/%d intact %d/%d, hard error %d/%d, SIGBUS %d,%d/%d,%d, bytes kept %d/%d (kernel/ksmmod)",
				 k.soft_err, o.soft_err, k.soft_moved, o.soft_moved, k.soft_intact,
				 o.soft_intact, k.hard_err, o.hard_err, k.sigbus1, k.sigbus2, o.sigbus1,
				 o.sigbus2, k.hard_intact, o.hard_intact);
		ksmt_write_file(KSM "run", "2");
		ksmt_write_file(KSM "run", "0");
	}
	if (ksmt_load(""))
		ktap_print_msg("could not load ksmmod again");
	return ktap_finished();
}
