// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod mmu notifiers: hearing about unmapped memory and exiting
 * processes without waiting for the scanner to come by.
 *
 * DOC: MMU notifiers
 *
 * Every registered process gets one mmu_notifier (mmu_notifier_get_locked(),
 * so one per mm however often it is registered). Its callbacks only record
 * what happened and wake ksmmodd, which does the work:
 *
 * - invalidate_range_start() with MMU_NOTIFY_UNMAP (munmap, mremap's old
 *   range, exit) queues the range; ksmmodd then frees the rmap items of
 *   addresses in it that no mapping covers any more. Recording takes a
 *   spinlock and a GFP_NOWAIT allocation, so non-blockable invalidations
 *   (the OOM reaper) are served too; if the allocation fails, the scanner's
 *   next pass cleans up as before;
 * - release() (the process's address space is going away, whatever the
 *   drop-in mode) queues the whole process: ksmmodd frees its slot.
 *
 * The callbacks cannot do the work themselves: munmap holds the mmap_lock
 * that the scanner may be waiting for while it holds ksmmod_thread_mutex.
 * Notifiers of processes registered through the drop-in entry points are
 * set up by ksmmodd (it needs the mmap_lock for write, which those entry
 * points' callers already hold).
 */
#include <linux/list.h>
#include <linux/mm.h>
#include <linux/mmu_notifier.h>
#include <linux/slab.h>
#include <linux/spinlock.h>

#include "ksmmod/ksmmod.h"

/**
 * struct ksmmod_mn - ksmmod's mmu_notifier on one mm
 * @mn: the notifier (@mn.mm is the mm)
 * @pending: struct ksmmod_mn_range entries not yet handled (@ksmmod_mn_lock)
 * @work: link in ksmmod_mn_work while there is something to do
 * @released: the mm's release() ran: forget the whole process
 */
struct ksmmod_mn {
	struct mmu_notifier mn;
	struct list_head pending;
	struct list_head work;
	bool released;
};

static DEFINE_SPINLOCK(ksmmod_mn_lock);
static LIST_HEAD(ksmmod_mn_work);

static void ksmmod_mn_queue(struct ksmmod_mn *kmn)
{
	if (list_empty(&kmn->work))
		list_add_tail(&kmn->work, &ksmmod_mn_work);
}

static int ksmmod_mn_invalidate_range_start(struct mmu_notifier *mn,
					    const struct mmu_notifier_range *range)
{
	struct ksmmod_mn *kmn = container_of(mn, struct ksmmod_mn, mn);
	struct ksmmod_mn_range *u;
	unsigned long flags;

	if (range->event != MMU_NOTIFY_UNMAP)
		return 0;
	u = kmalloc(sizeof(*u), GFP_NOWAIT | __GFP_NOWARN);
	if (!u)
		return 0;	/* the scanner cleans up on its next pass */
	u->start = range->start;
	u->end = range->end;
	spin_lock_irqsave(&ksmmod_mn_lock, flags);
	list_add_tail(&u->link, &kmn->pending);
	ksmmod_mn_queue(kmn);
	spin_unlock_irqrestore(&ksmmod_mn_lock, flags);
	ksmmod_scan_wake();
	return 0;
}

static void ksmmod_mn_release(struct mmu_notifier *mn, struct mm_struct *mm)
{
	struct ksmmod_mn *kmn = container_of(mn, struct ksmmod_mn, mn);
	unsigned long flags;

	spin_lock_irqsave(&ksmmod_mn_lock, flags);
	kmn->released = true;
	ksmmod_mn_queue(kmn);
	spin_unlock_irqrestore(&ksmmod_mn_lock, flags);
	ksmmod_scan_wake();
}

static struct mmu_notifier *ksmmod_mn_alloc(struct mm_struct *mm)
{
	struct ksmmod_mn *kmn = kzalloc(sizeof(*kmn), GFP_KERNEL);

	if (!kmn)
		return ERR_PTR(-ENOMEM);
	INIT_LIST_HEAD(&kmn->pending);
	INIT_LIST_HEAD(&kmn->work);
	return &kmn->mn;
}

/* After the last mmu_notifier_put() and an SRCU grace period. */
static void ksmmod_mn_free(struct mmu_notifier *mn)
{
	struct ksmmod_mn *kmn = container_of(mn, struct ksmmod_mn, mn);
	struct ksmmod_mn_range *u, *tmp;
	unsigned long flags;

	spin_lock_irqsave(&ksmmod_mn_lock, flags);
	list_del_init(&kmn->work);
	spin_unlock_irqrestore(&ksmmod_mn_lock, flags);
	list_for_each_entry_safe(u, tmp, &kmn->pending, link)
		kfree(u);
	kfree(kmn);
}

static const struct mmu_notifier_ops ksmmod_mn_ops = {
	.release = ksmmod_mn_release,
	.invalidate_range_start = ksmmod_mn_invalidate_range_start,
	.alloc_notifier = ksmmod_mn_alloc,
	.free_notifier = ksmmod_mn_free,
};

/**
 * ksmmod_notifier_get() - ksmmod's notifier on @mm, registering it if needed
 * @mm: an mm with a user pin, mmap_lock held for write
 *
 * Return: the notifier (drop with ksmmod_notifier_put()), or an ERR_PTR():
 * -ENOMEM, or -EINTR if the process got a fatal signal (mm_take_all_locks()
 * gives up then).
 */
struct mmu_notifier *ksmmod_notifier_get(struct mm_struct *mm)
{
	return mmu_notifier_get_locked(&ksmmod_mn_ops, mm);
}

void ksmmod_notifier_put(struct mmu_notifier *mn)
{
	if (mn)
		mmu_notifier_put(mn);
}

/* Whether ksmmodd has notifier work (read without the lock: a hint). */
bool ksmmod_notifier_pending(void)
{
	return !list_empty_careful(&ksmmod_mn_work);
}

/**
 * ksmmod_notifier_next_event() - what one notifier recorded, for ksmmodd
 * @ev: filled in: the mm and notifier, whether the address space was
 *	released, and the unmapped ranges (struct ksmmod_mn_range); hand it
 *	back with ksmmod_notifier_event_done()
 *
 * Called with ksmmod_thread_mutex held: the notifier stays allocated while
 * its slot holds it, and slots are only freed under that mutex.
 *
 * Return: false if nothing is recorded.
 */
bool ksmmod_notifier_next_event(struct ksmmod_mn_event *ev)
{
	struct ksmmod_mn *kmn;

	lockdep_assert_held(&ksmmod_thread_mutex);
	INIT_LIST_HEAD(&ev->ranges);
	spin_lock_irq(&ksmmod_mn_lock);
	kmn = list_first_entry_or_null(&ksmmod_mn_work, struct ksmmod_mn, work);
	if (kmn) {
		list_del_init(&kmn->work);
		list_splice_init(&kmn->pending, &ev->ranges);
		ev->released = kmn->released;
		ev->mm = kmn->mn.mm;
		ev->mn = &kmn->mn;
	}
	spin_unlock_irq(&ksmmod_mn_lock);
	return kmn;
}

/* Done with @ev: free its ranges. */
void ksmmod_notifier_event_done(struct ksmmod_mn_event *ev)
{
	struct ksmmod_mn_range *u, *tmp;

	list_for_each_entry_safe(u, tmp, &ev->ranges, link)
		kfree(u);
	cond_resched();
}

/* Unload: wait until every notifier put so far has been freed. */
void ksmmod_notifier_exit(void)
{
	mmu_notifier_synchronize();
}
