/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksmmod compat: mmu_notifier ranges and secondary MMUs.
 */
#ifndef _KSMMOD_COMPAT_MMU_NOTIFIER_H
#define _KSMMOD_COMPAT_MMU_NOTIFIER_H

#include <linux/mmu_notifier.h>

#include "ksmmod/symbols.h"

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

/**
 * ksmmod_flush_secondary_tlbs() - after clearing a PTE, flush device TLBs too
 * @mm: the address space
 * @addr: the page whose PTE was cleared and flushed
 *
 * What ptep_clear_flush_notify() adds to ptep_clear_flush(): up to 6.5 a
 * device sharing the address space (IOMMU SVA) keeps its translation until
 * ->invalidate_range runs, which otherwise happens only at the end of the
 * mmu_notifier range. Needed before trusting that nothing can write the
 * page while the range is still open. From 6.6 the CPU TLB flush does it.
 */
static inline void ksmmod_flush_secondary_tlbs(struct mm_struct *mm, unsigned long addr)
{
#ifdef KSMMOD_HAVE_MN_INVALIDATE_RANGE
	if (mm_has_notifiers(mm))
		kcall___mmu_notifier_invalidate_range(mm, addr, addr + PAGE_SIZE);
#endif
}

#endif /* _KSMMOD_COMPAT_MMU_NOTIFIER_H */
