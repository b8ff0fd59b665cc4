// SPDX-License-Identifier: GPL-2.0
/*
 * Merge domains (merge_domains = none | uid | cgroup): identical pages merge
 * only within a domain, proven by exact counters and by the PFNs each
 * process maps (read by the root parent from /proc/PID/pagemap).
 *
 * Three workers hold NPAGES pages of the same byte each, registered by
 * themselves (MERGE_RANGE). With uid: A and C (uid 1000) and B (uid 1001):
 * two KSM pages, A's and C's pages one PFN, B's another. While merged, a
 * policy change is EBUSY and changes nothing; after run=2, changing to
 * cgroup places the same three (all in the root cgroup when registered)
 * in one domain: one KSM page. Then three new workers in cgroups d1, d2,
 * d1: two KSM pages again. A fork of a merged worker (drop-in mode) stays
 * in its parent's domain: its pages join its parent's KSM page. Unknown
 * words are EINVAL; the file reads like advisor_mode.
 *
 * Then two things that once went wrong: 256 policy changes with items in
 * the unstable tree (the tree is emptied, not abandoned: an 8-bit tag
 * used to wrap and let a stale item be unlinked from the live tree); and
 * a domain index reused while a page of the dead domain is still mapped by
 * an unregistered fork child (dropin=0): the new domain must not merge into
 * that page.
 */
#define NPAGES	16
#define BYTE	0x5a
#include "domworker.h"

#include <sys/mman.h>
#include <sys/stat.h>


int main(void)
{
	struct worker a, b, c, d, e, f;
	uint64_t pa, pb, pc, msg;
	bool cgroups;
	int err;

	ktap_print_header(22);
	ksmt_ensure_loaded();
	fd = ksmt_open();
	ksmt_set_run(fd, KSMMOD_RUN_STOP);

	/* 1-3: the file, and bad input that changes nothing. */
	ktap_test_result(ksmt_domains_read("[none] uid cgroup"), "merge_domains reads [none] uid cgroup");
	err = ksmt_write_errno(KSMT_DOMAINS, "tenant");
	ktap_test_result(err == -EINVAL && ksmt_domains_read("[none] uid cgroup"),
			 "an unknown word: EINVAL, unchanged (got %s)", strerror(-err));
	ktap_test_result(set_policy(3) == -EINVAL && ksmt_domains_read("[none] uid cgroup"),
			 "SET_PARAMS merge_domains=3: EINVAL, unchanged");

	/* 4-6: per uid. */
	ktap_test_result(!ksmt_write_errno(KSMT_DOMAINS, "uid") && ksmt_domains_read("none [uid] cgroup"),
			 "merge_domains=uid");
	a = start(NULL, 1000);
	b = start(NULL, 1001);
	c = start(NULL, 1000);
	ktap_test_result(merged(2, 3 * NPAGES - 2),
			 "uid: two KSM pages (uids 1000 and 1001), %d mappings", 3 * NPAGES);
	pa = pfn_of(a.pid, a.addr);
	pb = pfn_of(b.pid, b.addr);
	pc = pfn_of(c.pid, c.addr);
	ktap_test_result(pa && pa == pc && pb && pb != pa,
			 "uid: uid 1000's two processes map one page, uid 1001's another (%#llx %#llx %#llx)",
			 (unsigned long long)pa, (unsigned long long)pc, (unsigned long long)pb);

	/* 7: a fork stays in its parent's domain (drop-in: fork reaches ksmmod). */
	if (ksmt_dropin()) {
		pid_t child;

		if (write(a.down, "f", 1) != 1 || read(a.up, &msg, sizeof(msg)) != sizeof(msg))
			ktap_exit_fail_msg("fork request");
		child = msg;
		ktap_test_result(merged(2, 4 * NPAGES - 2) && pfn_of(child, a.addr) == pa &&
				 pfn_of(b.pid, b.addr) == pb,
				 "a fork of uid 1000's process joins its KSM page, not uid 1001's");
		kill(child, SIGKILL);
	} else {
		ktap_test_skip("a fork joins its parent's KSM page",
			       "dropin=0: the fork of a MERGE_RANGE process is not registered");
	}

	/* 8-9: no change while merged. */
	err = ksmt_write_errno(KSMT_DOMAINS, "none");
	ktap_test_result(err == -EBUSY && ksmt_domains_read("none [uid] cgroup"),
			 "merge_domains=none while merged: EBUSY, unchanged (got %s)", strerror(-err));
	ktap_test_result(set_policy(KSMMOD_DOMAINS_CGROUP) == -EBUSY && ksmt_domains_read("none [uid] cgroup"),
			 "SET_PARAMS merge_domains=cgroup while merged: EBUSY, unchanged");

	/* 10: after run=2, a new policy places the same processes anew. */
	unmerge();
	ktap_test_result(!set_policy(KSMMOD_DOMAINS_CGROUP) && ksmt_domains_read("none uid [cgroup]") &&
			 merged(1, 3 * NPAGES - 1) && pfn_of(a.pid, a.addr) == pfn_of(b.pid, b.addr),
			 "cgroup after run=2: the three (one cgroup) share one KSM page");
	unmerge();
	stop(&a);
	stop(&b);
	stop(&c);

	/* 11-12: per cgroup. */
	mkdir(CG, 0755);
	cgroups = !access(CG "/cgroup.controllers", F_OK) ||
		  !system("mount -t cgroup2 none " CG " 2>/dev/null");
	if (cgroups) {
		mkdir(CG "/ksmdom1", 0755);
		mkdir(CG "/ksmdom2", 0755);
		d = start("ksmdom1", 0);
		e = start("ksmdom2", 0);
		f = start("ksmdom1", 0);
		ktap_test_result(merged(2, 3 * NPAGES - 2),
				 "cgroup: two KSM pages (two cgroups), %d mappings", 3 * NPAGES);
		pa = pfn_of(d.pid, d.addr);
		pb = pfn_of(e.pid, e.addr);
		pc = pfn_of(f.pid, f.addr);
		ktap_test_result(pa && pa == pc && pb && pb != pa,
				 "cgroup: one cgroup's two processes map one page, the other's another");
	} else {
		ktap_test_skip("cgroup: two KSM pages", "no cgroup v2 in this guest");
		ktap_test_skip("cgroup: PFNs", "no cgroup v2 in this guest");
	}

	/* 13-15: back to one domain: everything merges. */
	err = ksmt_write_errno(KSMT_DOMAINS, "none");
	ktap_test_result(!cgroups || (err == -EBUSY && ksmt_domains_read("none uid [cgroup]")),
			 "merge_domains=none while merged: EBUSY");
	unmerge();
	ktap_test_result(!ksmt_write_errno(KSMT_DOMAINS, "none") && ksmt_domains_read("[none] uid cgroup"),
			 "merge_domains=none after run=2");
	if (cgroups) {
		ktap_test_result(merged(1, 3 * NPAGES - 1) &&
				 pfn_of(d.pid, d.addr) == pfn_of(e.pid, e.addr),
				 "none: the two cgroups' processes share one KSM page");
		unmerge();
		stop(&d);
		stop(&e);
		stop(&f);
		rmdir(CG "/ksmdom1");
		rmdir(CG "/ksmdom2");
	} else {
		ktap_test_skip("none: one KSM page", "no cgroup v2 in this guest");
	}

	/* 16-17: unprivileged callers change nothing. */
	fflush(stdout);
	if (fork() == 0) {
		bool ok;

		if (setresuid(1000, 1000, 1000))
			_exit(2);
		ok = set_policy(KSMMOD_DOMAINS_UID) == -EPERM;
		ok = ok && ksmt_write_errno(KSMT_DOMAINS, "uid") != 0;
		_exit(ok ? 0 : 1);
	} else {
		int status;

		wait(&status);
		ktap_test_result(WIFEXITED(status) && WEXITSTATUS(status) == 0 &&
				 ksmt_domains_read("[none] uid cgroup"),
				 "uid 1000: SET_PARAMS EPERM, the file refused, unchanged");
	}
	ktap_test_result(ksmt_stats(fd).pages_shared == 0 && ksmt_stats(fd).pages_sharing == 0,
			 "nothing left merged");

	/* 18-19: 256 policy changes with items in the unstable tree. */
	{
		struct ksmmod_stats s;
		int nok = 0;

		a = start_mode(NULL, 1000, true);
		ksmt_set_run(fd, KSMMOD_RUN_MERGE);
		ksmt_settle(fd, 3);
		ksmt_set_run(fd, KSMMOD_RUN_STOP);
		s = ksmt_stats(fd);
		for (int i = 0; i < 256; i++)
			nok += !set_policy(i % 2 ? KSMMOD_DOMAINS_NONE : KSMMOD_DOMAINS_UID);
		/*
		 * The current tree's items leave it; those of the tree a full
		 * scan that had just started abandoned still count in
		 * pages_unshared until the scan reaches them (as always).
		 */
		ktap_test_result(s.pages_unshared == NPAGES && nok == 256 &&
				 ksmt_stats(fd).pages_unshared <= NPAGES && ksmt_domains_read("[none] uid cgroup"),
				 "256 policy changes (the tag's period) with %llu items unshared: %d succeed (%llu still counted)",
				 (unsigned long long)s.pages_unshared, nok,
				 (unsigned long long)ksmt_stats(fd).pages_unshared);
		ksmt_set_run(fd, KSMMOD_RUN_MERGE);
		ksmt_settle(fd, 3);
		s = ksmt_settle(fd, 1);
		ktap_test_result(s.pages_unshared == NPAGES && !s.pages_shared,
				 "the next scans fill it again: %d unique pages unshared, nothing merged",
				 NPAGES);
		unmerge();
		stop(&a);
	}

	/* 20-22: a dead domain's index is reused only once its pages left the tree. */
	reload("dropin=0");
	{
		uint64_t pk, pd, pe;
		struct ksmmod_stats s;
		pid_t child;
		bool ok;

		set_policy(KSMMOD_DOMAINS_UID);
		a = start(NULL, 1000);
		b = start(NULL, 1000);
		ktap_test_result(merged(1, 2 * NPAGES - 1),
				 "dropin=0, uid 1000: two processes share one KSM page");
		if (write(a.down, "f", 1) != 1 || read(a.up, &msg, sizeof(msg)) != sizeof(msg))
			ktap_exit_fail_msg("fork request");
		child = msg;
		pk = pfn_of(child, a.addr);
		/* The child maps the page but is nobody's: dropin=0 does not follow it. */
		stop(&a);
		stop(&b);
		KSMT_WAIT_STATS(fd, s, s.mm_slots == 0);
		ksmt_settle(fd, 2);	/* full scans start: the dead domain is reaped */
		d = start(NULL, 1001);
		e = start(NULL, 1001);
		ok = merged(1, 2 * NPAGES - 1);
		pd = pfn_of(d.pid, d.addr);
		pe = pfn_of(e.pid, e.addr);
		ktap_test_result(ok && pk && pfn_of(child, a.addr) == pk && pd && pd == pe && pd != pk,
				 "uid 1001 after uid 1000 is gone: its own KSM page (%#llx, %#llx), not the page uid 1000's child still maps (%#llx)",
				 (unsigned long long)pd, (unsigned long long)pe, (unsigned long long)pk);
		kill(child, SIGKILL);
		unmerge();
		stop(&d);
		stop(&e);
		set_policy(KSMMOD_DOMAINS_NONE);
		KSMT_WAIT_STATS(fd, s, s.mm_slots == 0);
		ktap_test_result(!s.mm_slots && !ksmt_stats(fd).pages_shared, "all gone");
	}
	reload(NULL);
	return ktap_finished();
}
