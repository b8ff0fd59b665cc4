// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod scanner: walking the registered memory and feeding the trees, one
 * batch at a time for ksmmodd (src/ksmmodd.c).
 *
 * DOC: Scanning
 *
 * ksmmodd walks the registered memory of every registered process in turn
 * (round-robin over the registry's slots, in address order within each), up
 * to pages_to_scan pages per batch, sleeping sleep_millisecs between
 * batches, while run is 1. For each present anonymous page (or subpage of a
 * transparent huge page, which is split only when it is merged) it keeps
 * one rmap item (in an address-ordered list per process, like mm/ksm.c) and
 * calls ksmmod_cmp_and_merge_page():
 *
 * - if the stable tree holds a KSM page with these contents, map it here;
 * - else, if the page's hash changed since the last full scan, it is
 *   volatile: remember the new hash and move on;
 * - else, if use_zero_pages is set and the page is empty, map the zero page
 *   there instead;
 * - else look for an identical page in the unstable tree: if there is one,
 *   merge the two into a new KSM page and put it in the stable tree;
 *   otherwise insert this page into the unstable tree.
 *
 * A page therefore merges at the earliest in its second full scan, as with
 * the kernel's KSM. The unstable tree is rebuilt every full scan.
 *
 * ksmmod_thread_mutex is held for a whole batch; everything that changes
 * the trees, the rmap lists or the registry from outside takes it too.
 *
 * Per-page costs are kept down (mm/ksm.c walks the page tables, takes the
 * mmap_lock and looks the mapping up again for every page): the scanner
 * finds up to KSMMOD_SCAN_BATCH pages at a time under one page table lock
 * (ksmmod_get_anon_pages()), skipping empty page tables and PMDs at once,
 * and keeps the process's mmap_lock from the lookup through the stable tree
 * part of the decision and a merge into a KSM page, and on to the next page
 * found. It releases the lock before anything that takes another mmap_lock
 * (the unstable tree's partner, which may belong to the same process: read
 * locks of one mm must not nest), when a writer waits for it or it must
 * reschedule, and at the end of every pages_to_scan batch. Only the page
 * being handled has a reference (as with mm/ksm.c's scan): the others of a
 * batch are looked up again when their turn comes (through the PMD entry
 * the batch was found under, while the lock has been held since), so that
 * the batch does not make them look pinned to migration, compaction or
 * reclaim.
 */
#include <linux/freezer.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/rcupdate.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/wait.h>
#include <linux/xarray.h>

#include "ksmmod/core.h"
#include "ksmmod/ksmmod.h"
#include "ksmmod/registry.h"
#include "ksmmod/symbols.h"
#include "ksmmod/trace.h"

DEFINE_MUTEX(ksmmod_thread_mutex);
DECLARE_WAIT_QUEUE_HEAD(ksmmod_thread_wait);

/*
 * Memory being offlined (src/memory.c), under ksmmod_thread_mutex. A flag,
 * not a count: offlining is serialized, and MEM_CANCEL_OFFLINE also comes
 * when ksmmod never saw MEM_GOING_OFFLINE (an earlier notifier refused).
 */
static bool ksmmod_offlining;
static DECLARE_WAIT_QUEUE_HEAD(ksmmod_offline_wait);

/**
 * ksmmod_thread_lock() - take ksmmod_thread_mutex, once no memory is being offlined
 *
 * Everything that walks the stable trees takes the mutex this way (the
 * memory notifier itself takes it directly). Release with mutex_unlock().
 */
void ksmmod_thread_lock(void)
{
	for (;;) {
		mutex_lock(&ksmmod_thread_mutex);
		if (!ksmmod_offlining)
			return;
		mutex_unlock(&ksmmod_thread_mutex);
		wait_event(ksmmod_offline_wait, !READ_ONCE(ksmmod_offlining));
	}
}

/**
 * ksmmod_thread_offlining() - memory offlining begins or ends
 * @begin: MEM_GOING_OFFLINE (else MEM_OFFLINE or MEM_CANCEL_OFFLINE)
 *
 * Beginning waits for the holder of ksmmod_thread_mutex (the scanner's
 * batch) to finish, so nobody walks the trees until the offlining ends.
 */
void ksmmod_thread_offlining(bool begin)
{
	mutex_lock(&ksmmod_thread_mutex);
	WRITE_ONCE(ksmmod_offlining, begin);
	mutex_unlock(&ksmmod_thread_mutex);
	if (!begin)
		wake_up_all(&ksmmod_offline_wait);
}

/* Pages looked up in one page table visit (ksmmod_get_anon_pages()). */
#define KSMMOD_SCAN_BATCH	32

/**
 * struct ksmmod_scan_cursor - where the scanner is
 * @slot: the process being scanned; NULL between full scans
 * @address: next address to look at in @slot
 * @rmap_link: where the rmap item for @address is (or would be linked)
 * @locked: @slot's mmap_lock is held (for read) between two pages of a batch
 * @vma: the mapping of the batch's pages (or of the page served alone),
 *	while @locked
 * @range_end: where the part of the registered range within @vma ends (the
 *	range's end or @vma's, whichever is first)
 * @pmd: the PMD entry of the batch's page table while the lock has been
 *	held since the batch was found or since the entry was looked up again
 *	(ksmmod_scan_next_batched(); ksmmod_scan_unlock() clears it); else NULL
 * @batch_next: index of the next page of the batch to serve
 * @batch_nr: pages in the batch
 * @batch_end: first address after the batch's page table range
 * @budget: pages the current ksmmod_scan_batch() may still look at: a batch is
 *	no larger (what it does not serve is looked up again next time)
 * @run_served: pages of the batch served by a merge run (ksmmod_scan_merge_run())
 *	besides the page being served: ksmmod_scan_batch() counts them in
 * @run_stop: address of the page the last merge run stopped at, or 0
 * @batch_addr: addresses of the batch's pages, ascending, all >= @address
 * @batch_page: the batch's pages: the one being served with a reference,
 *	the later ones NULL (looked up again when served)
 *
 * The batch lives within one ksmmod_scan_batch() call only: it is emptied, and
 * the lock dropped, before the scanner sleeps.
 */
struct ksmmod_scan_cursor {
	struct ksmmod_mm_slot *slot;
	unsigned long address;
	struct ksmmod_rmap_item **rmap_link;
	bool locked;
	struct vm_area_struct *vma;
	unsigned long range_end;
	pmd_t *pmd;
	unsigned int batch_next;
	unsigned int batch_nr;
	unsigned long batch_end;
	unsigned int budget;
	unsigned int run_served;
	unsigned long run_stop;
	unsigned long batch_addr[KSMMOD_SCAN_BATCH];
	struct page *batch_page[KSMMOD_SCAN_BATCH];
};

static struct ksmmod_scan_cursor ksmmod_cursor;

/* Pages of ineligible mappings the current full scan found so far. */
static u64 ksmmod_ineligible_acc;

/* Content hash of an empty page (use_zero_pages). */
static u64 ksmmod_zero_hash __ro_after_init;

/**
 * ksmmod_scan_forget_slot() - the registry is about to change or free @slot
 * @slot: a slot whose rmap items or ranges change
 * @freeing: the slot itself goes away: move the cursor to the next slot
 *
 * Called with ksmmod_thread_mutex held.
 */
void ksmmod_scan_forget_slot(struct ksmmod_mm_slot *slot, bool freeing)
{
	lockdep_assert_held(&ksmmod_thread_mutex);
	if (ksmmod_cursor.slot != slot)
		return;
	/* Only ever called between batches. */
	WARN_ON_ONCE(ksmmod_cursor.locked || ksmmod_cursor.batch_next < ksmmod_cursor.batch_nr);
	if (freeing) {
		ksmmod_cursor.slot = ksmmod_registry_next_slot(slot);
		if (!ksmmod_cursor.slot)
			return;
		slot = ksmmod_cursor.slot;
	}
	/* Rescan the slot from its start: items are matched by address again. */
	ksmmod_cursor.address = 0;
	ksmmod_cursor.rmap_link = &slot->rmap_list;
}

/**
 * ksmmod_get_next_rmap_item() - the rmap item for @addr, reusing or creating it
 * @slot: the process
 * @addr: address of a present page
 *
 * Items for addresses the scan skipped (no page there any more) are freed.
 *
 * Return: the item or NULL (out of memory).
 */
static struct ksmmod_rmap_item *ksmmod_get_next_rmap_item(struct ksmmod_mm_slot *slot,
							  unsigned long addr)
{
	struct ksmmod_rmap_item **link = ksmmod_cursor.rmap_link;
	struct ksmmod_rmap_item *item;

	while (*link) {
		item = *link;
		if ((item->address & PAGE_MASK) == addr)
			return item;
		if (item->address > addr)
			break;
		*link = item->rmap_list;
		ksmmod_remove_rmap_item_from_tree(item);
		ksmmod_rmap_item_free(item);
	}
	item = ksmmod_rmap_item_alloc(slot->mm, addr);
	if (item) {
		item->rmap_list = *link;
		*link = item;
	}
	return item;
}

/*
 * Pages a merge unmapped, freed together (ksmmod_scan_put_page()): as many
 * as release_pages() handles in one go on 6.12 (PAGEVEC_SIZE).
 */
#define KSMMOD_FREE_BATCH	31
static struct page *ksmmod_free_batch[KSMMOD_FREE_BATCH];
static unsigned int ksmmod_free_nr;

/*
 * Free them now: before anything that may block (taking an mmap_lock,
 * draining the LRU batches, sleeping), so that no page stays referenced
 * long (reclaim would write it to swap in vain; migration and compaction
 * would see it pinned).
 */
static void ksmmod_scan_free_batch(void)
{
	if (ksmmod_free_nr)
		release_pages(ksmmod_free_batch, ksmmod_free_nr);
	ksmmod_free_nr = 0;
}

/**
 * ksmmod_scan_put_page() - drop the scanner's reference on a page it handled
 * @page: the page
 *
 * A page that a merge replaced in its last mapping has only this reference
 * left (mappings, the swap cache, LRU and migration batches, pins hold their
 * own): only PFN walkers and, for a KSM page, ksmmod's stable tree can still
 * find it, and they take a reference of their own before using it. Such
 * pages are freed in batches (one LRU lock, one memcg uncharge, one per-CPU
 * free list lock per batch instead of per page); any other page is put at
 * once, so that a reference kept does not make it look pinned.
 */
static void ksmmod_scan_put_page(struct page *page)
{
	struct folio *folio = page_folio(page);

	if (folio_ref_count(folio) != 1 || folio_test_large(folio)) {
		put_page(page);
		return;
	}
	ksmmod_free_batch[ksmmod_free_nr++] = page;
	if (ksmmod_free_nr == KSMMOD_FREE_BATCH)
		ksmmod_scan_free_batch();
}

/* Release the mmap_lock kept between pages of a batch (and forget its mapping and PMD). */
static void ksmmod_scan_unlock(void)
{
	struct ksmmod_scan_cursor *c = &ksmmod_cursor;

	if (c->locked)
		mmap_read_unlock(c->slot->mm);
	c->locked = false;
	c->vma = NULL;
	c->pmd = NULL;
}

/**
 * ksmmod_scan_drop_batch() - forget the rest of the batch
 *
 * The pages not served yet are put and will be looked up again; the
 * mmap_lock, if still held, is released.
 */
static void ksmmod_scan_drop_batch(void)
{
	struct ksmmod_scan_cursor *c = &ksmmod_cursor;

	if (c->batch_next < c->batch_nr)
		c->address = c->batch_addr[c->batch_next];
	for (; c->batch_next < c->batch_nr; c->batch_next++)
		if (c->batch_page[c->batch_next])
			put_page(c->batch_page[c->batch_next]);
	c->batch_next = c->batch_nr = 0;
	ksmmod_scan_unlock();
}

/* Move the cursor past the batch's next page, whose rmap item is @item. */
static void ksmmod_scan_advance(struct ksmmod_rmap_item *item)
{
	struct ksmmod_scan_cursor *c = &ksmmod_cursor;
	unsigned long addr = c->batch_addr[c->batch_next++];

	c->rmap_link = &item->rmap_list;
	c->address = c->batch_next < c->batch_nr ? addr + PAGE_SIZE : c->batch_end;
}

/* Hand out the batch's next page, whose rmap item is @item. */
static void ksmmod_scan_serve(struct ksmmod_rmap_item *item, struct page **pagep,
			      struct vm_area_struct **vmap)
{
	struct ksmmod_scan_cursor *c = &ksmmod_cursor;

	*pagep = c->batch_page[c->batch_next];
	ksmmod_scan_advance(item);
	*vmap = c->vma;
}

/**
 * ksmmod_scan_next_batched() - the next page of the batch
 * @pagep: set to the page (with the batch's reference)
 * @vmap: set to its mapping
 *
 * Retakes the mmap_lock (and looks the mapping up again) if a page before
 * released it.
 *
 * Return: its rmap item (mmap_lock held), or NULL if the batch was dropped
 * (the mapping went away, or no memory for an item): the caller looks the
 * page up again the slow way.
 */
static struct ksmmod_rmap_item *ksmmod_scan_next_batched(struct page **pagep,
							 struct vm_area_struct **vmap)
{
	struct ksmmod_scan_cursor *c = &ksmmod_cursor;
	unsigned long addr = c->batch_addr[c->batch_next];
	struct ksmmod_rmap_item *item;

	if (!c->locked) {
		struct mm_struct *mm = c->slot->mm;

		ksmmod_scan_free_batch();
		mmap_read_lock(mm);
		c->locked = true;
		/* NULL too if the process is exiting. */
		c->vma = ksmmod_find_mergeable_vma(mm, addr);
		/* Handed to the kernel's KSM meanwhile: the slow path lets go. */
		if (ksmmod_mm_flag_test(mm, MMF_VM_MERGEABLE) && !c->slot->entered)
			c->vma = NULL;
		/*
		 * The batch's page table, looked up again: valid while the lock
		 * is held from now on (the rest of the batch, a merge run).
		 */
		if (c->vma)
			c->pmd = ksmmod_find_pte_table(mm, addr);
	}
	/*
	 * The registered ranges cannot change (ksmmod_thread_mutex is held),
	 * but the mappings can while the lock was dropped: every page served
	 * must be in a mergeable mapping now.
	 */
	if (!c->vma || addr < c->vma->vm_start || addr >= c->vma->vm_end) {
		ksmmod_scan_drop_batch();
		return NULL;
	}
	if (!c->batch_page[c->batch_next]) {
		/* Found without keeping a reference (see ksmmod_scan_vma()): look again. */
		c->batch_page[c->batch_next] = c->pmd ?
			ksmmod_get_anon_page_pmd(c->vma, c->pmd, addr) :
			ksmmod_get_anon_page(c->vma, addr);
		if (!c->batch_page[c->batch_next]) {
			ksmmod_scan_drop_batch();
			return NULL;
		}
	}
	item = ksmmod_get_next_rmap_item(c->slot, addr);
	if (!item) {
		ksmmod_scan_drop_batch();
		return NULL;
	}
	ksmmod_scan_serve(item, pagep, vmap);
	return item;
}

/**
 * ksmmod_scan_vma() - the next page of @vma in [@addr, @vend)
 * @slot: the process being scanned, its mmap_lock held
 * @vma: a mergeable mapping
 * @addr: first address to look at
 * @vend: end of the range to look at (within @vma)
 * @pagep: set to the page (with a reference)
 * @vmap: set to @vma
 *
 * Finds up to KSMMOD_SCAN_BATCH pages at once: the rest of them are
 * served by ksmmod_scan_next_batched().
 *
 * Return: the page's rmap item (mmap_lock still held), NULL if there is no
 * page in the range, or ERR_PTR(-ENOMEM) if no rmap item could be allocated.
 */
static struct ksmmod_rmap_item *ksmmod_scan_vma(struct ksmmod_mm_slot *slot,
						struct vm_area_struct *vma,
						unsigned long addr, unsigned long vend,
						struct page **pagep, struct vm_area_struct **vmap)
{
	struct ksmmod_scan_cursor *c = &ksmmod_cursor;
	struct ksmmod_rmap_item *item;
	struct page *page;
	int i, n;

	while (addr < vend) {
		/* Under the mmap_lock, as mm/ksm.c's scan does. */
		cond_resched();
		n = ksmmod_get_anon_pages(vma, addr, vend, c->batch_addr, c->batch_page,
					  clamp(c->budget, 1U, (unsigned int)KSMMOD_SCAN_BATCH),
					  &c->pmd, &c->batch_end);
		if (n == 0) {
			addr = c->batch_end;	/* nothing in this page table */
			continue;
		}
		if (n > 0) {
			/*
			 * Only the page served now has a reference: a batch may
			 * stay open for a while, and references would make
			 * migration, compaction and reclaim of its other pages
			 * fail meanwhile (they look pinned). The others are
			 * looked up again when their turn comes.
			 */
			for (i = 1; i < n; i++)
				c->batch_page[i] = NULL;
			c->batch_nr = n;
			c->batch_next = 0;
			item = ksmmod_get_next_rmap_item(slot, c->batch_addr[0]);
			if (!item) {
				ksmmod_scan_drop_batch();
				return ERR_PTR(-ENOMEM);
			}
			c->vma = vma;
			c->range_end = vend;
			c->locked = true;
			ksmmod_scan_serve(item, pagep, vmap);
			return item;
		}
		/* Not mapped through a page table: one address at a time. */
		page = ksmmod_get_anon_page(vma, addr);
		if (!page) {
			addr += PAGE_SIZE;
			continue;
		}
		item = ksmmod_get_next_rmap_item(slot, addr);
		if (!item) {
			put_page(page);
			return ERR_PTR(-ENOMEM);
		}
		c->rmap_link = &item->rmap_list;
		c->address = addr + PAGE_SIZE;
		/*
		 * The lock is held: say so, or a page smart scan skips would
		 * leave it held with nobody to release it.
		 */
		c->locked = true;
		c->vma = vma;
		c->range_end = vend;
		*pagep = page;
		*vmap = vma;
		return item;
	}
	return NULL;
}

/**
 * ksmmod_scan_on() - the next page after a batch, under the same lock
 * @pagep: set to the page (with a reference)
 * @vmap: set to its mapping
 *
 * Sparse memory has one page in a page table, so each batch holds a single
 * page: going on in the same mapping while the mmap_lock has been held
 * since it was looked up saves the lock, range and mapping lookups of the
 * slow path for every page. (ksmmod_scan_batch() lets writers in between
 * pages all the same.)
 *
 * Return: the next page's rmap item, mmap_lock still held; or NULL, with
 * the lock released, when the mapping's part of the range is done or no
 * rmap item could be allocated (the slow path sorts either out).
 */
static struct ksmmod_rmap_item *ksmmod_scan_on(struct page **pagep,
					       struct vm_area_struct **vmap)
{
	struct ksmmod_scan_cursor *c = &ksmmod_cursor;
	struct vm_area_struct *vma = c->vma;
	unsigned long vend = min(c->range_end, vma->vm_end);
	struct ksmmod_rmap_item *item;

	/* An exiting process is the slow path's to drop. */
	if (atomic_read(&c->slot->mm->mm_users) &&
	    c->address >= vma->vm_start && c->address < vend) {
		item = ksmmod_scan_vma(c->slot, vma, c->address, vend, pagep, vmap);
		if (!IS_ERR_OR_NULL(item))
			return item;
		if (!item)
			c->address = vend;
	}
	ksmmod_scan_unlock();
	return NULL;
}

/* A full scan ends: its number in the trace is full_scans before it ends. */
static void ksmmod_scan_done(void)
{
	atomic64_set(&ksmmod_counters.ineligible_pages, ksmmod_ineligible_acc);
	ksmmod_ineligible_acc = 0;
	ksmmod_advisor_stop_scan();
	trace_ksm_stop_scan(atomic64_read(&ksmmod_counters.full_scans),
			    atomic64_read(&ksmmod_counters.rmap_items));
	ksmmod_count_inc(full_scans);
}

/**
 * ksmmod_scan_next() - the next page to look at
 * @pagep: set to the page (with a reference)
 * @vmap: set to the mapping of the page
 *
 * Return: its rmap item, with the mmap_lock of its mm still held for read
 * (the caller releases it), or NULL at the end of a full scan (or if nothing
 * is registered).
 */
static struct ksmmod_rmap_item *ksmmod_scan_next(struct page **pagep,
						 struct vm_area_struct **vmap)
{
	struct ksmmod_scan_cursor *c = &ksmmod_cursor;
	struct ksmmod_rmap_item *item;
	struct ksmmod_mm_slot *slot;
	struct vm_area_struct *vma;
	struct mm_struct *mm;

	if (c->batch_next < c->batch_nr) {
		item = ksmmod_scan_next_batched(pagep, vmap);
		if (item)
			return item;
	}
	if (c->locked && c->vma) {
		item = ksmmod_scan_on(pagep, vmap);
		if (item)
			return item;
	}
	/* Batch done: the slow path below takes the lock again. */
	ksmmod_scan_unlock();
	ksmmod_scan_free_batch();

	if (!c->slot) {
		c->slot = ksmmod_registry_next_slot(NULL);
		if (!c->slot)
			return NULL;
		/*
		 * Freshly faulted pages sit in per-CPU LRU batches, each holding
		 * a reference that makes write-protection refuse the page as
		 * pinned. Drain them once per full scan, as mm/ksm.c does.
		 */
		kcall_lru_add_drain_all();
		ksmmod_prune_migrated_nodes();
		ksmmod_stable_reap_domains();
		ksmmod_unstable_tree_reset();
		ksmmod_advisor_start_scan();
		trace_ksm_start_scan(atomic64_read(&ksmmod_counters.full_scans),
				     atomic64_read(&ksmmod_counters.rmap_items));
		c->address = 0;
		c->rmap_link = &c->slot->rmap_list;
	}

next_slot:
	slot = c->slot;
	mm = slot->mm;
	if (!c->address)
		slot->ineligible_acc = 0;	/* a pass over it begins */
	mmap_read_lock(mm);
	if (!atomic_read(&mm->mm_users) ||
	    (ksmmod_mm_flag_test(mm, MMF_VM_MERGEABLE) && !slot->entered)) {
		/*
		 * The process has exited, or (without drop-in mode) it has
		 * handed memory to the kernel's own KSM since it registered
		 * (madvise/prctl), whose ksmd must never meet our pages: the
		 * lifecycle code unmerges and forgets it after this batch.
		 */
		struct ksmmod_mm_slot *next = ksmmod_registry_next_slot(slot);

		mmap_read_unlock(mm);
		ksmmod_registry_mark_gone(slot);
		c->slot = next;
		c->address = 0;
		if (next) {
			c->rmap_link = &next->rmap_list;
			goto next_slot;
		}
		ksmmod_scan_done();
		return NULL;
	}
	{
		unsigned long start, end;

		while (ksmmod_registry_next_range(slot, c->address, &start, &end)) {
			VMA_ITERATOR(vmi, mm, start);

			for_each_vma_range(vmi, vma, end) {
				unsigned long addr = max(start, vma->vm_start);
				unsigned long vend = min(end, vma->vm_end);

				if (!ksmmod_vma_eligible(vma)) {
					/* Asked to merge, but nothing ksmmod may merge. */
					if (slot->whole || (vma->vm_flags & VM_MERGEABLE))
						slot->ineligible_acc += (vend - addr) >> PAGE_SHIFT;
					continue;
				}
				if (!(vma->vm_flags & VM_MERGEABLE) || !vma->anon_vma)
					continue;
				item = ksmmod_scan_vma(slot, vma, addr, vend, pagep, vmap);
				if (IS_ERR(item))
					goto out_nomem;
				if (item)
					return item;
				cond_resched();
			}
			c->address = end;
		}
	}
	/*
	 * Done with this process: drop the items not visited (their pages
	 * are gone), so that none keeps a stale unstable-tree tag.
	 */
	ksmmod_remove_rmap_items_in(c->rmap_link, 0, ULONG_MAX);
	mmap_read_unlock(mm);
	WRITE_ONCE(slot->ineligible_pages, slot->ineligible_acc);
	ksmmod_ineligible_acc += slot->ineligible_acc;
	slot->ineligible_acc = 0;

	c->slot = ksmmod_registry_next_slot(slot);
	c->address = 0;
	if (c->slot) {
		c->rmap_link = &c->slot->rmap_list;
		goto next_slot;
	}
	ksmmod_scan_done();
	return NULL;

out_nomem:
	/*
	 * No memory for an rmap item: end the batch here, as mm/ksm.c does,
	 * and retry from this page at the next one. The items after it stay:
	 * they are not stale, only unvisited, and those of merged pages are
	 * what the kernel's rmap walks (reclaim, migration, compaction,
	 * memory failure) find the mappings of a KSM page by.
	 */
	mmap_read_unlock(mm);
	return NULL;
}

/**
 * ksmmod_note_refusal() - count a merge refused for a reason users are told
 * @why: KSMMOD_REFUSED_PINNED or KSMMOD_REFUSED_THP
 * @slot: the process of the refused page, or NULL if not registered
 *
 * System-wide and per process ("why did nothing merge?"). Under
 * ksmmod_thread_mutex.
 */
static void ksmmod_note_refusal(enum ksmmod_refusal why, struct ksmmod_mm_slot *slot)
{
	if (why == KSMMOD_REFUSED_PINNED) {
		ksmmod_count_inc(merge_pinned);
		if (slot)
			WRITE_ONCE(slot->merge_pinned, slot->merge_pinned + 1);
	} else if (why == KSMMOD_REFUSED_THP) {
		ksmmod_count_inc(thp_unsplittable);
		if (slot)
			WRITE_ONCE(slot->thp_unsplittable, slot->thp_unsplittable + 1);
	}
}

/* Count what the merge code refused while the scanner looked at one page. */
static void ksmmod_count_refusal(void)
{
	struct mm_struct *mm;
	enum ksmmod_refusal why = ksmmod_merge_take_refusal(&mm);

	if (why != KSMMOD_REFUSED_NONE)
		ksmmod_note_refusal(why, ksmmod_registry_find(mm));
}

/*
 * Whether @page (reference held by the scanner) may go into a merge run: a
 * plain order-0 anonymous page of the tree of NUMA node @nid, with no
 * reference beyond its mappings', the swap cache's and the scanner's, as the
 * merge will check under the page table lock (a pinned page, say a VFIO
 * guest's, would fail there and stop the run after its PTEs were cleared).
 */
static bool ksmmod_run_candidate(struct page *page, int nid)
{
	struct folio *folio = page_folio(page);

	return PageAnon(page) && !folio_test_large(folio) && !folio_test_ksm(folio) &&
	       ksmmod_tree_nid(page) == nid && ksmmod_folio_refs_mapped_only(folio);
}

/* Whether smart scan skips the page of @item (a plain page) in this scan. */
static bool ksmmod_smart_would_skip(const struct ksmmod_rmap_item *item)
{
	return READ_ONCE(ksmmod_tunables.smart_scan) && item->age >= 3 && item->remaining_skips;
}

/**
 * ksmmod_scan_merge_run() - merge @page into @kpage, and the batch's next pages like it
 * @item: rmap item of @page (in no tree)
 * @page: a plain page (reference held), served from the current batch
 * @kpage: the KSM page its hash at the last scan (@hint) found (reference held)
 * @vma: the mapping of the batch, whose mmap_lock is held
 * @hint: that hash
 *
 * Identical memory is the common case: the batch's pages after @page then
 * had @hint at the last scan too. Those that follow @page without a gap
 * (in the batch, with rmap items already), are plain pages of @page's tree
 * and would not be skipped by smart scan are merged together with it, in
 * one visit of their page table (ksmmod_merge_run()), as far as @kpage's
 * node has room (max_page_sharing) and this batch's budget goes. Each is
 * compared byte for byte before it is replaced, as a page merged alone.
 * The ones merged are served now (counted as scanned, the cursor past them,
 * ksmmod_scan_batch() told through @run_served); the rest of the batch is
 * served as usual, from the first page not merged.
 *
 * Return: as ksmmod_merge_with_ksm_page() for @page.
 */
static int ksmmod_scan_merge_run(struct ksmmod_rmap_item *item, struct page *page,
				 struct page *kpage, struct vm_area_struct *vma, u64 hint)
{
	struct ksmmod_stable_node *node = ksmmod_folio_stable_node(page_folio(kpage));
	struct ksmmod_scan_cursor *c = &ksmmod_cursor;
	struct ksmmod_rmap_item *items[KSMMOD_MERGE_RUN];
	struct page *pages[KSMMOD_MERGE_RUN];
	unsigned int nr = 1, merged, i;
	int nid = ksmmod_tree_nid(page);
	long room;
	int err;

	/*
	 * Only a page the batch served, while its page table lookup holds; not
	 * the page the last run stopped at (it failed once already: a run led
	 * by it would clear and restore its followers' PTEs for nothing).
	 */
	if (!node || !c->pmd || c->vma != vma || !c->batch_next ||
	    c->batch_addr[c->batch_next - 1] != (item->address & PAGE_MASK) ||
	    c->run_stop == (item->address & PAGE_MASK) || !ksmmod_run_candidate(page, nid))
		return ksmmod_merge_with_ksm_page(item, page, kpage, vma);

	room = (long)READ_ONCE(ksmmod_tunables.max_page_sharing) - node->rmap_hlist_len;
	room = min3(room, (long)c->budget, (long)KSMMOD_MERGE_RUN);
	items[0] = item;
	pages[0] = page;
	for (i = c->batch_next; i < c->batch_nr && nr < room; i++) {
		struct ksmmod_rmap_item *next = items[nr - 1]->rmap_list;
		unsigned long addr = c->batch_addr[i];
		struct page *p;

		/* The mapping may have been split while the lock was dropped. */
		if (addr >= vma->vm_end || !next ||
		    (next->address & (PAGE_MASK | KSMMOD_STABLE_FLAG)) != addr ||
		    ksmmod_rmap_item_hash(next) != hint || ksmmod_smart_would_skip(next))
			break;
		p = ksmmod_get_anon_page_pmd(vma, c->pmd, addr);
		if (!p)
			break;
		/* (@kpage itself is a KSM page: not a candidate.) */
		if (!ksmmod_run_candidate(p, nid)) {
			put_page(p);
			break;
		}
		items[nr] = next;
		pages[nr++] = p;
	}
	if (nr == 1)
		return ksmmod_merge_with_ksm_page(item, page, kpage, vma);

	merged = ksmmod_merge_run(items, pages, nr, kpage, vma, c->pmd, &err);
	c->run_stop = merged < nr ? items[merged]->address & PAGE_MASK : 0;
	for (i = 1; i < nr; i++) {
		if (i < merged) {
			ksmmod_scan_advance(items[i]);
			ksmmod_count_inc(pages_scanned);
			c->run_served++;
			ksmmod_scan_put_page(pages[i]);
		} else {
			put_page(pages[i]);
		}
	}
	return merged ? 0 : err;
}

/**
 * ksmmod_cmp_with_stable() - the stable tree part of ksmmod_cmp_and_merge_page()
 * @page: the page (reference held)
 * @item: its rmap item
 * @vma: the mapping of @page; @item->mm's mmap_lock is held for read, so
 *	that a merge into a KSM page (the common case) needs no lookup again
 * @domain: the merge domain of @item->mm
 * @hashp: set to the page's current hash when the unstable tree is next
 *
 * Nothing here takes another process's mmap_lock.
 *
 * Return: true if done with @page; false if the unstable tree is next (the
 * page is unchanged since the last scan).
 */
static bool ksmmod_cmp_with_stable(struct page *page, struct ksmmod_rmap_item *item,
				   struct vm_area_struct *vma, u16 domain, u64 *hashp)
{
	struct ksmmod_stable_node *node;
	bool migrated, verify, run;
	struct page *kpage;
	u64 hash, hint;

	/*
	 * Our own merged page whose node was parked because the page moved
	 * to another NUMA node (merge_across_nodes=0, see stable.c)?
	 */
	node = ksmmod_folio_stable_node(page_folio(page));
	if (!node || !(item->address & KSMMOD_STABLE_FLAG) || item->head != node)
		node = NULL;	/* not merged by this item (or the kernel's KSM page) */
	if (node && !ksmmod_stable_node_migrated(node) && ksmmod_tree_nid(page) != node->nid)
		ksmmod_stable_node_park(node);
	migrated = node && ksmmod_stable_node_migrated(node);
	/* Already merged here, and in the right tree: nothing to do (as mm/ksm.c). */
	if (node && !migrated)
		return true;

	/*
	 * Probe the stable tree with the hash the page had at the last scan
	 * first: a page that merges (or is merged) costs no hashing then. For
	 * a plain page the merge itself compares the contents (after
	 * write-protecting it), so the probe trusts the hash; if the contents
	 * turn out to differ, a verified search follows below.
	 */
	verify = migrated || folio_test_ksm(page_folio(page));
	kpage = NULL;
	hint = ksmmod_rmap_item_hash(item);
	hash = hint;
	if (hash)
		kpage = ksmmod_stable_tree_search(page, ksmmod_tree_key(domain, hash), verify);
	/* Found by the hash alone: pages after it with that hash may join (a run). */
	run = kpage && !verify;
	if (!kpage) {
		hash = ksmmod_page_hash(page);
		if (hash != hint)
			kpage = ksmmod_stable_tree_search(page, ksmmod_tree_key(domain, hash),
							  true);
	}
	if (kpage == page && item->head == ksmmod_folio_stable_node(page_folio(page))) {
		put_page(kpage);	/* already merged here */
		return true;
	}
	if (migrated && !kpage) {
		/* Nothing like it in its new node's tree: move the node there. */
		ksmmod_stable_node_reinsert(node, page, domain);
		return true;
	}
	/*
	 * Our own KSM pages are always found in our stable tree (kpage ==
	 * page), or parked as migrated. Any other KSM page belongs to the
	 * kernel's KSM: hands off.
	 */
	if (folio_test_ksm(page_folio(page)) && kpage != page && !migrated) {
		if (kpage)
			put_page(kpage);
		return true;
	}

	/*
	 * A migrated page's item stays on its parked node until the merge
	 * below succeeds (which unlinks it): if the merge fails, the mapping
	 * is still accounted to that node.
	 */
	if (!migrated)
		ksmmod_remove_rmap_item_from_tree(item);

	if (kpage) {
		int err = run ? ksmmod_scan_merge_run(item, page, kpage, vma, hint) :
			  ksmmod_merge_with_ksm_page(item, page, kpage, vma);

		put_page(kpage);
		if (!err || verify)
			return true;
		/*
		 * Not merged on the strength of the hash alone: the contents
		 * may differ (changed since the last scan, or a collision), and
		 * a failure before the compare (a page briefly pinned) must not
		 * keep the item out of every tree with its stale hash.
		 */
		hash = ksmmod_page_hash(page);
		kpage = ksmmod_stable_tree_search(page, ksmmod_tree_key(domain, hash), true);
		if (kpage) {
			ksmmod_merge_with_ksm_page(item, page, kpage, vma);
			put_page(kpage);
			return true;
		}
	}

	/*
	 * A page that changed since the last scan is volatile: not worth a
	 * tree. (@item is in no tree now: the word is its checksum again.)
	 */
	if (item->checksum != hash) {
		item->checksum = hash;
		return true;
	}
	*hashp = hash;
	return false;
}

/**
 * ksmmod_cmp_and_merge_page() - find a partner for @page and merge
 * @page: the page (reference held)
 * @item: its rmap item
 * @vma: the mapping of @page, @item->mm's mmap_lock held for read
 *
 * The lock is released before anything that looks at another page table
 * (the partner's in the unstable tree may be in the same process: no
 * nesting of mmap_lock).
 *
 * Return: true if @item->mm's mmap_lock is still held (the next page of a
 * batch needs no lookup of its mapping then).
 */
static bool ksmmod_cmp_and_merge_page(struct page *page, struct ksmmod_rmap_item *item,
				      struct vm_area_struct *vma)
{
	/* The merge domain of @item->mm: its pages pair only with that domain's. */
	u16 domain = ksmmod_cursor.slot->domain;
	struct ksmmod_rmap_item *tree_item;
	struct ksmmod_stable_node *node;
	struct page *kpage, *tree_page;
	bool locked = true;
	bool split;
	u64 hash = 0;

	if (ksmmod_cmp_with_stable(page, item, vma, domain, &hash))
		return true;
	/* What follows may drop the lock and wait for another process's. */
	ksmmod_scan_free_batch();

	/* An empty page: map the zero page there if the user asked for it. */
	if (READ_ONCE(ksmmod_tunables.use_zero_pages) && hash == ksmmod_zero_hash) {
		mmap_read_unlock(item->mm);
		if (!ksmmod_try_to_merge_with_zero_page(item, page,
							&ksmmod_cursor.slot->zero_pages))
			return false;
		locked = false;
	}

	tree_item = ksmmod_unstable_tree_search_insert(item, page, domain, &tree_page, &locked);
	if (!tree_item)
		return locked;
	/* A partner was found: the search dropped the lock to look at it. */

	kpage = ksmmod_try_to_merge_two_pages(item, page, tree_item, tree_page);
	/*
	 * Two subpages of one huge page cannot be merged: our two references
	 * make the split fail. Split it now (no merge); next scan merges.
	 */
	split = !kpage && folio_test_large(page_folio(page)) &&
		compound_head(page) == compound_head(tree_page);
	put_page(tree_page);
	if (split && trylock_page(page)) {
		if (ksmmod_split_huge_page(page))
			ksmmod_note_refusal(KSMMOD_REFUSED_THP, ksmmod_cursor.slot);
		unlock_page(page);
	}
	if (!kpage) {
		/*
		 * One of the two could not be merged (pinned by GUP, changed,
		 * unmapped). Take the tree page out of the tree, so that a
		 * pinned page cannot keep all its twins from pairing up; this
		 * page is not inserted instead: it may just have been copied
		 * back (break_cow), and a fresh copy sits in a per-CPU LRU
		 * batch that makes it look pinned too until the next drain.
		 */
		ksmmod_remove_rmap_item_from_tree(tree_item);
		return false;
	}

	lock_page(kpage);
	/*
	 * Key the node by the contents as they are now that both mappings are
	 * write-protected: the pair may have changed together since @hash.
	 */
	node = ksmmod_stable_tree_insert(kpage, ksmmod_tree_key(domain, ksmmod_page_hash(kpage)));
	if (node) {
		ksmmod_stable_tree_append(tree_item, node);
		ksmmod_stable_tree_append(item, node);
	}
	unlock_page(kpage);
	/* Not in the stable tree: undo both halves of the merge. */
	if (!node) {
		ksmmod_break_cow(tree_item, hash);
		ksmmod_break_cow(item, hash);
	}
	return false;
}

/*
 * DOC: Smart scan
 *
 * With smart_scan (the default, as mm/ksm.c's since 6.7), a page that keeps
 * failing to merge is looked at less often: every scan that looks at it
 * ages its rmap item (saturating at 255), and from the fourth on, each scan
 * that does look at it sets how many of the next scans skip it: 1 up to age
 * 3, 2 up to age 5, 4 up to age 8, then 8. A skipped page is taken out of
 * the unstable tree and counted in pages_skipped (not in pages_scanned).
 * Merged pages, KSM pages of any kind and pages whose item is stable are
 * never skipped; an item starts over at age 0 when it leaves the stable
 * tree. A page that becomes mergeable later therefore still merges, at the
 * latest after 8 skipped scans plus the two that merging takes.
 */

/* Scans to skip a page at @age next (mm/ksm.c's skip_age()). */
static unsigned int ksmmod_skip_scans(unsigned int age)
{
	if (age <= 3)
		return 1;
	if (age <= 5)
		return 2;
	if (age <= 8)
		return 4;
	return 8;
}

/**
 * ksmmod_smart_skip() - whether this scan skips @page (smart scan)
 * @page: the page (reference held)
 * @item: its rmap item
 *
 * Ages @item. A skipped item leaves the unstable tree.
 *
 * Return: true to skip @page.
 */
static bool ksmmod_smart_skip(struct page *page, struct ksmmod_rmap_item *item)
{
	unsigned int age;

	if (!READ_ONCE(ksmmod_tunables.smart_scan) || folio_test_ksm(page_folio(page)) ||
	    (item->address & KSMMOD_STABLE_FLAG))
		return false;
	age = item->age;
	if (age < U8_MAX)
		item->age = age + 1;
	if (age < 3)
		return false;
	if (!item->remaining_skips) {
		item->remaining_skips = ksmmod_skip_scans(age);
		return false;
	}
	item->remaining_skips--;
	ksmmod_remove_rmap_item_from_tree(item);
	ksmmod_count_inc(pages_skipped);
	return true;
}

/**
 * ksmmod_scan_batch() - one batch of the scan: up to @pages pages
 * @pages: pages to look at
 *
 * Called by ksmmodd with ksmmod_thread_mutex held. The batch ends early at
 * the end of a full scan, when run is no longer 1, or when ksmmodd is told
 * to stop; it holds no lock and no page reference when it returns.
 */
void ksmmod_scan_batch(unsigned int pages)
{
	struct ksmmod_scan_cursor *c = &ksmmod_cursor;

	ksmmod_count_inc(scan_batches);
	while (pages-- && !kthread_should_stop() && READ_ONCE(ksmmod_tunables.run) == KSMMOD_RUN_MERGE) {
		struct ksmmod_rmap_item *item;
		struct vm_area_struct *vma;
		struct page *page;

		cond_resched();
		c->budget = pages + 1;
		item = ksmmod_scan_next(&page, &vma);
		if (!item)
			break;
		if (ksmmod_smart_skip(page, item)) {
			pages++;	/* not part of the batch, as in mm/ksm.c */
		} else {
			if (!ksmmod_cmp_and_merge_page(page, item, vma)) {
				/* It released the lock: forget what the lock kept. */
				c->locked = false;
				ksmmod_scan_unlock();
			}
			ksmmod_count_inc(pages_scanned);
			ksmmod_count_refusal();
			/* Pages a merge run served with it (within the budget). */
			pages -= min(c->run_served, pages);
			c->run_served = 0;
		}
		ksmmod_scan_put_page(page);
		/*
		 * Let a writer (mmap, munmap, fault) in between pages, and do
		 * not keep it waiting while ksmmodd is off the CPU.
		 */
		if (c->locked && (mmap_lock_is_contended(c->slot->mm) || need_resched()))
			ksmmod_scan_unlock();
	}
	/* Hold neither the lock nor page references while sleeping. */
	ksmmod_scan_drop_batch();
	ksmmod_scan_free_batch();
}

/* Tunables or registrations changed: let the scanner re-evaluate. */
void ksmmod_scan_wake(void)
{
	wake_up_interruptible(&ksmmod_thread_wait);
}

/*
 * Every user address space, each with a reference (mmput_async() them), and
 * their number in *@nrp; NULL if out of memory. A process started meanwhile
 * may be missing.
 */
static struct mm_struct **ksmmod_all_mms(unsigned int *nrp)
{
	unsigned int n = 0, max = 32;
	struct mm_struct **mms;
	struct task_struct *p;

	rcu_read_lock();
	for_each_process(p)
		max++;
	rcu_read_unlock();
	mms = kvmalloc_array(max, sizeof(*mms), GFP_KERNEL);
	if (!mms)
		return NULL;
	rcu_read_lock();
	for_each_process(p) {
		struct mm_struct *mm;

		if (n == max)
			break;
		/* task_lock() is a spinlock: fine under RCU. */
		mm = get_task_mm(p);
		if (mm)
			mms[n++] = mm;
	}
	rcu_read_unlock();
	*nrp = n;
	return mms;
}

/**
 * ksmmod_unmerge_unknown() - break the mappings ksmmod has no rmap item for
 *
 * Called with ksmmod_thread_mutex held once every registered range is
 * unmerged and the nodes of pages no longer mapped are gone: what stays is
 * mapped by processes ksmmod does not know. Without drop-in mode, a process
 * registered by MERGE_RANGE forks children that map its KSM pages, and the
 * kernel's rmap walks find them only through the parent's rmap items, which
 * are gone now. Such a node must not stay behind: after rmmod its folio
 * would point into freed module memory, and once that process reaches the
 * kernel's own KSM (madvise, prctl), mm/ksm.c would take the node for one of
 * its own (a "forked KSM page") and link it into its tree. So every process
 * is looked at, and its mappings of exactly those pages are copied.
 *
 * Return: the number of nodes that still stay (a page mapped again meanwhile
 * by a fork: call again), or -ENOMEM or -EINTR.
 */
static long ksmmod_unmerge_unknown(void)
{
	struct mm_struct **mms = NULL;
	unsigned int i, nr = 0;
	struct xarray nodes;
	int err;

	xa_init(&nodes);
	err = ksmmod_collect_stable_nodes(&nodes);
	if (!err) {
		mms = ksmmod_all_mms(&nr);
		if (!mms)
			err = -ENOMEM;
	}
	for (i = 0; i < nr; i++) {
		struct mm_struct *mm = mms[i];

		if (!err && mmap_read_lock_killable(mm))
			err = -EINTR;
		else if (!err) {
			err = ksmmod_unmerge_nodes_in(mm, &nodes);
			mmap_read_unlock(mm);
		}
		/* Not the last drop under the mutex: __mmput() may re-enter ksmmod. */
		mmput_async(mm);
	}
	kvfree(mms);
	xa_destroy(&nodes);
	return err ? err : (long)ksmmod_remove_all_stable_nodes();
}

/**
 * ksmmod_unmerge_all() - run=2 and unload: break every merge ksmmod made
 *
 * Every registered range is unmerged and every rmap item freed
 * (registrations stay), then every stable node is detached from its page.
 * Pages still mapped then are mapped by processes ksmmod does not know:
 * their mappings are broken too (ksmmod_unmerge_unknown()).
 *
 * Return: the number of stable nodes that could not be detached (0 unless a
 * fork mapped a page again meanwhile: call again), or a negative errno
 * (-EINTR: fatal signal, -ENOMEM) with the rest unchanged.
 */
long ksmmod_unmerge_all(void)
{
	struct ksmmod_mm_slot *slot = NULL;
	long left;

	ksmmod_thread_lock();
	while ((slot = ksmmod_registry_next_slot(slot))) {
		struct mm_struct *mm = slot->mm;
		int err = 0;

		if (mmget_not_zero(mm)) {
			mmap_read_lock(mm);
			err = ksmmod_unmerge_slot(slot, 0, ULONG_MAX);
			mmap_read_unlock(mm);
			/* Not the last drop under the mutex: __mmput() may re-enter ksmmod. */
			mmput_async(mm);
		}
		if (err) {
			/* Keep the items of what is still merged; the caller may retry. */
			mutex_unlock(&ksmmod_thread_mutex);
			return err;
		}
		ksmmod_scan_forget_slot(slot, false);
		ksmmod_remove_rmap_items_in(&slot->rmap_list, 0, ULONG_MAX);
	}
	ksmmod_cursor.slot = NULL;
	left = ksmmod_remove_all_stable_nodes();
	if (left > 0)
		left = ksmmod_unmerge_unknown();
	mutex_unlock(&ksmmod_thread_mutex);
	return left;
}

/* Before ksmmodd starts. */
void ksmmod_scan_init(void)
{
	ksmmod_zero_hash = ksmmod_page_hash(ZERO_PAGE(0));
}
