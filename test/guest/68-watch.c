// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmodctl watch, the live view: without a terminal (--count frames one
 * after the other, exit 0), its errors (a missing device as status says
 * it; bad options), and in a real terminal: under tmux (packed into the
 * initramfs by test/harness/mkinitramfs.sh, KSMMOD_GUEST_PROGS) the pane
 * shows one frame of at most 80 columns with the headings, pages_sharing
 * as sysfs has it, the process this test registered at the top, ksmmodd's
 * CPU share; 'q' and Ctrl-C end it with exit 0 and the terminal restored.
 */
#include <dirent.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "ksmtest.h"

#define PLAN	13	/* results on every path, skips included */
#define NPAGES	64
#define TMUX	"/usr/bin/tmux"
#define SOCKET	"ksmmod-68"	/* tmux -L: a server of our own */
#define SESSION	"watch68"
#define RCFILE	"/tmp/68-watch.rc"
#define STTYFILE	"/tmp/68-watch.stty"
#define SYSFS	"/sys/kernel/mm/ksmmod/"

static char out[32768], err_out[4096], pane[16384];

static int run(char *const argv[])
{
	return ksmt_ksmmodctl(argv, out, sizeof(out), err_out, sizeof(err_out));
}

/* Run tmux -L SOCKET with @args (NULL-terminated), output into pane[]; its exit code. */
static int tmux(const char *arg, ...)
{
	char *argv[16] = { "tmux", "-L", SOCKET };
	int p[2], status, n = 3;
	va_list ap;
	pid_t pid;

	va_start(ap, arg);
	for (; arg && n < 15; arg = va_arg(ap, const char *))
		argv[n++] = (char *)arg;
	va_end(ap);
	argv[n] = NULL;
	if (pipe(p))
		ktap_exit_fail_msg("pipe: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		ktap_exit_fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		dup2(p[1], 1);
		dup2(p[1], 2);
		close(p[0]);
		close(p[1]);
		execv(TMUX, argv);
		_exit(127);
	}
	close(p[1]);
	ksmt_read_all(p[0], pane, sizeof(pane));
	waitpid(pid, &status, 0);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
}

/* Capture the pane until @want appears in it (up to @secs seconds); true if it did. */
static bool pane_wait(const char *want, int secs)
{
	for (int i = 0; i < secs * 10; i++) {
		if (!tmux("capture-pane", "-p", "-t", SESSION, NULL) && strstr(pane, want))
			return true;
		usleep(100 * 1000);
	}
	return false;
}

/* Whether the session is gone within @secs seconds. */
static bool session_gone(int secs)
{
	for (int i = 0; i < secs * 10; i++) {
		if (tmux("has-session", "-t", SESSION, NULL))
			return true;
		usleep(100 * 1000);
	}
	return false;
}

/* Occurrences of @needle in @s. */
static int count_of(const char *s, const char *needle)
{
	int n = 0;

	for (s = strstr(s, needle); s; s = strstr(s + 1, needle))
		n++;
	return n;
}

/* The longest line of @s, in bytes (the frames are ASCII), trailing blanks left out. */
static int widest(const char *s)
{
	int w = 0;

	while (*s) {
		int n = (int)strcspn(s, "\n");

		for (int k = n; k > 0 && s[k - 1] == ' '; k--)
			n = k - 1;
		if (n > w)
			w = n;
		s += strcspn(s, "\n");
		s += *s == '\n';
	}
	return w;
}

/* The number after "\n  @label" (blanks skipped) in @s, or -1. */
static long long field(const char *s, const char *label)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), "\n  %s ", label);
	p = strstr(s, key);
	if (!p)
		return -1;
	p += strlen(key);
	while (*p == ' ')
		p++;
	return *p >= '0' && *p <= '9' ? atoll(p) : -1;
}

/*
 * The line of @s that contains @needle, for conditions and messages: one of
 * 8 static buffers, so that one call's arguments can hold several.
 */
static const char *line_of(const char *s, const char *needle)
{
	static char lines[8][128];
	static unsigned int next;
	const char *p = strstr(s, needle), *b;
	char *line = lines[next++ % 8];

	if (!p)
		return "(none)";
	for (b = p; b > s && b[-1] != '\n'; b--)
		;
	snprintf(line, 128, "%.*s", (int)strcspn(b, "\n"), b);
	return line;
}

/* Copy @text into the log, each line behind "# @tag| " (trailing blank lines left out). */
static void log_lines(const char *tag, const char *text)
{
	int n = (int)strlen(text);

	while (n > 0 && text[n - 1] == '\n')
		n--;
	for (const char *p = text, *end = text + n; p < end;) {
		int len = (int)strcspn(p, "\n");

		printf("# %s| %.*s\n", tag, len, p);
		p += len + 1;
	}
	fflush(stdout);
}

/* Whether the stty -a output @s shows @flag set (the token, not "-flag"). */
static bool stty_on(const char *s, const char *flag)
{
	size_t n = strlen(flag);

	for (const char *p = strstr(s, flag); p; p = strstr(p + 1, flag))
		if ((p == s || p[-1] == ' ' || p[-1] == '\n') &&
		    (p[n] == ' ' || p[n] == '\n' || p[n] == ';' || !p[n]))
			return true;
	return false;
}

static long long sysfs_value(const char *name)
{
	char path[128], buf[64];

	snprintf(path, sizeof(path), SYSFS "%s", name);
	return ksmt_read_file(path, buf, sizeof(buf)) > 0 ? atoll(buf) : -1;
}

/* The pid of the ksmmodd kthread, 0 if none. */
static pid_t ksmmodd_pid(void)
{
	char path[300], comm[32];
	struct dirent *e;
	pid_t pid = 0;
	DIR *d = opendir("/proc");

	while (d && !pid && (e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		if (ksmt_read_file(path, comm, sizeof(comm)) > 0 && !strcmp(comm, "ksmmodd\n"))
			pid = atoi(e->d_name);
	}
	if (d)
		closedir(d);
	return pid;
}

/* A child with NPAGES identical pages, waiting to be killed; its pid. */
static pid_t dup_child(void)
{
	int p[2];
	char c;
	pid_t pid;

	if (pipe(p))
		ktap_exit_fail_msg("pipe: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		ktap_exit_fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		char *m = ksmt_map_filled(NPAGES, 0x5a);

		c = m ? 'y' : 'n';
		if (write(p[1], &c, 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	if (read(p[0], &c, 1) != 1 || c != 'y') {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		ktap_exit_fail_msg("child %d did not map its memory", (int)pid);
	}
	close(p[0]);
	return pid;
}

/*
 * Start `ksmmodctl watch` in a tmux session of 100x40, in a shell that
 * then records its exit code and the terminal's modes. `trap : INT`: the
 * shell outlives a Ctrl-C meant for watch (its trap is reset to the default
 * in watch, which then catches SIGINT itself).
 */
static int start_session(void)
{
	unlink(RCFILE);
	unlink(STTYFILE);
	return tmux("new-session", "-d", "-s", SESSION, "-x", "100", "-y", "40",
		    "trap : INT; /bin/ksmmodctl watch; echo $? >" RCFILE "; stty -a >" STTYFILE,
		    NULL);
}

/* After the session ended: watch's exit code, and whether icanon and echo are back. */
static void session_result(int *rc, bool *restored)
{
	char buf[2048];

	*rc = ksmt_read_file(RCFILE, buf, sizeof(buf)) > 0 ? atoi(buf) : -1;
	*restored = ksmt_read_file(STTYFILE, buf, sizeof(buf)) > 0 && stty_on(buf, "icanon") &&
		    stty_on(buf, "echo");
}

int main(void)
{
	char pidstr[16], want[64], msg[sizeof(err_out)], *frame2;
	struct ksmmod_process_stats ps;
	struct ksmmod_params saved;
	long long sharing, sys;
	bool restored, ok;
	int fd, pidfd, rc;
	pid_t child, kd;

	ktap_print_header(PLAN);
	if (access(KSMT_KSMMODCTL, X_OK)) {
		for (rc = 0; rc < PLAN; rc++)
			ktap_test_skip("ksmmodctl watch", "/bin/ksmmodctl is not in the initramfs");
		return ktap_finished();
	}
	ksmt_ensure_loaded();
	fd = ksmt_open();
	if (ksmt_get_params(fd, &saved))
		ktap_exit_fail_msg("GET_PARAMS: %s", strerror(errno));
	if (!getenv("TERM"))
		setenv("TERM", "linux", 1);

	/* A process whose NPAGES pages merge into one: NPAGES - 1 pages saved. */
	child = dup_child();
	snprintf(pidstr, sizeof(pidstr), "%d", (int)child);
	rc = run((char *[]){ "ksmmodctl", "add", pidstr, NULL });
	if (rc)
		ktap_exit_fail_msg("ksmmodctl add %s: exit %d: %s", pidstr, rc, err_out);
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	pidfd = (int)syscall(SYS_pidfd_open, child, 0);
	for (int i = 0; i < 600; i++) {
		if (!ksmt_process_stats(fd, (uint32_t)pidfd, &ps) && ps.merging_pages == NPAGES)
			break;
		usleep(50 * 1000);
	}
	close(pidfd);
	kd = ksmmodd_pid();
	ktap_print_msg("child %s: merging_pages %llu, process_profit %lld; ksmmodd pid %d",
		       pidstr, (unsigned long long)ps.merging_pages, (long long)ps.process_profit,
		       (int)kd);
	if (ps.merging_pages != NPAGES)
		ktap_exit_fail_msg("the child's %d pages did not merge", NPAGES);

	/* No terminal: --count frames, one after the other. */
	rc = run((char *[]){ "ksmmodctl", "watch", "--count", "2", "--interval", "0.5", NULL });
	sys = sysfs_value("pages_sharing");
	frame2 = strstr(out, "\n\nksmmod watch, every");
	ktap_test_result(rc == 0 && count_of(out, "ksmmod watch, every 0.5 s") == 2 && frame2 &&
			 !strchr(out, '\033') && count_of(out, "\nMemory saved\n") == 2 &&
			 count_of(out, "\nScanning (progress: estimated") == 2 &&
			 count_of(out, "\nTop processes by profit\n") == 2 && !err_out[0],
			 "watch --count 2 without a terminal: exit %d, two frames with their headings, no escape sequences",
			 rc);
	ktap_test_result(rc == 0 && widest(out) <= 80, "watch --count 2: fits 80 columns (widest line %d)",
			 widest(out));
	snprintf(want, sizeof(want), "%% (pid %d)", (int)kd);
	ktap_test_result(frame2 && kd && strstr(line_of(frame2, "ksmmodd CPU"), want) &&
			 strstr(line_of(frame2, "  pages_scanned "), " pages/s") &&
			 strstr(line_of(out, "  pages_scanned "), " -"),
			 "watch --count 2: the second frame has rates and ksmmodd's CPU share: %s",
			 frame2 ? line_of(frame2, "ksmmodd CPU") : "(no second frame)");
	snprintf(want, sizeof(want), "\n  %7d  68-watch ", (int)child);
	sharing = frame2 ? field(frame2, "pages_sharing") : -1;
	ktap_test_result(sharing >= NPAGES - 1 && sharing == sys && strstr(frame2, want),
			 "watch --count 2: pages_sharing %lld as sysfs (%lld), process %s among the top",
			 sharing, sys, pidstr);

	/* Errors: a missing device as status says it; bad options. */
	rc = run((char *[]){ "ksmmodctl", "-d", "/dev/ksmmod-missing", "status", NULL });
	snprintf(msg, sizeof(msg), "%s", err_out);
	rc = run((char *[]){ "ksmmodctl", "-d", "/dev/ksmmod-missing", "watch", "--count", "1", NULL });
	ktap_test_result(rc == 1 && !out[0] && !strcmp(err_out, msg) && strstr(err_out, "loaded") &&
			 count_of(err_out, "\n") == 1,
			 "watch without the device: exit %d, status's one line: %.*s", rc,
			 (int)strcspn(err_out, "\n"), err_out);
	rc = run((char *[]){ "ksmmodctl", "watch", "--interval", "0", NULL });
	snprintf(msg, sizeof(msg), "%s", err_out);
	ok = rc == 2 && strstr(msg, "--interval");
	rc = run((char *[]){ "ksmmodctl", "watch", "--count", "x", NULL });
	ktap_test_result(ok && rc == 2 && strstr(err_out, "--count") && !out[0],
			 "watch --interval 0, --count x: usage errors (exit 2): %.*s", (int)strcspn(msg, "\n"),
			 msg);

	/* In a terminal: tmux. */
	if (access(TMUX, X_OK)) {
		for (rc = 0; rc < 6; rc++)
			ktap_test_skip("watch in tmux",
				       TMUX " is not in the initramfs (host without tmux, or KSMMOD_GUEST_PROGS)");
		goto out;
	}
	rc = start_session();
	ok = !rc && pane_wait("Top processes by profit", 30);
	ktap_test_result(ok && strstr(pane, "ksmmod watch, every 1 s (q or Ctrl-C quits)") &&
			 strstr(pane, "\nMemory saved\n") && strstr(pane, "\nScanning (progress:") &&
			 strstr(pane, "\n  full scan        #"),
			 "tmux: watch draws its frame (tmux exit %d): %s", rc, line_of(pane, "ksmmod"));
	/* The screen is cleared: one frame, however many were drawn. */
	ok = ok && pane_wait("% (pid", 30);
	ktap_test_result(ok && count_of(pane, "ksmmod watch, every") == 1 && widest(pane) <= 80,
			 "tmux: one frame on the screen after several, fits 80 columns (widest line %d)",
			 widest(pane));
	/* pages_sharing as sysfs has it (stable: nothing else merges), the child on top */
	snprintf(want, sizeof(want), "\n  %7d  68-watch ", (int)child);
	sharing = -1;
	for (int i = 0; ok && i < 100; i++) {
		tmux("capture-pane", "-p", "-t", SESSION, NULL);
		sharing = field(pane, "pages_sharing");
		sys = sysfs_value("pages_sharing");
		if (sharing == sys && strstr(pane, want))
			break;
		usleep(100 * 1000);
	}
	log_lines("pane", pane);
	ktap_test_result(ok && sharing == sys && sharing >= NPAGES - 1 && strstr(pane, want),
			 "tmux: pages_sharing %lld as sysfs (%lld); process %s listed: %s", sharing, sys,
			 pidstr, line_of(pane, "68-watch"));
	snprintf(want, sizeof(want), "%% (pid %d)", (int)kd);
	ktap_test_result(ok && strstr(line_of(pane, "ksmmodd CPU"), want) &&
			 strstr(line_of(pane, "  pages_scanned "), " pages/s"),
			 "tmux: ksmmodd's CPU share and the scan rate: %s", line_of(pane, "ksmmodd CPU"));
	tmux("send-keys", "-t", SESSION, "q", NULL);
	ok = session_gone(10);
	session_result(&rc, &restored);
	ktap_test_result(ok && rc == 0 && restored,
			 "tmux: 'q' ends watch (session gone: %s), exit %d, terminal restored: %s",
			 ok ? "yes" : "no", rc, restored ? "yes" : "no");
	if (!ok)
		tmux("kill-session", "-t", SESSION, NULL);

	rc = start_session();
	ok = !rc && pane_wait("Top processes by profit", 30);
	tmux("send-keys", "-t", SESSION, "C-c", NULL);
	ok = ok && session_gone(10);
	session_result(&rc, &restored);
	ktap_test_result(ok && rc == 0 && restored,
			 "tmux: Ctrl-C ends watch (session gone: %s), exit %d, terminal restored: %s",
			 ok ? "yes" : "no", rc, restored ? "yes" : "no");
	tmux("kill-server", NULL);

out:
	rc = run((char *[]){ "ksmmodctl", "remove", pidstr, NULL });
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	ktap_test_result(rc == 0, "ksmmodctl remove %s: exit %d", pidstr, rc);
	saved.size = sizeof(saved);
	if (ksmt_set_params(fd, &saved, KSMMOD_PARAM_RUN | KSMMOD_PARAM_PAGES_TO_SCAN |
			    KSMMOD_PARAM_SLEEP_MILLISECS | KSMMOD_PARAM_SMART_SCAN))
		ktap_print_msg("restoring the parameters: %s", strerror(errno));
	close(fd);
	return ktap_finished();
}
