// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod registry: which processes and which of their memory ksmmod may merge.
 *
 * DOC: Registry
 *
 * Every process with registered memory has one &struct ksmmod_mm_slot, found
 * by mm in a hash table and kept on a list the scanner walks round-robin. A
 * slot holds a reference on the mm_struct (mmgrab, not mmget: it does not keep
 * the address space alive), its mmu_notifier, and the sorted, non-overlapping
 * address ranges that were registered.
 *
 * This file keeps that data and nothing else: it calls nothing of ksmmod's
 * above it. What registration means (madvise semantics, whole processes,
 * drop-in entry and exit, notifiers, unload) is src/lifecycle.c's; the
 * scanner (src/scan.c) reads the slots and ranges, and marks the slots of
 * processes it finds gone for the lifecycle code to drop.
 *
 * Locking: changes of slots and ranges take ksmmod_thread_mutex (so the
 * scanner is between batches), then the target's mmap_lock, then the
 * registry lock (ksmmod_registry_lock()), which protects the hash, the lists
 * and every slot's ranges. Drop-in entry adds slots under the registry lock
 * alone. Slots are freed only under ksmmod_thread_mutex: a slot the holder
 * of that mutex found stays valid while it holds it. Readers that only
 * count slots need nothing.
 *
 * Slots of processes in an explicit merge domain are also in a second,
 * small hash table under a raw spinlock, which the watch hooks read (they
 * run in atomic context and cannot take the registry lock): a fork or exec
 * they hand to a task_work takes the domain along (ksmmod_registry_explicit_of()).
 */
#include <linux/hashtable.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>

#include "ksmmod/core.h"
#include "ksmmod/ksmmod.h"
#include "ksmmod/registry.h"

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

static DEFINE_MUTEX(ksmmod_registry_mutex);
static DEFINE_HASHTABLE(ksmmod_mm_hash, KSMMOD_MM_HASH_BITS);
/* Slots the scanner walks, and slots it found gone (for ksmmod_registry_next_gone()). */
static LIST_HEAD(ksmmod_mm_list);
static LIST_HEAD(ksmmod_gone_list);
static unsigned long ksmmod_nr_slots;
/* Slots without a try at an mmu_notifier yet (drop-in entry cannot register one). */
static unsigned long ksmmod_nr_unattached;
static struct kmem_cache *ksmmod_slot_cache;
static struct kmem_cache *ksmmod_range_cache;

#define KSMMOD_EXPLICIT_HASH_BITS	6

/* Slots with an explicit domain, by mm: changed under the registry lock too. */
static DEFINE_RAW_SPINLOCK(ksmmod_explicit_lock);
static DEFINE_HASHTABLE(ksmmod_explicit_hash, KSMMOD_EXPLICIT_HASH_BITS);

/* @slot's explicit domain is now @explicit: (un)list it (registry lock held). */
static void ksmmod_registry_list_explicit(struct ksmmod_mm_slot *slot, u64 explicit)
{
	unsigned long flags;

	lockdep_assert_held(&ksmmod_registry_mutex);
	raw_spin_lock_irqsave(&ksmmod_explicit_lock, flags);
	if (slot->owner.explicit)
		hash_del(&slot->explicit_link);
	slot->owner.explicit = explicit;
	if (explicit)
		hash_add(ksmmod_explicit_hash, &slot->explicit_link, (unsigned long)slot->mm);
	raw_spin_unlock_irqrestore(&ksmmod_explicit_lock, flags);
}

/**
 * ksmmod_registry_explicit_of() - the explicit merge domain of @mm
 * @mm: an address space
 *
 * For the watch hooks: any context, no sleeping lock.
 *
 * Return: the id SET_DOMAIN (or inheritance) gave @mm's slot, or 0.
 */
u64 notrace ksmmod_registry_explicit_of(struct mm_struct *mm)
{
	struct ksmmod_mm_slot *slot;
	unsigned long flags;
	u64 id = 0;

	raw_spin_lock_irqsave(&ksmmod_explicit_lock, flags);
	hash_for_each_possible(ksmmod_explicit_hash, slot, explicit_link, (unsigned long)mm) {
		if (slot->mm == mm) {
			id = slot->owner.explicit;
			break;
		}
	}
	raw_spin_unlock_irqrestore(&ksmmod_explicit_lock, flags);
	return id;
}

/* Take the registry lock (see "Registry" above for the lock order). */
void ksmmod_registry_lock(void)
{
	mutex_lock(&ksmmod_registry_mutex);
}

void ksmmod_registry_unlock(void)
{
	mutex_unlock(&ksmmod_registry_mutex);
}

/**
 * ksmmod_registry_lookup() - the slot of @mm
 * @mm: an address space
 *
 * Called with the registry lock held.
 *
 * Return: the slot (also one the scanner found gone), or NULL.
 */
struct ksmmod_mm_slot *ksmmod_registry_lookup(struct mm_struct *mm)
{
	struct ksmmod_mm_slot *slot;

	lockdep_assert_held(&ksmmod_registry_mutex);
	hash_for_each_possible(ksmmod_mm_hash, slot, hash, (unsigned long)mm)
		if (slot->mm == mm)
			return slot;
	return NULL;
}

/**
 * ksmmod_registry_find() - the slot of @mm, looked up under the registry lock
 * @mm: an address space
 *
 * Return: the slot or NULL; it stays valid only while the caller holds
 * ksmmod_thread_mutex (or merely compares it).
 */
struct ksmmod_mm_slot *ksmmod_registry_find(struct mm_struct *mm)
{
	struct ksmmod_mm_slot *slot;

	ksmmod_registry_lock();
	slot = ksmmod_registry_lookup(mm);
	ksmmod_registry_unlock();
	return slot;
}

/**
 * ksmmod_registry_remove() - free @slot: its ranges, its notifier reference, itself
 * @slot: a slot whose rmap items are gone (ksmmod_thread_mutex held, the
 *	registry lock not)
 */
void ksmmod_registry_remove(struct ksmmod_mm_slot *slot)
{
	struct ksmmod_range_node *r, *tmp;

	lockdep_assert_held(&ksmmod_thread_mutex);
	WARN_ON_ONCE(slot->rmap_list);
	ksmmod_registry_lock();
	list_for_each_entry_safe(r, tmp, &slot->ranges, link)
		kmem_cache_free(ksmmod_range_cache, r);
	hash_del(&slot->hash);
	ksmmod_registry_list_explicit(slot, 0);
	list_del(&slot->link);
	WRITE_ONCE(ksmmod_nr_slots, ksmmod_nr_slots - 1);
	if (!slot->mn_tried)
		WRITE_ONCE(ksmmod_nr_unattached, ksmmod_nr_unattached - 1);
	ksmmod_registry_unlock();
	/* The kernel calls the notifier's free_notifier() after a grace period. */
	if (slot->mn)
		mmu_notifier_put(slot->mn);
	mmdrop(slot->mm);
	ksmmod_domain_put(slot->domain);
	kmem_cache_free(ksmmod_slot_cache, slot);
}

/**
 * ksmmod_registry_mark_gone() - the scanner found @slot's process gone
 * @slot: a slot (ksmmod_thread_mutex held)
 *
 * The slot leaves the scan list (the scanner has taken the slot after it
 * already) for the lifecycle code to drop (ksmmod_registry_next_gone()).
 */
void ksmmod_registry_mark_gone(struct ksmmod_mm_slot *slot)
{
	lockdep_assert_held(&ksmmod_thread_mutex);
	ksmmod_registry_lock();
	list_move_tail(&slot->link, &ksmmod_gone_list);
	slot->gone = true;
	ksmmod_registry_unlock();
}

/**
 * ksmmod_registry_next_gone() - a slot the scanner marked gone
 *
 * Called with ksmmod_thread_mutex held.
 *
 * Return: the first such slot, or NULL.
 */
struct ksmmod_mm_slot *ksmmod_registry_next_gone(void)
{
	struct ksmmod_mm_slot *slot;

	lockdep_assert_held(&ksmmod_thread_mutex);
	ksmmod_registry_lock();
	slot = list_first_entry_or_null(&ksmmod_gone_list, struct ksmmod_mm_slot, link);
	ksmmod_registry_unlock();
	return slot;
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
	/* Slots are added under the registry lock alone (drop-in entry). */
	ksmmod_registry_lock();
	if (!slot)
		next = list_first_entry_or_null(&ksmmod_mm_list, struct ksmmod_mm_slot, link);
	else if (list_is_last(&slot->link, &ksmmod_mm_list))
		next = NULL;
	else
		next = list_next_entry(slot, link);
	ksmmod_registry_unlock();
	return next;
}

/**
 * ksmmod_registry_next_unattached() - a slot that has not tried for a notifier yet
 *
 * Called with ksmmod_thread_mutex held.
 *
 * Return: the first slot without &ksmmod_mm_slot.mn_tried, or NULL.
 */
struct ksmmod_mm_slot *ksmmod_registry_next_unattached(void)
{
	struct ksmmod_mm_slot *slot, *found = NULL;

	lockdep_assert_held(&ksmmod_thread_mutex);
	if (!READ_ONCE(ksmmod_nr_unattached))
		return NULL;
	ksmmod_registry_lock();
	list_for_each_entry(slot, &ksmmod_mm_list, link) {
		if (!slot->mn_tried) {
			found = slot;
			break;
		}
	}
	ksmmod_registry_unlock();
	return found;
}

/**
 * ksmmod_registry_set_notifier() - record the outcome of @slot's try at a notifier
 * @slot: a slot (ksmmod_thread_mutex held)
 * @mn: its notifier, or NULL (there is none: the scanner notices exits)
 *
 * Return: whether @slot took @mn; if not (it had one already, or @mn is
 * NULL), the caller keeps its reference on @mn.
 */
bool ksmmod_registry_set_notifier(struct ksmmod_mm_slot *slot, struct mmu_notifier *mn)
{
	bool set = false;

	ksmmod_registry_lock();
	if (!slot->mn_tried) {
		slot->mn_tried = true;
		WRITE_ONCE(ksmmod_nr_unattached, ksmmod_nr_unattached - 1);
	}
	if (mn && !slot->mn) {
		slot->mn = mn;
		set = true;
	}
	ksmmod_registry_unlock();
	return set;
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

void ksmmod_registry_ctx_free(struct ksmmod_reg_ctx *ctx)
{
	struct ksmmod_range_node *r, *tmp;

	if (ctx->slot) {
		ksmmod_domain_put(ctx->slot->domain);
		kmem_cache_free(ksmmod_slot_cache, ctx->slot);
	}
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

/**
 * ksmmod_registry_ctx_alloc() - preallocate for one registry update
 * @ctx: filled in; free it with ksmmod_registry_ctx_free()
 * @slot: preallocate a slot too
 * @n: range nodes to preallocate
 *
 * With enough preallocated, the update itself cannot fail.
 *
 * Return: 0 or -ENOMEM.
 */
int ksmmod_registry_ctx_alloc(struct ksmmod_reg_ctx *ctx, bool slot, unsigned int n)
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
			ksmmod_registry_ctx_free(ctx);
			return -ENOMEM;
		}
		list_add(&r->link, &ctx->ranges);
	}
	return 0;
}

/**
 * ksmmod_registry_ctx_place() - the merge domain of the process @ctx's slot is for
 * @ctx: holds the spare slot (registry lock held)
 * @owner: who the process is (its uid and cgroup), kept for later policy changes
 * @parent: the slot of the process it was forked from, if it follows that
 *	one: it stays in that domain whatever the policy says (the two map the
 *	same KSM pages), and keeps its explicit domain; NULL otherwise
 *
 * Call before ksmmod_registry_insert(); ksmmod_registry_ctx_free() undoes it.
 *
 * Return: 0, or an error of ksmmod_domain_get() (-ENOMEM, -ENOSPC).
 */
int ksmmod_registry_ctx_place(struct ksmmod_reg_ctx *ctx, const struct ksmmod_owner *owner,
			      const struct ksmmod_mm_slot *parent)
{
	struct ksmmod_mm_slot *slot = ctx->slot;

	lockdep_assert_held(&ksmmod_registry_mutex);
	slot->owner = *owner;
	if (parent) {
		slot->owner.explicit = parent->owner.explicit;
		ksmmod_domain_hold(parent->domain);
		slot->domain = parent->domain;
		return 0;
	}
	return ksmmod_domain_get(ksmmod_domain_policy(), owner, &slot->domain);
}

/**
 * ksmmod_registry_set_explicit() - move @slot to the explicit domain @explicit
 * @slot: a slot without merged pages (ksmmod_thread_mutex held, so that the
 *	scanner merges none meanwhile; the registry lock not)
 * @explicit: the domain id; 0: the domain the policy gives it
 *
 * Return: 0, -ENOMEM or -ENOSPC (then nothing changed).
 */
int ksmmod_registry_set_explicit(struct ksmmod_mm_slot *slot, u64 explicit)
{
	struct ksmmod_owner owner;
	u16 idx;
	int err;

	lockdep_assert_held(&ksmmod_thread_mutex);
	ksmmod_registry_lock();
	owner = slot->owner;
	owner.explicit = explicit;
	err = ksmmod_domain_get(ksmmod_domain_policy(), &owner, &idx);
	if (!err) {
		ksmmod_domain_put(slot->domain);
		slot->domain = idx;
		ksmmod_registry_list_explicit(slot, explicit);
	}
	ksmmod_registry_unlock();
	return err;
}

/**
 * ksmmod_registry_set_domain_policy() - place every process in a domain of @policy
 * @policy: KSMMOD_DOMAINS_*
 *
 * Each registered process goes to the domain its owner at registration
 * belongs to under @policy. Only while nothing is merged (the caller checks,
 * with ksmmod_thread_mutex held so that the scanner cannot merge meanwhile):
 * pages of one process merged with another's would otherwise end up shared
 * across domains. All or nothing.
 *
 * Return: 0, -ENOMEM or -ENOSPC (then nothing changed).
 */
int ksmmod_registry_set_domain_policy(u32 policy)
{
	struct ksmmod_mm_slot *slot, *undo;
	int err = 0;

	lockdep_assert_held(&ksmmod_thread_mutex);
	ksmmod_registry_lock();
	list_for_each_entry(slot, &ksmmod_mm_list, link) {
		err = ksmmod_domain_get(policy, &slot->owner, &slot->domain_next);
		if (err)
			break;
	}
	list_for_each_entry(undo, &ksmmod_mm_list, link) {
		if (err && undo == slot)
			break;
		ksmmod_domain_put(err ? undo->domain_next : undo->domain);
		if (!err)
			undo->domain = undo->domain_next;
	}
	if (!err)
		ksmmod_domain_set_policy(policy);
	ksmmod_registry_unlock();
	return err;
}

/**
 * ksmmod_registry_insert() - make @ctx's preallocated slot @mm's (registry lock held)
 * @ctx: holds the spare slot, which it gives up
 * @mm: the address space (mmgrab()ed here)
 *
 * Return: the new slot, in the hash table and at the end of the scan list.
 */
struct ksmmod_mm_slot *ksmmod_registry_insert(struct ksmmod_reg_ctx *ctx, struct mm_struct *mm)
{
	struct ksmmod_mm_slot *slot = ctx->slot;

	lockdep_assert_held(&ksmmod_registry_mutex);
	ctx->slot = NULL;
	slot->mm = mm;
	mmgrab(mm);
	INIT_LIST_HEAD(&slot->ranges);
	hash_add(ksmmod_mm_hash, &slot->hash, (unsigned long)mm);
	if (slot->owner.explicit) {
		u64 explicit = slot->owner.explicit;

		slot->owner.explicit = 0;
		ksmmod_registry_list_explicit(slot, explicit);
	}
	list_add_tail(&slot->link, &ksmmod_mm_list);
	WRITE_ONCE(ksmmod_nr_slots, ksmmod_nr_slots + 1);
	WRITE_ONCE(ksmmod_nr_unattached, ksmmod_nr_unattached + 1);
	return slot;
}

/**
 * ksmmod_registry_add_range() - add [@start, @end) to @slot's ranges
 * @slot: the slot (registry lock held)
 * @ctx: spare range nodes (one is used at most)
 * @start: first address
 * @end: end address
 *
 * Overlapping and adjacent ranges are coalesced.
 */
void ksmmod_registry_add_range(struct ksmmod_mm_slot *slot, struct ksmmod_reg_ctx *ctx,
			       unsigned long start, unsigned long end)
{
	struct ksmmod_range_node *r, *tmp, *pos = NULL;

	lockdep_assert_held(&ksmmod_registry_mutex);
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
 * ksmmod_registry_remove_range() - remove [@start, @end) from @slot's ranges
 * @slot: the slot (registry lock held)
 * @ctx: spare range nodes (one is used if a range is split)
 * @start: first address
 * @end: end address
 */
void ksmmod_registry_remove_range(struct ksmmod_mm_slot *slot, struct ksmmod_reg_ctx *ctx,
				  unsigned long start, unsigned long end)
{
	struct ksmmod_range_node *r, *tmp;

	lockdep_assert_held(&ksmmod_registry_mutex);
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

unsigned long ksmmod_registry_nr_slots(void)
{
	return READ_ONCE(ksmmod_nr_slots);
}

/**
 * ksmmod_registry_slot_stats() - what the registry knows of @mm, for PROCESS_STATS
 * @mm: an address space, mmap_lock held
 * @ps: its registered bytes (of VM_MERGEABLE mappings), zero pages,
 *	merging pages, rmap items, profit, merge_any, mergeable and merge
 *	domain are filled in
 *
 * Return: false if ksmmod does not know @mm.
 */
bool ksmmod_registry_slot_stats(struct mm_struct *mm, struct ksmmod_process_stats *ps)
{
	struct ksmmod_range_node *r;
	struct ksmmod_mm_slot *slot;

	ksmmod_registry_lock();
	slot = ksmmod_registry_lookup(mm);
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
		ps->merge_any = slot->whole;
		ksmmod_domain_describe(slot->domain, &ps->domain_kind, &ps->domain_id);
		ps->mergeable = ps->merge_any || ps->registered_bytes;
		/* Written by ksmmodd: snapshots. */
		ps->ineligible_pages = READ_ONCE(slot->ineligible_pages);
		ps->merge_pinned = READ_ONCE(slot->merge_pinned);
		ps->thp_unsplittable = READ_ONCE(slot->thp_unsplittable);
	}
	ksmmod_registry_unlock();
	return slot;
}

/**
 * ksmmod_registry_zero_pages() - KSM zero pages mapped in registered processes
 *
 * Return: the sum over all slots (see "KSM zero pages" in include/ksmmod/compat/zero.h).
 */
unsigned long ksmmod_registry_zero_pages(void)
{
	struct ksmmod_mm_slot *slot;
	long sum = 0;

	ksmmod_registry_lock();
	list_for_each_entry(slot, &ksmmod_mm_list, link)
		sum += ksmmod_zero_pages_of(slot->mm, &slot->zero_pages);
	ksmmod_registry_unlock();
	return max(sum, 0L);
}

/**
 * ksmmod_registry_domain_sums() - what the processes of each merge domain hold
 * @sums: an empty xarray, filled with one struct ksmmod_domain_entry
 *	(kzalloc()ed) per domain index that has a slot: its @processes,
 *	@ksm_zero_pages and @rmap_items
 *
 * Return: 0 or -ENOMEM (the caller frees what @sums holds either way).
 */
int ksmmod_registry_domain_sums(struct xarray *sums)
{
	struct ksmmod_domain_entry *e;
	struct ksmmod_mm_slot *slot;
	int err = 0;

	ksmmod_registry_lock();
	list_for_each_entry(slot, &ksmmod_mm_list, link) {
		e = xa_load(sums, slot->domain);
		if (!e) {
			e = kzalloc(sizeof(*e), GFP_KERNEL);
			if (!e || xa_err(xa_store(sums, slot->domain, e, GFP_KERNEL))) {
				kfree(e);
				err = -ENOMEM;
				break;
			}
		}
		e->processes++;
		e->ksm_zero_pages += ksmmod_zero_pages_of(slot->mm, &slot->zero_pages);
		e->rmap_items += READ_ONCE(slot->mm->ksm_rmap_items);
	}
	ksmmod_registry_unlock();
	return err;
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

/* At unload, once every slot is freed. */
void ksmmod_registry_exit(void)
{
	WARN_ON_ONCE(!list_empty(&ksmmod_mm_list) || !list_empty(&ksmmod_gone_list) ||
		     !hash_empty(ksmmod_explicit_hash));
	kmem_cache_destroy(ksmmod_slot_cache);
	kmem_cache_destroy(ksmmod_range_cache);
}
