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

/*
 * Non-exported kernel functions that only exist on some kernels, in the
 * format of KSMMOD_SYMBOLS() (include/ksmmod/symbols.h):
 * X(return type, name, (parameters), declared in the public headers?)
 */
#ifdef KSMMOD_HAVE_FOLIO_WALK
/* 6.12: follow_page() is gone; folio_walk_start() replaces it. */
#define KSMMOD_SYMBOLS_WALK(X)						\
	X(struct folio *, folio_walk_start, (struct folio_walk *fw,		\
	  struct vm_area_struct *vma, unsigned long addr,			\
	  folio_walk_flags_t flags), 1)
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

#define KSMMOD_SYMBOLS_COMPAT(X)					\
	KSMMOD_SYMBOLS_WALK(X)							\
	KSMMOD_SYMBOLS_RMAP(X)							\
	KSMMOD_SYMBOLS_PTE(X)							\
	KSMMOD_SYMBOLS_SPLIT(X)							\
	KSMMOD_SYMBOLS_NOTIFY(X)

#endif /* _KSMMOD_COMPAT_H */
