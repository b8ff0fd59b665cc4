// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod memory hotplug: keeping stable nodes away from offlined memory.
 *
 * DOC: Memory hot-remove
 *
 * Offlining a memory block migrates every page out of it first; the
 * kernel's migration code moves ksmmod's KSM pages like any other and
 * rewrites their stable nodes' kpfn. What is left pointing into the block
 * afterwards are stale nodes, whose page was freed before ksmmod noticed.
 * Once the block is offline its struct pages are poisoned and may then be
 * removed, so the keyhole lookup, which reads the page a node's kpfn names,
 * must never run on such a node. As mm/ksm.c does:
 *
 * - MEM_GOING_OFFLINE waits for the scanner's current batch and keeps
 *   everything that walks the stable trees (the scanner, run=2, registry
 *   changes, unload) out until the offlining ends (ksmmod_thread_lock());
 * - MEM_OFFLINE removes every stable node whose kpfn lies in the block
 *   without looking at the page;
 * - MEM_OFFLINE or MEM_CANCEL_OFFLINE lets the others in again.
 */
#include <linux/memory.h>
#include <linux/mm.h>
#include <linux/notifier.h>

#include "ksmmod/core.h"
#include "ksmmod/ksmmod.h"

static int ksmmod_memory_callback(struct notifier_block *nb, unsigned long action, void *arg)
{
	struct memory_notify *mn = arg;

	switch (action) {
	case MEM_GOING_OFFLINE:
		ksmmod_thread_offlining(true);
		break;
	case MEM_OFFLINE:
		mutex_lock(&ksmmod_thread_mutex);
		ksmmod_remove_stable_nodes_in(mn->start_pfn, mn->start_pfn + mn->nr_pages);
		mutex_unlock(&ksmmod_thread_mutex);
		ksmmod_thread_offlining(false);
		break;
	case MEM_CANCEL_OFFLINE:
		ksmmod_thread_offlining(false);
		break;
	}
	return NOTIFY_OK;
}

static struct notifier_block ksmmod_memory_nb = {
	.notifier_call = ksmmod_memory_callback,
};

int ksmmod_memory_init(void)
{
	return register_memory_notifier(&ksmmod_memory_nb);
}

/*
 * After the unregistration no MEM_OFFLINE or MEM_CANCEL_OFFLINE reaches
 * ksmmod: an offlining that began before it would leave the others locked
 * out for good (unload's registry teardown waits in ksmmod_thread_lock()).
 * By now every stable node is gone, so there is nothing to keep away from
 * the block: let them in.
 */
void ksmmod_memory_exit(void)
{
	unregister_memory_notifier(&ksmmod_memory_nb);
	ksmmod_thread_offlining(false);
}
