// SPDX-License-Identifier: GPL-2.0
/*
 * Smart scan (smart_scan, pages_skipped), against mm/ksm.c's semantics.
 *
 * NP pages of distinct contents never merge. Each full scan looks at every
 * page once; from a page's fourth look on, smart scan skips it for 1, 2, 4
 * and then 8 scans at a time (mm/ksm.c's skip_age()). The scanner sleeps
 * long between batches and a batch ends at the end of a full scan, so the
 * counters read right after full_scans moves are those of whole scans: after
 * V scans pages_skipped has grown by exactly NP * skipped(V) and
 * pages_scanned by NP * (V - skipped(V)). With smart_scan=0 nothing is
 * skipped. A page that becomes a duplicate after being skipped many times
 * still merges (PFNs equal, bytes intact). Where the kernel's own KSM has
 * smart scan (6.7+), the same workload under it gives the same count (its
 * ksmd may look at a newly madvised area one scan later, hence V or V - 1).
 */
#include <stdint.h>
#include <sys/mman.h>

#include "ksmtest.h"

#define NP	64	/* distinct pages */
#define V	14	/* full scans for the exact count */
#define SLEEP	"400"	/* ms between batches: room to read between two scans */
#define KSYS	"/sys/kernel/mm/ksm/"

static int fd;
static long psize;

/* Pages mm/ksm.c skips among the first @visits looks at a page. */
static unsigned int skipped_after(unsigned int visits)
{
	unsigned int age = 0, rem = 0, skipped = 0;

	for (unsigned int i = 0; i < visits; i++) {
		unsigned int a = age;

		if (age < 255)
			age++;
		if (a < 3)
			continue;
		if (!rem) {
			rem = a <= 3 ? 1 : a <= 5 ? 2 : a <= 8 ? 4 : 8;
			continue;
		}
		rem--;
		skipped++;
	}
	return skipped;
}

/* NP pages, page i filled with words unique to it. */
static char *map_distinct(void)
{
	char *m = mmap(NULL, NP * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	madvise(m, NP * psize, MADV_NOHUGEPAGE);
	for (long i = 0; i < NP; i++)
		for (long w = 0; w < psize / 8; w++)
			((uint64_t *)(m + i * psize))[w] = (i + 1) * 0x9e3779b97f4a7c15ULL ^ (w << 20);
	return m;
}

/* The counters that matter here, from ksmmod (@kernel false) or the kernel's KSM. */
struct counts {
	long long full_scans, skipped, scanned;
};

static long long kfile(const char *name)
{
	char path[128], buf[64];

	snprintf(path, sizeof(path), KSYS "%s", name);
	if (ksmt_read_file(path, buf, sizeof(buf)) <= 0)
		ktap_exit_fail_msg("read %s: %s", path, strerror(errno));
	return atoll(buf);
}

static struct counts counts(bool kernel)
{
	struct counts c;

	if (kernel) {
		c.full_scans = kfile("full_scans");
		c.skipped = kfile("pages_skipped");
		c.scanned = kfile("pages_scanned");
	} else {
		struct ksmmod_stats s = ksmt_stats(fd);

		c.full_scans = s.full_scans;
		c.skipped = s.pages_skipped;
		c.scanned = s.pages_scanned;
	}
	return c;
}

/*
 * Wait (at most 120 s) until @n full scans after @from are done, and read
 * the counters at once: the scanner sleeps SLEEP ms before its next batch.
 */
static struct counts after_scans(bool kernel, struct counts from, int n)
{
	struct timespec t = { 0, 2 * 1000 * 1000 };
	struct counts c = counts(kernel);

	for (int i = 0; i < 60000 && c.full_scans < from.full_scans + n; i++) {
		nanosleep(&t, NULL);
		c = counts(kernel);
	}
	ktap_print_msg("%s: full_scans %lld -> %lld, skipped +%lld, scanned +%lld",
		       kernel ? "kernel" : "ksmmod", from.full_scans, c.full_scans,
		       c.skipped - from.skipped, c.scanned - from.scanned);
	return c;
}

static void set_smart(unsigned int on)
{
	struct ksmmod_params p;

	memset(&p, 0, sizeof(p));
	p.smart_scan = on;
	if (ksmt_set_params(fd, &p, KSMMOD_PARAM_SMART_SCAN))
		ktap_exit_fail_msg("SET_PARAMS smart_scan=%u: %s", on, strerror(errno));
}

static void set_scan(unsigned int run, unsigned int sleep_ms)
{
	struct ksmmod_params p;

	memset(&p, 0, sizeof(p));
	p.run = run;
	p.pages_to_scan = 1000;
	p.sleep_millisecs = sleep_ms;
	if (ksmt_set_params(fd, &p, KSMMOD_PARAM_RUN | KSMMOD_PARAM_PAGES_TO_SCAN |
			    KSMMOD_PARAM_SLEEP_MILLISECS))
		ktap_exit_fail_msg("SET_PARAMS run=%u: %s", run, strerror(errno));
}

/* The same workload under the kernel's own KSM; the module is unloaded. */
static void kernel_ksm(void)
{
	struct counts c0, c;
	long long want_v, want_v1;
	char *m;

	if (access(KSYS "smart_scan", F_OK)) {
		ktap_test_skip("the kernel's KSM skips the same pages",
			       "this kernel's KSM has no smart scan (/sys/kernel/mm/ksm/smart_scan)");
		return;
	}
	if (ksmt_unload())
		ktap_exit_fail_msg("rmmod ksmmod: %s", strerror(errno));
	if (!ksmt_write_file(KSYS "run", "0") || !ksmt_write_file(KSYS "smart_scan", "1") ||
	    !ksmt_write_file(KSYS "pages_to_scan", "1000") ||
	    !ksmt_write_file(KSYS "sleep_millisecs", SLEEP))
		ktap_exit_fail_msg("writing " KSYS ": %s", strerror(errno));
	m = map_distinct();
	if (madvise(m, NP * psize, MADV_MERGEABLE))
		ktap_exit_fail_msg("MADV_MERGEABLE: %s", strerror(errno));
	c0 = counts(true);
	ksmt_write_file(KSYS "run", "1");
	c = after_scans(true, c0, V);
	want_v = (long long)NP * skipped_after(c.full_scans - c0.full_scans);
	want_v1 = (long long)NP * skipped_after(c.full_scans - c0.full_scans - 1);
	ktap_test_result(c.skipped - c0.skipped == want_v || c.skipped - c0.skipped == want_v1,
			 "the kernel's KSM skips the same pages: %lld (model: %lld or %lld)",
			 c.skipped - c0.skipped, want_v, want_v1);
	ksmt_write_file(KSYS "run", "2");
	ksmt_write_file(KSYS "run", "0");
	ksmt_write_file(KSYS "pages_to_scan", "100");
	ksmt_write_file(KSYS "sleep_millisecs", "20");
	munmap(m, NP * psize);
	ksmt_ensure_loaded();
}

int main(void)
{
	struct counts c0, c;
	long long want;
	bool ok = true;
	char *m;

	ktap_print_header(5);
	ksmt_ensure_loaded();
	fd = ksmt_open();
	psize = sysconf(_SC_PAGESIZE);

	set_scan(KSMMOD_RUN_STOP, 400);
	m = map_distinct();
	if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, NP * psize))
		ktap_exit_fail_msg("MERGE_RANGE: %s", strerror(errno));

	/* Smart scan on (the default): the exact count of mm/ksm.c. */
	c0 = counts(false);
	set_scan(KSMMOD_RUN_MERGE, 400);
	c = after_scans(false, c0, V);
	want = (long long)NP * skipped_after(c.full_scans - c0.full_scans);
	ktap_test_result(c.skipped - c0.skipped == want &&
			 c.scanned - c0.scanned == NP * (c.full_scans - c0.full_scans) - want,
			 "after %lld scans: %lld skipped (want %lld), %lld scanned (want %lld)",
			 c.full_scans - c0.full_scans, c.skipped - c0.skipped, want,
			 c.scanned - c0.scanned, NP * (c.full_scans - c0.full_scans) - want);

	/* Off: every page looked at in every scan. */
	set_smart(0);
	c0 = after_scans(false, c, 1);
	c = after_scans(false, c0, 4);
	ktap_test_result(c.skipped == c0.skipped &&
			 c.scanned - c0.scanned == NP * (c.full_scans - c0.full_scans),
			 "smart_scan=0: nothing skipped, %lld scanned in %lld scans",
			 c.scanned - c0.scanned, c.full_scans - c0.full_scans);

	/* On again: old pages that become duplicates still merge. */
	set_smart(1);
	memcpy(m, m + psize, psize);
	set_scan(KSMMOD_RUN_MERGE, 20);
	for (int i = 0; i < 3000 && ksmt_pfn_of(m) != ksmt_pfn_of(m + psize); i++)
		usleep(10000);
	for (long w = 0; w < psize / 8; w++)
		ok &= ((uint64_t *)m)[w] == (2 * 0x9e3779b97f4a7c15ULL ^ (w << 20));
	c = counts(false);
	ktap_test_result(ksmt_pfn_of(m) == ksmt_pfn_of(m + psize) && ok &&
			 ksmt_stats(fd).pages_sharing == 1,
			 "a page skipped %lld times in all still merges once it has a twin",
			 c.skipped);
	ok = true;
	for (long i = 2; i < NP; i++) {
		ok &= ((uint64_t *)(m + i * psize))[7] == ((i + 1) * 0x9e3779b97f4a7c15ULL ^ (7 << 20));
		ok &= ksmt_pfn_of(m + i * psize) != ksmt_pfn_of(m + (i - 1) * psize);
	}
	ktap_test_result(ok, "the other pages stay unmerged and intact");

	set_scan(KSMMOD_RUN_STOP, 20);
	if (ksmt_range(fd, KSMMOD_IOC_UNMERGE_RANGE, m, NP * psize))
		ktap_exit_fail_msg("UNMERGE_RANGE: %s", strerror(errno));
	munmap(m, NP * psize);
	{
		struct ksmmod_params p;

		memset(&p, 0, sizeof(p));
		p.pages_to_scan = 100;
		if (ksmt_set_params(fd, &p, KSMMOD_PARAM_PAGES_TO_SCAN))
			ktap_exit_fail_msg("SET_PARAMS pages_to_scan: %s", strerror(errno));
	}
	close(fd);

	kernel_ksm();
	return ktap_finished();
}
