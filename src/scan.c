// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod scanner: the ksmmodd kernel thread.
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
 */
#include <linux/freezer.h>
#include <linux/kthread.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>
#include <linux/wait.h>

#include "ksmmod/core.h"
#include "ksmmod/ksmmod.h"
#include "ksmmod/registry.h"
#include "ksmmod/symbols.h"

DEFINE_MUTEX(ksmmod_thread_mutex);
static DECLARE_WAIT_QUEUE_HEAD(ksmmod_thread_wait);
static struct task_struct *ksmmod_thread;

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

/**
 * struct ksmmod_scan_cursor - where the scanner is
 * @slot: the process being scanned; NULL between full scans
 * @address: next address to look at in @slot
 * @rmap_link: where the rmap item for @address is (or would be linked)
 */
struct ksmmod_scan_cursor {
	struct ksmmod_mm_slot *slot;
	unsigned long address;
	struct ksmmod_rmap_item **rmap_link;
};

static struct ksmmod_scan_cursor ksmmod_cursor;

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

/**
 * ksmmod_scan_next() - the next page to look at
 * @pagep: set to the page (with a reference)
 *
 * Return: its rmap item, or NULL at the end of a full scan (or if nothing is
 * registered).
 */
static struct ksmmod_rmap_item *ksmmod_scan_next(struct page **pagep)
{
	struct ksmmod_scan_cursor *c = &ksmmod_cursor;
	struct ksmmod_mm_slot *slot;
	struct vm_area_struct *vma;
	struct mm_struct *mm;

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
		ksmmod_scan_seqnr++;
		ksmmod_unstable_tree_reset();
		c->address = 0;
		c->rmap_link = &c->slot->rmap_list;
	}

next_slot:
	slot = c->slot;
	mm = slot->mm;
	if (!slot->mn_tried)
		ksmmod_registry_attach_notifier(slot);
	mmap_read_lock(mm);
	if (!atomic_read(&mm->mm_users) ||
	    (test_bit(MMF_VM_MERGEABLE, &mm->flags) && !slot->entered)) {
		/*
		 * The process has exited, or (without drop-in mode) it has
		 * handed memory to the kernel's own KSM since it registered
		 * (madvise/prctl), whose ksmd must never meet our pages:
		 * unmerge and forget it.
		 */
		struct ksmmod_mm_slot *next = ksmmod_registry_next_slot(slot);

		if (atomic_read(&mm->mm_users)) {
			pr_warn_ratelimited("process memory moved to the kernel's KSM; ksmmod lets go of it\n");
			ksmmod_registry_unmerge_slot(slot, 0, ULONG_MAX);
		}
		mmap_read_unlock(mm);
		ksmmod_registry_free_slot(slot);
		c->slot = next;
		c->address = 0;
		if (next) {
			c->rmap_link = &next->rmap_list;
			goto next_slot;
		}
		ksmmod_count_inc(full_scans);
		return NULL;
	}
	{
		unsigned long start, end;

		while (ksmmod_registry_next_range(slot, c->address, &start, &end)) {
			VMA_ITERATOR(vmi, mm, start);

			for_each_vma_range(vmi, vma, end) {
				unsigned long addr = max(start, vma->vm_start);
				unsigned long vend = min(end, vma->vm_end);

				if (!(vma->vm_flags & VM_MERGEABLE) || !vma->anon_vma ||
				    !ksmmod_vma_eligible(vma))
					continue;
				for (; addr < vend; addr += PAGE_SIZE) {
					struct ksmmod_rmap_item *item;
					struct page *page;

					page = ksmmod_get_anon_page(vma, addr);
					if (!page)
						continue;
					item = ksmmod_get_next_rmap_item(slot, addr);
					if (!item) {
						put_page(page);
						goto out_done;
					}
					c->rmap_link = &item->rmap_list;
					c->address = addr + PAGE_SIZE;
					mmap_read_unlock(mm);
					*pagep = page;
					return item;
				}
				cond_resched();
			}
			c->address = end;
		}
	}
out_done:
	/*
	 * Done with this process (or out of memory): drop the items not
	 * visited, so that none keeps a stale unstable-tree tag.
	 */
	ksmmod_remove_rmap_items_in(c->rmap_link, 0, ULONG_MAX);
	mmap_read_unlock(mm);

	c->slot = ksmmod_registry_next_slot(slot);
	c->address = 0;
	if (c->slot) {
		c->rmap_link = &c->slot->rmap_list;
		goto next_slot;
	}
	ksmmod_count_inc(full_scans);
	return NULL;
}

/**
 * ksmmod_cmp_and_merge_page() - find a partner for @page and merge
 * @page: the page (reference held)
 * @item: its rmap item
 */
static void ksmmod_cmp_and_merge_page(struct page *page, struct ksmmod_rmap_item *item)
{
	struct ksmmod_rmap_item *tree_item;
	struct ksmmod_stable_node *node;
	struct page *kpage, *tree_page;
	bool split, migrated, verify;
	u64 hash;

	/*
	 * Our own merged page whose node was parked because the page moved
	 * to another NUMA node (merge_across_nodes=0, see stable.c)?
	 */
	node = PageKsm(page) ? ksmmod_folio_stable_node(page_folio(page)) : NULL;
	if (!node || !(item->address & KSMMOD_STABLE_FLAG) || item->head != node)
		node = NULL;	/* not merged by this item (or the kernel's KSM page) */
	if (node && !ksmmod_stable_node_migrated(node) && ksmmod_tree_nid(page) != node->nid)
		ksmmod_stable_node_park(node);
	migrated = node && ksmmod_stable_node_migrated(node);
	/* Already merged here, and in the right tree: nothing to do (as mm/ksm.c). */
	if (node && !migrated)
		return;

	/*
	 * Probe the stable tree with the hash the page had at the last scan
	 * first: a page that merges (or is merged) costs no hashing then. For
	 * a plain page the merge itself compares the contents (after
	 * write-protecting it), so the probe trusts the hash; if the contents
	 * turn out to differ, a verified search follows below.
	 */
	verify = migrated || PageKsm(page);
	kpage = NULL;
	hash = item->checksum;
	if (hash)
		kpage = ksmmod_stable_tree_search(page, hash, verify);
	if (!kpage) {
		hash = ksmmod_page_hash(page);
		if (hash != item->checksum)
			kpage = ksmmod_stable_tree_search(page, hash, true);
	}
	if (kpage == page && item->head == ksmmod_folio_stable_node(page_folio(page))) {
		put_page(kpage);	/* already merged here */
		return;
	}
	if (migrated && !kpage) {
		/* Nothing like it in its new node's tree: move the node there. */
		ksmmod_stable_node_reinsert(node, page);
		return;
	}
	/*
	 * Our own KSM pages are always found in our stable tree (kpage ==
	 * page), or parked as migrated. Any other KSM page belongs to the
	 * kernel's KSM: hands off.
	 */
	if (PageKsm(page) && kpage != page && !migrated) {
		if (kpage)
			put_page(kpage);
		return;
	}

	/*
	 * A migrated page's item stays on its parked node until the merge
	 * below succeeds (which unlinks it): if the merge fails, the mapping
	 * is still accounted to that node.
	 */
	if (!migrated)
		ksmmod_remove_rmap_item_from_tree(item);

	if (kpage) {
		int err = ksmmod_merge_with_ksm_page(item, page, kpage);

		put_page(kpage);
		if (!err || verify)
			return;
		/*
		 * Not merged on the strength of the hash alone: the contents
		 * may differ (changed since the last scan, or a collision), and
		 * a failure before the compare (a page briefly pinned) must not
		 * keep the item out of every tree with its stale hash.
		 */
		hash = ksmmod_page_hash(page);
		kpage = ksmmod_stable_tree_search(page, hash, true);
		if (kpage) {
			ksmmod_merge_with_ksm_page(item, page, kpage);
			put_page(kpage);
			return;
		}
	}

	/* A page that changed since the last scan is volatile: not worth a tree. */
	if (item->checksum != hash) {
		item->checksum = hash;
		return;
	}

	/* An empty page: map the zero page there if the user asked for it. */
	if (READ_ONCE(ksmmod_tunables.use_zero_pages) && hash == ksmmod_zero_hash &&
	    !ksmmod_try_to_merge_with_zero_page(item, page, &ksmmod_cursor.slot->zero_pages))
		return;

	tree_item = ksmmod_unstable_tree_search_insert(item, page, &tree_page);
	if (!tree_item)
		return;

	kpage = ksmmod_try_to_merge_two_pages(item, page, tree_item, tree_page);
	/*
	 * Two subpages of one huge page cannot be merged: our two references
	 * make the split fail. Split it now (no merge); next scan merges.
	 */
	split = !kpage && PageTransCompound(page) &&
		compound_head(page) == compound_head(tree_page);
	put_page(tree_page);
	if (split && trylock_page(page)) {
		ksmmod_split_huge_page(page);
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
		return;
	}

	lock_page(kpage);
	/*
	 * Key the node by the contents as they are now that both mappings are
	 * write-protected: the pair may have changed together since @hash.
	 */
	node = ksmmod_stable_tree_insert(kpage, ksmmod_page_hash(kpage));
	if (node) {
		ksmmod_stable_tree_append(tree_item, node);
		ksmmod_stable_tree_append(item, node);
	}
	unlock_page(kpage);
	/* Not in the stable tree: undo both halves of the merge. */
	if (!node) {
		ksmmod_break_cow(tree_item);
		ksmmod_break_cow(item);
	}
}

/* One batch of up to @pages pages. */
static void ksmmod_do_scan(unsigned int pages)
{
	while (pages-- && !kthread_should_stop() && READ_ONCE(ksmmod_tunables.run) == KSMMOD_RUN_MERGE) {
		struct ksmmod_rmap_item *item;
		struct page *page;

		cond_resched();
		item = ksmmod_scan_next(&page);
		if (!item)
			return;
		ksmmod_cmp_and_merge_page(page, item);
		put_page(page);
		ksmmod_count_inc(pages_scanned);
	}
}

static bool ksmmod_should_run(void)
{
	return READ_ONCE(ksmmod_tunables.run) == KSMMOD_RUN_MERGE && ksmmod_registry_nr_slots();
}

static int ksmmod_scan_thread(void *unused)
{
	set_freezable();
	set_user_nice(current, 5);

	while (!kthread_should_stop()) {
		ksmmod_thread_lock();
		ksmmod_notifier_work();
		if (ksmmod_should_run()) {
			ksmmod_do_scan(READ_ONCE(ksmmod_tunables.pages_to_scan));
			ksmmod_chains_tick(false);
		}
		mutex_unlock(&ksmmod_thread_mutex);

		if (ksmmod_should_run()) {
			unsigned int ms = READ_ONCE(ksmmod_tunables.sleep_millisecs);

			wait_event_freezable_timeout(ksmmod_thread_wait,
						     kthread_should_stop() || ksmmod_notifier_pending() ||
						     READ_ONCE(ksmmod_tunables.sleep_millisecs) != ms,
						     msecs_to_jiffies(ms));
		} else {
			wait_event_freezable(ksmmod_thread_wait,
					     ksmmod_should_run() || kthread_should_stop() ||
					     ksmmod_notifier_pending());
		}
	}
	return 0;
}

/* Tunables or registrations changed: let the scanner re-evaluate. */
void ksmmod_scan_wake(void)
{
	wake_up_interruptible(&ksmmod_thread_wait);
}

/**
 * ksmmod_unmerge_all() - run=2 and unload: break every merge ksmmod made
 *
 * Every registered range is unmerged and every rmap item freed
 * (registrations stay), then every stable node is detached from its page.
 *
 * Return: the number of stable nodes that could not be detached because a
 * process ksmmod does not know still maps their page (0 normally), or a
 * negative errno (-EINTR: fatal signal, -ENOMEM) with the rest unchanged.
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
			err = ksmmod_registry_unmerge_slot(slot, 0, ULONG_MAX);
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
	mutex_unlock(&ksmmod_thread_mutex);
	return left;
}

int ksmmod_scan_init(void)
{
	ksmmod_zero_hash = ksmmod_page_hash(ZERO_PAGE(0));
	ksmmod_thread = kthread_run(ksmmod_scan_thread, NULL, "ksmmodd");
	if (IS_ERR(ksmmod_thread)) {
		int err = PTR_ERR(ksmmod_thread);

		pr_err("cannot start ksmmodd: %d\n", err);
		return err;
	}
	return 0;
}

void ksmmod_scan_exit(void)
{
	kthread_stop(ksmmod_thread);
}
