// SPDX-License-Identifier: GPL-2.0
/*
 * The ksmmodctl CLI against the real module: version, status, set, merge,
 * unmerge, add, remove, status --json, metrics, apply (a configuration
 * file, as ksmmod.service applies /etc/ksmmod.conf), and its error reporting (one
 * line on stderr, non-zero exit, nothing changed). The JSON and metrics
 * outputs are also copied into the log ("# json| ", "# metrics| " lines),
 * where the host parses them with real parsers (test/harness/check-formats.py).
 */
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "ksmtest.h"

#define KSMMODCTL KSMT_KSMMODCTL
#define PLAN	31	/* results on every path, skip included */
#define NPAGES	16

static char out[16384], err_out[4096];

/* Run ksmmodctl with @argv, capturing stdout/stderr; returns the exit code. */
static int run(char *const argv[])
{
	return ksmt_ksmmodctl(argv, out, sizeof(out), err_out, sizeof(err_out));
}

/* Copy @text into the log, each line behind "# @tag| ". */
static void log_lines(const char *tag, const char *text)
{
	const char *p = text, *nl;

	for (; *p; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl)
			nl = p + strlen(p);
		printf("# %s| %.*s\n", tag, (int)(nl - p), p);
		if (!*nl)
			break;
	}
	fflush(stdout);
}

/*
 * Every line of @text is "# HELP name text", "# TYPE name gauge|counter" or
 * "name[{labels}] value" with a ksmmod_ name: a structural check here, the
 * full one on the host.
 */
static bool metrics_shape(const char *text, int *samples)
{
	char line[512];
	const char *p = text;

	*samples = 0;
	while (*p) {
		size_t n = strcspn(p, "\n");
		char *v;

		snprintf(line, sizeof(line), "%.*s", (int)n, p);
		p += n + (p[n] == '\n');
		if (!strncmp(line, "# HELP ksmmod_", 14))
			continue;
		if (!strncmp(line, "# TYPE ksmmod_", 14) &&
		    (strstr(line, " gauge") || strstr(line, " counter")))
			continue;
		v = strrchr(line, ' ');
		if (strncmp(line, "ksmmod_", 7) || !v || !v[1] ||
		    strspn(v + 1, "-0123456789.") != strlen(v + 1))
			return false;
		(*samples)++;
	}
	return *samples > 0;
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

/* mm_slots from `ksmmodctl status --raw` (-1 if missing); clobbers out. */
static long long slots(void)
{
	run((char *[]){ "ksmmodctl", "status", "--raw", NULL });
	return raw_value("mm_slots");
}

/* Write @text to the configuration file @path. */
static void write_conf(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (!f || fputs(text, f) < 0 || fclose(f))
		ktap_exit_fail_msg("cannot write %s: %s", path, strerror(errno));
}

/*
 * ksmmodctl apply of a bad configuration file: exit 1, the first error line
 * names the file, the line @lineno and @key, and no parameter changed.
 */
static void apply_bad(const char *what, const char *text, int lineno, const char *key)
{
	char *const argv[] = { "ksmmodctl", "apply", "/tmp/ksmmod.conf", NULL };
	char where[64], msg[sizeof(err_out)];
	int rc;

	write_conf("/tmp/ksmmod.conf", text);
	snprintf(where, sizeof(where), "ksmmodctl: /tmp/ksmmod.conf:%d: ", lineno);
	rc = run(argv);
	snprintf(msg, sizeof(msg), "%s", err_out);	/* the status below overwrites it */
	run((char *[]){ "ksmmodctl", "status", "--raw", NULL });
	ktap_test_result(rc == 1 && !strncmp(msg, where, strlen(where)) && strstr(msg, key) &&
			 strstr(msg, "nothing applied") && raw_value("pages_to_scan") == 500 &&
			 raw_value("sleep_millisecs") == 50,
			 "apply, %s: exit %d, names line %d and %s, nothing changed: %.*s", what, rc,
			 lineno, key, (int)strcspn(msg, "\n"), msg);
}

/*
 * Fork a child that maps NPAGES private anonymous pages, sends their address
 * through a pipe and waits to be killed. Returns its pid; *@addr the address.
 */
static pid_t sleeper(uint64_t *addr)
{
	long psize = sysconf(_SC_PAGESIZE);
	int p[2];
	pid_t pid;

	if (pipe(p))
		ktap_exit_fail_msg("pipe: %s", strerror(errno));
	fflush(stdout);
	pid = fork();
	if (pid < 0)
		ktap_exit_fail_msg("fork: %s", strerror(errno));
	if (pid == 0) {
		char *mem = mmap(NULL, NPAGES * psize, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		uint64_t a = mem == MAP_FAILED ? 0 : (uintptr_t)mem;

		if (a)
			memset(mem, 0x5a, NPAGES * psize);
		close(p[0]);
		if (write(p[1], &a, sizeof(a)) != sizeof(a))
			_exit(1);
		close(p[1]);
		for (;;)
			pause();
	}
	close(p[1]);
	if (read(p[0], addr, sizeof(*addr)) != sizeof(*addr) || !*addr) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		ktap_exit_fail_msg("child %d did not map its memory", (int)pid);
	}
	close(p[0]);
	return pid;
}

int main(void)
{
	char pidstr[16], addrstr[32], addr1str[32], msg[sizeof(err_out)];
	long long base, n;
	uint64_t addr;
	pid_t child;
	int rc, rc2;

	ktap_print_header(PLAN);
	if (access(KSMMODCTL, X_OK)) {
		for (rc = 0; rc < PLAN; rc++)
			ktap_test_skip("ksmmodctl", "/bin/ksmmodctl is not in the initramfs");
		return ktap_finished();
	}
	ksmt_ensure_loaded();

	rc = run((char *[]){ "ksmmodctl", "version", NULL });
	ktap_test_result(rc == 0 && strstr(out, ksmt_release()) && strstr(out, "0.1"),
			 "ksmmodctl version: exit %d, shows kernel release and module version", rc);
	rc = run((char *[]){ "ksmmodctl", "status", NULL });
	ktap_test_result(rc == 0 && strstr(out, "pages_sharing") && strstr(out, "max_page_sharing") &&
			 strstr(out, "general_profit") && strstr(out, "KiB") &&
			 strstr(out, "mm_slots") && strstr(out, "(processes)"),
			 "ksmmodctl status: exit %d, shows parameters, counters (mm_slots too) and sizes", rc);
	rc = run((char *[]){ "ksmmodctl", "set", "pages_to_scan=500", "sleep_millisecs=50", NULL });
	ktap_test_result(rc == 0, "ksmmodctl set pages_to_scan=500 sleep_millisecs=50: exit %d", rc);
	rc = run((char *[]){ "ksmmodctl", "status", "--raw", NULL });
	ktap_test_result(rc == 0 && raw_value("pages_to_scan") == 500 &&
			 raw_value("sleep_millisecs") == 50 && raw_value("pages_shared") == 0,
			 "status --raw reads back pages_to_scan=%lld sleep_millisecs=%lld",
			 raw_value("pages_to_scan"), raw_value("sleep_millisecs"));

	rc = run((char *[]){ "ksmmodctl", "set", "pages_to_scan=7", "max_page_sharing=1", NULL });
	ktap_test_result(rc != 0 && count_lines(err_out) == 1 && !strncmp(err_out, "ksmmodctl: ", 8) &&
			 strstr(err_out, "max_page_sharing"),
			 "set with an out-of-range value: exit %d, one error line: %s", rc, err_out);
	run((char *[]){ "ksmmodctl", "status", "--raw", NULL });
	ktap_test_result(raw_value("pages_to_scan") == 500, "failed set changed nothing (pages_to_scan=%lld)",
			 raw_value("pages_to_scan"));
	/* A configuration file: checked whole, then applied at once. */
	write_conf("/tmp/ksmmod.conf", "# ksmmod.conf\n\n pages_to_scan = 700 # more\nsleep_millisecs=30\n");
	rc = run((char *[]){ "ksmmodctl", "apply", "--check", "/tmp/ksmmod.conf", NULL });
	run((char *[]){ "ksmmodctl", "status", "--raw", NULL });
	ktap_test_result(rc == 0 && raw_value("pages_to_scan") == 500,
			 "apply --check of a good file: exit %d, nothing applied", rc);
	rc = run((char *[]){ "ksmmodctl", "apply", "/tmp/ksmmod.conf", NULL });
	run((char *[]){ "ksmmodctl", "status", "--raw", NULL });
	ktap_test_result(rc == 0 && raw_value("pages_to_scan") == 700 &&
			 raw_value("sleep_millisecs") == 30,
			 "apply of a good file: exit %d, pages_to_scan %lld sleep_millisecs %lld", rc,
			 raw_value("pages_to_scan"), raw_value("sleep_millisecs"));
	run((char *[]){ "ksmmodctl", "set", "pages_to_scan=500", "sleep_millisecs=50", NULL });
	apply_bad("unknown key", "sleep_millisecs = 10\npages_to_scann = 5\n", 2, "pages_to_scann");
	apply_bad("bad number", "pages_to_scan = 12x\n", 1, "pages_to_scan");
	apply_bad("out of range", "sleep_millisecs = 10\n# c\nmax_page_sharing = 1\n", 3,
		  "max_page_sharing");
	apply_bad("no '='", "sleep_millisecs = 10\nsmart_scan\n", 2, "smart_scan");
	apply_bad("a key twice", "sleep_millisecs = 10\nsleep_millisecs = 11\n", 2, "sleep_millisecs");

	rc = run((char *[]){ "ksmmodctl", "set", "no_such_knob=1", NULL });
	ktap_test_result(rc != 0 && count_lines(err_out) == 1, "unknown parameter: exit %d, one line: %s",
			 rc, err_out);
	rc = run((char *[]){ "ksmmodctl", "frobnicate", NULL });
	ktap_test_result(rc != 0 && err_out[0], "unknown command: exit %d", rc);
	rc = run((char *[]){ "ksmmodctl", "-d", "/dev/ksmmod-missing", "status", NULL });
	ktap_test_result(rc != 0 && count_lines(err_out) == 1 && strstr(err_out, "loaded"),
			 "missing device: exit %d, one line: %s", rc, err_out);

	/* Registration of another process's memory, by pid. */
	rc = run((char *[]){ "ksmmodctl", "version", NULL });
	ktap_test_result(rc == 0 && strstr(out, "register") && strstr(out, "MERGE_RANGE") &&
			 strstr(out, "UNMERGE_RANGE") && strstr(out, "ADD_PROCESS") &&
			 strstr(out, "REMOVE_PROCESS") && strstr(out, "PROCESS_STATS") &&
			 strstr(out, "SET_DOMAIN") && strstr(out, "DOMAIN_STATS") && !strstr(out, "bit"),
			 "ksmmodctl version: exit %d, names feature register and every ioctl", rc);
	base = slots();		/* 45-register may leave a slot behind */
	child = sleeper(&addr);
	snprintf(pidstr, sizeof(pidstr), "%d", (int)child);
	snprintf(addrstr, sizeof(addrstr), "0x%" PRIx64, addr);
	snprintf(addr1str, sizeof(addr1str), "0x%" PRIx64, addr + 1);
	ktap_print_msg("child %s, %d pages at %s, mm_slots before: %lld", pidstr, NPAGES, addrstr, base);

	rc = run((char *[]){ "ksmmodctl", "merge", pidstr, addrstr, "64K", NULL });
	ktap_test_result(rc == 0 && !out[0] && !err_out[0], "ksmmodctl merge %s %s 64K: exit %d, silent %s",
			 pidstr, addrstr, rc, err_out);
	n = slots();
	ktap_test_result(base >= 0 && n == base + 1, "status --raw: mm_slots %lld -> %lld", base, n);
	rc = run((char *[]){ "ksmmodctl", "remove", pidstr, NULL });
	n = slots();
	ktap_test_result(rc == 0 && n == base, "ksmmodctl remove %s: exit %d, mm_slots back to %lld",
			 pidstr, rc, n);
	rc = run((char *[]){ "ksmmodctl", "remove", pidstr, NULL });
	ktap_test_result(rc == 1 && count_lines(err_out) == 1 && !strncmp(err_out, "ksmmodctl: ", 8) &&
			 strstr(err_out, "no memory registered"),
			 "remove again: exit %d, one error line: %s", rc, err_out);
	rc = run((char *[]){ "ksmmodctl", "merge", pidstr, addr1str, "4096", NULL });
	snprintf(msg, sizeof(msg), "%s", err_out);	/* slots() overwrites err_out */
	n = slots();
	ktap_test_result(rc == 1 && count_lines(msg) == 1 && strstr(msg, "aligned") && n == base,
			 "merge of an unaligned ADDR: exit %d, one error line, mm_slots %lld: %s", rc, n, msg);
	rc = run((char *[]){ "ksmmodctl", "merge", "999999", "0x1000", "4096", NULL });
	ktap_test_result(rc == 1 && count_lines(err_out) == 1 && strstr(err_out, "no such process"),
			 "merge of pid 999999: exit %d, one error line: %s", rc, err_out);
	rc = run((char *[]){ "ksmmodctl", "merge", pidstr, addrstr, "0x10000", NULL });
	rc2 = run((char *[]){ "ksmmodctl", "unmerge", pidstr, addrstr, "64K", NULL });
	n = slots();
	ktap_test_result(rc == 0 && rc2 == 0 && n == base,
			 "merge then unmerge of the same range: exit %d/%d, mm_slots back to %lld", rc, rc2, n);
	rc = run((char *[]){ "ksmmodctl", "add", pidstr, NULL });
	n = slots();
	{
		char want[128];
		int samples = 0;
		bool shape;

		rc2 = run((char *[]){ "ksmmodctl", "status", "--json", NULL });
		log_lines("json", out);
		ktap_test_result(rc2 == 0 && out[0] == '{' && strstr(out, "\"params\": {\"run\": ") &&
				 strstr(out, "\"pages_sharing\": ") && count_lines(out) == 1,
				 "ksmmodctl status --json: exit %d, one object with params and stats", rc2);
		rc2 = run((char *[]){ "ksmmodctl", "status", "--json", pidstr, NULL });
		log_lines("json", out);
		snprintf(want, sizeof(want), "{\"pid\": %s, \"registered_bytes\": ", pidstr);
		ktap_test_result(rc2 == 0 && !strncmp(out, want, strlen(want)) &&
				 strstr(out, "\"merge_any\": true"),
				 "ksmmodctl status --json %s: exit %d, the process's object", pidstr, rc2);
		rc2 = run((char *[]){ "ksmmodctl", "metrics", NULL });
		log_lines("metrics", out);
		shape = metrics_shape(out, &samples);
		ktap_test_result(rc2 == 0 && shape &&
				 strstr(out, "\nksmmod_pages_sharing ") &&
				 strstr(out, "\nksmmod_full_scans_total "),
				 "ksmmodctl metrics: exit %d, %d samples, all HELP/TYPE/sample lines", rc2,
				 samples);
		snprintf(want, sizeof(want), "\nksmmod_process_rmap_items{pid=\"%s\",comm=\"67-ksmmodctl\"} ",
			 pidstr);
		ktap_test_result(rc2 == 0 && strstr(out, want),
				 "ksmmodctl metrics: a line for process %s with its pid and comm", pidstr);
	}
	rc2 = run((char *[]){ "ksmmodctl", "remove", pidstr, NULL });
	ktap_test_result(rc == 0 && n == base + 1 && rc2 == 0 && slots() == base,
			 "ksmmodctl add %s: exit %d, mm_slots %lld; remove: exit %d", pidstr, rc, n, rc2);
	rc = run((char *[]){ "ksmmodctl", "merge", "0", addrstr, "4096", NULL });
	ktap_test_result(rc == 2 && count_lines(err_out) == 1, "merge of pid 0: usage error, exit %d: %s",
			 rc, err_out);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);

	rc = run((char *[]){ "ksmmodctl", "set", "pages_to_scan=100", "sleep_millisecs=20", NULL });
	ktap_test_result(rc == 0, "defaults restored with ksmmodctl set");
	return ktap_finished();
}
