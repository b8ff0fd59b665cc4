/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksmmod whole processes: how a process registered whole (ADD_PROCESS, or
 * a fork of one) is followed into new mappings, forks and execs, and how
 * processes leave KSM (src/lifecycle.c, src/hooks.c).
 */
#ifndef _KSMMOD_PROCESS_H
#define _KSMMOD_PROCESS_H

#include "ksmmod/compat.h"

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
 * functions in KSMMOD_WATCH_HOOKS() (include/ksmmod/compat/hooks.h):
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

static_assert(MMF_DUMP_FILTER_SHIFT + MMF_DUMP_FILTER_BITS <= KSMMOD_MMF_KEEP_EXEC &&
	      KSMMOD_MMF_WHOLE < MMF_VM_MERGEABLE, "ksmmod's mm->flags bits are taken");
static_assert(!((unsigned long)KSMMOD_MMF_INIT_MASK &
		(BIT(KSMMOD_MMF_WHOLE) | BIT(KSMMOD_MMF_KEEP_EXEC))),
	      "ksmmod's mm->flags bits would be inherited");

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
	if (dropin)
		ksmmod_mm_set_merge_any(mm);
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
	ksmmod_zero_pages_inherit(child);
}


/* @mm leaves KSM: clear MMF_VM_MERGEABLE (and MMF_VM_MERGE_ANY), as __ksm_exit() does. */
static inline void ksmmod_mm_clear_ksm_flags(struct mm_struct *mm)
{
	ksmmod_mm_clear_whole(mm);
	ksmmod_mm_clear_merge_any(mm);
	ksmmod_mm_flag_clear(mm, MMF_VM_MERGEABLE);
}

#endif /* _KSMMOD_PROCESS_H */
