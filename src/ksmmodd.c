// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmodd: ksmmod's kernel thread.
 *
 * DOC: ksmmodd
 *
 * While run is 1 and some process is registered, ksmmodd takes
 * ksmmod_thread_mutex and, in turn: lets the lifecycle code act on what the
 * processes did meanwhile (src/lifecycle.c: exits and unmaps its
 * mmu_notifiers saw, notifiers for new slots), scans one batch of
 * pages_to_scan pages (src/scan.c), drops the processes that batch found
 * gone (before anyone else can take the mutex), and lets the chains of dups be pruned
 * (src/chain.c); then it releases the mutex and sleeps sleep_millisecs, or
 * until a notifier has news or a tunable changes. With run 0 or 2, or
 * nothing registered, it sleeps until woken (ksmmod_scan_wake()), still
 * serving notifier events. It runs at nice 5 and is freezable, as ksmd.
 */
#include <linux/freezer.h>
#include <linux/jiffies.h>
#include <linux/kthread.h>
#include <linux/sched.h>
#include <linux/wait.h>

#include "ksmmod/core.h"
#include "ksmmod/ksmmod.h"
#include "ksmmod/lifecycle.h"
#include "ksmmod/registry.h"

static struct task_struct *ksmmod_daemon;

static bool ksmmod_daemon_should_run(void)
{
	return READ_ONCE(ksmmod_tunables.run) == KSMMOD_RUN_MERGE && ksmmod_registry_nr_slots();
}

static int ksmmod_daemon_fn(void *unused)
{
	set_freezable();
	set_user_nice(current, 5);

	while (!kthread_should_stop()) {
		ksmmod_thread_lock();
		ksmmod_lifecycle_work();
		if (ksmmod_daemon_should_run()) {
			ksmmod_scan_batch(READ_ONCE(ksmmod_tunables.pages_to_scan));
			ksmmod_reap_gone();
			ksmmod_chains_tick();
		}
		mutex_unlock(&ksmmod_thread_mutex);

		if (ksmmod_daemon_should_run()) {
			unsigned int ms = READ_ONCE(ksmmod_tunables.sleep_millisecs);

			wait_event_freezable_timeout(ksmmod_thread_wait,
						     kthread_should_stop() || ksmmod_notifier_pending() ||
						     READ_ONCE(ksmmod_tunables.sleep_millisecs) != ms,
						     msecs_to_jiffies(ms));
		} else {
			wait_event_freezable(ksmmod_thread_wait,
					     ksmmod_daemon_should_run() || kthread_should_stop() ||
					     ksmmod_notifier_pending());
		}
	}
	return 0;
}

/* Start ksmmodd. Return: 0 or the error of kthread_run(). */
int ksmmod_daemon_init(void)
{
	ksmmod_scan_init();
	ksmmod_daemon = kthread_run(ksmmod_daemon_fn, NULL, "ksmmodd");
	if (IS_ERR(ksmmod_daemon)) {
		int err = PTR_ERR(ksmmod_daemon);

		pr_err("cannot start ksmmodd: %d\n", err);
		return err;
	}
	return 0;
}

/* Stop ksmmodd (between two batches). */
void ksmmod_daemon_exit(void)
{
	kthread_stop(ksmmod_daemon);
}
