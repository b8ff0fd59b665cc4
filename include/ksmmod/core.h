/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksmmod merging core: interfaces between the scanner (scan.c), the trees
 * (stable.c, unstable.c), the rmap items and stable nodes (rmap.c) and the
 * page-table work (merge.c).
 *
 * Everything here runs under ksmmod_thread_mutex: the scanner holds it for a
 * batch, and registry changes, run=2 and module unload take it too, so tree
 * and rmap-list updates never race with each other.
 */
#ifndef _KSMMOD_CORE_H
#define _KSMMOD_CORE_H

#include <linux/mm.h>
#include <linux/xarray.h>

#include "ksmmod/compat.h"
#include "ksmmod/ksmmod.h"
#include "ksmmod/layout.h"

struct ksmmod_mm_slot;

/*
 * Flags in the low bits of ksmmod_rmap_item.address (it is page aligned):
 * the unstable tree generation (low byte of the scan sequence number) the
 * item was inserted in, and which tree the item is in.
 */
#define KSMMOD_SEQNR_MASK	0x0ffUL
#define KSMMOD_UNSTABLE_FLAG	0x100UL
#define KSMMOD_STABLE_FLAG	0x200UL

/* rmap.c */
int ksmmod_rmap_init(void);
void ksmmod_rmap_exit(void);
struct ksmmod_rmap_item *ksmmod_rmap_item_alloc(struct mm_struct *mm, unsigned long addr);
void ksmmod_rmap_item_free(struct ksmmod_rmap_item *item);
void ksmmod_rmap_item_get_anon_vma(struct ksmmod_rmap_item *item, struct vm_area_struct *vma);
void ksmmod_rmap_item_put_anon_vma(struct ksmmod_rmap_item *item, u64 hash);
u64 ksmmod_rmap_item_hash(const struct ksmmod_rmap_item *item);
struct ksmmod_stable_node *ksmmod_stable_node_alloc(void);
void ksmmod_stable_node_free(struct ksmmod_stable_node *node);
void ksmmod_remove_rmap_item_from_tree(struct ksmmod_rmap_item *item);
void ksmmod_remove_rmap_items_in(struct ksmmod_rmap_item **link, unsigned long start,
				 unsigned long end);
struct folio *ksmmod_get_ksm_folio(struct ksmmod_stable_node *node, bool lock);
void ksmmod_stable_node_remove(struct ksmmod_stable_node *node);
void ksmmod_stable_tree_append(struct ksmmod_rmap_item *item, struct ksmmod_stable_node *node);
int ksmmod_try_to_merge_with_ksm_page(struct ksmmod_rmap_item *item, struct page *page,
				      struct page *kpage);
int ksmmod_merge_with_ksm_page(struct ksmmod_rmap_item *item, struct page *page,
			       struct page *kpage, struct vm_area_struct *vma);
unsigned int ksmmod_merge_run(struct ksmmod_rmap_item **items, struct page **pages,
			      unsigned int nr, struct page *kpage, struct vm_area_struct *vma,
			      pmd_t *pmd, int *errp);
int ksmmod_try_to_merge_with_zero_page(struct ksmmod_rmap_item *item, struct page *page,
				       atomic_long_t *zero_pages);
struct page *ksmmod_try_to_merge_two_pages(struct ksmmod_rmap_item *item, struct page *page,
					   struct ksmmod_rmap_item *tree_item,
					   struct page *tree_page);
void ksmmod_break_cow(struct ksmmod_rmap_item *item, u64 hash);

/**
 * ksmmod_folio_stable_node() - the stable node a KSM folio points to
 * @folio: a folio
 *
 * Return: the node (which may belong to the kernel's own KSM), or NULL.
 */
static inline struct ksmmod_stable_node *ksmmod_folio_stable_node(struct folio *folio)
{
	return folio_test_ksm(folio) ?
	       (void *)((unsigned long)READ_ONCE(folio->mapping) & ~KSMMOD_MAPPING_FLAGS) : NULL;
}

/**
 * ksmmod_node_key() - the index of a stable node in a set of nodes (an xarray)
 * @node: a stable node (slab objects are at least 8-byte aligned)
 *
 * Return: the key.
 */
static inline unsigned long ksmmod_node_key(const struct ksmmod_stable_node *node)
{
	return (unsigned long)node >> 3;
}

/* Make @folio (locked) a KSM page owned by @node (NULL: not yet in the tree). */
static inline void ksmmod_folio_set_stable_node(struct folio *folio,
						struct ksmmod_stable_node *node)
{
	WRITE_ONCE(folio->mapping, (void *)((unsigned long)node | KSMMOD_MAPPING_KSM));
}

/**
 * ksmmod_tree_nid() - which stable and unstable tree @page belongs in
 * @page: a page
 *
 * With merge_across_nodes=1 (the default) there is one tree of each kind
 * (index 0); with 0, one per NUMA node, so pages merge only within a node.
 *
 * Return: the tree index.
 */
static inline int ksmmod_tree_nid(struct page *page)
{
	return READ_ONCE(ksmmod_tunables.merge_across_nodes) ? 0 : page_to_nid(page);
}

/* stable.c */
extern struct list_head ksmmod_migrated_nodes;

/* head of a dup (as mm/ksm.c's STABLE_NODE_DUP_HEAD: no list is there). */
#define KSMMOD_STABLE_NODE_DUP_HEAD	((struct list_head *)&ksmmod_migrated_nodes + 1)

/* Whether @node is a chain of dups (never pointed to by a page). */
static inline bool ksmmod_stable_node_is_chain(struct ksmmod_stable_node *node)
{
	return node->rmap_hlist_len == KSMMOD_STABLE_NODE_CHAIN;
}

/* Whether @node is a dup in a chain (@node may be the kernel's: only compared). */
static inline bool ksmmod_stable_node_is_dup(struct ksmmod_stable_node *node)
{
	return node->head == KSMMOD_STABLE_NODE_DUP_HEAD;
}

struct rb_root *ksmmod_stable_root(int nid);
struct folio *ksmmod_stable_folio(struct ksmmod_stable_node *node, int nid);
struct page *ksmmod_stable_tree_search(struct page *page, u64 key, bool verify);
struct ksmmod_stable_node *ksmmod_stable_tree_insert(struct page *kpage, u64 key);
bool ksmmod_stable_node_migrated(struct ksmmod_stable_node *node);
void ksmmod_stable_node_unlink(struct ksmmod_stable_node *node);
void ksmmod_stable_node_park(struct ksmmod_stable_node *node);
bool ksmmod_stable_node_reinsert(struct ksmmod_stable_node *node, struct page *kpage,
				 u16 domain);
void ksmmod_prune_migrated_nodes(void);
void ksmmod_stable_reap_domains(void);
void ksmmod_stable_domain_pages(u16 domain, u64 *shared, u64 *sharing);
void ksmmod_stable_park_nodes_of(struct ksmmod_rmap_item *list, struct mm_struct *mm);
unsigned long ksmmod_remove_all_stable_nodes(void);
int ksmmod_collect_stable_nodes(struct xarray *nodes);
void ksmmod_remove_stable_nodes_in(unsigned long start_pfn, unsigned long end_pfn);

/* chain.c */
void ksmmod_chain_add_dup(struct ksmmod_stable_node *chain, struct ksmmod_stable_node *dup);
void ksmmod_chain_del_dup(struct ksmmod_stable_node *dup);
struct ksmmod_stable_node *ksmmod_chain_create(struct ksmmod_stable_node *node);
struct folio *ksmmod_chain_lookup(struct ksmmod_stable_node *chain, struct page *page, bool *full);
void ksmmod_chains_tick(void);
void ksmmod_chains_free_dead(void);

/* unstable.c */
void ksmmod_unstable_tree_reset(void);
void ksmmod_unstable_tree_clear(void);
void ksmmod_unstable_tree_erase(struct ksmmod_rmap_item *item);
struct ksmmod_rmap_item *ksmmod_unstable_tree_search_insert(struct ksmmod_rmap_item *item,
							    struct page *page, u16 domain,
							    struct page **tree_pagep,
							    bool *mm_locked);

/* content.c */
u64 ksmmod_page_hash(struct page *page);
int ksmmod_memcmp_pages(struct page *a, struct page *b);

/* lookup.c */
bool ksmmod_vma_eligible(struct vm_area_struct *vma);
struct vm_area_struct *ksmmod_find_mergeable_vma(struct mm_struct *mm, unsigned long addr);
bool ksmmod_skip_none_ptes(pte_t **ptep, unsigned long *addr, unsigned long end);
pte_t *ksmmod_lock_pte_table(struct mm_struct *mm, unsigned long addr, unsigned long *end,
			     pmd_t **pmdp, spinlock_t **ptlp, unsigned long *next);
int ksmmod_get_anon_pages(struct vm_area_struct *vma, unsigned long addr, unsigned long end,
			  unsigned long *addrs, struct page **first, int max, pmd_t **pmdp,
			  unsigned long *next);
struct page *ksmmod_get_anon_page_pmd(struct vm_area_struct *vma, pmd_t *pmd,
				      unsigned long addr);
struct page *ksmmod_get_mergeable_page(struct ksmmod_rmap_item *item);

/* merge.c */
/**
 * enum ksmmod_refusal - why a merge was refused, for the counters
 * @KSMMOD_REFUSED_NONE: not refused, or for a reason not counted
 * @KSMMOD_REFUSED_PINNED: the page is pinned (GUP)
 * @KSMMOD_REFUSED_THP: its transparent huge page could not be split
 */
enum ksmmod_refusal {
	KSMMOD_REFUSED_NONE,
	KSMMOD_REFUSED_PINNED,
	KSMMOD_REFUSED_THP,
};

/* Pages of one page table merged in one visit at most (ksmmod_merge_ptes()). */
#define KSMMOD_MERGE_RUN	32

enum ksmmod_refusal ksmmod_merge_take_refusal(struct mm_struct **mm);
bool ksmmod_folio_refs_mapped_only(struct folio *folio);
int ksmmod_merge_ptes(struct vm_area_struct *vma, pmd_t *pmd, struct page **pages,
		      const unsigned long *addrs, unsigned int nr, struct page *kpage, int *errp);
int ksmmod_try_to_merge_one_page(struct vm_area_struct *vma, struct page *page, unsigned long addr,
				 struct page *kpage);

/* unmerge.c */
int ksmmod_break_ksm(struct vm_area_struct *vma, unsigned long addr, atomic_long_t *zero_pages);
int ksmmod_unmerge_range(struct vm_area_struct *vma, unsigned long start, unsigned long end,
			 atomic_long_t *zero_pages);
int ksmmod_unmerge_nodes_in(struct mm_struct *mm, struct xarray *nodes);
int ksmmod_unmerge_slot(struct ksmmod_mm_slot *slot, unsigned long start, unsigned long end);

#endif /* _KSMMOD_CORE_H */
