// SPDX-License-Identifier: GPL-2.0
/*
 * The scan-time advisor (advisor_mode and its knobs), against mm/ksm.c.
 *
 * Choosing "scan-time" sets pages_to_scan to advisor_min_pages_to_scan and
 * makes pages_to_scan unwritable (EINVAL, ioctl and sysfs); after a full
 * scan the advisor has set it, within advisor_max_pages_to_scan (a small
 * region scans in well under the 1 s target, and its CPU share is tiny: the
 * advisor's floor is far above that ceiling, so the ceiling is what it
 * picks). "none" restores 100. sysfs prints and parses the mode as
 * /sys/kernel/mm/ksm/advisor_mode; where the kernel's KSM has the advisor
 * (6.8+), its files answer the same.
 */
#include <stdint.h>
#include <sys/mman.h>

#include "ksmtest.h"

#define DIR	"/sys/kernel/mm/ksmmod/"
#define KDIR	"/sys/kernel/mm/ksm/"

static int fd;

static struct ksmmod_params params(void)
{
	struct ksmmod_params p;

	if (ksmt_get_params(fd, &p))
		ktap_exit_fail_msg("GET_PARAMS: %s", strerror(errno));
	return p;
}

static int set(__u64 mask, struct ksmmod_params p)
{
	return ksmt_set_params(fd, &p, mask) ? -errno : 0;
}

static void read_str(const char *path, char *buf, size_t size)
{
	ssize_t n = ksmt_read_file(path, buf, size);

	if (n <= 0)
		buf[0] = 0;
	else if (buf[n - 1] == '\n')
		buf[n - 1] = 0;
}

/* The same answers from the kernel's own files, where it has them. */
static void kernel_advisor(void)
{
	char mode[64], pts[32];
	int err;
	bool ok;

	if (access(KDIR "advisor_mode", F_OK)) {
		ktap_test_skip("the kernel's advisor answers the same",
			       "this kernel's KSM has no advisor (" KDIR "advisor_mode)");
		return;
	}
	read_str(KDIR "advisor_mode", mode, sizeof(mode));
	ok = !strcmp(mode, "[none] scan-time");
	ok &= ksmt_write_file(KDIR "advisor_min_pages_to_scan", "500");
	ok &= ksmt_write_file(KDIR "advisor_mode", "scan-time");
	read_str(KDIR "advisor_mode", mode, sizeof(mode));
	read_str(KDIR "pages_to_scan", pts, sizeof(pts));
	ok &= !strcmp(mode, "none [scan-time]") && !strcmp(pts, "500");
	err = ksmt_write_errno(KDIR "pages_to_scan", "100");
	ok &= err == -EINVAL && ksmt_write_errno(KDIR "advisor_mode", "bogus") == -EINVAL;
	ok &= ksmt_write_file(KDIR "advisor_mode", "none");
	read_str(KDIR "pages_to_scan", pts, sizeof(pts));
	ok &= !strcmp(pts, "100");
	ktap_test_result(ok, "the kernel's advisor answers the same (pages_to_scan write: %d)", err);
}

int main(void)
{
	struct ksmmod_params p = { 0 }, g;
	long psize = sysconf(_SC_PAGESIZE);
	char mode[64];
	int err, err2;
	char *m;

	ktap_print_header(8);
	ksmt_ensure_loaded();
	fd = ksmt_open();

	g = params();
	read_str(DIR "advisor_mode", mode, sizeof(mode));
	ktap_test_result(g.advisor_mode == KSMMOD_ADVISOR_NONE && g.advisor_max_cpu == 70 &&
			 g.advisor_target_scan_time == 200 && g.advisor_min_pages_to_scan == 500 &&
			 g.advisor_max_pages_to_scan == 30000 && !strcmp(mode, "[none] scan-time"),
			 "defaults are mm/ksm.c's: mode \"%s\" max_cpu %u target %u min %u max %u",
			 mode, g.advisor_max_cpu, g.advisor_target_scan_time,
			 g.advisor_min_pages_to_scan, g.advisor_max_pages_to_scan);

	/* Bad values change nothing. */
	p.advisor_mode = 2;
	err = set(KSMMOD_PARAM_ADVISOR_MODE, p);
	p.advisor_target_scan_time = 0;
	err2 = set(KSMMOD_PARAM_ADVISOR_TARGET_SCAN_TIME, p);
	ktap_test_result(err == -EINVAL && err2 == -EINVAL &&
			 ksmt_write_errno(DIR "advisor_mode", "scan") == -EINVAL &&
			 ksmt_write_errno(DIR "advisor_target_scan_time", "0") == -EINVAL &&
			 ksmt_write_errno(DIR "advisor_max_cpu", "-1") == -EINVAL &&
			 params().advisor_mode == KSMMOD_ADVISOR_NONE &&
			 params().advisor_target_scan_time == 200,
			 "mode 2, target 0, \"scan\", \"-1\": EINVAL, nothing changed");

	/* On: pages_to_scan starts at the minimum and is the advisor's. */
	m = ksmt_map_filled(64, 0x31);
	if (!m || ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, 64 * psize))
		ktap_exit_fail_msg("map/MERGE_RANGE: %s", strerror(errno));
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	p.advisor_target_scan_time = 1;
	p.advisor_max_pages_to_scan = 123;
	err = set(KSMMOD_PARAM_ADVISOR_TARGET_SCAN_TIME | KSMMOD_PARAM_ADVISOR_MAX_PAGES_TO_SCAN, p);
	err2 = ksmt_write_errno(DIR "advisor_mode", "scan-time\n");
	read_str(DIR "advisor_mode", mode, sizeof(mode));
	g = params();
	ktap_test_result(!err && !err2 && g.advisor_mode == KSMMOD_ADVISOR_SCAN_TIME &&
			 g.pages_to_scan == 500 && !strcmp(mode, "none [scan-time]"),
			 "scan-time: pages_to_scan %u (want 500), sysfs \"%s\"", g.pages_to_scan, mode);
	p.pages_to_scan = 100;
	err = set(KSMMOD_PARAM_PAGES_TO_SCAN, p);
	ktap_test_result(err == -EINVAL && ksmt_write_errno(DIR "pages_to_scan", "100") == -EINVAL &&
			 params().pages_to_scan == 500,
			 "pages_to_scan is not writable meanwhile (ioctl %d, sysfs EINVAL)", err);

	/* A few full scans: the advisor has picked its ceiling. */
	p.run = KSMMOD_RUN_MERGE;
	p.sleep_millisecs = 20;
	if (set(KSMMOD_PARAM_RUN | KSMMOD_PARAM_SLEEP_MILLISECS, p))
		ktap_exit_fail_msg("run=1: %s", strerror(errno));
	{
		uint64_t target = ksmt_stats(fd).full_scans + 3;

		for (int i = 0; i < 3000 && ksmt_stats(fd).full_scans < target; i++)
			usleep(10000);
	}
	g = params();
	ktap_test_result(g.pages_to_scan == 123 && ksmt_pfn_of(m) == ksmt_pfn_of(m + 63 * psize),
			 "after full scans pages_to_scan is %u (want the ceiling, 123); merging goes on",
			 g.pages_to_scan);

	/* Off: back to 100, writable again. */
	p.advisor_mode = KSMMOD_ADVISOR_NONE;
	err = set(KSMMOD_PARAM_ADVISOR_MODE, p);
	g = params();
	err2 = ksmt_write_errno(DIR "pages_to_scan", "77");
	ktap_test_result(!err && g.pages_to_scan == 100 && !err2 && params().pages_to_scan == 77,
			 "none: pages_to_scan back to %u (want 100), writable again", g.pages_to_scan);

	/* Mode and pages_to_scan in one call: judged by the mode after it. */
	p.advisor_mode = KSMMOD_ADVISOR_SCAN_TIME;
	p.pages_to_scan = 5;
	err = set(KSMMOD_PARAM_ADVISOR_MODE | KSMMOD_PARAM_PAGES_TO_SCAN, p);
	ktap_test_result(err == -EINVAL && params().advisor_mode == KSMMOD_ADVISOR_NONE &&
			 params().pages_to_scan == 77,
			 "scan-time with pages_to_scan in one call: EINVAL, nothing changed");

	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	p.advisor_target_scan_time = 200;
	p.advisor_max_pages_to_scan = 30000;
	p.pages_to_scan = 100;
	if (set(KSMMOD_PARAM_ADVISOR_TARGET_SCAN_TIME | KSMMOD_PARAM_ADVISOR_MAX_PAGES_TO_SCAN |
		KSMMOD_PARAM_PAGES_TO_SCAN, p))
		ktap_exit_fail_msg("restoring: %s", strerror(errno));
	ksmt_range(fd, KSMMOD_IOC_UNMERGE_RANGE, m, 64 * psize);
	munmap(m, 64 * psize);
	close(fd);

	kernel_advisor();
	return ktap_finished();
}
