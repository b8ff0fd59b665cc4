/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksmmod registry: processes and address ranges registered for merging
 * (src/registry.c).
 */
#ifndef _KSMMOD_REGISTRY_H
#define _KSMMOD_REGISTRY_H

#include <linux/list.h>
#include <linux/types.h>

#include "ksmmod/domain.h"

struct ksmmod_rmap_item;
struct mm_struct;
struct mmu_notifier;
struct vm_area_struct;
struct xarray;

/**
 * struct ksmmod_mm_slot - a process with registered memory
 * @hash: link in the registry's hash table, keyed by @mm
 * @explicit_link: with an explicit domain: link in the table the watch
 *	hooks read (see src/registry.c)
 * @link: link in the list of slots the scanner walks
 * @mm: the address space (mmgrab()ed)
 * @ranges: registered ranges, sorted, non-overlapping, page aligned
 * @rmap_list: rmap items of the process's tracked pages, in address order
 * @zero_pages: KSM zero pages ksmmod mapped here, on kernels that do not
 *	count them (see "KSM zero pages" in include/ksmmod/compat/zero.h)
 * @ineligible_pages: pages of address space in @ranges whose mappings
 *	cannot be merged, at the scanner's last pass over the process
 * @ineligible_acc: the same, counted by the scanner's current pass
 * @merge_pinned: merges of the process's pages refused: pinned (scanner)
 * @thp_unsplittable: merges given up on its unsplittable huge pages (scanner)
 * @owner: who the process was at registration (its uid and cgroup)
 * @domain: its merge domain (include/ksmmod/domain.h), a reference held
 * @domain_next: a policy change's new @domain, before it takes effect
 * @mn: ksmmod's mmu_notifier on @mm (src/notifier.c), or NULL
 * @mn_tried: ksmmodd tried to register @mn (do not retry every pass)
 * @entered: drop-in mode: ksmmod set MMF_VM_MERGEABLE on @mm (it entered
 *	through the kernel's KSM entry points, or ksmmod registered it), so
 *	fork and exit reach ksmmod through __ksm_enter()/__ksm_exit()
 * @whole: registered whole by ADD_PROCESS (or a fork of such a process):
 *	new mappings are mergeable, fork passes it on (include/ksmmod/process.h)
 * @keep_exec: with @whole: exec passes the registration on to the new mm
 *	(KSMMOD_PROCESS_KEEP_EXEC)
 * @gone: the scanner found the process exited, or handed to the kernel's
 *	own KSM: off the scan list, waiting for the lifecycle code to drop it
 */
struct ksmmod_mm_slot {
	struct hlist_node hash;
	struct hlist_node explicit_link;
	struct list_head link;
	struct mm_struct *mm;
	struct list_head ranges;
	struct ksmmod_rmap_item *rmap_list;
	atomic_long_t zero_pages;
	unsigned long ineligible_pages;
	unsigned long ineligible_acc;
	u64 merge_pinned;
	u64 thp_unsplittable;
	struct ksmmod_owner owner;
	u16 domain;
	u16 domain_next;
	struct mmu_notifier *mn;
	bool mn_tried;
	bool entered;
	bool whole;
	bool keep_exec;
	bool gone;
};

/**
 * struct ksmmod_reg_ctx - preallocated memory for one registry update
 * @slot: a new slot, used if the mm has none yet
 * @ranges: spare range nodes, enough for any split or insertion of the update
 */
struct ksmmod_reg_ctx {
	struct ksmmod_mm_slot *slot;
	struct list_head ranges;
};

struct ksmmod_process_stats;

int ksmmod_registry_init(void);
void ksmmod_registry_exit(void);
void ksmmod_registry_lock(void);
void ksmmod_registry_unlock(void);
struct ksmmod_mm_slot *ksmmod_registry_lookup(struct mm_struct *mm);
struct ksmmod_mm_slot *ksmmod_registry_find(struct mm_struct *mm);
int ksmmod_registry_ctx_alloc(struct ksmmod_reg_ctx *ctx, bool slot, unsigned int n);
void ksmmod_registry_ctx_free(struct ksmmod_reg_ctx *ctx);
struct ksmmod_mm_slot *ksmmod_registry_insert(struct ksmmod_reg_ctx *ctx, struct mm_struct *mm);
int ksmmod_registry_ctx_place(struct ksmmod_reg_ctx *ctx, const struct ksmmod_owner *owner,
			      const struct ksmmod_mm_slot *parent);
int ksmmod_registry_set_domain_policy(u32 policy);
int ksmmod_registry_set_explicit(struct ksmmod_mm_slot *slot, u64 explicit);
u64 ksmmod_registry_explicit_of(struct mm_struct *mm);
void ksmmod_registry_add_range(struct ksmmod_mm_slot *slot, struct ksmmod_reg_ctx *ctx,
			       unsigned long start, unsigned long end);
void ksmmod_registry_remove_range(struct ksmmod_mm_slot *slot, struct ksmmod_reg_ctx *ctx,
				  unsigned long start, unsigned long end);
void ksmmod_registry_remove(struct ksmmod_mm_slot *slot);
void ksmmod_registry_mark_gone(struct ksmmod_mm_slot *slot);
struct ksmmod_mm_slot *ksmmod_registry_next_gone(void);
struct ksmmod_mm_slot *ksmmod_registry_next_slot(struct ksmmod_mm_slot *slot);
struct ksmmod_mm_slot *ksmmod_registry_next_unattached(void);
bool ksmmod_registry_set_notifier(struct ksmmod_mm_slot *slot, struct mmu_notifier *mn);
bool ksmmod_registry_next_range(struct ksmmod_mm_slot *slot, unsigned long addr,
				unsigned long *start, unsigned long *end);
unsigned long ksmmod_registry_nr_slots(void);
bool ksmmod_registry_slot_stats(struct mm_struct *mm, struct ksmmod_process_stats *ps);
unsigned long ksmmod_registry_zero_pages(void);
int ksmmod_registry_domain_sums(struct xarray *sums);

#endif /* _KSMMOD_REGISTRY_H */
