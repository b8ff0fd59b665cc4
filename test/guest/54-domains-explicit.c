// SPDX-License-Identifier: GPL-2.0
/*
 * Explicit merge domains (KSMMOD_IOC_SET_DOMAIN) and the counters of each
 * domain (KSMMOD_IOC_DOMAIN_STATS), proven by exact counters and by the
 * PFNs each worker maps (/proc/PID/pagemap, read by the root parent).
 *
 * Workers A, B, C hold NPAGES pages of one byte each (domworker.h). A and B
 * in domain 7 share one KSM page, C (default domain) has its own; the
 * per-domain counters say so exactly and add up to general_profit. B moved
 * to domain 8 while merged has its pages unmerged at once, then merges
 * alone. Explicit domains override merge_domains=uid; domain 0 gives a
 * process back to the policy. A fork stays in its parent's explicit domain;
 * so does a program started by `ksmmodctl run --domain` (exec: 6.12's
 * ksm_execve() in drop-in mode, the begin_new_exec() hook on 6.1), and,
 * with dropin=0, the fork of a process registered whole (the follow hook,
 * which reads the domain in atomic context). Every error of both ioctls
 * changes nothing.
 */
#define NPAGES	16
#define BYTE	0x5a
#include "domworker.h"

#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#ifndef SYS_pidfd_open
#define SYS_pidfd_open	434
#endif

#define MAXD	16

static int pidfd_of(pid_t pid)
{
	int pfd = syscall(SYS_pidfd_open, pid, 0);

	if (pfd < 0)
		ktap_exit_fail_msg("pidfd_open(%d): %s", pid, strerror(errno));
	return pfd;
}

/* SET_DOMAIN of @pid (0: the caller) with the given fields; 0 or -errno. */
static int set_domain_raw(pid_t pid, uint64_t id, uint32_t flags, uint32_t pad, uint64_t rsv)
{
	struct ksmmod_set_domain d;
	int pfd = pid ? pidfd_of(pid) : 0, ret;

	memset(&d, 0, sizeof(d));
	d.size = sizeof(d);
	d.pidfd = pfd;
	d.domain = id;
	d.flags = flags;
	d.pad = pad;
	d.reserved[3] = rsv;
	ret = ksmt_ioctl(fd, KSMMOD_IOC_SET_DOMAIN, &d);
	if (pfd)
		close(pfd);
	return ret;
}

static int set_domain(pid_t pid, uint64_t id)
{
	return set_domain_raw(pid, id, 0, 0, 0);
}

/* DOMAIN_STATS into @e (room @room): the count it returns, or -errno. */
static int domains(struct ksmmod_domain_entry *e, uint32_t room)
{
	struct ksmmod_domain_stats ds;
	int ret;

	memset(&ds, 0, sizeof(ds));
	ds.size = sizeof(ds);
	ds.count = room;
	ds.entry_size = sizeof(*e);
	ds.entries = (uintptr_t)e;
	ret = ksmt_ioctl(fd, KSMMOD_IOC_DOMAIN_STATS, &ds);
	return ret ? ret : (int)ds.count;
}

/* The entry of domain (@kind, @id) among @n, or NULL. */
static struct ksmmod_domain_entry *find(struct ksmmod_domain_entry *e, int n, uint32_t kind,
					uint64_t id)
{
	for (int i = 0; i < n; i++)
		if (e[i].kind == kind && e[i].id == id)
			return &e[i];
	return NULL;
}

/* Whether domain (@kind, @id) has exactly these counts (printed if not). */
static bool domain_is(struct ksmmod_domain_entry *e, int n, uint32_t kind, uint64_t id,
		      uint64_t procs, uint64_t shared, uint64_t sharing, uint64_t items)
{
	struct ksmmod_domain_entry *d = find(e, n, kind, id);

	if (!d) {
		ktap_print_msg("no domain kind %u id %llu among %d", kind, (unsigned long long)id, n);
		return false;
	}
	ktap_print_msg("domain kind %u id %llu: processes %llu shared %llu sharing %llu zero %llu items %llu profit %lld",
		       kind, (unsigned long long)id, (unsigned long long)d->processes,
		       (unsigned long long)d->pages_shared, (unsigned long long)d->pages_sharing,
		       (unsigned long long)d->ksm_zero_pages, (unsigned long long)d->rmap_items,
		       (long long)d->profit);
	return d->processes == procs && d->pages_shared == shared && d->pages_sharing == sharing &&
	       d->rmap_items == items;
}

/* Whether PROCESS_STATS of @pid says merge domain (@kind, @id). */
static bool stats_domain_is(pid_t pid, uint32_t kind, uint64_t id)
{
	struct ksmmod_process_stats ps;
	int pfd = pidfd_of(pid), err;

	err = ksmt_process_stats(fd, pfd, &ps);
	close(pfd);
	if (err || ps.domain_kind != kind || ps.domain_id != id || ps.pad2)
		ktap_print_msg("PROCESS_STATS of %d: %d, domain kind %u id %llu", pid, err,
			       ps.domain_kind, (unsigned long long)ps.domain_id);
	return !err && ps.domain_kind == kind && ps.domain_id == id && !ps.pad2;
}

/* A worker's fork (command 'f'): the child's pid. */
static pid_t fork_of(struct worker *w)
{
	uint64_t msg;

	if (write(w->down, "f", 1) != 1 || read(w->up, &msg, sizeof(msg)) != sizeof(msg))
		ktap_exit_fail_msg("fork request");
	return msg;
}

/*
 * "hold" mode, run by ksmmodctl run: map NPAGES pages of BYTE, tell the
 * parent where (on stdout), wait to be killed.
 */
static int hold(void)
{
	char *m = ksmt_map_filled(NPAGES, BYTE);
	uint64_t msg = (uintptr_t)m;

	if (!m || write(1, &msg, sizeof(msg)) != sizeof(msg))
		return 1;
	for (;;)
		pause();
}

/* `ksmmodctl run --domain @id -- SELF hold`: its pid, @addr set to its pages. */
static pid_t run_in_domain(const char *self, const char *id, uint64_t *addr)
{
	int p[2];
	pid_t pid;

	if (pipe(p))
		ktap_exit_fail_msg("pipe");
	pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		execl(KSMT_KSMMODCTL, "ksmmodctl", "run", "--domain", id, "--", self, "hold",
		      (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	if (read(p[0], addr, sizeof(*addr)) != sizeof(*addr))
		ktap_exit_fail_msg("ksmmodctl run --domain %s did not start the holder", id);
	close(p[0]);
	return pid;
}

/* Errors of both ioctls: each changes nothing (checked by the caller after). */
static void errors(struct worker *a, pid_t plain)
{
	struct ksmmod_domain_entry e[MAXD];
	struct ksmmod_domain_stats ds;
	struct ksmmod_api api;
	int n, st;
	pid_t kid;

	memset(&api, 0, sizeof(api));
	api.size = sizeof(api);
	api.api_version = 1;
	ktap_test_result(!ksmt_ioctl(fd, KSMMOD_IOC_API, &api) &&
			 (api.features & KSMMOD_FEATURE_DOMAIN_IOCTLS) &&
			 (api.ioctls & (1ULL << KSMMOD_NR_SET_DOMAIN)) &&
			 (api.ioctls & (1ULL << KSMMOD_NR_DOMAIN_STATS)),
			 "API: feature DOMAIN_IOCTLS, ioctls SET_DOMAIN and DOMAIN_STATS");
	ktap_test_result(set_domain_raw(a->pid, 5, 1, 0, 0) == -EINVAL &&
			 set_domain_raw(a->pid, 5, 0, 1, 0) == -EINVAL &&
			 set_domain_raw(a->pid, 5, 0, 0, 1) == -EINVAL,
			 "SET_DOMAIN: flags, pad, reserved not zero: EINVAL");
	ktap_test_result(set_domain(plain, 5) == -ENOENT,
			 "SET_DOMAIN of a process ksmmod does not know: ENOENT");
	{
		struct ksmmod_set_domain d;

		memset(&d, 0, sizeof(d));
		d.size = KSMMOD_SET_DOMAIN_SIZE_VER0 - 8;
		d.pidfd = 9999;
		ktap_test_result(ksmt_ioctl(fd, KSMMOD_IOC_SET_DOMAIN, &d) == -EINVAL,
				 "SET_DOMAIN: size below the first version: EINVAL");
		d.size = sizeof(d);
		ktap_test_result(ksmt_ioctl(fd, KSMMOD_IOC_SET_DOMAIN, &d) == -EBADF,
				 "SET_DOMAIN: not a pidfd: EBADF");
	}
	fflush(stdout);
	kid = fork();
	if (kid == 0) {
		struct ksmmod_domain_entry x;

		if (setresuid(1000, 1000, 1000))
			_exit(3);
		_exit(set_domain(a->pid, 5) == -EPERM && set_domain(0, 5) == -EPERM &&
		      domains(&x, 1) == -EPERM ? 0 : 1);
	}
	waitpid(kid, &st, 0);
	ktap_test_result(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			 "uid 1000 (no CAP_SYS_ADMIN): SET_DOMAIN of another process and of itself, DOMAIN_STATS: EPERM");
	/* A user with access to the device (a group, say), without CAP_SYS_ADMIN. */
	chmod(KSMMOD_DEV, 0666);
	fflush(stdout);
	kid = fork();
	if (kid == 0) {
		char pid[16], out[256], err_out[256];
		struct ksmmod_process_stats ps;
		pid_t g;
		int rc, pfd;

		/* Dumpable again after the uid change: its own child's stats are readable. */
		if (setresuid(1000, 1000, 1000) || prctl(PR_SET_DUMPABLE, 1))
			_exit(3);
		g = fork();
		if (g == 0) {
			pause();
			_exit(0);
		}
		snprintf(pid, sizeof(pid), "%d", g);
		rc = ksmt_ksmmodctl((char *[]){ "ksmmodctl", "add", "--domain", "5", pid, NULL },
				    out, sizeof(out), err_out, sizeof(err_out));
		pfd = pidfd_of(g);
		/* Not registered: the refusal came before ADD_PROCESS. */
		st = ksmt_process_stats(fd, pfd, &ps);
		kill(g, SIGKILL);
		if (rc != 1 || !strstr(err_out, "CAP_SYS_ADMIN") || st != -ENOENT) {
			ktap_print_msg("ksmmodctl: %d, '%s'; PROCESS_STATS: %d", rc, err_out, st);
			fflush(stdout);
			_exit(1);
		}
		_exit(0);
	}
	waitpid(kid, &st, 0);
	chmod(KSMMOD_DEV, 0600);
	ktap_test_result(WIFEXITED(st) && WEXITSTATUS(st) == 0,
			 "uid 1000: ksmmodctl add --domain fails naming CAP_SYS_ADMIN, and registers nothing");

	memset(&ds, 0, sizeof(ds));
	ds.size = sizeof(ds);
	ds.entry_size = KSMMOD_DOMAIN_ENTRY_SIZE_VER0 - 8;
	ds.count = 1;
	ds.entries = (uintptr_t)e;
	n = ksmt_ioctl(fd, KSMMOD_IOC_DOMAIN_STATS, &ds);
	ds.entry_size = sizeof(e[0]);
	ds.count = 65537;
	ktap_test_result(n == -EINVAL && ksmt_ioctl(fd, KSMMOD_IOC_DOMAIN_STATS, &ds) == -EINVAL,
			 "DOMAIN_STATS: entry_size below the first version, count above 65536: EINVAL");
	ds.count = 2;
	ds.entries = 8;
	n = ksmt_ioctl(fd, KSMMOD_IOC_DOMAIN_STATS, &ds);
	ds.entries = (uintptr_t)e;
	ds.flags = 1;
	ktap_test_result(n == -EFAULT && ksmt_ioctl(fd, KSMMOD_IOC_DOMAIN_STATS, &ds) == -EINVAL,
			 "DOMAIN_STATS: a bad address: EFAULT; flags: EINVAL");
	ktap_test_result(ksmt_ioctl(fd, _IOWR(KSMMOD_IOC_TYPE, 0x3f, struct ksmmod_domain_stats),
				    &ds) == -ENOTTY,
			 "an unknown command number: ENOTTY");
}

int main(int argc, char **argv)
{
	struct ksmmod_domain_entry e[MAXD];
	uint64_t pa, pb, pc, pk, ph1, ph2, h1addr, h2addr;
	struct worker a, b, c, w;
	char self[256];
	struct ksmmod_stats s;
	pid_t kid, plain, h1, h2;
	ssize_t len;
	int n, err;
	bool ok;

	if (argc > 1 && !strcmp(argv[1], "hold"))
		return hold();
	ktap_print_header(35);
	ksmt_ensure_loaded();
	fd = ksmt_open();
	len = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (len <= 0)
		ktap_exit_fail_msg("readlink /proc/self/exe");
	self[len] = '\0';
	ksmt_set_run(fd, KSMMOD_RUN_STOP);

	/* 1-3: A and B in domain 7 share a KSM page; C, default domain, has its own. */
	a = start(NULL, 0);
	b = start(NULL, 0);
	c = start(NULL, 0);
	ktap_test_result(!set_domain(a.pid, 7) && !set_domain(b.pid, 7),
			 "SET_DOMAIN 7 for A and B (by pidfd)");
	ktap_test_result(merged(2, 3 * NPAGES - 2), "shared 2, sharing %d", 3 * NPAGES - 2);
	pa = pfn_of(a.pid, a.addr);
	pb = pfn_of(b.pid, b.addr);
	pc = pfn_of(c.pid, c.addr);
	ktap_test_result(pa && pa == pb && pc && pc != pa,
			 "A and B map one PFN (%#llx, %#llx), C another (%#llx)",
			 (unsigned long long)pa, (unsigned long long)pb, (unsigned long long)pc);

	/* 4-7: the counters of each domain, exact, adding up to general_profit. */
	s = ksmt_stats(fd);
	n = domains(e, MAXD);
	ktap_test_result(n == 2 &&
			 domain_is(e, n, KSMMOD_DOMAINS_EXPLICIT, 7, 2, 1, 2 * NPAGES - 1, 2 * NPAGES) &&
			 domain_is(e, n, KSMMOD_DOMAINS_NONE, 0, 1, 1, NPAGES - 1, NPAGES),
			 "DOMAIN_STATS: explicit 7: 2 processes, 1 shared, %d sharing; default: 1, 1, %d",
			 2 * NPAGES - 1, NPAGES - 1);
	ktap_test_result(n == 2 && e[0].profit + e[1].profit == s.general_profit &&
			 e[0].ksm_zero_pages == 0 && !e[0].pad && !e[0].reserved[0],
			 "the domains' profits add up to general_profit (%lld)",
			 (long long)s.general_profit);
	ktap_test_result(stats_domain_is(a.pid, KSMMOD_DOMAINS_EXPLICIT, 7) &&
			 stats_domain_is(c.pid, KSMMOD_DOMAINS_NONE, 0),
			 "PROCESS_STATS: A in explicit domain 7, C in the default domain");
	{
		char out[1024], err_out[256];
		char line7[128], line0[128];
		int rc;

		rc = ksmt_ksmmodctl((char *[]){ "ksmmodctl", "status", "--raw", "--domains", NULL },
				    out, sizeof(out), err_out, sizeof(err_out));
		snprintf(line0, sizeof(line0), "default 0 1 1 %d 0 %d ", NPAGES - 1, NPAGES);
		snprintf(line7, sizeof(line7), "explicit 7 2 1 %d 0 %d ", 2 * NPAGES - 1,
			 2 * NPAGES);
		ktap_test_result(rc == 0 && strstr(out, line0) == out && strstr(out, line7),
				 "ksmmodctl status --raw --domains: '%s...' then '%s...'", line0, line7);
		if (rc || strstr(out, line0) != out || !strstr(out, line7))
			ktap_print_msg("ksmmodctl: %d, out '%s', err '%s'", rc, out, err_out);
	}

	/* 8-10: B moves to domain 8 while merged: unmerged at once, then merges alone. */
	ktap_test_result(!set_domain(b.pid, 8) && pfn_of(b.pid, b.addr) == 0 &&
			 pfn_of(a.pid, a.addr) == pa,
			 "SET_DOMAIN 8 for merged B: B's pages are private copies on return, A keeps its KSM page");
	ktap_test_result(merged(3, 3 * NPAGES - 3), "then shared 3, sharing %d", 3 * NPAGES - 3);
	pb = pfn_of(b.pid, b.addr);
	ktap_test_result(pb && pb != pa && pb != pc && pfn_of(a.pid, a.addr) == pa &&
			 pfn_of(c.pid, c.addr) == pc,
			 "A, B, C map three PFNs (%#llx, %#llx, %#llx)", (unsigned long long)pa,
			 (unsigned long long)pb, (unsigned long long)pc);

	/* 11-22: the errors, each changing nothing. */
	plain = fork();
	if (plain == 0) {
		pause();
		_exit(0);
	}
	errors(&a, plain);
	kill(plain, SIGKILL);
	waitpid(plain, NULL, 0);
	n = domains(e, MAXD);
	s = ksmt_stats(fd);
	ktap_test_result(n == 3 && s.pages_shared == 3 && pfn_of(b.pid, b.addr) == pb &&
			 domain_is(e, n, KSMMOD_DOMAINS_EXPLICIT, 8, 1, 1, NPAGES - 1, NPAGES),
			 "after the errors: still three domains, B in 8 with its KSM page");
	{
		struct ksmmod_domain_stats ds;

		memset(&ds, 0, sizeof(ds));
		ds.size = sizeof(ds);
		ds.entry_size = sizeof(e[0]);
		ds.count = 1;
		ds.entries = (uintptr_t)e;
		memset(e, 0xff, sizeof(e));
		ktap_test_result(!ksmt_ioctl(fd, KSMMOD_IOC_DOMAIN_STATS, &ds) && ds.count == 3 &&
				 e[0].processes == 1 && e[1].processes == ~0ULL,
				 "DOMAIN_STATS with room for 1 of 3: count 3, one entry written");
	}

	/* 23-24: explicit domains override merge_domains=uid; domain 0 gives back to it. */
	unmerge();
	err = set_policy(KSMMOD_DOMAINS_UID);
	ktap_test_result(!err && merged(3, 3 * NPAGES - 3) && (n = domains(e, MAXD)) == 3 &&
			 find(e, n, KSMMOD_DOMAINS_EXPLICIT, 7) && find(e, n, KSMMOD_DOMAINS_EXPLICIT, 8) &&
			 find(e, n, KSMMOD_DOMAINS_UID, 0),
			 "merge_domains uid: A stays in 7, B in 8, C goes to uid 0 (shared 3)");
	ok = !set_domain(b.pid, 0) && merged(2, 3 * NPAGES - 2);
	pb = pfn_of(b.pid, b.addr);
	n = domains(e, MAXD);
	ktap_test_result(ok && pb == pfn_of(c.pid, c.addr) && pb && pb != pa && n == 2 &&
			 domain_is(e, n, KSMMOD_DOMAINS_UID, 0, 2, 1, 2 * NPAGES - 1, 2 * NPAGES),
			 "SET_DOMAIN 0: B back to the policy's domain, with C (%#llx)",
			 (unsigned long long)pb);
	unmerge();
	set_policy(KSMMOD_DOMAINS_NONE);

	/* 25-26: a fork stays in its parent's explicit domain (drop-in: fork reaches ksmmod). */
	if (ksmt_dropin()) {
		kid = fork_of(&a);
		ok = merged(2, 4 * NPAGES - 2);
		pk = pfn_of(kid, a.addr);
		ktap_test_result(ok && pk == pfn_of(a.pid, a.addr) && pk && pk != pfn_of(c.pid, c.addr),
				 "A's fork maps A's KSM page (%#llx), not C's", (unsigned long long)pk);
		n = domains(e, MAXD);
		ktap_test_result(find(e, n, KSMMOD_DOMAINS_EXPLICIT, 7) &&
				 find(e, n, KSMMOD_DOMAINS_EXPLICIT, 7)->processes == 2,
				 "domain 7 has 2 processes: A and its fork");
		kill(kid, SIGKILL);
	} else {
		ktap_test_skip("A's fork maps A's KSM page",
			       "dropin=0: the fork of a MERGE_RANGE process is not registered");
		ktap_test_skip("domain 7 has 2 processes", "as above");
	}

	/* 27-29: ksmmodctl run --domain: the program it executes is in the domain. */
	h1 = run_in_domain(self, "9", &h1addr);
	h2 = run_in_domain(self, "9", &h2addr);
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	ksmt_settle(fd, 4);
	ph1 = pfn_of(h1, h1addr);
	ph2 = pfn_of(h2, h2addr);
	n = domains(e, MAXD);
	ktap_test_result(find(e, n, KSMMOD_DOMAINS_EXPLICIT, 9) &&
			 find(e, n, KSMMOD_DOMAINS_EXPLICIT, 9)->processes == 2,
			 "two programs started by `ksmmodctl run --domain 9`: domain 9 has 2 processes");
	ktap_test_result(ph1 && ph1 == ph2 && ph1 != pfn_of(a.pid, a.addr) &&
			 ph1 != pfn_of(c.pid, c.addr),
			 "they share a KSM page (%#llx, %#llx), not A's or C's", (unsigned long long)ph1,
			 (unsigned long long)ph2);
	kill(h1, SIGKILL);
	kill(h2, SIGKILL);
	waitpid(h1, NULL, 0);
	waitpid(h2, NULL, 0);
	unmerge();
	stop(&a);
	stop(&b);
	stop(&c);
	KSMT_WAIT_STATS(fd, s, s.mm_slots == 0);
	ktap_test_result(!s.mm_slots && !s.pages_shared && domains(e, MAXD) == 0,
			 "all gone: no process, nothing merged, no domain");

	/* 30-35: dropin=0 (and rmmod at the end): the fork of a process registered whole follows its domain. */
	reload("dropin=0");
	/*
	 * A's pages are all on one KSM page, which its unregistered fork
	 * (dropin=0) maps too. Moved to domain 5, A's pages are unmerged and
	 * the page's node, on which only A's pages were, leaves the tree: D,
	 * in A's old domain, gets a KSM page of its own, not the one A's fork
	 * (A's now) maps.
	 */
	a = start(NULL, 0);
	ok = merged(1, NPAGES - 1);
	pa = pfn_of(a.pid, a.addr);
	kid = fork_of(&a);
	pk = pfn_of(kid, a.addr);
	ktap_test_result(ok && pa && pk == pa && !set_domain(a.pid, 5) && pfn_of(a.pid, a.addr) == 0,
			 "dropin=0: A's KSM page (%#llx) also mapped by its unregistered fork; A moved to domain 5",
			 (unsigned long long)pa);
	c = start(NULL, 0);
	ok = merged(2, 2 * NPAGES - 2);
	pc = pfn_of(c.pid, c.addr);
	ktap_test_result(ok && pc && pc != pk && pfn_of(kid, a.addr) == pk &&
			 pfn_of(a.pid, a.addr) != pk,
			 "a new process of A's old domain gets its own KSM page (%#llx), not the one A's fork maps (%#llx)",
			 (unsigned long long)pc, (unsigned long long)pk);
	kill(kid, SIGKILL);
	unmerge();
	stop(&a);
	stop(&c);
	KSMT_WAIT_STATS(fd, s, s.mm_slots == 0);
	w = start(NULL, 0);
	{
		int pfd = pidfd_of(w.pid);

		err = ksmt_process(fd, KSMMOD_IOC_ADD_PROCESS, pfd);
		close(pfd);
	}
	ktap_test_result(!err && !set_domain(w.pid, 11), "dropin=0: ADD_PROCESS W, SET_DOMAIN 11");
	kid = fork_of(&w);
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	ksmt_settle(fd, 4);
	n = domains(e, MAXD);
	ktap_test_result(n == 1 && find(e, n, KSMMOD_DOMAINS_EXPLICIT, 11) &&
			 find(e, n, KSMMOD_DOMAINS_EXPLICIT, 11)->processes == 2,
			 "W's fork, registered by the follow hook, is in domain 11 too");
	pk = pfn_of(kid, w.addr);
	ktap_test_result(pk && pk == pfn_of(w.pid, w.addr),
			 "W and its fork map one KSM page (%#llx)", (unsigned long long)pk);
	/* rmmod while W and its fork are merged in domain 11: unmerged, as always. */
	reload(NULL);
	ktap_test_result(pfn_of(w.pid, w.addr) == 0 && pfn_of(kid, w.addr) == 0,
			 "rmmod while merged in domain 11: W's and its fork's pages are private copies");
	kill(kid, SIGKILL);
	stop(&w);
	return ktap_finished();
}
