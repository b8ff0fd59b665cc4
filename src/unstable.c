// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod unstable tree: pages seen unchanged across one full scan, waiting
 * for an identical partner.
 *
 * DOC: Unstable tree
 *
 * Its pages are not write-protected, so their contents may change while they
 * are in it: mm/ksm.c, which orders the tree by memcmp(), can end up with a
 * mis-ordered tree. ksmmod orders it by the content hash each item had when
 * it was inserted (ksmmod_rmap_item.checksum), which cannot change while the
 * item is in the tree, and compares page contents only on a hash match.
 *
 * With merge_across_nodes=0 there is one tree per NUMA node; an item records
 * its tree in ->nid (which shares its word with the anon_vma of a stable
 * item). Items of different merge domains (include/ksmmod/domain.h) never
 * pair: among equal hashes the tree is ordered by ->domain (then by
 * contents), so that the common case, unequal hashes, costs what it did
 * before domains.
 *
 * The tree is rebuilt every full scan: ksmmod_unstable_tree_reset() simply
 * forgets the root, and items remember (in the low bits of their address)
 * the scan they were inserted in, so that only items of the current tree are
 * ever rb_erase()d.
 */
#include <linux/mm.h>
#include <linux/rbtree.h>

#include "ksmmod/core.h"
#include "ksmmod/ksmmod.h"

/* The unstable trees: [0] only, or one per NUMA node (see ksmmod_tree_nid()). */
static struct rb_root ksmmod_unstable_roots[MAX_NUMNODES];

/* Unstable trees started so far; its low byte tags unstable tree items. */
static unsigned long ksmmod_scan_seqnr;

/**
 * ksmmod_unstable_tree_reset() - start a new, empty unstable tree
 *
 * At the start of each full scan. Items of the old tree are left where they
 * are: their tag (one scan old) tells ksmmod_unstable_tree_erase() they are
 * in no tree now. That holds only while the tag moves once between two
 * visits of an item: other callers want ksmmod_unstable_tree_clear().
 */
void ksmmod_unstable_tree_reset(void)
{
	int nid;

	ksmmod_scan_seqnr++;

	for (nid = 0; nid < nr_node_ids; nid++)
		ksmmod_unstable_roots[nid] = RB_ROOT;
}

/**
 * ksmmod_unstable_tree_clear() - take every item out of the current unstable tree
 *
 * When processes change merge domain (merge_domains): the items carry the
 * old one, which a new domain may reuse. Each item is unlinked as if
 * removed (its flag and tag cleared, pages_unshared down); the scan goes on
 * with an empty tree. Called with ksmmod_thread_mutex held.
 */
void ksmmod_unstable_tree_clear(void)
{
	struct ksmmod_rmap_item *item, *next;
	int nid;

	for (nid = 0; nid < nr_node_ids; nid++) {
		rbtree_postorder_for_each_entry_safe(item, next, &ksmmod_unstable_roots[nid], node) {
			item->address &= PAGE_MASK;
			ksmmod_count_dec(pages_unshared);
		}
		ksmmod_unstable_roots[nid] = RB_ROOT;
	}
}

/**
 * ksmmod_unstable_tree_erase() - unlink @item if it is in the current tree
 * @item: an item flagged KSMMOD_UNSTABLE_FLAG
 */
void ksmmod_unstable_tree_erase(struct ksmmod_rmap_item *item)
{
	unsigned char age = (unsigned char)(ksmmod_scan_seqnr - item->address);

	if (!age)
		rb_erase(&item->node, &ksmmod_unstable_roots[item->nid]);
}

/**
 * ksmmod_unstable_tree_search_insert() - find a partner for @item, or insert it
 * @item: rmap item of @page, in no tree; @item->checksum is the tree key
 * @page: its page (reference held)
 * @domain: the merge domain of @item->mm
 * @tree_pagep: set to the partner's page (with a reference) when found
 * @mm_locked: whether the caller holds @item->mm's mmap_lock; if so, it is
 *	released (and this set to false) before a partner's page is looked up,
 *	since that takes the partner's mmap_lock
 *
 * Return: the partner's rmap item, or NULL (then @item was inserted, unless
 * a partner's page could not be looked at).
 */
struct ksmmod_rmap_item *ksmmod_unstable_tree_search_insert(struct ksmmod_rmap_item *item,
							    struct page *page, u16 domain,
							    struct page **tree_pagep,
							    bool *mm_locked)
{
	int nid = ksmmod_tree_nid(page);
	struct rb_root *root = &ksmmod_unstable_roots[nid];
	struct rb_node **link = &root->rb_node, *parent = NULL;
	u64 hash = item->checksum;

	while (*link) {
		struct ksmmod_rmap_item *tree_item;
		struct page *tree_page;
		int ret;

		cond_resched();
		tree_item = rb_entry(*link, struct ksmmod_rmap_item, node);
		parent = *link;
		if (hash < tree_item->checksum) {
			link = &parent->rb_left;
			continue;
		}
		if (hash > tree_item->checksum) {
			link = &parent->rb_right;
			continue;
		}
		/* Equal hashes (a match, almost always): the domain decides next. */
		if (domain != tree_item->domain) {
			link = domain < tree_item->domain ? &parent->rb_left : &parent->rb_right;
			continue;
		}
		if (*mm_locked) {
			mmap_read_unlock(item->mm);
			*mm_locked = false;
		}
		tree_page = ksmmod_get_mergeable_page(tree_item);
		if (!tree_page)
			return NULL;
		/*
		 * The same page at two addresses (e.g. after fork): nothing to
		 * gain. A page that moved to another NUMA node since it was
		 * inserted goes into the right tree next scan; merge with it
		 * now only if nodes do not matter.
		 */
		if (tree_page == page || ksmmod_tree_nid(tree_page) != nid) {
			put_page(tree_page);
			return NULL;
		}
		ret = ksmmod_memcmp_pages(page, tree_page);
		if (!ret) {
			*tree_pagep = tree_page;
			return tree_item;
		}
		put_page(tree_page);
		link = ret < 0 ? &parent->rb_left : &parent->rb_right;
	}

	item->address |= KSMMOD_UNSTABLE_FLAG | (ksmmod_scan_seqnr & KSMMOD_SEQNR_MASK);
	item->nid = nid;
	item->domain = domain;
	rb_link_node(&item->node, parent, link);
	rb_insert_color(&item->node, root);
	ksmmod_count_inc(pages_unshared);
	return NULL;
}
