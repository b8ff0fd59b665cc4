// SPDX-License-Identifier: GPL-2.0
/*
 * After every other test (and the final rmmod), ask kmemleak for objects that
 * nothing references any more. init.sh cleared the boot-time suspects, so any
 * report here is memory leaked while the tests ran. Only kernels built with
 * CONFIG_DEBUG_KMEMLEAK (the debug lane) have it.
 */
#include "ksmtest.h"

#define KMEMLEAK "/sys/kernel/debug/kmemleak"

static int kmemleak_cmd(const char *cmd)
{
	int fd = open(KMEMLEAK, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, cmd, strlen(cmd));
	close(fd);
	return n < 0 ? -errno : 0;
}

int main(void)
{
	static char report[65536];
	ssize_t n;
	int err;

	ktap_print_header(1);
	if (access(KMEMLEAK, F_OK)) {
		ktap_test_skip("no unreferenced objects after the tests (kmemleak)",
			       "kernel built without CONFIG_DEBUG_KMEMLEAK");
		return ktap_finished();
	}
	if (ksmt_loaded())
		ksmt_unload();
	/* kmemleak reports objects older than 5 s, found unreferenced twice. */
	sleep(6);
	err = kmemleak_cmd("scan");
	if (!err)
		err = kmemleak_cmd("scan");
	if (err)
		ktap_exit_fail_msg("writing scan to %s: %s", KMEMLEAK, strerror(-err));
	n = ksmt_read_file(KMEMLEAK, report, sizeof(report));
	if (n > 0) {
		char *line = strtok(report, "\n");

		for (int i = 0; line && i < 60; i++, line = strtok(NULL, "\n"))
			ktap_print_msg("%s", line);
	}
	ktap_test_result(n == 0, "no unreferenced objects after the tests (kmemleak: %zd bytes of report)",
			 n);
	return ktap_finished();
}
