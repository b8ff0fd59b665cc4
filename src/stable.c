// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod stable tree: the merged (KSM) pages, keyed by content.
 *
 * DOC: Stable tree
 *
 * mm/ksm.c orders its trees by memcmp() of whole pages, so each lookup costs
 * O(log n) page compares. ksmmod keys both trees by a 48-bit content hash
 * (xxh64) and compares page contents only when the hashes are equal, which
 * for different contents practically never happens: a lookup costs one hash
 * of the candidate page plus one memcmp() when it finds its match. Nodes
 * with equal hashes but different contents (collisions) are ordered by
 * memcmp() among themselves, so correctness never depends on the hash.
 * Above the hash, a node's key holds the merge domain of the processes that
 * map its page (ksmmod_tree_key()): pages of two domains never meet.
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
 * A content with more than max_page_sharing mappings is kept as a chain of
 * dups (src/chain.c): the chain is the tree entry, and the lookup returns
 * the dup to merge into.
 */
#include <linux/mm.h>
#include <linux/pagemap.h>
#include <linux/rmap.h>

#include "ksmmod/core.h"
#include "ksmmod/domain.h"
#include "ksmmod/ksmmod.h"
#include "ksmmod/registry.h"

/* The stable trees: [0] only, or one per NUMA node (merge_across_nodes=0). */
static struct rb_root ksmmod_stable_roots[MAX_NUMNODES];

/*
 * Stable nodes out of their tree because their page moved to another node.
 * Its address + 1 also marks dups (KSMMOD_STABLE_NODE_DUP_HEAD).
 */
LIST_HEAD(ksmmod_migrated_nodes);

/* The stable tree of NUMA node @nid (0 with merge_across_nodes=1). */
struct rb_root *ksmmod_stable_root(int nid)
{
	return &ksmmod_stable_roots[nid];
}

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

/**
 * ksmmod_stable_node_unlink() - take @node out of its tree, chain or list
 * @node: a regular node, a dup or a parked node (never a chain)
 */
void ksmmod_stable_node_unlink(struct ksmmod_stable_node *node)
{
	if (ksmmod_stable_node_migrated(node))
		list_del(&node->list);
	else if (ksmmod_stable_node_is_dup(node))
		ksmmod_chain_del_dup(node);
	else
		rb_erase(&node->node, &ksmmod_stable_roots[node->nid]);
}

/**
 * ksmmod_stable_node_park() - park @node, whose page is now on another NUMA node
 * @node: a regular node in a tree, or a dup
 */
void ksmmod_stable_node_park(struct ksmmod_stable_node *node)
{
	ksmmod_stable_node_unlink(node);
	node->head = &ksmmod_migrated_nodes;
	list_add(&node->list, &ksmmod_migrated_nodes);
}

/**
 * ksmmod_stable_folio() - the folio of @node, if it is still in the right tree
 * @node: a regular node or a dup
 * @nid: the tree it is in
 *
 * A stale node is removed (ksmmod_get_ksm_folio()); a node whose page has
 * moved to another NUMA node since it was merged is parked.
 *
 * Return: the folio with a reference, or NULL (the node has left the tree
 * or its chain).
 */
struct folio *ksmmod_stable_folio(struct ksmmod_stable_node *node, int nid)
{
	struct folio *folio = ksmmod_get_ksm_folio(node, false);

	if (folio && ksmmod_tree_nid(&folio->page) != nid) {
		folio_put(folio);
		ksmmod_stable_node_park(node);
		return NULL;
	}
	return folio;
}

/*
 * The folio to compare with for tree entry @entry (regular node or chain),
 * and whether it (every dup, for a chain) is full. NULL: @entry left the tree.
 */
static struct folio *ksmmod_stable_entry_folio(struct ksmmod_stable_node *entry, int nid,
					       struct page *page, bool *full)
{
	if (ksmmod_stable_node_is_chain(entry))
		return ksmmod_chain_lookup(entry, page, full);
	*full = entry->rmap_hlist_len >= (int)READ_ONCE(ksmmod_tunables.max_page_sharing);
	return ksmmod_stable_folio(entry, nid);
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
 * ksmmod_stable_tree_search() - find the KSM page to merge @page into
 * @page: a page (reference held by the caller)
 * @key: ksmmod_tree_key() of its merge domain and content hash
 * @verify: compare contents when the hashes are equal. Without, the first
 *	page with an equal hash is returned: for a caller whose merge compares
 *	the contents anyway (under the page lock, after write-protecting) and
 *	searches again, verified, when that fails (-ESTALE). This saves one
 *	memcmp() per merged page.
 *
 * Return: the KSM page with a reference (possibly @page itself if it already
 * is in the tree), or NULL if there is none with these contents or every
 * one (every dup of the chain) already has max_page_sharing mappings.
 */
struct page *ksmmod_stable_tree_search(struct page *page, u64 key, bool verify)
{
	int nid = ksmmod_tree_nid(page);
	struct rb_node *n;

again:
	n = ksmmod_stable_roots[nid].rb_node;
	while (n) {
		struct ksmmod_stable_node *node = rb_entry(n, struct ksmmod_stable_node, node);
		struct folio *folio;
		bool full;
		int ret;

		cond_resched();
		if (key < node->hash) {
			n = n->rb_left;
			continue;
		}
		if (key > node->hash) {
			n = n->rb_right;
			continue;
		}
		folio = ksmmod_stable_entry_folio(node, nid, page, &full);
		if (!folio)
			goto again;	/* the entry was stale or moved and is gone */
		ret = verify ? ksmmod_memcmp_pages(page, &folio->page) : 0;
		if (ret) {
			folio_put(folio);
			n = ret < 0 ? n->rb_left : n->rb_right;
			continue;
		}
		if (&folio->page != page && full) {
			/* Full: @page may pair up with a twin into a new dup. */
			folio_put(folio);
			return NULL;
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
 * If the tree already has an entry with the same contents (there is never
 * more than one per content), @node becomes a dup of it: of its chain, or
 * of a new chain that takes the place of the regular node there.
 *
 * Return: false if out of memory for a new chain: nothing was linked.
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
		bool full;
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
		folio = ksmmod_stable_entry_folio(other, nid, kpage, &full);
		if (!folio)
			goto again;
		ret = ksmmod_memcmp_pages(kpage, &folio->page);
		folio_put(folio);
		if (ret) {
			link = ret < 0 ? &parent->rb_left : &parent->rb_right;
			continue;
		}
		if (!ksmmod_stable_node_is_chain(other)) {
			other = ksmmod_chain_create(other);
			if (!other)
				return false;
		}
		ksmmod_chain_add_dup(other, node);
		return true;
	}
	node->nid = nid;
	rb_link_node(&node->node, parent, link);
	rb_insert_color(&node->node, &ksmmod_stable_roots[nid]);
	return true;
}

/**
 * ksmmod_stable_tree_insert() - add a new KSM page to the stable tree
 * @kpage: a page just made KSM (no node yet), locked by the caller
 * @key: ksmmod_tree_key() of its merge domain and content hash
 *
 * Return: its new node (regular, or a dup if the contents already had an
 * entry), or NULL if memory ran out (the caller then breaks the merge).
 */
struct ksmmod_stable_node *ksmmod_stable_tree_insert(struct page *kpage, u64 key)
{
	struct ksmmod_stable_node *node;

	node = ksmmod_stable_node_alloc();
	if (!node)
		return NULL;
	INIT_HLIST_HEAD(&node->hlist);
	node->hash = key;
	node->kpfn = page_to_pfn(kpage);
	if (!ksmmod_stable_tree_link(node, kpage)) {
		ksmmod_stable_node_free(node);
		return NULL;
	}
	ksmmod_folio_set_stable_node(page_folio(kpage), node);
	return node;
}

/* A node of @nid's tree whose key is in [@lo, @hi], or NULL. */
static struct ksmmod_stable_node *ksmmod_stable_any_in(int nid, u64 lo, u64 hi)
{
	struct rb_node *n = ksmmod_stable_roots[nid].rb_node;

	while (n) {
		struct ksmmod_stable_node *node = rb_entry(n, struct ksmmod_stable_node, node);

		if (node->hash < lo)
			n = n->rb_right;
		else if (node->hash > hi)
			n = n->rb_left;
		else
			return node;
	}
	return NULL;
}

/*
 * Take every entry of merge domain @domain out of the trees: park its nodes
 * with the migrated ones, where no search finds them and
 * ksmmod_prune_migrated_nodes() frees them once their page is gone. The
 * domain has no process left, so its nodes have no items.
 */
static void ksmmod_stable_tree_forget_domain(u16 domain)
{
	u64 lo = ksmmod_tree_key(domain, 0), hi = lo | ksmmod_key_hash(~0ULL);
	struct ksmmod_stable_node *node;
	int nid;

	for (nid = 0; nid < nr_node_ids; nid++) {
		while ((node = ksmmod_stable_any_in(nid, lo, hi))) {
			/* A chain leaves the tree with its last dup. */
			if (ksmmod_stable_node_is_chain(node))
				node = hlist_entry(node->hlist.first, struct ksmmod_stable_node,
						   hlist_dup);
			ksmmod_stable_node_park(node);
			cond_resched();
		}
	}
}

/**
 * ksmmod_stable_reap_domains() - free the indexes of merge domains without processes
 *
 * A node can outlive the processes of its domain (its page still mapped by
 * an unregistered fork child). Before a dead domain's index may name
 * another domain, its nodes leave the tree: else that other domain's pages
 * would merge into them, shared with the old domain's child. At the start of
 * every full scan and after a change of merge_domains, with
 * ksmmod_thread_mutex held (no merge meanwhile).
 */
void ksmmod_stable_reap_domains(void)
{
	u16 idx = 0;

	while ((idx = ksmmod_domain_next_dead(idx))) {
		ksmmod_stable_tree_forget_domain(idx);
		ksmmod_domain_free_dead(idx);
	}
}

/* Add @node's page to a domain's counts, if a registered process maps it. */
static void ksmmod_stable_count_node(struct ksmmod_stable_node *node, u64 *shared, u64 *sharing)
{
	if (node->rmap_hlist_len > 0) {
		*shared += 1;
		*sharing += node->rmap_hlist_len - 1;
	}
}

/**
 * ksmmod_stable_domain_pages() - the KSM pages of merge domain @domain
 * @domain: a domain index
 * @shared: set to its pages that registered processes map (as pages_shared)
 * @sharing: set to their further mappings (as pages_sharing)
 *
 * Walks the domain's key range of every tree (dups of chains each count as
 * a page) and the parked nodes. ksmmod_thread_mutex held.
 */
void ksmmod_stable_domain_pages(u16 domain, u64 *shared, u64 *sharing)
{
	u64 lo = ksmmod_tree_key(domain, 0), hi = lo | ksmmod_key_hash(~0ULL);
	struct ksmmod_stable_node *node, *dup;
	int nid;

	lockdep_assert_held(&ksmmod_thread_mutex);
	*shared = 0;
	*sharing = 0;
	for (nid = 0; nid < nr_node_ids; nid++) {
		struct rb_node *n = ksmmod_stable_roots[nid].rb_node, *first = NULL;

		/* The leftmost node with a key of at least @lo. */
		while (n) {
			node = rb_entry(n, struct ksmmod_stable_node, node);
			if (node->hash < lo) {
				n = n->rb_right;
			} else {
				first = n;
				n = n->rb_left;
			}
		}
		for (n = first; n; n = rb_next(n)) {
			node = rb_entry(n, struct ksmmod_stable_node, node);
			if (node->hash > hi)
				break;
			if (!ksmmod_stable_node_is_chain(node))
				ksmmod_stable_count_node(node, shared, sharing);
			else
				hlist_for_each_entry(dup, &node->hlist, hlist_dup)
					ksmmod_stable_count_node(dup, shared, sharing);
			cond_resched();
		}
	}
	/*
	 * Parking took the word that held a node's key: the process of its
	 * first item says which domain a parked node's page is in.
	 */
	list_for_each_entry(node, &ksmmod_migrated_nodes, list) {
		struct ksmmod_rmap_item *item;
		struct ksmmod_mm_slot *slot;

		if (hlist_empty(&node->hlist))
			continue;
		item = hlist_entry(node->hlist.first, struct ksmmod_rmap_item, hlist);
		slot = ksmmod_registry_find(item->mm);
		if (slot && slot->domain == domain)
			ksmmod_stable_count_node(node, shared, sharing);
	}
}

/**
 * ksmmod_stable_park_nodes_of() - take the nodes only @mm's pages are on out of every search
 * @list: @mm's rmap items
 * @mm: a process leaving its merge domain (ksmmod_thread_mutex held)
 *
 * Such a node outlives the items the caller is about to drop when @mm
 * still maps its page where unmerging does not reach (a swap entry) or an
 * unregistered child of @mm does: left in the tree, pages of the old
 * domain would merge into a page a process of another domain maps. Parked,
 * no search finds it and it is freed with its page.
 */
void ksmmod_stable_park_nodes_of(struct ksmmod_rmap_item *list, struct mm_struct *mm)
{
	struct ksmmod_rmap_item *item, *other;

	lockdep_assert_held(&ksmmod_thread_mutex);
	for (item = list; item; item = item->rmap_list) {
		struct ksmmod_stable_node *node = item->head;

		if (!(item->address & KSMMOD_STABLE_FLAG) || ksmmod_stable_node_migrated(node))
			continue;
		hlist_for_each_entry(other, &node->hlist, hlist)
			if (other->mm != mm)
				break;
		if (!other)
			ksmmod_stable_node_park(node);
		cond_resched();
	}
}

/**
 * ksmmod_stable_node_reinsert() - put a parked (migrated) node into its new tree
 * @node: a node on the migrated list
 * @kpage: its page (reference held), now on another NUMA node
 * @domain: the merge domain of the processes that map it
 *
 * Return: true if @node is in a tree again (as a regular node or a dup);
 * false if @kpage is no longer @node's page or memory ran out.
 */
bool ksmmod_stable_node_reinsert(struct ksmmod_stable_node *node, struct page *kpage, u16 domain)
{
	struct folio *folio = page_folio(kpage);
	bool linked = false;

	folio_lock(folio);
	if (ksmmod_folio_stable_node(folio) == node && ksmmod_stable_node_migrated(node)) {
		list_del(&node->list);
		/* Parking reused the word that holds the hash (see layout.h). */
		node->hash = ksmmod_tree_key(domain, ksmmod_page_hash(kpage));
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
 * ksmmod_stable_walk() - call @fn on every stable node but chains
 * @fn: called on each regular node, dup and parked node; may remove it.
 *	Returns false to have the node counted.
 * @arg: passed to @fn
 *
 * Chains emptied meanwhile are freed at the end.
 *
 * Return: how many calls returned false.
 */
static unsigned long ksmmod_stable_walk(bool (*fn)(struct ksmmod_stable_node *, void *),
					void *arg)
{
	struct ksmmod_stable_node *node, *tmp;
	unsigned long counted = 0;
	int nid;

	lockdep_assert_held(&ksmmod_thread_mutex);
	for (nid = 0; nid < nr_node_ids; nid++) {
		struct rb_node *n = rb_first(&ksmmod_stable_roots[nid]);

		while (n) {
			node = rb_entry(n, struct ksmmod_stable_node, node);
			n = rb_next(n);
			if (ksmmod_stable_node_is_chain(node)) {
				struct ksmmod_stable_node *dup;
				struct hlist_node *next;

				/* The chain may leave the tree; it is freed only below. */
				hlist_for_each_entry_safe(dup, next, &node->hlist, hlist_dup)
					counted += !fn(dup, arg);
			} else {
				counted += !fn(node, arg);
			}
		}
	}
	list_for_each_entry_safe(node, tmp, &ksmmod_migrated_nodes, list)
		counted += !fn(node, arg);
	ksmmod_chains_free_dead();
	return counted;
}

/**
 * ksmmod_stable_node_detach() - detach @node from its page and free it, if unmapped
 * @node: a stable node
 * @unused: for ksmmod_stable_walk()
 *
 * Return: false if its page is still mapped (the node stays).
 */
static bool ksmmod_stable_node_detach(struct ksmmod_stable_node *node, void *unused)
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
	return ksmmod_stable_walk(ksmmod_stable_node_detach, NULL);
}

/* Add @node to the set @arg (an xarray); false if out of memory. */
static bool ksmmod_stable_node_collect(struct ksmmod_stable_node *node, void *arg)
{
	return !xa_is_err(xa_store(arg, ksmmod_node_key(node), node, GFP_KERNEL));
}

/**
 * ksmmod_collect_stable_nodes() - the set of every stable node (but chains)
 * @nodes: an empty xarray, filled with the nodes keyed by ksmmod_node_key()
 *
 * For the unmerge of the mappings ksmmod has no rmap item for, after
 * ksmmod_remove_all_stable_nodes() left only the nodes still mapped.
 *
 * Return: 0 or -ENOMEM (@nodes holds some of them then: xa_destroy() it).
 */
int ksmmod_collect_stable_nodes(struct xarray *nodes)
{
	return ksmmod_stable_walk(ksmmod_stable_node_collect, nodes) ? -ENOMEM : 0;
}

/* Remove @node if its kpfn is in the pfn range @arg (two unsigned longs). */
static bool ksmmod_stable_node_remove_if_in(struct ksmmod_stable_node *node, void *arg)
{
	unsigned long *range = arg;

	if (node->kpfn >= range[0] && node->kpfn < range[1])
		ksmmod_stable_node_remove(node);
	return true;
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
	unsigned long range[2] = { start_pfn, end_pfn };

	ksmmod_stable_walk(ksmmod_stable_node_remove_if_in, range);
}
