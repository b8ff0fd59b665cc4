/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksmmod compat: KSM zero pages, counted by the kernel from 6.10 on and by
 * ksmmod before.
 */
#ifndef _KSMMOD_COMPAT_ZERO_H
#define _KSMMOD_COMPAT_ZERO_H

#include <linux/mm.h>

#include "ksmmod/symbols.h"

/**
 * DOC: KSM zero pages
 *
 * With use_zero_pages, an empty page is replaced by a mapping of the shared
 * zero page instead of being merged into a KSM page. As mm/ksm.c does since
 * 6.10, ksmmod marks such a PTE dirty (a zero-page PTE is never dirty
 * otherwise): that is how these mappings are told apart from ordinary
 * read-faulted zero pages when unmerging, on every kernel.
 *
 * Kernels that know KSM zero pages (6.10+) count them in mm->ksm_zero_pages
 * and in the global ksm_zero_pages, and decrement both themselves when such a
 * PTE is written to or unmapped; ksmmod increments both exactly as mm/ksm.c
 * does, so the kernel's counters (and /proc/<pid>/ksm_stat) stay right, and
 * reports the sum over its processes. Older kernels have no such counter:
 * ksmmod keeps one per process (@own), counting the zero pages it mapped
 * minus those it unmerged; there, a write or munmap by the process itself
 * is not seen until the process is unregistered or exits.
 */
static inline bool ksmmod_is_zero_pte(pte_t pte)
{
	return is_zero_pfn(pte_pfn(pte)) && pte_dirty(pte);
}

/* A KSM zero page was mapped in @mm (@own: ksmmod's count for @mm). */
static inline void ksmmod_zero_page_mapped(struct mm_struct *mm, atomic_long_t *own)
{
#ifdef KSMMOD_HAVE_KSM_ZERO_PAGES
	atomic_long_inc(kvar_ksm_zero_pages);
	atomic_long_inc(&mm->ksm_zero_pages);
#else
	atomic_long_inc(own);
#endif
}

/* ksmmod broke a KSM zero page of @mm back to a private page. */
static inline void ksmmod_zero_page_unmerged(atomic_long_t *own)
{
#ifndef KSMMOD_HAVE_KSM_ZERO_PAGES
	/* On 6.10+ the fault that copied it decremented the kernel's counts. */
	atomic_long_dec(own);
#endif
}

/* KSM zero pages mapped in @mm. */
static inline long ksmmod_zero_pages_of(struct mm_struct *mm, atomic_long_t *own)
{
#ifdef KSMMOD_HAVE_KSM_ZERO_PAGES
	return atomic_long_read(&mm->ksm_zero_pages);
#else
	return atomic_long_read(own);
#endif
}

/*
 * The fault that breaks a KSM zero page: an unshare fault copies it on 6.10+;
 * before, do_wp_page() ignores unshare faults on anything but anonymous
 * pages, and mm/ksm.c used write faults.
 */
#ifdef KSMMOD_HAVE_KSM_ZERO_PAGES
#define KSMMOD_ZERO_BREAK_FAULT	FAULT_FLAG_UNSHARE
#else
#define KSMMOD_ZERO_BREAK_FAULT	FAULT_FLAG_WRITE
#endif


/*
 * A forked child inherits its parent's KSM zero pages: from now on they are
 * counted globally too (6.10+ decrements the global count for each when it
 * is unmapped).
 */
static inline void ksmmod_zero_pages_inherit(struct mm_struct *child)
{
#ifdef KSMMOD_HAVE_KSM_ZERO_PAGES
	atomic_long_add(atomic_long_read(&child->ksm_zero_pages), kvar_ksm_zero_pages);
#endif
}

#endif /* _KSMMOD_COMPAT_ZERO_H */
