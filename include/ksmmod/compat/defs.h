/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksmmod compat: definitions and mm flag accessors that differ between kernels
 * and need no kernel function (include/ksmmod/compat.h says how the compat
 * layer is organised).
 */
#ifndef _KSMMOD_COMPAT_DEFS_H
#define _KSMMOD_COMPAT_DEFS_H

#include <linux/ftrace.h>
#include <linux/mm.h>
#include <linux/sched/coredump.h>
#include <asm/ibt.h>

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

/* Make an ftrace callback with FTRACE_OPS_FL_IPMODIFY return into @ip. */
#ifdef ftrace_regs_set_instruction_pointer
#define ksmmod_ftrace_set_ip(fregs, ip)	ftrace_regs_set_instruction_pointer(fregs, ip)
#else
#define ksmmod_ftrace_set_ip(fregs, ip)	ftrace_instruction_pointer_set(fregs, ip)
#endif

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

/* 6.12+ drop-in mode: the kernel's own MMF_VM_MERGE_ANY passes a whole registration on. */
static inline void ksmmod_mm_set_merge_any(struct mm_struct *mm)
{
#ifdef MMF_VM_MERGE_ANY
	ksmmod_mm_flag_set(mm, MMF_VM_MERGE_ANY);
#endif
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


/* Set VM_MERGEABLE (mmap_lock held for write). */
static inline void ksmmod_vma_set_mergeable(struct vm_area_struct *vma)
{
#ifdef KSMMOD_HAVE_VM_FLAGS_SET
	vm_flags_set(vma, VM_MERGEABLE);
#else
	vma->vm_flags |= VM_MERGEABLE;
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

#endif /* _KSMMOD_COMPAT_DEFS_H */
