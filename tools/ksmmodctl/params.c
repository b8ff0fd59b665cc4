// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmodctl: the tunables of struct ksmmod_params; "set" and "apply".
 */
#include "ksmmodctl.h"

static const char * const run_names[] = {
	[KSMMOD_RUN_STOP] = "stop",
	[KSMMOD_RUN_MERGE] = "merge",
	[KSMMOD_RUN_UNMERGE] = "unmerge",
	NULL
};

/* advisor_mode's values, as /sys/kernel/mm/ksm/advisor_mode names them. */
static const char * const advisor_names[] = {
	[KSMMOD_ADVISOR_NONE] = "none",
	[KSMMOD_ADVISOR_SCAN_TIME] = "scan-time",
	NULL
};

/* merge_domains' values, as /sys/kernel/mm/ksmmod/merge_domains names them. */
static const char * const domain_names[] = {
	[KSMMOD_DOMAINS_NONE] = "none",
	[KSMMOD_DOMAINS_UID] = "uid",
	[KSMMOD_DOMAINS_CGROUP] = "cgroup",
	NULL
};

#define PARAM(_name, _bit, _min, _max, _pages) {			\
	.name = #_name,							\
	.bit = (_bit),							\
	.offset = offsetof(struct ksmmod_params, _name),		\
	.min = (_min),							\
	.max = (_max),							\
	.pages = (_pages),						\
}

#define NAMED_PARAM(_name, _bit, _names) {				\
	.name = #_name,							\
	.bit = (_bit),							\
	.offset = offsetof(struct ksmmod_params, _name),		\
	.min = 0,							\
	.max = ARRAY_SIZE(_names) - 2,					\
	.names = (_names),						\
}

const struct param_desc params[] = {
	NAMED_PARAM(run, KSMMOD_PARAM_RUN, run_names),
	PARAM(pages_to_scan, KSMMOD_PARAM_PAGES_TO_SCAN, 0, UINT32_MAX, true),
	PARAM(sleep_millisecs, KSMMOD_PARAM_SLEEP_MILLISECS, 0, UINT32_MAX, false),
	PARAM(max_page_sharing, KSMMOD_PARAM_MAX_PAGE_SHARING, 2, INT32_MAX, false),
	PARAM(stable_node_chains_prune_millisecs,
	      KSMMOD_PARAM_STABLE_NODE_CHAINS_PRUNE_MILLISECS, 0, UINT32_MAX, false),
	PARAM(merge_across_nodes, KSMMOD_PARAM_MERGE_ACROSS_NODES, 0, 1, false),
	PARAM(use_zero_pages, KSMMOD_PARAM_USE_ZERO_PAGES, 0, 1, false),
	PARAM(densify_chains, KSMMOD_PARAM_DENSIFY_CHAINS, 0, 1, false),
	PARAM(smart_scan, KSMMOD_PARAM_SMART_SCAN, 0, 1, false),
	NAMED_PARAM(advisor_mode, KSMMOD_PARAM_ADVISOR_MODE, advisor_names),
	PARAM(advisor_max_cpu, KSMMOD_PARAM_ADVISOR_MAX_CPU, 0, UINT32_MAX, false),
	PARAM(advisor_target_scan_time, KSMMOD_PARAM_ADVISOR_TARGET_SCAN_TIME, 1, UINT32_MAX,
	      false),
	PARAM(advisor_min_pages_to_scan, KSMMOD_PARAM_ADVISOR_MIN_PAGES_TO_SCAN, 0, UINT32_MAX,
	      true),
	PARAM(advisor_max_pages_to_scan, KSMMOD_PARAM_ADVISOR_MAX_PAGES_TO_SCAN, 0, UINT32_MAX,
	      true),
	NAMED_PARAM(merge_domains, KSMMOD_PARAM_MERGE_DOMAINS, domain_names),
};

const size_t nr_params = ARRAY_SIZE(params);

uint32_t *param_field(struct ksmmod_params *p, const struct param_desc *d)
{
	return (uint32_t *)((char *)p + d->offset);
}

/* Append "name min-max" of every parameter in @mask to @buf. */
static void fmt_ranges(char *buf, size_t len, uint64_t mask)
{
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < ARRAY_SIZE(params) && n < len; i++) {
		if (!(mask & params[i].bit))
			continue;
		n += (size_t)snprintf(buf + n, len - n, "%s%s %" PRIu32 "-%" PRIu32,
				      n ? ", " : "", params[i].name,
				      params[i].min, params[i].max);
	}
}

/*
 * One NAME=VALUE setting into @p: @name (@nlen bytes) must be a parameter
 * given once, @val a number in its range (or one of its names). On error,
 * print one line that starts with @where (a "FILE:LINE: " or "") and names
 * the setting, and return -1.
 */
static int parse_setting(const char *where, const char *name, size_t nlen, const char *val,
			 struct ksmmod_params *p)
{
	const struct param_desc *d = NULL;
	uint32_t v;
	int ret;

	for (size_t j = 0; j < ARRAY_SIZE(params); j++) {
		if (strlen(params[j].name) == nlen && !strncmp(params[j].name, name, nlen)) {
			d = &params[j];
			break;
		}
	}
	if (!d) {
		char known[512];
		size_t n = 0;

		for (size_t j = 0; j < ARRAY_SIZE(params) && n < sizeof(known); j++)
			n += (size_t)snprintf(known + n, sizeof(known) - n, "%s%s",
					      j ? ", " : "", params[j].name);
		err_msg("%sunknown parameter '%.*s' (known: %s)", where, (int)nlen, name, known);
		return -1;
	}
	if (p->mask & d->bit) {
		err_msg("%sparameter '%s' given twice", where, d->name);
		return -1;
	}

	ret = parse_u32(val, &v);
	if (ret == -EINVAL) {
		bool named = false;

		for (uint32_t r = 0; d->names && d->names[r]; r++) {
			if (!strcmp(val, d->names[r])) {
				v = r;
				named = true;
				ret = 0;
				break;
			}
		}
		if (!named) {
			char names[128] = "";
			size_t n = 0;

			for (uint32_t r = 0; d->names && d->names[r] && n < sizeof(names); r++)
				n += (size_t)snprintf(names + n, sizeof(names) - n, ", %s",
						      d->names[r]);
			err_msg("%s%s=%s: invalid value: not a decimal number (%s %" PRIu32
				"-%" PRIu32 "%s)", where, d->name, val, d->name, d->min, d->max, names);
			return -1;
		}
	}
	if (ret == -ERANGE || v < d->min || v > d->max) {
		err_msg("%s%s=%s: invalid value: out of range (%s %" PRIu32 "-%" PRIu32 ")",
			where, d->name, val, d->name, d->min, d->max);
		return -1;
	}

	*param_field(p, d) = v;
	p->mask |= d->bit;
	return 0;
}

/* SET_PARAMS of every parameter in @p->mask, all or none: EXIT_SUCCESS or EXIT_FAILURE. */
static int apply_params(struct ksmmod_params *p)
{
	char ranges[512];
	int fd;

	if (!p->mask)
		return EXIT_SUCCESS;
	fd = open_device(O_RDWR);
	if (fd < 0)
		return EXIT_FAILURE;
	if (ioctl(fd, KSMMOD_IOC_SET_PARAMS, p) < 0) {
		switch (errno) {
		case EPERM:
			err_msg("changing parameters needs CAP_SYS_ADMIN");
			break;
		case EBUSY:
			/* User-visible string left unsplit (kernel style). */
			err_msg("max_page_sharing and merge_across_nodes cannot change while pages are merged (set run=2 first)");
			break;
		case EINVAL:
			fmt_ranges(ranges, sizeof(ranges), p->mask);
			err_msg("invalid value (ranges: %s)%s", ranges,
				(p->mask & KSMMOD_PARAM_PAGES_TO_SCAN) ?
				"; pages_to_scan cannot be set while advisor_mode is scan-time" : "");
			break;
		default:
			ioctl_err("KSMMOD_IOC_SET_PARAMS");
			break;
		}
		close(fd);
		return EXIT_FAILURE;
	}
	close(fd);
	return EXIT_SUCCESS;
}

/*
 * "ksmmodctl set NAME=VALUE...": parse and check every assignment, then change
 * all of them with a single KSMMOD_IOC_SET_PARAMS, so all or none change.
 * A malformed command line exits 2; a well-formed assignment with an unknown
 * name, a repeated name or a bad value exits 1, as the module's -EINVAL would.
 */
int cmd_set(int argc, char **argv)
{
	struct ksmmod_params p;

	if (argc < 1)
		return usage_err("set: no NAME=VALUE given");

	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	for (int i = 0; i < argc; i++) {
		const char *eq = strchr(argv[i], '=');

		if (!eq || eq == argv[i])
			return usage_err("set: '%s' is not NAME=VALUE", argv[i]);
		if (parse_setting("", argv[i], (size_t)(eq - argv[i]), eq + 1, &p))
			return EXIT_FAILURE;
	}
	return apply_params(&p);
}

/*
 * "ksmmodctl apply FILE": the settings of a configuration file (e.g.
 * /etc/ksmmod.conf, what ksmmod.service applies at boot and on reload), as
 * one atomic update. A line is "NAME = VALUE" (the names of
 * /sys/kernel/mm/ksmmod; blanks around both optional), a comment from '#'
 * on, or blank. The whole file is checked first: a bad line is reported
 * with its file, line and key, and nothing is applied. With --check, only
 * the file is checked (no device needed).
 */
int cmd_apply(int argc, char **argv)
{
	bool check = argc > 0 && !strcmp(argv[0], "--check");
	struct ksmmod_params p;
	char line[1024], where[PATH_MAX + 32];
	unsigned int lineno = 0;
	bool bad = false;
	FILE *f;

	if (check) {
		argc--;
		argv++;
	}
	if (argc != 1)
		return usage_err("apply: expected [--check] FILE");
	f = fopen(argv[0], "re");
	if (!f) {
		err_msg("%s: %s", argv[0], strerror(errno));
		return EXIT_FAILURE;
	}
	memset(&p, 0, sizeof(p));
	p.size = sizeof(p);
	while (fgets(line, sizeof(line), f)) {
		char *name, *eq, *val, *end;

		lineno++;
		snprintf(where, sizeof(where), "%s:%u: ", argv[0], lineno);
		if (!strchr(line, '\n') && !feof(f)) {
			err_msg("%sline longer than %zu characters", where, sizeof(line) - 2);
			bad = true;
			break;
		}
		line[strcspn(line, "#\n")] = 0;
		for (name = line; isspace((unsigned char)*name); name++)
			;
		if (!*name)
			continue;
		eq = strchr(name, '=');
		if (!eq || eq == name) {
			err_msg("%s'%s' is not NAME = VALUE", where, name);
			bad = true;
			break;
		}
		for (end = eq; end > name && isspace((unsigned char)end[-1]); end--)
			;
		for (val = eq + 1; isspace((unsigned char)*val); val++)
			;
		for (char *e = val + strlen(val); e > val && isspace((unsigned char)e[-1]); e--)
			e[-1] = 0;
		if (parse_setting(where, name, (size_t)(end - name), val, &p)) {
			bad = true;
			break;
		}
	}
	if (!bad && ferror(f)) {
		err_msg("%s: %s", argv[0], strerror(errno));
		bad = true;
	}
	fclose(f);
	if (bad) {
		err_msg("%s: nothing applied", argv[0]);
		return EXIT_FAILURE;
	}
	return check ? EXIT_SUCCESS : apply_params(&p);
}

