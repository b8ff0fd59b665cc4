/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksmmod compat: the kernel functions whose entry the drop-in and watch
 * hooks (src/hooks.c) take, with the kernels that need each; the design is
 * in include/ksmmod/process.h.
 */
#ifndef _KSMMOD_COMPAT_HOOKS_H
#define _KSMMOD_COMPAT_HOOKS_H

#include <linux/binfmts.h>
#include <linux/mm.h>
#include <linux/sched.h>

/* Hook modes (src/hooks.c): installed with dropin=1, with dropin=0, or both. */
#define KSMMOD_HOOK_DROPIN	BIT(0)
#define KSMMOD_HOOK_NO_DROPIN	BIT(1)
#define KSMMOD_HOOK_ALWAYS	(KSMMOD_HOOK_DROPIN | KSMMOD_HOOK_NO_DROPIN)

/*
 * X(kernel function, ksmmod's entry callback, modes), see "Whole processes"
 * in include/ksmmod/process.h. begin_new_exec() is declared in linux/binfmts.h, wake_up_new_task()
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

#endif /* _KSMMOD_COMPAT_HOOKS_H */
