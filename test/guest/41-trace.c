// SPDX-License-Identifier: GPL-2.0
/*
 * Trace events: ksmmod's are the kernel's KSM events (names, fields, output)
 * under the system "ksmmod".
 *
 * Where the kernel has its own KSM events, each of ksmmod's has the same
 * fields and print format. Enabled, a registration, a scan that merges two
 * pages and maps an empty one to the zero page, an unmerge and an
 * unregistration leave: ksm_enter and ksm_exit with the same mm,
 * ksm_start_scan and ksm_stop_scan, ksm_merge_with_ksm_page with the PFN
 * pagemap shows for the merged pages and error 0, ksm_merge_one_page with
 * the zero page's PFN, and ksm_remove_ksm_page for the merged PFN.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/wait.h>

#include "ksmtest.h"

#define TR	"/sys/kernel/tracing/"
#define NEV	9

static const char *const events[NEV] = {
	"ksm_start_scan", "ksm_stop_scan", "ksm_enter", "ksm_exit", "ksm_merge_one_page",
	"ksm_merge_with_ksm_page", "ksm_remove_ksm_page", "ksm_remove_rmap_item", "ksm_advisor",
};

static char trace[1 << 20];

/* The "field:" and "print fmt:" lines of @path, concatenated into @out. */
static bool format_of(const char *path, char *out, size_t size)
{
	static char buf[8192];
	char *line, *save;
	size_t n = 0;

	if (ksmt_read_file(path, buf, sizeof(buf)) <= 0)
		return false;
	out[0] = 0;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		while (*line == ' ' || *line == '\t')
			line++;
		if (strncmp(line, "field:", 6) && strncmp(line, "print fmt:", 10))
			continue;
		n += snprintf(out + n, n < size ? size - n : 0, "%s\n", line);
	}
	return n < size;
}

/* Number of lines of the trace with every one of the strings given. */
static int count_lines(const char *a, const char *b)
{
	int n = 0;

	for (char *p = trace; p && *p;) {
		char *e = strchr(p, '\n');

		if (e)
			*e = 0;
		if (strstr(p, a) && (!b || strstr(p, b)))
			n++;
		if (e)
			*e = '\n';
		p = e ? e + 1 : NULL;
	}
	return n;
}

static void read_trace(void)
{
	ssize_t n = ksmt_read_file(TR "trace", trace, sizeof(trace));

	if (n < 0)
		ktap_exit_fail_msg("read " TR "trace: %s", strerror(errno));
}

int main(void)
{
	char kfmt[4096], mfmt[4096], path[256], want[64], mm_str[64] = "";
	struct ksmmod_params p;
	int fd, same = 0, kernel_has = 0, missing = 0, pfd[2], status = 0;
	long psize = sysconf(_SC_PAGESIZE);
	uint64_t pfn = 0, zero_pfn;
	char *m, *probe;
	pid_t child;

	ktap_print_header(8);
	ksmt_ensure_loaded();
	fd = ksmt_open();
	if (access(TR "events", F_OK))
		mount("tracefs", TR, "tracefs", 0, NULL);
	if (access(TR "events", F_OK))
		ktap_exit_fail_msg("tracefs cannot be mounted: %s", strerror(errno));

	/* The same events as the kernel's KSM. */
	for (int i = 0; i < NEV; i++) {
		snprintf(path, sizeof(path), TR "events/ksmmod/%s/format", events[i]);
		if (!format_of(path, mfmt, sizeof(mfmt))) {
			ktap_print_msg("%s: missing", path);
			missing++;
			continue;
		}
		snprintf(path, sizeof(path), TR "events/ksm/%s/format", events[i]);
		if (!format_of(path, kfmt, sizeof(kfmt)))
			continue;
		kernel_has++;
		if (!strcmp(kfmt, mfmt))
			same++;
		else
			ktap_print_msg("%s differs:\nkernel:\n%sksmmod:\n%s", events[i], kfmt, mfmt);
	}
	ktap_test_result(!missing, "all %d events exist under events/ksmmod/", NEV);
	if (kernel_has)
		ktap_test_result(same == kernel_has,
				 "%d of the kernel's %d KSM events have the same fields and format",
				 same, kernel_has);
	else
		ktap_test_skip("same fields and format as the kernel's events",
			       "this kernel has no KSM trace events (events/ksm/)");

	/* Enable; a child registers, merges, unmerges and exits. */
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	ksmt_set_zero_pages(fd, 1);
	/*
	 * Without the comm cache: recording commands would switch on the
	 * scheduler's own tracepoints, whose live patching (int3) crashed the
	 * debug 7.3 kernel under QEMU/TCG once (Oops: int3 in
	 * ttwu_do_activate()); only ksmmod's events are switched here.
	 */
	ksmt_write_file(TR "options/record-cmd", "0");
	if (!ksmt_write_file(TR "events/ksmmod/enable", "1") || !ksmt_write_file(TR "tracing_on", "1"))
		ktap_exit_fail_msg("enabling events/ksmmod: %s", strerror(errno));
	close(open(TR "trace", O_WRONLY | O_TRUNC));
	probe = mmap(NULL, psize, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (probe == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	(void)*(volatile char *)probe;
	zero_pfn = ksmt_pfn_of(probe);
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	if (pipe(pfd))
		ktap_exit_fail_msg("pipe: %s", strerror(errno));
	child = fork();
	if (child == 0) {
		m = ksmt_map_filled(3, 0x6b);
		if (!m)
			_exit(2);
		memset(m + 2 * psize, 0, psize);
		if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, 3 * psize))
			_exit(3);
		for (int i = 0; i < 1000 && (ksmt_pfn_of(m) != ksmt_pfn_of(m + psize) ||
					     ksmt_pfn_of(m + 2 * psize) != zero_pfn); i++)
			usleep(10000);
		pfn = ksmt_pfn_of(m) == ksmt_pfn_of(m + psize) ? ksmt_pfn_of(m) : 0;
		if (write(pfd[1], &pfn, sizeof(pfn)) != sizeof(pfn) ||
		    ksmt_range(fd, KSMMOD_IOC_UNMERGE_RANGE, m, 3 * psize))
			_exit(4);
		_exit(0);
	}
	close(pfd[1]);
	if (read(pfd[0], &pfn, sizeof(pfn)) != sizeof(pfn))
		pfn = 0;
	waitpid(child, &status, 0);
	/* ksmmodd forgets the exited child in its next round. */
	for (int i = 0; i < 1000; i++) {
		read_trace();
		if (strstr(trace, "ksm_exit:"))
			break;
		usleep(10000);
	}
	/* The node of the freed page goes when the scanner meets it, or at run=2. */
	memset(&p, 0, sizeof(p));
	p.run = KSMMOD_RUN_UNMERGE;
	ksmt_set_params(fd, &p, KSMMOD_PARAM_RUN);
	ksmt_write_file(TR "events/ksmmod/enable", "0");
	ksmt_write_file(TR "options/record-cmd", "1");
	read_trace();

	{
		char *e = strstr(trace, "ksm_enter: mm ");

		if (e)
			sscanf(e + strlen("ksm_enter: mm "), "%63s", mm_str);
	}
	ktap_test_result(WIFEXITED(status) && !WEXITSTATUS(status) && pfn,
			 "the child's pages merged (pfn %#llx, status %#x)", (unsigned long long)pfn,
			 status);
	ktap_test_result(mm_str[0] && count_lines("ksm_enter: mm", mm_str) == 1 &&
			 count_lines("ksm_exit: mm", mm_str) == 1,
			 "ksm_enter and ksm_exit once each, for the same mm %s", mm_str);
	ktap_test_result(count_lines("ksm_start_scan: seq", NULL) >= 2 &&
			 count_lines("ksm_stop_scan: seq", NULL) >= 2,
			 "ksm_start_scan and ksm_stop_scan: %d and %d",
			 count_lines("ksm_start_scan:", NULL), count_lines("ksm_stop_scan:", NULL));
	snprintf(want, sizeof(want), "pfn %llu ", (unsigned long long)pfn);
	ktap_test_result(count_lines("ksm_merge_with_ksm_page:", want) == 2 &&
			 count_lines("ksm_merge_with_ksm_page: ksm", want) == 1 &&
			 count_lines("ksm_merge_with_ksm_page:", "error 0") == 2,
			 "ksm_merge_with_ksm_page: pfn %llu made a KSM page, then merged with (%d lines)",
			 (unsigned long long)pfn, count_lines("ksm_merge_with_ksm_page:", NULL));
	snprintf(want, sizeof(want), "ksm pfn %llu ", (unsigned long long)zero_pfn);
	ktap_test_result(count_lines("ksm_merge_one_page:", want) == 1 &&
			 count_lines("ksm_merge_one_page:", "error 0") == 1,
			 "ksm_merge_one_page: the zero page (pfn %llu)", (unsigned long long)zero_pfn);
	snprintf(want, sizeof(want), "pfn %llu", (unsigned long long)pfn);
	ktap_test_result(count_lines("ksm_remove_ksm_page: ", want) == 1 &&
			 count_lines("ksm_remove_ksm_page: ", NULL) == 1,
			 "ksm_remove_ksm_page for pfn %llu (%d lines)", (unsigned long long)pfn,
			 count_lines("ksm_remove_ksm_page:", NULL));
	if (ktap_nfail)
		ktap_print_msg("trace:\n%s", trace);

	ksmt_set_zero_pages(fd, 0);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	munmap(probe, psize);
	close(fd);
	return ktap_finished();
}
