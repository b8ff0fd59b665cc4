/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * ksmmod: Kernel Samepage Merging as a loadable module.
 *
 * User API of the misc device /dev/ksmmod. Every command takes a pointer to
 * one of the structures below. The rules (Documentation/driver-api/ioctl.rst,
 * Documentation/process/botching-up-ioctls.rst):
 *
 * - Fields are __u32/__u64 (__s64 where a value can be negative), naturally
 *   aligned, with explicit padding; every structure is a multiple of 8 bytes.
 * - Every structure starts with @size, the number of bytes the caller passes.
 *   Structures only ever grow at the end. An older, smaller structure is
 *   accepted (missing fields read as zero); a newer, larger one is accepted
 *   only if every byte the module does not know is zero (else -E2BIG).
 *   Output is written up to min(@size, the module's size), and @size is set
 *   to the number of bytes written. Because structures grow, the module
 *   matches commands on their type, number and direction only: the size
 *   bits of the command number are ignored, @size is what counts.
 * - Reserved and padding fields must be zero (else -EINVAL); unknown flag or
 *   mask bits are -EINVAL; unknown commands are -ENOTTY.
 * - A command that fails changes nothing.
 * - Opening the device needs its file mode (0600 root); changing anything
 *   needs CAP_SYS_ADMIN (else -EPERM).
 *
 * Start with KSMMOD_IOC_API: it reports the API version, the feature bits and
 * the commands this module supports.
 *
 * The ioctl type 0xBA is unused in Documentation/userspace-api/ioctl/
 * ioctl-number.rst of Linux 6.1 and 6.12; it would be registered there if
 * ksmmod were merged.
 */
#ifndef _UAPI_LINUX_KSMMOD_H
#define _UAPI_LINUX_KSMMOD_H

#include <linux/ioctl.h>
#include <linux/types.h>

#define KSMMOD_DEVICE_NAME	"ksmmod"
#define KSMMOD_IOC_TYPE		0xBA

/* Current API version, returned by KSMMOD_IOC_API. */
#define KSMMOD_API_VERSION	1

/* Feature bits returned in ksmmod_api.features. */
#define KSMMOD_FEATURE_PARAMS		(1ULL << 0)	/* GET/SET_PARAMS */
#define KSMMOD_FEATURE_STATS		(1ULL << 1)	/* GET_STATS */
#define KSMMOD_FEATURE_REGISTER		(1ULL << 2)	/* MERGE/UNMERGE_RANGE, ADD/REMOVE_PROCESS */
#define KSMMOD_FEATURE_PROCESS_STATS	(1ULL << 3)	/* PROCESS_STATS */
/* ADD_PROCESS follows new mappings, fork and (KSMMOD_PROCESS_KEEP_EXEC) exec */
#define KSMMOD_FEATURE_KEEP_EXEC	(1ULL << 4)
#define KSMMOD_FEATURE_CHAINS		(1ULL << 5)	/* densify_chains, dup statistics */
#define KSMMOD_FEATURE_SMART_SCAN	(1ULL << 6)	/* smart_scan, pages_skipped */
#define KSMMOD_FEATURE_ADVISOR		(1ULL << 7)	/* advisor_* */
#define KSMMOD_FEATURE_WHY		(1ULL << 8)	/* ineligible_pages, merge_pinned, ... */
#define KSMMOD_FEATURE_DOMAINS		(1ULL << 9)	/* merge_domains */
#define KSMMOD_FEATURE_DOMAIN_IOCTLS	(1ULL << 10)	/* SET_DOMAIN, DOMAIN_STATS */
#define KSMMOD_FEATURES_ALL		(KSMMOD_FEATURE_PARAMS | KSMMOD_FEATURE_STATS | \
					 KSMMOD_FEATURE_REGISTER | KSMMOD_FEATURE_PROCESS_STATS | \
					 KSMMOD_FEATURE_KEEP_EXEC | KSMMOD_FEATURE_CHAINS | \
					 KSMMOD_FEATURE_SMART_SCAN | KSMMOD_FEATURE_ADVISOR | \
					 KSMMOD_FEATURE_WHY | KSMMOD_FEATURE_DOMAINS | \
					 KSMMOD_FEATURE_DOMAIN_IOCTLS)

#define KSMMOD_VERSION_LEN	32
#define KSMMOD_RELEASE_LEN	72	/* >= __NEW_UTS_LEN + 1, multiple of 8 */

/**
 * struct ksmmod_api - version and feature handshake (KSMMOD_IOC_API)
 * @size: in: sizeof(struct ksmmod_api) as the caller knows it.
 * @api_version: in: the API version the caller was built for (must be
 *	non-zero); out: KSMMOD_API_VERSION of the module.
 * @flags: in: must be zero.
 * @pad: must be zero.
 * @features: out: KSMMOD_FEATURE_* bits.
 * @ioctls: out: bit N set when the command with _IOC_NR() == N is supported.
 * @module_version: out: NUL-terminated module version string.
 * @kernel_release: out: NUL-terminated release of the running kernel.
 * @reserved: must be zero.
 */
struct ksmmod_api {
	__u32 size;
	__u32 api_version;
	__u32 flags;
	__u32 pad;
	__u64 features;
	__u64 ioctls;
	char module_version[KSMMOD_VERSION_LEN];
	char kernel_release[KSMMOD_RELEASE_LEN];
	__u64 reserved[4];
};

/* Values of ksmmod_params.run, as /sys/kernel/mm/ksm/run. */
#define KSMMOD_RUN_STOP		0	/* stop scanning, keep merged pages */
#define KSMMOD_RUN_MERGE	1	/* scan and merge */
#define KSMMOD_RUN_UNMERGE	2	/* stop and unmerge every merged page */

/* Bits of ksmmod_params.mask: which fields SET_PARAMS changes. */
#define KSMMOD_PARAM_RUN				(1ULL << 0)
#define KSMMOD_PARAM_PAGES_TO_SCAN			(1ULL << 1)
#define KSMMOD_PARAM_SLEEP_MILLISECS			(1ULL << 2)
#define KSMMOD_PARAM_MAX_PAGE_SHARING			(1ULL << 3)
#define KSMMOD_PARAM_STABLE_NODE_CHAINS_PRUNE_MILLISECS	(1ULL << 4)
#define KSMMOD_PARAM_MERGE_ACROSS_NODES			(1ULL << 5)
#define KSMMOD_PARAM_USE_ZERO_PAGES			(1ULL << 6)
#define KSMMOD_PARAM_DENSIFY_CHAINS			(1ULL << 7)	/* KSMMOD_FEATURE_CHAINS */
#define KSMMOD_PARAM_SMART_SCAN				(1ULL << 8)	/* KSMMOD_FEATURE_SMART_SCAN */
#define KSMMOD_PARAM_ADVISOR_MODE			(1ULL << 9)	/* KSMMOD_FEATURE_ADVISOR */
#define KSMMOD_PARAM_ADVISOR_MAX_CPU			(1ULL << 10)
#define KSMMOD_PARAM_ADVISOR_TARGET_SCAN_TIME		(1ULL << 11)
#define KSMMOD_PARAM_ADVISOR_MIN_PAGES_TO_SCAN		(1ULL << 12)
#define KSMMOD_PARAM_ADVISOR_MAX_PAGES_TO_SCAN		(1ULL << 13)
#define KSMMOD_PARAM_MERGE_DOMAINS			(1ULL << 14)	/* KSMMOD_FEATURE_DOMAINS */
#define KSMMOD_PARAM_ALL				((1ULL << 15) - 1)

/* merge_domains: which processes' pages may merge with each other */
#define KSMMOD_DOMAINS_NONE	0	/* all: one merge domain */
#define KSMMOD_DOMAINS_UID	1	/* those of one real uid (at registration) */
#define KSMMOD_DOMAINS_CGROUP	2	/* those of one cgroup v2 (at registration) */
/* Kind of a domain given by KSMMOD_IOC_SET_DOMAIN (struct ksmmod_domain_entry) */
#define KSMMOD_DOMAINS_EXPLICIT	3

/* advisor_mode: who sets pages_to_scan */
#define KSMMOD_ADVISOR_NONE		0	/* the administrator */
#define KSMMOD_ADVISOR_SCAN_TIME	1	/* the scan-time advisor */

/**
 * struct ksmmod_params - tunables (KSMMOD_IOC_GET_PARAMS / KSMMOD_IOC_SET_PARAMS)
 *
 * Names, defaults and ranges are those of /sys/kernel/mm/ksm.
 *
 * @size: in: sizeof(struct ksmmod_params) as the caller knows it.
 * @flags: in: must be zero.
 * @mask: SET: KSMMOD_PARAM_* bits of the fields to change (at least one; the
 *	others are ignored). All named fields are checked first and then
 *	applied together, so a rejected SET changes nothing; -EBUSY is judged
 *	against the state before the call (set run=2 in an earlier call to
 *	unmerge first). GET: in: ignored; out: the bits of every field the
 *	module has.
 * @run: KSMMOD_RUN_*; default 0.
 * @pages_to_scan: pages per scan batch; default 100, 0..U32_MAX.
 * @sleep_millisecs: sleep between batches; default 20, 0..U32_MAX.
 * @max_page_sharing: maximum mappings of one merged page; default 256,
 *	2..S32_MAX; -EBUSY while pages are merged.
 * @stable_node_chains_prune_millisecs: how often stale dups of stable node
 *	chains are pruned; default 2000, 0..U32_MAX.
 * @merge_across_nodes: 1 merge pages of all NUMA nodes, 0 only within a
 *	node; default 1; -EBUSY while pages are merged.
 * @use_zero_pages: 1 map empty pages to the zero page; default 0.
 * @densify_chains: 1 move mappings from sparsely shared dups of a stable
 *	node chain onto denser ones (a ksmmod extension, see
 *	Documentation in README.md); 0 or 1; default 1.
 * @smart_scan: 1 skip pages that keep failing to merge for a growing number
 *	of scans (up to 8), as /sys/kernel/mm/ksm/smart_scan; 0 or 1; default 1.
 * @advisor_mode: KSMMOD_ADVISOR_*; default NONE. With SCAN_TIME the
 *	scanner sets pages_to_scan after every full scan so that a full scan
 *	takes advisor_target_scan_time, and setting pages_to_scan is -EINVAL
 *	(judged by the mode after the call). A change of mode sets
 *	pages_to_scan to 100 (NONE) or advisor_min_pages_to_scan (SCAN_TIME),
 *	unless the same call sets pages_to_scan (NONE only).
 * @advisor_max_cpu: the advisor's ceiling on the scanner's CPU share, in
 *	percent; default 70.
 * @advisor_target_scan_time: seconds a full scan should take; default 200,
 *	at least 1.
 * @advisor_min_pages_to_scan: pages_to_scan when the advisor starts;
 *	default 500.
 * @advisor_max_pages_to_scan: the advisor's ceiling on pages_to_scan;
 *	default 30000.
 * @merge_domains: KSMMOD_DOMAINS_*; default NONE. Pages merge only with
 *	pages of processes in the same merge domain: with UID, those whose
 *	real uid was the same when they were registered; with CGROUP, those
 *	that were in the same cgroup v2 then. Zero pages (use_zero_pages) are
 *	shared by every domain. -EBUSY while pages are merged; -ENOMEM, or
 *	-ENOSPC past 65535 domains at once (then nothing changed; a
 *	registration (MERGE_RANGE, ADD_PROCESS) that would need another
 *	domain fails the same way, madvise()/prctl() with ENOMEM).
 * @pad: must be zero.
 * @reserved: must be zero.
 */
struct ksmmod_params {
	__u32 size;
	__u32 flags;
	__u64 mask;
	__u32 run;
	__u32 pages_to_scan;
	__u32 sleep_millisecs;
	__u32 max_page_sharing;
	__u32 stable_node_chains_prune_millisecs;
	__u32 merge_across_nodes;
	__u32 use_zero_pages;
	__u32 densify_chains;
	__u32 smart_scan;
	__u32 advisor_mode;
	__u32 advisor_max_cpu;
	__u32 advisor_target_scan_time;
	__u32 advisor_min_pages_to_scan;
	__u32 advisor_max_pages_to_scan;
	__u32 merge_domains;
	__u32 pad;
	__u64 reserved[4];
};

/**
 * struct ksmmod_stats - counters (KSMMOD_IOC_GET_STATS)
 *
 * Same meaning as the files of the same name in /sys/kernel/mm/ksm.
 *
 * @size: in: sizeof(struct ksmmod_stats) as the caller knows it.
 * @flags: in: must be zero.
 * @pages_shared: merged pages in the stable tree (each backs >= 1 mapping).
 * @pages_sharing: extra mappings of merged pages: the pages saved.
 * @pages_unshared: pages checked but unique, in the unstable tree.
 * @pages_volatile: pages that change too fast to be put in a tree.
 * @pages_scanned: pages looked at by the scanner, all scans.
 * @pages_skipped: pages skipped by smart scanning.
 * @full_scans: full scans of all registered memory completed.
 * @stable_node_chains: stable tree entries that are chains of dups.
 * @stable_node_dups: merged pages that are dups in a chain.
 * @ksm_zero_pages: empty pages mapped to the zero page (use_zero_pages).
 * @rmap_items: tracked pages (reverse-map items).
 * @general_profit: bytes saved minus metadata (can be negative).
 * @mm_slots: processes (address spaces) with registered memory.
 * @stable_node_dup_mappings: mappings of the pages of all dups; divided by
 *	@stable_node_dups: the average sharing per dup (KSMMOD_FEATURE_CHAINS).
 * @densify_moves: mappings moved onto a denser dup since load.
 *
 * Why pages do not merge (KSMMOD_FEATURE_WHY; with @pages_volatile and
 * @pages_skipped):
 * @ineligible_pages: pages of address space asked to merge that ksmmod
 *	cannot merge, at the last full scan: mappings made VM_MERGEABLE
 *	(MERGE_RANGE, madvise) or any mapping of a process registered whole,
 *	that are shared, file-backed (private ones too: the kernel's KSM
 *	merges their copied-on-write pages, ksmmod does not), VM_PFNMAP,
 *	VM_IO, hugetlb, DAX or special ([vdso], [vvar]).
 * @merge_pinned: merges refused since load because the page was pinned
 *	(GUP: O_DIRECT, io_uring, RDMA, vfio).
 * @thp_unsplittable: merges given up since load because a transparent huge
 *	page could not be split to merge one of its subpages.
 * @reserved: out: zero.
 */
struct ksmmod_stats {
	__u32 size;
	__u32 flags;
	__u64 pages_shared;
	__u64 pages_sharing;
	__u64 pages_unshared;
	__u64 pages_volatile;
	__u64 pages_scanned;
	__u64 pages_skipped;
	__u64 full_scans;
	__u64 stable_node_chains;
	__u64 stable_node_dups;
	__u64 ksm_zero_pages;
	__u64 rmap_items;
	__s64 general_profit;
	__u64 mm_slots;
	__u64 stable_node_dup_mappings;
	__u64 densify_moves;
	__u64 ineligible_pages;
	__u64 merge_pinned;
	__u64 thp_unsplittable;
	__u64 reserved[2];
};

/**
 * struct ksmmod_range - a range of a process's memory
 *	(KSMMOD_IOC_MERGE_RANGE / KSMMOD_IOC_UNMERGE_RANGE)
 *
 * MERGE_RANGE makes the private anonymous memory in the range mergeable, like
 * madvise(MADV_MERGEABLE) in that process; shared, file-backed, VM_PFNMAP,
 * VM_IO, hugetlb and DAX mappings in the range are skipped. UNMERGE_RANGE
 * undoes it, like madvise(MADV_UNMERGEABLE): every merged page in the range
 * is a private copy again when it returns.
 *
 * Errors (nothing changes): EINVAL (unaligned @start, @start + @length
 * overflows, non-zero flags/pad/reserved), ENOMEM (part of the range is not
 * mapped), EBADF (@pidfd is not a pidfd), ESRCH (the process has exited),
 * EPERM (neither CAP_SYS_ADMIN nor allowed to ptrace-attach to the process),
 * EBUSY (the process uses the kernel's own KSM: MADV_MERGEABLE or
 * PR_SET_MEMORY_MERGE), EINTR (a fatal signal).
 *
 * @size: in: sizeof(struct ksmmod_range) as the caller knows it.
 * @flags: must be zero.
 * @pidfd: a pidfd (pidfd_open(2)) of the process, or 0 for the caller.
 * @pad: must be zero.
 * @start: first address, page aligned.
 * @length: bytes; rounded up to whole pages. 0 does nothing.
 * @reserved: must be zero.
 */
struct ksmmod_range {
	__u32 size;
	__u32 flags;
	__u32 pidfd;
	__u32 pad;
	__u64 start;
	__u64 length;
	__u64 reserved[4];
};

/* Bits of ksmmod_process.flags (ADD_PROCESS only). */
#define KSMMOD_PROCESS_KEEP_EXEC	(1U << 0)	/* stay registered across execve() */
#define KSMMOD_PROCESS_FLAGS_ALL	KSMMOD_PROCESS_KEEP_EXEC

/**
 * struct ksmmod_process - a whole process
 *	(KSMMOD_IOC_ADD_PROCESS / KSMMOD_IOC_REMOVE_PROCESS)
 *
 * ADD_PROCESS makes every private anonymous mapping the process has now
 * mergeable; REMOVE_PROCESS unmerges and forgets all of its memory. Errors
 * as for struct ksmmod_range (ENOMEM does not apply; REMOVE_PROCESS of a
 * process ksmmod does not know is ENOENT).
 *
 * The registration also covers what the process does later, like
 * prctl(PR_SET_MEMORY_MERGE): every private anonymous mapping it creates
 * (mmap(), brk() growth) is mergeable from its creation, and children
 * created by fork() are registered the same way (KSMMOD_PROCESS_KEEP_EXEC
 * included), with or without drop-in mode. execve() gives the process a new
 * address space, which is registered only with KSMMOD_PROCESS_KEEP_EXEC
 * (feature KSMMOD_FEATURE_KEEP_EXEC); without it the program that execve()
 * starts is not registered (unlike PR_SET_MEMORY_MERGE, which 6.12 keeps
 * across execve()). Another ADD_PROCESS of the same process replaces the
 * flag.
 *
 * @size: in: sizeof(struct ksmmod_process) as the caller knows it.
 * @flags: ADD_PROCESS: KSMMOD_PROCESS_* bits (others: EINVAL).
 *	REMOVE_PROCESS: must be zero.
 * @pidfd: a pidfd of the process, or 0 for the caller.
 * @pad: must be zero.
 * @reserved: must be zero.
 */
struct ksmmod_process {
	__u32 size;
	__u32 flags;
	__u32 pidfd;
	__u32 pad;
	__u64 reserved[4];
};

/**
 * struct ksmmod_process_stats - what ksmmod does for one process
 *	(KSMMOD_IOC_PROCESS_STATS)
 *
 * The counters of /proc/<pid>/ksm_stat, for memory ksmmod merges. Errors:
 * EBADF, ESRCH as for struct ksmmod_range; EPERM (neither CAP_SYS_ADMIN nor
 * allowed to read the process's memory maps); ENOENT (ksmmod does not know
 * the process: nothing of it is registered).
 *
 * @size: in: sizeof(struct ksmmod_process_stats) as the caller knows it.
 * @flags: in: must be zero.
 * @pidfd: in: a pidfd of the process, or 0 for the caller.
 * @pad: in: must be zero.
 * @merging_pages: out: pages of the process mapped to merged (KSM) pages.
 * @rmap_items: out: pages of the process ksmmod tracks.
 * @zero_pages: out: empty pages mapped to the zero page (use_zero_pages).
 * @process_profit: out: bytes saved minus metadata, as ksm_process_profit.
 * @registered_bytes: out: bytes of mergeable (VM_MERGEABLE) mappings in the
 *	memory registered with ksmmod.
 * @merge_any: out: 1 if every mapping of the process is mergeable, now and
 *	later (registered whole: ADD_PROCESS or, in drop-in mode,
 *	prctl(PR_SET_MEMORY_MERGE)), as ksm_merge_any in ksm_stat.
 * @mergeable: out: 1 if @merge_any or @registered_bytes is non-zero, as
 *	ksm_mergeable in ksm_stat.
 * @ineligible_pages: out: as in struct ksmmod_stats, for this process
 *	(at the scanner's last pass over it).
 * @merge_pinned: out: as in struct ksmmod_stats, for this process's pages.
 * @thp_unsplittable: out: as in struct ksmmod_stats, for this process's
 *	pages.
 * @domain_kind: out: the kind of its merge domain (KSMMOD_DOMAINS_*, as in
 *	struct ksmmod_domain_entry; feature KSMMOD_FEATURE_DOMAIN_IOCTLS).
 * @pad2: out: zero.
 * @domain_id: out: the id of its merge domain.
 * @reserved: out: zero. (Input: every out field must be zero.)
 */
struct ksmmod_process_stats {
	__u32 size;
	__u32 flags;
	__u32 pidfd;
	__u32 pad;
	__u64 merging_pages;
	__u64 rmap_items;
	__u64 zero_pages;
	__s64 process_profit;
	__u64 registered_bytes;
	__u32 merge_any;
	__u32 mergeable;
	__u64 ineligible_pages;
	__u64 merge_pinned;
	__u64 thp_unsplittable;
	__u32 domain_kind;
	__u32 pad2;
	__u64 domain_id;
	__u64 reserved[2];
};

/**
 * struct ksmmod_set_domain - put a process in a merge domain (KSMMOD_IOC_SET_DOMAIN)
 *
 * The process's pages merge only with pages of processes in the same
 * explicit domain, whatever merge_domains says; domain 0 gives it back to
 * the domain merge_domains gives it. Its pages merged so far are unmerged
 * first (they may be shared with another domain): the call waits for that
 * to end. Processes forked from it are in the same domain, and so is what
 * it executes where its registration follows exec (KSMMOD_PROCESS_KEEP_EXEC,
 * PR_SET_MEMORY_MERGE on kernels that keep it across execve()).
 *
 * Errors: EINVAL (flags, pad or reserved not zero), EPERM (the caller lacks
 * CAP_SYS_ADMIN, even for itself: a process that could pick its domain
 * could join another tenant's), EBADF, ESRCH as for struct ksmmod_range,
 * ENOENT (ksmmod has no memory of the process registered), EBUSY (the
 * kernel's own KSM has it), ENOSPC (65535 domains are in use), ENOMEM,
 * EINTR (a fatal signal while unmerging; the process stays in its domain).
 * On error the domain is unchanged.
 *
 * The domain lasts as long as the registration: after REMOVE_PROCESS (or
 * an exec that leaves ksmmod) the process is placed by merge_domains again.
 * A call that races with an execve() of the process may leave the program
 * it starts in the old domain: PROCESS_STATS says which domain it is in.
 *
 * @size: in: sizeof(struct ksmmod_set_domain) as the caller knows it.
 * @flags: must be zero.
 * @pidfd: a pidfd of the process, or 0 for the caller.
 * @pad: must be zero.
 * @domain: the domain id; 0: the one merge_domains gives it.
 * @reserved: must be zero.
 */
struct ksmmod_set_domain {
	__u32 size;
	__u32 flags;
	__u32 pidfd;
	__u32 pad;
	__u64 domain;
	__u64 reserved[4];
};

/**
 * struct ksmmod_domain_entry - one merge domain (see struct ksmmod_domain_stats)
 * @kind: KSMMOD_DOMAINS_NONE (the default domain, @id 0), _UID (@id is the
 *	uid), _CGROUP (@id is the cgroup id, as name_to_handle_at() on the
 *	cgroup's directory gives it) or _EXPLICIT (@id is the SET_DOMAIN id).
 * @pad: zero.
 * @id: see @kind.
 * @processes: registered processes in the domain.
 * @pages_shared: KSM pages of the domain (as pages_shared, counting the
 *	pages the domain's registered processes map).
 * @pages_sharing: mappings of those pages beyond the first of each (as
 *	pages_sharing).
 * @ksm_zero_pages: zero pages ksmmod mapped in the domain's processes.
 * @rmap_items: pages of the domain's processes that ksmmod tracks.
 * @profit: as general_profit, for the domain: bytes saved by @pages_sharing
 *	and @ksm_zero_pages minus the metadata of @rmap_items.
 * @reserved: zero.
 */
struct ksmmod_domain_entry {
	__u32 kind;
	__u32 pad;
	__u64 id;
	__u64 processes;
	__u64 pages_shared;
	__u64 pages_sharing;
	__u64 ksm_zero_pages;
	__u64 rmap_items;
	__s64 profit;
	__u64 reserved[2];
};

/**
 * struct ksmmod_domain_stats - counters per merge domain (KSMMOD_IOC_DOMAIN_STATS)
 *
 * Fills @entries with one entry per domain that has registered processes,
 * in no particular order, at most @count of them. Call with @count 0 to
 * learn how many there are. Only for CAP_SYS_ADMIN (EPERM): what another
 * tenant shares is what domains keep from it. Errors: EINVAL (flags or
 * reserved not zero, @entry_size below KSMMOD_DOMAIN_ENTRY_SIZE_VER0 or
 * above 4096, @count above 65536), EFAULT (@entries not writable for
 * @count entries), ENOMEM.
 *
 * @size: in: sizeof(struct ksmmod_domain_stats) as the caller knows it.
 * @flags: must be zero.
 * @count: in: room at @entries, in entries; out: domains with processes
 *	(more than were written if there was not room for all).
 * @entry_size: in: sizeof(struct ksmmod_domain_entry) as the caller knows
 *	it: each entry is written to that size (fields the module does not
 *	know are zeroed).
 * @entries: in: user address of the array (may be 0 with @count 0).
 * @reserved: must be zero.
 */
struct ksmmod_domain_stats {
	__u32 size;
	__u32 flags;
	__u32 count;
	__u32 entry_size;
	__u64 entries;
	__u64 reserved[4];
};

/* Command numbers (_IOC_NR). */
#define KSMMOD_NR_API		0x00
#define KSMMOD_NR_GET_PARAMS	0x01
#define KSMMOD_NR_SET_PARAMS	0x02
#define KSMMOD_NR_GET_STATS	0x03
#define KSMMOD_NR_MERGE_RANGE	0x04
#define KSMMOD_NR_UNMERGE_RANGE	0x05
#define KSMMOD_NR_ADD_PROCESS	0x06
#define KSMMOD_NR_REMOVE_PROCESS	0x07
#define KSMMOD_NR_PROCESS_STATS	0x08
#define KSMMOD_NR_SET_DOMAIN	0x09
#define KSMMOD_NR_DOMAIN_STATS	0x0a

#define KSMMOD_IOC_API		_IOWR(KSMMOD_IOC_TYPE, KSMMOD_NR_API, struct ksmmod_api)
#define KSMMOD_IOC_GET_PARAMS	_IOWR(KSMMOD_IOC_TYPE, KSMMOD_NR_GET_PARAMS, struct ksmmod_params)
#define KSMMOD_IOC_SET_PARAMS	_IOW(KSMMOD_IOC_TYPE, KSMMOD_NR_SET_PARAMS, struct ksmmod_params)
#define KSMMOD_IOC_GET_STATS	_IOWR(KSMMOD_IOC_TYPE, KSMMOD_NR_GET_STATS, struct ksmmod_stats)
#define KSMMOD_IOC_MERGE_RANGE	_IOW(KSMMOD_IOC_TYPE, KSMMOD_NR_MERGE_RANGE, struct ksmmod_range)
#define KSMMOD_IOC_UNMERGE_RANGE	_IOW(KSMMOD_IOC_TYPE, KSMMOD_NR_UNMERGE_RANGE, struct ksmmod_range)
#define KSMMOD_IOC_ADD_PROCESS	_IOW(KSMMOD_IOC_TYPE, KSMMOD_NR_ADD_PROCESS, struct ksmmod_process)
#define KSMMOD_IOC_REMOVE_PROCESS	_IOW(KSMMOD_IOC_TYPE, KSMMOD_NR_REMOVE_PROCESS, struct ksmmod_process)
#define KSMMOD_IOC_PROCESS_STATS	_IOWR(KSMMOD_IOC_TYPE, KSMMOD_NR_PROCESS_STATS, \
					      struct ksmmod_process_stats)
#define KSMMOD_IOC_SET_DOMAIN	_IOW(KSMMOD_IOC_TYPE, KSMMOD_NR_SET_DOMAIN, struct ksmmod_set_domain)
#define KSMMOD_IOC_DOMAIN_STATS	_IOWR(KSMMOD_IOC_TYPE, KSMMOD_NR_DOMAIN_STATS, \
				      struct ksmmod_domain_stats)

/* Smallest @size each command accepts (the first version of its struct). */
#define KSMMOD_API_SIZE_VER0	168
#define KSMMOD_PARAMS_SIZE_VER0	112
#define KSMMOD_STATS_SIZE_VER0	168
#define KSMMOD_RANGE_SIZE_VER0	64
#define KSMMOD_PROCESS_SIZE_VER0	48
#define KSMMOD_PROCESS_STATS_SIZE_VER0	88
#define KSMMOD_PROCESS_STATS_SIZE_VER1	128	/* + merge_any ... thp_unsplittable */
#define KSMMOD_SET_DOMAIN_SIZE_VER0	56
#define KSMMOD_DOMAIN_STATS_SIZE_VER0	56
#define KSMMOD_DOMAIN_ENTRY_SIZE_VER0	80

#endif /* _UAPI_LINUX_KSMMOD_H */
