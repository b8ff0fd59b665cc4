// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod: Kernel Samepage Merging as a loadable module.
 *
 * DOC: Overview
 *
 * ksmmod brings memory deduplication to stock distribution kernels without a
 * kernel patch. Its pieces, one file each:
 *
 * - symbols.c: the symbol layer, the only way ksmmod reaches non-exported
 *   kernel functions (resolved at load, called through IBT-safe thunks);
 * - params.c: the tunables, with /sys/kernel/mm/ksm names and ranges;
 * - stats.c: the counters;
 * - dev.c: /dev/ksmmod and its ioctls, the control API;
 * - debugfs.c: developer views (the resolved-symbol table).
 *
 * Initialisation runs in dependency order and unwinds completely on failure:
 * a module that cannot run on this kernel refuses to load and leaves nothing
 * behind.
 */
#include <linux/module.h>
#include <linux/utsname.h>

#include "ksmmod/ksmmod.h"
#include "ksmmod/symbols.h"

static int __init ksmmod_init(void)
{
	int err;

	err = ksmmod_symbols_init();
	if (err)
		goto fail;

	ksmmod_debugfs_init();

	err = ksmmod_dev_init();
	if (err) {
		pr_err("cannot register /dev/%s: %d\n", KSMMOD_DEVICE_NAME, err);
		goto fail_debugfs;
	}

	pr_info("version %s loaded on %s\n", KSMMOD_VERSION, init_utsname()->release);
	return 0;

fail_debugfs:
	ksmmod_debugfs_exit();
fail:
	pr_err("not loaded on kernel %s (error %d)\n", init_utsname()->release, err);
	return err;
}

static void __exit ksmmod_exit(void)
{
	ksmmod_dev_exit();
	ksmmod_debugfs_exit();
	pr_info("unloaded\n");
}

module_init(ksmmod_init);
module_exit(ksmmod_exit);

MODULE_LICENSE("GPL");
MODULE_AUTHOR("ksmmod developers");
MODULE_DESCRIPTION("Kernel Samepage Merging as a loadable module");
MODULE_VERSION(KSMMOD_VERSION);
