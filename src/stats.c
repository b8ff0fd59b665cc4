// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod counters, with the meaning of the files of the same names in
 * /sys/kernel/mm/ksm. The scanner and the merge code update them; the ioctl
 * and sysfs interfaces read a snapshot.
 */
#include <linux/atomic.h>
#include <linux/mm.h>

#include "ksmmod/ksmmod.h"

/**
 * struct ksmmod_counters - live counters
 * @pages_shared: merged pages in the stable tree
 * @pages_sharing: extra mappings of merged pages
 * @pages_unshared: pages in the unstable tree
 * @pages_volatile: pages changing too fast to be put in a tree
 * @pages_scanned: pages looked at, all scans
 * @pages_skipped: pages skipped by smart scanning
 * @full_scans: completed full scans
 * @stable_node_chains: chains in the stable tree
 * @stable_node_dups: dups in chains
 * @ksm_zero_pages: pages mapped to the zero page
 * @rmap_items: tracked pages
 */
struct ksmmod_counters {
	atomic64_t pages_shared;
	atomic64_t pages_sharing;
	atomic64_t pages_unshared;
	atomic64_t pages_volatile;
	atomic64_t pages_scanned;
	atomic64_t pages_skipped;
	atomic64_t full_scans;
	atomic64_t stable_node_chains;
	atomic64_t stable_node_dups;
	atomic64_t ksm_zero_pages;
	atomic64_t rmap_items;
};

static struct ksmmod_counters ksmmod_counters;

/* Bytes of metadata per tracked page counted against general_profit. */
#define KSMMOD_RMAP_ITEM_BYTES	64

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
	s->pages_volatile = atomic64_read(&c->pages_volatile);
	s->pages_scanned = atomic64_read(&c->pages_scanned);
	s->pages_skipped = atomic64_read(&c->pages_skipped);
	s->full_scans = atomic64_read(&c->full_scans);
	s->stable_node_chains = atomic64_read(&c->stable_node_chains);
	s->stable_node_dups = atomic64_read(&c->stable_node_dups);
	s->ksm_zero_pages = atomic64_read(&c->ksm_zero_pages);
	s->rmap_items = atomic64_read(&c->rmap_items);
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
