// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod counters, with the meaning of the files of the same names in
 * /sys/kernel/mm/ksm. The scanner and the merge code update them; the ioctl
 * and sysfs interfaces read a snapshot.
 */
#include <linux/atomic.h>
#include <linux/mm.h>
#include <linux/slab.h>
#include <linux/xarray.h>

#include "ksmmod/core.h"
#include "ksmmod/domain.h"
#include "ksmmod/ksmmod.h"
#include "ksmmod/registry.h"

struct ksmmod_counters ksmmod_counters;

/**
 * ksmmod_stats_get() - snapshot of all counters
 * @s: filled in; @s->size and @s->flags are left to the caller
 */
void ksmmod_stats_get(struct ksmmod_stats *s)
{
	struct ksmmod_counters *c = &ksmmod_counters;
	s64 saved;

	s->pages_shared = atomic64_read(&c->pages_shared);
	s->pages_sharing = atomic64_read(&c->pages_sharing);
	s->pages_unshared = atomic64_read(&c->pages_unshared);
	s->pages_scanned = atomic64_read(&c->pages_scanned);
	s->pages_skipped = atomic64_read(&c->pages_skipped);
	s->full_scans = atomic64_read(&c->full_scans);
	s->stable_node_chains = atomic64_read(&c->stable_node_chains);
	s->stable_node_dups = atomic64_read(&c->stable_node_dups);
	s->ksm_zero_pages = ksmmod_registry_zero_pages();
	s->rmap_items = atomic64_read(&c->rmap_items);
	/* As KSM: tracked pages that are in no tree changed since the last scan. */
	s->pages_volatile = s->rmap_items - s->pages_shared - s->pages_sharing - s->pages_unshared;
	if ((s64)s->pages_volatile < 0)
		s->pages_volatile = 0;
	s->mm_slots = ksmmod_registry_nr_slots();
	s->stable_node_dup_mappings = atomic64_read(&c->stable_node_dup_mappings);
	s->densify_moves = atomic64_read(&c->densify_moves);
	s->ineligible_pages = atomic64_read(&c->ineligible_pages);
	s->merge_pinned = atomic64_read(&c->merge_pinned);
	s->thp_unsplittable = atomic64_read(&c->thp_unsplittable);
	/* As KSM: (sharing + zero pages) x PAGE_SIZE - rmap items x item size. */
	saved = (s64)(s->pages_sharing + s->ksm_zero_pages) * PAGE_SIZE;
	s->general_profit = saved - (s64)s->rmap_items * KSMMOD_RMAP_ITEM_BYTES;
}

/**
 * ksmmod_pages_merged() - whether any page is currently merged
 *
 * Return: true while the stable tree holds pages (tunables that shape it
 * cannot change then).
 */
bool ksmmod_pages_merged(void)
{
	return atomic64_read(&ksmmod_counters.pages_shared) ||
	       atomic64_read(&ksmmod_counters.stable_node_chains);
}

/**
 * ksmmod_domain_stats() - counters per merge domain (KSMMOD_IOC_DOMAIN_STATS)
 * @out: room for @max entries
 * @max: how many fit
 * @total: set to the number of domains with registered processes
 *
 * A snapshot taken with the scanner between batches: the stable tree's
 * nodes give each domain's pages_shared and pages_sharing exactly, its
 * processes the rest. Entries beyond @max are counted, not written.
 *
 * Return: 0 or -ENOMEM.
 */
int ksmmod_domain_stats(struct ksmmod_domain_entry *out, u32 max, u32 *total)
{
	struct ksmmod_domain_entry *e;
	unsigned long idx;
	struct xarray sums;
	u32 n = 0;
	int err;

	xa_init(&sums);
	ksmmod_thread_lock();
	err = ksmmod_registry_domain_sums(&sums);
	xa_for_each(&sums, idx, e) {
		if (err)
			break;
		if (!ksmmod_domain_describe(idx, &e->kind, &e->id))
			continue;
		ksmmod_stable_domain_pages(idx, &e->pages_shared, &e->pages_sharing);
		if ((s64)e->ksm_zero_pages < 0)
			e->ksm_zero_pages = 0;
		/* As general_profit. */
		e->profit = (s64)(e->pages_sharing + e->ksm_zero_pages) * PAGE_SIZE -
			    (s64)e->rmap_items * KSMMOD_RMAP_ITEM_BYTES;
		if (n < max)
			out[n] = *e;
		n++;
	}
	mutex_unlock(&ksmmod_thread_mutex);
	xa_for_each(&sums, idx, e)
		kfree(e);
	xa_destroy(&sums);
	*total = n;
	return err;
}
