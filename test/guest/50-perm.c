// SPDX-License-Identifier: GPL-2.0
/*
 * Privilege: /dev/ksmmod is 0600 root, non-root cannot open it, and a process
 * without CAP_SYS_ADMIN that holds an open descriptor cannot change anything.
 */
#include <sys/wait.h>

#include "ksmtest.h"

#define NOBODY 65534

/* Child body: drop to an unprivileged uid and report results on stdout. */
static int unprivileged_child(int fd)
{
	struct ksmmod_params before, p, after;
	int err, ofd;

	if (setgid(NOBODY) || setuid(NOBODY)) {
		ktap_print_msg("setuid(%d) failed: %s", NOBODY, strerror(errno));
		return 2;
	}
	ofd = open(KSMMOD_DEV, O_RDWR);
	ktap_test_result(ofd < 0 && errno == EACCES, "uid %d: open(/dev/ksmmod) -> EACCES (%s)",
			 NOBODY, ofd < 0 ? strerror(errno) : "opened!");
	ofd = open(KSMMOD_DEV, O_RDONLY);
	ktap_test_result(ofd < 0 && errno == EACCES, "uid %d: open read-only -> EACCES", NOBODY);

	ksmt_get_params(fd, &before);
	memset(&p, 0, sizeof(p));
	p.run = 1;
	p.pages_to_scan = 4242;
	err = ksmt_set_params(fd, &p, KSMMOD_PARAM_RUN | KSMMOD_PARAM_PAGES_TO_SCAN);
	ksmt_get_params(fd, &after);
	ktap_test_result(err == -EPERM, "uid %d with inherited fd: SET_PARAMS -> EPERM (got %s)",
			 NOBODY, err ? strerror(-err) : "success");
	ktap_test_result(after.run == before.run && after.pages_to_scan == before.pages_to_scan,
			 "uid %d: nothing changed", NOBODY);
	/* Invalid input from an unprivileged caller is still EPERM, not EINVAL. */
	p.flags = 1;
	err = ksmt_ioctl(fd, KSMMOD_IOC_SET_PARAMS, &p);
	ktap_test_result(err == -EPERM, "uid %d: invalid SET_PARAMS -> EPERM first", NOBODY);
	return ktap_nfail ? 1 : 0;
}

int main(void)
{
	struct stat st;
	int fd, status;
	pid_t pid;

	ktap_print_header(7);
	ksmt_ensure_loaded();

	ktap_test_result(!stat(KSMMOD_DEV, &st) && (st.st_mode & 07777) == 0600 && st.st_uid == 0 &&
			 st.st_gid == 0, "/dev/ksmmod is mode 0600 root:root (mode %o uid %u)",
			 st.st_mode & 07777, st.st_uid);
	fd = ksmt_open();
	fflush(stdout);
	pid = fork();
	if (pid == 0)
		_exit(unprivileged_child(fd));
	waitpid(pid, &status, 0);
	/* The child printed 5 numbered results; keep the numbering in step. */
	ktap_num += 5;
	ktap_test_result(WIFEXITED(status) && WEXITSTATUS(status) == 0, "unprivileged child ran, all its checks passed (status %#x)",
			 status);
	close(fd);
	return ktap_finished();
}
