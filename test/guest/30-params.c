// SPDX-License-Identifier: GPL-2.0
/*
 * Tunables: defaults and ranges of /sys/kernel/mm/ksm, and every
 * KSMMOD_IOC_SET_PARAMS error path returns its errno and changes nothing.
 */
#include <limits.h>
#include <stddef.h>

#include "ksmtest.h"

static int fd;
static struct ksmmod_params defaults;

/* The tunable values only (no size/flags/mask), for comparisons. */
static bool same_values(const struct ksmmod_params *a, const struct ksmmod_params *b)
{
	return a->run == b->run && a->pages_to_scan == b->pages_to_scan &&
	       a->sleep_millisecs == b->sleep_millisecs &&
	       a->max_page_sharing == b->max_page_sharing &&
	       a->stable_node_chains_prune_millisecs == b->stable_node_chains_prune_millisecs &&
	       a->merge_across_nodes == b->merge_across_nodes &&
	       a->use_zero_pages == b->use_zero_pages && a->densify_chains == b->densify_chains &&
	       a->smart_scan == b->smart_scan && a->advisor_mode == b->advisor_mode &&
	       a->advisor_max_cpu == b->advisor_max_cpu &&
	       a->advisor_target_scan_time == b->advisor_target_scan_time &&
	       a->advisor_min_pages_to_scan == b->advisor_min_pages_to_scan &&
	       a->advisor_max_pages_to_scan == b->advisor_max_pages_to_scan &&
	       a->merge_domains == b->merge_domains;
}

/*
 * Issue SET_PARAMS with @p (size/flags/mask already set by the caller) via
 * @cmd, expect -@expect, and check that nothing changed.
 */
static void expect_rejected(const char *what, unsigned long cmd, void *p, int expect)
{
	struct ksmmod_params before, after;
	int err;

	ksmt_get_params(fd, &before);
	err = ksmt_ioctl(fd, cmd, p);
	ksmt_get_params(fd, &after);
	ktap_test_result(err == -expect && same_values(&before, &after),
			 "%s -> %s, nothing changed (got %s%s)", what, strerror(expect),
			 err ? strerror(-err) : "success",
			 same_values(&before, &after) ? "" : ", VALUES CHANGED");
}

/* A valid request setting every field to a new, in-range value. */
static struct ksmmod_params valid_req(void)
{
	struct ksmmod_params p;

	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	p.mask = KSMMOD_PARAM_ALL;
	p.run = 0;
	p.pages_to_scan = 1234;
	p.sleep_millisecs = 7;
	p.max_page_sharing = 3;
	p.stable_node_chains_prune_millisecs = 999;
	p.merge_across_nodes = 0;
	p.use_zero_pages = 1;
	p.densify_chains = 0;
	p.smart_scan = 0;
	p.advisor_mode = KSMMOD_ADVISOR_NONE;
	p.advisor_max_cpu = 50;
	p.advisor_target_scan_time = 100;
	p.advisor_min_pages_to_scan = 400;
	p.advisor_max_pages_to_scan = 20000;
	p.merge_domains = KSMMOD_DOMAINS_CGROUP;
	return p;
}

/* Set one field with SET_PARAMS and read it back. */
static void set_one(const char *name, __u64 bit, size_t off, __u32 value)
{
	struct ksmmod_params p, r;
	int err;

	memset(&p, 0, sizeof(p));
	*(__u32 *)((char *)&p + off) = value;
	err = ksmt_set_params(fd, &p, bit);
	ksmt_get_params(fd, &r);
	ktap_test_result(!err && *(__u32 *)((char *)&r + off) == value,
			 "set %s=%u and read it back (%s)", name, value, err ? strerror(-err) : "ok");
}

#define SET_ONE(field, bit, value) \
	set_one(#field, bit, offsetof(struct ksmmod_params, field), value)

int main(void)
{
	struct ksmmod_params p, r;
	char big[512];
	int err;

	ktap_print_header(56);
	ksmt_ensure_loaded();
	fd = ksmt_open();

	err = ksmt_get_params(fd, &defaults);
	ktap_test_result(!err && defaults.size == sizeof(defaults) && defaults.mask == KSMMOD_PARAM_ALL,
			 "GET_PARAMS succeeds, size %u, mask %#llx", defaults.size,
			 (unsigned long long)defaults.mask);
	ktap_test_result(defaults.run == 0 && defaults.pages_to_scan == 100 &&
			 defaults.sleep_millisecs == 20 && defaults.max_page_sharing == 256 &&
			 defaults.stable_node_chains_prune_millisecs == 2000 &&
			 defaults.merge_across_nodes == 1 && defaults.use_zero_pages == 0 &&
			 defaults.densify_chains == 1 && defaults.smart_scan == 1 &&
			 defaults.advisor_mode == KSMMOD_ADVISOR_NONE && defaults.advisor_max_cpu == 70 &&
			 defaults.advisor_target_scan_time == 200 &&
			 defaults.advisor_min_pages_to_scan == 500 &&
			 defaults.advisor_max_pages_to_scan == 30000,
			 "defaults are KSM's (+ densify_chains=%u): run=%u pages_to_scan=%u sleep_millisecs=%u max_page_sharing=%u prune=%u merge_across_nodes=%u use_zero_pages=%u smart_scan=%u",
			 defaults.densify_chains,
			 defaults.run, defaults.pages_to_scan, defaults.sleep_millisecs,
			 defaults.max_page_sharing, defaults.stable_node_chains_prune_millisecs,
			 defaults.merge_across_nodes, defaults.use_zero_pages, defaults.smart_scan);

	/* Out of range, one field at a time. */
	p = valid_req(); p.mask = KSMMOD_PARAM_RUN; p.run = 3;
	expect_rejected("run=3", KSMMOD_IOC_SET_PARAMS, &p, EINVAL);
	p = valid_req(); p.mask = KSMMOD_PARAM_RUN; p.run = UINT_MAX;
	expect_rejected("run=4294967295", KSMMOD_IOC_SET_PARAMS, &p, EINVAL);
	p = valid_req(); p.mask = KSMMOD_PARAM_MAX_PAGE_SHARING; p.max_page_sharing = 1;
	expect_rejected("max_page_sharing=1", KSMMOD_IOC_SET_PARAMS, &p, EINVAL);
	p = valid_req(); p.mask = KSMMOD_PARAM_MAX_PAGE_SHARING; p.max_page_sharing = 0;
	expect_rejected("max_page_sharing=0", KSMMOD_IOC_SET_PARAMS, &p, EINVAL);
	p = valid_req(); p.mask = KSMMOD_PARAM_MAX_PAGE_SHARING; p.max_page_sharing = 1U << 31;
	expect_rejected("max_page_sharing=2^31", KSMMOD_IOC_SET_PARAMS, &p, EINVAL);
	p = valid_req(); p.mask = KSMMOD_PARAM_MERGE_ACROSS_NODES; p.merge_across_nodes = 2;
	expect_rejected("merge_across_nodes=2", KSMMOD_IOC_SET_PARAMS, &p, EINVAL);
	p = valid_req(); p.mask = KSMMOD_PARAM_USE_ZERO_PAGES; p.use_zero_pages = 2;
	expect_rejected("use_zero_pages=2", KSMMOD_IOC_SET_PARAMS, &p, EINVAL);

	/* All-or-nothing: every field valid but one. */
	p = valid_req(); p.run = 7;
	expect_rejected("all fields, run invalid", KSMMOD_IOC_SET_PARAMS, &p, EINVAL);
	p = valid_req(); p.use_zero_pages = 5;
	expect_rejected("all fields, use_zero_pages invalid", KSMMOD_IOC_SET_PARAMS, &p, EINVAL);

	/* Mask, flags, padding, reserved. */
	p = valid_req(); p.mask = 0;
	expect_rejected("empty mask", KSMMOD_IOC_SET_PARAMS, &p, EINVAL);
	p = valid_req(); p.mask = KSMMOD_PARAM_ALL | (1ULL << 40);
	expect_rejected("unknown mask bit", KSMMOD_IOC_SET_PARAMS, &p, EINVAL);
	p = valid_req(); p.flags = 1;
	expect_rejected("flags != 0", KSMMOD_IOC_SET_PARAMS, &p, EINVAL);
	p = valid_req(); p.mask = KSMMOD_PARAM_DENSIFY_CHAINS; p.densify_chains = 2;
	expect_rejected("densify_chains=2", KSMMOD_IOC_SET_PARAMS, &p, EINVAL);
	p = valid_req(); p.mask = KSMMOD_PARAM_SMART_SCAN; p.smart_scan = 2;
	expect_rejected("smart_scan=2", KSMMOD_IOC_SET_PARAMS, &p, EINVAL);
	p = valid_req(); p.mask = KSMMOD_PARAM_ADVISOR_MODE; p.advisor_mode = 2;
	expect_rejected("advisor_mode=2", KSMMOD_IOC_SET_PARAMS, &p, EINVAL);
	p = valid_req(); p.mask = KSMMOD_PARAM_ADVISOR_TARGET_SCAN_TIME; p.advisor_target_scan_time = 0;
	expect_rejected("advisor_target_scan_time=0", KSMMOD_IOC_SET_PARAMS, &p, EINVAL);
	p = valid_req(); p.reserved[3] = 1;
	expect_rejected("reserved != 0", KSMMOD_IOC_SET_PARAMS, &p, EINVAL);
	p = valid_req(); p.pad = 1;
	expect_rejected("pad != 0", KSMMOD_IOC_SET_PARAMS, &p, EINVAL);
	p = valid_req(); p.mask = KSMMOD_PARAM_MERGE_DOMAINS; p.merge_domains = 3;
	expect_rejected("merge_domains=3", KSMMOD_IOC_SET_PARAMS, &p, EINVAL);

	/* Sizes and pointers. */
	p = valid_req(); p.size = KSMMOD_PARAMS_SIZE_VER0 - 8;
	expect_rejected("size below VER0", KSMMOD_IOC_SET_PARAMS, &p, EINVAL);
	p = valid_req(); p.size = 0;
	expect_rejected("size 0", KSMMOD_IOC_SET_PARAMS, &p, EINVAL);
	p = valid_req(); p.size = 1 << 20;
	expect_rejected("size 1 MiB", KSMMOD_IOC_SET_PARAMS, &p, E2BIG);
	memset(big, 0, sizeof(big));
	p = valid_req(); p.size = sizeof(big);
	memcpy(big, &p, sizeof(p));
	big[sizeof(big) - 3] = 1;
	expect_rejected("larger struct, unknown byte set", KSMMOD_IOC_SET_PARAMS, big, E2BIG);
	expect_rejected("NULL pointer", KSMMOD_IOC_SET_PARAMS, NULL, EFAULT);
	expect_rejected("unmapped pointer", KSMMOD_IOC_SET_PARAMS, (void *)16, EFAULT);
	p = valid_req();
	expect_rejected("SET_PARAMS number with _IOWR direction",
			_IOWR(KSMMOD_IOC_TYPE, KSMMOD_NR_SET_PARAMS, struct ksmmod_params), &p, ENOTTY);

	/* GET_PARAMS input checks. */
	memset(&r, 0, sizeof(r)); r.size = sizeof(r); r.flags = 2;
	ktap_test_result(ksmt_ioctl(fd, KSMMOD_IOC_GET_PARAMS, &r) == -EINVAL, "GET_PARAMS flags != 0 -> EINVAL");
	ktap_test_result(ksmt_ioctl(fd, KSMMOD_IOC_GET_PARAMS, NULL) == -EFAULT, "GET_PARAMS NULL -> EFAULT");

	/* Accepted values, including the range limits. */
	SET_ONE(pages_to_scan, KSMMOD_PARAM_PAGES_TO_SCAN, UINT_MAX);
	SET_ONE(pages_to_scan, KSMMOD_PARAM_PAGES_TO_SCAN, 0);
	SET_ONE(sleep_millisecs, KSMMOD_PARAM_SLEEP_MILLISECS, UINT_MAX);
	SET_ONE(max_page_sharing, KSMMOD_PARAM_MAX_PAGE_SHARING, 2);
	SET_ONE(max_page_sharing, KSMMOD_PARAM_MAX_PAGE_SHARING, INT_MAX);
	SET_ONE(stable_node_chains_prune_millisecs, KSMMOD_PARAM_STABLE_NODE_CHAINS_PRUNE_MILLISECS, 0);
	SET_ONE(merge_across_nodes, KSMMOD_PARAM_MERGE_ACROSS_NODES, 0);
	SET_ONE(use_zero_pages, KSMMOD_PARAM_USE_ZERO_PAGES, 1);
	SET_ONE(densify_chains, KSMMOD_PARAM_DENSIFY_CHAINS, 0);
	SET_ONE(densify_chains, KSMMOD_PARAM_DENSIFY_CHAINS, 1);
	SET_ONE(smart_scan, KSMMOD_PARAM_SMART_SCAN, 0);
	SET_ONE(smart_scan, KSMMOD_PARAM_SMART_SCAN, 1);
	SET_ONE(merge_domains, KSMMOD_PARAM_MERGE_DOMAINS, KSMMOD_DOMAINS_UID);
	SET_ONE(merge_domains, KSMMOD_PARAM_MERGE_DOMAINS, KSMMOD_DOMAINS_CGROUP);
	SET_ONE(merge_domains, KSMMOD_PARAM_MERGE_DOMAINS, KSMMOD_DOMAINS_NONE);
	SET_ONE(advisor_max_cpu, KSMMOD_PARAM_ADVISOR_MAX_CPU, UINT_MAX);
	SET_ONE(advisor_max_cpu, KSMMOD_PARAM_ADVISOR_MAX_CPU, 70);
	SET_ONE(advisor_target_scan_time, KSMMOD_PARAM_ADVISOR_TARGET_SCAN_TIME, 1);
	SET_ONE(advisor_target_scan_time, KSMMOD_PARAM_ADVISOR_TARGET_SCAN_TIME, 200);
	SET_ONE(advisor_min_pages_to_scan, KSMMOD_PARAM_ADVISOR_MIN_PAGES_TO_SCAN, 0);
	SET_ONE(advisor_min_pages_to_scan, KSMMOD_PARAM_ADVISOR_MIN_PAGES_TO_SCAN, 500);
	SET_ONE(advisor_max_pages_to_scan, KSMMOD_PARAM_ADVISOR_MAX_PAGES_TO_SCAN, UINT_MAX);
	SET_ONE(advisor_max_pages_to_scan, KSMMOD_PARAM_ADVISOR_MAX_PAGES_TO_SCAN, 30000);
	SET_ONE(run, KSMMOD_PARAM_RUN, 2);

	/* Several fields at once, other fields untouched. */
	p = valid_req();
	p.mask = KSMMOD_PARAM_PAGES_TO_SCAN | KSMMOD_PARAM_SLEEP_MILLISECS;
	p.run = 1; /* not in mask: must be ignored */
	err = ksmt_set_params(fd, &p, p.mask);
	ksmt_get_params(fd, &r);
	ktap_test_result(!err && r.pages_to_scan == 1234 && r.sleep_millisecs == 7 && r.run == 2,
			 "masked multi-field set changes exactly the masked fields");

	/* Restore the defaults (one call). */
	p = defaults;
	err = ksmt_set_params(fd, &p, KSMMOD_PARAM_ALL);
	ksmt_get_params(fd, &r);
	ktap_test_result(!err && same_values(&r, &defaults), "defaults restored in one call");
	close(fd);
	return ktap_finished();
}
