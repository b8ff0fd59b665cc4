/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksmmod internal interfaces shared between the module's source files.
 */
#ifndef _KSMMOD_KSMMOD_H
#define _KSMMOD_KSMMOD_H

#include <linux/atomic.h>
#include <linux/mutex.h>
#include <linux/types.h>
#include <uapi/linux/ksmmod.h>

struct mm_struct;
struct mmu_notifier;

/* Defaults and limits of the tunables: those of /sys/kernel/mm/ksm. */
#define KSMMOD_DEFAULT_PAGES_TO_SCAN		100
#define KSMMOD_DEFAULT_SLEEP_MILLISECS		20
#define KSMMOD_DEFAULT_MAX_PAGE_SHARING		256
#define KSMMOD_MIN_MAX_PAGE_SHARING		2
#define KSMMOD_DEFAULT_CHAINS_PRUNE_MILLISECS	2000
#define KSMMOD_DEFAULT_ADVISOR_MAX_CPU		70
#define KSMMOD_DEFAULT_ADVISOR_TARGET_SCAN_TIME	200
#define KSMMOD_DEFAULT_ADVISOR_MIN_PAGES	500
#define KSMMOD_DEFAULT_ADVISOR_MAX_PAGES	30000

/* Bytes of metadata per tracked page counted against the profit figures. */
#define KSMMOD_RMAP_ITEM_BYTES			64

/**
 * struct ksmmod_tunables - the current values of the tunables
 * @run: KSMMOD_RUN_*
 * @pages_to_scan: pages per scan batch
 * @sleep_millisecs: sleep between batches
 * @max_page_sharing: maximum mappings of one merged page
 * @stable_node_chains_prune_millisecs: stale dup pruning interval
 * @merge_across_nodes: merge pages of different NUMA nodes
 * @use_zero_pages: map empty pages to the zero page
 * @densify_chains: move mappings from sparse dups of a chain to dense ones
 * @smart_scan: skip pages that keep failing to merge for a growing number of scans
 * @advisor_mode: KSMMOD_ADVISOR_*: who sets @pages_to_scan
 * @advisor_max_cpu: the scan-time advisor's CPU ceiling, percent
 * @advisor_target_scan_time: seconds a full scan should take (advisor)
 * @advisor_min_pages_to_scan: @pages_to_scan when the advisor starts
 * @advisor_max_pages_to_scan: the advisor's ceiling on @pages_to_scan
 *
 * Readers that need a consistent set take ksmmod_params_lock; a single field
 * may be read with READ_ONCE().
 */
struct ksmmod_tunables {
	u32 run;
	u32 pages_to_scan;
	u32 sleep_millisecs;
	u32 max_page_sharing;
	u32 stable_node_chains_prune_millisecs;
	u32 merge_across_nodes;
	u32 use_zero_pages;
	u32 densify_chains;
	u32 smart_scan;
	u32 advisor_mode;
	u32 advisor_max_cpu;
	u32 advisor_target_scan_time;
	u32 advisor_min_pages_to_scan;
	u32 advisor_max_pages_to_scan;
};

extern struct ksmmod_tunables ksmmod_tunables;
extern struct mutex ksmmod_params_lock;

/* params.c */
void ksmmod_params_get(struct ksmmod_params *p);
int ksmmod_params_set(const struct ksmmod_params *p);

/* stats.c */

/**
 * struct ksmmod_counters - live counters (see struct ksmmod_stats)
 * @pages_shared: merged pages in the stable tree
 * @pages_sharing: extra mappings of merged pages
 * @pages_unshared: pages in the unstable tree
 * @pages_scanned: pages looked at, all scans
 * @pages_skipped: pages skipped by smart scanning
 * @full_scans: completed full scans
 * @stable_node_chains: chains in the stable tree
 * @stable_node_dups: dups in chains
 * @stable_node_dup_mappings: mappings of the pages of all dups
 * @densify_moves: mappings moved to a denser dup, all time
 * @ineligible_pages: pages of ineligible mappings in registered memory, last full scan
 * @merge_pinned: merges refused because the page was pinned (GUP), all time
 * @thp_unsplittable: merges given up on an unsplittable huge page, all time
 * @rmap_items: tracked pages
 * @scan_batches: scanner batches (one per wakeup of pages_to_scan pages),
 *	all time; debugfs only (tests prove a full scan's batches are bounded)
 * @merge_runs: merges of several pages of one page table in one visit
 *	(ksmmod_merge_run()), all time; debugfs only
 * @merge_run_pages: pages merged by those, all time; debugfs only
 */
struct ksmmod_counters {
	atomic64_t pages_shared;
	atomic64_t pages_sharing;
	atomic64_t pages_unshared;
	atomic64_t pages_scanned;
	atomic64_t pages_skipped;
	atomic64_t full_scans;
	atomic64_t stable_node_chains;
	atomic64_t stable_node_dups;
	atomic64_t stable_node_dup_mappings;
	atomic64_t densify_moves;
	atomic64_t ineligible_pages;
	atomic64_t merge_pinned;
	atomic64_t thp_unsplittable;
	atomic64_t rmap_items;
	atomic64_t scan_batches;
	atomic64_t merge_runs;
	atomic64_t merge_run_pages;
};

extern struct ksmmod_counters ksmmod_counters;

#define ksmmod_count_inc(name)	atomic64_inc(&ksmmod_counters.name)
#define ksmmod_count_dec(name)	atomic64_dec(&ksmmod_counters.name)

void ksmmod_stats_get(struct ksmmod_stats *s);
bool ksmmod_pages_merged(void);
int ksmmod_domain_stats(struct ksmmod_domain_entry *out, u32 max, u32 *total);

/* advisor.c */
void ksmmod_advisor_set_mode(u32 mode);
void ksmmod_advisor_start_scan(void);
void ksmmod_advisor_stop_scan(void);

/* ksmmodd.c */
int ksmmod_daemon_init(void);
void ksmmod_daemon_exit(void);

/* scan.c */
struct ksmmod_mm_slot;
extern struct mutex ksmmod_thread_mutex;
extern struct wait_queue_head ksmmod_thread_wait;
void ksmmod_thread_lock(void);
void ksmmod_thread_offlining(bool begin);
void ksmmod_scan_init(void);
void ksmmod_scan_wake(void);
void ksmmod_scan_batch(unsigned int pages);
void ksmmod_scan_forget_slot(struct ksmmod_mm_slot *slot, bool freeing);
long ksmmod_unmerge_all(void);

/* notifier.c */
/**
 * struct ksmmod_mn_range - an unmapped range waiting for ksmmodd
 * @link: in the notifier's pending list, then in &ksmmod_mn_event.ranges
 * @start: first address
 * @end: end address
 */
struct ksmmod_mn_range {
	struct list_head link;
	unsigned long start;
	unsigned long end;
};

/**
 * struct ksmmod_mn_event - what one mmu_notifier recorded (ksmmod_notifier_next_event())
 * @mm: its mm
 * @mn: the notifier
 * @released: the address space went away: forget the whole process
 * @ranges: struct ksmmod_mn_range entries: unmapped ranges
 */
struct ksmmod_mn_event {
	struct mm_struct *mm;
	struct mmu_notifier *mn;
	bool released;
	struct list_head ranges;
};

struct mmu_notifier *ksmmod_notifier_get(struct mm_struct *mm);
void ksmmod_notifier_put(struct mmu_notifier *mn);
bool ksmmod_notifier_pending(void);
bool ksmmod_notifier_next_event(struct ksmmod_mn_event *ev);
void ksmmod_notifier_event_done(struct ksmmod_mn_event *ev);
void ksmmod_notifier_exit(void);

/* hooks.c */
int ksmmod_hooks_init(void);
void ksmmod_hooks_exit(void);

/* sysfs.c */
int ksmmod_sysfs_init(void);
void ksmmod_sysfs_exit(void);

/* memory.c */
int ksmmod_memory_init(void);
void ksmmod_memory_exit(void);

/* dev.c */
int ksmmod_dev_init(void);
void ksmmod_dev_exit(void);

/* layout.c */
int ksmmod_layout_check(void);

/* debugfs.c */
void ksmmod_debugfs_init(void);
void ksmmod_debugfs_exit(void);

#endif /* _KSMMOD_KSMMOD_H */
