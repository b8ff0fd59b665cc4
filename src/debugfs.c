// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod debugfs: /sys/kernel/debug/ksmmod/, for developers and tests.
 *
 * symbols: the resolved-symbol table of the symbol layer, one line per
 * symbol ("name resolved endbr|sealed|plain"); addresses are not shown.
 */
#include <linux/debugfs.h>
#include <linux/seq_file.h>

#include "ksmmod/ksmmod.h"
#include "ksmmod/symbols.h"

static struct dentry *ksmmod_debugfs_dir;

DEFINE_SHOW_ATTRIBUTE(ksmmod_symbols);

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
}

void ksmmod_debugfs_exit(void)
{
	debugfs_remove_recursive(ksmmod_debugfs_dir);
}
