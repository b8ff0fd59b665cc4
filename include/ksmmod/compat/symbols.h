/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksmmod compat: the non-exported kernel functions whose name, prototype or
 * presence differs between kernels, as X-macro lists for the symbol layer
 * (include/ksmmod/symbols.h).
 */
#ifndef _KSMMOD_COMPAT_SYMBOLS_H
#define _KSMMOD_COMPAT_SYMBOLS_H

/* Whose declarations the build checks the prototypes of the lists against. */
#include <linux/ftrace.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/rmap.h>
#include <linux/huge_mm.h>
#include <linux/swap.h>
#include <linux/swapops.h>
#include <linux/pagewalk.h>
#include <linux/userfaultfd_k.h>
#ifdef KSMMOD_HAVE_SOFTLEAF
#include <linux/leafops.h>
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

#if defined(KSMMOD_HAVE_PTE_OFFSET_MAP_LOCK_FN)
/* 6.5+: pte_offset_map_lock() is an inline around this out-of-line helper. */
#define KSMMOD_SYMBOLS_PTE(X)						\
	X(pte_t *, __pte_offset_map_lock, (struct mm_struct *mm, pmd_t *pmd,	\
	  unsigned long addr, spinlock_t **ptlp), 1)
#elif defined(KSMMOD_HAVE_PTE_OFFSET_MAP_LOCK_EXTERN)
/* 7.x: pte_offset_map_lock() itself is out of line (mm/pgtable-generic.c). */
#define KSMMOD_SYMBOLS_PTE(X)						\
	X(pte_t *, pte_offset_map_lock, (struct mm_struct *mm, pmd_t *pmd,	\
	  unsigned long addr, spinlock_t **ptlp), 1)
#else
#define KSMMOD_SYMBOLS_PTE(X)
#endif

#if !IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE)
/*
 * Kernels without THP (Debian's PREEMPT_RT flavour) have no split function,
 * and no large anonymous folio to split: ksmmod_split_huge_page() is never
 * reached there.
 */
#define KSMMOD_SYMBOLS_SPLIT(X)
#elif defined(KSMMOD_HAVE_SPLIT_TO_ORDER_FN)
/* 7.x: split_huge_page_to_list_to_order() is an inline around this. */
#define KSMMOD_SYMBOLS_SPLIT(X)						\
	X(int, __split_huge_page_to_list_to_order, (struct page *page,	\
	  struct list_head *list, unsigned int new_order), 1)
#elif defined(KSMMOD_HAVE_SPLIT_TO_ORDER)
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

#ifdef KSMMOD_HAVE_PERCPU_RSS
/* 6.2+: RSS counters are per-CPU; the trace hook of dec_mm_counter() is out of line. */
#define KSMMOD_SYMBOLS_RSS(X)						\
	X(void, mm_trace_rss_stat, (struct mm_struct *mm, int member), 1)
#else
#define KSMMOD_SYMBOLS_RSS(X)						\
	X(void, mm_trace_rss_stat, (struct mm_struct *mm, int member, long count), 1)
#endif

#ifdef KSMMOD_HAVE_MN_INVALIDATE_RANGE
/*
 * Up to 6.5, secondary TLBs (IOMMU SVA: Intel SVM, AMD IOMMUv2) are flushed
 * through mmu_notifier ->invalidate_range, not by the CPU TLB flush.
 */
#define KSMMOD_SYMBOLS_SECTLB(X)					\
	X(void, __mmu_notifier_invalidate_range, (struct mm_struct *mm,		\
	  unsigned long start, unsigned long end), 1)
#else
#define KSMMOD_SYMBOLS_SECTLB(X)
#endif

#ifdef KSMMOD_HAVE_ANON_VMA_REFS
#define KSMMOD_SYMBOLS_ANON_VMA(X)					\
	X(void, __put_anon_vma, (struct anon_vma *anon_vma), 1)
#else
/* 7.x: get_anon_vma()/put_anon_vma() and this moved to mm/internal.h. */
#define KSMMOD_SYMBOLS_ANON_VMA(X)					\
	X(void, __put_anon_vma, (struct anon_vma *anon_vma), 0)
#endif

#define KSMMOD_SYMBOLS_COMPAT(X)					\
	KSMMOD_SYMBOLS_WALK(X)							\
	KSMMOD_SYMBOLS_ANON_VMA(X)						\
	KSMMOD_SYMBOLS_RSS(X)							\
	KSMMOD_SYMBOLS_MAPCOUNT(X)						\
	KSMMOD_SYMBOLS_RMAP(X)							\
	KSMMOD_SYMBOLS_PTE(X)							\
	KSMMOD_SYMBOLS_SPLIT(X)							\
	KSMMOD_SYMBOLS_NOTIFY(X)						\
	KSMMOD_SYMBOLS_SECTLB(X)

#ifdef KSMMOD_HAVE_KSM_ZERO_PAGES
/* 6.10+: the kernel's count of zero pages mapped by KSM (see ksmmod_zero_page_mapped()). */
#define KSMMOD_DATA_SYMBOLS_COMPAT(X)					\
	X(atomic_long_t, ksm_zero_pages)
#else
#define KSMMOD_DATA_SYMBOLS_COMPAT(X)
#endif

#endif /* _KSMMOD_COMPAT_SYMBOLS_H */
