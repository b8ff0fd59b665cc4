// SPDX-License-Identifier: GPL-2.0
/*
 * MERGE_RANGE and UNMERGE_RANGE act on VM_MERGEABLE exactly as
 * madvise(MADV_MERGEABLE / MADV_UNMERGEABLE) of the same range would
 * ("mg" in /proc/self/smaps):
 *
 * - a range inside a mapping splits it at the range's edges, only the range
 *   gets the flag and only its pages merge;
 * - UNMERGE_RANGE takes the flag off the range again (the mapping is one
 *   again), and the range does not merge again when the process madvises
 *   another range;
 * - the process's own madvise() of the range afterwards merges it;
 * - a range over two mappings (different protections) marks the covered
 *   part of each;
 * - a range with a hole fails with ENOMEM and marks nothing;
 * - REMOVE_PROCESS takes the flag off every mapping, and the process's own
 *   madvise() works again afterwards.
 *
 * Run in both modes: drop-in (the process's own madvise() is served by
 * ksmmod) and dropin=0 (it goes to the kernel's KSM, whose merging is not
 * checked here: only the flags).
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>

#include "ksmtest.h"

#define NPAGES	16

static int fd;
static long psize;

static char *map_filled(int n, int byte)
{
	char *m = ksmt_map_filled(n, byte);

	if (!m)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	return m;
}

/* Pages of [@from, @to) of @m mapped at the PFN of page @ref (of @r). */
static int at_pfn(char *m, int from, int to, char *r)
{
	uint64_t pfn = ksmt_pfn_of(r);
	int n = 0;

	for (int i = from; i < to; i++)
		n += pfn && ksmt_pfn_of(m + i * psize) == pfn;
	return n;
}

/* Pages of [@from, @to) of @m that share their PFN with another page of @m. */
static int shared_in(char *m, int from, int to, int n)
{
	int k = 0;

	for (int i = from; i < to; i++)
		for (int j = 0; j < n; j++)
			if (j != i && ksmt_pfn_of(m + i * psize) == ksmt_pfn_of(m + j * psize)) {
				k++;
				break;
			}
	return k;
}

/* Pages of [@from, @to) of @m whose mapping has "mg". */
static int marked(char *m, int from, int to)
{
	int k = 0;

	for (int i = from; i < to; i++)
		k += ksmt_vma_has(m + i * psize, NULL, "mg", NULL) == 1;
	return k;
}

static int remove_self(void)
{
	struct ksmmod_process p;
	int pidfd = syscall(SYS_pidfd_open, getpid(), 0), err;

	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.pidfd = pidfd;
	err = ksmt_ioctl(fd, KSMMOD_IOC_REMOVE_PROCESS, &p);
	close(pidfd);
	return err;
}

static void settle(void)
{
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	ksmt_settle(fd, 3);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
}

static void run(bool dropin)
{
	const char *mode = dropin ? "drop-in" : "dropin=0";
	char *m, *n, *a;
	int err, nv, mk;

	if (ksmt_loaded() && ksmt_unload())
		ktap_exit_fail_msg("cannot unload ksmmod");
	err = ksmt_load(dropin ? "" : "dropin=0");
	if (err)
		ktap_exit_fail_msg("insmod (%s): %s", mode, strerror(-err));
	fd = ksmt_open();
	ksmt_set_run(fd, KSMMOD_RUN_STOP);

	/* A range inside one mapping. */
	m = map_filled(NPAGES, 0x5c);
	err = ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m + 4 * psize, 8 * psize);
	ksmt_vma_has(m, m + NPAGES * psize, "mg", &nv);
	mk = marked(m, 0, NPAGES);
	ktap_test_result(!err && nv == 3 && mk == 8 && marked(m, 4, 12) == 8,
			 "%s: MERGE_RANGE of pages 4-11 of 16: %d mappings, %d pages marked mg (want 3, 8: pages 4-11)",
			 mode, nv, mk);
	settle();
	ktap_test_result(at_pfn(m, 4, 12, m + 4 * psize) == 8 && shared_in(m, 0, 4, NPAGES) == 0 &&
			 shared_in(m, 12, NPAGES, NPAGES) == 0,
			 "%s: pages 4-11 merged (%d of 8), the pages outside the range not (%d)", mode,
			 at_pfn(m, 4, 12, m + 4 * psize),
			 shared_in(m, 0, 4, NPAGES) + shared_in(m, 12, NPAGES, NPAGES));

	err = ksmt_range(fd, KSMMOD_IOC_UNMERGE_RANGE, m + 4 * psize, 8 * psize);
	ksmt_vma_has(m, m + NPAGES * psize, "mg", &nv);
	mk = marked(m, 0, NPAGES);
	ktap_test_result(!err && nv == 1 && mk == 0 && shared_in(m, 0, NPAGES, NPAGES) == 0 &&
			 ksmt_bytes_ok(m, NPAGES * psize, 0x5c),
			 "%s: UNMERGE_RANGE: %d mapping(s), %d pages marked, %d merged, bytes intact",
			 mode, nv, mk, shared_in(m, 0, NPAGES, NPAGES));

	/* Another range of the process merges; the unmerged one stays out. */
	n = map_filled(NPAGES, 0x5c);
	if (dropin) {
		err = madvise(n, NPAGES * psize, MADV_MERGEABLE);
		settle();
		ktap_test_result(!err && at_pfn(n, 0, NPAGES, n) == NPAGES &&
				 shared_in(m, 0, NPAGES, NPAGES) == 0 && at_pfn(m, 0, NPAGES, n) == 0 &&
				 marked(m, 0, NPAGES) == 0,
				 "%s: madvise() of another mapping merges it (%d of %d), the unmerged range stays out (%d merged)",
				 mode, at_pfn(n, 0, NPAGES, n), NPAGES,
				 shared_in(m, 0, NPAGES, NPAGES) + at_pfn(m, 0, NPAGES, n));
		/* The process's own madvise() of the range now merges it. */
		err = madvise(m + 4 * psize, 8 * psize, MADV_MERGEABLE);
		settle();
		ktap_test_result(!err && at_pfn(m, 4, 12, n) == 8 && marked(m, 4, 12) == 8 &&
				 shared_in(m, 0, 4, NPAGES) == 0,
				 "%s: the process's own madvise() of the unmerged range merges it (%d of 8)",
				 mode, at_pfn(m, 4, 12, n));
	} else {
		/*
		 * madvise() here would hand the process to the kernel's KSM:
		 * only the flag is checked, which madvise() sets again.
		 */
		err = ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, n, NPAGES * psize);
		settle();
		ktap_test_result(!err && at_pfn(n, 0, NPAGES, n) == NPAGES &&
				 shared_in(m, 0, NPAGES, NPAGES) == 0 && marked(m, 0, NPAGES) == 0,
				 "%s: MERGE_RANGE of another mapping merges it (%d of %d), the unmerged range stays out",
				 mode, at_pfn(n, 0, NPAGES, n), NPAGES);
		ktap_test_skip("the process's own madvise() after UNMERGE_RANGE",
			       "dropin=0: madvise() goes to the kernel's KSM; the drop-in run checks it");
	}

	/* Over two mappings: pages 2-5 of 8, pages 4-7 read-only. */
	a = map_filled(8, 0x33);
	mprotect(a + 4 * psize, 4 * psize, PROT_READ);
	err = ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, a + 2 * psize, 4 * psize);
	ksmt_vma_has(a, a + 8 * psize, "mg", &nv);
	mk = marked(a, 0, 8);
	ktap_test_result(!err && nv == 4 && mk == 4 && marked(a, 2, 6) == 4,
			 "%s: MERGE_RANGE over two mappings: %d mappings, %d pages marked (want 4, 4)",
			 mode, nv, mk);
	err = ksmt_range(fd, KSMMOD_IOC_UNMERGE_RANGE, a + 2 * psize, 4 * psize);
	ksmt_vma_has(a, a + 8 * psize, "mg", &nv);
	mk = marked(a, 0, 8);
	ktap_test_result(!err && nv == 2 && mk == 0,
			 "%s: UNMERGE_RANGE over two mappings: %d mappings, %d pages marked (want 2, 0)",
			 mode, nv, mk);

	/* A hole: ENOMEM, nothing marked. */
	munmap(a + 7 * psize, psize);
	err = ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, a, 8 * psize);
	ktap_test_result(err == -ENOMEM && marked(a, 0, 7) == 0,
			 "%s: MERGE_RANGE with a hole: %s, %d pages marked (want ENOMEM, 0)",
			 mode, strerror(-err), marked(a, 0, 7));

	/* REMOVE_PROCESS: no mapping stays marked. */
	err = remove_self();
	mk = marked(m, 0, NPAGES) + marked(n, 0, NPAGES);
	ktap_test_result(!err && mk == 0 && shared_in(n, 0, NPAGES, NPAGES) == 0 &&
			 ksmt_bytes_ok(n, NPAGES * psize, 0x5c),
			 "%s: REMOVE_PROCESS: %d pages marked, %d merged (want 0, 0), bytes intact",
			 mode, mk, shared_in(n, 0, NPAGES, NPAGES));
	if (dropin) {
		err = madvise(n, NPAGES * psize, MADV_MERGEABLE);
		settle();
		ktap_test_result(!err && at_pfn(n, 0, NPAGES, n) == NPAGES,
				 "%s: the process's own madvise() after REMOVE_PROCESS merges again (%d of %d)",
				 mode, at_pfn(n, 0, NPAGES, n), NPAGES);
	} else {
		ktap_test_skip("the process's own madvise() after REMOVE_PROCESS",
			       "dropin=0: madvise() goes to the kernel's KSM; the drop-in run checks it");
	}
	munmap(m, NPAGES * psize);
	munmap(n, NPAGES * psize);
	munmap(a, 7 * psize);
	close(fd);
}

int main(void)
{
	ktap_print_header(20);
	psize = sysconf(_SC_PAGESIZE);
	run(true);
	run(false);
	/* Leave the module as the next test expects it: loaded, defaults. */
	if (ksmt_unload() || ksmt_load(""))
		ktap_print_msg("could not reload ksmmod with its defaults");
	return ktap_finished();
}
