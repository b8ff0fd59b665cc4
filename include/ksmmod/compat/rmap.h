/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksmmod compat: the rmap side of mapping and unmapping pages, anon_vma
 * references, huge page splits, mapcounts and RSS counters.
 */
#ifndef _KSMMOD_COMPAT_RMAP_H
#define _KSMMOD_COMPAT_RMAP_H

#include <linux/huge_mm.h>
#include <linux/mm.h>
#include <linux/rmap.h>

#include "ksmmod/symbols.h"

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

/*
 * get_anon_vma(): a public inline up to 6.x; 7.x moved it to mm/internal.h
 * with the same body.
 */
static inline void ksmmod_get_anon_vma(struct anon_vma *anon_vma)
{
#ifdef KSMMOD_HAVE_ANON_VMA_REFS
	get_anon_vma(anon_vma);
#else
	atomic_inc(&anon_vma->refcount);
#endif
}

/* put_anon_vma(): inline, but frees through the non-exported __put_anon_vma(). */
static inline void ksmmod_put_anon_vma(struct anon_vma *anon_vma)
{
	if (atomic_dec_and_test(&anon_vma->refcount))
		kcall___put_anon_vma(anon_vma);
}

/*
 * split_huge_page(): an inline around a non-exported function where THP is
 * configured; without THP the headers' stub warns and fails, and so would
 * this (it is only called for large folios, which need THP).
 */
static inline int ksmmod_split_huge_page(struct page *page)
{
#if !IS_ENABLED(CONFIG_TRANSPARENT_HUGEPAGE)
	WARN_ON_ONCE(1);
	return -EINVAL;
#elif defined(KSMMOD_HAVE_SPLIT_TO_ORDER_FN)
	return kcall___split_huge_page_to_list_to_order(page, NULL, 0);
#elif defined(KSMMOD_HAVE_SPLIT_TO_ORDER)
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

/* dec_mm_counter(@mm, MM_ANONPAGES): an anonymous page was replaced by the zero page. */
static inline void ksmmod_dec_mm_anonpages(struct mm_struct *mm)
{
#ifdef KSMMOD_HAVE_PERCPU_RSS
	percpu_counter_dec(&mm->rss_stat[MM_ANONPAGES]);
	kcall_mm_trace_rss_stat(mm, MM_ANONPAGES);
#else
	long count = atomic_long_dec_return(&mm->rss_stat.count[MM_ANONPAGES]);

	kcall_mm_trace_rss_stat(mm, MM_ANONPAGES, count);
#endif
}

#endif /* _KSMMOD_COMPAT_RMAP_H */
