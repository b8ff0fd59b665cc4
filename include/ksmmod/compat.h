/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksmmod compat layer: the one place where differences between the kernels
 * ksmmod supports are handled.
 *
 * The KSMMOD_HAVE_* macros come from build-time probes of the target kernel's
 * headers (compat.mk), never from version numbers: Debian backports and
 * stable updates move functions independently of LINUX_VERSION_CODE.
 *
 * Supported: Debian 12's stock 6.1 and 6.12 amd64 kernels. The module also
 * builds against Debian 13's 6.12 (including PREEMPT_RT, without THP),
 * trixie-backports' 7.3 and sid's 7.2 (scripts/chroot.sh); it has not been
 * run there yet.
 */
#ifndef _KSMMOD_COMPAT_H
#define _KSMMOD_COMPAT_H

#include <linux/ftrace.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/rmap.h>
#include <linux/huge_mm.h>
#include <linux/swap.h>
#include <linux/swapops.h>
#include <linux/pagewalk.h>
#include <linux/userfaultfd_k.h>
#include <asm/ibt.h>
#ifdef KSMMOD_HAVE_SOFTLEAF
#include <linux/leafops.h>
#endif

/**
 * ksmmod_endbr_poison() - what a sealed function starts with
 *
 * With CONFIG_X86_KERNEL_IBT the kernel overwrites the ENDBR64 of every
 * function whose address it never takes with a 4-byte NOP at boot
 * ("sealing"): 66 0f 1f 00 (osp nopl (%rax)) up to 6.x, 0f 1f 40 d6
 * (nopl -42(%rax)) on 7.x. The target's asm/ibt.h says which.
 *
 * Return: the NOP as a little-endian 32-bit word (0 without IBT).
 */
static inline u32 ksmmod_endbr_poison(void)
{
#ifdef CONFIG_X86_KERNEL_IBT
	return gen_endbr_poison();
#else
	return 0;
#endif
}

/*
 * The low bits of folio->mapping that mark an anonymous page and a KSM page:
 * PAGE_MAPPING_* up to 6.x, FOLIO_MAPPING_* (same values) on 7.x.
 */
#ifdef FOLIO_MAPPING_KSM
#define KSMMOD_MAPPING_KSM	FOLIO_MAPPING_KSM
#define KSMMOD_MAPPING_FLAGS	FOLIO_MAPPING_FLAGS
#else
#define KSMMOD_MAPPING_KSM	PAGE_MAPPING_KSM
#define KSMMOD_MAPPING_FLAGS	PAGE_MAPPING_FLAGS
#endif

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
#if defined(KSMMOD_HAVE_PTE_OFFSET_MAP_LOCK_FN)
	return kcall___pte_offset_map_lock(mm, pmd, addr, ptlp);
#elif defined(KSMMOD_HAVE_PTE_OFFSET_MAP_LOCK_EXTERN)
	return kcall_pte_offset_map_lock(mm, pmd, addr, ptlp);
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

/* Make an ftrace callback with FTRACE_OPS_FL_IPMODIFY return into @ip. */
#ifdef ftrace_regs_set_instruction_pointer
#define ksmmod_ftrace_set_ip(fregs, ip)	ftrace_regs_set_instruction_pointer(fregs, ip)
#else
#define ksmmod_ftrace_set_ip(fregs, ip)	ftrace_instruction_pointer_set(fregs, ip)
#endif

/**
 * DOC: Whole processes: new mappings, fork, exec
 *
 * A process registered whole (ADD_PROCESS) has every new private anonymous
 * mapping made VM_MERGEABLE as it is created, as prctl(PR_SET_MEMORY_MERGE)
 * does; fork passes the registration on, exec only with
 * KSMMOD_PROCESS_KEEP_EXEC. ksmmod marks such an mm with two bits of
 * mm->flags that neither kernel uses, between the core dump filter and
 * MMF_VM_MERGEABLE: KSMMOD_MMF_WHOLE and KSMMOD_MMF_KEEP_EXEC. They are
 * outside MMF_INIT_MASK (7.x: MMF_INIT_LEGACY_MASK), so neither fork nor
 * exec copies them (the top 32 bits would not do: 6.12's MMF_INIT_MASK is
 * a negative int, which mmf_init_flags() sign-extends; 7.x copies only
 * the legacy mask of the first word). 7.x still leaves bits 11-15 unused
 * ("room for more dump flags"). src/hooks.c watches the entries of the
 * functions in KSMMOD_WATCH_HOOKS() below:
 *
 * - new mappings, both kernels and modes: mmap_region() and do_brk_flags(),
 *   the only two functions that create anonymous mappings from nothing, get
 *   VM_MERGEABLE added to the vm_flags they are about to use, so the new
 *   mapping is mergeable from the start and merges with its mergeable
 *   neighbours (a brk heap stays one mapping; 6.12's own MMF_VM_MERGE_ANY
 *   marks a mapping only after trying to merge it, so there each growth of
 *   a PR_SET_MEMORY_MERGE process's heap is a mapping of its own);
 * - exec: begin_new_exec() hands a KEEP_EXEC registration to the new mm,
 *   except on 6.12 in drop-in mode, where ksmmod also sets the kernel's
 *   MMF_VM_MERGE_ANY, exec copies it and calls __ksm_enter() for the new mm
 *   (ksm_execve()), which drop-in mode serves (without drop-in mode
 *   MMF_VM_MERGE_ANY would hand the new program to the kernel's KSM);
 * - fork: in drop-in mode ksm_fork() calls __ksm_enter() for the child;
 *   with dropin=0, wake_up_new_task(): the child is complete but has not
 *   run, so ksmmod can queue its registration as task_work that runs before
 *   the child's first user instruction (CLONE_VM children share the
 *   registered mm and need nothing).
 */
#define KSMMOD_MMF_WHOLE	15
#define KSMMOD_MMF_KEEP_EXEC	14

/*
 * The mm->flags bits fork copies to the child (mm_init()): MMF_INIT_MASK up
 * to 6.x; 7.x copies MMF_INIT_LEGACY_MASK of the first word (and clears
 * the rest of its bitmap).
 */
#ifdef MMF_INIT_LEGACY_MASK
#define KSMMOD_MMF_INIT_MASK	MMF_INIT_LEGACY_MASK
#else
#define KSMMOD_MMF_INIT_MASK	MMF_INIT_MASK
#endif

static_assert(MMF_DUMP_FILTER_SHIFT + MMF_DUMP_FILTER_BITS <= KSMMOD_MMF_KEEP_EXEC &&
	      KSMMOD_MMF_WHOLE < MMF_VM_MERGEABLE, "ksmmod's mm->flags bits are taken");
static_assert(!((unsigned long)KSMMOD_MMF_INIT_MASK &
		(BIT(KSMMOD_MMF_WHOLE) | BIT(KSMMOD_MMF_KEEP_EXEC))),
	      "ksmmod's mm->flags bits would be inherited");

/*
 * mm->flags is an unsigned long up to 6.x; 7.x makes it an opaque bitmap
 * (mm_flags_t, same bit numbers) reached only through mm_flags_*(). These
 * are atomic bit operations on both, and callable from ftrace callbacks.
 */
static inline bool ksmmod_mm_flag_test(struct mm_struct *mm, int bit)
{
#ifdef KSMMOD_HAVE_MM_FLAGS_BITMAP
	return mm_flags_test(bit, mm);
#else
	return test_bit(bit, &mm->flags);
#endif
}

static inline void ksmmod_mm_flag_set(struct mm_struct *mm, int bit)
{
#ifdef KSMMOD_HAVE_MM_FLAGS_BITMAP
	mm_flags_set(bit, mm);
#else
	set_bit(bit, &mm->flags);
#endif
}

static inline void ksmmod_mm_flag_clear(struct mm_struct *mm, int bit)
{
#ifdef KSMMOD_HAVE_MM_FLAGS_BITMAP
	mm_flags_clear(bit, mm);
#else
	clear_bit(bit, &mm->flags);
#endif
}

/* Hook modes (src/hooks.c): installed with dropin=1, with dropin=0, or both. */
#define KSMMOD_HOOK_DROPIN	BIT(0)
#define KSMMOD_HOOK_NO_DROPIN	BIT(1)
#define KSMMOD_HOOK_ALWAYS	(KSMMOD_HOOK_DROPIN | KSMMOD_HOOK_NO_DROPIN)

/*
 * X(kernel function, ksmmod's entry callback, modes), see "Whole processes"
 * above. begin_new_exec() is declared in linux/binfmts.h, wake_up_new_task()
 * in linux/sched.h (prototypes checked by src/hooks.c). mmap_region() has
 * the new mapping's flags fourth, do_brk_flags() fifth: 6.1 (struct
 * ma_state *, struct vm_area_struct *, addr, len, flags), 6.12 and 7.x
 * (struct vma_iterator *, ...); do_brk_flags() is static in mm/mmap.c up to
 * 6.12. Up to 6.x the flags are a vm_flags_t and linux/mm.h declares
 * mmap_region() (checked below). 7.x declares both functions only in
 * mm/vma.h and passes a vma_flags_t: a bitmap of one word, whose word is
 * the legacy vm_flags (vma_flags_to_legacy()), in the same register.
 */
#ifdef KSMMOD_HAVE_MMAP_REGION_DECL
static_assert(__same_type(&mmap_region,
			  unsigned long (*)(struct file *, unsigned long, unsigned long,
					    vm_flags_t, unsigned long, struct list_head *)));
#else
static_assert(sizeof(vma_flags_t) == sizeof(unsigned long) &&
	      sizeof(vm_flags_t) == sizeof(unsigned long),
	      "the new mapping's flags are no longer one register");
#endif
#ifdef MMF_VM_MERGE_ANY
#define KSMMOD_EXEC_HOOK_MODES	KSMMOD_HOOK_NO_DROPIN	/* drop-in: ksm_execve() */
#else
#define KSMMOD_EXEC_HOOK_MODES	KSMMOD_HOOK_ALWAYS
#endif
#define KSMMOD_WATCH_HOOKS(X)							\
	X(mmap_region, ksmmod_watch_mmap_region, KSMMOD_HOOK_ALWAYS)		\
	X(do_brk_flags, ksmmod_watch_do_brk_flags, KSMMOD_HOOK_ALWAYS)		\
	X(begin_new_exec, ksmmod_watch_begin_new_exec, KSMMOD_EXEC_HOOK_MODES)	\
	X(wake_up_new_task, ksmmod_watch_wake_up_new_task, KSMMOD_HOOK_NO_DROPIN)

/**
 * ksmmod_mm_set_whole() - @mm is registered whole: new mappings, fork, exec
 * @mm: the address space
 * @keep_exec: exec passes the registration on (KSMMOD_PROCESS_KEEP_EXEC)
 * @dropin: drop-in mode: on 6.12 the kernel's MMF_VM_MERGE_ANY does the work
 */
static inline void ksmmod_mm_set_whole(struct mm_struct *mm, bool keep_exec, bool dropin)
{
	ksmmod_mm_flag_set(mm, KSMMOD_MMF_WHOLE);
	if (keep_exec)
		ksmmod_mm_flag_set(mm, KSMMOD_MMF_KEEP_EXEC);
	else
		ksmmod_mm_flag_clear(mm, KSMMOD_MMF_KEEP_EXEC);
#ifdef MMF_VM_MERGE_ANY
	if (dropin)
		ksmmod_mm_flag_set(mm, MMF_VM_MERGE_ANY);
#endif
}

/* Whether @mm is registered whole (callable from ftrace callbacks). */
static inline bool ksmmod_mm_whole(struct mm_struct *mm)
{
	return ksmmod_mm_flag_test(mm, KSMMOD_MMF_WHOLE);
}

/* Whether exec passes @mm's whole registration on. */
static inline bool ksmmod_mm_keep_exec(struct mm_struct *mm)
{
	return ksmmod_mm_flag_test(mm, KSMMOD_MMF_KEEP_EXEC);
}

/* @mm is no longer followed by ksmmod (its own bits only). */
static inline void ksmmod_mm_clear_whole(struct mm_struct *mm)
{
	ksmmod_mm_flag_clear(mm, KSMMOD_MMF_WHOLE);
	ksmmod_mm_flag_clear(mm, KSMMOD_MMF_KEEP_EXEC);
}

/*
 * Clear MMF_VM_MERGE_ANY where ksmmod set it, or 6.12's exec copied it from
 * a ksmmod process: never for an mm the kernel's KSM has (that is its flag).
 */
static inline void ksmmod_mm_clear_merge_any(struct mm_struct *mm)
{
#ifdef MMF_VM_MERGE_ANY
	ksmmod_mm_flag_clear(mm, MMF_VM_MERGE_ANY);
#endif
}

/**
 * ksmmod_mm_fork_counts() - what ksm_fork() does for a child it enters
 * @child: the new mm of a fork whose parent is not in any KSM by its flags
 *	(dropin=0), before the child runs
 *
 * dup_mm() copied the parent's KSM counters: the child has merged no page
 * yet, and the KSM zero pages it inherited are counted globally from now on
 * (6.10+ decrements the global count for each when it is unmapped).
 */
static inline void ksmmod_mm_fork_counts(struct mm_struct *child)
{
	child->ksm_merging_pages = 0;
	child->ksm_rmap_items = 0;
#ifdef KSMMOD_HAVE_KSM_ZERO_PAGES
	atomic_long_add(atomic_long_read(&child->ksm_zero_pages), kvar_ksm_zero_pages);
#endif
}

/**
 * ksmmod_enter_is_exec() - whether __ksm_enter() of @mm comes from exec
 * @mm: a new mm that is not current's
 *
 * On kernels with ksm_execve() (6.12), __ksm_enter() gets a new mm from
 * fork, after dup_mmap() copied the parent's mappings (ksm_fork() is at its
 * end), or from exec, before anything is mapped (__bprm_mm_init()). The
 * exec flag of the task (in_execve) is set only later. Older kernels (6.1)
 * never call it from exec, and call ksm_fork() before copying.
 *
 * Return: true for exec.
 */
static inline bool ksmmod_enter_is_exec(struct mm_struct *mm)
{
#ifdef KSMMOD_HAVE_KSM_EXECVE
	return !mm->map_count;
#else
	return false;
#endif
}

/* @mm leaves KSM: clear MMF_VM_MERGEABLE (and MMF_VM_MERGE_ANY), as __ksm_exit() does. */
static inline void ksmmod_mm_clear_ksm_flags(struct mm_struct *mm)
{
	ksmmod_mm_clear_whole(mm);
	ksmmod_mm_clear_merge_any(mm);
	ksmmod_mm_flag_clear(mm, MMF_VM_MERGEABLE);
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

/* Set VM_MERGEABLE (mmap_lock held for write). */
static inline void ksmmod_vma_set_mergeable(struct vm_area_struct *vma)
{
#ifdef KSMMOD_HAVE_VM_FLAGS_SET
	vm_flags_set(vma, VM_MERGEABLE);
#else
	vma->vm_flags |= VM_MERGEABLE;
#endif
}

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
	pmd_t *pmd, pmde;

	pmd = kcall_mm_find_pmd(mm, addr);
	if (!pmd)
		return NULL;
	pmde = READ_ONCE(*pmd);
	barrier();
	if (!pmd_present(pmde) || pmd_trans_huge(pmde))
		return NULL;
	return ksmmod_pte_offset_map_lock(mm, pmd, addr, ptlp);
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

/* Clear VM_MERGEABLE (mmap_lock held for write). */
static inline void ksmmod_vma_clear_mergeable(struct vm_area_struct *vma)
{
#ifdef KSMMOD_HAVE_VM_FLAGS_SET
	vm_flags_clear(vma, VM_MERGEABLE);
#else
	vma->vm_flags &= ~VM_MERGEABLE;
#endif
}

#endif /* _KSMMOD_COMPAT_H */
