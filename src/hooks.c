// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod hooks: drop-in mode, where the kernel's own KSM entry points lead
 * to ksmmod.
 *
 * DOC: Drop-in mode
 *
 * Every way into the kernel's KSM goes through one function, __ksm_enter():
 * madvise(MADV_MERGEABLE) (ksm_madvise()), prctl(PR_SET_MEMORY_MERGE)
 * (ksm_enable_merge_any(), 6.4+), fork of a process in KSM (ksm_fork()) and,
 * on 6.12, exec of a process with PR_SET_MEMORY_MERGE (ksm_execve()). The
 * way out is __ksm_exit(), called from __mmput() for such processes. With
 * the module parameter dropin=1 (the default), ksmmod puts an ftrace hook on
 * both that redirects them (FTRACE_OPS_FL_IPMODIFY) to ksmmod's own
 * versions, ksmmod_registry_enter() and ksmmod_registry_exit_mm():
 *
 * - unmodified programs (QEMU's mem-merge, systemd's MemoryKSM=, the
 *   kernel's KSM selftests) use ksmmod without knowing it, with the
 *   kernel's own semantics for everything else: ksm_madvise() still decides
 *   which mappings are VM_MERGEABLE, MADV_UNMERGEABLE and PR_SET_MEMORY_MERGE
 *   0 still break merged pages with the kernel's break_ksm() (which handles
 *   ksmmod's KSM pages like its own), 6.4+ still marks new mappings of a
 *   PR_SET_MEMORY_MERGE process VM_MERGEABLE, fork copies the flags;
 * - the kernel's ksmd never gets one of these processes: its list stays
 *   as it was when ksmmod was loaded (empty, normally);
 * - an exiting process's metadata is freed at once.
 *
 * A process the kernel's KSM already had before ksmmod was loaded still
 * exits through the real __ksm_exit(): ksmmod calls it through the symbol
 * layer, and the hook lets calls from ksmmod itself through. The
 * replacements count themselves in and out, so unloading waits until no
 * task is inside one. On unload the hooks go first; ksmmod's processes then
 * leave KSM (MMF_VM_MERGEABLE and MMF_VM_MERGE_ANY cleared, mappings left
 * VM_MERGEABLE): a later madvise()/prctl() of theirs reaches the kernel's
 * KSM, or ksmmod again once it is reloaded.
 *
 * Hooks call nothing by address: ftrace moves the instruction pointer to
 * the replacement and returns into it, and the replacement is an ordinary
 * (ENDBR-marked) function of this module, so IBT has nothing to object to.
 *
 * DOC: Watch hooks
 *
 * On kernels without MMF_VM_MERGE_ANY (6.1), drop-in mode also puts ftrace
 * callbacks on the entries of the functions in KSMMOD_WATCH_HOOKS()
 * (include/ksmmod/compat.h, "Whole processes"). They observe and replace
 * nothing: the callback runs before the function's first instruction and
 * may only widen an argument, adding VM_MERGEABLE to the vm_flags of a
 * private anonymous mapping about to be created for a process registered
 * whole, which is what 6.4+'s ksm_add_vma() achieves (6.1's x86-64 ftrace
 * restores the argument registers from the saved pt_regs). A missing or
 * untraceable function fails the load, naming it. For exec with
 * KSMMOD_PROCESS_KEEP_EXEC, the begin_new_exec() callback (which cannot
 * sleep) marks the new mm and queues a task_work that registers it when the
 * task returns to user space, before the new program's first instruction;
 * a module reference keeps ksmmod loaded until then.
 */
#include <linux/atomic.h>
#include <linux/binfmts.h>
#include <linux/ftrace.h>
#include <linux/ksm.h>
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/task_work.h>
#include <linux/wait.h>

#include "ksmmod/ksmmod.h"
#include "ksmmod/registry.h"
#include "ksmmod/symbols.h"

static bool dropin = true;
module_param(dropin, bool, 0444);
MODULE_PARM_DESC(dropin,
		 "serve madvise(MADV_MERGEABLE) and prctl(PR_SET_MEMORY_MERGE) instead of the kernel's KSM (default 1)");

static bool ksmmod_hooks_on;
static atomic_t ksmmod_hooks_inflight = ATOMIC_INIT(0);
static DECLARE_WAIT_QUEUE_HEAD(ksmmod_hooks_wait);

/* Whether the drop-in hooks are installed (set at load, cleared at unload). */
bool ksmmod_dropin_active(void)
{
	return READ_ONCE(ksmmod_hooks_on);
}

static void ksmmod_hook_in(void)
{
	atomic_inc(&ksmmod_hooks_inflight);
}

static void ksmmod_hook_out(void)
{
	if (atomic_dec_and_test(&ksmmod_hooks_inflight))
		wake_up_all(&ksmmod_hooks_wait);
}

/* Replaces __ksm_enter(). */
static int ksmmod_ksm_enter(struct mm_struct *mm)
{
	int err;

	ksmmod_hook_in();
	err = ksmmod_registry_enter(mm);
	ksmmod_hook_out();
	return err;
}

/* Replaces __ksm_exit(). */
static void ksmmod_ksm_exit(struct mm_struct *mm)
{
	ksmmod_hook_in();
	if (!ksmmod_registry_exit_mm(mm))
		kcall___ksm_exit(mm);	/* the kernel's KSM has it */
	ksmmod_hook_out();
}

static_assert(__same_type(&ksmmod_ksm_enter, &__ksm_enter));
static_assert(__same_type(&ksmmod_ksm_exit, &__ksm_exit));

/**
 * struct ksmmod_hook - one redirected or watched kernel function
 * @name: the kernel function
 * @replacement: ksmmod's function with the same prototype (NULL: a watch
 *	hook, whose @ops.func does the work)
 * @ops: the ftrace registration
 * @registered: @ops is registered
 */
struct ksmmod_hook {
	const char *name;
	void *replacement;
	struct ftrace_ops ops;
	bool registered;
};

static void notrace ksmmod_hook_redirect(unsigned long ip, unsigned long parent_ip,
					 struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	struct ksmmod_hook *h = container_of(ops, struct ksmmod_hook, ops);

	/* ksmmod calling the original (kcall___ksm_exit()) goes through. */
	if (within_module(parent_ip, THIS_MODULE))
		return;
	ksmmod_ftrace_set_ip(fregs, (unsigned long)h->replacement);
}

#define KSMMOD_HOOK(_name, _fn)							\
	{									\
		.name = #_name,							\
		.replacement = _fn,						\
		.ops = {							\
			.func = ksmmod_hook_redirect,				\
			.flags = FTRACE_OPS_FL_SAVE_REGS |			\
				 FTRACE_OPS_FL_RECURSION |			\
				 FTRACE_OPS_FL_IPMODIFY,			\
		},								\
	}

#ifdef KSMMOD_NEED_WATCH_HOOKS
static_assert(__same_type(&mmap_region,
			  unsigned long (*)(struct file *, unsigned long, unsigned long,
					    vm_flags_t, unsigned long, struct list_head *)));
static_assert(__same_type(&begin_new_exec, int (*)(struct linux_binprm *)));

/* vm_flags that make a mapping unmergeable, as in mm/ksm.c's vma_ksm_compatible(). */
#define KSMMOD_UNMERGEABLE_VM_FLAGS						\
	(VM_SHARED | VM_MAYSHARE | VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_HUGETLB |	\
	 VM_MIXEDMAP | KSMMOD_VM_DROPPABLE)

/* The current process is registered whole: its new mappings are mergeable. */
static bool notrace ksmmod_current_merge_any(void)
{
	struct mm_struct *mm = current->mm;

	return mm && ksmmod_mm_merge_any(mm);
}

/*
 * Entry of mmap_region(file, addr, len, vm_flags, pgoff, uf), mmap_lock
 * held for write: a private anonymous mapping (no file; a shared anonymous
 * one has VM_SHARED) gets VM_MERGEABLE before it is merged or created.
 * x86-64: @file in %rdi, @vm_flags in %rcx.
 */
static void notrace ksmmod_watch_mmap_region(unsigned long ip, unsigned long parent_ip,
					     struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	struct pt_regs *regs = ftrace_get_regs(fregs);

	if (!regs || regs->di || (regs->cx & KSMMOD_UNMERGEABLE_VM_FLAGS) ||
	    !ksmmod_current_merge_any())
		return;
	regs->cx |= VM_MERGEABLE;
}

/*
 * Entry of 6.1's do_brk_flags(mas, vma, addr, len, flags), mmap_lock held
 * for write: brk memory is always private anonymous. With VM_MERGEABLE in
 * @flags (%r8) the growth extends a mergeable brk mapping in place.
 */
static void notrace ksmmod_watch_do_brk_flags(unsigned long ip, unsigned long parent_ip,
					      struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	struct pt_regs *regs = ftrace_get_regs(fregs);

	if (!regs || (regs->r8 & KSMMOD_UNMERGEABLE_VM_FLAGS) || !ksmmod_current_merge_any())
		return;
	regs->r8 |= VM_MERGEABLE;
}

/**
 * struct ksmmod_exec_work - registering an exec'd process (KEEP_EXEC, 6.1)
 * @cb: the task_work
 * @mm: the new mm (mmgrab()ed), to tell a completed exec from a failed one
 */
struct ksmmod_exec_work {
	struct callback_head cb;
	struct mm_struct *mm;
};

static void ksmmod_exec_work_fn(struct callback_head *cb)
{
	struct ksmmod_exec_work *w = container_of(cb, struct ksmmod_exec_work, cb);
	int err;

	/* Not after a failed exec, nor on the way out (exit_task_work()). */
	if (current->mm == w->mm) {
		err = ksmmod_register(0, 0, TASK_SIZE_MAX, KSMMOD_REG_WHOLE | KSMMOD_REG_KEEP_EXEC);
		if (err)
			pr_warn_ratelimited("pid %d (%s): cannot keep it registered across exec (%d)\n",
					    task_pid_nr(current), current->comm, err);
	}
	mmdrop(w->mm);
	kfree(w);
	ksmmod_hook_out();
	/* synchronize_rcu_tasks() at unload covers the return from here. */
	module_put(THIS_MODULE);
}

/*
 * Entry of begin_new_exec(bprm): current->mm is still the old mm,
 * bprm->mm the new one. x86-64: @bprm in %rdi.
 */
static void notrace ksmmod_watch_begin_new_exec(unsigned long ip, unsigned long parent_ip,
						struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	struct pt_regs *regs = ftrace_get_regs(fregs);
	struct linux_binprm *bprm;
	struct ksmmod_exec_work *w;
	struct mm_struct *mm = current->mm;

	if (!regs || !mm || !ksmmod_mm_merge_any(mm) || !test_bit(KSMMOD_MMF_KEEP_EXEC, &mm->flags))
		return;
	bprm = (struct linux_binprm *)regs->di;
	w = kmalloc(sizeof(*w), GFP_ATOMIC | __GFP_NOWARN);
	if (!w || !try_module_get(THIS_MODULE)) {
		kfree(w);
		pr_warn_ratelimited("pid %d (%s): cannot keep it registered across exec\n",
				    task_pid_nr(current), current->comm);
		return;
	}
	w->mm = bprm->mm;
	mmgrab(w->mm);
	init_task_work(&w->cb, ksmmod_exec_work_fn);
	ksmmod_hook_in();
	if (task_work_add(current, &w->cb, TWA_RESUME)) {
		/* Exiting: nothing to register. bprm holds the mm: not the last drop. */
		mmdrop(w->mm);
		kfree(w);
		ksmmod_hook_out();
		module_put(THIS_MODULE);
		return;
	}
	/* The ELF loader's brk and mappings are mergeable as they are made. */
	ksmmod_mm_set_merge_any(bprm->mm, true);
}

#define KSMMOD_WATCH(_name, _fn)						\
	{									\
		.name = #_name,							\
		.ops = {							\
			.func = _fn,						\
			.flags = FTRACE_OPS_FL_SAVE_REGS |			\
				 FTRACE_OPS_FL_RECURSION,			\
		},								\
	},
#endif /* KSMMOD_NEED_WATCH_HOOKS */

static struct ksmmod_hook ksmmod_hooks[] = {
	KSMMOD_HOOK(__ksm_enter, ksmmod_ksm_enter),
	KSMMOD_HOOK(__ksm_exit, ksmmod_ksm_exit),
	KSMMOD_WATCH_HOOKS(KSMMOD_WATCH)
};

static void ksmmod_hooks_remove(void)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ksmmod_hooks); i++) {
		struct ksmmod_hook *h = &ksmmod_hooks[i];

		if (!h->registered)
			continue;
		unregister_ftrace_function(&h->ops);
		ftrace_free_filter(&h->ops);
		h->registered = false;
	}
}

/**
 * ksmmod_kernel_ksm_idle() - refuse to load next to a running kernel KSM
 *
 * Return: 0, or -EBUSY after saying why.
 */
static int ksmmod_kernel_ksm_idle(void)
{
	unsigned long run = READ_ONCE(*kvar_ksm_run);
	unsigned long shared = READ_ONCE(*kvar_ksm_pages_shared);

	if (run & 1) {
		pr_err("the kernel's KSM is running (/sys/kernel/mm/ksm/run is %lu): write 2 (unmerge) or 0 there before loading ksmmod\n",
		       run);
		return -EBUSY;
	}
	if (shared) {
		pr_err("the kernel's KSM has %lu merged pages: write 2 to /sys/kernel/mm/ksm/run to unmerge them before loading ksmmod\n",
		       shared);
		return -EBUSY;
	}
	return 0;
}

/**
 * ksmmod_hooks_init() - check the kernel's KSM is idle, install the drop-in hooks
 *
 * Return: 0 or a negative errno (nothing left installed), after saying why.
 */
int ksmmod_hooks_init(void)
{
	size_t i;
	int err;

	err = ksmmod_kernel_ksm_idle();
	if (err || !dropin)
		return err;
	for (i = 0; i < ARRAY_SIZE(ksmmod_hooks); i++) {
		struct ksmmod_hook *h = &ksmmod_hooks[i];

		err = ftrace_set_filter(&h->ops, (unsigned char *)h->name, strlen(h->name), 1);
		if (!err) {
			err = register_ftrace_function(&h->ops);
			if (err)
				ftrace_free_filter(&h->ops);
		}
		if (err) {
			pr_err("cannot hook kernel function %s for drop-in mode (%d); load with dropin=0 to do without\n",
			       h->name, err);
			ksmmod_hooks_remove();
			return err;
		}
		h->registered = true;
	}
	WRITE_ONCE(ksmmod_hooks_on, true);
	return 0;
}

/**
 * ksmmod_hooks_exit() - remove the hooks and wait for tasks inside them
 *
 * unregister_ftrace_function() waits (RCU tasks) until no task can still be
 * between the hook and the first instruction of a replacement; the in-flight
 * count covers tasks inside one.
 */
void ksmmod_hooks_exit(void)
{
	ksmmod_hooks_remove();
	wait_event(ksmmod_hooks_wait, !atomic_read(&ksmmod_hooks_inflight));
	/* A task past its ksmmod_hook_out() may still be returning through our text. */
	synchronize_rcu_tasks();
	WRITE_ONCE(ksmmod_hooks_on, false);
}
