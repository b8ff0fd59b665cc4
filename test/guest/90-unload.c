// SPDX-License-Identifier: GPL-2.0
/*
 * Final unload: the module goes away cleanly after every other test, and
 * takes its device and debugfs directory with it.
 */
#include "ksmtest.h"

int main(void)
{
	int err;

	ktap_print_header(2);
	ksmt_ensure_loaded();
	err = ksmt_unload();
	ktap_test_result(!err, "rmmod ksmmod (%s)", err ? strerror(-err) : "ok");
	ktap_test_result(!ksmt_loaded() && access(KSMMOD_DEV, F_OK) != 0 &&
			 access("/sys/kernel/debug/ksmmod", F_OK) != 0,
			 "module, /dev/ksmmod and debugfs directory are gone");
	return ktap_finished();
}
