// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod stable tree: the merged (KSM) pages, keyed by content.
 *
 * DOC: Stable tree
 *
 * mm/ksm.c orders its trees by memcmp() of whole pages, so each lookup costs
 * O(log n) page compares. ksmmod keys both trees by a 64-bit content hash
 * (xxh64) and compares page contents only when the hashes are equal, which
 * for different contents practically never happens: a lookup costs one hash
 * of the candidate page plus one memcmp() when it finds its match. Nodes
 * with equal hashes but different contents (collisions) are ordered by
 * memcmp() among themselves, so correctness never depends on the hash.
 *
 * A node's page is reached through the keyhole (ksmmod_get_ksm_folio()),
 * which also prunes nodes whose page has been freed; a search that meets one
 * restarts from the root.
 *
 * With merge_across_nodes=0 there is one tree per NUMA node (see
 * ksmmod_tree_nid()), and node->nid says which. When the kernel migrates a
 * merged page to another node, its stable node is then in the wrong tree:
 * like mm/ksm.c, a lookup that meets such a node takes it out of the tree
 * and parks it on a list of migrated nodes (still pointed to by its page,
 * still listing its rmap items). When the scanner next meets that page, the
 * node goes back into the tree of its new node, or, if that tree already
 * has a page with the same contents, the page's mappings are merged into it
 * one by one.
 *
 * Until stable-node chains exist, a node that reaches max_page_sharing
 * mappings accepts no more: further identical pages stay unmerged (and stay
 * out of the unstable tree, where they would only pair up, fail to enter
 * the stable tree next to the full node, and be broken again every scan).
 */
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/rmap.h>

#include "ksmmod/core.h"
#include "ksmmod/ksmmod.h"

/* The stable trees: [0] only, or one per NUMA node (merge_across_nodes=0). */
static struct rb_root ksmmod_stable_roots[MAX_NUMNODES];

/* Stable nodes out of their tree because their page moved to another node. */
static LIST_HEAD(ksmmod_migrated_nodes);

/**
 * ksmmod_stable_node_migrated() - whether @node is parked as migrated
 * @node: a stable node of ksmmod
 *
 * Return: true if it is on the migrated list rather than in a tree (its
 * first word is then the list marker, which no rb_node parent can equal).
 */
bool ksmmod_stable_node_migrated(struct ksmmod_stable_node *node)
{
	return node->head == &ksmmod_migrated_nodes;
}

/* Take @node out of its tree, or off the migrated list. */
void ksmmod_stable_node_unlink(struct ksmmod_stable_node *node)
{
	if (ksmmod_stable_node_migrated(node))
		list_del(&node->list);
	else
		rb_erase(&node->node, &ksmmod_stable_roots[node->nid]);
}

/* Park @node, whose page is now on another NUMA node than its tree's. */
void ksmmod_stable_node_park(struct ksmmod_stable_node *node)
{
	rb_erase(&node->node, &ksmmod_stable_roots[node->nid]);
	node->head = &ksmmod_migrated_nodes;
	list_add(&node->list, &ksmmod_migrated_nodes);
}

/**
 * ksmmod_prune_migrated_nodes() - drop parked nodes whose page was freed
 *
 * Called at the start of every full scan, as mm/ksm.c does: nothing else
 * would look at a parked node whose page is gone.
 */
void ksmmod_prune_migrated_nodes(void)
{
	struct ksmmod_stable_node *node, *tmp;

	list_for_each_entry_safe(node, tmp, &ksmmod_migrated_nodes, list) {
		struct folio *folio = ksmmod_get_ksm_folio(node, false);

		if (folio)
			folio_put(folio);
		cond_resched();
	}
}

/**
 * ksmmod_stable_tree_search() - find the KSM page with the contents of @page
 * @page: a page (reference held by the caller)
 * @hash: its content hash
 *
 * Return: the KSM page with a reference (possibly @page itself if it already
 * is in the tree), NULL if there is none, or ERR_PTR(-ENOSPC) if there is
 * one but it already has max_page_sharing mappings.
 */
struct page *ksmmod_stable_tree_search(struct page *page, u64 hash)
{
	int nid = ksmmod_tree_nid(page);
	struct rb_node *n;

again:
	n = ksmmod_stable_roots[nid].rb_node;
	while (n) {
		struct ksmmod_stable_node *node = rb_entry(n, struct ksmmod_stable_node, node);
		struct folio *folio;
		int ret;

		cond_resched();
		if (hash < node->hash) {
			n = n->rb_left;
			continue;
		}
		if (hash > node->hash) {
			n = n->rb_right;
			continue;
		}
		folio = ksmmod_get_ksm_folio(node, false);
		if (!folio)
			goto again;	/* the node was stale and is gone */
		ret = ksmmod_memcmp_pages(page, &folio->page);
		if (ret) {
			folio_put(folio);
			n = ret < 0 ? n->rb_left : n->rb_right;
			continue;
		}
		if (ksmmod_tree_nid(&folio->page) != nid) {
			/* Migrated to another node since it was merged. */
			folio_put(folio);
			ksmmod_stable_node_park(node);
			goto again;
		}
		if (&folio->page != page &&
		    node->rmap_hlist_len >= READ_ONCE(ksmmod_tunables.max_page_sharing)) {
			folio_put(folio);
			return ERR_PTR(-ENOSPC);
		}
		return &folio->page;
	}
	return NULL;
}

/**
 * ksmmod_stable_tree_link() - link @node (for locked page @kpage) into its tree
 * @node: a node in no tree, @node->hash set
 * @kpage: its KSM page, locked by the caller
 *
 * Return: false if the tree already has a page with the same contents
 * (there are never two nodes for one content): nothing was linked.
 */
static bool ksmmod_stable_tree_link(struct ksmmod_stable_node *node, struct page *kpage)
{
	int nid = ksmmod_tree_nid(kpage);
	struct rb_node **link, *parent;
	u64 hash = node->hash;

again:
	link = &ksmmod_stable_roots[nid].rb_node;
	parent = NULL;
	while (*link) {
		struct ksmmod_stable_node *other;
		struct folio *folio;
		int ret;

		cond_resched();
		other = rb_entry(*link, struct ksmmod_stable_node, node);
		parent = *link;
		if (hash < other->hash) {
			link = &parent->rb_left;
			continue;
		}
		if (hash > other->hash) {
			link = &parent->rb_right;
			continue;
		}
		folio = ksmmod_get_ksm_folio(other, false);
		if (!folio)
			goto again;
		ret = ksmmod_memcmp_pages(kpage, &folio->page);
		folio_put(folio);
		if (!ret)
			return false;
		link = ret < 0 ? &parent->rb_left : &parent->rb_right;
	}
	node->nid = nid;
	rb_link_node(&node->node, parent, link);
	rb_insert_color(&node->node, &ksmmod_stable_roots[nid]);
	return true;
}

/**
 * ksmmod_stable_tree_insert() - add a new KSM page to the stable tree
 * @kpage: a page just made KSM (no node yet), locked by the caller
 * @hash: its content hash
 *
 * Return: its new node, or NULL if a node with the same contents appeared
 * meanwhile or memory ran out (the caller then breaks the merge).
 */
struct ksmmod_stable_node *ksmmod_stable_tree_insert(struct page *kpage, u64 hash)
{
	struct ksmmod_stable_node *node;

	node = ksmmod_stable_node_alloc();
	if (!node)
		return NULL;
	INIT_HLIST_HEAD(&node->hlist);
	node->hash = hash;
	node->kpfn = page_to_pfn(kpage);
	if (!ksmmod_stable_tree_link(node, kpage)) {
		ksmmod_stable_node_free(node);
		return NULL;
	}
	ksmmod_folio_set_stable_node(page_folio(kpage), node);
	return node;
}

/**
 * ksmmod_stable_node_reinsert() - put a parked (migrated) node into its new tree
 * @node: a node on the migrated list
 * @kpage: its page (reference held), now on another NUMA node
 *
 * Return: true if @node is in a tree again; false if that tree already has
 * a page with these contents (or @kpage is no longer @node's page).
 */
bool ksmmod_stable_node_reinsert(struct ksmmod_stable_node *node, struct page *kpage)
{
	struct folio *folio = page_folio(kpage);
	bool linked = false;

	folio_lock(folio);
	if (ksmmod_folio_stable_node(folio) == node && ksmmod_stable_node_migrated(node)) {
		list_del(&node->list);
		/* Parking reused the word that holds the hash (see layout.h). */
		node->hash = ksmmod_page_hash(kpage);
		linked = ksmmod_stable_tree_link(node, kpage);
		if (!linked) {
			node->head = &ksmmod_migrated_nodes;
			list_add(&node->list, &ksmmod_migrated_nodes);
		}
	}
	folio_unlock(folio);
	return linked;
}

/**
 * ksmmod_stable_node_detach() - detach @node from its page and free it, if unmapped
 * @node: a stable node
 *
 * Return: false if its page is still mapped (the node stays).
 */
static bool ksmmod_stable_node_detach(struct ksmmod_stable_node *node)
{
	struct folio *folio;
	bool mapped;

	folio = ksmmod_get_ksm_folio(node, true);
	if (!folio)
		return true;	/* stale: already removed */
	mapped = folio_mapped(folio);
	if (!mapped) {
		ksmmod_folio_set_stable_node(folio, NULL);
		ksmmod_stable_node_remove(node);
	}
	folio_unlock(folio);
	folio_put(folio);
	cond_resched();
	return !mapped;
}

/**
 * ksmmod_remove_all_stable_nodes() - detach every stable node from its page
 *
 * For run=2 and unload, after every mapping was broken: each node's page is
 * left with a NULL stable node (like mm/ksm.c's remove_stable_node()), so a
 * page still in the swap cache is copied on swap-in and no folio points into
 * ksmmod any more. A node whose page is still mapped (by a process ksmmod
 * does not know, such as a child forked after the merge) stays.
 *
 * Return: the number of nodes that stay.
 */
unsigned long ksmmod_remove_all_stable_nodes(void)
{
	struct ksmmod_stable_node *node, *tmp;
	unsigned long left = 0;
	int nid;

	for (nid = 0; nid < nr_node_ids; nid++) {
		struct rb_node *n = rb_first(&ksmmod_stable_roots[nid]);

		while (n) {
			node = rb_entry(n, struct ksmmod_stable_node, node);
			n = rb_next(n);
			left += !ksmmod_stable_node_detach(node);
		}
	}
	list_for_each_entry_safe(node, tmp, &ksmmod_migrated_nodes, list)
		left += !ksmmod_stable_node_detach(node);
	return left;
}

/**
 * ksmmod_remove_stable_nodes_in() - drop the nodes whose kpfn is in a range
 * @start_pfn: first pfn of memory just taken offline
 * @end_pfn: end of the range
 *
 * Their pages were freed (every live page was migrated out before the
 * memory went offline): remove them without looking at the pages, whose
 * struct pages are no longer initialised (see src/memory.c).
 */
void ksmmod_remove_stable_nodes_in(unsigned long start_pfn, unsigned long end_pfn)
{
	struct ksmmod_stable_node *node, *tmp;
	int nid;

	lockdep_assert_held(&ksmmod_thread_mutex);
	for (nid = 0; nid < nr_node_ids; nid++) {
		struct rb_node *n = rb_first(&ksmmod_stable_roots[nid]);

		while (n) {
			node = rb_entry(n, struct ksmmod_stable_node, node);
			n = rb_next(n);
			if (node->kpfn >= start_pfn && node->kpfn < end_pfn)
				ksmmod_stable_node_remove(node);
		}
	}
	list_for_each_entry_safe(node, tmp, &ksmmod_migrated_nodes, list)
		if (node->kpfn >= start_pfn && node->kpfn < end_pfn)
			ksmmod_stable_node_remove(node);
}
