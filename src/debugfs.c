// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod debugfs: /sys/kernel/debug/ksmmod/, for developers and tests.
 *
 * symbols: the resolved-symbol table of the symbol layer, one line per
 * symbol ("name resolved endbr|sealed|plain"); addresses are not shown.
 * layout: offset and size of every field of ksmmod's stable nodes and rmap
 * items that the kernel itself reads, under mm/ksm.c's names
 * ("ksm_rmap_item.hlist 48 16"), so a test can compare them with the running
 * kernel's BTF.
 * scanner: "batches N", the scanner's batches so far (a test bounds the
 * batches a full scan of sparse memory takes).
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "ksmmod/ksmmod.h"
#include "ksmmod/layout.h"
#include "ksmmod/symbols.h"

static struct dentry *ksmmod_debugfs_dir;

DEFINE_SHOW_ATTRIBUTE(ksmmod_symbols);

static const struct ksmmod_layout_field ksmmod_layout_fields[] = KSMMOD_LAYOUT_FIELDS;

static int ksmmod_layout_show(struct seq_file *m, void *unused)
{
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ksmmod_layout_fields); i++)
		seq_printf(m, "%s.%s %u %u\n", ksmmod_layout_fields[i].kstruct,
			   ksmmod_layout_fields[i].member, ksmmod_layout_fields[i].offset,
			   ksmmod_layout_fields[i].size);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ksmmod_layout);

static int ksmmod_scanner_show(struct seq_file *m, void *unused)
{
	seq_printf(m, "batches %lld\n", (long long)atomic64_read(&ksmmod_counters.scan_batches));
	seq_printf(m, "merge_runs %lld\n", (long long)atomic64_read(&ksmmod_counters.merge_runs));
	seq_printf(m, "merge_run_pages %lld\n",
		   (long long)atomic64_read(&ksmmod_counters.merge_run_pages));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ksmmod_scanner);

/**
 * ksmmod_debugfs_init() - create /sys/kernel/debug/ksmmod
 *
 * debugfs is optional: failures are ignored, as debugfs users are expected to.
 */
void ksmmod_debugfs_init(void)
{
	ksmmod_debugfs_dir = debugfs_create_dir(KBUILD_MODNAME, NULL);
	debugfs_create_file("symbols", 0400, ksmmod_debugfs_dir, NULL,
			    &ksmmod_symbols_fops);
	debugfs_create_file("layout", 0400, ksmmod_debugfs_dir, NULL,
			    &ksmmod_layout_fops);
	debugfs_create_file("scanner", 0400, ksmmod_debugfs_dir, NULL,
			    &ksmmod_scanner_fops);
}

void ksmmod_debugfs_exit(void)
{
	debugfs_remove_recursive(ksmmod_debugfs_dir);
}
