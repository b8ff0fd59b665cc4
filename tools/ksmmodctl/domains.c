// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmodctl: merge domains: putting a process in an explicit domain (add
 * and run --domain) and the counters of each domain (status --domains).
 */
#include "ksmmodctl.h"

_Static_assert(sizeof(struct ksmmod_set_domain) == KSMMOD_SET_DOMAIN_SIZE_VER0,
	       "ksmmod_set_domain size");
_Static_assert(sizeof(struct ksmmod_domain_stats) == KSMMOD_DOMAIN_STATS_SIZE_VER0,
	       "ksmmod_domain_stats size");
_Static_assert(sizeof(struct ksmmod_domain_entry) == KSMMOD_DOMAIN_ENTRY_SIZE_VER0,
	       "ksmmod_domain_entry size");

/* Explain in one line why SET_DOMAIN or DOMAIN_STATS failed. */
static void domain_err(const char *ioc_name)
{
	switch (errno) {
	case ENOTTY:
		err_msg("this ksmmod has no merge domain ioctls (too old: no %s)", ioc_name);
		break;
	case EPERM:
		err_msg("merge domains: need CAP_SYS_ADMIN");
		break;
	case ENOSPC:
		err_msg("no merge domain left (65535 are in use)");
		break;
	default:
		ioctl_err(ioc_name);
		break;
	}
}

/* Parse the ID of --domain ID for command @cmd. */
int parse_domain(const char *cmd, const char *s, uint64_t *id)
{
	int ret = parse_u64(s, false, id);

	if (ret)
		return usage_err("%s: domain '%s' %s", cmd, s,
				 ret == -ERANGE ? "does not fit in 64 bits" :
				 "is not a number (decimal or 0x-hex)");
	return 0;
}

/**
 * domain_check_allowed() - whether SET_DOMAIN would be allowed, before changing anything
 * @fd: the device
 *
 * SET_DOMAIN checks CAP_SYS_ADMIN before anything else: a call with a bad
 * flag fails with EPERM for a caller without it and EINVAL otherwise.
 *
 * Return: 0, or -1 with the reason printed.
 */
int domain_check_allowed(int fd)
{
	struct ksmmod_set_domain d;

	memset(&d, 0, sizeof(d));
	d.size = sizeof(d);
	d.flags = 1;
	if (ioctl(fd, KSMMOD_IOC_SET_DOMAIN, &d) == 0 || errno == EINVAL)
		return 0;
	domain_err("KSMMOD_IOC_SET_DOMAIN");
	return -1;
}

/**
 * set_domain() - put the process of @pidfd in merge domain @id
 * @fd: the device
 * @pidfd: a pidfd, or 0 for ksmmodctl itself
 * @id: the domain (0: the one merge_domains gives)
 *
 * Return: 0, or -1 with the reason printed.
 */
int set_domain(int fd, int pidfd, uint64_t id)
{
	struct ksmmod_set_domain d;

	memset(&d, 0, sizeof(d));
	d.size = sizeof(d);
	d.pidfd = (uint32_t)pidfd;
	d.domain = id;
	if (ioctl(fd, KSMMOD_IOC_SET_DOMAIN, &d) == 0)
		return 0;
	domain_err("KSMMOD_IOC_SET_DOMAIN");
	return -1;
}

static const char *const kind_names[] = { "default", "uid", "cgroup", "explicit" };

/* The name of merge domain kind @kind (KSMMOD_DOMAINS_*), as status prints it. */
const char *kind_name(uint32_t kind)
{
	return kind < ARRAY_SIZE(kind_names) ? kind_names[kind] : "unknown";
}

/**
 * get_domains() - KSMMOD_IOC_DOMAIN_STATS, with room for every domain
 * @fd: the device
 * @nr: set to the number of entries
 *
 * Return: the entries (free() them), or NULL with the reason printed.
 */
static struct ksmmod_domain_entry *get_domains(int fd, size_t *nr)
{
	struct ksmmod_domain_entry *e = NULL;
	struct ksmmod_domain_stats ds;
	uint32_t room = 0;

	/* Domains may come between the two calls: ask again until all fit. */
	for (;;) {
		memset(&ds, 0, sizeof(ds));
		ds.size = sizeof(ds);
		ds.entry_size = sizeof(*e);
		ds.count = room;
		ds.entries = (uintptr_t)e;
		if (ioctl(fd, KSMMOD_IOC_DOMAIN_STATS, &ds) < 0) {
			domain_err("KSMMOD_IOC_DOMAIN_STATS");
			free(e);
			return NULL;
		}
		if (ds.count <= room)
			break;
		free(e);
		room = ds.count + 8;
		e = calloc(room, sizeof(*e));
		if (!e) {
			err_msg("out of memory");
			return NULL;
		}
	}
	*nr = ds.count;
	return e ? e : calloc(1, sizeof(*e));
}

/* Order: kind, then id. */
static int cmp_domain(const void *a, const void *b)
{
	const struct ksmmod_domain_entry *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* "ksmmodctl status --domains [--raw | --json]": KSMMOD_IOC_DOMAIN_STATS. */
int cmd_domain_status(bool raw, bool json)
{
	struct ksmmod_domain_entry *e;
	struct ksmmod_params p;
	struct ksmmod_stats s;
	char buf[64];
	size_t nr;
	int fd;

	fd = open_params_stats(&p, &s);
	if (fd < 0)
		return EXIT_FAILURE;
	e = get_domains(fd, &nr);
	close(fd);
	if (!e)
		return EXIT_FAILURE;
	qsort(e, nr, sizeof(*e), cmp_domain);
	if (json) {
		printf("{\"merge_domains\": \"%s\", \"domains\": [",
		       p.merge_domains < 3 ? kind_names[p.merge_domains] : "unknown");
		for (size_t i = 0; i < nr; i++)
			printf("%s{\"kind\": \"%s\", \"id\": %" PRIu64 ", \"processes\": %" PRIu64
			       ", \"pages_shared\": %" PRIu64 ", \"pages_sharing\": %" PRIu64
			       ", \"ksm_zero_pages\": %" PRIu64 ", \"rmap_items\": %" PRIu64
			       ", \"profit\": %" PRId64 "}", i ? ", " : "", kind_name(e[i].kind),
			       (uint64_t)e[i].id, (uint64_t)e[i].processes,
			       (uint64_t)e[i].pages_shared, (uint64_t)e[i].pages_sharing,
			       (uint64_t)e[i].ksm_zero_pages, (uint64_t)e[i].rmap_items,
			       (int64_t)e[i].profit);
		printf("]}\n");
		free(e);
		return EXIT_SUCCESS;
	}
	if (!raw)
		printf("merge_domains %s\n\n%-8s %20s %9s %12s %13s %10s %12s  %s\n",
		       p.merge_domains < 3 ? kind_names[p.merge_domains] : "unknown",
		       "KIND", "ID", "PROCESSES", "PAGES_SHARED", "PAGES_SHARING",
		       "ZERO_PAGES", "RMAP_ITEMS", "PROFIT");
	for (size_t i = 0; i < nr; i++) {
		if (raw) {
			printf("%s %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64
			       " %" PRIu64 " %" PRId64 "\n", kind_name(e[i].kind),
			       (uint64_t)e[i].id, (uint64_t)e[i].processes,
			       (uint64_t)e[i].pages_shared, (uint64_t)e[i].pages_sharing,
			       (uint64_t)e[i].ksm_zero_pages, (uint64_t)e[i].rmap_items,
			       (int64_t)e[i].profit);
			continue;
		}
		printf("%-8s %20" PRIu64 " %9" PRIu64 " %12" PRIu64 " %13" PRIu64 " %10" PRIu64
		       " %12" PRIu64 "  %s\n", kind_name(e[i].kind), (uint64_t)e[i].id,
		       (uint64_t)e[i].processes, (uint64_t)e[i].pages_shared,
		       (uint64_t)e[i].pages_sharing, (uint64_t)e[i].ksm_zero_pages,
		       (uint64_t)e[i].rmap_items,
		       fmt_size(buf, sizeof(buf), (long double)e[i].profit));
	}
	free(e);
	return EXIT_SUCCESS;
}
