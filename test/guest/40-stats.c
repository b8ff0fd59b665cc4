// SPDX-License-Identifier: GPL-2.0
/*
 * Counters (KSMMOD_IOC_GET_STATS): all zero with nothing registered, and the
 * input checks of the command.
 */
#include "ksmtest.h"

int main(void)
{
	struct ksmmod_stats s;
	int fd, err;

	ktap_print_header(6);
	ksmt_ensure_loaded();
	fd = ksmt_open();

	err = ksmt_get_stats(fd, &s);
	ktap_test_result(!err && s.size == sizeof(s), "GET_STATS succeeds, size %u", s.size);
	ktap_test_result(!s.pages_shared && !s.pages_sharing && !s.pages_unshared &&
			 !s.pages_volatile && !s.pages_scanned && !s.pages_skipped &&
			 !s.full_scans && !s.stable_node_chains && !s.stable_node_dups &&
			 !s.ksm_zero_pages && !s.rmap_items && !s.general_profit,
			 "every counter is zero with nothing registered");
	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	s.flags = 1;
	ktap_test_result(ksmt_ioctl(fd, KSMMOD_IOC_GET_STATS, &s) == -EINVAL, "flags != 0 -> EINVAL");
	memset(&s, 0, sizeof(s));
	s.size = 8;
	ktap_test_result(ksmt_ioctl(fd, KSMMOD_IOC_GET_STATS, &s) == -EINVAL, "size 8 -> EINVAL");
	ktap_test_result(ksmt_ioctl(fd, KSMMOD_IOC_GET_STATS, NULL) == -EFAULT, "NULL -> EFAULT");
	ktap_test_result(ksmt_ioctl(fd, _IOR(KSMMOD_IOC_TYPE, KSMMOD_NR_GET_STATS,
					     struct ksmmod_stats), &s) == -ENOTTY,
			 "GET_STATS number with _IOR direction -> ENOTTY");
	close(fd);
	return ktap_finished();
}
