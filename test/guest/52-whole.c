// SPDX-License-Identifier: GPL-2.0
/*
 * Whole-process registration (KSMMOD_IOC_ADD_PROCESS) follows the process, in
 * drop-in mode (6.12: the kernel's MMF_VM_MERGE_ANY; 6.1: ksmmod's watch
 * hooks) and again after reloading with dropin=0 (ksmmod's watch hooks on
 * both kernels, fork through wake_up_new_task()):
 *
 * - unknown flag bits are EINVAL, REMOVE_PROCESS takes no flags, the API
 *   reports KSMMOD_FEATURE_KEEP_EXEC;
 * - an anonymous mapping made after registration is VM_MERGEABLE at once
 *   ("mg" in smaps) and merges without re-registering: one PFN in
 *   /proc/self/pagemap, pages_shared +1 and pages_sharing +NPAGES-1 exactly;
 *   a shared anonymous mapping is not made mergeable;
 * - brk growth likewise, and the heap stays one mapping;
 * - a forked child's new mappings merge too; a child forked after merging
 *   starts with its KSM counters at zero (as ksm_fork() leaves them);
 * - exec: without KSMMOD_PROCESS_KEEP_EXEC the new program is not registered
 *   and its mappings are not mergeable; with it (also from a vfork child,
 *   as posix_spawn does) they merge;
 * - after REMOVE_PROCESS new mappings are not mergeable any more;
 * - `ksmmodctl run -- prog` merges prog's memory and a forked child's; exit
 *   statuses of run without a command and with a missing one.
 *
 * The test re-executes itself (/proc/self/exe) with a probe name as argv[1]
 * for the exec and ksmmodctl run cases; probes report through their exit status
 * and "# " lines only.
 */
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "ksmtest.h"

#define KSMMODCTL	"/bin/ksmmodctl"
#define NPAGES	32
#define PLAN	36	/* 4 + 16 per mode */

static long psize;
static char self_exe[256];

extern char **environ;

/* Fill @n pages at @m with a pattern no other page of the guest has. */
static void fill(char *m, long n, unsigned int tag)
{
	for (long i = 0; i < n * psize; i += sizeof(unsigned int) * 2) {
		((unsigned int *)(m + i))[0] = 0x6b736d00u + tag;
		((unsigned int *)(m + i))[1] = (unsigned int)getpid() ^ (unsigned int)(i % psize);
	}
}

static bool same(char *m, long n, unsigned int tag, pid_t pid)
{
	for (long i = 0; i < n * psize; i += sizeof(unsigned int) * 2)
		if (((unsigned int *)(m + i))[0] != 0x6b736d00u + tag ||
		    ((unsigned int *)(m + i))[1] != ((unsigned int)pid ^ (unsigned int)(i % psize)))
			return false;
	return true;
}

static bool one_pfn(char *m, long n)
{
	uint64_t pfn = ksmt_pfn_of(m);

	for (long i = 1; i < n; i++)
		if (ksmt_pfn_of(m + i * psize) != pfn)
			return false;
	return pfn != 0;
}

static char *map_anon(long n, int shared)
{
	char *m = mmap(NULL, n * psize, PROT_READ | PROT_WRITE,
		       (shared ? MAP_SHARED : MAP_PRIVATE) | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		return NULL;
	madvise(m, n * psize, MADV_NOHUGEPAGE);
	return m;
}

static int add_self(int fd, __u32 flags)
{
	struct ksmmod_process p;

	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.flags = flags;
	return ksmt_ioctl(fd, KSMMOD_IOC_ADD_PROCESS, &p);
}

static int remove_self(int fd, __u32 flags)
{
	struct ksmmod_process p;

	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.flags = flags;
	return ksmt_ioctl(fd, KSMMOD_IOC_REMOVE_PROCESS, &p);
}

/* ksmmod knows the caller: 0, or -ENOENT. */
static int known(int fd)
{
	struct ksmmod_process_stats ps;

	memset(&ps, 0, sizeof(ps));
	ps.size = sizeof(ps);
	return ksmt_ioctl(fd, KSMMOD_IOC_PROCESS_STATS, &ps);
}

/*
 * Map NPAGES of pattern @tag after registration and check they merge:
 * "mg" at once, one PFN and exact counter deltas after settling. Returns 0
 * or a distinct non-zero step number.
 */
static int new_mapping_merges(int fd, unsigned int tag, bool exact)
{
	struct ksmmod_stats before, s;
	char *m;

	ksmt_settle(fd, 2);
	before = ksmt_settle(fd, 1);
	m = map_anon(NPAGES, 0);
	if (!m)
		return 1;
	if (ksmt_vma_has(m, NULL, "mg", NULL) != 1)
		return 2;
	fill(m, NPAGES, tag);
	ksmt_settle(fd, 3);
	s = ksmt_settle(fd, 1);
	if (!one_pfn(m, NPAGES))
		return 3;
	if (!same(m, NPAGES, tag, getpid()))
		return 4;
	if (exact && (s.pages_shared != before.pages_shared + 1 ||
		      s.pages_sharing != before.pages_sharing + NPAGES - 1)) {
		ktap_print_msg("pid %d: shared %llu -> %llu, sharing %llu -> %llu", getpid(),
			       (unsigned long long)before.pages_shared,
			       (unsigned long long)s.pages_shared,
			       (unsigned long long)before.pages_sharing,
			       (unsigned long long)s.pages_sharing);
		return 5;
	}
	munmap(m, NPAGES * psize);
	return 0;
}

/* Probes, run as exec'd programs. Exit 0: as expected. */
static int probe(const char *what)
{
	int fd = ksmt_open();
	char *m;
	int err;

	if (!strcmp(what, "unregistered")) {
		/* Exec'd without KEEP_EXEC: nothing of the old registration. */
		err = known(fd);
		m = map_anon(NPAGES, 0);
		if (err != -ENOENT || !m || ksmt_vma_has(m, NULL, "mg", NULL) != 0) {
			ktap_print_msg("probe %s: PROCESS_STATS %d, mg %d", what, err,
				       m ? ksmt_vma_has(m, NULL, "mg", NULL) : -2);
			return 1;
		}
		return 0;
	}
	if (!strcmp(what, "registered")) {
		err = known(fd);
		if (err) {
			ktap_print_msg("probe %s: PROCESS_STATS %d", what, err);
			return 1;
		}
		err = new_mapping_merges(fd, 0x40, false);
		if (err)
			ktap_print_msg("probe %s: new mapping step %d failed", what, err);
		return err ? 10 + err : 0;
	}
	if (!strcmp(what, "run")) {
		/* Under ksmmodctl run: this program and a forked child merge. */
		int status;
		pid_t pid;

		err = known(fd);
		if (err) {
			ktap_print_msg("probe %s: PROCESS_STATS %d", what, err);
			return 1;
		}
		pid = fork();
		if (pid == 0)
			_exit(new_mapping_merges(fd, 0x51, false));
		err = new_mapping_merges(fd, 0x50, false);
		waitpid(pid, &status, 0);
		if (err || !WIFEXITED(status) || WEXITSTATUS(status)) {
			ktap_print_msg("probe %s: parent step %d, child status %#x", what, err, status);
			return 2;
		}
		return 0;
	}
	return 99;
}

/* Exec self_exe with probe @what; vfork-style (posix_spawn) if @spawn. */
static int run_probe(const char *what, bool spawn)
{
	char *argv[] = { self_exe, (char *)what, NULL };
	int status;
	pid_t pid;

	if (spawn) {
		if (posix_spawn(&pid, self_exe, NULL, NULL, argv, environ))
			return -1;
	} else {
		pid = fork();
		if (pid == 0) {
			execv(self_exe, argv);
			_exit(127);
		}
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* Run /bin/ksmmodctl with @argv (stdout to ours); returns its exit code. */
static int ksmmodctl(char *const argv[])
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 2);	/* expected error messages */
		execv(KSMMODCTL, argv);
		_exit(125);
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* In a child: register whole (flags @flags), then run @fn; its exit code. */
static int in_child(int (*fn)(int fd), __u32 flags)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		int fd = ksmt_open();
		int err = add_self(fd, flags);

		if (err) {
			ktap_print_msg("ADD_PROCESS: %d", err);
			_exit(90);
		}
		_exit(fn(fd));
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static int do_mmap(int fd)
{
	struct ksmmod_process_stats ps;
	int rc = new_mapping_merges(fd, 0x10, true);

	if (rc)
		return rc;
	/* ksm_stat's ksm_merge_any and ksm_mergeable. */
	memset(&ps, 0, sizeof(ps));
	ps.size = sizeof(ps);
	if (ksmt_ioctl(fd, KSMMOD_IOC_PROCESS_STATS, &ps) || ps.merge_any != 1 || ps.mergeable != 1)
		return 6;
	return 0;
}

static int do_shared(int fd)
{
	char *m = map_anon(NPAGES, 1);

	(void)fd;
	return !m ? 1 : ksmt_vma_has(m, NULL, "mg", NULL) == 0 ? 0 : 2;
}

static int do_brk(int fd)
{
	struct ksmmod_stats before, s;
	char *m, *cur;
	int nvmas;

	ksmt_settle(fd, 2);
	before = ksmt_settle(fd, 1);
	/* Three growths: page-aligned, so each is a brk() growth of its own. */
	cur = sbrk(0);
	m = (char *)(((uintptr_t)cur + psize - 1) & ~(uintptr_t)(psize - 1));
	if (sbrk(m - cur) == (void *)-1)
		return 1;
	for (int i = 0; i < 3; i++)
		if (sbrk(NPAGES / 2 * psize) == (void *)-1)
			return 1;
	if (ksmt_vma_has(m, NULL, "mg", NULL) != 1 || ksmt_vma_has(m + NPAGES * psize, NULL, "mg", NULL) != 1)
		return 2;
	ksmt_vma_has(m, m + 3 * NPAGES / 2 * psize, "mg", &nvmas);
	ktap_print_msg("brk heap: %d mapping(s) after three growths", nvmas);
	/* ksmmod's hooks add VM_MERGEABLE before the kernel tries to extend the heap. */
	if (nvmas != 1)
		return 6;
	fill(m, NPAGES, 0x20);
	ksmt_settle(fd, 3);
	s = ksmt_settle(fd, 1);
	if (!one_pfn(m, NPAGES))
		return 3;
	if (!same(m, NPAGES, 0x20, getpid()))
		return 4;
	if (s.pages_shared != before.pages_shared + 1 ||
	    s.pages_sharing != before.pages_sharing + NPAGES - 1) {
		ktap_print_msg("brk: shared %llu -> %llu, sharing %llu -> %llu",
			       (unsigned long long)before.pages_shared,
			       (unsigned long long)s.pages_shared,
			       (unsigned long long)before.pages_sharing,
			       (unsigned long long)s.pages_sharing);
		return 5;
	}
	return 0;
}

static int do_fork(int fd)
{
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		/* The child's own registration, inherited: slot known, new mappings merge. */
		if (known(fd))
			_exit(20);
		_exit(new_mapping_merges(fd, 0x30, false));
	}
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/*
 * A child forked after its parent merged starts with its own KSM counters at
 * zero, as ksm_fork() leaves them: with the scanner stopped, its
 * PROCESS_STATS are exactly 0 items, 0 merging pages, though it maps the
 * parent's merged pages.
 */
static int do_fork_counts(int fd)
{
	struct ksmmod_process_stats ps;
	int status, rc;
	char *m = map_anon(NPAGES, 0);
	pid_t pid;

	if (!m)
		return 1;
	fill(m, NPAGES, 0x60);
	ksmt_settle(fd, 3);
	if (!one_pfn(m, NPAGES))
		return 2;
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	pid = fork();
	if (pid == 0) {
		memset(&ps, 0, sizeof(ps));
		ps.size = sizeof(ps);
		if (ksmt_ioctl(fd, KSMMOD_IOC_PROCESS_STATS, &ps))
			_exit(3);
		if (ps.merging_pages || ps.rmap_items) {
			ktap_print_msg("forked child: merging_pages %llu rmap_items %llu",
				       (unsigned long long)ps.merging_pages,
				       (unsigned long long)ps.rmap_items);
			_exit(4);
		}
		_exit(same(m, NPAGES, 0x60, getppid()) ? 0 : 5);
	}
	waitpid(pid, &status, 0);
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	munmap(m, NPAGES * psize);
	return rc;
}

static int do_exec_plain(int fd)
{
	(void)fd;
	return run_probe("unregistered", false);
}

static int do_exec_keep(int fd)
{
	(void)fd;
	return run_probe("registered", false);
}

static int do_spawn_keep(int fd)
{
	(void)fd;
	return run_probe("registered", true);
}

static int do_remove(int fd)
{
	char *m;
	int err = remove_self(fd, 0);

	if (err)
		return 1;
	m = map_anon(NPAGES, 0);
	if (!m || ksmt_vma_has(m, NULL, "mg", NULL) != 0)
		return 2;
	return known(fd) == -ENOENT ? 0 : 3;
}

/* Everything that follows the process, in the loaded mode @mode: 16 results. */
static void follow_tests(const char *mode)
{
	struct ksmmod_params saved;
	struct ksmmod_api a;
	int fd = ksmt_open();
	int rc;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.api_version = KSMMOD_API_VERSION;
	rc = ksmt_ioctl(fd, KSMMOD_IOC_API, &a);
	ktap_test_result(!rc && (a.features & KSMMOD_FEATURE_KEEP_EXEC),
			 "%s: the API reports KSMMOD_FEATURE_KEEP_EXEC (features %#llx)",
			 mode, (unsigned long long)a.features);

	if (ksmt_get_params(fd, &saved))
		ktap_exit_fail_msg("GET_PARAMS: %s", strerror(errno));
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);

	rc = in_child(do_mmap, 0);
	ktap_test_result(rc == 0,
			 "%s: mmap after ADD_PROCESS: mergeable at once, merges to one PFN, shared +1 sharing +%d exactly; merge_any (step %d)",
			 mode, NPAGES - 1, rc);
	rc = in_child(do_shared, 0);
	ktap_test_result(rc == 0,
			 "%s: a shared anonymous mapping after ADD_PROCESS is not made mergeable (%d)",
			 mode, rc);
	rc = in_child(do_brk, 0);
	ktap_test_result(rc == 0,
			 "%s: brk growth after ADD_PROCESS: mergeable, one heap mapping, merges to one PFN, exact counters (step %d)",
			 mode, rc);
	rc = in_child(do_fork, 0);
	ktap_test_result(rc == 0, "%s: a forked child is registered; its new mapping merges (step %d)",
			 mode, rc);
	rc = in_child(do_fork_counts, 0);
	ktap_test_result(rc == 0,
			 "%s: a child forked after merging starts with 0 merging pages, 0 items (step %d)",
			 mode, rc);
	rc = in_child(do_exec_plain, 0);
	ktap_test_result(rc == 0, "%s: exec without KEEP_EXEC: the new program is not registered (%d)",
			 mode, rc);
	rc = in_child(do_exec_keep, KSMMOD_PROCESS_KEEP_EXEC);
	ktap_test_result(rc == 0, "%s: exec with KEEP_EXEC: the new program's new mapping merges (%d)",
			 mode, rc);
	rc = in_child(do_spawn_keep, KSMMOD_PROCESS_KEEP_EXEC);
	ktap_test_result(rc == 0,
			 "%s: posix_spawn (vfork + exec) with KEEP_EXEC: the new program merges (%d)",
			 mode, rc);
	/* The "unregistered" probe must fail when the flag was given: it can tell. */
	rc = in_child(do_exec_plain, KSMMOD_PROCESS_KEEP_EXEC);
	ktap_test_result(rc != 0, "%s: exec with KEEP_EXEC: the new program is known to ksmmod (probe %d)",
			 mode, rc);
	{
		/* A second ADD_PROCESS replaces the flag: KEEP_EXEC, then 0. */
		int status;
		pid_t pid = fork();

		if (pid == 0) {
			int cfd = ksmt_open();

			if (add_self(cfd, KSMMOD_PROCESS_KEEP_EXEC) || add_self(cfd, 0))
				_exit(90);
			_exit(run_probe("unregistered", false));
		}
		waitpid(pid, &status, 0);
		ktap_test_result(WIFEXITED(status) && WEXITSTATUS(status) == 0,
				 "%s: ADD_PROCESS with KEEP_EXEC, then without: exec is not registered (%#x)",
				 mode, status);
	}
	rc = in_child(do_remove, KSMMOD_PROCESS_KEEP_EXEC);
	ktap_test_result(rc == 0, "%s: after REMOVE_PROCESS a new mapping is not mergeable (step %d)",
			 mode, rc);

	/* ksmmodctl run. */
	if (access(KSMMODCTL, X_OK)) {
		ktap_test_skip("ksmmodctl run -- prog", "/bin/ksmmodctl is not in the initramfs");
		ktap_test_skip("ksmmodctl run without CMD", "/bin/ksmmodctl is not in the initramfs");
		ktap_test_skip("ksmmodctl run of a missing program", "/bin/ksmmodctl is not in the initramfs");
	} else {
		rc = ksmmodctl((char *[]){ "ksmmodctl", "run", "--", self_exe, "run", NULL });
		ktap_test_result(rc == 0,
				 "%s: ksmmodctl run -- prog: prog and its forked child have their new mappings merged (%d)",
				 mode, rc);
		rc = ksmmodctl((char *[]){ "ksmmodctl", "run", NULL });
		ktap_test_result(rc == 2, "%s: ksmmodctl run without CMD: usage error, exit 2 (%d)", mode, rc);
		rc = ksmmodctl((char *[]){ "ksmmodctl", "run", "/nonexistent/prog", NULL });
		ktap_test_result(rc == 127, "%s: ksmmodctl run of a missing program: exit 127 (%d)", mode, rc);
	}

	/*
	 * Nothing of the above is left registered (with dropin=0 ksmmodd frees
	 * the slot of an exited process soon after its mmu_notifier release()).
	 */
	{
		struct ksmmod_stats s;

		KSMT_WAIT_STATS(fd, s, s.mm_slots == 0);

		ktap_test_result(s.mm_slots == 0, "%s: every process above is gone from ksmmod (slots %llu)",
				 mode, (unsigned long long)s.mm_slots);
	}
	/* Leave the tunables as found (later tests read them). */
	if (ksmt_set_params(fd, &saved, KSMMOD_PARAM_RUN | KSMMOD_PARAM_PAGES_TO_SCAN |
			    KSMMOD_PARAM_SLEEP_MILLISECS))
		ktap_exit_fail_msg("SET_PARAMS: %s", strerror(errno));
	close(fd);
}

int main(int argc, char **argv)
{
	struct ksmmod_process p;
	ssize_t n;
	int fd;

	psize = sysconf(_SC_PAGESIZE);
	if (argc > 1)
		return probe(argv[1]);

	ktap_print_header(PLAN);
	ksmt_ensure_loaded();
	if (!ksmt_dropin())
		ktap_exit_fail_msg("ksmmod is not in drop-in mode");
	n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
	if (n <= 0)
		ktap_exit_fail_msg("readlink /proc/self/exe: %s", strerror(errno));
	self_exe[n] = '\0';
	fd = ksmt_open();

	/* Error paths: each changes nothing. */
	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.flags = 1U << 1;
	ktap_test_result(ksmt_ioctl(fd, KSMMOD_IOC_ADD_PROCESS, &p) == -EINVAL && known(fd) == -ENOENT,
			 "ADD_PROCESS with an unknown flag bit (1 << 1): EINVAL, nothing registered");
	p.flags = KSMMOD_PROCESS_KEEP_EXEC | (1U << 31);
	ktap_test_result(ksmt_ioctl(fd, KSMMOD_IOC_ADD_PROCESS, &p) == -EINVAL && known(fd) == -ENOENT,
			 "ADD_PROCESS with KEEP_EXEC and bit 31: EINVAL, nothing registered");
	ktap_test_result(remove_self(fd, KSMMOD_PROCESS_KEEP_EXEC) == -EINVAL,
			 "REMOVE_PROCESS with a flag: EINVAL");
	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.flags = KSMMOD_PROCESS_KEEP_EXEC;
	p.pad = 1;
	ktap_test_result(ksmt_ioctl(fd, KSMMOD_IOC_ADD_PROCESS, &p) == -EINVAL && known(fd) == -ENOENT,
			 "ADD_PROCESS with KEEP_EXEC and pad != 0: EINVAL");
	close(fd);
	follow_tests("drop-in");
	if (ksmt_unload() || ksmt_load("dropin=0"))
		ktap_exit_fail_msg("cannot reload with dropin=0");
	follow_tests("dropin=0");
	if (ksmt_unload() || ksmt_load(NULL))
		ktap_exit_fail_msg("cannot reload");
	return ktap_finished();
}
