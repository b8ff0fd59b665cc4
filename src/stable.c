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

struct rb_root ksmmod_stable_root = RB_ROOT;

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
	struct rb_node *n;

again:
	n = ksmmod_stable_root.rb_node;
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
 * ksmmod_stable_tree_insert() - add a new KSM page to the stable tree
 * @kpage: a page just made KSM (no node yet), locked by the caller
 * @hash: its content hash
 *
 * Return: its new node, or NULL if a node with the same contents appeared
 * meanwhile or memory ran out (the caller then breaks the merge).
 */
struct ksmmod_stable_node *ksmmod_stable_tree_insert(struct page *kpage, u64 hash)
{
	struct rb_node **link, *parent;
	struct ksmmod_stable_node *node;

again:
	link = &ksmmod_stable_root.rb_node;
	parent = NULL;
	while (*link) {
		struct folio *folio;
		int ret;

		cond_resched();
		node = rb_entry(*link, struct ksmmod_stable_node, node);
		parent = *link;
		if (hash < node->hash) {
			link = &parent->rb_left;
			continue;
		}
		if (hash > node->hash) {
			link = &parent->rb_right;
			continue;
		}
		folio = ksmmod_get_ksm_folio(node, false);
		if (!folio)
			goto again;
		ret = ksmmod_memcmp_pages(kpage, &folio->page);
		folio_put(folio);
		if (!ret)
			return NULL;	/* same contents: never two nodes for one content */
		link = ret < 0 ? &parent->rb_left : &parent->rb_right;
	}

	node = ksmmod_stable_node_alloc();
	if (!node)
		return NULL;
	INIT_HLIST_HEAD(&node->hlist);
	node->hash = hash;
	node->kpfn = page_to_pfn(kpage);
	node->nid = page_to_nid(kpage);
	rb_link_node(&node->node, parent, link);
	rb_insert_color(&node->node, &ksmmod_stable_root);
	ksmmod_folio_set_stable_node(page_folio(kpage), node);
	return node;
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
	struct rb_node *n = rb_first(&ksmmod_stable_root);
	unsigned long left = 0;

	while (n) {
		struct ksmmod_stable_node *node = rb_entry(n, struct ksmmod_stable_node, node);
		struct folio *folio;

		n = rb_next(n);
		folio = ksmmod_get_ksm_folio(node, true);
		if (!folio)
			continue;	/* stale: already removed */
		if (folio_mapped(folio)) {
			left++;
		} else {
			ksmmod_folio_set_stable_node(folio, NULL);
			ksmmod_stable_node_remove(node);
		}
		folio_unlock(folio);
		folio_put(folio);
		cond_resched();
	}
	return left;
}
