// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod rmap items and stable nodes: allocation, the "keyhole" lookup of a
 * stable node's page, unlinking items from the trees, and merging the page
 * of an rmap item into a KSM page (or undoing it) with its bookkeeping: the
 * page table work itself is src/merge.c's.
 *
 * DOC: Stable node lifetime
 *
 * A stable node is pointed to by its KSM page (folio->mapping) and found by
 * the kernel's rmap walkers from there, so it may be freed only when no folio
 * points to it any more. The page is freed (and its mapping cleared by the
 * page allocator) once its last mapping goes; the node then becomes stale
 * and is removed when a lookup notices it, exactly as in mm/ksm.c. Migration
 * moves the page and rewrites node->kpfn under the old page's lock; lookups
 * therefore read kpfn, check the page's mapping, take a reference, re-check,
 * and on a mismatch re-read kpfn (after smp_rmb(), pairing with the
 * smp_wmb() in the kernel's migration path) before declaring the node stale.
 */
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/rmap.h>
#include <linux/slab.h>

#include "ksmmod/core.h"
#include "ksmmod/ksmmod.h"
#include "ksmmod/symbols.h"
#include "ksmmod/trace.h"

static struct kmem_cache *ksmmod_rmap_item_cache;
static struct kmem_cache *ksmmod_stable_node_cache;

int ksmmod_rmap_init(void)
{
	ksmmod_rmap_item_cache = KMEM_CACHE(ksmmod_rmap_item, 0);
	ksmmod_stable_node_cache = KMEM_CACHE(ksmmod_stable_node, 0);
	if (!ksmmod_rmap_item_cache || !ksmmod_stable_node_cache) {
		kmem_cache_destroy(ksmmod_rmap_item_cache);
		kmem_cache_destroy(ksmmod_stable_node_cache);
		return -ENOMEM;
	}
	return 0;
}

/* Destroy the caches at unload, once no folio points to a node any more. */
void ksmmod_rmap_exit(void)
{
	kmem_cache_destroy(ksmmod_rmap_item_cache);
	kmem_cache_destroy(ksmmod_stable_node_cache);
}

/**
 * ksmmod_rmap_item_alloc() - a new rmap item for @addr in @mm
 * @mm: the address space
 * @addr: page-aligned address
 *
 * Return: the item, or NULL if out of memory.
 */
struct ksmmod_rmap_item *ksmmod_rmap_item_alloc(struct mm_struct *mm, unsigned long addr)
{
	struct ksmmod_rmap_item *item;

	item = kmem_cache_zalloc(ksmmod_rmap_item_cache, GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN);
	if (!item)
		return NULL;
	item->mm = mm;
	item->address = addr;
	ksmmod_count_inc(rmap_items);
	mm->ksm_rmap_items++;
	return item;
}

/* Free an item that is in no tree. */
void ksmmod_rmap_item_free(struct ksmmod_rmap_item *item)
{
	ksmmod_count_dec(rmap_items);
	item->mm->ksm_rmap_items--;
	item->mm = NULL;
	kmem_cache_free(ksmmod_rmap_item_cache, item);
}

struct ksmmod_stable_node *ksmmod_stable_node_alloc(void)
{
	return kmem_cache_zalloc(ksmmod_stable_node_cache, GFP_KERNEL | __GFP_NORETRY | __GFP_NOWARN);
}

void ksmmod_stable_node_free(struct ksmmod_stable_node *node)
{
	kmem_cache_free(ksmmod_stable_node_cache, node);
}

/**
 * ksmmod_rmap_item_get_anon_vma() - let the kernel's rmap walkers find @item's mapping
 * @item: rmap item of a page just merged in @vma, in no tree
 * @vma: the mapping, its mm's mmap_lock held
 *
 * As mm/ksm.c's try_to_merge_with_ksm_page(): a reference on the mapping's
 * anon_vma, and the page offset of the address in @vma, where 7.3's
 * rmap_walk_ksm() and collect_procs_ksm() look the mapping up in that
 * anon_vma's interval tree (they run only with the item on a stable node's
 * list, which ksmmod_stable_tree_append() does later, under the KSM folio's
 * lock, as the walkers hold it). The index takes the word of @item->checksum
 * (layout.h) until ksmmod_rmap_item_put_anon_vma(). ksmmod merges only
 * anonymous mappings without a file, where linear_page_index() is 7.3's
 * linear_anon_page_index(); earlier kernels never read the word.
 */
void ksmmod_rmap_item_get_anon_vma(struct ksmmod_rmap_item *item, struct vm_area_struct *vma)
{
	item->anon_vma = vma->anon_vma;
	item->linear_page_index = linear_page_index(vma, item->address & PAGE_MASK);
	ksmmod_get_anon_vma(vma->anon_vma);
}

/**
 * ksmmod_rmap_item_put_anon_vma() - drop the anon_vma reference of a merged item
 * @item: an rmap item that left its stable node's list, or never got on one
 * @hash: its content hash from now on (the scanner's hint and change
 *	detection; 0 if unknown, as mm/ksm.c, which zeroes the word)
 */
void ksmmod_rmap_item_put_anon_vma(struct ksmmod_rmap_item *item, u64 hash)
{
	ksmmod_put_anon_vma(item->anon_vma);
	/* Smart scan starts over, as mm/ksm.c zeroes the word. */
	item->linear_page_index = 0;
	item->checksum = hash;
}

/**
 * ksmmod_rmap_item_hash() - the content hash of @item's page at its last scan
 * @item: an rmap item in a tree or in none (not between the merge of its page
 *	and ksmmod_stable_tree_append())
 *
 * A stable item's own word holds its linear_page_index: its node's hash
 * stands for it (a dup keeps its chain's), without the merge domain the
 * node's key holds above it. A node parked as migrated has lost its hash
 * (layout.h): none is known then.
 *
 * Return: the hash, or 0 if unknown.
 */
u64 ksmmod_rmap_item_hash(const struct ksmmod_rmap_item *item)
{
	if (!(item->address & KSMMOD_STABLE_FLAG))
		return item->checksum;
	return ksmmod_stable_node_migrated(item->head) ? 0 : ksmmod_key_hash(item->head->hash);
}

/**
 * ksmmod_stable_item_unlink() - take @item off its stable node's list
 * @item: an rmap item on @item->head's list
 *
 * Its page is no longer accounted as merged with that node; the scanner
 * will look at it again, with the node's hash as the page's last one.
 */
static void ksmmod_stable_item_unlink(struct ksmmod_rmap_item *item)
{
	struct ksmmod_stable_node *node = item->head;
	u64 hash = ksmmod_rmap_item_hash(item);

	hlist_del(&item->hlist);
	node->rmap_hlist_len--;
	if (ksmmod_stable_node_is_dup(node))
		ksmmod_count_dec(stable_node_dup_mappings);
	/* The node's last item stands for the page itself (pages_shared). */
	if (hlist_empty(&node->hlist))
		ksmmod_count_dec(pages_shared);
	else
		ksmmod_count_dec(pages_sharing);
	item->mm->ksm_merging_pages--;
	ksmmod_rmap_item_put_anon_vma(item, hash);
	item->head = NULL;
	item->address &= PAGE_MASK;
}

/**
 * ksmmod_stable_node_remove() - take a node out of the stable tree and free it
 * @node: a node no folio points to any more (stale), or whose folio's
 *	mapping the caller has just cleared; a regular node, a dup or a
 *	parked node
 *
 * Its rmap items are unlinked (their pages are no longer merged with this
 * node) and will be looked at again by the next scan.
 */
void ksmmod_stable_node_remove(struct ksmmod_stable_node *node)
{
	while (!hlist_empty(&node->hlist)) {
		struct ksmmod_rmap_item *item = hlist_entry(node->hlist.first,
							    struct ksmmod_rmap_item, hlist);

		/* As mm/ksm.c: each sharing mapping, not the last one. */
		if (item->hlist.next)
			trace_ksm_remove_rmap_item(node->kpfn, item, item->mm);
		ksmmod_stable_item_unlink(item);
	}
	trace_ksm_remove_ksm_page(node->kpfn);
	ksmmod_stable_node_unlink(node);
	ksmmod_stable_node_free(node);
}

/**
 * ksmmod_get_ksm_folio() - the folio of a stable node, or NULL if the node is stale
 * @node: a node in the stable tree
 * @lock: also lock the folio
 *
 * A stale node (its page was freed) is removed from the tree and freed.
 *
 * Return: the folio with a reference (and locked if @lock), or NULL.
 */
struct folio *ksmmod_get_ksm_folio(struct ksmmod_stable_node *node, bool lock)
{
	void *expected = (void *)((unsigned long)node | KSMMOD_MAPPING_KSM);
	struct folio *folio;
	unsigned long kpfn;

again:
	kpfn = READ_ONCE(node->kpfn);
	folio = pfn_folio(kpfn);
	if (READ_ONCE(folio->mapping) != expected)
		goto stale;
	/*
	 * A zero refcount usually means the page was freed; but a swap cache
	 * page under migration is frozen at zero for a moment and may still
	 * be ours: wait for it.
	 */
	while (!folio_try_get(folio)) {
		if (!folio_test_swapcache(folio))
			goto stale;
		cpu_relax();
	}
	if (READ_ONCE(folio->mapping) != expected) {
		folio_put(folio);
		goto stale;
	}
	if (lock) {
		folio_lock(folio);
		if (READ_ONCE(folio->mapping) != expected) {
			folio_unlock(folio);
			folio_put(folio);
			goto stale;
		}
	}
	return folio;

stale:
	/* Pairs with the smp_wmb() after the kernel's migration updates kpfn. */
	smp_rmb();
	if (READ_ONCE(node->kpfn) != kpfn)
		goto again;
	ksmmod_stable_node_remove(node);
	return NULL;
}

/**
 * ksmmod_stable_tree_append() - record that @item's page is now @node's page
 * @item: rmap item of a page just merged (holds a reference on its anon_vma)
 * @node: the stable node; its folio is locked by the caller
 */
void ksmmod_stable_tree_append(struct ksmmod_rmap_item *item, struct ksmmod_stable_node *node)
{
	item->head = node;
	item->address |= KSMMOD_STABLE_FLAG;
	hlist_add_head(&item->hlist, &node->hlist);
	node->rmap_hlist_len++;
	if (ksmmod_stable_node_is_dup(node))
		ksmmod_count_inc(stable_node_dup_mappings);
	if (item->hlist.next)
		ksmmod_count_inc(pages_sharing);
	else
		ksmmod_count_inc(pages_shared);
	item->mm->ksm_merging_pages++;
}

/**
 * ksmmod_remove_rmap_item_from_tree() - unlink @item from whichever tree it is in
 * @item: an rmap item
 */
void ksmmod_remove_rmap_item_from_tree(struct ksmmod_rmap_item *item)
{
	if (item->address & KSMMOD_STABLE_FLAG) {
		struct ksmmod_stable_node *node = item->head;
		struct folio *folio;

		/* A stale node takes its items with it: nothing left to do. */
		folio = ksmmod_get_ksm_folio(node, true);
		if (!folio)
			goto out;
		ksmmod_stable_item_unlink(item);
		folio_unlock(folio);
		folio_put(folio);
	} else if (item->address & KSMMOD_UNSTABLE_FLAG) {
		ksmmod_unstable_tree_erase(item);
		ksmmod_count_dec(pages_unshared);
	}
out:
	item->address &= PAGE_MASK;
	cond_resched();
}

/**
 * ksmmod_remove_rmap_items_in() - free the items of [@start, @end) from a list
 * @link: head of an mm's address-ordered rmap list
 * @start: first address
 * @end: end address
 */
void ksmmod_remove_rmap_items_in(struct ksmmod_rmap_item **link, unsigned long start,
				 unsigned long end)
{
	while (*link) {
		struct ksmmod_rmap_item *item = *link;
		unsigned long addr = item->address & PAGE_MASK;

		if (addr >= end)
			break;
		if (addr < start) {
			link = &item->rmap_list;
			continue;
		}
		*link = item->rmap_list;
		ksmmod_remove_rmap_item_from_tree(item);
		ksmmod_rmap_item_free(item);
	}
}

/* --- Merging the page of an rmap item, and undoing it --- */

/*
 * ksmmod_try_to_merge_with_ksm_page() with @item->mm's mmap_lock held and
 * @vma the mergeable mapping at @item's address.
 */
static int ksmmod_try_to_merge_vma(struct ksmmod_rmap_item *item, struct vm_area_struct *vma,
				   struct page *page, struct page *kpage)
{
	int err;

	err = ksmmod_try_to_merge_one_page(vma, page, item->address & PAGE_MASK, kpage);
	if (!err) {
		/*
		 * anon_vma shares its word with the unstable tree's nid, and
		 * linear_page_index with the checksum: unlink first.
		 */
		ksmmod_remove_rmap_item_from_tree(item);
		ksmmod_rmap_item_get_anon_vma(item, vma);
	}
	trace_ksm_merge_with_ksm_page(kpage, page_to_pfn(kpage ? kpage : page), item,
				      item->mm, err);
	return err;
}

/**
 * ksmmod_try_to_merge_with_ksm_page() - merge @item's @page with @kpage
 * @item: rmap item of @page (in no tree)
 * @page: the page (reference held)
 * @kpage: the KSM page (reference held), or NULL to make @page a KSM page
 *
 * On success @item holds a reference on the mapping's anon_vma, ready for
 * ksmmod_stable_tree_append().
 *
 * Return: 0 or a negative errno.
 */
int ksmmod_try_to_merge_with_ksm_page(struct ksmmod_rmap_item *item, struct page *page,
				      struct page *kpage)
{
	unsigned long addr = item->address & PAGE_MASK;
	struct mm_struct *mm = item->mm;
	struct vm_area_struct *vma;
	int err = -EFAULT;

	mmap_read_lock(mm);
	vma = ksmmod_find_mergeable_vma(mm, addr);
	if (vma)
		err = ksmmod_try_to_merge_vma(item, vma, page, kpage);
	else
		trace_ksm_merge_with_ksm_page(kpage, page_to_pfn(kpage ? kpage : page), item,
					      mm, err);
	mmap_read_unlock(mm);
	return err;
}

/*
 * @item's page was merged but its stable node went away before the item
 * could be put on it: do not leave an untracked merge. Its hash is gone
 * with it: the page counts as changed at its next scan. @vma: as for
 * ksmmod_merge_with_ksm_page().
 */
static void ksmmod_undo_untracked_merge(struct ksmmod_rmap_item *item,
					struct vm_area_struct *vma)
{
	if (vma) {
		ksmmod_rmap_item_put_anon_vma(item, 0);
		/* The caller's mmap_lock was held throughout: unless it is exiting. */
		if (atomic_read(&vma->vm_mm->mm_users))
			ksmmod_break_ksm(vma, item->address & PAGE_MASK, NULL);
	} else {
		ksmmod_break_cow(item, 0);
	}
}

/**
 * ksmmod_merge_with_ksm_page() - merge @item's page into @kpage and record it
 * @item: rmap item of @page (in no tree, or on the stable node it leaves)
 * @page: the page mapped at @item's address (reference held)
 * @kpage: a KSM page of ksmmod's stable tree with the same contents
 *	(reference held)
 * @vma: NULL, or the mergeable mapping at @item's address if the caller
 *	holds @item->mm's mmap_lock (the scanner, which just looked the page
 *	up, saves taking it and looking the mapping up again)
 *
 * Return: 0 if @item's mapping now maps @kpage and @item is on its stable
 * node; else an errno and nothing changed.
 */
int ksmmod_merge_with_ksm_page(struct ksmmod_rmap_item *item, struct page *page,
			       struct page *kpage, struct vm_area_struct *vma)
{
	struct folio *kfolio = page_folio(kpage);
	struct ksmmod_stable_node *node;
	int err;

	if (vma)
		err = ksmmod_try_to_merge_vma(item, vma, page, kpage);
	else
		err = ksmmod_try_to_merge_with_ksm_page(item, page, kpage);
	if (err)
		return err;
	folio_lock(kfolio);
	node = ksmmod_folio_stable_node(kfolio);
	if (node)
		ksmmod_stable_tree_append(item, node);
	folio_unlock(kfolio);
	if (node)
		return 0;
	ksmmod_undo_untracked_merge(item, vma);
	return -EAGAIN;
}

/**
 * ksmmod_merge_run() - ksmmod_merge_with_ksm_page() for pages of one page table
 * @items: the pages' rmap items, in no tree (the first) or in no tree or the
 *	unstable tree (the others)
 * @pages: the pages mapped at the items' addresses (references held):
 *	order-0, anonymous, not KSM pages, in @pmd's page table of @vma
 * @nr: how many (1 to KSMMOD_MERGE_RUN)
 * @kpage: a KSM page of ksmmod's stable tree with (supposedly) the same
 *	contents, on a node with room for @nr more mappings (reference held)
 * @vma: their mapping; the caller holds its mmap_lock
 * @pmd: the PMD entry of their page table
 * @errp: set to why the first page not merged was not (0 if all were)
 *
 * One page table lock and one TLB flush for all of them (ksmmod_merge_ptes());
 * the bookkeeping (anon_vma reference, stable node) for each merged page
 * after it, as for a page merged alone.
 *
 * Return: how many leading pages map @kpage now, their items on its node;
 * the others are unchanged.
 */
unsigned int ksmmod_merge_run(struct ksmmod_rmap_item **items, struct page **pages,
			      unsigned int nr, struct page *kpage, struct vm_area_struct *vma,
			      pmd_t *pmd, int *errp)
{
	struct folio *kfolio = page_folio(kpage);
	unsigned long addrs[KSMMOD_MERGE_RUN];
	struct ksmmod_stable_node *node;
	unsigned int locked, merged, i;

	for (locked = 0; locked < nr; locked++) {
		if (!folio_trylock(page_folio(pages[locked])))
			break;
		addrs[locked] = items[locked]->address & PAGE_MASK;
	}
	merged = 0;
	*errp = -EBUSY;
	if (locked)
		merged = ksmmod_merge_ptes(vma, pmd, pages, addrs, locked, kpage, errp);
	if (merged == locked && locked < nr)
		*errp = -EBUSY;
	for (i = 0; i < locked; i++)
		folio_unlock(page_folio(pages[i]));
	/* Only the first page's failure is reported here: the others are served later. */
	if (!merged) {
		trace_ksm_merge_with_ksm_page(kpage, page_to_pfn(kpage), items[0], items[0]->mm,
					      *errp);
		return 0;
	}
	for (i = 0; i < merged; i++) {
		/* As ksmmod_try_to_merge_vma(): out of the unstable tree first. */
		ksmmod_remove_rmap_item_from_tree(items[i]);
		ksmmod_rmap_item_get_anon_vma(items[i], vma);
		trace_ksm_merge_with_ksm_page(kpage, page_to_pfn(kpage), items[i], items[i]->mm, 0);
	}
	folio_lock(kfolio);
	node = ksmmod_folio_stable_node(kfolio);
	for (i = 0; node && i < merged; i++)
		ksmmod_stable_tree_append(items[i], node);
	folio_unlock(kfolio);
	if (node) {
		if (merged > 1) {
			ksmmod_count_inc(merge_runs);
			atomic64_add(merged, &ksmmod_counters.merge_run_pages);
		}
		return merged;
	}
	/* The node went away meanwhile: undo them all. */
	for (i = 0; i < merged; i++)
		ksmmod_undo_untracked_merge(items[i], vma);
	*errp = -EAGAIN;
	return 0;
}

/**
 * ksmmod_try_to_merge_with_zero_page() - map the zero page instead of empty @page
 * @item: rmap item of @page (in no tree)
 * @page: the page (reference held), whose hash is that of an empty page
 * @zero_pages: ksmmod's count of zero pages of the process (see
 *	ksmmod_zero_page_mapped())
 *
 * Return: 0 if the zero page is mapped at @item's address now, or a
 * negative errno (the page is not empty after all, changed, or is pinned).
 */
int ksmmod_try_to_merge_with_zero_page(struct ksmmod_rmap_item *item, struct page *page,
				       atomic_long_t *zero_pages)
{
	unsigned long addr = item->address & PAGE_MASK;
	struct mm_struct *mm = item->mm;
	struct vm_area_struct *vma;
	int err = -EFAULT;

	mmap_read_lock(mm);
	vma = ksmmod_find_mergeable_vma(mm, addr);
	if (vma) {
		/* Compared byte for byte under the page lock, as every merge. */
		err = ksmmod_try_to_merge_one_page(vma, page, addr, ZERO_PAGE(addr));
		if (!err)
			ksmmod_zero_page_mapped(mm, zero_pages);
		trace_ksm_merge_one_page(page_to_pfn(ZERO_PAGE(addr)), item, mm, err);
	}
	mmap_read_unlock(mm);
	return err;
}

/**
 * ksmmod_try_to_merge_two_pages() - merge two identical non-KSM pages
 * @item: rmap item of @page, in no tree
 * @page: page found in the scan
 * @tree_item: rmap item of @tree_page (from the unstable tree)
 * @tree_page: its identical partner
 *
 * Return: the new KSM page (@page) or NULL.
 */
struct page *ksmmod_try_to_merge_two_pages(struct ksmmod_rmap_item *item, struct page *page,
					   struct ksmmod_rmap_item *tree_item,
					   struct page *tree_page)
{
	/* The merge puts the page's index in its place (layout.h). */
	u64 hash = item->checksum;
	int err;

	err = ksmmod_try_to_merge_with_ksm_page(item, page, NULL);
	if (!err) {
		err = ksmmod_try_to_merge_with_ksm_page(tree_item, tree_page, page);
		if (err)
			ksmmod_break_cow(item, hash);
	}
	return err ? NULL : page;
}

/**
 * ksmmod_break_cow() - undo the merge of @item's page (it stays merged elsewhere)
 * @item: an rmap item (in no tree)
 * @hash: the content hash @item keeps (see ksmmod_rmap_item_put_anon_vma())
 */
void ksmmod_break_cow(struct ksmmod_rmap_item *item, u64 hash)
{
	unsigned long addr = item->address & PAGE_MASK;
	struct mm_struct *mm = item->mm;
	struct vm_area_struct *vma;

	/* It holds an anon_vma reference from the merge attempt: drop it. */
	ksmmod_rmap_item_put_anon_vma(item, hash);
	mmap_read_lock(mm);
	vma = ksmmod_find_mergeable_vma(mm, addr);
	if (vma)
		ksmmod_break_ksm(vma, addr, NULL);
	mmap_read_unlock(mm);
}
