// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmodctl: the registration commands: merge, unmerge, add, remove
 * (one ioctl on a pidfd of the process) and run (register and exec); add
 * and run can also put the process in a merge domain (src/domains.c).
 */
#include "ksmmodctl.h"

/* One of the registration commands. */
struct reg_cmd {
	const char *name;	/* on the command line */
	unsigned long ioc;	/* KSMMOD_IOC_* */
	const char *ioc_name;
	bool range;		/* takes ADDR LENGTH: struct ksmmod_range */
	bool registers;		/* adds memory (else removes it) */
};

static const struct reg_cmd reg_cmds[] = {
	{ "merge", KSMMOD_IOC_MERGE_RANGE, "KSMMOD_IOC_MERGE_RANGE", true, true },
	{ "unmerge", KSMMOD_IOC_UNMERGE_RANGE, "KSMMOD_IOC_UNMERGE_RANGE", true, false },
	{ "add", KSMMOD_IOC_ADD_PROCESS, "KSMMOD_IOC_ADD_PROCESS", false, true },
	{ "remove", KSMMOD_IOC_REMOVE_PROCESS, "KSMMOD_IOC_REMOVE_PROCESS", false, false },
};

/* The registration command called @name, or NULL. */
const struct reg_cmd *find_reg_cmd(const char *name)
{
	for (size_t j = 0; j < ARRAY_SIZE(reg_cmds); j++)
		if (!strcmp(name, reg_cmds[j].name))
			return &reg_cmds[j];
	return NULL;
}

/* Explain in one line why registration command @c on process @pid failed. */
static void reg_err(const struct reg_cmd *c, pid_t pid)
{
	int p = (int)pid;

	switch (errno) {
	case ESRCH:
		err_msg("process %d: no such process", p);
		break;
	case EPERM:
		err_msg("not allowed to %s process %d's memory (need CAP_SYS_ADMIN or ptrace access)",
			c->registers ? "register" : "unregister", p);
		break;
	case EBUSY:
		/* User-visible string left unsplit (kernel style). */
		err_msg("process %d uses the kernel's own KSM (MADV_MERGEABLE or PR_SET_MEMORY_MERGE); ksmmod does not take it over", p);
		break;
	case ENOMEM:
		if (!c->range)
			goto other;
		err_msg("part of the range is not mapped in process %d", p);
		break;
	case EINVAL:
		if (!c->range)
			goto other;
		err_msg("bad range (ADDR must be page aligned; ADDR+LENGTH must not overflow)");
		break;
	case ENOENT:
		if (c->registers)
			goto other;
		err_msg("process %d has no memory registered with ksmmod", p);
		break;
	default:
other:
		ioctl_err(c->ioc_name);
		break;
	}
}

/*
 * "ksmmodctl merge|unmerge PID ADDR LENGTH", "ksmmodctl add [--domain ID]|remove
 * PID": open a pidfd of PID and pass it to the module with one ioctl (add
 * --domain: then SET_DOMAIN, checked to be allowed before anything changes).
 */
int cmd_register(const struct reg_cmd *c, int argc, char **argv)
{
	struct ksmmod_range r;
	struct ksmmod_process pr;
	uint64_t addr = 0, length = 0, domain = 0;
	int nargs = c->range ? 3 : 1;
	bool have_domain = false;
	int fd, pidfd, ret;
	pid_t pid = 0;
	void *arg;

	if (c->ioc == KSMMOD_IOC_ADD_PROCESS && argc > 0 && !strcmp(argv[0], "--domain")) {
		if (argc < 2)
			return usage_err("add: option '--domain' needs an ID");
		ret = parse_domain(c->name, argv[1], &domain);
		if (ret)
			return ret;
		have_domain = true;
		argc -= 2;
		argv += 2;
	}
	if (argc < nargs)
		return usage_err("%s: expected %s", c->name,
				 c->range ? "PID ADDR LENGTH" : "PID");
	if (argc > nargs)
		return usage_err("%s: unexpected argument '%s'", c->name, argv[nargs]);
	ret = parse_pid(c->name, argv[0], &pid);
	if (ret)
		return ret;
	if (c->range) {
		ret = parse_u64(argv[1], false, &addr);
		if (ret)
			return usage_err("%s: ADDR '%s' %s", c->name, argv[1],
					 ret == -ERANGE ? "does not fit in 64 bits" :
					 "is not a number (decimal or 0x-hex)");
		ret = parse_u64(argv[2], true, &length);
		if (ret)
			return usage_err("%s: LENGTH '%s' %s", c->name, argv[2],
					 ret == -ERANGE ? "does not fit in 64 bits" :
					 "is not a number (decimal or 0x-hex, optional K, M or G)");
	}

	fd = open_device_pidfd(O_RDWR, pid, &pidfd);
	if (fd < 0)
		return EXIT_FAILURE;
	if (have_domain && domain_check_allowed(fd)) {
		close(pidfd);
		close(fd);
		return EXIT_FAILURE;
	}

	if (c->range) {
		memset(&r, 0, sizeof(r));
		r.size = sizeof(r);
		r.pidfd = (__u32)pidfd;
		r.start = addr;
		r.length = length;
		arg = &r;
	} else {
		memset(&pr, 0, sizeof(pr));
		pr.size = sizeof(pr);
		pr.pidfd = (__u32)pidfd;
		arg = &pr;
	}
	ret = ioctl(fd, c->ioc, arg);
	if (ret < 0)
		reg_err(c, pid);
	else if (have_domain)
		ret = set_domain(fd, pidfd, domain);
	close(pidfd);
	close(fd);
	return ret < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}

/*
 * "ksmmodctl run [--domain ID] [--] CMD [ARGS...]": register ksmmodctl itself
 * whole, with KSMMOD_PROCESS_KEEP_EXEC (and in merge domain ID), then exec
 * CMD in its place: CMD, what it maps later and its children (fork) are
 * registered, and so is whatever they exec, all in that domain.
 */
int cmd_run(int argc, char **argv)
{
	struct ksmmod_process pr;
	bool have_domain = false;
	uint64_t domain = 0;
	int fd, err;

	if (argc > 0 && !strcmp(argv[0], "--domain")) {
		if (argc < 2)
			return usage_err("run: option '--domain' needs an ID");
		err = parse_domain("run", argv[1], &domain);
		if (err)
			return err;
		have_domain = true;
		argc -= 2;
		argv += 2;
	}
	if (argc > 0 && !strcmp(argv[0], "--")) {
		argc--;
		argv++;
	}
	if (argc < 1)
		return usage_err("run: expected CMD [ARGS...]");

	fd = open_device(O_RDWR);
	if (fd < 0)
		return EXIT_FAILURE;
	if (have_domain && domain_check_allowed(fd)) {
		close(fd);
		return EXIT_FAILURE;
	}
	memset(&pr, 0, sizeof(pr));
	pr.size = sizeof(pr);
	pr.flags = KSMMOD_PROCESS_KEEP_EXEC;
	pr.pidfd = 0;	/* ksmmodctl itself */
	if (ioctl(fd, KSMMOD_IOC_ADD_PROCESS, &pr) < 0) {
		if (errno == EOPNOTSUPP || errno == EINVAL)
			err_msg("run: this ksmmod cannot follow a process across exec (too old: no KSMMOD_PROCESS_KEEP_EXEC)");
		else if (errno == EBUSY)
			err_msg("run: ksmmodctl uses the kernel's own KSM; ksmmod does not take it over");
		else
			ioctl_err("KSMMOD_IOC_ADD_PROCESS");
		close(fd);
		return EXIT_FAILURE;
	}
	if (have_domain && set_domain(fd, 0, domain)) {
		close(fd);
		return EXIT_FAILURE;
	}
	close(fd);
	execvp(argv[0], argv);
	err = errno;
	err_msg("run: cannot run '%s': %s", argv[0], strerror(err));
	return err == ENOENT ? EXIT_NOT_FOUND : EXIT_CANNOT_EXEC;
}

