/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksmmod compat layer: the one place where differences between the kernels
 * ksmmod supports are handled.
 *
 * The KSMMOD_HAVE_* macros come from build-time probes of the target kernel's
 * headers (compat.mk), never from version numbers: Debian backports and
 * stable updates move functions independently of LINUX_VERSION_CODE.
 *
 * Supported: Debian 12's stock 6.1 and 6.12 amd64 kernels.
 */
#ifndef _KSMMOD_COMPAT_H
#define _KSMMOD_COMPAT_H

#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/rmap.h>
#include <linux/huge_mm.h>
#include <linux/swap.h>
#include <linux/pagewalk.h>

/* VM_DROPPABLE (6.11+) mappings are never merged; older kernels lack them. */
#ifdef VM_DROPPABLE
#define KSMMOD_VM_DROPPABLE	VM_DROPPABLE
#else
#define KSMMOD_VM_DROPPABLE	VM_NONE
#endif

/*
 * Non-exported kernel functions that only exist on some kernels, in the
 * format of KSMMOD_SYMBOLS() (include/ksmmod/symbols.h):
 * X(return type, name, (parameters), declared in the public headers?)
 */
#ifdef KSMMOD_HAVE_FOLIO_WALK
/*
 * 6.12: follow_page() is gone; folio_walk_start() replaces it, and
 * folio_walk_end() is a macro calling vma_pgtable_walk_end().
 */
#define KSMMOD_SYMBOLS_WALK(X)						\
	X(struct folio *, folio_walk_start, (struct folio_walk *fw,		\
	  struct vm_area_struct *vma, unsigned long addr,			\
	  folio_walk_flags_t flags), 1)					\
	X(void, vma_pgtable_walk_end, (struct vm_area_struct *vma), 1)
#else
#define KSMMOD_SYMBOLS_WALK(X)						\
	X(struct page *, follow_page, (struct vm_area_struct *vma,		\
	  unsigned long address, unsigned int foll_flags), 1)
#endif

#ifdef KSMMOD_HAVE_FOLIO_RMAP_PTES
#define KSMMOD_SYMBOLS_RMAP(X)						\
	X(void, folio_add_anon_rmap_ptes, (struct folio *folio,		\
	  struct page *page, int nr_pages, struct vm_area_struct *vma,		\
	  unsigned long address, rmap_t flags), 1)				\
	X(void, folio_remove_rmap_ptes, (struct folio *folio,			\
	  struct page *page, int nr_pages, struct vm_area_struct *vma), 1)
#else
#define KSMMOD_SYMBOLS_RMAP(X)						\
	X(void, page_add_anon_rmap, (struct page *page,			\
	  struct vm_area_struct *vma, unsigned long address, rmap_t flags), 1) \
	X(void, page_remove_rmap, (struct page *page,				\
	  struct vm_area_struct *vma, bool compound), 1)
#endif

#ifdef KSMMOD_HAVE_PTE_OFFSET_MAP_LOCK_FN
/* 6.5+: pte_offset_map_lock() is an inline around this out-of-line helper. */
#define KSMMOD_SYMBOLS_PTE(X)						\
	X(pte_t *, __pte_offset_map_lock, (struct mm_struct *mm, pmd_t *pmd,	\
	  unsigned long addr, spinlock_t **ptlp), 1)
#else
#define KSMMOD_SYMBOLS_PTE(X)
#endif

#ifdef KSMMOD_HAVE_SPLIT_TO_ORDER
#define KSMMOD_SYMBOLS_SPLIT(X)						\
	X(int, split_huge_page_to_list_to_order, (struct page *page,		\
	  struct list_head *list, unsigned int new_order), 1)
#else
#define KSMMOD_SYMBOLS_SPLIT(X)						\
	X(int, split_huge_page_to_list, (struct page *page,			\
	  struct list_head *list), 1)
#endif

#ifdef KSMMOD_HAVE_RANGE_END_ONLY_END
#define KSMMOD_RANGE_END_PARAMS (struct mmu_notifier_range *r, bool only_end)
#else
#define KSMMOD_RANGE_END_PARAMS (struct mmu_notifier_range *r)
#endif

#ifdef KSMMOD_HAVE_MMU_NOTIFIER_CHANGE_PTE
/* Up to 6.8, set_pte_at_notify() tells secondary MMUs about a new PTE. */
#define KSMMOD_SYMBOLS_NOTIFY(X)					\
	X(void, __mmu_notifier_change_pte, (struct mm_struct *mm,		\
	  unsigned long address, pte_t pte), 1)				\
	X(void, __mmu_notifier_invalidate_range_end, KSMMOD_RANGE_END_PARAMS, 1)
#else
#define KSMMOD_SYMBOLS_NOTIFY(X)					\
	X(void, __mmu_notifier_invalidate_range_end, KSMMOD_RANGE_END_PARAMS, 1)
#endif

#ifdef KSMMOD_HAVE_FOLIO_MAPCOUNT_INLINE
#define KSMMOD_SYMBOLS_MAPCOUNT(X)
#else
/* 6.1: folio_mapcount() is out of line (mm/util.c). */
#define KSMMOD_SYMBOLS_MAPCOUNT(X)					\
	X(int, folio_mapcount, (struct folio *folio), 1)
#endif

#define KSMMOD_SYMBOLS_COMPAT(X)					\
	KSMMOD_SYMBOLS_WALK(X)							\
	KSMMOD_SYMBOLS_MAPCOUNT(X)						\
	KSMMOD_SYMBOLS_RMAP(X)							\
	KSMMOD_SYMBOLS_PTE(X)							\
	KSMMOD_SYMBOLS_SPLIT(X)							\
	KSMMOD_SYMBOLS_NOTIFY(X)

/*
 * Wrappers over kernel interfaces that differ between the supported kernels
 * or that are inline in the headers but call non-exported functions. They
 * need the kcall_*() thunks, declared by symbols.h (which includes this file
 * first for the lists above).
 */
#include "ksmmod/symbols.h"

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
	struct page *page = kcall_follow_page(vma, addr, FOLL_GET);

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
 * ksmmod_ksm_page_at() - whether a KSM page is mapped at @addr (the unmerge test)
 * @vma: the mapping, mmap_lock held
 * @addr: page-aligned address in @vma
 *
 * Unlike ksmmod_get_anon_page(), a page under migration counts (the fault
 * that breaks it waits for the migration), as in mm/ksm.c's break_ksm().
 *
 * Return: true if the page there is a KSM page.
 */
static inline bool ksmmod_ksm_page_at(struct vm_area_struct *vma, unsigned long addr)
{
#ifdef KSMMOD_HAVE_FOLIO_WALK
	struct folio_walk fw;
	struct folio *folio;
	bool ksm = false;

	folio = kcall_folio_walk_start(&fw, vma, addr, FW_MIGRATION);
	if (folio) {
		/* Under the page table lock: the folio cannot go away. */
		ksm = !folio_is_zone_device(folio) && folio_test_ksm(folio);
		spin_unlock(fw.ptl);
		if (fw.level == FW_LEVEL_PTE)
			pte_unmap(fw.ptep);
		kcall_vma_pgtable_walk_end(vma);
	}
	return ksm;
#else
	struct page *page = kcall_follow_page(vma, addr, FOLL_GET | FOLL_MIGRATION | FOLL_REMOTE);
	bool ksm;

	if (IS_ERR_OR_NULL(page))
		return false;
	ksm = PageKsm(page);
	put_page(page);
	return ksm;
#endif
}

/* mmu_notifier_range_init() without the 6.1-only vma argument. */
static inline void ksmmod_mn_range_init(struct mmu_notifier_range *range, struct vm_area_struct *vma,
					unsigned long start, unsigned long end)
{
#ifdef KSMMOD_HAVE_RANGE_INIT_VMA
	mmu_notifier_range_init(range, MMU_NOTIFY_CLEAR, 0, vma, vma->vm_mm, start, end);
#else
	mmu_notifier_range_init(range, MMU_NOTIFY_CLEAR, 0, vma->vm_mm, start, end);
#endif
}

/*
 * mmu_notifier_invalidate_range_start()/_end(): the header versions refer to
 * a non-exported lockdep map and functions; these call the functions through
 * the symbol layer (without the lockdep annotation).
 */
static inline void ksmmod_mn_range_start(struct mmu_notifier_range *range)
{
	might_sleep();
	if (mm_has_notifiers(range->mm)) {
		range->flags |= MMU_NOTIFIER_RANGE_BLOCKABLE;
		kcall___mmu_notifier_invalidate_range_start(range);
	}
}

static inline void ksmmod_mn_range_end(struct mmu_notifier_range *range)
{
	might_sleep();
	if (mm_has_notifiers(range->mm))
#ifdef KSMMOD_HAVE_RANGE_END_ONLY_END
		kcall___mmu_notifier_invalidate_range_end(range, false);
#else
		kcall___mmu_notifier_invalidate_range_end(range);
#endif
}

/* pte_offset_map_lock(): out of line (and not exported) since 6.5. */
static inline pte_t *ksmmod_pte_offset_map_lock(struct mm_struct *mm, pmd_t *pmd,
						unsigned long addr, spinlock_t **ptlp)
{
#ifdef KSMMOD_HAVE_PTE_OFFSET_MAP_LOCK_FN
	return kcall___pte_offset_map_lock(mm, pmd, addr, ptlp);
#else
	return pte_offset_map_lock(mm, pmd, addr, ptlp);
#endif
}

/* Install @pte for a page that replaces another (set_pte_at_notify() before 6.9). */
static inline void ksmmod_set_pte_replace(struct mm_struct *mm, unsigned long addr, pte_t *ptep,
					  pte_t pte)
{
#ifdef KSMMOD_HAVE_MMU_NOTIFIER_CHANGE_PTE
	if (mm_has_notifiers(mm))
		kcall___mmu_notifier_change_pte(mm, addr, pte);
#endif
	set_pte_at(mm, addr, ptep, pte);
}

/* Map @page of @folio (a KSM page) at @addr: rmap side. */
static inline void ksmmod_add_anon_rmap(struct folio *folio, struct page *page,
					struct vm_area_struct *vma, unsigned long addr)
{
#ifdef KSMMOD_HAVE_FOLIO_RMAP_PTES
	kcall_folio_add_anon_rmap_ptes(folio, page, 1, vma, addr, RMAP_NONE);
#else
	kcall_page_add_anon_rmap(page, vma, addr, RMAP_NONE);
#endif
}

/* Unmap @page of @folio from one PTE: rmap side. */
static inline void ksmmod_remove_rmap(struct folio *folio, struct page *page,
				      struct vm_area_struct *vma)
{
#ifdef KSMMOD_HAVE_FOLIO_RMAP_PTES
	kcall_folio_remove_rmap_ptes(folio, page, 1, vma);
#else
	kcall_page_remove_rmap(page, vma, false);
#endif
}

/* Clear PageAnonExclusive of a page whose PTE was just cleared and flushed. */
static inline int ksmmod_try_share_anon_rmap(struct folio *folio, struct page *page)
{
#ifdef KSMMOD_HAVE_FOLIO_TRY_SHARE
	return folio_try_share_anon_rmap_pte(folio, page);
#else
	return page_try_share_anon_rmap(page);
#endif
}

/* put_anon_vma(): inline, but frees through the non-exported __put_anon_vma(). */
static inline void ksmmod_put_anon_vma(struct anon_vma *anon_vma)
{
	if (atomic_dec_and_test(&anon_vma->refcount))
		kcall___put_anon_vma(anon_vma);
}

/* split_huge_page(): an inline around a non-exported function on both kernels. */
static inline int ksmmod_split_huge_page(struct page *page)
{
#ifdef KSMMOD_HAVE_SPLIT_TO_ORDER
	return kcall_split_huge_page_to_list_to_order(page, NULL, 0);
#else
	return kcall_split_huge_page_to_list(page, NULL);
#endif
}

/* folio_mapcount(): inline on 6.12, out of line (not exported) on 6.1. */
static inline int ksmmod_folio_mapcount(struct folio *folio)
{
#ifdef KSMMOD_HAVE_FOLIO_MAPCOUNT_INLINE
	return folio_mapcount(folio);
#else
	return kcall_folio_mapcount(folio);
#endif
}

/* Set VM_MERGEABLE (mmap_lock held for write). */
static inline void ksmmod_vma_set_mergeable(struct vm_area_struct *vma)
{
#ifdef KSMMOD_HAVE_VM_FLAGS_SET
	vm_flags_set(vma, VM_MERGEABLE);
#else
	vma->vm_flags |= VM_MERGEABLE;
#endif
}

#endif /* _KSMMOD_COMPAT_H */
