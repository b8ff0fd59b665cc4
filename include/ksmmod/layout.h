/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksmmod's stable nodes and rmap items, binary-compatible with mm/ksm.c.
 *
 * DOC: Why the layout is fixed
 *
 * A page merged by ksmmod is a real kernel KSM page: folio->mapping holds
 * (stable node | PAGE_MAPPING_KSM; FOLIO_MAPPING_KSM on 7.x). The kernel
 * then reads our structures without calling us:
 *
 * - rmap_walk_ksm() (reclaim, migration, compaction) and, on 6.12 and
 *   later, collect_procs_ksm() (memory failure) walk stable_node->hlist and
 *   read each rmap item's anon_vma, mm and address; on 7.3 also its
 *   linear_page_index (see struct ksmmod_rmap_item);
 * - folio_migrate_ksm() (6.12) / ksm_migrate_page() (6.1) rewrite
 *   stable_node->kpfn when the page moves;
 * - ksm_might_need_to_copy() tests the node pointer for NULL.
 *
 * So those fields sit exactly where mm/ksm.c's struct ksm_stable_node and
 * struct ksm_rmap_item have them (identical in Debian's 6.1, 6.12, 7.2 and
 * 7.3, CONFIG_NUMA=y, but for 7.3's linear_page_index); the build asserts
 * it below, and the load-time guard (src/layout.c) and a guest test compare
 * the offsets with the running kernel's BTF. Everything else in the 64
 * bytes is ours to use.
 */
#ifndef _KSMMOD_LAYOUT_H
#define _KSMMOD_LAYOUT_H

#include <linux/build_bug.h>
#include <linux/list.h>
#include <linux/rbtree.h>
#include <linux/stddef.h>
#include <linux/types.h>

struct anon_vma;
struct mm_struct;

/**
 * struct ksmmod_stable_node - a merged page (or a chain of them) in the stable tree
 * @node: link in the stable tree (regular nodes and chains)
 * @hash: the stable tree key: content hash of the page (xxh64); dups keep
 *	their chain's
 * @chain: dups: the chain they are in
 * @next_chain: chains: the next chain on the list of all chains
 * @head: dups: KSMMOD_STABLE_NODE_DUP_HEAD; parked nodes: the migrated list
 * @hlist_dup: dups: link in the chain's @hlist
 * @list: parked nodes: link on the list of migrated nodes
 * @hlist: regular nodes and dups: the rmap items mapping this page;
 *	chains: their dups. Read by the kernel's rmap walkers.
 * @kpfn: regular nodes and dups: pfn of the KSM page; written by the
 *	kernel's migration code (hence the keyhole re-check on every lookup)
 * @chain_prune_time: chains: jiffies of the last pruning of stale dups
 * @rmap_hlist_len: number of rmap items on @hlist, or KSMMOD_STABLE_NODE_CHAIN
 * @nid: NUMA node of the tree this node is in
 */
struct ksmmod_stable_node {
	union {
		struct {
			struct rb_node node;
			u64 hash;
			union {
				struct ksmmod_stable_node *chain;
				struct ksmmod_stable_node *next_chain;
			};
		};
		struct {
			struct list_head *head;
			struct {
				struct hlist_node hlist_dup;
				struct list_head list;
			};
		};
	};
	struct hlist_head hlist;
	union {
		unsigned long kpfn;
		unsigned long chain_prune_time;
	};
	int rmap_hlist_len;
	int nid;
};

/* rmap_hlist_len of a chain, as mm/ksm.c's STABLE_NODE_CHAIN. */
#define KSMMOD_STABLE_NODE_CHAIN	-1024

/*
 * Bits of a page's content hash that ksmmod keeps: the rest of an rmap
 * item's hash word holds smart scan's age and skip count, as mm/ksm.c keeps
 * a 32-bit checksum, an age and a skip count in that word.
 */
#define KSMMOD_HASH_BITS	48

/*
 * The stable tree's key: a node's hash holds the merge domain (see
 * include/ksmmod/domain.h) above the content hash, so that the tree keeps
 * domains apart at no cost (one domain: the key is the hash).
 */
static inline u64 ksmmod_tree_key(u16 domain, u64 hash)
{
	return (u64)domain << KSMMOD_HASH_BITS | hash;
}

/* The content hash of a stable tree key. */
static inline u64 ksmmod_key_hash(u64 key)
{
	return key & ((1ULL << KSMMOD_HASH_BITS) - 1);
}

/**
 * struct ksmmod_rmap_item - one tracked page of one mm
 * @rmap_list: next item of the same mm, in address order
 * @anon_vma: when stable: the anon_vma of the mapping (referenced); read by
 *	the kernel's rmap walkers
 * @nid: when in the unstable tree: the NUMA node of that tree
 * @domain: when in the unstable tree: the merge domain of @mm (the rest of
 *	the word of @anon_vma; among equal @checksum the tree is ordered by it)
 * @mm: the mm (read by the rmap walkers)
 * @address: user address; the low bits hold flags (the rmap walkers mask
 *	them off with PAGE_MASK)
 * @checksum: while the item holds no anon_vma reference (in the unstable
 *	tree or in no tree): content hash (KSMMOD_HASH_BITS of xxh64) of the
 *	page at the last scan; also the unstable tree key. While it is
 *	stable, its node's hash stands for it (ksmmod_rmap_item_hash()).
 * @age: with @checksum: scans that looked at the page since the item was
 *	created or left the stable tree, up to 255 (smart scan, scan.c)
 * @remaining_skips: with @checksum: scans still to skip the page (smart scan)
 * @linear_page_index: while the item holds an anon_vma reference (from the
 *	merge until it leaves the stable tree): the page offset of @address
 *	in its mapping, linear_page_index(). 7.3's rmap walkers
 *	(rmap_walk_ksm(), collect_procs_ksm()) look up the mappings of a KSM
 *	page in the anon_vma's interval tree at this index only; earlier
 *	kernels search the whole tree and never read this word.
 * @node: link in the unstable tree
 * @head: when stable: the stable node this item is listed on
 * @hlist: when stable: link in @head->hlist (walked by the kernel)
 */
struct ksmmod_rmap_item {
	struct ksmmod_rmap_item *rmap_list;
	union {
		struct anon_vma *anon_vma;
		struct {
			int nid;
			u16 domain;
		};
	};
	struct mm_struct *mm;
	unsigned long address;
	union {
		struct {
			u64 checksum:KSMMOD_HASH_BITS;
			u64 age:8;
			u64 remaining_skips:8;
		};
		unsigned long linear_page_index;
	};
	union {
		struct rb_node node;
		struct {
			struct ksmmod_stable_node *head;
			struct hlist_node hlist;
		};
	};
};

/*
 * Offsets and sizes the kernel relies on (mm/ksm.c, Linux 6.1 to 7.3,
 * x86-64, CONFIG_NUMA=y), checked with pahole against Debian's 6.12, 7.2 and
 * 7.3 vmlinux.
 */
#define KSMMOD_LAYOUT_ASSERT(type, member, off)				\
	static_assert(offsetof(struct type, member) == (off),			\
		      #type "." #member " must be at " #off " as in mm/ksm.c")

KSMMOD_LAYOUT_ASSERT(ksmmod_stable_node, node, 0);
KSMMOD_LAYOUT_ASSERT(ksmmod_stable_node, hash, 24);
KSMMOD_LAYOUT_ASSERT(ksmmod_stable_node, chain, 32);
KSMMOD_LAYOUT_ASSERT(ksmmod_stable_node, head, 0);
KSMMOD_LAYOUT_ASSERT(ksmmod_stable_node, hlist_dup, 8);
KSMMOD_LAYOUT_ASSERT(ksmmod_stable_node, list, 24);
KSMMOD_LAYOUT_ASSERT(ksmmod_stable_node, hlist, 40);
KSMMOD_LAYOUT_ASSERT(ksmmod_stable_node, kpfn, 48);
KSMMOD_LAYOUT_ASSERT(ksmmod_stable_node, chain_prune_time, 48);
KSMMOD_LAYOUT_ASSERT(ksmmod_stable_node, rmap_hlist_len, 56);
KSMMOD_LAYOUT_ASSERT(ksmmod_stable_node, nid, 60);
static_assert(sizeof(struct ksmmod_stable_node) == 64);

KSMMOD_LAYOUT_ASSERT(ksmmod_rmap_item, rmap_list, 0);
KSMMOD_LAYOUT_ASSERT(ksmmod_rmap_item, anon_vma, 8);
KSMMOD_LAYOUT_ASSERT(ksmmod_rmap_item, nid, 8);
KSMMOD_LAYOUT_ASSERT(ksmmod_rmap_item, mm, 16);
KSMMOD_LAYOUT_ASSERT(ksmmod_rmap_item, address, 24);
KSMMOD_LAYOUT_ASSERT(ksmmod_rmap_item, linear_page_index, 32);
static_assert(sizeof_field(struct ksmmod_rmap_item, linear_page_index) == 8);
KSMMOD_LAYOUT_ASSERT(ksmmod_rmap_item, node, 40);
KSMMOD_LAYOUT_ASSERT(ksmmod_rmap_item, head, 40);
KSMMOD_LAYOUT_ASSERT(ksmmod_rmap_item, hlist, 48);
static_assert(sizeof(struct ksmmod_rmap_item) == 64);

/**
 * struct ksmmod_layout_field - one kernel-visible field, for the layout test
 * @kstruct: the mm/ksm.c struct name
 * @member: the member name in mm/ksm.c
 * @offset: its offset in ksmmod's struct
 * @size: its size in ksmmod's struct
 * @optional: only some kernels have the member; where one has it, it must be
 *	at @offset with @size
 */
struct ksmmod_layout_field {
	const char *kstruct;
	const char *member;
	unsigned int offset;
	unsigned int size;
	bool optional;
};

#define KSMMOD_LAYOUT_FIELD(kname, type, m)					\
	{ #kname, #m, offsetof(struct type, m), sizeof_field(struct type, m), false }

#define KSMMOD_LAYOUT_FIELD_OPTIONAL(kname, type, m)				\
	{ #kname, #m, offsetof(struct type, m), sizeof_field(struct type, m), true }

/*
 * The fields the kernel reads or writes from outside ksmmod. Optional ones
 * exist in some kernels only: ksm_rmap_item.linear_page_index from 7.3 on.
 */
#define KSMMOD_LAYOUT_FIELDS {							\
	KSMMOD_LAYOUT_FIELD(ksm_stable_node, ksmmod_stable_node, hlist),	\
	KSMMOD_LAYOUT_FIELD(ksm_stable_node, ksmmod_stable_node, kpfn),	\
	KSMMOD_LAYOUT_FIELD(ksm_stable_node, ksmmod_stable_node, rmap_hlist_len), \
	KSMMOD_LAYOUT_FIELD(ksm_stable_node, ksmmod_stable_node, nid),	\
	KSMMOD_LAYOUT_FIELD(ksm_rmap_item, ksmmod_rmap_item, rmap_list),	\
	KSMMOD_LAYOUT_FIELD(ksm_rmap_item, ksmmod_rmap_item, anon_vma),	\
	KSMMOD_LAYOUT_FIELD(ksm_rmap_item, ksmmod_rmap_item, mm),		\
	KSMMOD_LAYOUT_FIELD(ksm_rmap_item, ksmmod_rmap_item, address),	\
	KSMMOD_LAYOUT_FIELD_OPTIONAL(ksm_rmap_item, ksmmod_rmap_item, linear_page_index), \
	KSMMOD_LAYOUT_FIELD(ksm_rmap_item, ksmmod_rmap_item, head),		\
	KSMMOD_LAYOUT_FIELD(ksm_rmap_item, ksmmod_rmap_item, hlist),		\
}

/*
 * Every member of the kernel's two structs that ksmmod knows about, on any
 * kernel it supports (anonymous unions and structs are looked into). A
 * kernel whose struct has any other member has changed what it may read in
 * ksmmod's nodes and items: the layout guard (src/layout.c) refuses it.
 */
#define KSMMOD_LAYOUT_KNOWN_STABLE_NODE						\
	"node", "head", "hlist_dup", "list", "hlist", "kpfn", "chain_prune_time", \
	"rmap_hlist_len", "nid"
#define KSMMOD_LAYOUT_KNOWN_RMAP_ITEM						\
	"rmap_list", "anon_vma", "nid", "mm", "address", "oldchecksum", "age",	\
	"remaining_skips", "linear_page_index", "node", "head", "hlist"

#endif /* _KSMMOD_LAYOUT_H */
