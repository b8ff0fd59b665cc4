/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksmmod compat: page table entries (locking a page table, userfaultfd bits).
 */
#ifndef _KSMMOD_COMPAT_PGTABLE_H
#define _KSMMOD_COMPAT_PGTABLE_H

#include <linux/mm.h>
#include <linux/userfaultfd_k.h>

#include "ksmmod/symbols.h"

/* pte_offset_map_lock(): out of line (and not exported) since 6.5. */
static inline pte_t *ksmmod_pte_offset_map_lock(struct mm_struct *mm, pmd_t *pmd,
						unsigned long addr, spinlock_t **ptlp)
{
#if defined(KSMMOD_HAVE_PTE_OFFSET_MAP_LOCK_FN)
	return kcall___pte_offset_map_lock(mm, pmd, addr, ptlp);
#elif defined(KSMMOD_HAVE_PTE_OFFSET_MAP_LOCK_EXTERN)
	return kcall_pte_offset_map_lock(mm, pmd, addr, ptlp);
#else
	return pte_offset_map_lock(mm, pmd, addr, ptlp);
#endif
}

/*
 * The userfaultfd bit of a PTE: pte_uffd_wp()/pte_mkuffd_wp() up to 7.2;
 * 7.3 calls them pte_uffd()/pte_mkuffd(), as the bit also marks its new
 * read-write-protected (UFFDIO_RWPROTECT) PTEs. Same bit, same effect
 * (pte_mkuffd() write-protects as pte_mkuffd_wp() did).
 */
static inline bool ksmmod_pte_uffd(pte_t pte)
{
#ifdef KSMMOD_HAVE_PTE_UFFD
	return pte_uffd(pte);
#else
	return pte_uffd_wp(pte);
#endif
}

static inline pte_t ksmmod_pte_mkuffd(pte_t pte)
{
#ifdef KSMMOD_HAVE_PTE_UFFD
	return pte_mkuffd(pte);
#else
	return pte_mkuffd_wp(pte);
#endif
}

/*
 * Whether @pte is read-write-protected by userfaultfd (7.3's
 * UFFDIO_RWPROTECT: PROT_NONE plus the uffd bit, in a VM_UFFD_RWP mapping).
 */
static inline bool ksmmod_pte_uffd_rwp(struct vm_area_struct *vma, pte_t pte)
{
#ifdef KSMMOD_HAVE_UFFD_RWP
	return userfaultfd_pte_rwp(vma, pte);
#else
	return false;
#endif
}

#endif /* _KSMMOD_COMPAT_PGTABLE_H */
