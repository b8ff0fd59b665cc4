// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod process lifecycle: how processes come into ksmmod and leave it.
 *
 * DOC: Process lifecycle
 *
 * Registration works like madvise(MADV_MERGEABLE): it covers the private
 * anonymous mappings present in the range at that moment; shared, file-backed,
 * VM_PFNMAP, VM_IO, hugetlb, DAX and similar mappings are skipped, as the
 * kernel's KSM skips them. An mm that the kernel's own KSM manages
 * (MMF_VM_MERGEABLE) is refused: the kernel's ksmd must never meet pages
 * ksmmod merged, nor ksmmod the kernel's.
 *
 * MERGE_RANGE and UNMERGE_RANGE set and clear VM_MERGEABLE on exactly
 * their range through the kernel's own madvise(MADV_MERGEABLE /
 * MADV_UNMERGEABLE) of the target (ksmmod_madvise_range()), which splits
 * mappings at the range's edges as a madvise() of the process would; the
 * KSM entry hooks let that call through without entering anyone's KSM.
 * The flag makes mremap() break merged pages before moving them, and a
 * later madvise() of the process's own finds the flags as madvise would
 * have left them. ADD_PROCESS and REMOVE_PROCESS mark and unmark whole
 * mappings; a process registered whole passes that on to new mappings, to
 * its forks and (with KSMMOD_PROCESS_KEEP_EXEC) across exec.
 *
 * In drop-in mode (src/hooks.c), the kernel's KSM entry points lead here:
 * madvise(MADV_MERGEABLE) and prctl(PR_SET_MEMORY_MERGE) enter a process
 * (ksmmod_enter_mm()), its last mmput() leaves (ksmmod_exit_mm()). Without
 * it, ksmmod learns of an exit from its mmu_notifier's release(), or the
 * scanner finds mm_users at zero.
 *
 * Between its scan batches, ksmmodd lets this file act on what happened
 * meanwhile (ksmmod_lifecycle_work()): the notifiers' events (exits,
 * unmaps), notifiers for the slots drop-in entry created (it cannot
 * register one under its caller's mmap_lock); right after each batch, the
 * slots the scanner found gone (ksmmod_reap_gone()). At unload every process leaves KSM (ksmmod_leave_all()) and
 * every registration is forgotten (ksmmod_lifecycle_exit()).
 *
 * Locking: ksmmod_thread_mutex, then the target's mmap_lock, then the
 * registry lock (src/registry.c). Drop-in entry takes only the registry
 * lock: its callers hold an mmap_lock the scanner may wait for.
 */
#include <linux/capability.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/pid.h>
#include <linux/ptrace.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>

#include "ksmmod/core.h"
#include "ksmmod/ksmmod.h"
#include "ksmmod/lifecycle.h"
#include "ksmmod/process.h"
#include "ksmmod/registry.h"
#include "ksmmod/symbols.h"
#include "ksmmod/trace.h"

/* Drop-in mode is on: the hooks are installed (see ksmmod_set_dropin()). */
static bool ksmmod_dropin_on;

/**
 * ksmmod_set_dropin() - the drop-in hooks are installed or removed
 * @on: whether madvise()/prctl() now lead to ksmmod
 */
void ksmmod_set_dropin(bool on)
{
	WRITE_ONCE(ksmmod_dropin_on, on);
}

/* Whether drop-in mode is on (hooks installed at load, removed at unload). */
bool ksmmod_dropin_active(void)
{
	return READ_ONCE(ksmmod_dropin_on);
}

/**
 * ksmmod_mm_in_kernel_ksm() - whether @mm belongs to the kernel's own KSM
 * @mm: an address space, mmap_lock held
 *
 * Return: true if it has MMF_VM_MERGEABLE that ksmmod did not set.
 */
static bool ksmmod_mm_in_kernel_ksm(struct mm_struct *mm)
{
	struct ksmmod_mm_slot *slot;
	bool ours;

	if (!ksmmod_mm_flag_test(mm, MMF_VM_MERGEABLE))
		return false;
	slot = ksmmod_registry_find(mm);
	ours = slot && slot->entered;
	return !ours;
}

/**
 * ksmmod_slot_clear_mergeable() - VM_MERGEABLE off the mappings of @slot's ranges
 * @slot: a slot; its mm's mmap_lock held for writing
 *
 * The mappings that lie within a registered range (MERGE_RANGE split them
 * at its edges; a whole process's range holds them all).
 */
static void ksmmod_slot_clear_mergeable(struct ksmmod_mm_slot *slot)
{
	unsigned long addr = 0, start, end;

	mmap_assert_write_locked(slot->mm);
	while (ksmmod_registry_next_range(slot, addr, &start, &end)) {
		struct vm_area_struct *vma;
		VMA_ITERATOR(vmi, slot->mm, start);

		for_each_vma_range(vmi, vma, end)
			if ((vma->vm_flags & VM_MERGEABLE) && vma->vm_start >= start &&
			    vma->vm_end <= end)
				ksmmod_vma_clear_mergeable(vma);
		addr = end;
	}
}

/**
 * ksmmod_forget_slot() - forget a process: its rmap items, ranges and slot
 * @slot: the slot (ksmmod_thread_mutex held, the registry lock not)
 *
 * Merged pages are not broken here: callers unmerge first where that is
 * wanted (an exited process has no mappings left to break). The process's
 * KSM flags go with the slot.
 */
static void ksmmod_forget_slot(struct ksmmod_mm_slot *slot)
{
	lockdep_assert_held(&ksmmod_thread_mutex);
	ksmmod_scan_forget_slot(slot, true);
	ksmmod_remove_rmap_items_in(&slot->rmap_list, 0, ULONG_MAX);
	if (slot->entered)
		ksmmod_mm_clear_ksm_flags(slot->mm);
	else if (slot->whole)
		ksmmod_mm_clear_whole(slot->mm);
	trace_ksm_exit(slot->mm);
	ksmmod_registry_remove(slot);
}

/**
 * ksmmod_get_target_mode() - the process an ioctl is about, with permission checked
 * @pidfd: a pidfd, or 0 for the caller
 * @mode: the ptrace access mode required without CAP_SYS_ADMIN (attach to
 *	change what is merged, like process_madvise(); read for statistics,
 *	like /proc/<pid>/ksm_stat)
 * @mmp: set to its mm (a reference from get_task_mm(); mmput() it)
 * @owner: if not NULL, set to who it is (for its merge domain)
 *
 * The permission check and the mm lookup are one step, as in the kernel's
 * mm_access(): both under the target's exec_update_lock, which exec holds
 * from switching to the new mm until the new credentials are in place. Else
 * a target that execs a setuid program between the two would have its new,
 * privileged mm handed over on the strength of its old credentials.
 *
 * Return: 0, or -EBADF (not a pidfd), -ESRCH (exited or no mm), -EPERM
 * (neither CAP_SYS_ADMIN nor allowed @mode access to it), -EINTR (fatal
 * signal while an exec of the target was in progress).
 */
static int ksmmod_get_target_mode(u32 pidfd, unsigned int mode, struct mm_struct **mmp,
				  struct ksmmod_owner *owner)
{
	struct task_struct *task;
	unsigned int f_flags;
	struct mm_struct *mm;
	int err;

	if (pidfd == 0) {
		task = current;
		get_task_struct(task);
	} else {
		if (pidfd > INT_MAX)
			return -EBADF;
		task = kcall_pidfd_get_task(pidfd, &f_flags);
		if (IS_ERR(task))
			return PTR_ERR(task);
	}
	err = down_read_killable(&task->signal->exec_update_lock);
	if (err)
		goto out;
	mm = get_task_mm(task);
	if (!mm) {
		err = -ESRCH;
	} else if (mm != current->mm && !capable(CAP_SYS_ADMIN) &&
		   !kcall_ptrace_may_access(task, mode)) {
		mmput(mm);
		err = -EPERM;
	} else {
		*mmp = mm;
		if (owner)
			ksmmod_owner_of(task, owner);
	}
	up_read(&task->signal->exec_update_lock);
out:
	put_task_struct(task);
	return err;
}

static int ksmmod_get_target(u32 pidfd, struct mm_struct **mmp, struct ksmmod_owner *owner)
{
	return ksmmod_get_target_mode(pidfd, PTRACE_MODE_ATTACH_REALCREDS, mmp, owner);
}

/**
 * ksmmod_lock_target() - find the target process and lock it for a registry change
 * @pidfd: a pidfd, or 0 for the caller
 * @check: check the caller may change the target (ioctls); false when ksmmod
 *	registers the caller on its own (a followed fork or exec, whose
 *	registrant was checked)
 * @write: take its mmap_lock for write (registration sets VM_MERGEABLE)
 * @mmp: set to its mm, with a reference
 * @owner: if not NULL, set to who the process is (for its merge domain)
 *
 * Takes ksmmod_thread_mutex, then the mmap_lock: the registry lock order.
 * Undo with ksmmod_unlock_target().
 *
 * Return: 0, an error of ksmmod_get_target(), -ESRCH, or -EINTR (fatal signal).
 */
static int ksmmod_lock_target(u32 pidfd, bool check, bool write, struct mm_struct **mmp,
			      struct ksmmod_owner *owner)
{
	struct mm_struct *mm;
	int err;

	if (check) {
		err = ksmmod_get_target(pidfd, &mm, owner);
		if (err)
			return err;
	} else {
		mm = get_task_mm(current);
		if (!mm)
			return -ESRCH;
		if (owner)
			ksmmod_owner_of(current, owner);
	}
	ksmmod_thread_lock();
	err = write ? mmap_write_lock_killable(mm) : mmap_read_lock_killable(mm);
	if (err) {
		mutex_unlock(&ksmmod_thread_mutex);
		mmput(mm);
		return -EINTR;
	}
	*mmp = mm;
	return 0;
}

static void ksmmod_unlock_target(struct mm_struct *mm, bool write)
{
	if (write)
		mmap_write_unlock(mm);
	else
		mmap_read_unlock(mm);
	mutex_unlock(&ksmmod_thread_mutex);
	mmput(mm);
}

/**
 * ksmmod_count_pieces() - eligible pieces of VMAs within [@start, @end)
 * @mm: the address space, mmap_lock held
 * @start: first address
 * @end: end address
 * @holes: set if part of the range is not mapped at all
 *
 * Return: number of eligible VMA intersections (each may need a range node).
 */
static unsigned int ksmmod_count_pieces(struct mm_struct *mm, unsigned long start,
					unsigned long end, bool *holes)
{
	struct vm_area_struct *vma;
	unsigned long addr = start;
	unsigned int n = 0;
	VMA_ITERATOR(vmi, mm, start);

	*holes = false;
	for_each_vma_range(vmi, vma, end) {
		if (vma->vm_start > addr)
			*holes = true;
		addr = vma->vm_end;
		if (ksmmod_vma_eligible(vma))
			n++;
	}
	if (addr < end)
		*holes = true;
	return n;
}

/* The task inside ksmmod's own call of madvise() (ksmmod_madvise_range()). */
static struct task_struct *ksmmod_madvise_task;

/**
 * ksmmod_own_madvise() - whether current is in ksmmod's own madvise()
 *
 * The KSM entry hooks (src/hooks.c) let such a call set VM_MERGEABLE
 * without entering anyone's KSM: the registry registers the process itself.
 *
 * Return: true inside ksmmod_madvise_range().
 */
bool ksmmod_own_madvise(void)
{
	return READ_ONCE(ksmmod_madvise_task) == current;
}

/**
 * ksmmod_madvise_range() - madvise(MADV_MERGEABLE or MADV_UNMERGEABLE) of @mm
 * @mm: the target (a reference held; its mmap_lock not held: madvise
 *	takes it for writing)
 * @start: first address (page aligned)
 * @end: end address
 * @on: MADV_MERGEABLE, else MADV_UNMERGEABLE
 *
 * VM_MERGEABLE is set or cleared by the kernel's own madvise, on exactly
 * the range: mappings are split at its edges and merged with their
 * neighbours again as madvise does, so that a later madvise() of the
 * process's own finds the flags as it left them. MADV_UNMERGEABLE also
 * breaks whatever KSM page is still mapped in the range. Called with
 * ksmmod_thread_mutex held, which makes ksmmod's calls one at a time.
 *
 * Return: 0 or the errno of madvise (-ENOMEM: part of the range is not
 * mapped; it still applies to the rest, as madvise does).
 */
static int ksmmod_madvise_range(struct mm_struct *mm, unsigned long start, unsigned long end,
				bool on)
{
	int err;

	lockdep_assert_held(&ksmmod_thread_mutex);
	WRITE_ONCE(ksmmod_madvise_task, current);
	err = kcall_do_madvise(mm, start, end - start, on ? MADV_MERGEABLE : MADV_UNMERGEABLE);
	WRITE_ONCE(ksmmod_madvise_task, NULL);
	return err;
}

/**
 * ksmmod_register() - MERGE_RANGE and ADD_PROCESS
 * @pidfd: target process (0: the caller)
 * @start: first address (page aligned)
 * @end: end address (page aligned, > @start)
 * @how: KSMMOD_REG_* bits: KSMMOD_REG_WHOLE for ADD_PROCESS (holes are not
 *	an error; later mappings, fork and, with KSMMOD_REG_KEEP_EXEC, exec
 *	follow), KSMMOD_REG_FOLLOW when ksmmod registers the caller itself
 * @explicit: with KSMMOD_REG_FOLLOW: the explicit merge domain of the
 *	process followed (0: none), which a new slot keeps
 *
 * Return: 0 or a negative errno; on error nothing changed.
 */
int ksmmod_register(u32 pidfd, unsigned long start, unsigned long end, unsigned int how,
		    u64 explicit)
{
	bool whole = how & KSMMOD_REG_WHOLE, flags_set = false;
	struct mmu_notifier *mn = NULL;
	struct ksmmod_owner owner;
	struct ksmmod_reg_ctx ctx;
	struct ksmmod_mm_slot *slot;
	struct vm_area_struct *vma;
	struct mm_struct *mm;
	unsigned int pieces;
	bool holes;
	int err;

	err = ksmmod_lock_target(pidfd, !(how & KSMMOD_REG_FOLLOW), true, &mm, &owner);
	if (err)
		return err;
	if (ksmmod_mm_in_kernel_ksm(mm)) {
		err = -EBUSY;
		goto out_unlock;
	}
	pieces = ksmmod_count_pieces(mm, start, end, &holes);
	if (holes && !whole) {
		err = -ENOMEM;
		goto out_unlock;
	}
	if (!whole && pieces) {
		/*
		 * The flag first, on exactly the range, by madvise itself
		 * (which takes the mmap_lock). A failure (a kill, no memory
		 * to split a mapping) registers nothing.
		 */
		mmap_write_unlock(mm);
		err = ksmmod_madvise_range(mm, start, end, true);
		if (!err && mmap_write_lock_killable(mm))
			err = -EINTR;
		if (err) {
			mutex_unlock(&ksmmod_thread_mutex);
			mmput(mm);
			return err;
		}
		flags_set = true;
		/* The process may have changed its mappings meanwhile. */
		if (ksmmod_mm_in_kernel_ksm(mm)) {
			/* The flag is the kernel KSM's now: leave it. */
			flags_set = false;
			err = -EBUSY;
			goto out_unlock;
		}
		pieces = ksmmod_count_pieces(mm, start, end, &holes);
	}
	/* A whole process is one range, even with nothing eligible yet. */
	if (whole)
		pieces = max(pieces, 1U);
	err = ksmmod_registry_ctx_alloc(&ctx, true, pieces);
	if (err)
		goto out_unlock;
	/*
	 * The notifier first: without drop-in mode its release() is what
	 * tells ksmmod that the process exited, so no slot may be published
	 * without one (a failure, e.g. a kill arriving now, changes nothing).
	 * mmap_lock is held for writing, as mmu_notifier_get_locked() wants.
	 */
	if (pieces) {
		mn = ksmmod_notifier_get(mm);
		if (IS_ERR(mn)) {
			err = PTR_ERR(mn);
			ksmmod_registry_ctx_free(&ctx);
			goto out_unlock;
		}
	}

	ksmmod_registry_lock();
	slot = ksmmod_registry_lookup(mm);
	if (!slot && pieces) {
		if (how & KSMMOD_REG_FOLLOW)
			owner.explicit = explicit;
		err = ksmmod_registry_ctx_place(&ctx, &owner, NULL);
		if (err) {
			ksmmod_registry_unlock();
			if (mn)
				ksmmod_notifier_put(mn);
			ksmmod_registry_ctx_free(&ctx);
			goto out_unlock;
		}
		slot = ksmmod_registry_insert(&ctx, mm);
		trace_ksm_enter(mm);
	}
	if (pieces) {
		VMA_ITERATOR(vmi, mm, start);

		/*
		 * A whole process is registered as one range, so that
		 * mappings that become VM_MERGEABLE later are scanned too.
		 * So is any process in drop-in mode, where it has entered KSM
		 * as madvise() enters it: VM_MERGEABLE alone decides, and a
		 * later madvise() of its own (which no longer reaches
		 * __ksm_enter()) is served at once.
		 */
		if (whole || ksmmod_dropin_active())
			ksmmod_registry_add_range(slot, &ctx, 0, TASK_SIZE_MAX);
		for_each_vma_range(vmi, vma, end) {
			if (!ksmmod_vma_eligible(vma))
				continue;
			if (whole)
				ksmmod_vma_set_mergeable(vma);
			else if (!ksmmod_dropin_active())
				ksmmod_registry_add_range(slot, &ctx, max(start, vma->vm_start),
							  min(end, vma->vm_end));
		}
		if (whole) {
			/* New mappings, fork and exec: see include/ksmmod/process.h. */
			slot->whole = true;
			slot->keep_exec = how & KSMMOD_REG_KEEP_EXEC;
			ksmmod_mm_set_whole(mm, slot->keep_exec, ksmmod_dropin_active());
		}
		if (ksmmod_dropin_active()) {
			/* Fork and exit now reach ksmmod through the KSM hooks. */
			slot->entered = true;
			ksmmod_mm_flag_set(mm, MMF_VM_MERGEABLE);
		}
	}
	ksmmod_registry_unlock();
	/* The slot had its notifier already: drop the second reference. */
	if (mn && !ksmmod_registry_set_notifier(slot, mn))
		ksmmod_notifier_put(mn);
	ksmmod_registry_ctx_free(&ctx);
out_unlock:
	if (err && flags_set) {
		/* Nothing registered: take the flag back, as far as madvise can. */
		mmap_write_unlock(mm);
		ksmmod_madvise_range(mm, start, end, false);
		mutex_unlock(&ksmmod_thread_mutex);
		mmput(mm);
		return err;
	}
	ksmmod_unlock_target(mm, true);
	if (!err)
		ksmmod_scan_wake();
	return err;
}

/*
 * UNMERGE_RANGE left no VM_MERGEABLE mapping in @mm, a process in KSM by
 * drop-in (ksmmod_thread_mutex and @mm's mmap_lock held): forget it, as
 * UNMERGE_RANGE of its last registered range would. Its next madvise()
 * enters it again.
 */
static void ksmmod_forget_if_unmergeable(struct mm_struct *mm)
{
	struct ksmmod_mm_slot *slot;
	struct vm_area_struct *vma;
	VMA_ITERATOR(vmi, mm, 0);

	for_each_vma(vmi, vma)
		if (vma->vm_flags & VM_MERGEABLE)
			return;
	slot = ksmmod_registry_find(mm);
	if (slot && slot->entered && !slot->whole)
		ksmmod_forget_slot(slot);
}

/**
 * ksmmod_unregister() - UNMERGE_RANGE and REMOVE_PROCESS
 * @pidfd: target process (0: the caller)
 * @start: first address (page aligned)
 * @end: end address (page aligned, > @start)
 * @whole: REMOVE_PROCESS: forget the whole process (-ENOENT if unknown)
 *
 * Return: 0 or a negative errno; on error nothing changed, except when the
 * final madvise(MADV_UNMERGEABLE) of the range fails (fatal signal, no
 * memory to split a mapping): the range is unmerged and unregistered then,
 * and a repeated call clears what is left of the flag.
 */
int ksmmod_unregister(u32 pidfd, unsigned long start, unsigned long end, bool whole)
{
	bool entered = false;
	struct ksmmod_reg_ctx ctx;
	struct ksmmod_mm_slot *slot;
	struct mm_struct *mm;
	bool holes;
	int err;

	/* REMOVE_PROCESS clears VM_MERGEABLE itself: the lock for writing. */
	err = ksmmod_lock_target(pidfd, true, whole, &mm, NULL);
	if (err)
		return err;
	ksmmod_count_pieces(mm, start, end, &holes);
	if (holes && !whole) {
		err = -ENOMEM;
		goto out_unlock;
	}
	/* One spare node covers the only split a single range can cause. */
	err = ksmmod_registry_ctx_alloc(&ctx, false, 1);
	if (err)
		goto out_unlock;

	slot = ksmmod_registry_find(mm);
	if (!slot) {
		err = whole ? -ENOENT : 0;
		goto out_free;
	}
	/*
	 * Break the merges first: if that fails (fatal signal, OOM), the
	 * registration is unchanged and the call can simply be repeated.
	 */
	err = ksmmod_unmerge_slot(slot, start, end);
	if (err)
		goto out_free;
	ksmmod_scan_forget_slot(slot, false);
	ksmmod_remove_rmap_items_in(&slot->rmap_list, start, end);
	if (whole) {
		/* The process is out: no mapping of it stays VM_MERGEABLE. */
		ksmmod_slot_clear_mergeable(slot);
		ksmmod_forget_slot(slot);
		goto out_free;
	}
	/*
	 * A process in KSM by drop-in keeps its one range: VM_MERGEABLE,
	 * cleared below, decides (see ksmmod_register()).
	 */
	if (!slot->entered) {
		ksmmod_registry_lock();
		ksmmod_registry_remove_range(slot, &ctx, start, end);
		ksmmod_registry_unlock();
		if (list_empty(&slot->ranges))
			ksmmod_forget_slot(slot);
	} else {
		entered = !slot->whole;
	}
out_free:
	ksmmod_registry_ctx_free(&ctx);
out_unlock:
	/*
	 * UNMERGE_RANGE: VM_MERGEABLE off exactly the range, by madvise
	 * (splitting mappings at its edges), so the range never merges again
	 * until registered again and the process's own madvise() works on
	 * it. Also when the range is no longer registered: a repeated call
	 * finishes what a failed one left. Never for a process of the
	 * kernel's KSM, whose flags are its own.
	 */
	if (!err && !whole && !ksmmod_mm_in_kernel_ksm(mm)) {
		mmap_read_unlock(mm);
		err = ksmmod_madvise_range(mm, start, end, false);
		/* Nothing mergeable left in a drop-in process: it leaves. */
		if (!err && entered && !mmap_read_lock_killable(mm)) {
			ksmmod_forget_if_unmergeable(mm);
			mmap_read_unlock(mm);
		}
		mutex_unlock(&ksmmod_thread_mutex);
		mmput(mm);
		return err;
	}
	ksmmod_unlock_target(mm, whole);
	return err;
}

/**
 * ksmmod_set_domain() - SET_DOMAIN: put a registered process in an explicit merge domain
 * @pidfd: target process (0: the caller); the caller has CAP_SYS_ADMIN
 * @explicit: the domain id; 0: the domain merge_domains gives it
 *
 * Its merged pages may be shared with processes of its old domain: they are
 * unmerged, the nodes only its pages are on leave the tree (its swapped-out
 * pages and unregistered children may still map them), and its rmap items
 * are dropped (out of both trees; the scanner makes new ones), all with the
 * scanner between batches, so that nothing is merged meanwhile.
 *
 * Return: 0, an error of ksmmod_lock_target(), -ENOENT (not registered),
 * -EBUSY (the kernel's own KSM has it), -ENOMEM, -ENOSPC, -EINTR; on error
 * the process keeps its domain.
 */
int ksmmod_set_domain(u32 pidfd, u64 explicit)
{
	struct ksmmod_mm_slot *slot;
	struct mm_struct *mm;
	u64 old;
	int err;

	err = ksmmod_lock_target(pidfd, true, false, &mm, NULL);
	if (err)
		return err;
	slot = ksmmod_registry_find(mm);
	if (!slot || slot->gone) {
		err = -ENOENT;
	} else if (ksmmod_mm_in_kernel_ksm(mm)) {
		err = -EBUSY;
	} else if (slot->owner.explicit != explicit) {
		/* First what can fail for want of memory (no unmerge wasted). */
		old = slot->owner.explicit;
		err = ksmmod_registry_set_explicit(slot, explicit);
		/* Indexes of dead domains are freed at full-scan starts: now, if need be. */
		if (err == -ENOSPC) {
			ksmmod_stable_reap_domains();
			err = ksmmod_registry_set_explicit(slot, explicit);
		}
		if (!err) {
			err = ksmmod_unmerge_slot(slot, 0, ULONG_MAX);
			/* The old domain is still in the table (reaping needs our mutex). */
			if (err)
				WARN_ON_ONCE(ksmmod_registry_set_explicit(slot, old));
		}
		if (!err) {
			ksmmod_stable_park_nodes_of(slot->rmap_list, mm);
			ksmmod_scan_forget_slot(slot, false);
			ksmmod_remove_rmap_items_in(&slot->rmap_list, 0, ULONG_MAX);
		}
	}
	ksmmod_unlock_target(mm, false);
	if (!err)
		ksmmod_scan_wake();
	return err;
}

/**
 * ksmmod_enter_mm() - drop-in __ksm_enter(): @mm is ksmmod's now
 * @mm: an address space; its mmap_lock is held for write by the caller
 *	(madvise, prctl, fork), or nobody else can see it yet (exec)
 *
 * Called by the kernel's KSM entry points instead of its own __ksm_enter()
 * (src/hooks.c): madvise(MADV_MERGEABLE), prctl(PR_SET_MEMORY_MERGE), and
 * fork and exec of processes that use them. The whole address space is
 * registered; which mappings are merged is decided by VM_MERGEABLE, which
 * the kernel's callers set, exactly as for its own KSM. The new mm of a
 * fork of a process registered whole (ADD_PROCESS) is registered whole too;
 * that of an exec (6.12's ksm_execve(), because the kernel copied
 * MMF_VM_MERGE_ANY) only with KSMMOD_PROCESS_KEEP_EXEC, else it is left
 * out of KSM. It does not take ksmmod_thread_mutex: callers hold an
 * mmap_lock that the scanner may be waiting for while it holds that mutex.
 *
 * Return: 0 or -ENOMEM (also when no merge domain is left for it).
 */
int ksmmod_enter_mm(struct mm_struct *mm)
{
	bool whole = false, keep_exec = false;
	struct ksmmod_reg_ctx ctx;
	struct ksmmod_mm_slot *slot;
	int err;

	err = ksmmod_registry_ctx_alloc(&ctx, true, 1);
	if (err)
		return err;
	ksmmod_registry_lock();
	/*
	 * fork or exec of a process the kernel's KSM had before ksmmod was
	 * loaded: the new mm goes to the kernel's KSM too, never share
	 * (copy-on-write) pages between the two.
	 */
	if (current->mm && current->mm != mm && ksmmod_mm_flag_test(current->mm, MMF_VM_MERGEABLE)) {
		struct ksmmod_mm_slot *parent = ksmmod_registry_lookup(current->mm);

		if (!parent || !parent->entered) {
			ksmmod_registry_unlock();
			ksmmod_registry_ctx_free(&ctx);
			return kcall___ksm_enter(mm);
		}
	}
	/*
	 * fork or exec of a process registered whole by ADD_PROCESS: the new
	 * mm follows it (fork always, exec only with KEEP_EXEC; 6.12's
	 * ksm_execve() calls here because the kernel copied MMF_VM_MERGE_ANY).
	 */
	if (current->mm && current->mm != mm) {
		struct ksmmod_mm_slot *parent = ksmmod_registry_lookup(current->mm);

		if (parent && parent->whole) {
			if (ksmmod_enter_is_exec(mm) && !parent->keep_exec) {
				ksmmod_mm_clear_whole(mm);
				ksmmod_mm_clear_merge_any(mm);
				ksmmod_registry_unlock();
				ksmmod_registry_ctx_free(&ctx);
				return 0;
			}
			whole = true;
			keep_exec = parent->keep_exec;
		}
	}
	slot = ksmmod_registry_lookup(mm);
	if (!slot) {
		struct ksmmod_mm_slot *from = NULL;
		struct ksmmod_owner owner;

		/*
		 * Its merge domain: a fork stays in the domain of the process
		 * it comes from, whose KSM pages it maps; anything else (also
		 * an exec, whose new mm maps nothing of the old one) is placed
		 * by who it is now: systemd's MemoryKSM= makes its prctl()
		 * before it switches to the service's user and execs. An
		 * explicit domain passes to both.
		 */
		if (current->mm && current->mm != mm)
			from = ksmmod_registry_lookup(current->mm);
		ksmmod_owner_of(current, &owner);
		if (from)
			owner.explicit = from->owner.explicit;
		err = ksmmod_registry_ctx_place(&ctx, &owner,
						ksmmod_enter_is_exec(mm) ? NULL : from);
		if (err) {
			ksmmod_registry_unlock();
			ksmmod_registry_ctx_free(&ctx);
			/* The kernel's __ksm_enter() fails with ENOMEM only. */
			return -ENOMEM;
		}
		slot = ksmmod_registry_insert(&ctx, mm);
		trace_ksm_enter(mm);
		/* A forked child copied its parent's counts (6.1's ksm_fork() keeps them). */
		if (mm != current->mm) {
			mm->ksm_merging_pages = 0;
			mm->ksm_rmap_items = 0;
		}
	}
	if (whole) {
		slot->whole = true;
		slot->keep_exec = keep_exec;
		ksmmod_mm_set_whole(mm, keep_exec, true);
	}
	ksmmod_registry_add_range(slot, &ctx, 0, TASK_SIZE_MAX);
	slot->entered = true;
	ksmmod_mm_flag_set(mm, MMF_VM_MERGEABLE);
	ksmmod_registry_unlock();
	ksmmod_registry_ctx_free(&ctx);
	ksmmod_scan_wake();
	return 0;
}

/**
 * ksmmod_exit_mm() - drop-in __ksm_exit(): @mm's last user is gone
 * @mm: an address space about to be torn down (exit_mmap() follows)
 *
 * Frees everything ksmmod keeps for @mm at once, instead of waiting for the
 * scanner to notice.
 *
 * Return: false if ksmmod does not own @mm (the kernel's KSM does).
 */
bool ksmmod_exit_mm(struct mm_struct *mm)
{
	struct ksmmod_mm_slot *slot;
	bool ours;

	slot = ksmmod_registry_find(mm);
	ours = slot && slot->entered;
	/*
	 * exec's error path calls ksm_exit() with the new mm's mmap_lock
	 * held and users left (6.12 __bprm_mm_init()): the scanner may be
	 * waiting for that lock while it holds ksmmod_thread_mutex. The final
	 * mmput() comes back here with no users; do the work then.
	 */
	if (!ours || atomic_read(&mm->mm_users))
		return ours;
	ksmmod_thread_lock();
	slot = ksmmod_registry_find(mm);
	if (slot)
		ksmmod_forget_slot(slot);
	mutex_unlock(&ksmmod_thread_mutex);
	return true;
}

/**
 * ksmmod_attach_notifiers() - ksmmodd: give new slots their mmu_notifier
 *
 * Slots created by the drop-in entry points have none: their callers hold
 * an mmap_lock, and registering one takes it for writing. Called by ksmmodd
 * with ksmmod_thread_mutex held and no mmap_lock. A slot whose process is
 * exiting (or with no memory for a notifier) gets none: unmaps and exit
 * are then noticed by the scanner alone.
 */
static void ksmmod_attach_notifiers(void)
{
	struct ksmmod_mm_slot *slot;

	while ((slot = ksmmod_registry_next_unattached())) {
		struct mm_struct *mm = slot->mm;
		struct mmu_notifier *mn = NULL;

		if (mmget_not_zero(mm)) {
			mmap_write_lock(mm);
			mn = ksmmod_notifier_get(mm);
			mmap_write_unlock(mm);
			if (IS_ERR(mn))
				mn = NULL;
			/* Never the last mm_users drop here: __mmput() may re-enter ksmmod. */
			mmput_async(mm);
		}
		if (!ksmmod_registry_set_notifier(slot, mn))
			ksmmod_notifier_put(mn);
	}
}

/* The slot of @mm if it still holds notifier @mn (ksmmod_thread_mutex held). */
static struct ksmmod_mm_slot *ksmmod_slot_of_notifier(struct mm_struct *mm,
						      struct mmu_notifier *mn)
{
	struct ksmmod_mm_slot *slot;

	lockdep_assert_held(&ksmmod_thread_mutex);
	slot = ksmmod_registry_find(mm);
	return slot && slot->mn == mn ? slot : NULL;
}

/**
 * ksmmod_forget_mm() - ksmmodd: @mm's address space went away
 * @mm: the mm whose notifier's release() ran
 * @mn: that notifier
 */
static void ksmmod_forget_mm(struct mm_struct *mm, struct mmu_notifier *mn)
{
	struct ksmmod_mm_slot *slot = ksmmod_slot_of_notifier(mm, mn);

	if (slot)
		ksmmod_forget_slot(slot);
}

/**
 * ksmmod_forget_unmapped() - ksmmodd: [@start, @end) of @mm was unmapped
 * @mm: the mm
 * @mn: its notifier, which saw the unmap
 * @start: first address
 * @end: end address
 *
 * Frees the rmap items of addresses in the range that no mapping covers any
 * more (the range may have been mapped again meanwhile: those stay for the
 * scanner to judge).
 */
static void ksmmod_forget_unmapped(struct mm_struct *mm, struct mmu_notifier *mn,
				   unsigned long start, unsigned long end)
{
	struct ksmmod_mm_slot *slot = ksmmod_slot_of_notifier(mm, mn);
	struct ksmmod_rmap_item **link;
	bool forgot = false;

	if (!slot || !mmget_not_zero(mm))
		return;
	mmap_read_lock(mm);
	for (link = &slot->rmap_list; *link;) {
		struct ksmmod_rmap_item *item = *link;
		unsigned long addr = item->address & PAGE_MASK;

		if (addr >= end)
			break;
		if (addr < start || vma_lookup(mm, addr)) {
			link = &item->rmap_list;
			continue;
		}
		if (!forgot) {
			/* The scanner's cursor may point into this list. */
			ksmmod_scan_forget_slot(slot, false);
			forgot = true;
		}
		*link = item->rmap_list;
		ksmmod_remove_rmap_item_from_tree(item);
		ksmmod_rmap_item_free(item);
	}
	mmap_read_unlock(mm);
	mmput_async(mm);	/* see ksmmod_attach_notifiers() */
}

/**
 * ksmmod_notifier_events() - ksmmodd: act on what the mmu_notifiers saw
 *
 * An exited process is forgotten; the rmap items of unmapped ranges are
 * freed. Called with ksmmod_thread_mutex held.
 */
static void ksmmod_notifier_events(void)
{
	struct ksmmod_mn_event ev;

	lockdep_assert_held(&ksmmod_thread_mutex);
	while (ksmmod_notifier_next_event(&ev)) {
		struct ksmmod_mn_range *u;

		/* Both check that @ev.mm's slot still holds this notifier. */
		if (ev.released)
			ksmmod_forget_mm(ev.mm, ev.mn);
		else
			list_for_each_entry(u, &ev.ranges, link)
				ksmmod_forget_unmapped(ev.mm, ev.mn, u->start, u->end);
		ksmmod_notifier_event_done(&ev);
	}
}

/**
 * ksmmod_reap_gone() - ksmmodd, after a scan batch: drop the slots it found gone
 *
 * An exited process is forgotten. A live one has handed its memory to the
 * kernel's own KSM (madvise/prctl without drop-in mode), whose ksmd must
 * never meet ksmmod's pages: its merges are broken first. Called with
 * ksmmod_thread_mutex held, before it is released: nothing else ever sees
 * a slot marked gone.
 */
void ksmmod_reap_gone(void)
{
	struct ksmmod_mm_slot *slot;

	while ((slot = ksmmod_registry_next_gone())) {
		struct mm_struct *mm = slot->mm;

		if (mmget_not_zero(mm)) {
			pr_warn_ratelimited("process memory moved to the kernel's KSM; ksmmod lets go of it\n");
			mmap_read_lock(mm);
			ksmmod_unmerge_slot(slot, 0, ULONG_MAX);
			mmap_read_unlock(mm);
			mmput_async(mm);	/* see ksmmod_attach_notifiers() */
		}
		ksmmod_forget_slot(slot);
	}
}

/**
 * ksmmod_lifecycle_work() - ksmmodd, before a scan batch: what the processes did
 *
 * Notifier events (exits, unmaps) and notifiers for slots that have none.
 * Called with ksmmod_thread_mutex held.
 */
void ksmmod_lifecycle_work(void)
{
	ksmmod_notifier_events();
	ksmmod_attach_notifiers();
}

/* Unload, before the module's text goes: no notifier may call into it. */
void ksmmod_drop_notifiers(void)
{
	struct ksmmod_mm_slot *slot = NULL;

	/* Drop-in entries add slots under the registry lock alone: step with it. */
	ksmmod_thread_lock();
	while ((slot = ksmmod_registry_next_slot(slot))) {
		ksmmod_notifier_put(slot->mn);
		slot->mn = NULL;
	}
	mutex_unlock(&ksmmod_thread_mutex);
}

/**
 * ksmmod_process_stats() - KSMMOD_IOC_PROCESS_STATS
 * @pidfd: a pidfd, or 0 for the caller
 * @ps: filled in (the caller zeroed it)
 *
 * Return: 0, an error of ksmmod_get_target_mode(), or -ENOENT if ksmmod does
 * not know the process.
 */
int ksmmod_process_stats(u32 pidfd, struct ksmmod_process_stats *ps)
{
	struct mm_struct *mm;
	bool known;
	int err;

	err = ksmmod_get_target_mode(pidfd, PTRACE_MODE_READ_FSCREDS, &mm, NULL);
	if (err)
		return err;
	if (mmap_read_lock_killable(mm)) {
		mmput(mm);
		return -EINTR;
	}
	known = ksmmod_registry_slot_stats(mm, ps);
	mmap_read_unlock(mm);
	mmput(mm);
	return known ? 0 : -ENOENT;
}

/**
 * ksmmod_slot_leave() - unload: take @slot's process out of KSM entirely
 * @slot: a slot (ksmmod_thread_mutex held)
 *
 * Clears VM_MERGEABLE on every mapping lying wholly in its registered
 * ranges (a mapping only partly registered would need a split, which a
 * module cannot do; it keeps the flag) and the process's KSM flags, so that
 * a later madvise(MADV_MERGEABLE) or prctl() finds the process as if
 * ksmmod had never had it, and enters the kernel's KSM (ksm_madvise() skips
 * mappings that are VM_MERGEABLE already).
 */
static void ksmmod_slot_leave(struct ksmmod_mm_slot *slot)
{
	struct mm_struct *mm = slot->mm;

	if (!mmget_not_zero(mm))
		return;
	mmap_write_lock(mm);
	ksmmod_slot_clear_mergeable(slot);
	if (slot->entered)
		ksmmod_mm_clear_ksm_flags(mm);
	else if (slot->whole)
		ksmmod_mm_clear_whole(mm);
	slot->entered = false;
	slot->whole = false;
	mmap_write_unlock(mm);
	mmput_async(mm);	/* see ksmmod_attach_notifiers() */
}

/**
 * ksmmod_leave_all() - unload: take every process out of KSM
 *
 * Called while the drop-in hooks are still in place, so that no fork of a
 * ksmmod process can reach the kernel's own __ksm_enter() with merged
 * pages around; ksmmod_lifecycle_exit() repeats it for processes that
 * entered meanwhile.
 */
void ksmmod_leave_all(void)
{
	struct ksmmod_mm_slot *slot = NULL;

	/*
	 * Drop-in entries add slots under the registry lock alone, which
	 * ksmmod_slot_leave() cannot hold (it takes mmap_locks): step with
	 * ksmmod_registry_next_slot(), which takes it.
	 */
	ksmmod_thread_lock();
	while ((slot = ksmmod_registry_next_slot(slot)))
		ksmmod_slot_leave(slot);
	mutex_unlock(&ksmmod_thread_mutex);
}

/* Forget every registration; at unload, after the scanner stopped and unmerged. */
void ksmmod_lifecycle_exit(void)
{
	struct ksmmod_mm_slot *slot, *tmp;

	ksmmod_thread_lock();
	ksmmod_reap_gone();
	for (slot = ksmmod_registry_next_slot(NULL); slot; slot = tmp) {
		ksmmod_slot_leave(slot);
		tmp = ksmmod_registry_next_slot(slot);
		ksmmod_forget_slot(slot);
	}
	mutex_unlock(&ksmmod_thread_mutex);
}
