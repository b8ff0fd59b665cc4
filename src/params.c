// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod tunables: defaults, ranges and atomic updates.
 *
 * Names, defaults and ranges follow /sys/kernel/mm/ksm (mm/ksm.c), so that an
 * administrator's knowledge carries over. An update names the fields it
 * changes in a mask; all of them are validated before any is applied, so a
 * rejected update changes nothing.
 */
#include <linux/limits.h>
#include <linux/mutex.h>

#include "ksmmod/core.h"
#include "ksmmod/ksmmod.h"
#include "ksmmod/registry.h"

DEFINE_MUTEX(ksmmod_params_lock);

struct ksmmod_tunables ksmmod_tunables = {
	.run = KSMMOD_RUN_STOP,
	.pages_to_scan = KSMMOD_DEFAULT_PAGES_TO_SCAN,
	.sleep_millisecs = KSMMOD_DEFAULT_SLEEP_MILLISECS,
	.max_page_sharing = KSMMOD_DEFAULT_MAX_PAGE_SHARING,
	.stable_node_chains_prune_millisecs = KSMMOD_DEFAULT_CHAINS_PRUNE_MILLISECS,
	.merge_across_nodes = 1,
	.use_zero_pages = 0,
	.densify_chains = 1,
	.smart_scan = 1,
	.advisor_mode = KSMMOD_ADVISOR_NONE,
	.advisor_max_cpu = KSMMOD_DEFAULT_ADVISOR_MAX_CPU,
	.advisor_target_scan_time = KSMMOD_DEFAULT_ADVISOR_TARGET_SCAN_TIME,
	.advisor_min_pages_to_scan = KSMMOD_DEFAULT_ADVISOR_MIN_PAGES,
	.advisor_max_pages_to_scan = KSMMOD_DEFAULT_ADVISOR_MAX_PAGES,
};

/**
 * ksmmod_params_get() - read all tunables
 * @p: filled with the current values and the mask of known fields; @p->size
 *     and @p->flags are left to the caller
 */
void ksmmod_params_get(struct ksmmod_params *p)
{
	mutex_lock(&ksmmod_params_lock);
	p->mask = KSMMOD_PARAM_ALL;
	p->run = ksmmod_tunables.run;
	p->pages_to_scan = ksmmod_tunables.pages_to_scan;
	p->sleep_millisecs = ksmmod_tunables.sleep_millisecs;
	p->max_page_sharing = ksmmod_tunables.max_page_sharing;
	p->stable_node_chains_prune_millisecs =
		ksmmod_tunables.stable_node_chains_prune_millisecs;
	p->merge_across_nodes = ksmmod_tunables.merge_across_nodes;
	p->use_zero_pages = ksmmod_tunables.use_zero_pages;
	p->densify_chains = ksmmod_tunables.densify_chains;
	p->smart_scan = ksmmod_tunables.smart_scan;
	p->advisor_mode = ksmmod_tunables.advisor_mode;
	p->advisor_max_cpu = ksmmod_tunables.advisor_max_cpu;
	p->advisor_target_scan_time = ksmmod_tunables.advisor_target_scan_time;
	p->advisor_min_pages_to_scan = ksmmod_tunables.advisor_min_pages_to_scan;
	p->advisor_max_pages_to_scan = ksmmod_tunables.advisor_max_pages_to_scan;
	p->merge_domains = ksmmod_domain_policy();
	mutex_unlock(&ksmmod_params_lock);
}

/**
 * ksmmod_params_validate() - check the fields named in @p->mask
 * @p: requested update
 *
 * Return: 0, -EINVAL for a value out of range or an empty/unknown mask.
 */
static int ksmmod_params_validate(const struct ksmmod_params *p)
{
	u64 m = p->mask;

	if (!m || (m & ~KSMMOD_PARAM_ALL))
		return -EINVAL;
	if ((m & KSMMOD_PARAM_RUN) && p->run > KSMMOD_RUN_UNMERGE)
		return -EINVAL;
	if ((m & KSMMOD_PARAM_MAX_PAGE_SHARING) &&
	    (p->max_page_sharing < KSMMOD_MIN_MAX_PAGE_SHARING ||
	     p->max_page_sharing > INT_MAX))
		return -EINVAL;
	if ((m & KSMMOD_PARAM_MERGE_ACROSS_NODES) && p->merge_across_nodes > 1)
		return -EINVAL;
	if ((m & KSMMOD_PARAM_USE_ZERO_PAGES) && p->use_zero_pages > 1)
		return -EINVAL;
	if ((m & KSMMOD_PARAM_DENSIFY_CHAINS) && p->densify_chains > 1)
		return -EINVAL;
	if ((m & KSMMOD_PARAM_SMART_SCAN) && p->smart_scan > 1)
		return -EINVAL;
	if ((m & KSMMOD_PARAM_ADVISOR_MODE) && p->advisor_mode > KSMMOD_ADVISOR_SCAN_TIME)
		return -EINVAL;
	if ((m & KSMMOD_PARAM_ADVISOR_TARGET_SCAN_TIME) && !p->advisor_target_scan_time)
		return -EINVAL;
	if ((m & KSMMOD_PARAM_MERGE_DOMAINS) && p->merge_domains > KSMMOD_DOMAINS_CGROUP)
		return -EINVAL;
	/* pages_to_scan, sleep_millisecs, chains_prune: any u32, as in KSM. */
	return 0;
}

/**
 * ksmmod_params_set() - change the tunables named in @p->mask
 * @p: requested update (already checked for reserved fields by the caller)
 *
 * max_page_sharing, merge_across_nodes and merge_domains shape the stable
 * tree: like KSM, they can only change while no page is merged (-EBUSY).
 * Setting a field to its current value always succeeds.
 *
 * Setting run to 2 unmerges every merged page before returning (the
 * registrations stay), like writing 2 to /sys/kernel/mm/ksm/run. Setting it
 * to 0 returns once the scanner's current batch is done (mm/ksm.c's
 * run_store() holds ksm_thread_mutex): afterwards it looks at no page and
 * holds no page reference until run is set to 1 again.
 *
 * Return: 0 or a negative errno; on error nothing changed.
 */
int ksmmod_params_set(const struct ksmmod_params *p)
{
	struct ksmmod_tunables *t = &ksmmod_tunables;
	bool shape, domains;
	u32 advisor;
	int err;

	err = ksmmod_params_validate(p);
	if (err)
		return err;

	mutex_lock(&ksmmod_params_lock);
	domains = (p->mask & KSMMOD_PARAM_MERGE_DOMAINS) &&
		  p->merge_domains != ksmmod_domain_policy();
	shape = domains || ((p->mask & KSMMOD_PARAM_MAX_PAGE_SHARING) &&
		 p->max_page_sharing != t->max_page_sharing) ||
		((p->mask & KSMMOD_PARAM_MERGE_ACROSS_NODES) &&
		 p->merge_across_nodes != t->merge_across_nodes);
	/*
	 * "Nothing merged" must still hold when the new value takes effect:
	 * keep the scanner between batches (as mm/ksm.c holds
	 * ksm_thread_mutex) from the check to the change.
	 */
	if (shape)
		ksmmod_thread_lock();
	if (shape && ksmmod_pages_merged()) {
		err = -EBUSY;
		goto out;
	}

	/* The advisor sets pages_to_scan; as mm/ksm.c, writing it is refused meanwhile. */
	advisor = p->mask & KSMMOD_PARAM_ADVISOR_MODE ? p->advisor_mode : t->advisor_mode;
	if ((p->mask & KSMMOD_PARAM_PAGES_TO_SCAN) && advisor != KSMMOD_ADVISOR_NONE) {
		err = -EINVAL;
		goto out;
	}
	/* The one change that can fail (memory for the domains): first. */
	if (domains) {
		err = ksmmod_registry_set_domain_policy(p->merge_domains);
		if (err)
			goto out;
		/*
		 * Items in the unstable tree still carry their old domains, and
		 * nodes without items (pages only unregistered processes map)
		 * the old indexes, which new domains may take next.
		 */
		ksmmod_unstable_tree_clear();
		ksmmod_stable_reap_domains();
	}
	if (p->mask & KSMMOD_PARAM_ADVISOR_MAX_CPU)
		WRITE_ONCE(t->advisor_max_cpu, p->advisor_max_cpu);
	if (p->mask & KSMMOD_PARAM_ADVISOR_TARGET_SCAN_TIME)
		WRITE_ONCE(t->advisor_target_scan_time, p->advisor_target_scan_time);
	if (p->mask & KSMMOD_PARAM_ADVISOR_MIN_PAGES_TO_SCAN)
		WRITE_ONCE(t->advisor_min_pages_to_scan, p->advisor_min_pages_to_scan);
	if (p->mask & KSMMOD_PARAM_ADVISOR_MAX_PAGES_TO_SCAN)
		WRITE_ONCE(t->advisor_max_pages_to_scan, p->advisor_max_pages_to_scan);
	if (advisor != t->advisor_mode)
		ksmmod_advisor_set_mode(advisor);
	if (p->mask & KSMMOD_PARAM_PAGES_TO_SCAN)
		WRITE_ONCE(t->pages_to_scan, p->pages_to_scan);
	if (p->mask & KSMMOD_PARAM_SLEEP_MILLISECS)
		WRITE_ONCE(t->sleep_millisecs, p->sleep_millisecs);
	if (p->mask & KSMMOD_PARAM_MAX_PAGE_SHARING)
		WRITE_ONCE(t->max_page_sharing, p->max_page_sharing);
	if (p->mask & KSMMOD_PARAM_STABLE_NODE_CHAINS_PRUNE_MILLISECS)
		WRITE_ONCE(t->stable_node_chains_prune_millisecs,
			   p->stable_node_chains_prune_millisecs);
	if (p->mask & KSMMOD_PARAM_MERGE_ACROSS_NODES)
		WRITE_ONCE(t->merge_across_nodes, p->merge_across_nodes);
	if (p->mask & KSMMOD_PARAM_USE_ZERO_PAGES)
		WRITE_ONCE(t->use_zero_pages, p->use_zero_pages);
	if (p->mask & KSMMOD_PARAM_DENSIFY_CHAINS)
		WRITE_ONCE(t->densify_chains, p->densify_chains);
	if (p->mask & KSMMOD_PARAM_SMART_SCAN)
		WRITE_ONCE(t->smart_scan, p->smart_scan);
	/* Last, so a scanner woken by it sees the other new values. */
	if (p->mask & KSMMOD_PARAM_RUN)
		WRITE_ONCE(t->run, p->run);
out:
	if (shape)
		mutex_unlock(&ksmmod_thread_mutex);
	mutex_unlock(&ksmmod_params_lock);
	if (err)
		return err;
	/* run=2 unmerges everything before returning, as /sys/kernel/mm/ksm/run does. */
	if ((p->mask & KSMMOD_PARAM_RUN) && p->run == KSMMOD_RUN_UNMERGE) {
		long left = ksmmod_unmerge_all();

		if (left < 0) {
			/* As KSM: an interrupted unmerge leaves run stopped. */
			WRITE_ONCE(t->run, KSMMOD_RUN_STOP);
			return left;
		}
		if (left)
			pr_warn("run=2: %ld merged pages were mapped again by a fork meanwhile; write 2 again\n",
				left);
	}
	if ((p->mask & KSMMOD_PARAM_RUN) && p->run == KSMMOD_RUN_STOP) {
		/* The batch checks run per page: it ends soon. */
		ksmmod_thread_lock();
		mutex_unlock(&ksmmod_thread_mutex);
	}
	ksmmod_scan_wake();
	return 0;
}
