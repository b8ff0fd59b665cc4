// SPDX-License-Identifier: GPL-2.0
/*
 * A merge keeps the bits of a PTE that belong to the mapping: soft-dirty
 * (/proc/PID/clear_refs "4", pagemap bit 55: CRIU's incremental dumps skip a
 * page whose bit is lost, and restore stale bytes) and the userfaultfd
 * write-protect bit (pagemap bit 57: a write to the merged page must reach
 * the monitor). Both for a merge into a KSM page and into the zero page
 * (use_zero_pages=1). Pages not written since clear_refs stay clean.
 * Pages that userfaultfd read-write-protects (7.3) are not merged until
 * the protection is lifted.
 */
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <sys/mman.h>

#include "ksmtest.h"

#define NPAGES		32	/* even ones written after clear_refs, odd ones not */
#define PM_SOFT_DIRTY	55
#define PM_UFFD_WP	57

static int fd;
static long psize;

/* Pages in [@from, @to) with pagemap bit @bit set. */
static int with_bit(char *m, int from, int to, int bit)
{
	int n = 0;

	for (int i = from; i < to; i++)
		n += !!(ksmt_pagemap_entry(0, (uintptr_t)m + i * psize) & (1ULL << bit));
	return n;
}

/*
 * Pages of the NPAGES at @m with an index of parity @odd that have pagemap
 * bit @bit set: the even ones are written after clear_refs, the odd ones
 * not, so that every merge run (several neighbours merged in one page table
 * visit) mixes both.
 */
static int with_bit_of(char *m, int odd, int bit)
{
	int n = 0;

	for (int i = odd; i < NPAGES; i += 2)
		n += with_bit(m, i, i + 1, bit);
	return n;
}

/* Pages in [@from, @to) that share one PFN with page @from. */
static int same_pfn(char *m, int from, int to)
{
	uint64_t pfn = ksmt_pfn_of(m + from * psize);
	int n = 0;

	for (int i = from; i < to; i++)
		n += pfn && ksmt_pfn_of(m + i * psize) == pfn;
	return n;
}

/*
 * Soft-dirty across a merge into a KSM page (@byte != 0) or the zero page
 * (@byte == 0, use_zero_pages=1).
 */
static void soft_dirty(int byte)
{
	const char *what = byte ? "KSM page" : "zero page";
	long long runs0 = 0, pages0 = 0, runs = 0, pages = 0;
	int dirty_w, dirty_c, merged_w, merged_c;
	bool bytes;
	char *m;

	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	ksmt_set_zero_pages(fd, !byte);
	m = ksmt_map_filled(NPAGES, byte);
	if (!m)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, NPAGES * psize))
		ktap_exit_fail_msg("MERGE_RANGE: %s", strerror(errno));
	/* Clear every soft-dirty bit, then write the even pages again. */
	if (!ksmt_write_file("/proc/self/clear_refs", "4"))
		ktap_exit_fail_msg("clear_refs: %s", strerror(errno));
	for (int i = 0; i < NPAGES; i += 2)
		memset(m + i * psize, byte, psize);
	dirty_w = with_bit_of(m, 0, PM_SOFT_DIRTY);
	dirty_c = with_bit_of(m, 1, PM_SOFT_DIRTY);
	if (dirty_w != NPAGES / 2 || dirty_c != 0)
		ktap_print_msg("before the merge: %d of %d written pages soft-dirty, %d of %d clean ones",
			       dirty_w, NPAGES / 2, dirty_c, NPAGES / 2);
	if (dirty_w == 0) {
		/* The debug lane's kernel is built without CONFIG_MEM_SOFT_DIRTY. */
		for (int i = 0; i < 3; i++)
			ktap_test_skip(what, "no soft-dirty tracking in this kernel (CONFIG_MEM_SOFT_DIRTY)");
		munmap(m, NPAGES * psize);
		ksmt_set_zero_pages(fd, 0);
		return;
	}

	ksmt_merge_runs(&runs0, &pages0);
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	ksmt_settle(fd, 3);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	runs = ksmt_merge_runs(&runs, &pages) ? runs - runs0 : -1;
	if (byte) {
		merged_w = same_pfn(m, 0, NPAGES);
		merged_c = merged_w;
	} else {
		uint64_t zero = ksmt_pfn_of(m);	/* pagemap shows the zero page's PFN */

		merged_w = merged_c = 0;
		for (int i = 0; i < NPAGES; i++)
			merged_w += zero && ksmt_pfn_of(m + i * psize) == zero;
		merged_c = merged_w;
	}
	dirty_w = with_bit_of(m, 0, PM_SOFT_DIRTY);
	dirty_c = with_bit_of(m, 1, PM_SOFT_DIRTY);
	/* Into a KSM page, most go in merge runs, each mixing both kinds. */
	ktap_test_result(merged_w == NPAGES && dirty_w == NPAGES / 2 && (!byte || runs > 0),
			 "%s: %d of %d pages merged (%lld merge runs), %d of the %d written since clear_refs soft-dirty",
			 what, merged_w, NPAGES, runs, dirty_w, NPAGES / 2);
	ktap_test_result(merged_c == NPAGES && dirty_c == 0,
			 "%s: the %d pages not written since clear_refs stay clean (%d soft-dirty)",
			 what, NPAGES / 2, dirty_c);
	bytes = ksmt_bytes_ok(m, NPAGES * psize, byte);
	ktap_test_result(bytes, "%s: every byte reads back", what);
	munmap(m, NPAGES * psize);
	ksmt_set_zero_pages(fd, 0);
}

/* A userfaultfd with @feature, or -1 if this kernel has no such feature. */
static int uffd_open(__u64 feature)
{
	struct uffdio_api api = { .api = UFFD_API, .features = feature };
	int uffd = syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK);

	if (uffd >= 0 && (ioctl(uffd, UFFDIO_API, &api) || !(api.features & feature))) {
		close(uffd);
		uffd = -1;
	}
	return uffd;
}

/* NPAGES pages of @byte, registered with @uffd in @mode; *@range is set to them. */
static char *uffd_map(int uffd, int byte, __u64 mode, struct uffdio_range *range)
{
	struct uffdio_register reg;
	char *m = ksmt_map_filled(NPAGES, byte);

	if (!m)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	memset(&reg, 0, sizeof(reg));
	reg.range.start = (uintptr_t)m;
	reg.range.len = NPAGES * psize;
	reg.mode = mode;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		ktap_exit_fail_msg("UFFDIO_REGISTER mode %#llx: %s", (unsigned long long)mode,
				   strerror(errno));
	*range = reg.range;
	return m;
}

/* The userfaultfd write-protect bit across a merge into a KSM page. */
static void uffd_wp(void)
{
	struct uffdio_writeprotect wp;
	struct uffdio_range range;
	int uffd, protected, merged;
	char *m;

	uffd = uffd_open(UFFD_FEATURE_PAGEFAULT_FLAG_WP);
	if (uffd < 0) {
		ktap_test_skip("uffd-wp: the bit survives a merge",
			       "no userfaultfd write-protect for anonymous memory in this kernel");
		return;
	}
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	m = uffd_map(uffd, 0x6b, UFFDIO_REGISTER_MODE_WP, &range);
	memset(&wp, 0, sizeof(wp));
	wp.range = range;
	wp.mode = UFFDIO_WRITEPROTECT_MODE_WP;
	if (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp))
		ktap_exit_fail_msg("UFFDIO_WRITEPROTECT: %s", strerror(errno));
	if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, NPAGES * psize))
		ktap_exit_fail_msg("MERGE_RANGE: %s", strerror(errno));
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	ksmt_settle(fd, 3);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	merged = same_pfn(m, 0, NPAGES);
	protected = with_bit(m, 0, NPAGES, PM_UFFD_WP);
	ktap_test_result(merged == NPAGES && protected == NPAGES,
			 "uffd-wp: %d of %d pages merged, %d still write-protected for the monitor",
			 merged, NPAGES, protected);
	if (ksmt_range(fd, KSMMOD_IOC_UNMERGE_RANGE, m, NPAGES * psize))
		ktap_print_msg("UNMERGE_RANGE: %s", strerror(errno));
	close(uffd);
	munmap(m, NPAGES * psize);
}

/* 7.3's userfaultfd read-write protection; the test's headers may predate it. */
#ifndef UFFD_FEATURE_RWP
#define UFFD_FEATURE_RWP		(1 << 17)
#define UFFDIO_REGISTER_MODE_RWP	((__u64)1 << 3)
#define UFFDIO_RWPROTECT_MODE_RWP	((__u64)1 << 0)
struct uffdio_rwprotect {
	struct uffdio_range range;
	__u64 mode;
};
#define UFFDIO_RWPROTECT		_IOWR(UFFDIO, 0x09, struct uffdio_rwprotect)
#endif

static void rwprotect(int uffd, char *m, int npages, bool on)
{
	struct uffdio_rwprotect rwp = {
		.range = { .start = (uintptr_t)m, .len = npages * psize },
		.mode = on ? UFFDIO_RWPROTECT_MODE_RWP : 0,
	};

	if (ioctl(uffd, UFFDIO_RWPROTECT, &rwp))
		ktap_exit_fail_msg("UFFDIO_RWPROTECT %d: %s", on, strerror(errno));
}

/*
 * Pages read-write-protected by userfaultfd (7.3's UFFDIO_RWPROTECT: the
 * PTE is PROT_NONE and carries the uffd bit) are not merged while protected:
 * the KSM page's mapping would be accessible, and the monitor would miss the
 * next access. Once the monitor lifts the protection they merge. Nothing may
 * touch the protected pages here: there is no handler, a fault would hang.
 */
static void uffd_rwp(void)
{
	struct uffdio_range range;
	int uffd, left_alone = 0, merged;
	uint64_t pfn;
	char *m;

	uffd = uffd_open(UFFD_FEATURE_RWP);
	if (uffd < 0) {
		for (int i = 0; i < 2; i++)
			ktap_test_skip("uffd-rwp", "no userfaultfd read-write protection (UFFD_FEATURE_RWP) in this kernel");
		return;
	}
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	m = uffd_map(uffd, 0x2d, UFFDIO_REGISTER_MODE_RWP, &range);
	rwprotect(uffd, m, NPAGES / 2, true);
	if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, NPAGES * psize))
		ktap_exit_fail_msg("MERGE_RANGE: %s", strerror(errno));
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	ksmt_settle(fd, 3);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	merged = same_pfn(m, NPAGES / 2, NPAGES);
	pfn = ksmt_pfn_of(m + NPAGES / 2 * psize);
	for (int i = 0; i < NPAGES / 2; i++)
		left_alone += ksmt_pfn_of(m + i * psize) != pfn &&
			      same_pfn(m, i, NPAGES / 2) == 1;
	ktap_test_result(left_alone == NPAGES / 2 && merged == NPAGES / 2,
			 "uffd-rwp: %d of the %d read-write-protected pages left alone, %d of the %d others merged",
			 left_alone, NPAGES / 2, merged, NPAGES / 2);

	rwprotect(uffd, m, NPAGES / 2, false);
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	ksmt_settle(fd, 3);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	merged = same_pfn(m, 0, NPAGES);
	ktap_test_result(merged == NPAGES && ksmt_bytes_ok(m, NPAGES * psize, 0x2d),
			 "uffd-rwp: once unprotected, %d of %d pages merged, every byte reads back",
			 merged, NPAGES);
	if (ksmt_range(fd, KSMMOD_IOC_UNMERGE_RANGE, m, NPAGES * psize))
		ktap_print_msg("UNMERGE_RANGE: %s", strerror(errno));
	close(uffd);
	munmap(m, NPAGES * psize);
}

int main(void)
{
	ktap_print_header(9);
	ksmt_ensure_loaded();
	fd = ksmt_open();
	psize = sysconf(_SC_PAGESIZE);
	soft_dirty(0x3c);
	soft_dirty(0);
	uffd_wp();
	uffd_rwp();
	ksmt_set_run(fd, KSMMOD_RUN_UNMERGE);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	close(fd);
	return ktap_finished();
}
