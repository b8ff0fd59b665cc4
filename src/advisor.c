// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod's scan-time advisor: pages_to_scan set from how long full scans take.
 *
 * DOC: Advisor
 *
 * With advisor_mode "scan-time" (KSMMOD_ADVISOR_SCAN_TIME), as mm/ksm.c's
 * advisor since 6.8: when the mode is chosen, pages_to_scan starts at
 * advisor_min_pages_to_scan; at the end of every full scan the advisor
 * scales it by how far the scan's duration (whole seconds, at least 1) was
 * from advisor_target_scan_time, smoothed by an exponentially weighted
 * average (weight 30%) of the change between the last two scans' times. The
 * result is kept between what the last scan's CPU share says 10% and
 * advisor_max_cpu% would allow, and at most advisor_max_pages_to_scan. The
 * CPU share is the ksmmodd thread's run time over the scan's wall time.
 * Every decision is traced (ksm_advisor). Choosing "none" again restores
 * pages_to_scan to its default, 100; meanwhile writing pages_to_scan is
 * refused (params.c). The arithmetic is mm/ksm.c's, so a host tuned for the
 * kernel's advisor behaves the same with ksmmod.
 */
#include <linux/ktime.h>
#include <linux/math64.h>
#include <linux/sched.h>
#include <linux/spinlock.h>

#include "ksmmod/ksmmod.h"
#include "ksmmod/trace.h"

/* The CPU share, in percent, the advisor always allows. */
#define KSMMOD_ADVISOR_MIN_CPU	10
/* Weight of the newest scan-time change in its moving average, percent. */
#define KSMMOD_ADVISOR_EWMA	30

/**
 * struct ksmmod_advisor - the advisor's memory of past scans
 * @lock: protects the rest and the advisor's writes of pages_to_scan
 *	against a change of mode
 * @start: when the current full scan began
 * @scan_time: seconds the previous full scan took (0: none yet)
 * @change: smoothed change of scan time between scans, percent
 * @cpu_time: ksmmodd's run time when the current full scan began, ns
 */
struct ksmmod_advisor {
	spinlock_t lock;
	ktime_t start;
	unsigned long scan_time;
	unsigned long change;
	u64 cpu_time;
};

static struct ksmmod_advisor ksmmod_advisor = {
	.lock = __SPIN_LOCK_UNLOCKED(ksmmod_advisor.lock),
};

/**
 * ksmmod_advisor_set_mode() - switch the advisor on or off
 * @mode: KSMMOD_ADVISOR_*, different from the current one
 *
 * Called by params.c with ksmmod_params_lock held. Sets pages_to_scan as
 * mm/ksm.c's set_advisor_defaults() does.
 */
void ksmmod_advisor_set_mode(u32 mode)
{
	struct ksmmod_tunables *t = &ksmmod_tunables;

	spin_lock(&ksmmod_advisor.lock);
	WRITE_ONCE(t->advisor_mode, mode);
	if (mode == KSMMOD_ADVISOR_SCAN_TIME) {
		ksmmod_advisor.start = 0;
		ksmmod_advisor.scan_time = 0;
		ksmmod_advisor.change = 0;
		ksmmod_advisor.cpu_time = 0;
		WRITE_ONCE(t->pages_to_scan, t->advisor_min_pages_to_scan);
	} else {
		WRITE_ONCE(t->pages_to_scan, KSMMOD_DEFAULT_PAGES_TO_SCAN);
	}
	spin_unlock(&ksmmod_advisor.lock);
}

/*
 * A full scan begins (scan.c, in ksmmodd). Its CPU time is counted from
 * here (mm/ksm.c counts from the previous scan's end, which makes the first
 * scan after switching the advisor on look like ksmd's whole life).
 */
void ksmmod_advisor_start_scan(void)
{
	if (READ_ONCE(ksmmod_tunables.advisor_mode) != KSMMOD_ADVISOR_SCAN_TIME)
		return;
	spin_lock(&ksmmod_advisor.lock);
	ksmmod_advisor.start = ktime_get();
	ksmmod_advisor.cpu_time = READ_ONCE(current->se.sum_exec_runtime);
	spin_unlock(&ksmmod_advisor.lock);
}

/*
 * The next pages_to_scan from the last scan's @scan_time (s) and CPU share
 * (@cpu_percent), as mm/ksm.c's scan_time_advisor(). Advisor lock held.
 */
static u64 ksmmod_advisor_pages(struct ksmmod_advisor *a, unsigned long scan_time,
				unsigned int cpu_percent)
{
	const struct ksmmod_tunables *t = &ksmmod_tunables;
	unsigned long last = a->scan_time ?: scan_time;
	u64 factor, change, pages, per_page;

	/* The scan time as a percentage of the target... */
	factor = div64_u64((u64)t->advisor_target_scan_time * 100, scan_time) ?: 1;
	/* ...and of the previous scan's, smoothed. */
	change = div64_u64((u64)scan_time * 100, last) ?: 1;
	change = div64_u64((100 - KSMMOD_ADVISOR_EWMA) * (u64)a->change +
			   KSMMOD_ADVISOR_EWMA * change, 100);
	a->change = change;

	pages = div64_u64((u64)t->pages_to_scan * 100, factor);
	pages = div64_u64(pages * change, 100);
	per_page = div64_u64(t->pages_to_scan, cpu_percent) ?: 1;
	pages = min(pages, per_page * t->advisor_max_cpu);
	pages = max(pages, per_page * KSMMOD_ADVISOR_MIN_CPU);
	pages = min_t(u64, pages, t->advisor_max_pages_to_scan);
	return min_t(u64, pages, U32_MAX);
}

/* A full scan ends (scan.c, in ksmmodd): set pages_to_scan for the next one. */
void ksmmod_advisor_stop_scan(void)
{
	struct ksmmod_advisor *a = &ksmmod_advisor;
	/* Up to date as of the last tick or switch: plenty over a scan of >= 1 s. */
	u64 cpu_time = READ_ONCE(current->se.sum_exec_runtime);
	unsigned int cpu_percent;
	unsigned long scan_time;
	u64 pages;

	if (READ_ONCE(ksmmod_tunables.advisor_mode) != KSMMOD_ADVISOR_SCAN_TIME)
		return;
	spin_lock(&a->lock);
	if (ksmmod_tunables.advisor_mode != KSMMOD_ADVISOR_SCAN_TIME || !a->start) {
		spin_unlock(&a->lock);
		return;
	}
	scan_time = div_u64(ktime_ms_delta(ktime_get(), a->start), MSEC_PER_SEC) ?: 1;
	cpu_percent = div64_u64(div_u64(cpu_time - a->cpu_time, NSEC_PER_MSEC) * 100,
				(u64)scan_time * MSEC_PER_SEC) ?: 1;
	pages = ksmmod_advisor_pages(a, scan_time, cpu_percent);
	a->scan_time = scan_time;
	WRITE_ONCE(ksmmod_tunables.pages_to_scan, pages);
	spin_unlock(&a->lock);
	trace_ksm_advisor(scan_time, pages, cpu_percent);
}
