// SPDX-License-Identifier: GPL-2.0
/*
 * use_zero_pages and per-process statistics.
 *
 * With use_zero_pages=1, empty pages are mapped to the shared zero page (the
 * PFN of a read-faulted untouched page) instead of being merged into a KSM
 * page, and counted in ksm_zero_pages; other identical pages still merge.
 * KSMMOD_IOC_PROCESS_STATS and /proc/self/ksm_merging_pages report the
 * process's share exactly. A write to a zero-mapped page gives a private
 * page with the written data (kernels 6.10+ uncount it at once; older ones
 * have no counter to keep, so ksmmod still counts it until unmerged).
 * UNMERGE_RANGE breaks the zero pages back into private pages, with
 * ksm_zero_pages 0. Error paths of PROCESS_STATS: reserved fields, unknown
 * process, bad pidfd.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "ksmtest.h"

#define NZERO	64	/* pages 0-63: zeros */
#define NA	16	/* pages 64-79: 0x5a */
#define NPAGES	(NZERO + NA)

static int fd;
static long psize;

static bool page_is(const char *p, int byte)
{
	for (long b = 0; b < psize; b++)
		if (p[b] != (char)byte)
			return false;
	return true;
}

static int process_stats(uint32_t pidfd, struct ksmmod_process_stats *ps)
{
	return ksmt_process_stats(fd, pidfd, ps);
}

static long proc_merging_pages(void)
{
	char buf[64];

	if (ksmt_read_file("/proc/self/ksm_merging_pages", buf, sizeof(buf)) <= 0)
		return -1;
	return atol(buf);
}

/* "ksm_zero_pages N" of /proc/self/ksm_stat (6.10+), or -1. */
static long proc_stat_zero_pages(void)
{
	char buf[512];
	const char *p;

	if (ksmt_read_file("/proc/self/ksm_stat", buf, sizeof(buf)) <= 0)
		return -1;
	p = strstr(buf, "ksm_zero_pages ");
	return p ? atol(p + strlen("ksm_zero_pages ")) : -1;
}

int main(void)
{
	/* Kernels that count KSM zero pages per process show them (6.10+). */
	bool kernel_counts = proc_stat_zero_pages() >= 0;
	struct ksmmod_process_stats ps;
	uint64_t zero_pfn, a_pfn;
	struct ksmmod_stats s;
	char *mem, *probe;
	bool ok;
	int err;

	ktap_print_header(18);
	ksmt_ensure_loaded();
	fd = ksmt_open();
	psize = sysconf(_SC_PAGESIZE);
	ksmt_set_run(fd, 0);
	ksmt_set_zero_pages(fd, 1);

	/* The zero page's PFN: what a read fault of untouched memory maps. */
	probe = mmap(NULL, psize, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	mem = mmap(NULL, NPAGES * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (probe == MAP_FAILED || mem == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	(void)*(volatile char *)probe;
	zero_pfn = ksmt_pfn_of(probe);
	madvise(mem, NPAGES * psize, MADV_NOHUGEPAGE);
	/* Real anonymous pages that happen to be empty: written, then cleared. */
	memset(mem, 1, NPAGES * psize);
	memset(mem, 0, NZERO * psize);
	memset(mem + NZERO * psize, 0x5a, NA * psize);

	err = process_stats(0, &ps);
	ktap_test_result(err == -ENOENT, "PROCESS_STATS of an unregistered process: ENOENT (got %d)",
			 err);
	if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, mem, NPAGES * psize))
		ktap_exit_fail_msg("MERGE_RANGE failed");
	ksmt_set_run(fd, 1);
	ksmt_settle(fd, 3);
	s = ksmt_settle(fd, 1);

	ok = zero_pfn != 0;
	for (int i = 0; i < NZERO; i++)
		ok = ok && ksmt_pfn_of(mem + i * psize) == zero_pfn;
	ktap_test_result(ok, "all %d empty pages map the zero page (PFN %#llx)", NZERO,
			 (unsigned long long)zero_pfn);
	a_pfn = ksmt_pfn_of(mem + NZERO * psize);
	ok = a_pfn && a_pfn != zero_pfn;
	for (int i = NZERO; i < NPAGES; i++)
		ok = ok && ksmt_pfn_of(mem + i * psize) == a_pfn;
	ktap_test_result(ok, "the %d identical non-empty pages share one KSM page", NA);
	ktap_test_result(s.ksm_zero_pages == NZERO && s.pages_shared == 1 &&
			 s.pages_sharing == NA - 1,
			 "counters: ksm_zero_pages %llu (want %d), shared %llu (1), sharing %llu (%d)",
			 (unsigned long long)s.ksm_zero_pages, NZERO,
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing,
			 NA - 1);
	ktap_test_result(s.general_profit == (int64_t)(NA - 1 + NZERO) * psize -
			 (int64_t)s.rmap_items * 64,
			 "general_profit counts zero pages as saved (%lld)",
			 (long long)s.general_profit);

	err = process_stats(0, &ps);
	ktap_test_result(!err && ps.zero_pages == NZERO && ps.merging_pages == NA &&
			 ps.registered_bytes == (uint64_t)NPAGES * psize && ps.rmap_items == s.rmap_items &&
			 ps.process_profit == (int64_t)(NA + NZERO) * psize -
					      (int64_t)ps.rmap_items * 64 &&
			 ps.merge_any == 0 && ps.mergeable == 1,
			 "PROCESS_STATS: zero %llu merging %llu items %llu registered %llu profit %lld merge_any %u mergeable %u",
			 (unsigned long long)ps.zero_pages, (unsigned long long)ps.merging_pages,
			 (unsigned long long)ps.rmap_items, (unsigned long long)ps.registered_bytes,
			 (long long)ps.process_profit, ps.merge_any, ps.mergeable);
	ktap_test_result(proc_merging_pages() == NA, "/proc/self/ksm_merging_pages is %d (%ld)", NA,
			 proc_merging_pages());
	if (kernel_counts)
		ktap_test_result(proc_stat_zero_pages() == NZERO,
				 "/proc/self/ksm_stat ksm_zero_pages is %d (%ld)", NZERO,
				 proc_stat_zero_pages());
	else
		ktap_test_skip("/proc/self/ksm_stat ksm_zero_pages", "the file has no ksm_zero_pages line before 6.10");

	ok = true;
	for (int i = 0; i < NPAGES; i++)
		ok = ok && page_is(mem + i * psize, i < NZERO ? 0 : 0x5a);
	ktap_test_result(ok, "every page still reads its bytes");

	/* A write to a zero-mapped page: private page with the data. */
	ksmt_set_run(fd, 0);
	mem[5 * psize + 7] = 0x33;
	ok = mem[5 * psize + 7] == 0x33 && ksmt_pfn_of(mem + 5 * psize) != zero_pfn;
	for (int i = 0; i < NZERO; i++)
		ok = ok && (i == 5 || (ksmt_pfn_of(mem + i * psize) == zero_pfn &&
				       page_is(mem + i * psize, 0)));
	ktap_test_result(ok, "a write gives a private page; the other empty pages stay zero pages");
	s = ksmt_stats(fd);
	ktap_test_result(s.ksm_zero_pages == (kernel_counts ? NZERO - 1 : NZERO),
			 "ksm_zero_pages after the write: %llu (want %d: %s)",
			 (unsigned long long)s.ksm_zero_pages, kernel_counts ? NZERO - 1 : NZERO,
			 kernel_counts ? "the kernel uncounts it" : "no kernel counter before 6.10");

	/* Unmerge: every page private again, counters zero, bytes intact. */
	err = ksmt_range(fd, KSMMOD_IOC_UNMERGE_RANGE, mem, NPAGES * psize);
	s = ksmt_stats(fd);
	ktap_test_result(!err && s.ksm_zero_pages == 0 && s.pages_shared == 0 &&
			 s.pages_sharing == 0,
			 "UNMERGE_RANGE: err %d, ksm_zero_pages %llu, shared %llu, sharing %llu", err,
			 (unsigned long long)s.ksm_zero_pages, (unsigned long long)s.pages_shared,
			 (unsigned long long)s.pages_sharing);
	ok = true;
	for (int i = 0; i < NPAGES && ok; i++) {
		uint64_t f = ksmt_pfn_of(mem + i * psize);

		ok = f && f != zero_pfn;
		for (int j = 0; j < i && ok; j++)
			ok = ksmt_pfn_of(mem + j * psize) != f;
	}
	ktap_test_result(ok, "after unmerge every page has its own PFN (none is the zero page)");
	ok = mem[5 * psize + 7] == 0x33;
	mem[5 * psize + 7] = 0;
	for (int i = 0; i < NPAGES; i++)
		ok = ok && page_is(mem + i * psize, i < NZERO ? 0 : 0x5a);
	ktap_test_result(ok, "after unmerge every page reads its bytes");
	if (kernel_counts)
		ktap_test_result(proc_stat_zero_pages() == 0,
				 "/proc/self/ksm_stat ksm_zero_pages is 0 (%ld)", proc_stat_zero_pages());
	else
		ktap_test_skip("/proc/self/ksm_stat ksm_zero_pages", "the file has no ksm_zero_pages line before 6.10");

	/* PROCESS_STATS error paths. */
	memset(&ps, 0, sizeof(ps));
	ps.size = sizeof(ps);
	ps.reserved[0] = 1;
	err = ksmt_ioctl(fd, KSMMOD_IOC_PROCESS_STATS, &ps);
	ktap_test_result(err == -EINVAL, "PROCESS_STATS with a reserved field set: EINVAL (%d)", err);
	memset(&ps, 0, sizeof(ps));
	ps.size = sizeof(ps);
	ps.merging_pages = 1;
	err = ksmt_ioctl(fd, KSMMOD_IOC_PROCESS_STATS, &ps);
	ktap_test_result(err == -EINVAL, "PROCESS_STATS with an output field set: EINVAL (%d)", err);
	err = process_stats((uint32_t)fd, &ps);
	ktap_test_result(err == -EBADF, "PROCESS_STATS with a non-pidfd: EBADF (%d)", err);

	ksmt_set_zero_pages(fd, 0);
	munmap(mem, NPAGES * psize);
	munmap(probe, psize);
	return ktap_finished();
}
