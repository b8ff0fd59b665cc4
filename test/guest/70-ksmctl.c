// SPDX-License-Identifier: GPL-2.0
/*
 * The ksmctl CLI against the real module: version, status, set, and its
 * error reporting (one line on stderr, non-zero exit, nothing changed).
 */
#include <sys/wait.h>

#include "ksmtest.h"

#define KSMCTL "/bin/ksmctl"

static char out[16384], err_out[4096];

/* Run ksmctl with @argv, capturing stdout/stderr; returns the exit code. */
static int run(char *const argv[])
{
	int po[2], pe[2], status;
	ssize_t n;
	pid_t pid;
	size_t lo = 0, le = 0;

	if (pipe(po) || pipe(pe))
		ktap_exit_fail_msg("pipe: %s", strerror(errno));
	pid = fork();
	if (pid == 0) {
		dup2(po[1], 1);
		dup2(pe[1], 2);
		execv(KSMCTL, argv);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	while ((n = read(po[0], out + lo, sizeof(out) - 1 - lo)) > 0)
		lo += n;
	while ((n = read(pe[0], err_out + le, sizeof(err_out) - 1 - le)) > 0)
		le += n;
	out[lo] = err_out[le] = '\0';
	close(po[0]);
	close(pe[0]);
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

static int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Value of "name value" in `status --raw` output, or -1. */
static long long raw_value(const char *name)
{
	char key[80];
	const char *p;

	snprintf(key, sizeof(key), "\n%s ", name);
	p = strstr(out, key);
	if (!p && !strncmp(out, key + 1, strlen(key + 1)))
		p = out - 1;
	return p ? atoll(p + strlen(key)) : -1;
}

int main(void)
{
	int rc;

	ktap_print_header(10);
	if (access(KSMCTL, X_OK)) {
		for (rc = 0; rc < 10; rc++)
			ktap_test_skip("ksmctl", "/bin/ksmctl is not in the initramfs");
		return ktap_finished();
	}
	ksmt_ensure_loaded();

	rc = run((char *[]){ "ksmctl", "version", NULL });
	ktap_test_result(rc == 0 && strstr(out, ksmt_release()) && strstr(out, "0.1"),
			 "ksmctl version: exit %d, shows kernel release and module version", rc);
	rc = run((char *[]){ "ksmctl", "status", NULL });
	ktap_test_result(rc == 0 && strstr(out, "pages_sharing") && strstr(out, "max_page_sharing") &&
			 strstr(out, "general_profit") && strstr(out, "KiB"),
			 "ksmctl status: exit %d, shows parameters, counters and sizes", rc);
	rc = run((char *[]){ "ksmctl", "set", "pages_to_scan=500", "sleep_millisecs=50", NULL });
	ktap_test_result(rc == 0, "ksmctl set pages_to_scan=500 sleep_millisecs=50: exit %d", rc);
	rc = run((char *[]){ "ksmctl", "status", "--raw", NULL });
	ktap_test_result(rc == 0 && raw_value("pages_to_scan") == 500 &&
			 raw_value("sleep_millisecs") == 50 && raw_value("pages_shared") == 0,
			 "status --raw reads back pages_to_scan=%lld sleep_millisecs=%lld",
			 raw_value("pages_to_scan"), raw_value("sleep_millisecs"));

	rc = run((char *[]){ "ksmctl", "set", "pages_to_scan=7", "max_page_sharing=1", NULL });
	ktap_test_result(rc != 0 && count_lines(err_out) == 1 && !strncmp(err_out, "ksmctl: ", 8) &&
			 strstr(err_out, "max_page_sharing"),
			 "set with an out-of-range value: exit %d, one error line: %s", rc, err_out);
	run((char *[]){ "ksmctl", "status", "--raw", NULL });
	ktap_test_result(raw_value("pages_to_scan") == 500, "failed set changed nothing (pages_to_scan=%lld)",
			 raw_value("pages_to_scan"));
	rc = run((char *[]){ "ksmctl", "set", "no_such_knob=1", NULL });
	ktap_test_result(rc != 0 && count_lines(err_out) == 1, "unknown parameter: exit %d, one line: %s",
			 rc, err_out);
	rc = run((char *[]){ "ksmctl", "frobnicate", NULL });
	ktap_test_result(rc != 0 && err_out[0], "unknown command: exit %d", rc);
	rc = run((char *[]){ "ksmctl", "-d", "/dev/ksmmod-missing", "status", NULL });
	ktap_test_result(rc != 0 && count_lines(err_out) == 1 && strstr(err_out, "loaded"),
			 "missing device: exit %d, one line: %s", rc, err_out);

	rc = run((char *[]){ "ksmctl", "set", "pages_to_scan=100", "sleep_millisecs=20", NULL });
	ktap_test_result(rc == 0, "defaults restored with ksmctl set");
	return ktap_finished();
}
