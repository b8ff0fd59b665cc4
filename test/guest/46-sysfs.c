// SPDX-License-Identifier: GPL-2.0
/*
 * /sys/kernel/mm/ksmmod mirrors /sys/kernel/mm/ksm: the same file names with
 * the same permissions, values equal to the ioctl interface's, and the same
 * write semantics (parsing, EINVAL/EBUSY, run=2 unmerging before the write
 * returns); unprivileged writes are refused by the file mode; the directory
 * goes away with the module.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "ksmtest.h"

#define DIR	"/sys/kernel/mm/ksmmod/"

static const char *const knobs[] = {
	"run", "pages_to_scan", "sleep_millisecs", "max_page_sharing",
	"stable_node_chains_prune_millisecs", "merge_across_nodes", "use_zero_pages",
	"densify_chains", "smart_scan", "advisor_mode", "advisor_max_cpu",
	"advisor_target_scan_time", "advisor_min_pages_to_scan", "advisor_max_pages_to_scan",
	"merge_domains",
};
static const char *const counters[] = {
	"pages_shared", "pages_sharing", "pages_unshared", "pages_volatile", "pages_scanned",
	"pages_skipped", "full_scans", "stable_node_chains", "stable_node_dups",
	"ksm_zero_pages", "general_profit", "stable_node_dup_mappings", "densify_moves",
	"ineligible_pages", "merge_pinned", "thp_unsplittable",
};

/* Write @val to DIR@name; 0 or -errno. */
static int put(const char *name, const char *val)
{
	char path[128];

	snprintf(path, sizeof(path), DIR "%s", name);
	return ksmt_write_errno(path, val);
}

/* Value of DIR@name, or LLONG_MIN. */
static long long get(const char *name)
{
	char path[128], buf[64];

	snprintf(path, sizeof(path), DIR "%s", name);
	if (ksmt_read_file(path, buf, sizeof(buf)) <= 0)
		return LLONG_MIN;
	return atoll(buf);
}

/* Mode of @path, or 0. */
static unsigned int mode_of(const char *path)
{
	struct stat st;

	return stat(path, &st) ? 0 : (st.st_mode & 07777);
}

int main(void)
{
	struct ksmmod_params p;
	struct ksmmod_stats s;
	long psize = sysconf(_SC_PAGESIZE);
	int fd, err, status, nmodes = 0, nbad = 0;
	char path[128], *m;
	bool ok;
	pid_t pid;

	ktap_print_header(16);
	ksmt_ensure_loaded();
	fd = ksmt_open();

	/* Names and modes: as /sys/kernel/mm/ksm where it has the file. */
	for (size_t i = 0; i < sizeof(knobs) / sizeof(knobs[0]) + sizeof(counters) / sizeof(counters[0]); i++) {
		bool knob = i < sizeof(knobs) / sizeof(knobs[0]);
		const char *name = knob ? knobs[i] : counters[i - sizeof(knobs) / sizeof(knobs[0])];
		char kpath[128];
		unsigned int want = knob ? 0644 : 0444, kmode;

		snprintf(path, sizeof(path), DIR "%s", name);
		snprintf(kpath, sizeof(kpath), "/sys/kernel/mm/ksm/%s", name);
		kmode = mode_of(kpath);
		if (kmode)
			want = kmode;
		if (mode_of(path) != want) {
			ktap_print_msg("%s: mode %o, want %o", path, mode_of(path), want);
			nbad++;
		}
		nmodes += kmode != 0;
	}
	ktap_test_result(nbad == 0, "all 31 files exist with KSM's modes (%d compared with /sys/kernel/mm/ksm)",
			 nmodes);

	/* Values equal the ioctl interface's. */
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	ksmt_get_params(fd, &p);
	ktap_test_result(get("run") == p.run && get("pages_to_scan") == p.pages_to_scan &&
			 get("sleep_millisecs") == p.sleep_millisecs &&
			 get("max_page_sharing") == p.max_page_sharing &&
			 get("merge_across_nodes") == p.merge_across_nodes &&
			 get("use_zero_pages") == p.use_zero_pages &&
			 get("stable_node_chains_prune_millisecs") == p.stable_node_chains_prune_millisecs &&
			 get("densify_chains") == p.densify_chains &&
			 get("smart_scan") == p.smart_scan &&
			 get("advisor_max_cpu") == p.advisor_max_cpu &&
			 get("advisor_target_scan_time") == p.advisor_target_scan_time &&
			 get("advisor_min_pages_to_scan") == p.advisor_min_pages_to_scan &&
			 get("advisor_max_pages_to_scan") == p.advisor_max_pages_to_scan,
			 "knobs read the values of GET_PARAMS");

	/* Writes: parsing and validation as mm/ksm.c. */
	err = put("pages_to_scan", "1234\n");
	ksmt_get_params(fd, &p);
	ktap_test_result(!err && p.pages_to_scan == 1234 && get("pages_to_scan") == 1234,
			 "pages_to_scan=1234 written, seen by GET_PARAMS (%d)", err);
	ktap_test_result(put("pages_to_scan", "12x") == -EINVAL && put("pages_to_scan", "-1") == -EINVAL &&
			 get("pages_to_scan") == 1234, "pages_to_scan: garbage and negatives EINVAL, unchanged");
	ktap_test_result(put("run", "3") == -EINVAL && get("run") == 0, "run=3: EINVAL, unchanged");
	ktap_test_result(put("max_page_sharing", "1") == -EINVAL && get("max_page_sharing") == 256,
			 "max_page_sharing=1: EINVAL, unchanged");
	ktap_test_result(put("merge_across_nodes", "2") == -EINVAL && get("merge_across_nodes") == 1,
			 "merge_across_nodes=2: EINVAL, unchanged");
	err = put("use_zero_pages", "y");
	ok = !err && get("use_zero_pages") == 1;
	err = put("use_zero_pages", "0");
	ktap_test_result(ok && !err && get("use_zero_pages") == 0 && put("use_zero_pages", "2") == -EINVAL,
			 "use_zero_pages parses booleans (y -> 1, 0 -> 0, 2 -> EINVAL)");
	err = put("smart_scan", "n");
	ok = !err && get("smart_scan") == 0;
	err = put("smart_scan", "1\n");
	ksmt_get_params(fd, &p);
	ktap_test_result(ok && !err && get("smart_scan") == 1 && p.smart_scan == 1 &&
			 put("smart_scan", "2") == -EINVAL && get("smart_scan") == 1,
			 "smart_scan parses booleans (n -> 0, 1 -> 1, 2 -> EINVAL, unchanged)");
	err = put("sleep_millisecs", "7");
	ksmt_get_params(fd, &p);
	ktap_test_result(!err && p.sleep_millisecs == 7, "sleep_millisecs=7 written (%d)", err);

	/* Merge something, through sysfs run=1. */
	m = mmap(NULL, 16 * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	madvise(m, 16 * psize, MADV_NOHUGEPAGE);
	memset(m, 0x47, 16 * psize);
	if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, 16 * psize))
		ktap_exit_fail_msg("MERGE_RANGE failed");
	err = put("run", "1");
	ksmt_settle(fd, 3);
	ksmt_settle(fd, 1);
	/* Stopped, so that full_scans cannot move between the two reads. */
	err = err ?: put("run", "0");
	s = ksmt_stats(fd);
	ktap_test_result(!err && s.pages_shared == 1 && s.pages_sharing == 15 &&
			 get("pages_shared") == 1 && get("pages_sharing") == 15 &&
			 get("full_scans") == (long long)s.full_scans &&
			 get("general_profit") == s.general_profit,
			 "run=1 via sysfs merges; counters equal GET_STATS (profit %lld)",
			 (long long)s.general_profit);
	ktap_test_result(put("max_page_sharing", "300") == -EBUSY && get("max_page_sharing") == 256 &&
			 put("merge_across_nodes", "0") == -EBUSY && put("max_page_sharing", "256") == 0,
			 "while merged: max_page_sharing/merge_across_nodes EBUSY; same value accepted");
	err = put("run", "2");
	s = ksmt_stats(fd);
	ktap_test_result(!err && s.pages_shared == 0 && s.pages_sharing == 0 && get("run") == 2 &&
			 ksmt_pfn_of(m) != ksmt_pfn_of(m + psize),
			 "run=2 via sysfs has unmerged when the write returns (%d)", err);

	/* Unprivileged writers are refused by the file mode. */
	pid = fork();
	if (pid == 0) {
		if (setgid(65534) || setuid(65534))
			_exit(2);
		_exit(put("run", "1") == -EACCES && get("run") == 2 ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	ktap_test_result(WIFEXITED(status) && WEXITSTATUS(status) == 0,
			 "an unprivileged write is refused (EACCES); reading is allowed");

	put("run", "0");
	put("pages_to_scan", "100");
	put("sleep_millisecs", "20");
	ksmt_range(fd, KSMMOD_IOC_UNMERGE_RANGE, m, 16 * psize);
	munmap(m, 16 * psize);
	close(fd);

	/* The directory lives and dies with the module. */
	err = ksmt_unload();
	ktap_test_result(!err && access(DIR, F_OK) && errno == ENOENT,
			 "after rmmod /sys/kernel/mm/ksmmod is gone (%d)", err);
	ksmt_ensure_loaded();
	ktap_test_result(!access(DIR "run", F_OK) && get("run") == 0 && get("pages_to_scan") == 100,
			 "after reload it is back with the defaults");
	return ktap_finished();
}
