/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksmmod registry: processes and address ranges registered for merging
 * (src/registry.c).
 */
#ifndef _KSMMOD_REGISTRY_H
#define _KSMMOD_REGISTRY_H

#include <linux/list.h>
#include <linux/types.h>

struct ksmmod_rmap_item;
struct mm_struct;
struct mmu_notifier;
struct vm_area_struct;

/**
 * struct ksmmod_mm_slot - a process with registered memory
 * @hash: link in the registry's hash table, keyed by @mm
 * @link: link in the list of slots the scanner walks
 * @mm: the address space (mmgrab()ed)
 * @ranges: registered ranges, sorted, non-overlapping, page aligned
 * @rmap_list: rmap items of the process's tracked pages, in address order
 * @zero_pages: KSM zero pages ksmmod mapped here, on kernels that do not
 *	count them (see "KSM zero pages" in include/ksmmod/compat.h)
 * @mn: ksmmod's mmu_notifier on @mm (src/notifier.c), or NULL
 * @mn_tried: ksmmodd tried to register @mn (do not retry every pass)
 * @entered: drop-in mode: ksmmod set MMF_VM_MERGEABLE on @mm (it entered
 *	through the kernel's KSM entry points, or ksmmod registered it), so
 *	fork and exit reach ksmmod through __ksm_enter()/__ksm_exit()
 * @whole: registered whole by ADD_PROCESS (or a fork of such a process):
 *	new mappings are mergeable, fork passes it on (include/ksmmod/compat.h)
 * @keep_exec: with @whole: exec passes the registration on to the new mm
 *	(KSMMOD_PROCESS_KEEP_EXEC)
 */
struct ksmmod_mm_slot {
	struct hlist_node hash;
	struct list_head link;
	struct mm_struct *mm;
	struct list_head ranges;
	struct ksmmod_rmap_item *rmap_list;
	atomic_long_t zero_pages;
	struct mmu_notifier *mn;
	bool mn_tried;
	bool entered;
	bool whole;
	bool keep_exec;
};

/* How ksmmod_register() registers: MERGE_RANGE is 0. */
#define KSMMOD_REG_WHOLE	BIT(0)	/* ADD_PROCESS */
#define KSMMOD_REG_KEEP_EXEC	BIT(1)	/* ... with KSMMOD_PROCESS_KEEP_EXEC */
#define KSMMOD_REG_FOLLOW	BIT(2)	/* the caller follows a fork or exec: no permission check */

int ksmmod_registry_init(void);
void ksmmod_registry_exit(void);
int ksmmod_register(u32 pidfd, unsigned long start, unsigned long end, unsigned int how);
int ksmmod_unregister(u32 pidfd, unsigned long start, unsigned long end, bool whole);
bool ksmmod_vma_eligible(struct vm_area_struct *vma);
unsigned long ksmmod_registry_nr_slots(void);
struct ksmmod_mm_slot *ksmmod_registry_next_slot(struct ksmmod_mm_slot *slot);
bool ksmmod_registry_next_range(struct ksmmod_mm_slot *slot, unsigned long addr,
				unsigned long *start, unsigned long *end);
int ksmmod_registry_unmerge_slot(struct ksmmod_mm_slot *slot, unsigned long start,
				 unsigned long end);
void ksmmod_registry_free_slot(struct ksmmod_mm_slot *slot);
unsigned long ksmmod_registry_zero_pages(void);
int ksmmod_registry_enter(struct mm_struct *mm);
bool ksmmod_registry_own_madvise(void);
void ksmmod_registry_attach_notifier(struct ksmmod_mm_slot *slot);
void ksmmod_registry_drop_notifiers(void);
void ksmmod_registry_leave_all(void);
void ksmmod_registry_forget_mm(struct mm_struct *mm, struct mmu_notifier *mn);
void ksmmod_registry_forget_unmapped(struct mm_struct *mm, struct mmu_notifier *mn,
				     unsigned long start, unsigned long end);
bool ksmmod_registry_exit_mm(struct mm_struct *mm);
struct ksmmod_process_stats;
int ksmmod_registry_process_stats(u32 pidfd, struct ksmmod_process_stats *ps);

/* scan.c */
void ksmmod_scan_forget_slot(struct ksmmod_mm_slot *slot, bool freeing);

#endif /* _KSMMOD_REGISTRY_H */
