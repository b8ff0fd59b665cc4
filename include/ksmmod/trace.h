/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksmmod's trace events: those of the kernel's KSM (include/trace/events/ksm.h
 * of 7.3), with the same names, fields and output, under the system "ksmmod"
 * (tracefs events/ksmmod/, `perf trace -e ksmmod:*`, bpftrace
 * tracepoint:ksmmod:*). Disabled, each costs a patched-out jump.
 *
 * - ksm_start_scan, ksm_stop_scan: a full scan begins or ends (scan.c);
 *   seq is the full scan's number, rmap_entries the rmap items then.
 * - ksm_enter, ksm_exit: a process is registered with ksmmod or leaves it
 *   (lifecycle.c).
 * - ksm_merge_one_page: an empty page was mapped to the zero page
 *   (use_zero_pages; pfn is the zero page's), as mm/ksm.c traces it.
 * - ksm_merge_with_ksm_page: a page was (or failed to be, err) merged with a
 *   KSM page (ksm_page non-NULL) or made one (pfn: the KSM page's).
 * - ksm_remove_ksm_page: a stable node is removed from the stable tree;
 *   ksm_remove_rmap_item: a sharing mapping of it is dropped with it.
 * - ksm_advisor: the scan-time advisor set pages_to_scan (advisor.c).
 *
 * Every event has an event class of its own, named ksmmod_*: the kernel's
 * TRACE_EVENT()s would give ksmmod's record structs the names of the
 * kernel's (trace_event_raw_ksm_*), which BTF deduplication then takes for
 * the kernel's types.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM ksmmod

#if !defined(_KSMMOD_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define _KSMMOD_TRACE_H

#include <linux/tracepoint.h>

DECLARE_EVENT_CLASS(ksmmod_scan_template,
	TP_PROTO(int seq, u32 rmap_entries),
	TP_ARGS(seq, rmap_entries),
	TP_STRUCT__entry(
		__field(int, seq)
		__field(u32, rmap_entries)
	),
	TP_fast_assign(
		__entry->seq = seq;
		__entry->rmap_entries = rmap_entries;
	),
	TP_printk("seq %d rmap size %d", __entry->seq, __entry->rmap_entries)
);

DEFINE_EVENT(ksmmod_scan_template, ksm_start_scan,
	TP_PROTO(int seq, u32 rmap_entries),
	TP_ARGS(seq, rmap_entries)
);

DEFINE_EVENT(ksmmod_scan_template, ksm_stop_scan,
	TP_PROTO(int seq, u32 rmap_entries),
	TP_ARGS(seq, rmap_entries)
);

DECLARE_EVENT_CLASS(ksmmod_enter_exit_template,
	TP_PROTO(void *mm),
	TP_ARGS(mm),
	TP_STRUCT__entry(
		__field(void *, mm)
	),
	TP_fast_assign(
		__entry->mm = mm;
	),
	TP_printk("mm %p", __entry->mm)
);

DEFINE_EVENT(ksmmod_enter_exit_template, ksm_enter,
	TP_PROTO(void *mm),
	TP_ARGS(mm)
);

DEFINE_EVENT(ksmmod_enter_exit_template, ksm_exit,
	TP_PROTO(void *mm),
	TP_ARGS(mm)
);

DECLARE_EVENT_CLASS(ksmmod_merge_one_page_template,
	TP_PROTO(unsigned long pfn, void *rmap_item, void *mm, int err),
	TP_ARGS(pfn, rmap_item, mm, err),
	TP_STRUCT__entry(
		__field(unsigned long, pfn)
		__field(void *, rmap_item)
		__field(void *, mm)
		__field(int, err)
	),
	TP_fast_assign(
		__entry->pfn = pfn;
		__entry->rmap_item = rmap_item;
		__entry->mm = mm;
		__entry->err = err;
	),
	TP_printk("ksm pfn %lu rmap_item %p mm %p error %d",
		  __entry->pfn, __entry->rmap_item, __entry->mm, __entry->err)
);

DEFINE_EVENT(ksmmod_merge_one_page_template, ksm_merge_one_page,
	TP_PROTO(unsigned long pfn, void *rmap_item, void *mm, int err),
	TP_ARGS(pfn, rmap_item, mm, err)
);

DECLARE_EVENT_CLASS(ksmmod_merge_with_ksm_page_template,
	TP_PROTO(void *ksm_page, unsigned long pfn, void *rmap_item, void *mm, int err),
	TP_ARGS(ksm_page, pfn, rmap_item, mm, err),
	TP_STRUCT__entry(
		__field(void *, ksm_page)
		__field(unsigned long, pfn)
		__field(void *, rmap_item)
		__field(void *, mm)
		__field(int, err)
	),
	TP_fast_assign(
		__entry->ksm_page = ksm_page;
		__entry->pfn = pfn;
		__entry->rmap_item = rmap_item;
		__entry->mm = mm;
		__entry->err = err;
	),
	TP_printk("%spfn %lu rmap_item %p mm %p error %d",
		  (__entry->ksm_page ? "ksm " : ""),
		  __entry->pfn, __entry->rmap_item, __entry->mm, __entry->err)
);

DEFINE_EVENT(ksmmod_merge_with_ksm_page_template, ksm_merge_with_ksm_page,
	TP_PROTO(void *ksm_page, unsigned long pfn, void *rmap_item, void *mm, int err),
	TP_ARGS(ksm_page, pfn, rmap_item, mm, err)
);

DECLARE_EVENT_CLASS(ksmmod_remove_ksm_page_template,
	TP_PROTO(unsigned long pfn),
	TP_ARGS(pfn),
	TP_STRUCT__entry(
		__field(unsigned long, pfn)
	),
	TP_fast_assign(
		__entry->pfn = pfn;
	),
	TP_printk("pfn %lu", __entry->pfn)
);

DEFINE_EVENT(ksmmod_remove_ksm_page_template, ksm_remove_ksm_page,
	TP_PROTO(unsigned long pfn),
	TP_ARGS(pfn)
);

DECLARE_EVENT_CLASS(ksmmod_remove_rmap_item_template,
	TP_PROTO(unsigned long pfn, void *rmap_item, void *mm),
	TP_ARGS(pfn, rmap_item, mm),
	TP_STRUCT__entry(
		__field(unsigned long, pfn)
		__field(void *, rmap_item)
		__field(void *, mm)
	),
	TP_fast_assign(
		__entry->pfn = pfn;
		__entry->rmap_item = rmap_item;
		__entry->mm = mm;
	),
	TP_printk("pfn %lu rmap_item %p mm %p",
		  __entry->pfn, __entry->rmap_item, __entry->mm)
);

DEFINE_EVENT(ksmmod_remove_rmap_item_template, ksm_remove_rmap_item,
	TP_PROTO(unsigned long pfn, void *rmap_item, void *mm),
	TP_ARGS(pfn, rmap_item, mm)
);

DECLARE_EVENT_CLASS(ksmmod_advisor_template,
	TP_PROTO(s64 scan_time, unsigned long pages_to_scan, unsigned int cpu_percent),
	TP_ARGS(scan_time, pages_to_scan, cpu_percent),
	TP_STRUCT__entry(
		__field(s64, scan_time)
		__field(unsigned long, pages_to_scan)
		__field(unsigned int, cpu_percent)
	),
	TP_fast_assign(
		__entry->scan_time = scan_time;
		__entry->pages_to_scan = pages_to_scan;
		__entry->cpu_percent = cpu_percent;
	),
	TP_printk("ksm scan time %lld pages_to_scan %lu cpu percent %u",
		  __entry->scan_time, __entry->pages_to_scan, __entry->cpu_percent)
);

DEFINE_EVENT(ksmmod_advisor_template, ksm_advisor,
	TP_PROTO(s64 scan_time, unsigned long pages_to_scan, unsigned int cpu_percent),
	TP_ARGS(scan_time, pages_to_scan, cpu_percent)
);

#endif /* _KSMMOD_TRACE_H */

/* Outside the guard: define_trace.h reads this file again. */
#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH ksmmod
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
