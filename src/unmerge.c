// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod unmerge: breaking merges, for run=2, UNMERGE_RANGE, REMOVE_PROCESS,
 * unload and a merge that cannot be recorded.
 *
 * DOC: Unmerging
 *
 * A merged page is broken the way the kernel breaks it: by a fault that
 * unshares it (FAULT_FLAG_UNSHARE, or a write fault where that cannot
 * unshare a KSM zero page), so that the process gets a private copy with the
 * same contents and the kernel does the rmap, RSS and memcg bookkeeping.
 * The candidates are picked a page table at a time (ksmmod_merged_in()):
 * most addresses of a range have nothing merged, and those cost no walk of
 * their own. Unmerging can be limited to the pages of a set of stable nodes
 * (the mappings of processes ksmmod does not know, at unload), and stops at
 * a fatal signal.
 */
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/xarray.h>

#include "ksmmod/core.h"
#include "ksmmod/ksmmod.h"
#include "ksmmod/registry.h"
#include "ksmmod/symbols.h"

/* Merged pages found in one page table visit (ksmmod_merged_in()). */
#define KSMMOD_MERGED_BATCH	64

/**
 * ksmmod_merged_in() - where something merged may be, from @addr on, in one
 *	page table visit
 * @vma: the mapping, mmap_lock held
 * @addr: page-aligned address in @vma
 * @end: end of the range (within @vma); only the addresses that share
 *	@addr's page table are looked at
 * @addrs: set to the addresses where a KSM page or a KSM zero page is
 *	mapped, or a migration entry (maybe of a KSM page) is
 * @max: room in @addrs
 * @next: set to the first address not looked at
 * @only: NULL, or a set of stable nodes (ksmmod_node_key()): then only
 *	their KSM pages are candidates (no zero page, no migration entry)
 *
 * Picks the candidates for the unmerge paths' test, ksmmod_merged_at(), for
 * a whole page table under one lock: most addresses of a range have nothing
 * merged, and those then cost no walk of their own.
 *
 * Return: the number of addresses found (0: none before *@next), or -1 if
 * @addr is mapped through a huge or non-present PMD: use ksmmod_merged_at().
 */
static int ksmmod_merged_in(struct vm_area_struct *vma, unsigned long addr, unsigned long end,
			    unsigned long *addrs, int max, unsigned long *next,
			    struct xarray *only)
{
	pte_t *start_pte, *ptep;
	spinlock_t *ptl;
	pmd_t *pmd;
	int n = 0;

	start_pte = ksmmod_lock_pte_table(vma->vm_mm, addr, &end, &pmd, &ptl, next);
	if (IS_ERR_OR_NULL(start_pte))
		return start_pte ? -1 : 0;
	for (ptep = start_pte; addr < end && n < max; addr += PAGE_SIZE, ptep++) {
		pte_t pte;

		if (!ksmmod_skip_none_ptes(&ptep, &addr, end))
			break;
		pte = ptep_get(ptep);
		if (pte_none(pte))
			continue;
		if (!pte_present(pte)) {
			/* Swapped out: nothing mapped. Migrating: @only waits for a later pass. */
			if (only || !ksmmod_pte_is_migration(pte))
				continue;
		} else if (ksmmod_is_zero_pte(pte)) {
			if (only)
				continue;
		} else {
			unsigned long pfn = pte_pfn(pte);
			struct folio *folio;

			if (!pfn_valid(pfn))
				continue;
			folio = page_folio(pfn_to_page(pfn));
			if (folio_is_zone_device(folio) || !folio_test_ksm(folio))
				continue;
			/* Under the page table lock: the folio and its node stay. */
			if (only && !xa_load(only, ksmmod_node_key(ksmmod_folio_stable_node(folio))))
				continue;
		}
		addrs[n++] = addr;
	}
	pte_unmap_unlock(start_pte, ptl);
	*next = addr;
	return n;
}

/**
 * ksmmod_break_merged() - make the merged page at @addr a private copy
 * @vma: the mapping, mmap_lock held
 * @addr: page-aligned address
 * @zero_pages: see ksmmod_break_ksm()
 * @merged: what was just seen merged at @addr
 *
 * Faults until ksmmod_merged_at() finds nothing merged at @addr any more.
 *
 * Return: 0, -ENOMEM, or -EINTR (fatal signal).
 */
static int ksmmod_break_merged(struct vm_area_struct *vma, unsigned long addr,
			       atomic_long_t *zero_pages, enum ksmmod_merged merged)
{
	while (merged != KSMMOD_NOT_MERGED) {
		bool zero = merged == KSMMOD_MERGED_ZERO;
		vm_fault_t ret;

		cond_resched();
		if (fatal_signal_pending(current))
			return -EINTR;
		ret = handle_mm_fault(vma, addr, (zero ? KSMMOD_ZERO_BREAK_FAULT : FAULT_FLAG_UNSHARE) |
					       FAULT_FLAG_REMOTE, NULL);
		if (ret & VM_FAULT_OOM)
			return -ENOMEM;
		if (ret & (VM_FAULT_SIGBUS | VM_FAULT_SIGSEGV | VM_FAULT_HWPOISON))
			return 0;	/* nothing usable mapped there any more */
		merged = ksmmod_merged_at(vma, addr);
		if (zero && zero_pages && merged != KSMMOD_MERGED_ZERO)
			ksmmod_zero_page_unmerged(zero_pages);
	}
	return 0;
}

/**
 * ksmmod_break_ksm() - make the page at @addr a private copy if it is merged
 * @vma: the mapping, mmap_lock held
 * @addr: page-aligned address
 * @zero_pages: the process's zero-page count (ksmmod_zero_page_unmerged()),
 *	or NULL where no zero page can be mapped
 *
 * A KSM page or a KSM zero page is copied by a fault, as mm/ksm.c does.
 *
 * Return: 0, -ENOMEM, or -EINTR (fatal signal).
 */
int ksmmod_break_ksm(struct vm_area_struct *vma, unsigned long addr, atomic_long_t *zero_pages)
{
	cond_resched();
	if (fatal_signal_pending(current))
		return -EINTR;
	return ksmmod_break_merged(vma, addr, zero_pages, ksmmod_merged_at(vma, addr));
}

/*
 * ksmmod_unmerge_range() with @only: NULL to break every merged page (KSM
 * and KSM zero pages), or the set of stable nodes whose pages to break.
 */
static int ksmmod_unmerge_range_of(struct vm_area_struct *vma, unsigned long start,
				   unsigned long end, atomic_long_t *zero_pages,
				   struct xarray *only)
{
	unsigned long addrs[KSMMOD_MERGED_BATCH];
	unsigned long addr = start, next;
	int err, i, n;

	if (!vma->anon_vma)
		return 0;
	while (addr < end) {
		cond_resched();
		if (fatal_signal_pending(current))
			return -EINTR;
		n = ksmmod_merged_in(vma, addr, end, addrs, KSMMOD_MERGED_BATCH, &next, only);
		if (n < 0 && only) {
			/* A huge or non-present PMD maps no KSM page. */
			addr = pmd_addr_end(addr, end);
			continue;
		}
		if (n < 0) {
			/* A huge or non-present PMD: one address at a time. */
			err = ksmmod_break_ksm(vma, addr, zero_pages);
			if (err)
				return err;
			addr += PAGE_SIZE;
			continue;
		}
		/*
		 * Earlier faults of the batch slept: look again before each
		 * fault, so that nothing zapped, swapped out or unmerged since
		 * is faulted back in.
		 */
		for (i = 0; i < n; i++) {
			err = ksmmod_break_ksm(vma, addrs[i], zero_pages);
			if (err)
				return err;
		}
		addr = next;
	}
	return 0;
}

/**
 * ksmmod_unmerge_range() - break every merged page in [@start, @end) of @vma
 * @vma: a mapping, mmap_lock held for read
 * @start: first address (within @vma)
 * @end: end address (within @vma)
 * @zero_pages: the process's zero-page count (see ksmmod_break_ksm())
 *
 * Return: 0 or a negative errno.
 */
int ksmmod_unmerge_range(struct vm_area_struct *vma, unsigned long start, unsigned long end,
			 atomic_long_t *zero_pages)
{
	return ksmmod_unmerge_range_of(vma, start, end, zero_pages, NULL);
}

/**
 * ksmmod_unmerge_nodes_in() - break @mm's mappings of the pages of some stable nodes
 * @mm: any address space (a reference held), its mmap_lock held
 * @nodes: the nodes (keyed by ksmmod_node_key()) whose pages to break, or
 *	NULL for every KSM page and KSM zero page (the caller knows that all
 *	of them are ksmmod's)
 *
 * For the mappings ksmmod has no rmap item for: a child forked after the
 * merge by a process registered without drop-in mode maps the parent's KSM
 * pages, and so does any process it forks in turn. Every private mapping
 * with anonymous pages is looked at, whatever its flags (a KSM page can only
 * be in one), and with @nodes only their pages are copied: the kernel's
 * own KSM pages and zero pages in the same process stay as they are. (With
 * NULL no per-process zero-page count is kept up to date: the caller's
 * process is about to leave ksmmod.)
 *
 * Return: 0, -ENOMEM or -EINTR.
 */
int ksmmod_unmerge_nodes_in(struct mm_struct *mm, struct xarray *nodes)
{
	struct vm_area_struct *vma;
	VMA_ITERATOR(vmi, mm, 0);
	int err;

	for_each_vma(vmi, vma) {
		if (!vma->anon_vma || (vma->vm_flags & (VM_SHARED | VM_PFNMAP | VM_IO | VM_HUGETLB)))
			continue;
		err = ksmmod_unmerge_range_of(vma, vma->vm_start, vma->vm_end, NULL, nodes);
		if (err)
			return err;
	}
	return 0;
}

/**
 * ksmmod_unmerge_slot() - break every merged page of @slot in [@start, @end)
 * @slot: a slot; its mm's mmap_lock held for read, ksmmod_thread_mutex held
 * @start: first address
 * @end: end address
 *
 * Return: 0 or the first error (-ENOMEM, -EINTR).
 */
int ksmmod_unmerge_slot(struct ksmmod_mm_slot *slot, unsigned long start, unsigned long end)
{
	unsigned long addr = start, s, e;
	struct vm_area_struct *vma;
	int err;

	while (addr < end && ksmmod_registry_next_range(slot, addr, &s, &e) && s < end) {
		VMA_ITERATOR(vmi, slot->mm, s);

		e = min(e, end);
		for_each_vma_range(vmi, vma, e) {
			if (!ksmmod_vma_eligible(vma))
				continue;
			err = ksmmod_unmerge_range(vma, max(s, vma->vm_start), min(e, vma->vm_end),
						   &slot->zero_pages);
			if (err)
				return err;
		}
		addr = e;
	}
	return 0;
}
