/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksmmod compat: what is mapped at an address (the single-page lookup, and
 * the test the unmerge paths make), through the page table walkers each
 * kernel offers.
 */
#ifndef _KSMMOD_COMPAT_LOOKUP_H
#define _KSMMOD_COMPAT_LOOKUP_H

#include <linux/mm.h>
#include <linux/pagewalk.h>
#include <linux/swapops.h>
#ifdef KSMMOD_HAVE_SOFTLEAF
#include <linux/leafops.h>
#endif

#include "ksmmod/symbols.h"
#include "ksmmod/compat/pgtable.h"
#include "ksmmod/compat/zero.h"

/**
 * ksmmod_get_anon_page() - the anonymous page mapped at @addr, with a reference
 * @vma: the mapping, mmap_lock held
 * @addr: page-aligned address in @vma
 *
 * Like follow_page(FOLL_GET) / folio_walk_start() in mm/ksm.c: does not
 * fault anything in; swap entries, the zero page and non-anonymous pages give
 * NULL. KSM pages are anonymous too.
 *
 * Return: the page (put_page() it) or NULL.
 */
static inline struct page *ksmmod_get_anon_page(struct vm_area_struct *vma, unsigned long addr)
{
#ifdef KSMMOD_HAVE_FOLIO_WALK
	struct folio_walk fw;
	struct folio *folio;
	struct page *page = NULL;

	folio = kcall_folio_walk_start(&fw, vma, addr, 0);
	if (folio) {
		if (!folio_is_zone_device(folio) && folio_test_anon(folio)) {
			folio_get(folio);
			page = fw.page;
		}
		/* folio_walk_end(), whose last step is not exported */
		spin_unlock(fw.ptl);
		if (fw.level == FW_LEVEL_PTE)
			pte_unmap(fw.ptep);
		kcall_vma_pgtable_walk_end(vma);
	}
	return page;
#else
	/*
	 * Debian's 6.1 follow_page() refuses PROT_NONE PTEs (NUMA hinting
	 * faults pending: gup_can_follow_protnone()) unless FOLL_FORCE is
	 * given: the pages of a process that does not touch its memory after
	 * NUMA balancing marked it would never be seen (mm/ksm.c there has
	 * that bug; 6.5 fixed it with FOLL_HONOR_NUMA_FAULT). FOLL_FORCE
	 * changes nothing else here (no FOLL_WRITE, no vma checks).
	 */
	struct page *page = kcall_follow_page(vma, addr, FOLL_GET | FOLL_FORCE);

	if (IS_ERR_OR_NULL(page))
		return NULL;
	if (is_zone_device_page(page) || !PageAnon(page)) {
		put_page(page);
		return NULL;
	}
	return page;
#endif
}

/**
 * ksmmod_find_pte_table() - the PMD entry of the page table that maps @addr
 * @mm: the address space, mmap_lock held (the entry stays where it is while
 *	the lock is held, usable with ksmmod_get_anon_page_pmd())
 * @addr: an address
 *
 * Return: the PMD entry if it points to a page table, else NULL (nothing
 * there, or a huge or non-present PMD).
 */
static inline pmd_t *ksmmod_find_pte_table(struct mm_struct *mm, unsigned long addr)
{
	pmd_t *pmd = kcall_mm_find_pmd(mm, addr);
	pmd_t pmde;

	if (!pmd)
		return NULL;
	/* A huge PMD may be set up without the anon_vma lock: check both. */
	pmde = READ_ONCE(*pmd);
	barrier();
	if (!pmd_present(pmde) || pmd_trans_huge(pmde))
		return NULL;
	return pmd;
}

/**
 * ksmmod_pte_lock_at() - the PTE of @addr, mapped and locked, if a page table has it
 * @mm: the address space, mmap_lock held
 * @addr: page-aligned address
 * @ptlp: set to the page table lock
 *
 * A huge PMD may be set up without the anon_vma lock (as in mm/ksm.c's
 * replace_page()): the PMD is read once and checked.
 *
 * Return: the PTE (pte_unmap_unlock() it), or NULL if no page table maps
 * @addr (none, or a huge or non-present PMD).
 */
static inline pte_t *ksmmod_pte_lock_at(struct mm_struct *mm, unsigned long addr,
					spinlock_t **ptlp)
{
	pmd_t *pmd = ksmmod_find_pte_table(mm, addr);

	return pmd ? ksmmod_pte_offset_map_lock(mm, pmd, addr, ptlp) : NULL;
}

/**
 * ksmmod_zero_pte_at() - whether a KSM zero page is mapped at @addr
 * @mm: the address space, mmap_lock held
 * @addr: page-aligned address
 *
 * Return: true if the PTE at @addr maps the zero page and is marked dirty.
 */
static inline bool ksmmod_zero_pte_at(struct mm_struct *mm, unsigned long addr)
{
	spinlock_t *ptl;
	pte_t *ptep;
	bool zero;

	ptep = ksmmod_pte_lock_at(mm, addr, &ptl);
	if (!ptep)
		return false;
	zero = ksmmod_is_zero_pte(ptep_get(ptep));
	pte_unmap_unlock(ptep, ptl);
	return zero;
}

/* Whether a non-present @pte is a migration entry (7.x: a "softleaf" entry). */
static inline bool ksmmod_pte_is_migration(pte_t pte)
{
#ifdef KSMMOD_HAVE_SOFTLEAF
	return softleaf_is_migration(softleaf_from_pte(pte));
#else
	return is_migration_entry(pte_to_swp_entry(pte));
#endif
}

#ifdef KSMMOD_HAVE_SOFTLEAF
/**
 * ksmmod_ksm_migration_at() - whether a KSM page under migration is at @addr
 * @mm: the address space, mmap_lock held
 * @addr: page-aligned address
 *
 * 7.x's folio_walk_start() no longer reports migration entries (FW_MIGRATION
 * is gone; mm/ksm.c's break_ksm() reads the PTE itself, as this does). The
 * folio of a migration entry is locked while the entry exists, and the page
 * table lock keeps the entry.
 *
 * Return: true if the PTE at @addr is a migration entry of a KSM folio.
 */
static inline bool ksmmod_ksm_migration_at(struct mm_struct *mm, unsigned long addr)
{
	softleaf_t entry;
	spinlock_t *ptl;
	pte_t *ptep;
	bool ksm = false;

	ptep = ksmmod_pte_lock_at(mm, addr, &ptl);
	if (!ptep)
		return false;
	entry = softleaf_from_pte(ptep_get(ptep));
	if (softleaf_is_migration(entry))
		ksm = folio_test_ksm(softleaf_to_folio(entry));
	pte_unmap_unlock(ptep, ptl);
	return ksm;
}
#endif

/**
 * enum ksmmod_merged - what ksmmod_merged_at() found
 * @KSMMOD_NOT_MERGED: nothing merged at the address
 * @KSMMOD_MERGED_KSM: a KSM page
 * @KSMMOD_MERGED_ZERO: a KSM zero page (see "KSM zero pages")
 */
enum ksmmod_merged {
	KSMMOD_NOT_MERGED,
	KSMMOD_MERGED_KSM,
	KSMMOD_MERGED_ZERO,
};

/**
 * ksmmod_merged_at() - what is merged at @addr (the unmerge test)
 * @vma: the mapping, mmap_lock held
 * @addr: page-aligned address in @vma
 *
 * Unlike ksmmod_get_anon_page(), a page under migration counts (the fault
 * that breaks it waits for the migration), as in mm/ksm.c's break_ksm().
 *
 * Return: an enum ksmmod_merged.
 */
static inline enum ksmmod_merged ksmmod_merged_at(struct vm_area_struct *vma, unsigned long addr)
{
#ifdef KSMMOD_HAVE_FOLIO_WALK
	enum ksmmod_merged merged = KSMMOD_NOT_MERGED;
	struct folio_walk fw;
	struct folio *folio;

#ifdef KSMMOD_HAVE_FW_MIGRATION
	folio = kcall_folio_walk_start(&fw, vma, addr, FW_MIGRATION | FW_ZEROPAGE);
#else
	folio = kcall_folio_walk_start(&fw, vma, addr, FW_ZEROPAGE);
#endif
	if (folio) {
		/* Under the page table lock: the folio cannot go away. */
		if (!folio_is_zone_device(folio) && folio_test_ksm(folio))
			merged = KSMMOD_MERGED_KSM;
		else if (fw.level == FW_LEVEL_PTE && ksmmod_is_zero_pte(fw.pte))
			merged = KSMMOD_MERGED_ZERO;
		spin_unlock(fw.ptl);
		if (fw.level == FW_LEVEL_PTE)
			pte_unmap(fw.ptep);
		kcall_vma_pgtable_walk_end(vma);
	}
#ifndef KSMMOD_HAVE_FW_MIGRATION
	else if (ksmmod_ksm_migration_at(vma->vm_mm, addr))
		merged = KSMMOD_MERGED_KSM;
#endif
	return merged;
#else
	/* FOLL_FORCE: see ksmmod_get_anon_page(); the fault resolves PROT_NONE first. */
	struct page *page = kcall_follow_page(vma, addr,
					      FOLL_GET | FOLL_MIGRATION | FOLL_REMOTE | FOLL_FORCE);
	enum ksmmod_merged merged = KSMMOD_NOT_MERGED;

	if (IS_ERR_OR_NULL(page))
		return merged;
	if (folio_test_ksm(page_folio(page)))
		merged = KSMMOD_MERGED_KSM;
	else if (is_zero_pfn(page_to_pfn(page)) && ksmmod_zero_pte_at(vma->vm_mm, addr))
		merged = KSMMOD_MERGED_ZERO;
	put_page(page);
	return merged;
#endif
}

#endif /* _KSMMOD_COMPAT_LOOKUP_H */
