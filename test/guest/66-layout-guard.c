// SPDX-License-Identifier: GPL-2.0
/*
 * The load-time layout guard (src/layout.c): the module compares its stable
 * node and rmap item layout with the running kernel's BTF before anything is
 * merged, and refuses to load on any difference, naming the struct and the
 * field. The test-only parameter layout_perturb=struct.field moves one
 * expected offset by 8 bytes, and =-struct.member makes ksmmod forget one
 * member (as a kernel with a new member looks): the load must fail with
 * EINVAL and the message, and leave nothing behind; the plain load must
 * then succeed.
 *
 * On a kernel without BTF (the debug lane) nothing can be compared: the load
 * must be refused unless layout_unverified=1 is given, and succeed with it.
 */
#include "ksmtest.h"

#define BTF	"/sys/kernel/btf/vmlinux"

/* Load with @params (exactly); expect -EINVAL and @msg in the kernel log. */
static void refused(const char *params, const char *msg)
{
	int kmsg = ksmt_kmsg_open();
	int err = ksmt_load_raw(params);
	bool said = ksmt_kmsg_contains(kmsg, msg);

	close(kmsg);
	ktap_test_result(err == -EINVAL && said && !ksmt_loaded(),
			 "load with '%s' refused: %s, log %s \"%s\"", params,
			 err ? strerror(-err) : "loaded", said ? "says" : "does not say", msg);
	if (!err)
		ksmt_unload();
}

int main(void)
{
	int err;

	ktap_print_header(4);
	if (ksmt_loaded() && ksmt_unload())
		ktap_exit_fail_msg("cannot unload ksmmod");

	if (access(BTF, F_OK)) {
		ktap_print_msg("no %s: the guard cannot compare anything here", BTF);
		refused("", "cannot read " BTF);
		refused("dropin=0", "layout_unverified=1 overrides");
		refused("layout_perturb=-ksm_rmap_item.address", "cannot read " BTF);
		err = ksmt_load_raw("layout_unverified=1");
		ktap_test_result(!err, "load with layout_unverified=1 (%s)", err ? strerror(-err) : "ok");
		return ktap_finished();
	}
	refused("layout_perturb=ksm_rmap_item.mm",
		"struct ksm_rmap_item field mm is at offset 16 (8 bytes) in this kernel, ksmmod expects 24 (8 bytes)");
	refused("layout_perturb=ksm_stable_node.kpfn",
		"struct ksm_stable_node field kpfn is at offset 48 (8 bytes) in this kernel, ksmmod expects 56 (8 bytes)");
	refused("layout_perturb=-ksm_rmap_item.address",
		"struct ksm_rmap_item has a member address in this kernel that ksmmod does not know");
	err = ksmt_load_raw(NULL);
	ktap_test_result(!err && ksmt_loaded(), "load checked against this kernel's BTF (%s)",
			 err ? strerror(-err) : "ok");
	return ktap_finished();
}
