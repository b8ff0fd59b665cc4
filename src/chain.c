// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod stable node chains: max_page_sharing.
 *
 * DOC: Chains and dups
 *
 * One KSM page shared by millions of mappings would make every reverse-map
 * walk over it (reclaim, migration, compaction) take seconds. As in mm/ksm.c
 * ("Reverse mapping" in Documentation/mm/ksm.rst), a page never gets more
 * than max_page_sharing mappings from the scanner: when a content has more,
 * its stable tree entry becomes a *chain* that links several *dups*, each a
 * KSM page of its own with the same content. A regular node is converted in
 * place (the chain takes its position in the tree, the node becomes the
 * first dup), so contents with fewer mappings cost no extra metadata, and
 * there is still one tree entry per content. No page points to a chain;
 * dups keep the kernel-compatible layout, so rmap walks work on each.
 *
 * - Merging picks the first dup of the chain that still has room; pruning
 *   keeps the dup with the most mappings that has room at the head, and a
 *   new dup goes to the head only when the head is full, so a lookup usually
 *   stops at the first dup and dups fill densely. A content whose dups are all full is not
 *   found by the stable lookup: its pages pair up in the unstable tree and
 *   become a new dup.
 * - Stale dups (page freed) are removed when a lookup meets them; each chain
 *   is also pruned (stale dups removed, the best dup moved to the head) on
 *   lookup once stable_node_chains_prune_millisecs have passed, and all
 *   chains at least that often by the scanner (ksmmod_chains_tick()). A
 *   chain left with one dup becomes a regular node again (as in mm/ksm.c).
 * - Densify (densify_chains, beyond mm/ksm.c): mappings get unmapped over
 *   time, leaving chains of half-empty dups (the kernel's worst case is 2
 *   mappings per dup). The periodic pass moves mappings from the sparsest
 *   dup to the densest one that has room, with the same write-protect and
 *   replace steps as a merge, until at most one dup of the chain is
 *   under-filled. A pass moves at most an eighth as many mappings as the
 *   scanner looked at pages since the last pass (at least pages_to_scan), so
 *   densifying adds a bounded share to the scanner's work. The sparse dup's page is then
 *   freed by the kernel when its last mapping moves. A dup whose page has
 *   more mappings than rmap items (a child forked after the merge maps it;
 *   the kernel's rmap walk reaches those mappings only through the items)
 *   keeps its items, as do mappings in userfaultfd write-protected ranges.
 *
 * A chain leaves the tree as soon as its last dup goes (it can no longer be
 * compared with anything), and is freed after the scanner's batch (or by
 * run=2, unload, offlining), never under a caller that is looking at it.
 */
#include <linux/jiffies.h>
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/sched/mm.h>

#include "ksmmod/compat.h"
#include "ksmmod/core.h"
#include "ksmmod/ksmmod.h"
#include "ksmmod/symbols.h"

/* Every chain, in the tree or out of it (empty, waiting to be freed). */
static struct ksmmod_stable_node *ksmmod_chains;

/* jiffies of the last pass over all chains, and pages_scanned then. */
static unsigned long ksmmod_chains_pass_time;
static u64 ksmmod_chains_pass_scanned;

/* Chains that left the tree and wait on the list to be freed. */
static unsigned long ksmmod_chains_dead;

/* A chain that has left the tree: free it at the next walk of the list. */
static bool ksmmod_chain_dead(struct ksmmod_stable_node *chain)
{
	return RB_EMPTY_NODE(&chain->node);
}

/* Whether @dup can take another mapping (an empty dup cannot: see mm/ksm.c). */
static bool ksmmod_dup_has_room(struct ksmmod_stable_node *dup)
{
	return dup->rmap_hlist_len > 0 &&
	       dup->rmap_hlist_len < (int)READ_ONCE(ksmmod_tunables.max_page_sharing);
}

/**
 * ksmmod_chain_add_dup() - make @dup one of @chain's dups
 * @chain: a chain in the tree
 * @dup: a node in no tree and on no list (a new node, a regular node just
 *	replaced by @chain, or a parked node)
 *
 * @dup goes to the head if it has more room-bearing mappings than the head
 * (or the head is full), else behind the head.
 */
void ksmmod_chain_add_dup(struct ksmmod_stable_node *chain, struct ksmmod_stable_node *dup)
{
	struct hlist_node *first = chain->hlist.first;

	dup->head = KSMMOD_STABLE_NODE_DUP_HEAD;
	dup->chain = chain;
	dup->hash = chain->hash;
	dup->nid = chain->nid;
	if (first) {
		struct ksmmod_stable_node *head = hlist_entry(first, struct ksmmod_stable_node,
							      hlist_dup);

		if (ksmmod_dup_has_room(head) && head->rmap_hlist_len >= dup->rmap_hlist_len) {
			hlist_add_behind(&dup->hlist_dup, first);
			goto added;
		}
	}
	hlist_add_head(&dup->hlist_dup, &chain->hlist);
added:
	ksmmod_count_inc(stable_node_dups);
	atomic64_add(dup->rmap_hlist_len, &ksmmod_counters.stable_node_dup_mappings);
}

/* @chain has no dup left: take it out of the tree (it is freed later). */
static void ksmmod_chain_leave_tree(struct ksmmod_stable_node *chain)
{
	rb_erase(&chain->node, ksmmod_stable_root(chain->nid));
	RB_CLEAR_NODE(&chain->node);
	ksmmod_count_dec(stable_node_chains);
	ksmmod_chains_dead++;
}

/**
 * ksmmod_chain_del_dup() - take @dup off its chain
 * @dup: a dup
 *
 * A chain left without dups leaves the tree at once.
 */
void ksmmod_chain_del_dup(struct ksmmod_stable_node *dup)
{
	struct ksmmod_stable_node *chain = dup->chain;

	hlist_del(&dup->hlist_dup);
	dup->head = NULL;
	ksmmod_count_dec(stable_node_dups);
	atomic64_sub(dup->rmap_hlist_len, &ksmmod_counters.stable_node_dup_mappings);
	if (hlist_empty(&chain->hlist))
		ksmmod_chain_leave_tree(chain);
}

/**
 * ksmmod_chain_create() - convert the regular node @node into a chain, in place
 * @node: a regular node in the stable tree
 *
 * Return: the chain, now in @node's place in the tree, with @node as its only
 * dup; NULL if out of memory (nothing changed).
 */
struct ksmmod_stable_node *ksmmod_chain_create(struct ksmmod_stable_node *node)
{
	struct ksmmod_stable_node *chain = ksmmod_stable_node_alloc();

	if (!chain)
		return NULL;
	chain->hash = node->hash;
	chain->nid = node->nid;
	chain->rmap_hlist_len = KSMMOD_STABLE_NODE_CHAIN;
	chain->chain_prune_time = jiffies;
	INIT_HLIST_HEAD(&chain->hlist);
	rb_replace_node(&node->node, &chain->node, ksmmod_stable_root(node->nid));
	chain->next_chain = ksmmod_chains;
	ksmmod_chains = chain;
	ksmmod_count_inc(stable_node_chains);
	ksmmod_chain_add_dup(chain, node);
	return chain;
}

/*
 * The one dup of @chain becomes a regular node in the chain's place, and the
 * chain leaves the tree.
 */
static void ksmmod_chain_collapse(struct ksmmod_stable_node *chain)
{
	struct ksmmod_stable_node *dup = hlist_entry(chain->hlist.first,
						     struct ksmmod_stable_node, hlist_dup);

	hlist_del(&dup->hlist_dup);
	ksmmod_count_dec(stable_node_dups);
	atomic64_sub(dup->rmap_hlist_len, &ksmmod_counters.stable_node_dup_mappings);
	/* Writes only the rb_node: the hash after it stays (layout.h). */
	rb_replace_node(&chain->node, &dup->node, ksmmod_stable_root(chain->nid));
	RB_CLEAR_NODE(&chain->node);
	ksmmod_count_dec(stable_node_chains);
	ksmmod_chains_dead++;
}

/* Move @dup to the head of its chain. */
static void ksmmod_chain_to_head(struct ksmmod_stable_node *chain, struct ksmmod_stable_node *dup)
{
	if (chain->hlist.first == &dup->hlist_dup)
		return;
	hlist_del(&dup->hlist_dup);
	hlist_add_head(&dup->hlist_dup, &chain->hlist);
}

/**
 * ksmmod_chain_prune() - remove stale dups of @chain, put the best at the head
 * @chain: a chain in the tree
 *
 * Dups whose page was freed are removed, dups whose page moved to another
 * NUMA node are parked (stable.c); the dup with the most mappings that
 * still has room goes to the head; a chain left with one dup becomes a
 * regular node again. The chain may have left the tree afterwards
 * (ksmmod_chain_dead()); it is not freed.
 */
static void ksmmod_chain_prune(struct ksmmod_stable_node *chain)
{
	struct ksmmod_stable_node *dup, *best = NULL;
	struct hlist_node *tmp;

	hlist_for_each_entry_safe(dup, tmp, &chain->hlist, hlist_dup) {
		struct folio *folio = ksmmod_stable_folio(dup, chain->nid);

		cond_resched();
		if (!folio)
			continue;	/* removed or parked */
		folio_put(folio);
		if (ksmmod_dup_has_room(dup) &&
		    (!best || dup->rmap_hlist_len > best->rmap_hlist_len))
			best = dup;
	}
	chain->chain_prune_time = jiffies;
	if (ksmmod_chain_dead(chain))
		return;
	if (hlist_is_singular_node(chain->hlist.first, &chain->hlist))
		ksmmod_chain_collapse(chain);
	else if (best)
		ksmmod_chain_to_head(chain, best);
}

/**
 * ksmmod_chain_lookup() - the dup of @chain that @page should be merged into
 * @chain: a chain in the tree
 * @page: the page being looked up (reference held)
 * @full: set if no dup has room: the folio returned is then only good for
 *	comparing contents
 *
 * Prunes the chain first if stable_node_chains_prune_millisecs have passed
 * since it was last pruned.
 *
 * Return: with a reference: @page's own folio if @page is a dup of @chain;
 * else the folio of the dup nearest the head that has room; else any live
 * dup's. NULL if the chain has no dup left or is no longer a chain in the
 * tree (the caller restarts its search).
 */
struct folio *ksmmod_chain_lookup(struct ksmmod_stable_node *chain, struct page *page, bool *full)
{
	struct folio *folio = page_folio(page);
	struct ksmmod_stable_node *page_node = ksmmod_folio_stable_node(folio);
	struct ksmmod_stable_node *dup;
	struct hlist_node *tmp;
	unsigned long interval;

	*full = false;
	/*
	 * @page already a dup of this chain (a forked child's mapping)? Only
	 * pointers are compared: @page_node may be the kernel's KSM's.
	 */
	if (page_node) {
		hlist_for_each_entry(dup, &chain->hlist, hlist_dup) {
			if (dup == page_node) {
				folio_get(folio);
				return folio;
			}
		}
	}

	interval = msecs_to_jiffies(READ_ONCE(ksmmod_tunables.stable_node_chains_prune_millisecs));
	if (time_after_eq(jiffies, chain->chain_prune_time + interval)) {
		ksmmod_chain_prune(chain);
		if (ksmmod_chain_dead(chain))
			return NULL;	/* empty, or collapsed into a regular node */
	}

	/* Full dups are skipped without touching their pages. */
	hlist_for_each_entry_safe(dup, tmp, &chain->hlist, hlist_dup) {
		cond_resched();
		if (!ksmmod_dup_has_room(dup))
			continue;
		folio = ksmmod_stable_folio(dup, chain->nid);
		if (!folio)
			continue;
		ksmmod_chain_to_head(chain, dup);
		return folio;
	}
	*full = true;
	hlist_for_each_entry_safe(dup, tmp, &chain->hlist, hlist_dup) {
		folio = ksmmod_stable_folio(dup, chain->nid);
		if (folio)
			return folio;
	}
	return NULL;
}

/**
 * ksmmod_chain_move_mapping() - re-point @item's mapping from @from to @kfolio
 * @item: an rmap item on @from
 * @from: a dup of the chain
 * @kfolio: the page of a denser dup of the same chain (reference held)
 *
 * Return: true if the mapping now maps @kfolio and @item is on its dup.
 */
static bool ksmmod_chain_move_mapping(struct ksmmod_rmap_item *item,
				      struct ksmmod_stable_node *from, struct folio *kfolio)
{
	unsigned long addr = item->address & PAGE_MASK;
	struct mm_struct *mm = item->mm;
	struct vm_area_struct *vma;
	struct page *page = NULL;
	bool moved = false;

	if (!mmget_not_zero(mm))
		return false;
	/* One mmap_lock hold for the lookup and the merge. */
	mmap_read_lock(mm);
	vma = ksmmod_find_mergeable_vma(mm, addr);
	if (vma)
		page = ksmmod_get_anon_page(vma, addr);
	if (page) {
		/* Still @from's page there (not copied on write since)? */
		if (ksmmod_folio_stable_node(page_folio(page)) == from)
			moved = !ksmmod_merge_with_ksm_page(item, page, &kfolio->page, vma);
		put_page(page);
	}
	mmap_read_unlock(mm);
	/* Not the last reference under ksmmod_thread_mutex (see scan.c). */
	mmput_async(mm);
	return moved;
}

/*
 * Whether the mappings of @dup may move to another dup: every mapping of its
 * page has an rmap item on @dup. A child forked after the merge maps the page
 * without one, and the kernel's rmap walk finds the child's mapping only
 * through the parent's item: moving the parent away would leave the page
 * unreachable for reclaim and migration. (A stale dup is removed here.)
 */
static bool ksmmod_dup_movable(struct ksmmod_stable_node *dup, int nid)
{
	struct folio *folio = ksmmod_stable_folio(dup, nid);
	bool movable;

	if (!folio)
		return false;
	movable = ksmmod_folio_mapcount(folio) <= dup->rmap_hlist_len;
	folio_put(folio);
	return movable;
}

/*
 * The two under-filled dups of @chain to densify: @densest has the most
 * mappings among those with room, @sparsest the fewest among the movable
 * ones. Return: false if there is no such
 * pair. The chain may have left the tree meanwhile (stale dups removed).
 */
static bool ksmmod_chain_pick_pair(struct ksmmod_stable_node *chain,
				   struct ksmmod_stable_node **densest,
				   struct ksmmod_stable_node **sparsest)
{
	struct ksmmod_stable_node *dup, *hi = NULL, *lo = NULL;
	struct hlist_node *tmp;

	hlist_for_each_entry(dup, &chain->hlist, hlist_dup) {
		if (!ksmmod_dup_has_room(dup))
			continue;
		if (!hi || dup->rmap_hlist_len > hi->rmap_hlist_len)
			hi = dup;
	}
	hlist_for_each_entry_safe(dup, tmp, &chain->hlist, hlist_dup) {
		cond_resched();
		if (dup == hi || !ksmmod_dup_has_room(dup))
			continue;
		if (lo && dup->rmap_hlist_len >= lo->rmap_hlist_len)
			continue;
		if (ksmmod_dup_movable(dup, chain->nid))
			lo = dup;
	}
	*densest = hi;
	*sparsest = lo;
	return hi && lo && !ksmmod_chain_dead(chain);
}

/**
 * ksmmod_chain_densify() - move mappings from sparse dups of @chain to dense ones
 * @chain: a chain in the tree, just pruned
 * @budget: moves left in this pass; decremented by the moves tried
 */
static void ksmmod_chain_densify(struct ksmmod_stable_node *chain, unsigned long *budget)
{
	struct ksmmod_stable_node *densest, *sparsest;

	while (*budget && !ksmmod_chain_dead(chain) &&
	       ksmmod_chain_pick_pair(chain, &densest, &sparsest)) {
		struct ksmmod_rmap_item *item;
		struct hlist_node *tmp;
		struct folio *kfolio;
		bool progress = false;

		kfolio = ksmmod_stable_folio(densest, chain->nid);
		if (!kfolio)
			continue;	/* stale: removed; pick again */
		hlist_for_each_entry_safe(item, tmp, &sparsest->hlist, hlist) {
			if (!*budget || !ksmmod_dup_has_room(densest))
				break;
			(*budget)--;
			if (ksmmod_chain_move_mapping(item, sparsest, kfolio)) {
				ksmmod_count_inc(densify_moves);
				progress = true;
			}
		}
		folio_put(kfolio);
		if (!progress)
			break;	/* unmovable now (swapped out, pinned): next pass */
	}
}

/*
 * Whether the periodic pass is due; the caller holds ksmmod_thread_mutex.
 */
static bool ksmmod_chains_pass_due(void)
{
	unsigned int ms = READ_ONCE(ksmmod_tunables.stable_node_chains_prune_millisecs);

	return time_after_eq(jiffies, ksmmod_chains_pass_time + msecs_to_jiffies(ms));
}

/**
 * ksmmod_chains_tick() - ksmmodd's periodic pass over all chains
 *
 * Once stable_node_chains_prune_millisecs have passed since the last pass:
 * prunes every chain, densifies them if densify_chains is set, and frees the
 * chains that left the tree. Called with ksmmod_thread_mutex held.
 */
void ksmmod_chains_tick(void)
{
	bool densify = READ_ONCE(ksmmod_tunables.densify_chains);
	struct ksmmod_stable_node **link = &ksmmod_chains;
	unsigned long budget;
	u64 scanned;

	lockdep_assert_held(&ksmmod_thread_mutex);
	if (!ksmmod_chains_pass_due()) {
		ksmmod_chains_free_dead();
		return;
	}
	ksmmod_chains_pass_time = jiffies;
	scanned = atomic64_read(&ksmmod_counters.pages_scanned);
	budget = max_t(u64, READ_ONCE(ksmmod_tunables.pages_to_scan),
		       (scanned - ksmmod_chains_pass_scanned) / 8);
	ksmmod_chains_pass_scanned = scanned;
	while (*link) {
		struct ksmmod_stable_node *chain = *link;

		if (!ksmmod_chain_dead(chain)) {
			ksmmod_chain_prune(chain);
			if (densify && !ksmmod_chain_dead(chain)) {
				ksmmod_chain_densify(chain, &budget);
				if (!ksmmod_chain_dead(chain))
					ksmmod_chain_prune(chain);
			}
		}
		if (ksmmod_chain_dead(chain)) {
			*link = chain->next_chain;
			ksmmod_stable_node_free(chain);
			ksmmod_chains_dead--;
		} else {
			link = &chain->next_chain;
		}
		cond_resched();
	}
}

/**
 * ksmmod_chains_free_dead() - free the chains that have left the tree
 *
 * For run=2, unload and memory offlining, after nodes were removed without
 * the periodic pass. Called with ksmmod_thread_mutex held.
 */
void ksmmod_chains_free_dead(void)
{
	struct ksmmod_stable_node **link = &ksmmod_chains;

	while (*link && ksmmod_chains_dead) {
		struct ksmmod_stable_node *chain = *link;

		if (ksmmod_chain_dead(chain)) {
			*link = chain->next_chain;
			ksmmod_stable_node_free(chain);
			ksmmod_chains_dead--;
		} else {
			link = &chain->next_chain;
		}
	}
}
