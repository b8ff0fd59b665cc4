// SPDX-License-Identifier: GPL-2.0
/*
 * Loading and unloading: 20 clean load/unload cycles, and loads that must
 * fail (a required symbol that is missing, is data, or on an IBT kernel is
 * not a function entry) fail with a message naming the symbol and the kernel
 * release, leaving nothing behind. Leaves the module loaded.
 */
#include "ksmtest.h"

#define CYCLES 20

/* One load/unload cycle with checks; returns NULL or what went wrong. */
static const char *cycle(void)
{
	struct ksmmod_api a;
	struct stat st;
	int fd, err;

	err = ksmt_load(NULL);
	if (err)
		return "load failed";
	if (stat(KSMMOD_DEV, &st) || !S_ISCHR(st.st_mode) || (st.st_mode & 07777) != 0600 ||
	    st.st_uid != 0)
		return "/dev/ksmmod missing or not a 0600 root char device";
	fd = ksmt_open();
	memset(&a, 0, sizeof(a));
	a.size = sizeof(a);
	a.api_version = KSMMOD_API_VERSION;
	err = ksmt_ioctl(fd, KSMMOD_IOC_API, &a);
	close(fd);
	if (err || a.api_version != KSMMOD_API_VERSION)
		return "handshake failed";
	if (ksmt_unload())
		return "unload failed";
	if (ksmt_loaded() || access(KSMMOD_DEV, F_OK) == 0)
		return "module or device left behind after unload";
	return NULL;
}

/*
 * Load with require_symbol=@sym and expect it refused: -@expect_err, a kernel
 * message "<@msg_before>@sym<@msg_after>" and nothing left behind (3 results).
 */
static void refused_load(const char *sym, int expect_err, const char *msg_before,
			 const char *msg_after)
{
	char params[128], needle[256];
	int kfd = ksmt_kmsg_open();
	int err;

	snprintf(params, sizeof(params), "require_symbol=%s", sym);
	snprintf(needle, sizeof(needle), "%s%s%s", msg_before, sym, msg_after);
	err = ksmt_load(params);
	ktap_test_result(err == -expect_err, "%s: load fails with %s (got %s)", sym,
			 strerror(expect_err), err ? strerror(-err) : "success");
	ktap_test_result(ksmt_kmsg_contains(kfd, needle), "%s: kernel log says '%s'", sym, needle);
	close(kfd);
	ktap_test_result(!ksmt_loaded() && access(KSMMOD_DEV, F_OK) != 0 &&
			 access("/sys/kernel/debug/ksmmod", F_OK) != 0,
			 "%s: nothing left behind (module, device, debugfs)", sym);
	if (!err)
		ksmt_unload();
}

/* Whether the module checks ENDBR64 at symbol entries (kernel built with IBT). */
static bool kernel_has_ibt(void)
{
	static char buf[8192];

	if (ksmt_read_file("/sys/kernel/debug/ksmmod/symbols", buf, sizeof(buf)) <= 0)
		ktap_exit_fail_msg("cannot read /sys/kernel/debug/ksmmod/symbols");
	return !strstr(buf, " plain");
}

int main(void)
{
	char after[160];
	const char *why = NULL;
	bool ibt;
	int i, err;

	ktap_print_header(12);

	if (ksmt_loaded())
		ksmt_unload();
	for (i = 0; i < CYCLES && !why; i++)
		why = cycle();
	ktap_test_result(!why, "%d load/unload cycles%s%s (cycle %d)", CYCLES, why ? ": " : "",
			 why ? why : "", i);

	snprintf(after, sizeof(after), " not found in kernel %s", ksmt_release());
	refused_load("ksmmod_no_such_symbol", ENOENT, "required kernel symbol ", after);

	snprintf(after, sizeof(after), " in %s is not in the kernel's text", ksmt_release());
	refused_load("jiffies", EINVAL, "kernel symbol ", after);

	err = ksmt_load(NULL);
	ktap_test_result(!err, "loads again after refused loads (%s)", err ? strerror(-err) : "ok");
	ibt = kernel_has_ibt();

	/* A label inside the syscall entry code: in the text, but no ENDBR64. */
	if (ibt) {
		ksmt_unload();
		snprintf(after, sizeof(after), " in %s does not start like a function",
			 ksmt_release());
		refused_load("entry_SYSCALL_64_after_hwframe", EINVAL, "kernel symbol ", after);
		err = ksmt_load(NULL);
	} else {
		for (i = 0; i < 3; i++)
			ktap_test_skip("entry_SYSCALL_64_after_hwframe refused as not a function entry",
				       "kernel built without CONFIG_X86_KERNEL_IBT: no ENDBR64 to check");
	}
	ktap_test_result(!err && access(KSMMOD_DEV, F_OK) == 0,
			 "module loaded and /dev/ksmmod present at the end");
	return ktap_finished();
}
