// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod registry: which processes and which of their memory ksmmod may merge.
 *
 * DOC: Registry
 *
 * Every process with registered memory has one &struct ksmmod_mm_slot, found
 * by mm in a hash table and kept on a list the scanner walks round-robin. A
 * slot holds a reference on the mm_struct (mmgrab, not mmget: it does not keep
 * the address space alive) and the sorted, non-overlapping address ranges that
 * were registered.
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
 * mappings.
 *
 * Locking: changes take ksmmod_thread_mutex (so the scanner is between
 * batches), then the target's mmap_lock, then ksmmod_registry_lock, which
 * protects the hash, the list and every slot's ranges (readers that only
 * count slots need nothing).
 */
#include <linux/capability.h>
#include <linux/hashtable.h>
#include <linux/mm.h>
#include <linux/mman.h>
#include <linux/pid.h>
#include <linux/ptrace.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/slab.h>

#include "ksmmod/core.h"
#include "ksmmod/ksmmod.h"
#include "ksmmod/registry.h"
#include "ksmmod/symbols.h"

/**
 * struct ksmmod_range_node - one registered address range of a slot
 * @link: in &ksmmod_mm_slot.ranges, sorted by address
 * @start: first address
 * @end: first address after the range
 */
struct ksmmod_range_node {
	struct list_head link;
	unsigned long start;
	unsigned long end;
};

#define KSMMOD_MM_HASH_BITS	10

static DEFINE_MUTEX(ksmmod_registry_lock);
static DEFINE_HASHTABLE(ksmmod_mm_hash, KSMMOD_MM_HASH_BITS);
static LIST_HEAD(ksmmod_mm_list);
static unsigned long ksmmod_nr_slots;
static struct kmem_cache *ksmmod_slot_cache;
static struct kmem_cache *ksmmod_range_cache;

static struct ksmmod_mm_slot *ksmmod_slot_lookup(struct mm_struct *mm)
{
	struct ksmmod_mm_slot *slot;

	lockdep_assert_held(&ksmmod_registry_lock);
	hash_for_each_possible(ksmmod_mm_hash, slot, hash, (unsigned long)mm)
		if (slot->mm == mm)
			return slot;
	return NULL;
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
	mutex_lock(&ksmmod_registry_lock);
	slot = ksmmod_slot_lookup(mm);
	ours = slot && slot->entered;
	mutex_unlock(&ksmmod_registry_lock);
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
	struct ksmmod_range_node *r;

	mmap_assert_write_locked(slot->mm);
	list_for_each_entry(r, &slot->ranges, link) {
		struct vm_area_struct *vma;
		VMA_ITERATOR(vmi, slot->mm, r->start);

		for_each_vma_range(vmi, vma, r->end)
			if ((vma->vm_flags & VM_MERGEABLE) && vma->vm_start >= r->start &&
			    vma->vm_end <= r->end)
				ksmmod_vma_clear_mergeable(vma);
	}
}

/**
 * ksmmod_slot_free() - forget a process: its rmap items, ranges and slot
 * @slot: the slot (ksmmod_thread_mutex held, ksmmod_registry_lock not)
 *
 * Merged pages are not broken here: callers unmerge first where that is
 * wanted (an exited process has no mappings left to break).
 */
static void ksmmod_slot_free(struct ksmmod_mm_slot *slot)
{
	struct ksmmod_range_node *r, *tmp;

	lockdep_assert_held(&ksmmod_thread_mutex);
	ksmmod_scan_forget_slot(slot, true);
	ksmmod_remove_rmap_items_in(&slot->rmap_list, 0, ULONG_MAX);
	mutex_lock(&ksmmod_registry_lock);
	list_for_each_entry_safe(r, tmp, &slot->ranges, link)
		kmem_cache_free(ksmmod_range_cache, r);
	hash_del(&slot->hash);
	list_del(&slot->link);
	WRITE_ONCE(ksmmod_nr_slots, ksmmod_nr_slots - 1);
	mutex_unlock(&ksmmod_registry_lock);
	if (slot->entered)
		ksmmod_mm_clear_ksm_flags(slot->mm);
	else if (slot->whole)
		ksmmod_mm_clear_whole(slot->mm);
	ksmmod_notifier_put(slot->mn);
	mmdrop(slot->mm);
	kmem_cache_free(ksmmod_slot_cache, slot);
}

/* The scanner found @slot's process gone. */
void ksmmod_registry_free_slot(struct ksmmod_mm_slot *slot)
{
	ksmmod_slot_free(slot);
}

/**
 * ksmmod_registry_next_slot() - the slot after @slot in scan order
 * @slot: a slot, or NULL for the first one
 *
 * Called with ksmmod_thread_mutex held: slots are only freed under it, so
 * the returned slot stays valid while the caller holds it.
 *
 * Return: the next slot, or NULL after the last.
 */
struct ksmmod_mm_slot *ksmmod_registry_next_slot(struct ksmmod_mm_slot *slot)
{
	struct ksmmod_mm_slot *next;

	lockdep_assert_held(&ksmmod_thread_mutex);
	/* Slots are added under ksmmod_registry_lock alone (drop-in entry). */
	mutex_lock(&ksmmod_registry_lock);
	if (!slot)
		next = list_first_entry_or_null(&ksmmod_mm_list, struct ksmmod_mm_slot, link);
	else if (list_is_last(&slot->link, &ksmmod_mm_list))
		next = NULL;
	else
		next = list_next_entry(slot, link);
	mutex_unlock(&ksmmod_registry_lock);
	return next;
}

/**
 * ksmmod_registry_next_range() - the registered memory of @slot from @addr on
 * @slot: a slot (ksmmod_thread_mutex held)
 * @addr: an address
 * @start: set to the first registered address >= @addr
 * @end: set to the end of the registered range containing @start
 *
 * Return: false if nothing is registered at or after @addr.
 */
bool ksmmod_registry_next_range(struct ksmmod_mm_slot *slot, unsigned long addr,
				unsigned long *start, unsigned long *end)
{
	struct ksmmod_range_node *r;

	lockdep_assert_held(&ksmmod_thread_mutex);
	list_for_each_entry(r, &slot->ranges, link) {
		if (r->end > addr) {
			*start = max(r->start, addr);
			*end = r->end;
			return true;
		}
	}
	return false;
}

/**
 * ksmmod_registry_unmerge_slot() - break every merged page of @slot in [@start, @end)
 * @slot: a slot; its mm's mmap_lock held for read, ksmmod_thread_mutex held
 * @start: first address
 * @end: end address
 *
 * Return: 0 or the first error (-ENOMEM, -EINTR).
 */
int ksmmod_registry_unmerge_slot(struct ksmmod_mm_slot *slot, unsigned long start,
				 unsigned long end)
{
	unsigned long addr = start, s, e;
	struct vm_area_struct *vma;
	int err;

	while (addr < end && ksmmod_registry_next_range(slot, addr, &s, &e) && s < end) {
		VMA_ITERATOR(vmi, slot->mm, s);

		e = min(e, end);
		for_each_vma_range(vmi, vma, e) {
			if (!ksmmod_vma_eligible(vma))
				continue;
			err = ksmmod_unmerge_range(vma, max(s, vma->vm_start), min(e, vma->vm_end),
						   &slot->zero_pages);
			if (err)
				return err;
		}
		addr = e;
	}
	return 0;
}

/**
 * ksmmod_vma_eligible() - whether ksmmod may merge pages of @vma
 * @vma: a mapping
 *
 * Return: true for private anonymous mappings without special flags: the
 * mappings the kernel's KSM would accept, minus private file mappings.
 */
bool ksmmod_vma_eligible(struct vm_area_struct *vma)
{
	if (vma->vm_flags & (VM_SHARED | VM_MAYSHARE | VM_PFNMAP | VM_IO | VM_DONTEXPAND |
			     VM_HUGETLB | VM_MIXEDMAP | KSMMOD_VM_DROPPABLE))
		return false;
	if (vma_is_dax(vma) || vma->vm_file || !vma_is_anonymous(vma))
		return false;
	return true;
}

/**
 * struct ksmmod_reg_ctx - preallocated memory for one registry update
 * @slot: a new slot, used if the mm has none yet
 * @ranges: spare range nodes, enough for any split or insertion of the update
 */
struct ksmmod_reg_ctx {
	struct ksmmod_mm_slot *slot;
	struct list_head ranges;
};

static void ksmmod_ctx_free(struct ksmmod_reg_ctx *ctx)
{
	struct ksmmod_range_node *r, *tmp;

	if (ctx->slot)
		kmem_cache_free(ksmmod_slot_cache, ctx->slot);
	list_for_each_entry_safe(r, tmp, &ctx->ranges, link)
		kmem_cache_free(ksmmod_range_cache, r);
}

/* Take a spare range node (the caller preallocated enough). */
static struct ksmmod_range_node *ksmmod_ctx_range(struct ksmmod_reg_ctx *ctx,
						  unsigned long start, unsigned long end)
{
	struct ksmmod_range_node *r;

	r = list_first_entry(&ctx->ranges, struct ksmmod_range_node, link);
	list_del(&r->link);
	r->start = start;
	r->end = end;
	return r;
}

/* Preallocate a slot (if @slot) and @n range nodes: the update cannot fail. */
static int ksmmod_ctx_alloc(struct ksmmod_reg_ctx *ctx, bool slot, unsigned int n)
{
	INIT_LIST_HEAD(&ctx->ranges);
	ctx->slot = NULL;
	if (slot) {
		ctx->slot = kmem_cache_zalloc(ksmmod_slot_cache, GFP_KERNEL_ACCOUNT);
		if (!ctx->slot)
			return -ENOMEM;
	}
	while (n--) {
		struct ksmmod_range_node *r;

		r = kmem_cache_alloc(ksmmod_range_cache, GFP_KERNEL_ACCOUNT);
		if (!r) {
			ksmmod_ctx_free(ctx);
			return -ENOMEM;
		}
		list_add(&r->link, &ctx->ranges);
	}
	return 0;
}

/**
 * ksmmod_slot_insert() - make @ctx's preallocated slot @mm's (registry lock held)
 * @ctx: holds the spare slot, which it gives up
 * @mm: the address space (mmgrab()ed here)
 *
 * Return: the new slot, in the hash table and at the end of the scan list.
 */
static struct ksmmod_mm_slot *ksmmod_slot_insert(struct ksmmod_reg_ctx *ctx, struct mm_struct *mm)
{
	struct ksmmod_mm_slot *slot = ctx->slot;

	lockdep_assert_held(&ksmmod_registry_lock);
	ctx->slot = NULL;
	slot->mm = mm;
	mmgrab(mm);
	INIT_LIST_HEAD(&slot->ranges);
	hash_add(ksmmod_mm_hash, &slot->hash, (unsigned long)mm);
	list_add_tail(&slot->link, &ksmmod_mm_list);
	WRITE_ONCE(ksmmod_nr_slots, ksmmod_nr_slots + 1);
	return slot;
}

/**
 * ksmmod_slot_add_range() - add [@start, @end) to @slot's ranges
 * @slot: the slot
 * @ctx: spare range nodes (one is used at most)
 * @start: first address
 * @end: end address
 *
 * Overlapping and adjacent ranges are coalesced.
 */
static void ksmmod_slot_add_range(struct ksmmod_mm_slot *slot, struct ksmmod_reg_ctx *ctx,
				  unsigned long start, unsigned long end)
{
	struct ksmmod_range_node *r, *tmp, *pos = NULL;

	list_for_each_entry_safe(r, tmp, &slot->ranges, link) {
		if (r->end < start) {
			pos = r;
			continue;
		}
		if (r->start > end)
			break;
		/* Overlapping or adjacent: absorb it. */
		start = min(start, r->start);
		end = max(end, r->end);
		list_del(&r->link);
		kmem_cache_free(ksmmod_range_cache, r);
	}
	r = ksmmod_ctx_range(ctx, start, end);
	list_add(&r->link, pos ? &pos->link : &slot->ranges);
}

/**
 * ksmmod_slot_remove_range() - remove [@start, @end) from @slot's ranges
 * @slot: the slot
 * @ctx: spare range nodes (one is used if a range is split)
 * @start: first address
 * @end: end address
 */
static void ksmmod_slot_remove_range(struct ksmmod_mm_slot *slot, struct ksmmod_reg_ctx *ctx,
				     unsigned long start, unsigned long end)
{
	struct ksmmod_range_node *r, *tmp;

	list_for_each_entry_safe(r, tmp, &slot->ranges, link) {
		if (r->end <= start)
			continue;
		if (r->start >= end)
			break;
		if (r->start < start && r->end > end) {
			/* Split: keep both ends. */
			struct ksmmod_range_node *tail = ksmmod_ctx_range(ctx, end, r->end);

			r->end = start;
			list_add(&tail->link, &r->link);
			break;
		}
		if (r->start < start) {
			r->end = start;
		} else if (r->end > end) {
			r->start = end;
		} else {
			list_del(&r->link);
			kmem_cache_free(ksmmod_range_cache, r);
		}
	}
}

/**
 * ksmmod_get_target_mode() - the process an ioctl is about, with permission checked
 * @pidfd: a pidfd, or 0 for the caller
 * @mode: the ptrace access mode required without CAP_SYS_ADMIN (attach to
 *	change what is merged, like process_madvise(); read for statistics,
 *	like /proc/<pid>/ksm_stat)
 * @mmp: set to its mm (a reference from get_task_mm(); mmput() it)
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
static int ksmmod_get_target_mode(u32 pidfd, unsigned int mode, struct mm_struct **mmp)
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
	}
	up_read(&task->signal->exec_update_lock);
out:
	put_task_struct(task);
	return err;
}

static int ksmmod_get_target(u32 pidfd, struct mm_struct **mmp)
{
	return ksmmod_get_target_mode(pidfd, PTRACE_MODE_ATTACH_REALCREDS, mmp);
}

/**
 * ksmmod_lock_target() - find the target process and lock it for a registry change
 * @pidfd: a pidfd, or 0 for the caller
 * @check: check the caller may change the target (ioctls); false when ksmmod
 *	registers the caller on its own (a followed fork or exec, whose
 *	registrant was checked)
 * @write: take its mmap_lock for write (registration sets VM_MERGEABLE)
 * @mmp: set to its mm, with a reference
 *
 * Takes ksmmod_thread_mutex, then the mmap_lock: the registry lock order.
 * Undo with ksmmod_unlock_target().
 *
 * Return: 0, an error of ksmmod_get_target(), -ESRCH, or -EINTR (fatal signal).
 */
static int ksmmod_lock_target(u32 pidfd, bool check, bool write, struct mm_struct **mmp)
{
	struct mm_struct *mm;
	int err;

	if (check) {
		err = ksmmod_get_target(pidfd, &mm);
		if (err)
			return err;
	} else {
		mm = get_task_mm(current);
		if (!mm)
			return -ESRCH;
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
 * ksmmod_registry_own_madvise() - whether current is in ksmmod's own madvise()
 *
 * The KSM entry hooks (src/hooks.c) let such a call set VM_MERGEABLE
 * without entering anyone's KSM: the registry registers the process itself.
 *
 * Return: true inside ksmmod_madvise_range().
 */
bool ksmmod_registry_own_madvise(void)
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
 *
 * Return: 0 or a negative errno; on error nothing changed.
 */
int ksmmod_register(u32 pidfd, unsigned long start, unsigned long end, unsigned int how)
{
	bool whole = how & KSMMOD_REG_WHOLE, flags_set = false;
	struct mmu_notifier *mn = NULL;
	struct ksmmod_reg_ctx ctx;
	struct ksmmod_mm_slot *slot;
	struct vm_area_struct *vma;
	struct mm_struct *mm;
	unsigned int pieces;
	bool holes;
	int err;

	err = ksmmod_lock_target(pidfd, !(how & KSMMOD_REG_FOLLOW), true, &mm);
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
	err = ksmmod_ctx_alloc(&ctx, true, pieces);
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
			ksmmod_ctx_free(&ctx);
			goto out_unlock;
		}
	}

	mutex_lock(&ksmmod_registry_lock);
	slot = ksmmod_slot_lookup(mm);
	if (!slot && pieces)
		slot = ksmmod_slot_insert(&ctx, mm);
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
			ksmmod_slot_add_range(slot, &ctx, 0, TASK_SIZE_MAX);
		for_each_vma_range(vmi, vma, end) {
			if (!ksmmod_vma_eligible(vma))
				continue;
			if (whole)
				ksmmod_vma_set_mergeable(vma);
			else if (!ksmmod_dropin_active())
				ksmmod_slot_add_range(slot, &ctx, max(start, vma->vm_start),
						      min(end, vma->vm_end));
		}
		if (whole) {
			/* New mappings, fork and exec: see compat.h. */
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
	if (mn && !slot->mn) {
		slot->mn = mn;
		slot->mn_tried = true;
		mn = NULL;
	}
	mutex_unlock(&ksmmod_registry_lock);
	/* The slot had its notifier already: drop the second reference. */
	ksmmod_notifier_put(mn);
	ksmmod_ctx_free(&ctx);
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
	mutex_lock(&ksmmod_registry_lock);
	slot = ksmmod_slot_lookup(mm);
	mutex_unlock(&ksmmod_registry_lock);
	if (slot && slot->entered && !slot->whole)
		ksmmod_slot_free(slot);
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
	err = ksmmod_lock_target(pidfd, true, whole, &mm);
	if (err)
		return err;
	ksmmod_count_pieces(mm, start, end, &holes);
	if (holes && !whole) {
		err = -ENOMEM;
		goto out_unlock;
	}
	/* One spare node covers the only split a single range can cause. */
	err = ksmmod_ctx_alloc(&ctx, false, 1);
	if (err)
		goto out_unlock;

	mutex_lock(&ksmmod_registry_lock);
	slot = ksmmod_slot_lookup(mm);
	mutex_unlock(&ksmmod_registry_lock);
	if (!slot) {
		err = whole ? -ENOENT : 0;
		goto out_free;
	}
	/*
	 * Break the merges first: if that fails (fatal signal, OOM), the
	 * registration is unchanged and the call can simply be repeated.
	 */
	err = ksmmod_registry_unmerge_slot(slot, start, end);
	if (err)
		goto out_free;
	ksmmod_scan_forget_slot(slot, false);
	ksmmod_remove_rmap_items_in(&slot->rmap_list, start, end);
	if (whole) {
		/* The process is out: no mapping of it stays VM_MERGEABLE. */
		ksmmod_slot_clear_mergeable(slot);
		ksmmod_slot_free(slot);
		goto out_free;
	}
	/*
	 * A process in KSM by drop-in keeps its one range: VM_MERGEABLE,
	 * cleared below, decides (see ksmmod_register()).
	 */
	if (!slot->entered) {
		mutex_lock(&ksmmod_registry_lock);
		ksmmod_slot_remove_range(slot, &ctx, start, end);
		mutex_unlock(&ksmmod_registry_lock);
		if (list_empty(&slot->ranges))
			ksmmod_slot_free(slot);
	} else {
		entered = !slot->whole;
	}
out_free:
	ksmmod_ctx_free(&ctx);
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
 * ksmmod_registry_enter() - drop-in __ksm_enter(): @mm is ksmmod's now
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
 * Return: 0 or -ENOMEM.
 */
int ksmmod_registry_enter(struct mm_struct *mm)
{
	bool whole = false, keep_exec = false;
	struct ksmmod_reg_ctx ctx;
	struct ksmmod_mm_slot *slot;
	int err;

	err = ksmmod_ctx_alloc(&ctx, true, 1);
	if (err)
		return err;
	mutex_lock(&ksmmod_registry_lock);
	/*
	 * fork or exec of a process the kernel's KSM had before ksmmod was
	 * loaded: the new mm goes to the kernel's KSM too, never share
	 * (copy-on-write) pages between the two.
	 */
	if (current->mm && current->mm != mm && ksmmod_mm_flag_test(current->mm, MMF_VM_MERGEABLE)) {
		struct ksmmod_mm_slot *parent = ksmmod_slot_lookup(current->mm);

		if (!parent || !parent->entered) {
			mutex_unlock(&ksmmod_registry_lock);
			ksmmod_ctx_free(&ctx);
			return kcall___ksm_enter(mm);
		}
	}
	/*
	 * fork or exec of a process registered whole by ADD_PROCESS: the new
	 * mm follows it (fork always, exec only with KEEP_EXEC; 6.12's
	 * ksm_execve() calls here because the kernel copied MMF_VM_MERGE_ANY).
	 */
	if (current->mm && current->mm != mm) {
		struct ksmmod_mm_slot *parent = ksmmod_slot_lookup(current->mm);

		if (parent && parent->whole) {
			if (ksmmod_enter_is_exec(mm) && !parent->keep_exec) {
				ksmmod_mm_clear_whole(mm);
				ksmmod_mm_clear_merge_any(mm);
				mutex_unlock(&ksmmod_registry_lock);
				ksmmod_ctx_free(&ctx);
				return 0;
			}
			whole = true;
			keep_exec = parent->keep_exec;
		}
	}
	slot = ksmmod_slot_lookup(mm);
	if (!slot) {
		slot = ksmmod_slot_insert(&ctx, mm);
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
	ksmmod_slot_add_range(slot, &ctx, 0, TASK_SIZE_MAX);
	slot->entered = true;
	ksmmod_mm_flag_set(mm, MMF_VM_MERGEABLE);
	mutex_unlock(&ksmmod_registry_lock);
	ksmmod_ctx_free(&ctx);
	ksmmod_scan_wake();
	return 0;
}

/**
 * ksmmod_registry_exit_mm() - drop-in __ksm_exit(): @mm's last user is gone
 * @mm: an address space about to be torn down (exit_mmap() follows)
 *
 * Frees everything ksmmod keeps for @mm at once, instead of waiting for the
 * scanner to notice.
 *
 * Return: false if ksmmod does not own @mm (the kernel's KSM does).
 */
bool ksmmod_registry_exit_mm(struct mm_struct *mm)
{
	struct ksmmod_mm_slot *slot;
	bool ours;

	mutex_lock(&ksmmod_registry_lock);
	slot = ksmmod_slot_lookup(mm);
	ours = slot && slot->entered;
	mutex_unlock(&ksmmod_registry_lock);
	/*
	 * exec's error path calls ksm_exit() with the new mm's mmap_lock
	 * held and users left (6.12 __bprm_mm_init()): the scanner may be
	 * waiting for that lock while it holds ksmmod_thread_mutex. The final
	 * mmput() comes back here with no users; do the work then.
	 */
	if (!ours || atomic_read(&mm->mm_users))
		return ours;
	ksmmod_thread_lock();
	mutex_lock(&ksmmod_registry_lock);
	slot = ksmmod_slot_lookup(mm);
	mutex_unlock(&ksmmod_registry_lock);
	if (slot)
		ksmmod_slot_free(slot);
	mutex_unlock(&ksmmod_thread_mutex);
	return true;
}

/**
 * ksmmod_registry_attach_notifier() - ksmmodd: give @slot its mmu_notifier
 * @slot: a slot without one (slots created by the drop-in entry points)
 *
 * Called by ksmmodd with ksmmod_thread_mutex held and no mmap_lock.
 */
void ksmmod_registry_attach_notifier(struct ksmmod_mm_slot *slot)
{
	struct mm_struct *mm = slot->mm;

	slot->mn_tried = true;
	if (!mmget_not_zero(mm))
		return;
	mmap_write_lock(mm);
	slot->mn = ksmmod_notifier_get(mm);
	mmap_write_unlock(mm);
	/* Unmaps and exit are then noticed by the scanner alone. */
	if (IS_ERR(slot->mn))
		slot->mn = NULL;
	/* Never the last mm_users drop here: __mmput() may re-enter ksmmod. */
	mmput_async(mm);
}

/* Unload, before the module's text goes: no notifier may call into it. */
void ksmmod_registry_drop_notifiers(void)
{
	struct ksmmod_mm_slot *slot = NULL;

	/* Drop-in entries add slots under ksmmod_registry_lock alone: step with it. */
	ksmmod_thread_lock();
	while ((slot = ksmmod_registry_next_slot(slot))) {
		ksmmod_notifier_put(slot->mn);
		slot->mn = NULL;
	}
	mutex_unlock(&ksmmod_thread_mutex);
}

/* The slot of @mm if it still holds notifier @mn (ksmmod_thread_mutex held). */
static struct ksmmod_mm_slot *ksmmod_slot_of_notifier(struct mm_struct *mm,
						      struct mmu_notifier *mn)
{
	struct ksmmod_mm_slot *slot;

	lockdep_assert_held(&ksmmod_thread_mutex);
	mutex_lock(&ksmmod_registry_lock);
	slot = ksmmod_slot_lookup(mm);
	mutex_unlock(&ksmmod_registry_lock);
	return slot && slot->mn == mn ? slot : NULL;
}

/**
 * ksmmod_registry_forget_mm() - ksmmodd: @mm's address space went away
 * @mm: the mm whose notifier's release() ran
 * @mn: that notifier
 */
void ksmmod_registry_forget_mm(struct mm_struct *mm, struct mmu_notifier *mn)
{
	struct ksmmod_mm_slot *slot = ksmmod_slot_of_notifier(mm, mn);

	if (slot)
		ksmmod_slot_free(slot);
}

/**
 * ksmmod_registry_forget_unmapped() - ksmmodd: [@start, @end) of @mm was unmapped
 * @mm: the mm
 * @mn: its notifier, which saw the unmap
 * @start: first address
 * @end: end address
 *
 * Frees the rmap items of addresses in the range that no mapping covers any
 * more (the range may have been mapped again meanwhile: those stay for the
 * scanner to judge).
 */
void ksmmod_registry_forget_unmapped(struct mm_struct *mm, struct mmu_notifier *mn,
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
	mmput_async(mm);	/* see ksmmod_registry_attach_notifier() */
}

unsigned long ksmmod_registry_nr_slots(void)
{
	return READ_ONCE(ksmmod_nr_slots);
}

/**
 * ksmmod_registry_process_stats() - KSMMOD_IOC_PROCESS_STATS
 * @pidfd: a pidfd, or 0 for the caller
 * @ps: filled in (the caller zeroed it)
 *
 * Return: 0, an error of ksmmod_get_target_mode(), or -ENOENT if ksmmod does
 * not know the process.
 */
int ksmmod_registry_process_stats(u32 pidfd, struct ksmmod_process_stats *ps)
{
	struct ksmmod_range_node *r;
	struct ksmmod_mm_slot *slot;
	struct mm_struct *mm;
	int err;

	err = ksmmod_get_target_mode(pidfd, PTRACE_MODE_READ_FSCREDS, &mm);
	if (err)
		return err;
	if (mmap_read_lock_killable(mm)) {
		mmput(mm);
		return -EINTR;
	}
	mutex_lock(&ksmmod_registry_lock);
	slot = ksmmod_slot_lookup(mm);
	if (slot) {
		list_for_each_entry(r, &slot->ranges, link) {
			struct vm_area_struct *vma;
			VMA_ITERATOR(vmi, mm, r->start);

			for_each_vma_range(vmi, vma, r->end)
				if (vma->vm_flags & VM_MERGEABLE)
					ps->registered_bytes += min(r->end, vma->vm_end) -
								max(r->start, vma->vm_start);
		}
		ps->zero_pages = ksmmod_zero_pages_of(mm, &slot->zero_pages);
		/* Maintained by ksmmod under ksmmod_thread_mutex: a snapshot. */
		ps->merging_pages = READ_ONCE(mm->ksm_merging_pages);
		ps->rmap_items = READ_ONCE(mm->ksm_rmap_items);
		ps->process_profit = (s64)(ps->merging_pages + ps->zero_pages) * PAGE_SIZE -
				     (s64)ps->rmap_items * KSMMOD_RMAP_ITEM_BYTES;
	}
	mutex_unlock(&ksmmod_registry_lock);
	mmap_read_unlock(mm);
	mmput(mm);
	return slot ? 0 : -ENOENT;
}

/**
 * ksmmod_registry_zero_pages() - KSM zero pages mapped in registered processes
 *
 * Return: the sum over all slots (see "KSM zero pages" in compat.h).
 */
unsigned long ksmmod_registry_zero_pages(void)
{
	struct ksmmod_mm_slot *slot;
	long sum = 0;

	mutex_lock(&ksmmod_registry_lock);
	list_for_each_entry(slot, &ksmmod_mm_list, link)
		sum += ksmmod_zero_pages_of(slot->mm, &slot->zero_pages);
	mutex_unlock(&ksmmod_registry_lock);
	return max(sum, 0L);
}

int ksmmod_registry_init(void)
{
	ksmmod_slot_cache = KMEM_CACHE(ksmmod_mm_slot, 0);
	ksmmod_range_cache = KMEM_CACHE(ksmmod_range_node, 0);
	if (!ksmmod_slot_cache || !ksmmod_range_cache) {
		kmem_cache_destroy(ksmmod_slot_cache);
		kmem_cache_destroy(ksmmod_range_cache);
		return -ENOMEM;
	}
	return 0;
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
	mmput_async(mm);	/* see ksmmod_registry_attach_notifier() */
}

/**
 * ksmmod_registry_leave_all() - unload: take every process out of KSM
 *
 * Called while the drop-in hooks are still in place, so that no fork of a
 * ksmmod process can reach the kernel's own __ksm_enter() with merged
 * pages around; ksmmod_registry_exit() repeats it for processes that
 * entered meanwhile.
 */
void ksmmod_registry_leave_all(void)
{
	struct ksmmod_mm_slot *slot = NULL;

	/*
	 * Drop-in entries add slots under ksmmod_registry_lock alone, which
	 * ksmmod_slot_leave() cannot hold (it takes mmap_locks): step with
	 * ksmmod_registry_next_slot(), which takes it.
	 */
	ksmmod_thread_lock();
	while ((slot = ksmmod_registry_next_slot(slot)))
		ksmmod_slot_leave(slot);
	mutex_unlock(&ksmmod_thread_mutex);
}

/* Forget every registration; at unload, after the scanner stopped and unmerged. */
void ksmmod_registry_exit(void)
{
	struct ksmmod_mm_slot *slot, *tmp;

	ksmmod_thread_lock();
	for (slot = ksmmod_registry_next_slot(NULL); slot; slot = tmp) {
		ksmmod_slot_leave(slot);
		tmp = ksmmod_registry_next_slot(slot);
		ksmmod_slot_free(slot);
	}
	mutex_unlock(&ksmmod_thread_mutex);
	kmem_cache_destroy(ksmmod_slot_cache);
	kmem_cache_destroy(ksmmod_range_cache);
}
