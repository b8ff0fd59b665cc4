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
 * versions, ksmmod_enter_mm() and ksmmod_exit_mm():
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
 * Without drop-in mode (dropin=0) __ksm_enter() still leads to ksmmod, to
 * a gate, ksmmod_ksm_enter_gate(): before a process hands its memory to the
 * kernel's KSM, the KSM pages of ksmmod's it maps (it is registered, or was
 * forked from a registered process after the merge) are copied, so that
 * ksmd never meets one; then the real __ksm_enter() runs.
 *
 * Hooks call nothing by address: ftrace moves the instruction pointer to
 * the replacement and returns into it, and the replacement is an ordinary
 * (ENDBR-marked) function of this module, so IBT has nothing to object to.
 *
 * DOC: Watch hooks
 *
 * Processes registered whole (ADD_PROCESS) are followed through ftrace
 * callbacks on the entries of the functions in KSMMOD_WATCH_HOOKS()
 * (include/ksmmod/process.h, "Whole processes", says which kernel and mode
 * needs which). They observe and replace nothing, so they need no
 * FTRACE_OPS_FL_IPMODIFY and can share their functions with livepatches:
 * the callback runs before the function's first instruction and may only
 * widen an argument (mmap_region() and do_brk_flags(): add VM_MERGEABLE to
 * the vm_flags of a private anonymous mapping about to be created; x86-64
 * ftrace restores the argument registers from the saved pt_regs), fix the
 * KSM counters of a new child, or queue work. A missing or untraceable
 * function fails the load, naming it. For exec with KSMMOD_PROCESS_KEEP_EXEC
 * (begin_new_exec()) and fork with dropin=0 (wake_up_new_task()), the
 * callback (which cannot sleep) queues a task_work that registers the new
 * mm when the task returns to user space, before the program's first
 * instruction there; a module reference keeps ksmmod loaded until then.
 *
 * DOC: Atomic context in the watch hooks
 *
 * ftrace runs the callbacks with preemption disabled. On PREEMPT_RT that
 * forbids more than sleeping: the slab allocator's locks and every
 * spinlock_t (wait queues included) are sleeping locks there, so neither
 * kmalloc(GFP_ATOMIC) nor kfree() nor wake_up() may be called. The
 * callbacks therefore use only atomic bit and counter operations on the mm,
 * task_work_add(), try_module_get()/module_put(), mmgrab() (and mmdrop() of
 * a reference that is not the last), printk, queueing a work item (whose
 * locks are raw spinlocks) and a raw spinlock of their own. The task_work
 * for exec and fork comes from a pool of preallocated ones (struct
 * ksmmod_follow_work): allocated at load, given back by the task_work when
 * it has run, topped up in process context by a work item whenever fewer
 * than KSMMOD_FOLLOW_POOL_LOW are left. One scheme for every kernel, RT or
 * not. Should a burst of forks or execs outrun the refill, the new process
 * is not registered and the log says so, as when the atomic allocation
 * failed before.
 */
#include <linux/atomic.h>
#include <linux/binfmts.h>
#include <linux/ftrace.h>
#include <linux/ksm.h>
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <linux/task_work.h>
#include <linux/wait.h>
#include <linux/workqueue.h>

#include "ksmmod/core.h"
#include "ksmmod/ksmmod.h"
#include "ksmmod/lifecycle.h"
#include "ksmmod/process.h"
#include "ksmmod/registry.h"
#include "ksmmod/symbols.h"

static bool dropin = true;
module_param(dropin, bool, 0444);
MODULE_PARM_DESC(dropin,
		 "serve madvise(MADV_MERGEABLE) and prctl(PR_SET_MEMORY_MERGE) instead of the kernel's KSM (default 1)");

static atomic_t ksmmod_hooks_inflight = ATOMIC_INIT(0);
static DECLARE_WAIT_QUEUE_HEAD(ksmmod_hooks_wait);

static void ksmmod_hook_in(void)
{
	atomic_inc(&ksmmod_hooks_inflight);
}

static void ksmmod_hook_out(void)
{
	if (atomic_dec_and_test(&ksmmod_hooks_inflight))
		wake_up_all(&ksmmod_hooks_wait);
}

/*
 * Replaces __ksm_enter(). ksmmod's own madvise() (MERGE_RANGE setting
 * VM_MERGEABLE) enters nothing: ksmmod_register() registers the range itself.
 */
static int ksmmod_ksm_enter(struct mm_struct *mm)
{
	int err;

	if (ksmmod_own_madvise())
		return 0;
	ksmmod_hook_in();
	err = ksmmod_enter_mm(mm);
	ksmmod_hook_out();
	return err;
}

/* Replaces __ksm_exit(). */
static void ksmmod_ksm_exit(struct mm_struct *mm)
{
	ksmmod_hook_in();
	if (!ksmmod_exit_mm(mm))
		kcall___ksm_exit(mm);	/* the kernel's KSM has it */
	ksmmod_hook_out();
}

/*
 * Replaces __ksm_enter() without drop-in mode: @mm goes to the kernel's KSM.
 * Its ksmd must never meet a KSM page of ksmmod's: it would take it for a
 * forked KSM page of its own and link its rmap items into ksmmod's node.
 * When a process moves its own memory there (madvise(MADV_MERGEABLE),
 * prctl(PR_SET_MEMORY_MERGE), the caller holding its mmap_lock for writing),
 * every merged page it maps is copied first, under that lock, so ksmd (which
 * needs the lock too) finds none. All of them are ksmmod's: a process
 * outside the kernel's KSM maps none of the kernel's KSM pages (a child of a
 * process in it is entered at fork). The process may be registered with
 * ksmmod, or a child forked from one after the merge; ksmmod's scanner lets
 * go of a registered one when it next meets it. fork (ksm_fork()) and exec
 * (ksm_execve()) enter a new mm that maps nothing of ksmmod's: its parent is
 * in the kernel's KSM, or nothing is mapped yet.
 */
static int ksmmod_ksm_enter_gate(struct mm_struct *mm)
{
	int err = 0;

	if (ksmmod_own_madvise())
		return 0;	/* MERGE_RANGE: see ksmmod_ksm_enter() */
	ksmmod_hook_in();
	if (mm == current->mm) {
		mmap_assert_write_locked(mm);
		err = ksmmod_unmerge_nodes_in(mm, NULL);
	}
	if (!err)
		err = kcall___ksm_enter(mm);
	ksmmod_hook_out();
	return err;
}

static_assert(__same_type(&ksmmod_ksm_enter, &__ksm_enter));
static_assert(__same_type(&ksmmod_ksm_enter_gate, &__ksm_enter));
static_assert(__same_type(&ksmmod_ksm_exit, &__ksm_exit));

/**
 * struct ksmmod_hook - one redirected or watched kernel function
 * @name: the kernel function
 * @replacement: ksmmod's function with the same prototype (NULL: a watch
 *	hook, whose @ops.func does the work)
 * @modes: KSMMOD_HOOK_DROPIN and/or KSMMOD_HOOK_NO_DROPIN: in which mode it
 *	is installed
 * @ops: the ftrace registration
 * @registered: @ops is registered
 */
struct ksmmod_hook {
	const char *name;
	void *replacement;
	unsigned int modes;
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

#define KSMMOD_HOOK(_name, _fn, _modes)					\
	{									\
		.name = #_name,							\
		.replacement = _fn,						\
		.modes = _modes,						\
		.ops = {							\
			.func = ksmmod_hook_redirect,				\
			.flags = FTRACE_OPS_FL_SAVE_REGS |			\
				 FTRACE_OPS_FL_RECURSION |			\
				 FTRACE_OPS_FL_IPMODIFY,			\
		},								\
	}

/*
 * Watch hooks (see "Whole processes" in include/ksmmod/process.h for which
 * kernel gets which). Each runs at the entry of its function, in atomic
 * context, and reads the arguments from the saved registers (x86-64: %rdi,
 * %rsi, %rdx, %rcx, %r8).
 */
static_assert(__same_type(&begin_new_exec, int (*)(struct linux_binprm *)));
static_assert(__same_type(&wake_up_new_task, void (*)(struct task_struct *)));

/* vm_flags that make a mapping unmergeable, as in mm/ksm.c's vma_ksm_compatible(). */
#define KSMMOD_UNMERGEABLE_VM_FLAGS						\
	(VM_SHARED | VM_MAYSHARE | VM_PFNMAP | VM_IO | VM_DONTEXPAND | VM_HUGETLB |	\
	 VM_MIXEDMAP | KSMMOD_VM_DROPPABLE)

/* The current process is registered whole: its new mappings are mergeable. */
static bool notrace ksmmod_current_whole(void)
{
	struct mm_struct *mm = current->mm;

	return mm && ksmmod_mm_whole(mm);
}

/*
 * Entry of mmap_region(file, addr, len, vm_flags, pgoff, uf), mmap_lock
 * held for write: a private anonymous mapping (no file; a shared anonymous
 * one has VM_SHARED) gets VM_MERGEABLE before it is merged or created.
 * x86-64: @file in %rdi, @vm_flags in %rcx (see KSMMOD_WATCH_HOOKS()).
 */
static void notrace ksmmod_watch_mmap_region(unsigned long ip, unsigned long parent_ip,
					     struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	struct pt_regs *regs = ftrace_get_regs(fregs);

	if (!regs || regs->di || (regs->cx & KSMMOD_UNMERGEABLE_VM_FLAGS) || !ksmmod_current_whole())
		return;
	regs->cx |= VM_MERGEABLE;
}

/*
 * Entry of do_brk_flags(mas or vmi, vma, addr, len, flags), mmap_lock held
 * for write: brk memory is always private anonymous. With VM_MERGEABLE in
 * @flags (%r8) the growth extends a mergeable brk mapping in place.
 */
static void notrace ksmmod_watch_do_brk_flags(unsigned long ip, unsigned long parent_ip,
					      struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	struct pt_regs *regs = ftrace_get_regs(fregs);

	if (!regs || (regs->r8 & KSMMOD_UNMERGEABLE_VM_FLAGS) || !ksmmod_current_whole())
		return;
	regs->r8 |= VM_MERGEABLE;
}

/**
 * struct ksmmod_follow_work - registering a process that follows another
 * @cb: the task_work, queued on the new process
 * @mm: the new mm (mmgrab()ed), to tell a completed exec from a failed one
 * @keep_exec: register with KSMMOD_PROCESS_KEEP_EXEC
 * @explicit: the explicit merge domain of the process followed (0: none)
 * @next_free: in the pool: the next free one
 */
struct ksmmod_follow_work {
	struct callback_head cb;
	struct mm_struct *mm;
	bool keep_exec;
	u64 explicit;
	struct ksmmod_follow_work *next_free;
};

/*
 * The pool of follow works (see "Atomic context in the watch hooks"). A
 * refill leaves KSMMOD_FOLLOW_POOL_MIN free beyond the number in use (a
 * burst as large as the last may follow); a work given back is freed
 * rather than kept once twice KSMMOD_FOLLOW_POOL_MIN beyond the number in
 * use are free.
 */
#define KSMMOD_FOLLOW_POOL_LOW	32
#define KSMMOD_FOLLOW_POOL_MIN	64

static DEFINE_RAW_SPINLOCK(ksmmod_follow_lock);
static struct ksmmod_follow_work *ksmmod_follow_free;
static unsigned int ksmmod_follow_nr_free;
static unsigned int ksmmod_follow_nr_used;

static void ksmmod_follow_refill_fn(struct work_struct *unused);
static DECLARE_WORK(ksmmod_follow_refill_work, ksmmod_follow_refill_fn);

/* Add @w to the free list; the caller holds ksmmod_follow_lock. */
static void notrace ksmmod_follow_push(struct ksmmod_follow_work *w)
{
	w->next_free = ksmmod_follow_free;
	ksmmod_follow_free = w;
	ksmmod_follow_nr_free++;
}

/**
 * ksmmod_follow_get() - a follow work from the pool, in any context
 *
 * Schedules a refill when the pool runs low.
 *
 * Return: the work, or NULL if the pool is empty.
 */
static notrace struct ksmmod_follow_work *ksmmod_follow_get(void)
{
	struct ksmmod_follow_work *w;
	unsigned long flags;
	bool low;

	raw_spin_lock_irqsave(&ksmmod_follow_lock, flags);
	w = ksmmod_follow_free;
	if (w) {
		ksmmod_follow_free = w->next_free;
		ksmmod_follow_nr_free--;
		ksmmod_follow_nr_used++;
	}
	low = ksmmod_follow_nr_free < KSMMOD_FOLLOW_POOL_LOW;
	raw_spin_unlock_irqrestore(&ksmmod_follow_lock, flags);
	if (low)
		schedule_work(&ksmmod_follow_refill_work);
	return w;
}

/**
 * ksmmod_follow_put() - give a follow work from ksmmod_follow_get() back
 * @w: the work, no longer queued
 * @may_free: the caller may kfree() (process context, not an ftrace callback)
 *
 * Return: true if @w is in the pool again; false if the pool has enough and
 * the caller, which passed @may_free, is to kfree() it.
 */
static bool notrace ksmmod_follow_put(struct ksmmod_follow_work *w, bool may_free)
{
	unsigned long flags;
	bool kept;

	raw_spin_lock_irqsave(&ksmmod_follow_lock, flags);
	ksmmod_follow_nr_used--;
	kept = !may_free ||
	       ksmmod_follow_nr_free < 2 * KSMMOD_FOLLOW_POOL_MIN + ksmmod_follow_nr_used;
	if (kept)
		ksmmod_follow_push(w);
	raw_spin_unlock_irqrestore(&ksmmod_follow_lock, flags);
	return kept;
}

/* Top the pool up (process context): at load, and when it runs low. */
static void ksmmod_follow_refill_fn(struct work_struct *unused)
{
	for (;;) {
		struct ksmmod_follow_work *w;
		unsigned long flags;
		bool full;

		raw_spin_lock_irqsave(&ksmmod_follow_lock, flags);
		full = ksmmod_follow_nr_free >= KSMMOD_FOLLOW_POOL_MIN + ksmmod_follow_nr_used;
		raw_spin_unlock_irqrestore(&ksmmod_follow_lock, flags);
		if (full)
			return;
		w = kmalloc(sizeof(*w), GFP_KERNEL);
		if (!w)
			return;	/* a later ksmmod_follow_get() tries again */
		raw_spin_lock_irqsave(&ksmmod_follow_lock, flags);
		ksmmod_follow_push(w);
		raw_spin_unlock_irqrestore(&ksmmod_follow_lock, flags);
	}
}

/* Free the pool, once no hook and no follow work can use it any more. */
static void ksmmod_follow_pool_free(void)
{
	cancel_work_sync(&ksmmod_follow_refill_work);
	while (ksmmod_follow_free) {
		struct ksmmod_follow_work *w = ksmmod_follow_free;

		ksmmod_follow_free = w->next_free;
		kfree(w);
	}
	ksmmod_follow_nr_free = 0;
}

static void ksmmod_follow_work_fn(struct callback_head *cb)
{
	struct ksmmod_follow_work *w = container_of(cb, struct ksmmod_follow_work, cb);
	int err;

	/* Not after a failed exec, nor on the way out (exit_task_work()). */
	if (current->mm == w->mm) {
		err = ksmmod_register(0, 0, TASK_SIZE_MAX,
				      KSMMOD_REG_WHOLE | KSMMOD_REG_FOLLOW |
				      (w->keep_exec ? KSMMOD_REG_KEEP_EXEC : 0), w->explicit);
		if (err) {
			/* No slot: nothing may follow this mm (exec marked it early). */
			ksmmod_mm_clear_whole(w->mm);
			if (!fatal_signal_pending(current))
				pr_warn_ratelimited("pid %d (%s): cannot register it as its parent or former program was (%d)\n",
						    task_pid_nr(current), current->comm, err);
		}
	}
	mmdrop(w->mm);
	if (!ksmmod_follow_put(w, true))
		kfree(w);
	ksmmod_hook_out();
	/* synchronize_rcu_tasks() at unload covers the return from here. */
	module_put(THIS_MODULE);
}

/**
 * ksmmod_follow() - register @mm whole before @task next enters user space
 * @task: the task that will run in @mm (current for exec, a new child for fork)
 * @mm: its new address space
 * @keep_exec: with KSMMOD_PROCESS_KEEP_EXEC
 * @from: the mm it follows (current's): its explicit merge domain goes
 *	along, read now, as the slot of an exec's old mm will be gone when the
 *	work runs
 *
 * Called from watch hooks (atomic, also on PREEMPT_RT: nothing here
 * allocates, frees or takes a sleeping lock). The registration (which
 * sleeps) runs as task_work when @task returns to user space, before its
 * first instruction there; a module reference keeps ksmmod loaded until
 * then.
 *
 * Return: whether the work was queued.
 */
static bool notrace ksmmod_follow(struct task_struct *task, struct mm_struct *mm, bool keep_exec,
				  struct mm_struct *from)
{
	struct ksmmod_follow_work *w;

	w = ksmmod_follow_get();
	if (!w || !try_module_get(THIS_MODULE)) {
		if (w)
			ksmmod_follow_put(w, false);
		pr_warn_ratelimited("pid %d (%s): cannot register it as its parent or former program was\n",
				    task_pid_nr(task), task->comm);
		return false;
	}
	w->mm = mm;
	w->keep_exec = keep_exec;
	w->explicit = ksmmod_registry_explicit_of(from);
	mmgrab(mm);
	init_task_work(&w->cb, ksmmod_follow_work_fn);
	ksmmod_hook_in();
	if (task_work_add(task, &w->cb, TWA_RESUME)) {
		/* Exiting: nothing to register. The caller holds the mm: not the last drop. */
		mmdrop(mm);
		ksmmod_follow_put(w, false);
		/*
		 * Not ksmmod_hook_out(): its wake_up_all() takes a spinlock_t.
		 * Nobody waits yet: ksmmod_hooks_exit() waits only after
		 * unregister_ftrace_function() saw every callback return.
		 */
		atomic_dec(&ksmmod_hooks_inflight);
		module_put(THIS_MODULE);
		return false;
	}
	return true;
}

/*
 * Entry of begin_new_exec(bprm): current->mm is still the old mm,
 * bprm->mm the new one. x86-64: @bprm in %rdi. The new mm is marked at
 * once, so that the mappings the loader makes are mergeable as they are
 * created (the work clears the mark if registering fails).
 */
static void notrace ksmmod_watch_begin_new_exec(unsigned long ip, unsigned long parent_ip,
						struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	struct pt_regs *regs = ftrace_get_regs(fregs);
	struct mm_struct *mm = current->mm, *new_mm;

	if (!regs || !mm || !ksmmod_mm_whole(mm) || !ksmmod_mm_keep_exec(mm))
		return;
	new_mm = ((struct linux_binprm *)regs->di)->mm;
	if (ksmmod_follow(current, new_mm, true, mm))
		ksmmod_mm_set_whole(new_mm, true, ksmmod_dropin_active());
}

/*
 * Entry of wake_up_new_task(p), with dropin=0: fork or clone made @p
 * (%rdi), which has not run yet; current is the parent. A child with an
 * address space of its own gets its KSM counters fixed as ksm_fork() would
 * (the kernel's KSM did it already if the parent is in KSM by its flags),
 * and follows a parent registered whole. A child that runs nothing before
 * its task_work needs no early mark.
 */
static void notrace ksmmod_watch_wake_up_new_task(unsigned long ip, unsigned long parent_ip,
						  struct ftrace_ops *ops, struct ftrace_regs *fregs)
{
	struct pt_regs *regs = ftrace_get_regs(fregs);
	struct mm_struct *mm = current->mm, *child_mm;
	struct task_struct *p;

	if (!regs || !mm)
		return;
	p = (struct task_struct *)regs->di;
	child_mm = READ_ONCE(p->mm);
	if (!child_mm || child_mm == mm)
		return;
	if (!ksmmod_mm_flag_test(mm, MMF_VM_MERGEABLE))
		ksmmod_mm_fork_counts(child_mm);
	if (ksmmod_mm_whole(mm))
		ksmmod_follow(p, child_mm, ksmmod_mm_keep_exec(mm), mm);
}

#define KSMMOD_WATCH(_name, _fn, _modes)					\
	{									\
		.name = #_name,							\
		.modes = _modes,						\
		.ops = {							\
			.func = _fn,						\
			.flags = FTRACE_OPS_FL_SAVE_REGS |			\
				 FTRACE_OPS_FL_RECURSION,			\
		},								\
	},

static struct ksmmod_hook ksmmod_hooks[] = {
	KSMMOD_HOOK(__ksm_enter, ksmmod_ksm_enter, KSMMOD_HOOK_DROPIN),
	KSMMOD_HOOK(__ksm_exit, ksmmod_ksm_exit, KSMMOD_HOOK_DROPIN),
	KSMMOD_HOOK(__ksm_enter, ksmmod_ksm_enter_gate, KSMMOD_HOOK_NO_DROPIN),
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
	if (err)
		return err;
	ksmmod_follow_refill_fn(NULL);
	if (!ksmmod_follow_free)
		return -ENOMEM;
	for (i = 0; i < ARRAY_SIZE(ksmmod_hooks); i++) {
		struct ksmmod_hook *h = &ksmmod_hooks[i];

		if (!(h->modes & (dropin ? KSMMOD_HOOK_DROPIN : KSMMOD_HOOK_NO_DROPIN)))
			continue;
		err = ftrace_set_filter(&h->ops, (unsigned char *)h->name, strlen(h->name), 1);
		if (!err) {
			err = register_ftrace_function(&h->ops);
			if (err)
				ftrace_free_filter(&h->ops);
		}
		if (err) {
			pr_err("cannot hook kernel function %s (%d)%s\n", h->name, err,
			       h->modes == KSMMOD_HOOK_DROPIN ?
			       " for drop-in mode; load with dropin=0 to do without" : "");
			ksmmod_hooks_remove();
			ksmmod_follow_pool_free();
			return err;
		}
		h->registered = true;
	}
	ksmmod_set_dropin(dropin);
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
	ksmmod_set_dropin(false);
	ksmmod_follow_pool_free();
}
