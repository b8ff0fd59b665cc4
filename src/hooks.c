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
 */
#include <linux/atomic.h>
#include <linux/ftrace.h>
#include <linux/ksm.h>
#include <linux/module.h>
#include <linux/rcupdate.h>
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
 * struct ksmmod_hook - one redirected kernel function
 * @name: the kernel function
 * @replacement: ksmmod's function with the same prototype
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

static struct ksmmod_hook ksmmod_hooks[] = {
	KSMMOD_HOOK(__ksm_enter, ksmmod_ksm_enter),
	KSMMOD_HOOK(__ksm_exit, ksmmod_ksm_exit),
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
			pr_err("cannot hook %s for drop-in mode (%d); load with dropin=0 to do without\n",
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
