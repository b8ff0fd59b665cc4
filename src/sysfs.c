// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod sysfs: /sys/kernel/mm/ksmmod, a mirror of /sys/kernel/mm/ksm.
 *
 * DOC: sysfs
 *
 * Every knob and counter ksmmod has appears under /sys/kernel/mm/ksmmod with
 * the file name, format, permissions and write semantics of the file of the
 * same name in /sys/kernel/mm/ksm (mm/ksm.c), so a tool written for KSM works
 * by changing one path. Writes go through the same validation as
 * KSMMOD_IOC_SET_PARAMS (src/params.c): a rejected write changes nothing,
 * writing run=2 unmerges everything before returning, max_page_sharing and
 * merge_across_nodes return EBUSY while pages are merged. The ioctl
 * interface stays the primary API; this is for compatibility.
 */
#include <linux/kobject.h>
#include <linux/mm.h>
#include <linux/stddef.h>
#include <linux/string.h>
#include <linux/sysfs.h>

#include "ksmmod/ksmmod.h"
#include "ksmmod/symbols.h"

/**
 * enum ksmmod_knob_parse - how a knob's file parses a write, as mm/ksm.c does
 * @KSMMOD_PARSE_UINT: kstrtouint(); any error is EINVAL
 * @KSMMOD_PARSE_INT: kstrtoint(); its error is returned as is
 * @KSMMOD_PARSE_ULONG: kstrtoul(); its error is returned as is
 * @KSMMOD_PARSE_BOOL: kstrtobool(); its error is returned as is
 * @KSMMOD_PARSE_ULONG_EINVAL: kstrtoul(); any error is EINVAL (the advisor's
 *	files; mm/ksm.c keeps unsigned longs there, ksmmod refuses values above
 *	U32_MAX, which would not fit pages_to_scan)
 * @KSMMOD_PARSE_WORD: one of the knob's words (its value is the word's
 *	index); anything else is EINVAL. Read, the file lists every word with
 *	the current one in brackets, as mm/ksm.c's advisor_mode does.
 */
enum ksmmod_knob_parse {
	KSMMOD_PARSE_UINT,
	KSMMOD_PARSE_INT,
	KSMMOD_PARSE_ULONG,
	KSMMOD_PARSE_BOOL,
	KSMMOD_PARSE_ULONG_EINVAL,
	KSMMOD_PARSE_WORD,
};

/**
 * struct ksmmod_knob - a read-write file backed by a tunable
 * @attr: the sysfs attribute
 * @bit: its KSMMOD_PARAM_* bit
 * @offset: offset of its u32 in struct ksmmod_params
 * @parse: how writes are parsed
 * @words: with KSMMOD_PARSE_WORD: the words, NULL-terminated
 */
struct ksmmod_knob {
	struct kobj_attribute attr;
	u64 bit;
	size_t offset;
	enum ksmmod_knob_parse parse;
	const char * const *words;
};

/**
 * struct ksmmod_counter_file - a read-only file backed by a counter
 * @attr: the sysfs attribute
 * @offset: offset of its u64 in struct ksmmod_stats
 * @is_signed: printed as a signed number (general_profit)
 */
struct ksmmod_counter_file {
	struct kobj_attribute attr;
	size_t offset;
	bool is_signed;
};

static ssize_t ksmmod_knob_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	struct ksmmod_knob *k = container_of(attr, struct ksmmod_knob, attr);
	struct ksmmod_params p = { };

	u32 val, i;
	int len = 0;

	ksmmod_params_get(&p);
	val = *(u32 *)((char *)&p + k->offset);
	if (k->parse != KSMMOD_PARSE_WORD)
		return sysfs_emit(buf, "%u\n", val);
	for (i = 0; k->words[i]; i++)
		len += sysfs_emit_at(buf, len, i == val ? "%s[%s]" : "%s%s", i ? " " : "",
				     k->words[i]);
	return len + sysfs_emit_at(buf, len, "\n");
}

/* Parse @buf as the kernel's file of the same name does. */
static int ksmmod_knob_parse(const struct ksmmod_knob *k, const char *buf, u32 *val)
{
	unsigned long ul;
	unsigned int u;
	bool b;
	int i, err;

	switch (k->parse) {
	case KSMMOD_PARSE_UINT:
		if (kstrtouint(buf, 10, &u))
			return -EINVAL;
		*val = u;
		return 0;
	case KSMMOD_PARSE_INT:
		err = kstrtoint(buf, 10, &i);
		if (err)
			return err;
		if (i < 0)
			return -EINVAL;
		*val = i;
		return 0;
	case KSMMOD_PARSE_ULONG:
		err = kstrtoul(buf, 10, &ul);
		if (err)
			return err;
		if (ul > U32_MAX)
			return -EINVAL;
		*val = ul;
		return 0;
	case KSMMOD_PARSE_BOOL:
		err = kstrtobool(buf, &b);
		if (err)
			return err;
		*val = b;
		return 0;
	case KSMMOD_PARSE_ULONG_EINVAL:
		if (kstrtoul(buf, 10, &ul) || ul > U32_MAX)
			return -EINVAL;
		*val = ul;
		return 0;
	case KSMMOD_PARSE_WORD:
		for (u = 0; k->words[u]; u++) {
			if (sysfs_streq(buf, k->words[u])) {
				*val = u;
				return 0;
			}
		}
		return -EINVAL;
	}
	return -EINVAL;
}

static ssize_t ksmmod_knob_store(struct kobject *kobj, struct kobj_attribute *attr,
				 const char *buf, size_t count)
{
	struct ksmmod_knob *k = container_of(attr, struct ksmmod_knob, attr);
	struct ksmmod_params p = { };
	int err;

	err = ksmmod_knob_parse(k, buf, (u32 *)((char *)&p + k->offset));
	if (err)
		return err;
	p.mask = k->bit;
	err = ksmmod_params_set(&p);
	return err ? err : count;
}

static ssize_t ksmmod_counter_show(struct kobject *kobj, struct kobj_attribute *attr, char *buf)
{
	struct ksmmod_counter_file *c = container_of(attr, struct ksmmod_counter_file, attr);
	struct ksmmod_stats s = { };
	u64 v;

	ksmmod_stats_get(&s);
	v = *(u64 *)((char *)&s + c->offset);
	if (c->is_signed)
		return sysfs_emit(buf, "%lld\n", (s64)v);
	return sysfs_emit(buf, "%llu\n", v);
}

#define KSMMOD_KNOB(_name, _bit, _parse)					\
	static struct ksmmod_knob ksmmod_knob_##_name = {			\
		.attr = __ATTR(_name, 0644, ksmmod_knob_show, ksmmod_knob_store), \
		.bit = _bit,							\
		.offset = offsetof(struct ksmmod_params, _name),		\
		.parse = _parse,						\
	}

#define KSMMOD_WORD_KNOB(_name, _bit, ...)					\
	static const char * const ksmmod_words_##_name[] = { __VA_ARGS__, NULL }; \
	static struct ksmmod_knob ksmmod_knob_##_name = {			\
		.attr = __ATTR(_name, 0644, ksmmod_knob_show, ksmmod_knob_store), \
		.bit = _bit,							\
		.offset = offsetof(struct ksmmod_params, _name),		\
		.parse = KSMMOD_PARSE_WORD,					\
		.words = ksmmod_words_##_name,					\
	}

#define KSMMOD_COUNTER(_name, _signed)						\
	static struct ksmmod_counter_file ksmmod_counter_##_name = {		\
		.attr = __ATTR(_name, 0444, ksmmod_counter_show, NULL),		\
		.offset = offsetof(struct ksmmod_stats, _name),			\
		.is_signed = _signed,						\
	}

KSMMOD_KNOB(run, KSMMOD_PARAM_RUN, KSMMOD_PARSE_UINT);
KSMMOD_KNOB(pages_to_scan, KSMMOD_PARAM_PAGES_TO_SCAN, KSMMOD_PARSE_UINT);
KSMMOD_KNOB(sleep_millisecs, KSMMOD_PARAM_SLEEP_MILLISECS, KSMMOD_PARSE_UINT);
KSMMOD_KNOB(max_page_sharing, KSMMOD_PARAM_MAX_PAGE_SHARING, KSMMOD_PARSE_INT);
KSMMOD_KNOB(stable_node_chains_prune_millisecs,
	    KSMMOD_PARAM_STABLE_NODE_CHAINS_PRUNE_MILLISECS, KSMMOD_PARSE_UINT);
KSMMOD_KNOB(merge_across_nodes, KSMMOD_PARAM_MERGE_ACROSS_NODES, KSMMOD_PARSE_ULONG);
KSMMOD_KNOB(use_zero_pages, KSMMOD_PARAM_USE_ZERO_PAGES, KSMMOD_PARSE_BOOL);
KSMMOD_KNOB(densify_chains, KSMMOD_PARAM_DENSIFY_CHAINS, KSMMOD_PARSE_BOOL);
KSMMOD_KNOB(smart_scan, KSMMOD_PARAM_SMART_SCAN, KSMMOD_PARSE_BOOL);
KSMMOD_KNOB(advisor_max_cpu, KSMMOD_PARAM_ADVISOR_MAX_CPU, KSMMOD_PARSE_ULONG_EINVAL);
KSMMOD_KNOB(advisor_target_scan_time, KSMMOD_PARAM_ADVISOR_TARGET_SCAN_TIME,
	    KSMMOD_PARSE_ULONG_EINVAL);
KSMMOD_KNOB(advisor_min_pages_to_scan, KSMMOD_PARAM_ADVISOR_MIN_PAGES_TO_SCAN,
	    KSMMOD_PARSE_ULONG_EINVAL);
KSMMOD_KNOB(advisor_max_pages_to_scan, KSMMOD_PARAM_ADVISOR_MAX_PAGES_TO_SCAN,
	    KSMMOD_PARSE_ULONG_EINVAL);

/* Words, indexed by value (KSMMOD_ADVISOR_*, KSMMOD_DOMAINS_*), as mm/ksm.c's advisor_mode. */
KSMMOD_WORD_KNOB(advisor_mode, KSMMOD_PARAM_ADVISOR_MODE, "none", "scan-time");
KSMMOD_WORD_KNOB(merge_domains, KSMMOD_PARAM_MERGE_DOMAINS, "none", "uid", "cgroup");

KSMMOD_COUNTER(pages_shared, false);
KSMMOD_COUNTER(pages_sharing, false);
KSMMOD_COUNTER(pages_unshared, false);
KSMMOD_COUNTER(pages_volatile, false);
KSMMOD_COUNTER(pages_scanned, false);
KSMMOD_COUNTER(pages_skipped, false);
KSMMOD_COUNTER(full_scans, false);
KSMMOD_COUNTER(stable_node_chains, false);
KSMMOD_COUNTER(stable_node_dups, false);
KSMMOD_COUNTER(ksm_zero_pages, false);
KSMMOD_COUNTER(general_profit, true);
KSMMOD_COUNTER(stable_node_dup_mappings, false);
KSMMOD_COUNTER(densify_moves, false);
KSMMOD_COUNTER(ineligible_pages, false);
KSMMOD_COUNTER(merge_pinned, false);
KSMMOD_COUNTER(thp_unsplittable, false);

static struct attribute *ksmmod_sysfs_attrs[] = {
	&ksmmod_knob_run.attr.attr,
	&ksmmod_knob_pages_to_scan.attr.attr,
	&ksmmod_knob_sleep_millisecs.attr.attr,
	&ksmmod_knob_max_page_sharing.attr.attr,
	&ksmmod_knob_stable_node_chains_prune_millisecs.attr.attr,
	&ksmmod_knob_merge_across_nodes.attr.attr,
	&ksmmod_knob_use_zero_pages.attr.attr,
	&ksmmod_knob_densify_chains.attr.attr,
	&ksmmod_knob_smart_scan.attr.attr,
	&ksmmod_knob_advisor_mode.attr.attr,
	&ksmmod_knob_advisor_max_cpu.attr.attr,
	&ksmmod_knob_advisor_target_scan_time.attr.attr,
	&ksmmod_knob_advisor_min_pages_to_scan.attr.attr,
	&ksmmod_knob_advisor_max_pages_to_scan.attr.attr,
	&ksmmod_knob_merge_domains.attr.attr,
	&ksmmod_counter_pages_shared.attr.attr,
	&ksmmod_counter_pages_sharing.attr.attr,
	&ksmmod_counter_pages_unshared.attr.attr,
	&ksmmod_counter_pages_volatile.attr.attr,
	&ksmmod_counter_pages_scanned.attr.attr,
	&ksmmod_counter_pages_skipped.attr.attr,
	&ksmmod_counter_full_scans.attr.attr,
	&ksmmod_counter_stable_node_chains.attr.attr,
	&ksmmod_counter_stable_node_dups.attr.attr,
	&ksmmod_counter_ksm_zero_pages.attr.attr,
	&ksmmod_counter_general_profit.attr.attr,
	&ksmmod_counter_stable_node_dup_mappings.attr.attr,
	&ksmmod_counter_densify_moves.attr.attr,
	&ksmmod_counter_ineligible_pages.attr.attr,
	&ksmmod_counter_merge_pinned.attr.attr,
	&ksmmod_counter_thp_unsplittable.attr.attr,
	NULL,
};

static const struct attribute_group ksmmod_sysfs_group = {
	.attrs = ksmmod_sysfs_attrs,
};

static struct kobject *ksmmod_kobj;

/**
 * ksmmod_sysfs_init() - create /sys/kernel/mm/ksmmod
 *
 * Return: 0 or a negative errno.
 */
int ksmmod_sysfs_init(void)
{
	int err;

	ksmmod_kobj = kobject_create_and_add("ksmmod", *kvar_mm_kobj);
	if (!ksmmod_kobj)
		return -ENOMEM;
	err = sysfs_create_group(ksmmod_kobj, &ksmmod_sysfs_group);
	if (err) {
		kobject_put(ksmmod_kobj);
		ksmmod_kobj = NULL;
	}
	return err;
}

void ksmmod_sysfs_exit(void)
{
	if (!ksmmod_kobj)
		return;
	sysfs_remove_group(ksmmod_kobj, &ksmmod_sysfs_group);
	kobject_put(ksmmod_kobj);
	ksmmod_kobj = NULL;
}
