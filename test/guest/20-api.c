// SPDX-License-Identifier: GPL-2.0
/*
 * The version/feature handshake (KSMMOD_IOC_API) and the growable-struct
 * rules shared by every command: older and newer struct sizes, bad sizes,
 * reserved fields, bad pointers, unknown commands.
 */
#include "ksmtest.h"

static struct ksmmod_api api_req(void)
{
	struct ksmmod_api a;

	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.api_version = KSMMOD_API_VERSION;
	return a;
}

int main(void)
{
	char ver[64], big[256];
	struct ksmmod_api a;
	int fd, err;

	ktap_print_header(23);
	ksmt_ensure_loaded();
	fd = ksmt_open();

	a = api_req();
	err = ksmt_ioctl(fd, KSMMOD_IOC_API, &a);
	ktap_test_result(!err, "KSMMOD_IOC_API succeeds (%s)", err ? strerror(-err) : "ok");
	ktap_test_result(a.size == sizeof(a), "size written back = %u", a.size);
	ktap_test_result(a.api_version == KSMMOD_API_VERSION, "api_version = %u", a.api_version);
	ktap_test_result(a.features == KSMMOD_FEATURES_ALL, "features = %#llx",
			 (unsigned long long)a.features);
	ktap_test_result(a.ioctls == 0x7ff,
			 "ioctls mask = %#llx (API, GET/SET_PARAMS, GET_STATS, MERGE/UNMERGE_RANGE, ADD/REMOVE_PROCESS, PROCESS_STATS, SET_DOMAIN, DOMAIN_STATS)",
			 (unsigned long long)a.ioctls);
	ktap_test_result(!strcmp(a.kernel_release, ksmt_release()), "kernel_release '%s' = uname '%s'",
			 a.kernel_release, ksmt_release());
	ksmt_read_file("/sys/module/ksmmod/version", ver, sizeof(ver));
	ver[strcspn(ver, "\n")] = '\0';
	ktap_test_result(ver[0] && !strcmp(a.module_version, ver),
			 "module_version '%s' = /sys/module/ksmmod/version '%s'", a.module_version, ver);
	ktap_test_result(!a.flags && !a.pad && !a.reserved[0] && !a.reserved[3],
			 "output padding and reserved fields are zero");

	/* A newer caller: bigger struct, zero tail accepted; non-zero tail E2BIG. */
	memset(big, 0, sizeof(big));
	a = api_req();
	a.size = sizeof(big);
	memcpy(big, &a, sizeof(a));
	err = ksmt_ioctl(fd, KSMMOD_IOC_API, big);
	memcpy(&a, big, sizeof(a));
	ktap_test_result(!err && a.size == sizeof(a) && a.api_version == KSMMOD_API_VERSION,
			 "larger struct with zero tail accepted, %zu bytes written", sizeof(a));
	big[sizeof(big) - 1] = 1;
	a = api_req();
	a.size = sizeof(big);
	memcpy(big, &a, sizeof(a));
	ktap_test_result(ksmt_ioctl(fd, KSMMOD_IOC_API, big) == -E2BIG,
			 "larger struct with non-zero unknown bytes -> E2BIG");

	a = api_req();
	a.size = KSMMOD_API_SIZE_VER0 - 8;
	ktap_test_result(ksmt_ioctl(fd, KSMMOD_IOC_API, &a) == -EINVAL, "size below VER0 -> EINVAL");
	a = api_req();
	a.size = 0;
	ktap_test_result(ksmt_ioctl(fd, KSMMOD_IOC_API, &a) == -EINVAL, "size 0 -> EINVAL");
	a = api_req();
	a.size = 1 << 20;
	ktap_test_result(ksmt_ioctl(fd, KSMMOD_IOC_API, &a) == -E2BIG, "size 1 MiB -> E2BIG");
	a = api_req();
	a.api_version = 0;
	ktap_test_result(ksmt_ioctl(fd, KSMMOD_IOC_API, &a) == -EINVAL, "api_version 0 -> EINVAL");
	a = api_req();
	a.flags = 1;
	ktap_test_result(ksmt_ioctl(fd, KSMMOD_IOC_API, &a) == -EINVAL, "flags != 0 -> EINVAL");
	a = api_req();
	a.reserved[2] = 1;
	ktap_test_result(ksmt_ioctl(fd, KSMMOD_IOC_API, &a) == -EINVAL, "reserved != 0 -> EINVAL");
	ktap_test_result(ksmt_ioctl(fd, KSMMOD_IOC_API, NULL) == -EFAULT, "NULL argument -> EFAULT");
	ktap_test_result(ksmt_ioctl(fd, KSMMOD_IOC_API, (void *)8) == -EFAULT,
			 "unmapped argument -> EFAULT");

	/* GET_PARAMS takes no input but must still refuse non-zero reserved fields. */
	{
		struct ksmmod_params p;

		memset(&p, 0, sizeof(p));
		p.size = sizeof(p);
		p.reserved[3] = 1;
		ktap_test_result(ksmt_ioctl(fd, KSMMOD_IOC_GET_PARAMS, &p) == -EINVAL && p.run == 0 &&
				 p.reserved[3] == 1,
				 "GET_PARAMS with reserved != 0 -> EINVAL, nothing written");
	}

	/* Unknown commands. */
	ktap_test_result(ksmt_ioctl(fd, _IOWR(KSMMOD_IOC_TYPE, 0x3f, struct ksmmod_api), &a) == -ENOTTY,
			 "unknown command number -> ENOTTY");
	ktap_test_result(ksmt_ioctl(fd, _IOWR('k', KSMMOD_NR_API, struct ksmmod_api), &a) == -ENOTTY,
			 "wrong ioctl type -> ENOTTY");
	ktap_test_result(ksmt_ioctl(fd, _IOR(KSMMOD_IOC_TYPE, KSMMOD_NR_SET_PARAMS,
					     struct ksmmod_params), &a) == -ENOTTY,
			 "known number with wrong direction -> ENOTTY");
	ktap_test_result(ksmt_ioctl(fd, _IO(KSMMOD_IOC_TYPE, KSMMOD_NR_API), NULL) == -ENOTTY,
			 "_IO form of a struct command -> ENOTTY");
	close(fd);
	return ktap_finished();
}
