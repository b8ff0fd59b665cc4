// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod: Kernel Samepage Merging as a loadable module.
 *
 * DOC: Overview
 *
 * ksmmod brings memory deduplication to stock distribution kernels without a
 * kernel patch. Its pieces, one file each, from the top down (a file calls
 * only files below it; the tree core, stable/chain/rmap/unstable, excepted):
 *
 * - dev.c, sysfs.c, debugfs.c: /dev/ksmmod and its ioctls (the control API),
 *   /sys/kernel/mm/ksmmod, developer views;
 * - hooks.c: drop-in mode (the kernel's KSM entry points lead to ksmmod);
 *   memory.c: memory hot-remove;
 * - ksmmodd.c: the kernel thread;
 * - lifecycle.c: how processes come and go (registration, drop-in entry and
 *   exit, notifier events, exited processes, unload);
 * - notifier.c: mmu notifiers recording unmaps and exits;
 * - params.c, stats.c: the tunables (/sys/kernel/mm/ksm names and ranges)
 *   and the counters;
 * - scan.c: walking registered memory a batch at a time, deciding (smart
 *   scan); advisor.c: pages_to_scan from how long full scans take;
 * - stable.c, chain.c, unstable.c, rmap.c: the tree core: the two
 *   content-keyed trees, chains of dups (max_page_sharing), rmap items and
 *   stable nodes (layout.h: their kernel-compatible layout), merging the
 *   page of an rmap item;
 * - merge.c, unmerge.c: write-protecting and replacing PTEs; breaking merges;
 * - lookup.c, content.c: finding pages; hashing and comparing them;
 * - registry.c: the processes and address ranges registered;
 * - domain.c: merge domains (merge_domains: whose pages may merge together);
 * - layout.c: the load-time check of that layout against the kernel's BTF;
 * - trace.c: the trace events (events/ksmmod/, as upstream's events/ksm/);
 * - symbols.c: the symbol layer, the only way ksmmod reaches non-exported
 *   kernel functions (resolved at load, called through IBT-safe thunks).
 *
 * Initialisation runs in dependency order and unwinds completely on failure:
 * a module that cannot run on this kernel refuses to load and leaves nothing
 * behind.
 */
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/kthread.h>
#include <linux/module.h>
#include <linux/utsname.h>

#include "ksmmod/core.h"
#include "ksmmod/ksmmod.h"
#include "ksmmod/lifecycle.h"
#include "ksmmod/registry.h"
#include "ksmmod/symbols.h"

static int __init ksmmod_init(void)
{
	int err;

	/* Nothing may be merged into a kernel whose KSM structs differ from ours. */
	err = ksmmod_layout_check();
	if (err)
		goto fail;
	err = ksmmod_symbols_init();
	if (err)
		goto fail;

	err = ksmmod_rmap_init();
	if (err)
		goto fail;
	err = ksmmod_registry_init();
	if (err)
		goto fail_rmap;
	err = ksmmod_daemon_init();
	if (err)
		goto fail_registry;
	err = ksmmod_memory_init();
	if (err)
		goto fail_scan;
	err = ksmmod_hooks_init();
	if (err)
		goto fail_memory;

	ksmmod_debugfs_init();

	err = ksmmod_sysfs_init();
	if (err) {
		pr_err("cannot create /sys/kernel/mm/ksmmod: %d\n", err);
		goto fail_debugfs;
	}
	err = ksmmod_dev_init();
	if (err) {
		pr_err("cannot register /dev/%s: %d\n", KSMMOD_DEVICE_NAME, err);
		goto fail_sysfs;
	}

	pr_info("version %s loaded on %s\n", KSMMOD_VERSION, init_utsname()->release);
	return 0;

fail_sysfs:
	ksmmod_sysfs_exit();
fail_debugfs:
	ksmmod_debugfs_exit();
	ksmmod_hooks_exit();
fail_memory:
	ksmmod_memory_exit();
fail_scan:
	ksmmod_daemon_exit();
fail_registry:
	ksmmod_lifecycle_exit();
	ksmmod_registry_exit();
	ksmmod_notifier_exit();
fail_rmap:
	ksmmod_rmap_exit();
fail:
	pr_err("not loaded on kernel %s (error %d)\n", init_utsname()->release, err);
	return err;
}

/*
 * DOC: Unload
 *
 * No folio may point into freed module memory after rmmod, and no node of
 * ksmmod's may be left for the kernel's own KSM to meet. So unload first
 * stops ksmmodd, then unmerges every registered range, breaks the mappings
 * of processes ksmmod does not know (a child forked after the merge maps
 * its parent's KSM pages), and detaches every stable node from its page (a
 * page still in the swap cache is then copied on swap-in, like any page
 * whose KSM node is gone). Nothing is leaked: until every node is gone,
 * unload retries (an allocation failure, a fork mapping a page again) and
 * says so every ten seconds. The unmerge runs in a kernel thread of its own,
 * so that a signal to rmmod cannot cut it short.
 *
 * The drop-in hooks (src/hooks.c) stay until every process has left KSM
 * (MMF_VM_MERGEABLE cleared, wholly registered mappings no longer
 * VM_MERGEABLE), so that no fork of a ksmmod process reaches the kernel's
 * own __ksm_enter() meanwhile; then madvise() and prctl() reach the
 * kernel's KSM again.
 */

/* Unmerge everything, retrying until it is done, saying so every 10 s. */
static void ksmmod_unmerge_until_done(void)
{
	unsigned long warned = jiffies;
	long left;

	while ((left = ksmmod_unmerge_all()) != 0) {
		if (time_after(jiffies, warned + 10 * HZ)) {
			if (left < 0)
				pr_warn("unload: unmerging failed (%ld); retrying\n", left);
			else
				pr_warn("unload: %ld merged pages are still mapped; retrying\n", left);
			warned = jiffies;
		}
		msleep(100);
	}
}

/* The unload thread: unmerge everything, then wait to be stopped. */
static int ksmmod_unload_unmerge_fn(void *done)
{
	ksmmod_unmerge_until_done();
	complete(done);
	while (!kthread_should_stop())
		schedule_timeout_idle(HZ);
	return 0;
}

/**
 * ksmmod_unload_unmerge() - break every merge and detach every node, for unload
 *
 * Runs ksmmod_unmerge_all() in a kernel thread until it succeeds: rmmod's own
 * context would give up on a fatal signal. Waits in one-second steps so that
 * a long unmerge does not look like a hung task. If no thread can be
 * started, unmerges here, retrying likewise.
 */
static void ksmmod_unload_unmerge(void)
{
	DECLARE_COMPLETION_ONSTACK(done);
	struct task_struct *t;

	t = kthread_run(ksmmod_unload_unmerge_fn, &done, "ksmmod-unload");
	if (IS_ERR(t)) {
		ksmmod_unmerge_until_done();
		return;
	}
	while (!wait_for_completion_timeout(&done, HZ))
		;
	kthread_stop(t);
}

static void __exit ksmmod_exit(void)
{
	ksmmod_dev_exit();
	ksmmod_sysfs_exit();
	ksmmod_debugfs_exit();
	ksmmod_daemon_exit();
	ksmmod_unload_unmerge();
	/* No notifier may call into the module's text any more. */
	ksmmod_drop_notifiers();
	ksmmod_notifier_exit();
	/*
	 * Processes leave KSM while the drop-in hooks still catch their
	 * forks; only then do madvise()/prctl() go back to the kernel's KSM.
	 */
	ksmmod_leave_all();
	ksmmod_hooks_exit();
	ksmmod_memory_exit();
	ksmmod_lifecycle_exit();
	ksmmod_registry_exit();
	ksmmod_domain_exit();
	ksmmod_rmap_exit();
	pr_info("unloaded\n");
}

module_init(ksmmod_init);
module_exit(ksmmod_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("ksmmod developers");
MODULE_DESCRIPTION("Kernel Samepage Merging as a loadable module");
MODULE_VERSION(KSMMOD_VERSION);
