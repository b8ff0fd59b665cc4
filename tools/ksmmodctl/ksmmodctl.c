// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmodctl - control the ksmmod kernel module through /dev/ksmmod.
 *
 *   ksmmodctl [-d PATH] version
 *   ksmmodctl [-d PATH] status [--raw | --json] [PID | --domains]
 *   ksmmodctl [-d PATH] metrics
 *   ksmmodctl [-d PATH] watch [--interval SECONDS] [--count N]
 *   ksmmodctl [-d PATH] set NAME=VALUE...
 *   ksmmodctl [-d PATH] apply [--check] FILE
 *   ksmmodctl [-d PATH] merge|unmerge PID ADDR LENGTH
 *   ksmmodctl [-d PATH] add [--domain ID] PID
 *   ksmmodctl [-d PATH] remove PID
 *   ksmmodctl [-d PATH] run [--domain ID] [--] CMD [ARGS...]
 *   ksmmodctl help
 *
 * Exit status: 0 success, 1 error, 2 usage error (bad command line); run
 * exits with CMD's status, or 126 (CMD cannot be executed) or 127 (CMD not
 * found) as env(1) does.
 */
#include "ksmmodctl.h"

/* The UAPI promises these sizes; catch a header that breaks them. */
_Static_assert(sizeof(struct ksmmod_api) == KSMMOD_API_SIZE_VER0, "ksmmod_api size");
_Static_assert(sizeof(struct ksmmod_params) == KSMMOD_PARAMS_SIZE_VER0, "ksmmod_params size");
_Static_assert(sizeof(struct ksmmod_stats) == KSMMOD_STATS_SIZE_VER0, "ksmmod_stats size");
_Static_assert(sizeof(struct ksmmod_range) == KSMMOD_RANGE_SIZE_VER0, "ksmmod_range size");
_Static_assert(sizeof(struct ksmmod_process) == KSMMOD_PROCESS_SIZE_VER0, "ksmmod_process size");

const char *device = DEFAULT_DEVICE;

/* Print the help text on @f. */
static void usage(FILE *f)
{
	fprintf(f,
		"usage: ksmmodctl [-d PATH | --device PATH] COMMAND [ARGS]\n"
		"\n"
		"Control the ksmmod kernel module (Kernel Samepage Merging).\n"
		"\n"
		"commands:\n"
		"  version              show module API version, features and ioctls\n"
		"  status [--raw|--json]\n"
		"                       show all parameters and counters\n"
		"  status [--raw|--json] PID\n"
		"                       show what ksmmod does for process PID\n"
		"                       (--raw: 'name value' lines only; --json: one\n"
		"                       JSON object)\n"
		"  status [--raw|--json] --domains\n"
		"                       show each merge domain's processes, pages\n"
		"                       and profit (needs CAP_SYS_ADMIN)\n"
		"  metrics              parameters, counters and each process's profit\n"
		"                       in the Prometheus text format (node_exporter's\n"
		"                       textfile collector)\n"
		"  watch [--interval SECONDS] [--count N]\n"
		"                       live view, redrawn every SECONDS (default 1):\n"
		"                       memory saved and its rate, scan progress\n"
		"                       (estimated) and pace, ksmmodd's CPU share, the\n"
		"                       processes saving most; q or Ctrl-C quits, --count\n"
		"                       after N frames (no terminal: frames follow on)\n"
		"  set NAME=VALUE...    change parameters, all or none\n"
		"                       (run also accepts stop, merge, unmerge;\n"
		"                       advisor_mode none, scan-time; merge_domains\n"
		"                       none, uid, cgroup)\n"
		"  apply [--check] FILE set the parameters of a configuration file\n"
		"                       (NAME = VALUE lines, # comments), all or none;\n"
		"                       --check: only check the file\n"
		"  merge PID ADDR LENGTH\n"
		"                       make process PID's private anonymous memory in\n"
		"                       ADDR..ADDR+LENGTH mergeable (like MADV_MERGEABLE)\n"
		"  unmerge PID ADDR LENGTH\n"
		"                       undo merge for that range: merged pages become\n"
		"                       private copies again (like MADV_UNMERGEABLE)\n"
		"  add [--domain ID] PID\n"
		"                       make all private anonymous memory process PID\n"
		"                       has now mergeable; --domain: merge it only with\n"
		"                       processes of merge domain ID (its merged pages\n"
		"                       are unmerged first; ID 0: the domain\n"
		"                       merge_domains gives; needs CAP_SYS_ADMIN)\n"
		"  remove PID           unmerge and forget all memory of process PID\n"
		"  run [--domain ID] [--] CMD [ARGS...]\n"
		"                       run CMD with all its private anonymous memory\n"
		"                       mergeable, including memory it maps later, its\n"
		"                       children's and what it execs (--domain: all in\n"
		"                       merge domain ID)\n"
		"  help                 show this help\n"
		"\n"
		"PID is a process id (> 0). ADDR and LENGTH are decimal or 0x-hex; ADDR\n"
		"must be page aligned; LENGTH may end in K, M or G (KiB, MiB, GiB) and is\n"
		"rounded up to whole pages.\n"
		"\n"
		"options:\n"
		"  -d, --device PATH    device to use (default %s)\n"
		"\n"
		"parameters:\n",
		DEFAULT_DEVICE);
	for (size_t i = 0; i < nr_params; i++)
		fprintf(f, "  %-36s %" PRIu32 "-%" PRIu32 "\n",
			params[i].name, params[i].min, params[i].max);
}

static bool is_help(const char *s)
{
	return !strcmp(s, "help") || !strcmp(s, "-h") || !strcmp(s, "--help");
}

int main(int argc, char **argv)
{
	const struct reg_cmd *reg;
	const char *cmd;
	int i = 1;

	/* Global options, before the command. */
	while (i < argc && argv[i][0] == '-') {
		const char *a = argv[i];

		if (is_help(a)) {
			usage(stdout);
			return EXIT_SUCCESS;
		} else if (!strcmp(a, "-d") || !strcmp(a, "--device")) {
			if (i + 1 >= argc)
				return usage_err("option '%s' needs a PATH", a);
			device = argv[i + 1];
			i += 2;
		} else if (!strncmp(a, "--device=", 9)) {
			device = a + 9;
			i++;
		} else if (!strncmp(a, "-d", 2)) {
			device = a + 2;
			i++;
		} else if (!strcmp(a, "--")) {
			i++;
			break;
		} else {
			return usage_err("unknown option '%s' (try 'ksmmodctl help')", a);
		}
		if (!*device)
			return usage_err("empty device PATH");
	}

	if (i >= argc) {
		usage(stderr);
		return EXIT_USAGE;
	}
	cmd = argv[i++];

	if (is_help(cmd)) {
		if (i < argc)
			return usage_err("help: unexpected argument '%s'", argv[i]);
		usage(stdout);
		return EXIT_SUCCESS;
	}
	if (!strcmp(cmd, "version")) {
		if (i < argc)
			return usage_err("version: unexpected argument '%s'", argv[i]);
		return cmd_version();
	}
	if (!strcmp(cmd, "status")) {
		bool raw = false, json = false, have_pid = false, domains = false;
		pid_t pid = 0;

		for (; i < argc; i++) {
			if (!strcmp(argv[i], "--raw") && !raw && !json) {
				raw = true;
			} else if (!strcmp(argv[i], "--json") && !raw && !json) {
				json = true;
			} else if (!strcmp(argv[i], "--domains") && !domains && !have_pid) {
				domains = true;
			} else if (!have_pid && !domains && argv[i][0] != '-') {
				int ret = parse_pid("status", argv[i], &pid);

				if (ret)
					return ret;
				have_pid = true;
			} else {
				return usage_err("status: unexpected argument '%s'", argv[i]);
			}
		}
		if (domains)
			return cmd_domain_status(raw, json);
		return have_pid ? cmd_process_status(pid, raw, json) : cmd_status(raw, json);
	}
	if (!strcmp(cmd, "metrics")) {
		if (i < argc)
			return usage_err("metrics: unexpected argument '%s'", argv[i]);
		return cmd_metrics();
	}
	if (!strcmp(cmd, "watch"))
		return cmd_watch(argc - i, argv + i);
	if (!strcmp(cmd, "set"))
		return cmd_set(argc - i, argv + i);
	if (!strcmp(cmd, "apply"))
		return cmd_apply(argc - i, argv + i);
	if (!strcmp(cmd, "run"))
		return cmd_run(argc - i, argv + i);
	reg = find_reg_cmd(cmd);
	if (reg)
		return cmd_register(reg, argc - i, argv + i);

	return usage_err("unknown command '%s' (try 'ksmmodctl help')", cmd);
}

