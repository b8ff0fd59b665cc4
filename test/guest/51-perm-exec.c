// SPDX-License-Identifier: GPL-2.0
/*
 * The permission check and the mm lookup of an ioctl on another process are
 * one step. An unprivileged caller (uid 1000, no capabilities, holding a
 * /dev/ksmmod descriptor that root opened) registers its own child with
 * ADD_PROCESS again and again while the child execs a setuid-root program.
 * Exec installs the new mm before the new credentials: a check of the old
 * credentials followed by a lookup of the new mm would register the
 * privileged program's memory. The program itself (root now) asks
 * PROCESS_STATS whether ksmmod knows it: it must not.
 *
 * The caller's attempts on the child before its exec succeed (its own child,
 * same uid) and those after fail with EPERM: both are counted, to show that
 * the race was run.
 */
#define _GNU_SOURCE
#include <grp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include "ksmtest.h"

#define SUID		"/tmp/ksmt51-suid"
#define UID		1000
#define ROUNDS		200
#define EXIT_REGISTERED	3	/* the setuid program found itself registered */
#define EXIT_NOT_ROOT	5	/* the setuid bit did not take effect */

/* The setuid program: wait for the racing caller to stop, then look. */
static int suid_main(void)
{
	struct ksmmod_process_stats ps;
	int fd, ret;

	if (geteuid() != 0)
		return EXIT_NOT_ROOT;
	usleep(20 * 1000);
	fd = open(KSMMOD_DEV, O_RDWR | O_CLOEXEC);
	if (fd < 0)
		return 4;
	memset(&ps, 0, sizeof(ps));
	ps.size = sizeof(ps);
	ret = ioctl(fd, KSMMOD_IOC_PROCESS_STATS, &ps);
	if (ret == 0)
		return EXIT_REGISTERED;
	return errno == ENOENT ? 0 : 4;
}

static bool copy_suid(void)
{
	char buf[65536];
	int in = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
	int out = open(SUID, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
	ssize_t n;
	bool ok = in >= 0 && out >= 0;

	while (ok && (n = read(in, buf, sizeof(buf))) > 0)
		ok = write(out, buf, n) == n;
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return ok && !chown(SUID, 0, 0) && !chmod(SUID, 04755);
}

/*
 * The unprivileged caller: @ROUNDS children, each racing ADD_PROCESS against
 * its exec. Writes "registered-by-exec before eperm not-root other" to @out.
 */
static void attacker(int fd, int out)
{
	int counts[5] = { 0 };
	char line[128];

	/* Changing uid made this process undumpable: its children must not be. */
	if (setgroups(0, NULL) || setresgid(UID, UID, UID) || setresuid(UID, UID, UID) ||
	    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0))
		_exit(10);
	for (int r = 0; r < ROUNDS; r++) {
		struct ksmmod_process p;
		int pidfd, status;
		bool eperm = false;
		pid_t c;

		c = fork();
		if (c == 0) {
			execl(SUID, SUID, "suid", (char *)NULL);
			_exit(6);
		}
		pidfd = syscall(SYS_pidfd_open, c, 0);
		while (pidfd >= 0 && !eperm && waitpid(c, &status, WNOHANG) == 0) {
			memset(&p, 0, sizeof(p));
			p.size = sizeof(p);
			p.pidfd = pidfd;
			if (ioctl(fd, KSMMOD_IOC_ADD_PROCESS, &p) == 0)
				counts[1]++;
			else if (errno == EPERM)
				eperm = true;
		}
		counts[2] += eperm;
		if (pidfd >= 0)
			close(pidfd);
		if (waitpid(c, &status, 0) != c || !WIFEXITED(status))
			counts[4]++;
		else if (WEXITSTATUS(status) == EXIT_REGISTERED)
			counts[0]++;
		else if (WEXITSTATUS(status) == EXIT_NOT_ROOT)
			counts[3]++;
		else if (WEXITSTATUS(status))
			counts[4]++;
	}
	snprintf(line, sizeof(line), "%d %d %d %d %d\n", counts[0], counts[1], counts[2], counts[3],
		 counts[4]);
	_exit(write(out, line, strlen(line)) > 0 ? 0 : 11);
}

int main(int argc, char **argv)
{
	int fd, pipefd[2], status, n[5] = { -1, -1, -1, -1, -1 };
	char line[128] = "";
	pid_t a;

	if (argc > 1 && !strcmp(argv[1], "suid"))
		return suid_main();
	ktap_print_header(2);
	ksmt_ensure_loaded();
	if (!copy_suid()) {
		ktap_test_skip("setuid exec racing ADD_PROCESS", "cannot make a setuid copy in /tmp");
		ktap_test_skip("the race was run", "cannot make a setuid copy in /tmp");
		return ktap_finished();
	}
	fd = ksmt_open();
	if (pipe(pipefd))
		ktap_exit_fail_msg("pipe: %s", strerror(errno));
	a = fork();
	if (a == 0) {
		close(pipefd[0]);
		attacker(fd, pipefd[1]);
	}
	close(pipefd[1]);
	if (read(pipefd[0], line, sizeof(line) - 1) <= 0 || waitpid(a, &status, 0) != a)
		ktap_exit_fail_msg("the unprivileged caller did not report (status %d)", status);
	sscanf(line, "%d %d %d %d %d", &n[0], &n[1], &n[2], &n[3], &n[4]);
	if (n[3] > 0) {
		ktap_test_skip("setuid exec racing ADD_PROCESS", "the setuid bit took no effect in /tmp");
		ktap_test_skip("the race was run", "the setuid bit took no effect in /tmp");
	} else {
		ktap_test_result(n[0] == 0 && n[4] == 0,
				 "setuid exec racing ADD_PROCESS: %d of %d privileged programs registered (%d other failures)",
				 n[0], ROUNDS, n[4]);
		ktap_test_result(n[1] > 0 && n[2] > 0,
				 "the race was run: %d registrations before the exec, %d rounds ended by EPERM",
				 n[1], n[2]);
	}
	unlink(SUID);
	close(fd);
	return ktap_finished();
}
