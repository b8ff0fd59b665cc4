// SPDX-License-Identifier: GPL-2.0
/*
 * Fuzzer: random ioctls on /dev/ksmmod checked against a model of the
 * errors each one must return, random bad writes to /sys/kernel/mm/ksmmod,
 * and an unprivileged caller, while a bystander process keeps checking the
 * bytes of its merged pages.
 *
 * Every call is drawn from one PRNG seeded with ksmmod.seed=N from the
 * guest's command line, or from the time and pid; the seed is printed first,
 * so a failure can be replayed with the same calls (the bystander and the
 * timing differ). The length is ksmmod.fuzz=SECONDS (default 8; longer on
 * the debug lane).
 *
 * Commands are every defined command exactly, defined numbers with random
 * direction and size bits, and random type/number pairs; arguments are NULL,
 * an unmapped or PROT_NONE page, a kernel address, a structure straddling
 * into a PROT_NONE page, one in a read-only page, or a valid buffer holding a
 * well-formed structure with random fields (parameter values, masks, ranges
 * over this process, the bystander and unmapped space, unaligned, huge and
 * overflowing ones; pidfds of this process, the bystander, a zombie and a
 * reaped child, other descriptors and random numbers; merge domain ids; for
 * DOMAIN_STATS counts, entry sizes and an entries array in a page area of its
 * own, up to a guard page, in a read-only or PROT_NONE page, at NULL, near
 * the top of user space or beyond) or a mutated one (size, flags, padding,
 * reserved bytes, random bytes). For each call the model
 * computes the results src/dev.c and the UAPI rules allow, in the order the
 * module checks them, from what it knows: the bytes it passed, which of them
 * are readable and writable, the mappings of the target (/proc/PID/maps), the
 * tunables, whether the target is registered and the explicit merge domain
 * SET_DOMAIN gave it. Where the outcome depends on something it cannot see
 * (EBUSY while the scanner may have merged pages, ENOENT after an
 * UNMERGE_RANGE that may have left nothing registered, EFAULT when
 * DOMAIN_STATS has more domains to write than fit in writable memory) it
 * allows exactly those results. It also checks that a failed call and an
 * input-only command leave the buffer alone, what the output commands write
 * (DOMAIN_STATS: each entry, nothing beyond the entries it counts, the
 * domains of the registered processes it knows), and after every successful
 * SET_PARAMS that GET_PARAMS reflects it.
 *
 * A child that drops to uid/gid 65534 without capabilities then makes
 * random calls on the descriptor it inherited: nothing may change (EPERM),
 * opening the device and writing sysfs files are refused.
 *
 * At the end the bystander must have seen no wrong byte, a fresh pair of
 * identical pages must still merge, and nothing may be left registered.
 */
#include <dirent.h>
#include <grp.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/wait.h>

#include "ksmtest.h"

#define PLAN		8
#define NOBODY		65534
#define BYST_PAGES	64	/* bystander pages, BYST_PAGES / 4 of each of 4 contents */
#define BYST_HOLE	8	/* unmapped pages after them in the bystander */
#define ARENA_PAGES	32	/* the fuzzer's own target memory */
#define IMG		(4096 + 64)
#define KADDR		0xffff888000000000ULL
#define ENT_PAGES	4	/* DOMAIN_STATS entries area, then PROT_NONE, read-only, PROT_NONE */
#define ENT_FILL	0xa5	/* what the entries area holds where nothing was written */
#define DSTATS_MAX	65536	/* the largest DOMAIN_STATS @count (src/dev.c) */
#define NCMDS		11
#define MAXVIOL		10
#define SYSDIR		"/sys/kernel/mm/ksmmod/"

/* ---- PRNG: xorshift64, one stream per phase derived from the seed ---- */

static uint64_t rng;

static uint64_t splitmix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static void rng_phase(uint64_t seed, int phase)
{
	rng = splitmix(seed + phase) | 1;
}

static uint64_t rnd64(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static uint32_t rnd(uint32_t n)
{
	return n ? rnd64() % n : 0;
}

/* ---- errno sets ---- */

static const int errs[] = { 0, EPERM, ENOENT, ESRCH, EINTR, EBADF, ENOMEM, EACCES, EFAULT,
			    EBUSY, EINVAL, ENOTTY, E2BIG, ERANGE };
static const char *const errnames[] = { "ok", "EPERM", "ENOENT", "ESRCH", "EINTR", "EBADF",
					"ENOMEM", "EACCES", "EFAULT", "EBUSY", "EINVAL", "ENOTTY",
					"E2BIG", "ERANGE", "other" };
#define NERRS	(sizeof(errs) / sizeof(errs[0]) + 1)

static int eidx(int e)
{
	for (size_t i = 0; i < NERRS - 1; i++)
		if (errs[i] == e)
			return i;
	return NERRS - 1;
}

#define B(e)	(1u << eidx(e))

static const char *setstr(unsigned int set)
{
	static char buf[128];
	size_t n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < NERRS; i++)
		if (set & (1u << i))
			n += snprintf(buf + n, sizeof(buf) - n, "%s%s", n ? "|" : "", errnames[i]);
	return buf;
}

/* ---- commands ---- */

/* The smallest @size a command takes (*_SIZE_VER0); below its current size only for PROCESS_STATS. */
static size_t min_size(int nr);

/*
 * What the module sees of a structure of the current size @ks whose @size
 * field says @usize: the first min(@usize, @ks) bytes of @img, zeros after
 * (copy_struct_from_user(), and copy-out writes back no more).
 */
static const unsigned char *struct_view(const unsigned char *img, size_t ks, uint32_t usize)
{
	static unsigned char view[IMG];

	if (usize >= ks)
		return img;
	memcpy(view, img, usize);
	memset(view + usize, 0, ks - usize);
	return view;
}

struct cmdinfo {
	const char *name;
	unsigned int cmd;
	unsigned int dir;
	unsigned int ksize;
	bool out;	/* writes its structure back */
	bool changes;	/* changes something (CAP_SYS_ADMIN or the target's owner) */
	bool admin;	/* CAP_SYS_ADMIN only, checked before the argument is read */
};

static const struct cmdinfo cmds[NCMDS] = {
	{ "API", KSMMOD_IOC_API, _IOC_READ | _IOC_WRITE, sizeof(struct ksmmod_api), true, false,
	  false },
	{ "GET_PARAMS", KSMMOD_IOC_GET_PARAMS, _IOC_READ | _IOC_WRITE,
	  sizeof(struct ksmmod_params), true, false, false },
	{ "SET_PARAMS", KSMMOD_IOC_SET_PARAMS, _IOC_WRITE, sizeof(struct ksmmod_params), false, true,
	  true },
	{ "GET_STATS", KSMMOD_IOC_GET_STATS, _IOC_READ | _IOC_WRITE, sizeof(struct ksmmod_stats),
	  true, false, false },
	{ "MERGE_RANGE", KSMMOD_IOC_MERGE_RANGE, _IOC_WRITE, sizeof(struct ksmmod_range), false,
	  true, false },
	{ "UNMERGE_RANGE", KSMMOD_IOC_UNMERGE_RANGE, _IOC_WRITE, sizeof(struct ksmmod_range), false,
	  true, false },
	{ "ADD_PROCESS", KSMMOD_IOC_ADD_PROCESS, _IOC_WRITE, sizeof(struct ksmmod_process), false,
	  true, false },
	{ "REMOVE_PROCESS", KSMMOD_IOC_REMOVE_PROCESS, _IOC_WRITE, sizeof(struct ksmmod_process),
	  false, true, false },
	{ "PROCESS_STATS", KSMMOD_IOC_PROCESS_STATS, _IOC_READ | _IOC_WRITE,
	  sizeof(struct ksmmod_process_stats), true, false, false },
	{ "SET_DOMAIN", KSMMOD_IOC_SET_DOMAIN, _IOC_WRITE, sizeof(struct ksmmod_set_domain), false,
	  true, true },
	{ "DOMAIN_STATS", KSMMOD_IOC_DOMAIN_STATS, _IOC_READ | _IOC_WRITE,
	  sizeof(struct ksmmod_domain_stats), true, false, true },
};

/* Where each structure has its flags, pad and reserved fields (for mutations). */
static const struct {
	size_t flags, pad, resv, resv_len;
} lay[NCMDS] = {
	{ offsetof(struct ksmmod_api, flags), offsetof(struct ksmmod_api, pad),
	  offsetof(struct ksmmod_api, reserved), sizeof(((struct ksmmod_api *)0)->reserved) },
	{ offsetof(struct ksmmod_params, flags), offsetof(struct ksmmod_params, pad),
	  offsetof(struct ksmmod_params, reserved), sizeof(((struct ksmmod_params *)0)->reserved) },
	{ offsetof(struct ksmmod_params, flags), offsetof(struct ksmmod_params, pad),
	  offsetof(struct ksmmod_params, reserved), sizeof(((struct ksmmod_params *)0)->reserved) },
	{ offsetof(struct ksmmod_stats, flags), 0, offsetof(struct ksmmod_stats, reserved),
	  sizeof(((struct ksmmod_stats *)0)->reserved) },
	{ offsetof(struct ksmmod_range, flags), offsetof(struct ksmmod_range, pad),
	  offsetof(struct ksmmod_range, reserved), sizeof(((struct ksmmod_range *)0)->reserved) },
	{ offsetof(struct ksmmod_range, flags), offsetof(struct ksmmod_range, pad),
	  offsetof(struct ksmmod_range, reserved), sizeof(((struct ksmmod_range *)0)->reserved) },
	{ offsetof(struct ksmmod_process, flags), offsetof(struct ksmmod_process, pad),
	  offsetof(struct ksmmod_process, reserved), sizeof(((struct ksmmod_process *)0)->reserved) },
	{ offsetof(struct ksmmod_process, flags), offsetof(struct ksmmod_process, pad),
	  offsetof(struct ksmmod_process, reserved), sizeof(((struct ksmmod_process *)0)->reserved) },
	{ offsetof(struct ksmmod_process_stats, flags), offsetof(struct ksmmod_process_stats, pad),
	  offsetof(struct ksmmod_process_stats, reserved),
	  sizeof(((struct ksmmod_process_stats *)0)->reserved) },
	{ offsetof(struct ksmmod_set_domain, flags), offsetof(struct ksmmod_set_domain, pad),
	  offsetof(struct ksmmod_set_domain, reserved),
	  sizeof(((struct ksmmod_set_domain *)0)->reserved) },
	{ offsetof(struct ksmmod_domain_stats, flags), 0,
	  offsetof(struct ksmmod_domain_stats, reserved),
	  sizeof(((struct ksmmod_domain_stats *)0)->reserved) },
};

/* Structures with a pidfd at offset 8 (MERGE_RANGE to PROCESS_STATS, SET_DOMAIN). */
static bool has_pidfd(int snr)
{
	return snr >= KSMMOD_NR_MERGE_RANGE && snr <= KSMMOD_NR_SET_DOMAIN;
}

/* ---- state ---- */

struct shared {
	int stop, cow, ready, reg_err;
	int pfn_req, pfn_ack, pfn_ok;
	unsigned long long rounds, writes, mismatches;
	int bad_page, bad_off, bad_byte, bad_want;
	/* the unprivileged child's results */
	int u_setup_err, u_open_errno, u_sysfs, u_sysfs_bad;
	unsigned long long u_calls, u_changing, u_refused, u_noop, u_viol;
};

static long ps;
static int fd;
static uint64_t task_size_max;
static unsigned char *scratch, *ro;	/* see setup_memory() */
static unsigned char *ents;		/* DOMAIN_STATS entries (setup_memory()) */
static bool ents_dirty;			/* something may have been written there */
static char *arena, *byst;
static struct shared *sh;
static pid_t byst_pid, zombie_pid;
static int pfd_self, pfd_byst, pfd_zombie, pfd_dead;

enum { K_NO, K_YES, K_MAYBE };
static int known[2];		/* registered? [0] this process, [1] the bystander */
/*
 * If it has a slot, its explicit merge domain (SET_DOMAIN; 0: the one
 * merge_domains gives it) is dom[i], when dom_sure[i]. A new slot starts at 0.
 */
static uint64_t dom[2];
static bool dom_sure[2];
static struct ksmmod_params cur;	/* the tunables as the model has them */
static bool merged_possible;	/* pages may be merged (shape tunables: EBUSY) */

static unsigned long long ncalls, nviol, counts[NCMDS + 1][NERRS], maxns[NCMDS + 1];
static char mapsbuf[1 << 17];	/* a /proc/PID/maps */

/* ---- the call ---- */

enum { A_NULL, A_UNMAPPED, A_PROTNONE, A_KERNEL, A_STRADDLE, A_RO, A_VALID };
static const char *const akinds[] = { "null", "unmapped", "protnone", "kernel", "straddle",
				      "readonly", "valid" };

struct call {
	unsigned int cmd;
	int nr;		/* command the module runs; -1: none (ENOTTY) */
	int snr;	/* structure in the argument */
	int akind;
	unsigned char *p;
	size_t readable, writable, imglen;
	unsigned char img[IMG];
};

enum { T_SELF, T_BYST, T_DEAD, T_BADF, T_OTHER };

static int classify(uint32_t pidfd, bool priv)
{
	if (pidfd == 0)
		return T_SELF;
	if (pidfd > INT_MAX)
		return T_BADF;
	if ((int)pidfd == pfd_self)
		return priv ? T_SELF : T_OTHER;
	if ((int)pidfd == pfd_byst)
		return priv ? T_BYST : T_OTHER;
	if ((int)pidfd == pfd_zombie || (int)pidfd == pfd_dead)
		return T_DEAD;
	return T_BADF;
}

static uint32_t gen_pidfd(void)
{
	static const uint32_t odd[] = { 0x7fffffff, 0x80000000, 0xffffffff, (uint32_t)-10000,
					(uint32_t)-20000 };

	switch (rnd(20)) {
	case 0 ... 4:
		return 0;
	case 5 ... 6:
		return pfd_self;
	case 7 ... 12:
		return pfd_byst;
	case 13:
		return pfd_zombie;
	case 14:
		return pfd_dead;
	case 15:
		return fd;
	case 16:
		return 1 + rnd(2);
	case 17:
		return 900 + rnd(100);
	case 18:
		return odd[rnd(5)];
	default:
		return 1024 + rnd(UINT32_MAX - 1024);
	}
}

static uint64_t gen_addr(void)
{
	uint64_t a;

	switch (rnd(14)) {
	case 0 ... 2:
		a = (uintptr_t)arena + rnd(ARENA_PAGES + 2) * ps;
		break;
	case 3 ... 5:
		a = (uintptr_t)byst + rnd(BYST_PAGES + BYST_HOLE) * ps;
		break;
	case 6:
		a = (uintptr_t)byst;
		break;
	case 7:
		a = rnd(16) * ps;
		break;
	case 8:
		a = task_size_max - rnd(4) * ps;
		break;
	case 9:
		a = rnd(2) ? 1ULL << 47 : 1ULL << 56;
		break;
	case 10:
		a = KADDR;
		break;
	case 11:
		a = ~0ULL & ~(uint64_t)(ps - 1);
		break;
	case 12:
		a = (rnd64() & ((1ULL << 47) - 1)) & ~(uint64_t)(ps - 1);
		break;
	default:
		a = rnd64();
		break;
	}
	if (!rnd(10))
		a += 1 + rnd(ps - 1);
	return a;
}

static uint64_t gen_len(uint64_t start)
{
	switch (rnd(14)) {
	case 0:
		return 0;
	case 1:
		return 1 + rnd(ps);
	case 2 ... 4:
		return (1 + rnd(80)) * ps;
	case 5:
		return rnd(8) * ps + rnd(ps);
	case 6:
		return 1ULL << 40;
	case 7:
		return 1ULL << 62;
	case 8:
		return ~0ULL - rnd(ps);
	case 9:
		return -start;
	case 10:
		return rnd64();
	case 11:
		return BYST_PAGES * ps;
	case 12:
		return task_size_max > start ? task_size_max - start : 0;
	default:
		return (1 + rnd(ARENA_PAGES)) * ps;
	}
}

static uint32_t pick32(const uint32_t *v, int n)
{
	return rnd(n + 1) == (uint32_t)n ? (uint32_t)rnd64() : v[rnd(n)];
}

/* Bytes writable from @a on in the entries area (0 anywhere else: see safe_entries()). */
static uint64_t ents_room(uint64_t a)
{
	uint64_t base = (uintptr_t)ents, end = base + ENT_PAGES * ps;

	return a >= base && a < end ? end - a : 0;
}

/*
 * Whether DOMAIN_STATS may be given @a as its entries: in the entries area,
 * or where nothing of this process is mapped (so the first byte faults and
 * nothing is written: copy_to_user() stops there), nor within the reach of
 * its stack's growth. A mutated address elsewhere could have the module
 * write over this process's own memory.
 */
static bool safe_entries(uint64_t a)
{
	char *line, *save = NULL;
	ssize_t n;

	if (a < 0x10000 || a >= task_size_max ||
	    (a >= (uintptr_t)ents && a < (uintptr_t)ents + (ENT_PAGES + 3) * ps))
		return true;
	n = ksmt_read_file("/proc/self/maps", mapsbuf, sizeof(mapsbuf));
	if (n <= 0 || n >= (ssize_t)sizeof(mapsbuf) - 1)
		ktap_exit_fail_msg("reading /proc/self/maps: %zd", n);
	for (line = strtok_r(mapsbuf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long vs, ve;

		if (sscanf(line, "%lx-%lx", &vs, &ve) < 2)
			continue;
		if (strstr(line, "[stack]"))
			vs = vs > (64UL << 20) ? vs - (64UL << 20) : 0;
		if (a >= vs && a < ve)
			return false;
	}
	return true;
}

/* A DOMAIN_STATS entry size: the current one mostly, the edges, random ones. */
static uint32_t gen_entry_size(void)
{
	static const uint32_t sz[] = { KSMMOD_DOMAIN_ENTRY_SIZE_VER0, 88, 128, 4096,
				       0, 8, 79, 4097 };

	switch (rnd(12)) {
	case 0 ... 5:
		return sizeof(struct ksmmod_domain_entry);
	case 6 ... 8:
		return sz[rnd(8)];
	case 9 ... 10:
		return KSMMOD_DOMAIN_ENTRY_SIZE_VER0 + rnd(4096 - KSMMOD_DOMAIN_ENTRY_SIZE_VER0 + 1);
	default:
		return rnd64();
	}
}

static uint32_t gen_count(uint32_t esize)
{
	switch (rnd(16)) {
	case 0 ... 3:
		return 0;
	case 4 ... 8:
		return 1 + rnd(4);
	case 9:
		return 5 + rnd(60);
	case 10:
		return ENT_PAGES * ps / (esize ? esize : 1);
	case 11:
		return DSTATS_MAX;
	case 12:
		return DSTATS_MAX + 1;
	case 13:
		return 1 + rnd(DSTATS_MAX);
	case 14:
		return UINT32_MAX - rnd(2);
	default:
		return rnd64();
	}
}

/* Where DOMAIN_STATS writes @count entries of @esize bytes. */
static uint64_t gen_entries(uint32_t count, uint32_t esize)
{
	uint64_t room = ENT_PAGES * ps, all = (uint64_t)count * esize, a;

	switch (rnd(16)) {
	case 0 ... 7:
		a = rnd(room);
		if (rnd(4))
			a &= ~7ULL;
		return (uintptr_t)ents + a;
	case 8 ... 9:
		/* Exactly @count entries fit before the guard page, or one byte less. */
		a = all && all <= room ? room - all : 0;
		if (a && !rnd(2))
			a += 1 + rnd(esize < 8 ? 1 : 8);
		return (uintptr_t)ents + a;
	case 10:
		return 0;
	case 11:
		/* The guard page, the read-only page, the PROT_NONE page. */
		return (uintptr_t)ents + room + rnd(3 * ps);
	case 12:
		return 0x1000 + rnd(ps);
	case 13:
		return rnd(2) ? KADDR + rnd(ps) : rnd(2) ? ~0ULL - rnd(ps) : 1ULL << 63;
	case 14:
		/* The array ends at or near the top of user space. */
		return task_size_max - all - (rnd(2) ? 0 : esize) + (rnd(3) ? 0 : 1 + rnd(ps));
	default:
		return rnd(2) ? rnd64() : rnd64() & ((1ULL << 47) - 1);
	}
}

static void gen_struct(struct call *c, int snr, bool priv)
{
	size_t ks = cmds[snr].ksize;
	unsigned char *img = c->img;
	uint32_t usize;

	memset(img, 0, IMG);
	switch (snr) {
	case KSMMOD_NR_API: {
		struct ksmmod_api a = { 0 };

		a.api_version = rnd(10) ? KSMMOD_API_VERSION : rnd(2) ? 0 : (uint32_t)rnd64();
		if (!rnd(4)) {	/* output fields: ignored on input */
			a.features = rnd64();
			a.ioctls = rnd64();
			a.module_version[rnd(KSMMOD_VERSION_LEN)] = rnd(256);
			a.kernel_release[rnd(KSMMOD_RELEASE_LEN)] = rnd(256);
		}
		memcpy(img, &a, sizeof(a));
		break;
	}
	case KSMMOD_NR_GET_PARAMS:
	case KSMMOD_NR_SET_PARAMS: {
		/*
		 * A batch holds ksmmod_thread_mutex, which every registration
		 * waits for: no batch of billions of pages while the scanner runs.
		 */
		static const uint32_t scan[] = { 0, 1, 100, 1000, 5000, 20000 };
		static const uint32_t sleep[] = { 0, 1, 5, 20, 200, 1000 };
		static const uint32_t mps[] = { 0, 1, 2, 3, 16, 256, INT_MAX, (uint32_t)INT_MAX + 1,
						UINT32_MAX };
		static const uint32_t prune[] = { 0, 10, 2000 };
		static const uint32_t bools[] = { 0, 1, 0, 1, 0, 1, 2 };
		struct ksmmod_params p = { 0 };

		switch (rnd(10)) {
		case 0:
			p.mask = 0;
			break;
		case 1:
			p.mask = (rnd64() & KSMMOD_PARAM_ALL) | (1ULL << (8 + rnd(56)));
			break;
		case 2:
			p.mask = KSMMOD_PARAM_ALL;
			break;
		default:
			p.mask = (1ULL << rnd(14)) | (rnd(2) ? 1ULL << rnd(14) : 0) |
				 (rnd(3) ? 0 : 1ULL << rnd(14));
			break;
		}
		p.run = rnd(12) ? rnd(3) : (uint32_t)rnd64();
		p.pages_to_scan = rnd(8) ? scan[rnd(6)] : rnd(50000);
		p.sleep_millisecs = rnd(20) ? sleep[rnd(6)] : (uint32_t)rnd64();
		p.max_page_sharing = pick32(mps, 9);
		p.stable_node_chains_prune_millisecs = pick32(prune, 3);
		p.merge_across_nodes = pick32(bools, 7);
		p.use_zero_pages = pick32(bools, 7);
		p.densify_chains = pick32(bools, 7);
		p.smart_scan = pick32(bools, 7);
		p.advisor_mode = pick32(bools, 7);
		p.advisor_max_cpu = rnd(4) ? 70 : (uint32_t)rnd64();
		p.advisor_target_scan_time = rnd(4) ? 1 + rnd(300) : rnd(2) ? 0 : UINT32_MAX;
		p.advisor_min_pages_to_scan = rnd(4) ? 500 : (uint32_t)rnd64();
		p.advisor_max_pages_to_scan = rnd(4) ? 30000 : (uint32_t)rnd64();
		p.merge_domains = rnd(4) ? cur.merge_domains : rnd(5);
		memcpy(img, &p, sizeof(p));
		break;
	}
	case KSMMOD_NR_GET_STATS: {
		struct ksmmod_stats s = { 0 };

		if (!rnd(4)) {	/* output fields and reserved: ignored by dev.c */
			s.pages_shared = rnd64();
			s.general_profit = rnd64();
			s.reserved[rnd(sizeof(s.reserved) / sizeof(s.reserved[0]))] = rnd64();
		}
		memcpy(img, &s, sizeof(s));
		break;
	}
	case KSMMOD_NR_MERGE_RANGE:
	case KSMMOD_NR_UNMERGE_RANGE: {
		struct ksmmod_range r = { 0 };

		if (rnd(3)) {
			r.pidfd = gen_pidfd();
			r.start = gen_addr();
			r.length = gen_len(r.start);
		} else if (rnd(2)) {
			/* Part of the bystander's pages. */
			uint64_t first = rnd(BYST_PAGES);

			r.pidfd = pfd_byst;
			r.start = (uintptr_t)byst + first * ps;
			r.length = (1 + rnd(BYST_PAGES - first)) * ps - rnd(ps);
		} else {
			/* Part of this process's arena, up to its hole. */
			uint64_t first = rnd(28);

			r.pidfd = rnd(2) ? 0 : pfd_self;
			r.start = (uintptr_t)arena + first * ps;
			r.length = (1 + rnd(28 - first)) * ps - rnd(ps);
		}
		memcpy(img, &r, sizeof(r));
		break;
	}
	case KSMMOD_NR_ADD_PROCESS:
	case KSMMOD_NR_REMOVE_PROCESS: {
		struct ksmmod_process p = { 0 };

		p.pidfd = gen_pidfd();
		switch (rnd(10)) {
		case 0:
			p.flags = KSMMOD_PROCESS_KEEP_EXEC;
			break;
		case 1:
			p.flags = rnd64();
			break;
		default:
			break;
		}
		memcpy(img, &p, sizeof(p));
		break;
	}
	case KSMMOD_NR_PROCESS_STATS: {
		struct ksmmod_process_stats s = { 0 };

		s.pidfd = gen_pidfd();
		if (!rnd(12))
			s.registered_bytes = 1 + rnd(1000);
		memcpy(img, &s, sizeof(s));
		break;
	}
	case KSMMOD_NR_SET_DOMAIN: {
		/*
		 * A few ids, so that this process and the bystander share
		 * domains and a process is often set to the domain it has;
		 * sometimes the edges of 64 bits or a random id (a new domain).
		 */
		static const uint64_t ids[] = { 1, 2, 3, 1ULL << 32, 1ULL << 63, ~0ULL };
		struct ksmmod_set_domain d = { 0 };

		d.pidfd = gen_pidfd();
		switch (rnd(10)) {
		case 0 ... 2:
			d.domain = 0;
			break;
		case 3 ... 6:
			d.domain = 1 + rnd(3);
			break;
		case 7 ... 8:
			d.domain = ids[rnd(6)];
			break;
		default:
			d.domain = rnd64();
			break;
		}
		memcpy(img, &d, sizeof(d));
		break;
	}
	case KSMMOD_NR_DOMAIN_STATS: {
		struct ksmmod_domain_stats d = { 0 };

		d.entry_size = gen_entry_size();
		d.count = gen_count(d.entry_size);
		d.entries = gen_entries(d.count, d.entry_size);
		memcpy(img, &d, sizeof(d));
		break;
	}
	}

	/* The size field. */
	switch (rnd(40)) {
	case 0:
		usize = 0;
		break;
	case 1:
		usize = ks - 8;
		break;
	case 2:
		usize = rnd(ks);
		break;
	case 3:
		usize = ks + 8;
		break;
	case 4 ... 5:
		usize = ks + 1 + rnd(4096 - ks);
		break;
	case 6:
		usize = 4096;
		break;
	case 7:
		usize = 4097 + rnd(1 << 20);
		break;
	case 8:
		usize = rnd64();
		break;
	default:
		usize = ks;
		break;
	}
	/* Mutations. */
	if (!rnd(7)) {
		switch (rnd(5)) {
		case 0:
			*(uint32_t *)(img + lay[snr].flags) = 1u << rnd(32);
			break;
		case 1:
			img[(lay[snr].pad ? lay[snr].pad : lay[snr].flags) + rnd(4)] = 1 + rnd(255);
			break;
		case 2:
			img[lay[snr].resv + rnd(lay[snr].resv_len)] = 1 + rnd(255);
			break;
		case 3:
			for (int n = 1 + rnd(4); n; n--)
				img[4 + rnd(ks - 4)] = rnd(256);
			break;
		default:
			for (size_t i = 4; i < ks; i++)
				img[i] = rnd(256);
			break;
		}
	}
	/* A non-zero byte the module does not know, in a larger structure. */
	if (usize > ks && usize <= 4096 && rnd(10) < 3)
		img[ks + rnd(usize - ks)] = 1 + rnd(255);
	/* The unprivileged caller targets other processes only. */
	if (!priv && has_pidfd(snr) && !*(uint32_t *)(img + 8))
		*(uint32_t *)(img + 8) = pfd_byst;
	/* Entries mutated to elsewhere in this process: into the guard page. */
	if (snr == KSMMOD_NR_DOMAIN_STATS) {
		uint64_t a;

		memcpy(&a, img + offsetof(struct ksmmod_domain_stats, entries), 8);
		if (!safe_entries(a)) {
			a = (uintptr_t)ents + ENT_PAGES * ps + (a & (ps - 1));
			memcpy(img + offsetof(struct ksmmod_domain_stats, entries), &a, 8);
		}
	}
	memcpy(img, &usize, 4);
	c->imglen = usize <= 4096 && usize > ks ? usize : ks;
}

static void gen_call(struct call *c, bool priv)
{
	static const unsigned char vfs_types[] = { 0x00, 0x15, 'T', 'X', 'f', 0x94 };
	unsigned int r = rnd(100), type, nr, dir, size;
	size_t need, off;
	bool vfs;

	if (r < 60) {
		c->nr = c->snr = rnd(NCMDS);
		c->cmd = cmds[c->nr].cmd;
	} else if (r < 80) {
		nr = rnd(NCMDS);
		dir = rnd(4);
		size = rnd(2) ? cmds[nr].ksize : rnd(1 << 14);
		c->cmd = _IOC(dir, KSMMOD_IOC_TYPE, nr, size);
		c->nr = dir == cmds[nr].dir ? (int)nr : -1;
		c->snr = nr;
	} else {
		/* Never a type the VFS answers itself (FIOCLEX, FIONBIO, FS_IOC_*, ...). */
		do {
			type = rnd(256);
			vfs = false;
			for (size_t i = 0; i < sizeof(vfs_types); i++)
				vfs |= type == vfs_types[i];
		} while (vfs);
		nr = rnd(256);
		if (type == KSMMOD_IOC_TYPE && nr < NCMDS)
			nr += NCMDS;
		c->cmd = _IOC(rnd(4), type, nr, rnd(1 << 14));
		c->nr = -1;
		c->snr = rnd(NCMDS);
	}
	gen_struct(c, c->snr, priv);

	r = rnd(100);
	c->akind = r < 2 ? A_NULL : r < 4 ? A_UNMAPPED : r < 6 ? A_PROTNONE : r < 8 ? A_KERNEL :
		   r < 16 ? A_STRADDLE : r < 22 ? A_RO : A_VALID;
	c->readable = c->writable = 0;
	need = c->imglen;
	switch (c->akind) {
	case A_NULL:
		c->p = NULL;
		break;
	case A_UNMAPPED:
		c->p = (unsigned char *)(uintptr_t)(0x1000 + rnd(ps));
		break;
	case A_PROTNONE:
		c->p = scratch + 2 * ps + rnd(ps);
		break;
	case A_KERNEL:
		c->p = (unsigned char *)(uintptr_t)(KADDR + rnd(ps));
		break;
	case A_STRADDLE:
		off = 2 * ps - rnd(need);
		c->p = scratch + off;
		c->readable = c->writable = 2 * ps - off;
		break;
	case A_RO:
		off = rnd(ps - cmds[c->snr].ksize + 1);
		if (rnd(4))
			off &= ~7UL;
		c->p = ro + off;
		c->readable = ps - off;
		break;
	default:
		off = rnd(2 * ps - need + 1);
		if (rnd(4))
			off &= ~7UL;
		c->p = scratch + off;
		c->readable = c->writable = 2 * ps - off;
		break;
	}
	if (c->akind == A_RO) {
		mprotect(ro, ps, PROT_READ | PROT_WRITE);
		memcpy(c->p, c->img, need < c->readable ? need : c->readable);
		mprotect(ro, ps, PROT_READ);
	} else if (c->readable) {
		memcpy(c->p, c->img, need < c->readable ? need : c->readable);
	}
}

/* ---- the model ---- */

/*
 * Whether [@s, @e) of process @pid has a hole (as the module's
 * ksmmod_count_pieces() sees it), and whether it overlaps an eligible
 * (private anonymous) mapping.
 */
static bool maps_holes(pid_t pid, uint64_t s, uint64_t e, bool *elig)
{
	char path[64], *line, *save = NULL;
	uint64_t addr = s;
	bool holes = false;
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	n = ksmt_read_file(path, mapsbuf, sizeof(mapsbuf));
	if (n <= 0 || n >= (ssize_t)sizeof(mapsbuf) - 1)
		ktap_exit_fail_msg("reading %s: %zd", path, n);
	*elig = false;
	for (line = strtok_r(mapsbuf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned long vs, ve, ino;
		char perms[8];
		int off = 0;
		const char *name;

		if (sscanf(line, "%lx-%lx %7s %*s %*s %lu %n", &vs, &ve, perms, &ino, &off) < 4)
			continue;
		if (ve <= s)
			continue;
		if (vs >= e)
			break;
		if (vs > addr)
			holes = true;
		addr = ve;
		name = off ? line + off : "";
		if (perms[3] == 'p' && !ino &&
		    (!*name || !strcmp(name, "[heap]") || !strcmp(name, "[stack]") ||
		     !strncmp(name, "[anon:", 6)))
			*elig = true;
	}
	if (addr < e)
		holes = true;
	return holes;
}

static bool all_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

/* Errors of the target lookup (ksmmod_get_target_mode()), or 0. */
static unsigned int target_err(int t)
{
	switch (t) {
	case T_BADF:
		return B(EBADF);
	case T_DEAD:
		return B(ESRCH);
	case T_OTHER:
		return B(EPERM);
	default:
		return 0;
	}
}

static pid_t target_pid(int t)
{
	return t == T_SELF ? getpid() : byst_pid;
}

static unsigned int known_set(int t, unsigned int yes)
{
	int k = known[t == T_SELF ? 0 : 1];

	return k == K_YES ? yes : k == K_NO ? B(ENOENT) : yes | B(ENOENT);
}

/*
 * The fewest domains DOMAIN_STATS can count: those of the processes known to
 * be registered (the two may share one; others may have more).
 */
static unsigned int domains_min(void)
{
	bool any = false, policy = false;
	uint64_t ex = 0;
	unsigned int nex = 0;

	for (int i = 0; i < 2; i++) {
		if (known[i] != K_YES)
			continue;
		any = true;
		if (!dom_sure[i])
			continue;
		if (!dom[i]) {
			policy = true;
		} else if (!nex || dom[i] != ex) {
			ex = dom[i];
			nex++;
		}
	}
	return policy + nex ? policy + nex : any;
}

static unsigned int model_cmd(const struct call *c, bool priv)
{
	const unsigned char *k = struct_view(c->img, cmds[c->nr].ksize, *(const uint32_t *)c->img);
	unsigned int e;
	bool elig;
	int t;

	switch (c->nr) {
	case KSMMOD_NR_API: {
		struct ksmmod_api a;

		memcpy(&a, k, sizeof(a));
		if (!a.api_version || a.flags || a.pad || !all_zero(a.reserved, sizeof(a.reserved)))
			return B(EINVAL);
		return B(0);
	}
	case KSMMOD_NR_GET_PARAMS:
	case KSMMOD_NR_SET_PARAMS: {
		struct ksmmod_params p;
		bool shape;

		memcpy(&p, k, sizeof(p));
		if (p.flags || p.pad || !all_zero(p.reserved, sizeof(p.reserved)))
			return B(EINVAL);
		if (c->nr == KSMMOD_NR_GET_PARAMS)
			return B(0);
		if (!p.mask || (p.mask & ~KSMMOD_PARAM_ALL))
			return B(EINVAL);
		if (((p.mask & KSMMOD_PARAM_RUN) && p.run > KSMMOD_RUN_UNMERGE) ||
		    ((p.mask & KSMMOD_PARAM_MAX_PAGE_SHARING) &&
		     (p.max_page_sharing < 2 || p.max_page_sharing > INT_MAX)) ||
		    ((p.mask & KSMMOD_PARAM_MERGE_ACROSS_NODES) && p.merge_across_nodes > 1) ||
		    ((p.mask & KSMMOD_PARAM_USE_ZERO_PAGES) && p.use_zero_pages > 1) ||
		    ((p.mask & KSMMOD_PARAM_DENSIFY_CHAINS) && p.densify_chains > 1) ||
		    ((p.mask & KSMMOD_PARAM_SMART_SCAN) && p.smart_scan > 1) ||
		    ((p.mask & KSMMOD_PARAM_ADVISOR_MODE) && p.advisor_mode > KSMMOD_ADVISOR_SCAN_TIME) ||
		    ((p.mask & KSMMOD_PARAM_ADVISOR_TARGET_SCAN_TIME) && !p.advisor_target_scan_time) ||
		    ((p.mask & KSMMOD_PARAM_MERGE_DOMAINS) && p.merge_domains > KSMMOD_DOMAINS_CGROUP))
			return B(EINVAL);
		shape = ((p.mask & KSMMOD_PARAM_MERGE_DOMAINS) &&
			 p.merge_domains != cur.merge_domains) ||
			((p.mask & KSMMOD_PARAM_MAX_PAGE_SHARING) &&
			 p.max_page_sharing != cur.max_page_sharing) ||
			((p.mask & KSMMOD_PARAM_MERGE_ACROSS_NODES) &&
			 p.merge_across_nodes != cur.merge_across_nodes);
		/* pages_to_scan belongs to the advisor (judged after EBUSY). */
		e = (p.mask & KSMMOD_PARAM_PAGES_TO_SCAN) &&
		    ((p.mask & KSMMOD_PARAM_ADVISOR_MODE) ? p.advisor_mode : cur.advisor_mode) !=
		    KSMMOD_ADVISOR_NONE ? B(EINVAL) : B(0);
		return shape && merged_possible ? e | B(EBUSY) : e;
	}
	case KSMMOD_NR_GET_STATS: {
		struct ksmmod_stats s;

		memcpy(&s, k, sizeof(s));
		return s.flags ? B(EINVAL) : B(0);
	}
	case KSMMOD_NR_MERGE_RANGE:
	case KSMMOD_NR_UNMERGE_RANGE: {
		struct ksmmod_range r;
		uint64_t len;

		memcpy(&r, k, sizeof(r));
		len = (r.length + ps - 1) & ~(uint64_t)(ps - 1);
		if (r.flags || r.pad || !all_zero(r.reserved, sizeof(r.reserved)))
			return B(EINVAL);
		if (r.start & (ps - 1))
			return B(EINVAL);
		if (len < r.length || r.start + len < r.start)
			return B(EINVAL);
		if (r.start + len > task_size_max)
			return B(ENOMEM);
		if (!len)
			return B(0);
		t = classify(r.pidfd, priv);
		e = target_err(t);
		if (e)
			return e;
		if (maps_holes(target_pid(t), r.start, r.start + len, &elig))
			return B(ENOMEM);
		return B(0);
	}
	case KSMMOD_NR_ADD_PROCESS:
	case KSMMOD_NR_REMOVE_PROCESS: {
		struct ksmmod_process p;
		bool add = c->nr == KSMMOD_NR_ADD_PROCESS;

		memcpy(&p, k, sizeof(p));
		if (p.pad || !all_zero(p.reserved, sizeof(p.reserved)))
			return B(EINVAL);
		if (p.flags & ~(add ? KSMMOD_PROCESS_FLAGS_ALL : 0))
			return B(EINVAL);
		t = classify(p.pidfd, priv);
		e = target_err(t);
		if (e)
			return e;
		return add ? B(0) : known_set(t, B(0));
	}
	case KSMMOD_NR_PROCESS_STATS: {
		struct ksmmod_process_stats s;

		memcpy(&s, k, sizeof(s));
		if (s.flags || s.pad || s.merging_pages || s.rmap_items || s.zero_pages ||
		    s.process_profit || s.registered_bytes || s.merge_any || s.mergeable ||
		    s.ineligible_pages || s.merge_pinned || s.thp_unsplittable ||
		    s.domain_kind || s.pad2 || s.domain_id ||
		    !all_zero(s.reserved, sizeof(s.reserved)))
			return B(EINVAL);
		t = classify(s.pidfd, priv);
		e = target_err(t);
		if (e)
			return e;
		return known_set(t, B(0));
	}
	case KSMMOD_NR_SET_DOMAIN: {
		struct ksmmod_set_domain d;

		/* Any id, 0 included; the same one again is a no-op. */
		memcpy(&d, k, sizeof(d));
		if (d.flags || d.pad || !all_zero(d.reserved, sizeof(d.reserved)))
			return B(EINVAL);
		t = classify(d.pidfd, priv);
		e = target_err(t);
		if (e)
			return e;
		return known_set(t, B(0));
	}
	case KSMMOD_NR_DOMAIN_STATS: {
		struct ksmmod_domain_stats d;
		uint64_t end, fit;

		memcpy(&d, k, sizeof(d));
		if (d.flags || !all_zero(d.reserved, sizeof(d.reserved)) ||
		    d.entry_size < KSMMOD_DOMAIN_ENTRY_SIZE_VER0 || d.entry_size > 4096 ||
		    d.count > DSTATS_MAX)
			return B(EINVAL);
		if (!d.count)
			return B(0);	/* entries not looked at */
		/* access_ok() of the whole array */
		end = d.entries + (uint64_t)d.count * d.entry_size;
		if (end < d.entries || end >= 1ULL << 63)
			return B(EFAULT);
		/*
		 * Up to TASK_SIZE_MAX on 6.1; below it on 6.12 (USER_PTR_MAX), or
		 * up to bit 63 with LAM: the architecture's to decide. Nothing is
		 * mapped there, so only the domains to write decide beyond it.
		 */
		e = end >= task_size_max ? B(EFAULT) : 0;
		/* min(count, domains) entries written, up to the first that faults */
		fit = ents_room(d.entries) / d.entry_size;
		if (d.count <= fit)
			return e | B(0);
		if (domains_min() > fit)
			return e | B(EFAULT);
		return e | B(0) | B(EFAULT);
	}
	}
	return 0;
}

/* The results allowed for @c, in the order src/dev.c checks. */
static unsigned int model(const struct call *c, bool priv)
{
	const struct cmdinfo *ci;
	unsigned int want;
	uint32_t usize;
	size_t ks;

	if (c->nr < 0 || c->nr >= NCMDS)
		return B(ENOTTY);
	ci = &cmds[c->nr];
	ks = ci->ksize;
	if (ci->admin && !priv)
		return B(EPERM);	/* before looking at the argument */
	if (c->readable < 4)
		return B(EFAULT);
	memcpy(&usize, c->img, 4);
	if (usize < min_size(c->nr))
		return B(EINVAL);
	if (usize > 4096)
		return B(E2BIG);
	if (usize > ks) {
		/* copy_struct_from_user(): check_zeroed_user(), word by aligned word */
		uintptr_t base = (uintptr_t)c->p, a = base + ks, end = base + usize, w;

		for (w = a & ~7UL; w < end; w += 8) {
			if (w + 8 > base + c->readable)
				return B(EFAULT);
			for (uintptr_t b = w > a ? w : a; b < w + 8 && b < end; b++)
				if (c->img[b - base])
					return B(E2BIG);
		}
	}
	if (usize < ks)
		ks = usize;	/* what is read and written back */
	if (c->readable < ks)
		return B(EFAULT);
	want = model_cmd(c, priv);
	if (ci->out && (want & B(0)) && c->writable < ks)
		want = (want & ~B(0)) | B(EFAULT);
	return want;
}

static size_t min_size(int nr)
{
	return nr == KSMMOD_NR_PROCESS_STATS ? KSMMOD_PROCESS_STATS_SIZE_VER0 : cmds[nr].ksize;
}

/* ---- checking one call ---- */

static void violation(const struct call *c, int ret, unsigned int want, const char *what)
{
	nviol++;
	if (nviol > MAXVIOL)
		return;
	ktap_print_msg("VIOLATION %llu: %s cmd %#x (%s, struct %s) arg %s size %u: got %s, model %s%s%s",
		       nviol, c->nr >= 0 ? cmds[c->nr].name : "unknown", c->cmd,
		       c->nr >= 0 ? "dispatched" : "not dispatched", cmds[c->snr].name,
		       akinds[c->akind], *(uint32_t *)c->img, ret ? errnames[eidx(-ret)] : "ok",
		       setstr(want), what ? ": " : "", what ? what : "");
	if (c->snr >= KSMMOD_NR_MERGE_RANGE && c->snr <= KSMMOD_NR_UNMERGE_RANGE) {
		struct ksmmod_range r;

		memcpy(&r, c->img, sizeof(r));
		ktap_print_msg("  range pidfd %u start %#llx length %#llx flags %#x pad %#x", r.pidfd,
			       (unsigned long long)r.start, (unsigned long long)r.length, r.flags, r.pad);
	} else if (c->snr == KSMMOD_NR_SET_DOMAIN) {
		struct ksmmod_set_domain d;

		memcpy(&d, c->img, sizeof(d));
		ktap_print_msg("  pidfd %u domain %#llx flags %#x pad %#x (model: known %d/%d, domains %#llx%s/%#llx%s)",
			       d.pidfd, (unsigned long long)d.domain, d.flags, d.pad, known[0],
			       known[1], (unsigned long long)dom[0], dom_sure[0] ? "" : "?",
			       (unsigned long long)dom[1], dom_sure[1] ? "" : "?");
	} else if (c->snr == KSMMOD_NR_DOMAIN_STATS) {
		struct ksmmod_domain_stats d;

		memcpy(&d, c->img, sizeof(d));
		ktap_print_msg("  count %u entry_size %u entries %#llx (room %llu) flags %#x (model: at least %u domains, known %d/%d, domains %#llx%s/%#llx%s, merge_domains %u)",
			       d.count, d.entry_size, (unsigned long long)d.entries,
			       (unsigned long long)ents_room(d.entries), d.flags, domains_min(),
			       known[0], known[1], (unsigned long long)dom[0], dom_sure[0] ? "" : "?",
			       (unsigned long long)dom[1], dom_sure[1] ? "" : "?",
			       cur.merge_domains);
	} else if (c->snr >= KSMMOD_NR_ADD_PROCESS) {
		ktap_print_msg("  pidfd %u flags %#x", *(uint32_t *)(c->img + 8),
			       *(uint32_t *)(c->img + 4));
	} else if (c->snr == KSMMOD_NR_SET_PARAMS || c->snr == KSMMOD_NR_GET_PARAMS) {
		struct ksmmod_params p;

		memcpy(&p, c->img, sizeof(p));
		ktap_print_msg("  mask %#llx run %u scan %u sleep %u mps %u man %u uzp %u dens %u (model mps %u man %u merged_possible %d)",
			       (unsigned long long)p.mask, p.run, p.pages_to_scan, p.sleep_millisecs,
			       p.max_page_sharing, p.merge_across_nodes, p.use_zero_pages,
			       p.densify_chains, cur.max_page_sharing, cur.merge_across_nodes,
			       merged_possible);
	}
}

static bool params_match(const struct ksmmod_params *p)
{
	/* The scan-time advisor changes pages_to_scan as it scans. */
	return p->run == cur.run &&
	       (cur.advisor_mode != KSMMOD_ADVISOR_NONE || p->pages_to_scan == cur.pages_to_scan) &&
	       p->sleep_millisecs == cur.sleep_millisecs &&
	       p->max_page_sharing == cur.max_page_sharing &&
	       p->stable_node_chains_prune_millisecs == cur.stable_node_chains_prune_millisecs &&
	       p->merge_across_nodes == cur.merge_across_nodes &&
	       p->use_zero_pages == cur.use_zero_pages && p->densify_chains == cur.densify_chains &&
	       p->smart_scan == cur.smart_scan && p->advisor_mode == cur.advisor_mode &&
	       p->advisor_max_cpu == cur.advisor_max_cpu &&
	       p->advisor_target_scan_time == cur.advisor_target_scan_time &&
	       p->advisor_min_pages_to_scan == cur.advisor_min_pages_to_scan &&
	       p->advisor_max_pages_to_scan == cur.advisor_max_pages_to_scan &&
	       p->merge_domains == cur.merge_domains;
}

/* What an output command wrote; NULL if fine. */
static const char *check_output(const struct call *c)
{
	uint32_t usize = *(const uint32_t *)c->img;
	size_t ks = cmds[c->nr].ksize;
	const unsigned char *o = struct_view(c->p, ks, usize);

	if (*(uint32_t *)o != (usize < ks ? usize : ks))
		return "size written back is not the module's";
	switch (c->nr) {
	case KSMMOD_NR_API: {
		struct ksmmod_api a;

		memcpy(&a, o, sizeof(a));
		/* Every command of the table, and no other: a new one needs a model. */
		if (a.api_version != KSMMOD_API_VERSION || a.features != KSMMOD_FEATURES_ALL ||
		    a.ioctls != (1ULL << NCMDS) - 1 || a.flags || a.pad ||
		    !all_zero(a.reserved, sizeof(a.reserved)) ||
		    !memchr(a.module_version, 0, sizeof(a.module_version)) ||
		    strcmp(a.kernel_release, ksmt_release()))
			return "API output";
		break;
	}
	case KSMMOD_NR_GET_PARAMS: {
		struct ksmmod_params p;

		memcpy(&p, o, sizeof(p));
		if (p.flags || p.mask != KSMMOD_PARAM_ALL || !all_zero(p.reserved, sizeof(p.reserved)) ||
		    !params_match(&p))
			return "GET_PARAMS output differs from the model";
		break;
	}
	case KSMMOD_NR_GET_STATS: {
		struct ksmmod_stats s;
		const __u64 *v = &s.pages_shared;

		memcpy(&s, o, sizeof(s));
		if (s.flags || !all_zero(s.reserved, sizeof(s.reserved)))
			return "GET_STATS flags/reserved";
		/* No counter may have wrapped below zero. */
		for (const __u64 *x = v; x <= &s.densify_moves; x++)
			if ((const void *)x != (const void *)&s.general_profit && *x > (1ULL << 48))
				return "GET_STATS counter out of range";
		break;
	}
	case KSMMOD_NR_PROCESS_STATS: {
		struct ksmmod_process_stats s;

		memcpy(&s, o, sizeof(s));
		if (s.pidfd != *(const uint32_t *)(c->img + 8) || s.flags || s.pad ||
		    !all_zero(s.reserved, sizeof(s.reserved)) || s.merging_pages > (1ULL << 40) ||
		    s.rmap_items > (1ULL << 40) || s.merge_any > 1 || s.mergeable > 1 ||
		    s.mergeable != (s.merge_any || s.registered_bytes) ||
		    s.domain_kind > KSMMOD_DOMAINS_EXPLICIT || s.pad2 ||
		    (s.domain_kind == KSMMOD_DOMAINS_NONE && s.domain_id))
			return "PROCESS_STATS output";
		break;
	}
	case KSMMOD_NR_DOMAIN_STATS: {
		struct ksmmod_domain_stats d, in;

		/* The argument as it came, with @count set to the number of domains. */
		memcpy(&d, o, sizeof(d));
		memcpy(&in, c->img, sizeof(in));
		if (d.flags || d.entry_size != in.entry_size || d.entries != in.entries ||
		    !all_zero(d.reserved, sizeof(d.reserved)) || d.count > DSTATS_MAX ||
		    d.count < domains_min())
			return "DOMAIN_STATS output";
		break;
	}
	}
	return NULL;
}

/* Whether DOMAIN_STATS entry @e is of the domain of a process whose explicit domain is @id. */
static bool entry_is(const struct ksmmod_domain_entry *e, uint64_t id)
{
	if (id)
		return e->kind == KSMMOD_DOMAINS_EXPLICIT && e->id == id;
	/* the policy's: the uid of root, or the cgroup it was in */
	return e->kind == cur.merge_domains &&
	       (cur.merge_domains == KSMMOD_DOMAINS_CGROUP || e->id == 0);
}

/*
 * What a call left in the entries area: only DOMAIN_STATS writes there, on
 * success exactly min(@count, domains) entries at @entries, on EFAULT what
 * fitted before the fault (up to @count entries); nothing otherwise. NULL if
 * fine.
 */
static const char *check_entries(const struct call *c, int ret)
{
	const unsigned char *rw = ents, *rw_end = ents + ENT_PAGES * ps, *from = rw, *to = rw;
	struct ksmmod_domain_stats in, out;
	uint64_t room;

	memcpy(&in, c->img, sizeof(in));
	room = ents_room(in.entries);
	if (c->nr == KSMMOD_NR_DOMAIN_STATS && ret == -EFAULT && room) {
		from = (const unsigned char *)(uintptr_t)in.entries;
		to = from + ((uint64_t)in.count * in.entry_size < room ?
			     (uint64_t)in.count * in.entry_size : room);
	} else if (c->nr == KSMMOD_NR_DOMAIN_STATS && !ret) {
		uint32_t n;

		memcpy(&out, c->p, sizeof(out));
		n = in.count < out.count ? in.count : out.count;
		if (n && (uint64_t)n * in.entry_size > room)
			return "DOMAIN_STATS succeeded, its entries not fitting in writable memory";
		from = to = (const unsigned char *)(uintptr_t)in.entries;
		for (uint32_t i = 0; i < n; i++, to += in.entry_size) {
			struct ksmmod_domain_entry e, f;
			const __u64 *v;

			memcpy(&e, to, sizeof(e));
			if (e.kind > KSMMOD_DOMAINS_EXPLICIT || e.pad ||
			    !all_zero(e.reserved, sizeof(e.reserved)) ||
			    !all_zero(to + sizeof(e), in.entry_size - sizeof(e)))
				return "DOMAIN_STATS entry: kind, padding, reserved or tail bytes";
			if ((e.kind == KSMMOD_DOMAINS_NONE && e.id) ||
			    (e.kind == KSMMOD_DOMAINS_EXPLICIT && !e.id) ||
			    (e.kind != KSMMOD_DOMAINS_EXPLICIT && e.kind != cur.merge_domains))
				return "DOMAIN_STATS entry: kind and id do not fit merge_domains";
			/* Only domains with processes; no counter wrapped below zero. */
			for (v = &e.processes; v <= &e.rmap_items; v++)
				if (*v > (1ULL << 48))
					return "DOMAIN_STATS entry: counter out of range";
			if (!e.processes || (e.pages_sharing && !e.pages_shared) ||
			    e.profit > (int64_t)(e.pages_sharing + e.ksm_zero_pages) * ps)
				return "DOMAIN_STATS entry: processes, pages or profit";
			for (const unsigned char *x = from; x < to; x += in.entry_size) {
				memcpy(&f, x, sizeof(f));
				if (f.kind == e.kind && f.id == e.id)
					return "DOMAIN_STATS: one domain twice";
			}
		}
		/* All written: the domains of the processes known to be registered are there. */
		for (int i = 0; n == out.count && i < 2; i++) {
			struct ksmmod_domain_entry e;
			uint64_t want = 0;
			const unsigned char *x;

			if (known[i] != K_YES || !dom_sure[i])
				continue;
			for (int j = 0; j < 2; j++)
				want += known[j] == K_YES && dom_sure[j] && dom[j] == dom[i];
			if (!dom[i] && cur.merge_domains == KSMMOD_DOMAINS_CGROUP)
				want = 1;	/* the two may be in different cgroups */
			for (x = from; x < to; x += in.entry_size) {
				memcpy(&e, x, sizeof(e));
				if (entry_is(&e, dom[i]))
					break;
			}
			if (x == to || e.processes < want)
				return i ? "DOMAIN_STATS: the bystander's domain missing or short" :
					   "DOMAIN_STATS: this process's domain missing or short";
		}
	}
	for (const unsigned char *x = rw; x < rw_end; x++) {
		if (x == from)
			x = to;
		if (x < rw_end && *x != ENT_FILL)
			return "the entries area changed beyond what DOMAIN_STATS may write";
	}
	return NULL;
}

/* Target @i is now known (not) to be registered: @now (K_*). */
static void set_known(int i, int now)
{
	/* Not registered: a new slot starts in no explicit domain. */
	if (now == K_NO) {
		dom[i] = 0;
		dom_sure[i] = true;
	}
	known[i] = now;
}

/* Target @i was registered by a call: if it was not before, it has a new slot. */
static void registered(int i, int now)
{
	if (known[i] != K_YES && dom[i])
		dom_sure[i] = false;	/* the old slot's, or a new one's (0) */
	set_known(i, now);
}

/* Update the model from a result. */
static void learn(const struct call *c, int ret, bool priv)
{
	const unsigned char *k = c->img;
	int t, *kn;

	if (c->nr < 0 || !priv)
		return;
	switch (c->nr) {
	case KSMMOD_NR_SET_PARAMS: {
		struct ksmmod_params p, g;

		if (ret)
			return;
		memcpy(&p, k, sizeof(p));
		if (p.mask & KSMMOD_PARAM_RUN)
			cur.run = p.run;
		if (p.mask & KSMMOD_PARAM_SLEEP_MILLISECS)
			cur.sleep_millisecs = p.sleep_millisecs;
		if (p.mask & KSMMOD_PARAM_MAX_PAGE_SHARING)
			cur.max_page_sharing = p.max_page_sharing;
		if (p.mask & KSMMOD_PARAM_STABLE_NODE_CHAINS_PRUNE_MILLISECS)
			cur.stable_node_chains_prune_millisecs = p.stable_node_chains_prune_millisecs;
		if (p.mask & KSMMOD_PARAM_MERGE_ACROSS_NODES)
			cur.merge_across_nodes = p.merge_across_nodes;
		if (p.mask & KSMMOD_PARAM_USE_ZERO_PAGES)
			cur.use_zero_pages = p.use_zero_pages;
		if (p.mask & KSMMOD_PARAM_DENSIFY_CHAINS)
			cur.densify_chains = p.densify_chains;
		if (p.mask & KSMMOD_PARAM_SMART_SCAN)
			cur.smart_scan = p.smart_scan;
		if (p.mask & KSMMOD_PARAM_ADVISOR_MAX_CPU)
			cur.advisor_max_cpu = p.advisor_max_cpu;
		if (p.mask & KSMMOD_PARAM_ADVISOR_TARGET_SCAN_TIME)
			cur.advisor_target_scan_time = p.advisor_target_scan_time;
		if (p.mask & KSMMOD_PARAM_ADVISOR_MIN_PAGES_TO_SCAN)
			cur.advisor_min_pages_to_scan = p.advisor_min_pages_to_scan;
		if (p.mask & KSMMOD_PARAM_ADVISOR_MAX_PAGES_TO_SCAN)
			cur.advisor_max_pages_to_scan = p.advisor_max_pages_to_scan;
		if (p.mask & KSMMOD_PARAM_MERGE_DOMAINS)
			cur.merge_domains = p.merge_domains;
		/* A change of mode resets pages_to_scan (mm/ksm.c's set_advisor_defaults()). */
		if ((p.mask & KSMMOD_PARAM_ADVISOR_MODE) && p.advisor_mode != cur.advisor_mode) {
			cur.advisor_mode = p.advisor_mode;
			cur.pages_to_scan = p.advisor_mode == KSMMOD_ADVISOR_SCAN_TIME ?
					    cur.advisor_min_pages_to_scan : 100;
		}
		if (p.mask & KSMMOD_PARAM_PAGES_TO_SCAN)
			cur.pages_to_scan = p.pages_to_scan;
		if (p.mask & KSMMOD_PARAM_RUN) {
			if (p.run == KSMMOD_RUN_UNMERGE)
				merged_possible = false;
			else if (p.run == KSMMOD_RUN_MERGE)
				merged_possible = true;
		}
		if (ksmt_get_params(fd, &g) || !params_match(&g))
			violation(c, ret, B(0), "GET_PARAMS after SET_PARAMS differs from the model");
		return;
	}
	case KSMMOD_NR_MERGE_RANGE:
	case KSMMOD_NR_UNMERGE_RANGE: {
		struct ksmmod_range r;
		uint64_t len;
		bool elig;

		memcpy(&r, k, sizeof(r));
		len = (r.length + ps - 1) & ~(uint64_t)(ps - 1);
		t = classify(r.pidfd, priv);
		if (ret || !len || (t != T_SELF && t != T_BYST))
			return;
		kn = &known[t == T_SELF ? 0 : 1];
		if (c->nr == KSMMOD_NR_MERGE_RANGE) {
			maps_holes(target_pid(t), r.start, r.start + len, &elig);
			if (elig)
				registered(t == T_SELF ? 0 : 1, K_YES);
			else if (*kn == K_NO)
				registered(t == T_SELF ? 0 : 1, K_MAYBE);
		} else if (*kn == K_YES) {
			*kn = K_MAYBE;	/* the last range may have gone */
		}
		return;
	}
	case KSMMOD_NR_ADD_PROCESS:
	case KSMMOD_NR_REMOVE_PROCESS:
	case KSMMOD_NR_PROCESS_STATS:
	case KSMMOD_NR_SET_DOMAIN:
		t = classify(*(const uint32_t *)(k + 8), priv);
		if (t != T_SELF && t != T_BYST)
			return;
		t = t == T_SELF ? 0 : 1;
		if (ret == -ENOENT) {
			set_known(t, K_NO);
		} else if (ret) {
			return;
		} else if (c->nr == KSMMOD_NR_REMOVE_PROCESS) {
			set_known(t, K_NO);
		} else if (c->nr == KSMMOD_NR_ADD_PROCESS) {
			registered(t, K_YES);
		} else if (c->nr == KSMMOD_NR_PROCESS_STATS) {
			set_known(t, K_YES);	/* the slot it had, if it was known */
		} else {
			/*
			 * It moved (its pages unmerged) or was there already.
			 * merged_possible stays: other processes keep theirs, and
			 * the scanner merges its pages again in the new domain.
			 */
			set_known(t, K_YES);
			memcpy(&dom[t], k + offsetof(struct ksmmod_set_domain, domain), 8);
			dom_sure[t] = true;
		}
		return;
	}
}

/* One random call; returns its result. */
static int one_call(bool priv, unsigned long long *changing, unsigned long long *refused,
		    unsigned long long *noop)
{
	struct timespec t0, t1;
	const char *bad = NULL;
	unsigned int want;
	struct call c;
	unsigned long long ns;
	size_t n;
	int ret;

	gen_call(&c, priv);
	want = model(&c, priv);
	if (c.snr == KSMMOD_NR_DOMAIN_STATS && ents_dirty) {
		memset(ents, ENT_FILL, ENT_PAGES * ps);
		ents_dirty = false;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ret = ioctl(fd, c.cmd, c.p) ? -errno : 0;
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ns = (t1.tv_sec - t0.tv_sec) * 1000000000ULL + t1.tv_nsec - t0.tv_nsec;
	ncalls++;
	counts[c.nr < 0 ? NCMDS : c.nr][eidx(-ret)]++;
	if (ns > maxns[c.nr < 0 ? NCMDS : c.nr])
		maxns[c.nr < 0 ? NCMDS : c.nr] = ns;
	if (!(want & B(-ret)))
		violation(&c, ret, want, NULL);

	/* Nothing written unless an output command succeeded, and then only its struct. */
	n = c.imglen < c.readable ? c.imglen : c.readable;
	if (c.akind == A_VALID || c.akind == A_STRADDLE) {
		size_t from = !ret && c.nr >= 0 && cmds[c.nr].out ? cmds[c.nr].ksize : 0;

		/* A shorter (older) structure is written back at its size. */
		if (from && *(const uint32_t *)c.img < from)
			from = *(const uint32_t *)c.img;

		if (n > from && memcmp(c.p + from, c.img + from, n - from))
			bad = "the argument buffer changed";
		else if (from && !bad)
			bad = check_output(&c);
		if (bad)
			violation(&c, ret, want, bad);
	}
	if (c.snr == KSMMOD_NR_DOMAIN_STATS) {
		bad = check_entries(&c, ret);
		if (bad)
			violation(&c, ret, want, bad);
		ents_dirty = (c.nr >= 0 && (!ret || ret == -EFAULT)) || bad;
	}
	learn(&c, ret, priv);
	if (c.nr >= 0 && cmds[c.nr].changes && changing) {
		(*changing)++;
		if (ret)
			(*refused)++;
		else
			(*noop)++;
	}
	return ret;
}

static void print_counts(const char *who)
{
	for (int i = 0; i <= NCMDS; i++) {
		char line[512];
		size_t n = 0;
		unsigned long long tot = 0;

		for (size_t e = 0; e < NERRS; e++)
			tot += counts[i][e];
		if (!tot)
			continue;
		n += snprintf(line + n, sizeof(line) - n, "%s%s %llu:", who,
			      i < NCMDS ? cmds[i].name : "not-dispatched", tot);
		for (size_t e = 0; e < NERRS; e++)
			if (counts[i][e])
				n += snprintf(line + n, sizeof(line) - n, " %s %llu", errnames[e],
					      counts[i][e]);
		ktap_print_msg("%s; slowest %.1f ms", line, maxns[i] / 1e6);
	}
}

/* ---- bystander ---- */

static unsigned char pattern(int content, long off)
{
	return (unsigned char)(content * 61 + 1 + (off * 7 + (off >> 8)) % 251);
}

static void bystander(void)
{
	unsigned char *exp[4];
	int content[BYST_PAGES];

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	munmap(byst + BYST_PAGES * ps, BYST_HOLE * ps);
	for (int c = 0; c < 4; c++) {
		exp[c] = malloc(ps);
		for (long i = 0; i < ps; i++)
			exp[c][i] = pattern(c, i);
	}
	for (int i = 0; i < BYST_PAGES; i++) {
		content[i] = i % 4;
		memcpy(byst + i * ps, exp[content[i]], ps);
	}
	sh->reg_err = ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, byst, BYST_PAGES * ps);
	close(fd);
	__atomic_store_n(&sh->ready, 1, __ATOMIC_SEQ_CST);

	for (;;) {
		bool stop = __atomic_load_n(&sh->stop, __ATOMIC_SEQ_CST);
		int req;

		for (int i = 0; i < BYST_PAGES; i++) {
			char *pg = byst + i * ps;

			if (!memcmp(pg, exp[content[i]], ps))
				continue;
			if (!sh->mismatches++) {
				for (long o = 0; o < ps; o++) {
					if ((unsigned char)pg[o] != exp[content[i]][o]) {
						sh->bad_page = i;
						sh->bad_off = o;
						sh->bad_byte = (unsigned char)pg[o];
						sh->bad_want = exp[content[i]][o];
						break;
					}
				}
			}
		}
		sh->rounds++;
		if (stop)
			break;
		req = __atomic_load_n(&sh->pfn_req, __ATOMIC_SEQ_CST);
		if (req != __atomic_load_n(&sh->pfn_ack, __ATOMIC_SEQ_CST)) {
			uint64_t first[4] = { 0 }, pfn;
			bool ok = true;

			for (int i = 0; i < BYST_PAGES; i++) {
				pfn = ksmt_pfn_of(byst + i * ps);
				if (!first[content[i]])
					first[content[i]] = pfn;
				ok = ok && pfn && pfn == first[content[i]];
			}
			for (int a = 0; a < 4; a++)
				for (int b = a + 1; b < 4; b++)
					ok = ok && first[a] != first[b];
			sh->pfn_ok = ok;
			__atomic_store_n(&sh->pfn_ack, req, __ATOMIC_SEQ_CST);
		}
		/* Now and then give one page a new content (a CoW break) and check it. */
		if (__atomic_load_n(&sh->cow, __ATOMIC_SEQ_CST) && sh->rounds % 8 == 0) {
			int j = (sh->rounds / 8 * 13) % BYST_PAGES;

			content[j] = (content[j] + 1) % 4;
			memcpy(byst + j * ps, exp[content[j]], ps);
			sh->writes++;
			if (memcmp(byst + j * ps, exp[content[j]], ps))
				sh->mismatches++;
		}
		usleep(2000);
	}
	_exit(0);
}

/* ---- sysfs: a model of kstrto*() and of src/sysfs.c ---- */

enum { P_RUN, P_UINT, P_INT, P_ULONG, P_BOOL, P_ULONG_EINVAL, P_TARGET, P_MODE, P_DOMAINS };

static const struct {
	const char *name;
	int parse;
} knobs[] = {
	{ "run", P_RUN },
	{ "pages_to_scan", P_UINT },
	{ "sleep_millisecs", P_UINT },
	{ "max_page_sharing", P_INT },
	{ "stable_node_chains_prune_millisecs", P_UINT },
	{ "merge_across_nodes", P_ULONG },
	{ "use_zero_pages", P_BOOL },
	{ "densify_chains", P_BOOL },
	{ "smart_scan", P_BOOL },
	{ "advisor_mode", P_MODE },
	{ "advisor_max_cpu", P_ULONG_EINVAL },
	{ "advisor_target_scan_time", P_TARGET },
	{ "advisor_min_pages_to_scan", P_ULONG_EINVAL },
	{ "advisor_max_pages_to_scan", P_ULONG_EINVAL },
	{ "merge_domains", P_DOMAINS },
};
#define NKNOBS	(sizeof(knobs) / sizeof(knobs[0]))

/* lib/kstrtox.c _kstrtoull() (base 10), with kstrtoull()'s '+' if @plus. */
static int m_kstrtoull(const char *s, bool plus, unsigned long long *res)
{
	unsigned long long v = 0;
	bool of = false;
	int n = 0;

	if (plus && *s == '+')
		s++;
	for (; *s >= '0' && *s <= '9'; s++, n++) {
		unsigned int d = *s - '0';

		if (v > (ULLONG_MAX - d) / 10)
			of = true;
		v = v * 10 + d;
	}
	if (of)
		return -ERANGE;
	if (!n)
		return -EINVAL;
	if (*s == '\n')
		s++;
	if (*s)
		return -EINVAL;
	*res = v;
	return 0;
}

static int m_kstrtoll(const char *s, long long *res)
{
	unsigned long long t;
	int r;

	if (s[0] == '-') {
		r = m_kstrtoull(s + 1, false, &t);
		if (r)
			return r;
		if ((long long)-t > 0)
			return -ERANGE;
		*res = -t;
		return 0;
	}
	r = m_kstrtoull(s, true, &t);
	if (r)
		return r;
	if ((long long)t < 0)
		return -ERANGE;
	*res = t;
	return 0;
}

/* What writing @s to a knob parsed as @parse returns: 0 (valid: not tried) or -errno. */
static int predict(int parse, const char *s)
{
	unsigned long long u;
	long long l;
	int r;

	switch (parse) {
	case P_RUN:
	case P_UINT:
		if (m_kstrtoull(s, true, &u) || u > UINT_MAX)
			return -EINVAL;
		return parse == P_RUN && u > 2 ? -EINVAL : 0;
	case P_INT:
		r = m_kstrtoll(s, &l);
		if (!r && l != (int)l)
			r = -ERANGE;
		if (r)
			return r;
		return l < 2 ? -EINVAL : 0;
	case P_ULONG:
		r = m_kstrtoull(s, true, &u);
		if (r)
			return r;
		return u > 1 ? -EINVAL : 0;
	case P_ULONG_EINVAL:
	case P_TARGET:
		/* ksmmod refuses what does not fit 32 bits (mm/ksm.c truncates). */
		if (m_kstrtoull(s, true, &u) || u > UINT_MAX)
			return -EINVAL;
		return parse == P_TARGET && !u ? -EINVAL : 0;
	case P_MODE:
		/* sysfs_streq(): one trailing newline ignored. */
		if (!strcmp(s, "none") || !strcmp(s, "none\n") || !strcmp(s, "scan-time") ||
		    !strcmp(s, "scan-time\n"))
			return 0;
		return -EINVAL;
	case P_DOMAINS:
		for (const char *const *w = (const char *const[]){ "none", "uid", "cgroup", NULL };
		     *w; w++)
			if (!strncmp(s, *w, strlen(*w)) && (!s[strlen(*w)] || !strcmp(s + strlen(*w), "\n")))
				return 0;
		return -EINVAL;
	default:
		/* kstrtobool(): the first character(s) decide (e/d since 6.x). */
		if (strchr("eEyYtT1dDnNfF0", s[0]) && s[0])
			return 0;
		if ((s[0] == 'o' || s[0] == 'O') && s[1] && strchr("nNfF", s[1]))
			return 0;
		return -EINVAL;
	}
}

static char garbage[6002];

static void gen_garbage(void)
{
	static const char *const fixed[] = {
		"abc", "-1", "-0", "18446744073709551616", "99999999999999999999999", "4294967296",
		"2147483648", "-2147483649", "-9223372036854775808", "0x10", " 1", "1 ", "1\n\n",
		"\n", "+", "-", "--1", "+-1", "1e3", "1.5", "5x", "1\t", "1\n2", "o", "oops",
		"on1x", "ja", "#", "\xff\xfe", "3", "256", "-256",
	};
	static const char *const junk[] = { "x", " ", " 1", "\t", "\n\n", "\n1", ".5", "abc", "-" };
	size_t n = 0, len;

	switch (rnd(8)) {
	case 0 ... 1:
		snprintf(garbage, sizeof(garbage), "%s", fixed[rnd(sizeof(fixed) / sizeof(fixed[0]))]);
		return;
	case 2:
		/* A number and junk. */
		n = snprintf(garbage, sizeof(garbage), "%s%llu%s", rnd(3) ? "" : "-",
			     (unsigned long long)(rnd(2) ? rnd(1000) : rnd64()),
			     junk[rnd(sizeof(junk) / sizeof(junk[0]))]);
		return;
	case 3:
		/* Many digits: overflows everything. */
		len = 20 + rnd(40);
		for (n = 0; n < len; n++)
			garbage[n] = '1' + rnd(9);
		garbage[n] = '\0';
		return;
	case 4: {
		/* Very long, beyond a page (sysfs passes the first PAGE_SIZE bytes). */
		static const char fill[] = "1a -9y";
		char ch = fill[rnd(sizeof(fill) - 1)];

		len = 4000 + rnd(2000);
		garbage[0] = rnd(2) ? ch : 'x';
		memset(garbage + 1, ch, len - 1);
		garbage[len] = '\0';
		return;
	}
	default:
		/* Random bytes, never NUL. */
		len = 1 + rnd(24);
		for (n = 0; n < len; n++)
			garbage[n] = 1 + rnd(255);
		garbage[n] = '\0';
		return;
	}
}

/* Bad writes to every writable file; returns true if all were rejected as modelled. */
static bool sysfs_phase(unsigned long long *nwrites, unsigned long long *nskipped)
{
	unsigned long long bad = 0;
	struct dirent *de;
	DIR *d = opendir(SYSDIR);
	int nfiles = 0;

	if (!d) {
		ktap_print_msg("opendir %s: %s", SYSDIR, strerror(errno));
		return false;
	}
	while ((de = readdir(d))) {
		char path[300], before[64], after[64], trunc[4097];
		struct stat st;
		int parse = -1;

		snprintf(path, sizeof(path), SYSDIR "%s", de->d_name);
		if (stat(path, &st) || !S_ISREG(st.st_mode) || !(st.st_mode & 0222))
			continue;
		nfiles++;
		for (size_t i = 0; i < NKNOBS; i++)
			if (!strcmp(knobs[i].name, de->d_name))
				parse = knobs[i].parse;
		if (parse < 0) {
			ktap_print_msg("writable %s: no model for it", path);
			bad++;
			continue;
		}
		/* An empty write reaches no store method: 0 bytes written, nothing changes. */
		ksmt_read_file(path, before, sizeof(before));
		if (ksmt_write_errno(path, "") || ksmt_read_file(path, after, sizeof(after)) <= 0 ||
		    strcmp(before, after)) {
			ktap_print_msg("%s: empty write changed something", de->d_name);
			bad++;
		}
		for (int k = 0; k < 40; k++) {
			size_t len;
			int want, err;

			/* sysfs hands the store method the first PAGE_SIZE bytes. */
			gen_garbage();
			len = strlen(garbage) < 4096 ? strlen(garbage) : 4096;
			memcpy(trunc, garbage, len);
			trunc[len] = '\0';
			want = predict(parse, trunc);
			if (!want) {
				(*nskipped)++;
				continue;
			}
			ksmt_read_file(path, before, sizeof(before));
			err = ksmt_write_errno(path, garbage);
			ksmt_read_file(path, after, sizeof(after));
			(*nwrites)++;
			if (err != want || strcmp(before, after)) {
				if (++bad <= MAXVIOL)
					ktap_print_msg("%s <- '%.40s'%s (%zu bytes): got %s, want %s; value '%.20s' -> '%.20s'",
						       de->d_name, garbage, strlen(garbage) > 40 ? "..." : "",
						       strlen(garbage), err ? errnames[eidx(-err)] : "ok",
						       errnames[eidx(-want)], before, after);
			}
		}
	}
	closedir(d);
	if (nfiles != (int)NKNOBS) {
		ktap_print_msg("%d writable files, %zu expected", nfiles, NKNOBS);
		bad++;
	}
	return !bad;
}

/* ---- the unprivileged caller ---- */

static void unprivileged(uint64_t seed, double secs)
{
	struct timespec t0, t;
	int ofd;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	rng_phase(seed, 3);
	ncalls = nviol = 0;
	memset(counts, 0, sizeof(counts));
	memset(maxns, 0, sizeof(maxns));
	if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY)) {
		sh->u_setup_err = errno;
		_exit(2);
	}
	ofd = open(KSMMOD_DEV, O_RDWR | O_CLOEXEC);
	sh->u_open_errno = ofd < 0 ? errno : 0;
	for (size_t i = 0; i < NKNOBS; i++) {
		char path[128];
		int err;

		snprintf(path, sizeof(path), SYSDIR "%s", knobs[i].name);
		err = ksmt_write_errno(path, rnd(2) ? "1" : "0");
		sh->u_sysfs++;
		if (err != -EACCES && err != -EPERM)
			sh->u_sysfs_bad++;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	do {
		for (int i = 0; i < 32; i++)
			one_call(false, &sh->u_changing, &sh->u_refused, &sh->u_noop);
		clock_gettime(CLOCK_MONOTONIC, &t);
	} while ((t.tv_sec - t0.tv_sec) + (t.tv_nsec - t0.tv_nsec) / 1e9 < secs);
	sh->u_calls = ncalls;
	sh->u_viol = nviol;
	print_counts("uid 65534: ");
	fflush(stdout);
	_exit(0);
}

/* ---- setup and the rest ---- */

static pid_t fork_or_die(void)
{
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		ktap_exit_fail_msg("fork: %s", strerror(errno));
	return pid;
}

static int pidfd_open(pid_t pid)
{
	int pfd = syscall(SYS_pidfd_open, pid, 0);

	if (pfd < 0)
		ktap_exit_fail_msg("pidfd_open(%d): %s", (int)pid, strerror(errno));
	return pfd;
}

static void setup_memory(void)
{
	char *m, *hint;

	/* TASK_SIZE_MAX: 47 bits, or 56 with 5-level paging (a high hint is honoured). */
	hint = mmap((void *)(1UL << 50), ps, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	task_size_max = hint != MAP_FAILED && (uintptr_t)hint >= (1UL << 47) ?
			(1ULL << 56) - ps : (1ULL << 47) - ps;
	if (hint != MAP_FAILED)
		munmap(hint, ps);

	/* [2 RW pages][PROT_NONE][read-only page][PROT_NONE] */
	m = mmap(NULL, 5 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	scratch = (unsigned char *)m;
	ro = scratch + 3 * ps;
	mprotect(scratch + 2 * ps, ps, PROT_NONE);
	mprotect(ro, ps, PROT_READ);
	mprotect(ro + ps, ps, PROT_NONE);

	/* This process's own target: pages of 3 contents, a PROT_NONE page, a read-only one, a hole. */
	arena = ksmt_map_filled(ARENA_PAGES + 2, 0);
	if (!arena)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	for (int i = 0; i < ARENA_PAGES; i++)
		memset(arena + i * ps, 0x40 + i % 3, ps);
	mprotect(arena + 20 * ps, ps, PROT_NONE);
	mprotect(arena + 25 * ps, ps, PROT_READ);
	munmap(arena + 28 * ps, 2 * ps);

	/* DOMAIN_STATS entries: [ENT_PAGES RW][PROT_NONE][read-only page][PROT_NONE] */
	ents = mmap(NULL, (ENT_PAGES + 3) * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
	if (ents == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	memset(ents, ENT_FILL, (ENT_PAGES + 3) * ps);
	mprotect(ents + ENT_PAGES * ps, ps, PROT_NONE);
	mprotect(ents + (ENT_PAGES + 1) * ps, ps, PROT_READ);
	mprotect(ents + (ENT_PAGES + 2) * ps, ps, PROT_NONE);

	byst = (char *)mmap(NULL, (BYST_PAGES + BYST_HOLE) * ps, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	sh = mmap(NULL, ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (byst == MAP_FAILED || sh == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	madvise(byst, (BYST_PAGES + BYST_HOLE) * ps, MADV_NOHUGEPAGE);
}

static bool arena_intact(void)
{
	for (int i = 0; i < ARENA_PAGES; i++)
		if (i != 20 && i != 28 && i != 29 && !ksmt_bytes_ok(arena + i * ps, ps, 0x40 + i % 3))
			return false;
	return true;
}

static double elapsed(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) + (t.tv_nsec - t0->tv_nsec) / 1e9;
}

/* PROCESS_STATS of @pidfd: its result; registered bytes in *@bytes. */
static int pstats(int pidfd, uint64_t *bytes)
{
	struct ksmmod_process_stats s;
	int err;

	memset(&s, 0, sizeof(s));
	s.size = sizeof(s);
	s.pidfd = pidfd;
	err = ksmt_ioctl(fd, KSMMOD_IOC_PROCESS_STATS, &s);
	*bytes = err ? 0 : s.registered_bytes;
	return err;
}

int main(void)
{
	unsigned long long seed = ksmt_cmdline_ull("ksmmod.seed", 0);
	double secs = ksmt_cmdline_ull("ksmmod.fuzz", 8), root_secs, unpriv_secs;
	unsigned long long nwrites = 0, nskipped = 0, u_ch = 0, u_ref = 0, u_noop = 0;
	struct ksmmod_params initial, p, pb, pa;
	struct ksmmod_stats s, sb, sa;
	struct timespec t0;
	uint64_t bb, ba;
	int status, err, rb, ra;
	bool ok, merged;
	pid_t pid;
	char *pair;

	if (!seed)
		seed = splitmix((uint64_t)time(NULL) << 20 ^ getpid()) % 1000000000 + 1;
	ktap_print_header(PLAN);
	ktap_print_msg("seed %llu (replay: add ksmmod.seed=%llu to the guest cmdline)", seed, seed);
	ksmt_ensure_loaded();
	fd = ksmt_open();
	ps = sysconf(_SC_PAGESIZE);
	root_secs = secs * 0.7 < 1 ? 1 : secs * 0.7;
	unpriv_secs = secs * 0.2 < 1 ? 1 : secs * 0.2;
	if (ksmt_get_params(fd, &initial))
		ktap_exit_fail_msg("GET_PARAMS: %s", strerror(errno));
	setup_memory();

	/* A zombie child and a reaped one, for pidfds of processes without memory. */
	pid = fork_or_die();
	if (!pid)
		_exit(0);
	zombie_pid = pid;
	pfd_zombie = pidfd_open(pid);
	waitid(P_PID, pid, NULL, WEXITED | WNOWAIT);
	pid = fork_or_die();
	if (!pid) {
		pause();
		_exit(0);
	}
	pfd_dead = pidfd_open(pid);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	pfd_self = pidfd_open(getpid());

	/* The bystander; this process keeps a hole where its pages are. */
	byst_pid = fork_or_die();
	if (!byst_pid)
		bystander();
	munmap(byst, (BYST_PAGES + BYST_HOLE) * ps);
	pfd_byst = pidfd_open(byst_pid);
	for (int i = 0; i < 3000 && !__atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST); i++)
		usleep(10000);
	if (!sh->ready || sh->reg_err)
		ktap_exit_fail_msg("bystander not registered (%s)", strerror(-sh->reg_err));
	set_known(0, K_NO);
	set_known(1, K_NO);
	set_known(1, K_YES);	/* its own MERGE_RANGE: no explicit domain */

	/* 1: the bystander's pages merge. */
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	ksmt_settle(fd, 2);
	merged = false;
	for (int tries = 0; tries < 60 && !merged; tries++) {
		s = ksmt_stats(fd);
		if (s.pages_sharing >= BYST_PAGES - 4) {
			int req = sh->pfn_req + 1;

			__atomic_store_n(&sh->pfn_req, req, __ATOMIC_SEQ_CST);
			for (int i = 0; i < 1000 && __atomic_load_n(&sh->pfn_ack, __ATOMIC_SEQ_CST) != req; i++)
				usleep(10000);
			merged = sh->pfn_ack == req && sh->pfn_ok;
		}
		if (!merged)
			usleep(500 * 1000);
	}
	s = ksmt_stats(fd);
	ktap_test_result(merged, "bystander: %d pages of 4 contents merged, 4 PFNs (pagemap; shared %llu sharing %llu)",
			 BYST_PAGES, (unsigned long long)s.pages_shared,
			 (unsigned long long)s.pages_sharing);

	/* 2: random calls as root, against the model. */
	if (ksmt_get_params(fd, &cur))
		ktap_exit_fail_msg("GET_PARAMS: %s", strerror(errno));
	merged_possible = true;
	__atomic_store_n(&sh->cow, 1, __ATOMIC_SEQ_CST);
	rng_phase(seed, 1);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (double next = 10, e = 0; e < root_secs; e = elapsed(&t0)) {
		for (int i = 0; i < 32; i++)
			one_call(true, NULL, NULL, NULL);
		if (e >= next) {
			ktap_print_msg("%.0f s: %llu calls, %llu violations; bystander %llu rounds, %llu CoW writes, %llu mismatches",
				       e, ncalls, nviol, sh->rounds, sh->writes, sh->mismatches);
			next += 10;
		}
	}
	print_counts("");
	ktap_test_result(!nviol, "root: %llu random calls in %.0f s (%.0f/s), %llu model violations",
			 ncalls, elapsed(&t0), ncalls / elapsed(&t0), nviol);

	/* Sane tunables again (run=2 first: nothing merged, so every one can change). */
	memset(&p, 0, sizeof(p));
	p.run = KSMMOD_RUN_UNMERGE;
	if (ksmt_set_params(fd, &p, KSMMOD_PARAM_RUN))
		ktap_exit_fail_msg("SET_PARAMS run=2: %s", strerror(errno));
	p = initial;
	if (ksmt_set_params(fd, &p, KSMMOD_PARAM_ALL))
		ktap_exit_fail_msg("SET_PARAMS (initial): %s", strerror(errno));
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	/* The bystander merges again while the other phases run. */
	{
		struct ksmmod_range r;

		memset(&r, 0, sizeof(r));
		r.size = sizeof(r);
		r.pidfd = pfd_byst;
		r.start = (uintptr_t)byst;
		r.length = BYST_PAGES * ps;
		err = ksmt_ioctl(fd, KSMMOD_IOC_MERGE_RANGE, &r);
		if (err)
			ktap_print_msg("MERGE_RANGE of the bystander again: %s", strerror(-err));
	}

	/* 3: bad sysfs writes. */
	rng_phase(seed, 2);
	ok = sysfs_phase(&nwrites, &nskipped);
	ktap_test_result(ok, "sysfs: %llu bad writes to every writable file rejected with the modelled errno, values unchanged (%llu valid strings not written)",
			 nwrites, nskipped);

	/* 4-5: an unprivileged caller with an inherited descriptor. */
	err = ksmt_process(fd, KSMMOD_IOC_REMOVE_PROCESS, 0);	/* not followed into the child */
	if (err && err != -ENOENT)
		ktap_print_msg("REMOVE_PROCESS of self: %s", strerror(-err));
	ksmt_get_params(fd, &pb);
	sb = ksmt_stats(fd);
	rb = pstats(pfd_byst, &bb);
	cur = pb;	/* the model's tunables, for the child's GET_PARAMS */
	pid = fork_or_die();
	if (!pid)
		unprivileged(seed, unpriv_secs);
	waitpid(pid, &status, 0);
	ksmt_get_params(fd, &pa);
	KSMT_WAIT_STATS(fd, sa, sa.mm_slots == sb.mm_slots);
	ra = pstats(pfd_byst, &ba);
	ktap_print_msg("uid 65534: %llu calls, %llu of commands that change something: %llu refused, %llu accepted as no-ops (empty ranges)",
		       sh->u_calls, sh->u_changing, sh->u_refused, sh->u_noop);
	u_ch = sh->u_changing;
	u_ref = sh->u_refused;
	u_noop = sh->u_noop;
	ktap_test_result(WIFEXITED(status) && !WEXITSTATUS(status) && sh->u_calls && !sh->u_viol &&
			 u_ch == u_ref + u_noop && !memcmp(&pa, &pb, sizeof(pa)) &&
			 sa.mm_slots == sb.mm_slots && ra == rb && ba == bb,
			 "unprivileged: %llu calls, %llu model violations, %llu changing calls refused, nothing changed (params, mm_slots %llu->%llu, bystander registered bytes %llu->%llu)",
			 sh->u_calls, sh->u_viol, u_ref, (unsigned long long)sb.mm_slots,
			 (unsigned long long)sa.mm_slots, (unsigned long long)bb,
			 (unsigned long long)ba);
	ktap_test_result(sh->u_open_errno == EACCES && sh->u_sysfs == (int)NKNOBS && !sh->u_sysfs_bad,
			 "unprivileged: open(/dev/ksmmod) -> %s, %d sysfs writes refused (%d not)",
			 sh->u_open_errno ? strerror(sh->u_open_errno) : "opened!", sh->u_sysfs,
			 sh->u_sysfs_bad);

	/* 6: the bystander saw only its own bytes. */
	__atomic_store_n(&sh->stop, 1, __ATOMIC_SEQ_CST);
	waitpid(byst_pid, &status, 0);
	if (sh->mismatches)
		ktap_print_msg("first mismatch: page %d offset %d byte %#x, want %#x", sh->bad_page,
			       sh->bad_off, sh->bad_byte, sh->bad_want);
	ktap_test_result(WIFEXITED(status) && !WEXITSTATUS(status) && !sh->mismatches &&
			 arena_intact(),
			 "bystander: %llu rounds over %d pages, %llu CoW writes, %llu mismatches; fuzzer's own pages intact",
			 sh->rounds, BYST_PAGES, sh->writes, sh->mismatches);

	/* 7: the module still works (pages_to_scan set by hand again). */
	memset(&p, 0, sizeof(p));
	p.advisor_mode = KSMMOD_ADVISOR_NONE;
	if (ksmt_set_params(fd, &p, KSMMOD_PARAM_ADVISOR_MODE))
		ktap_exit_fail_msg("SET_PARAMS advisor_mode=none: %s", strerror(errno));
	pair = ksmt_map_filled(2, 0x5a);
	if (!pair)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	err = ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, pair, 2 * ps);
	merged = false;
	for (int i = 0; i < 600 && !err && !merged; i++) {
		merged = ksmt_pfn_of(pair) && ksmt_pfn_of(pair) == ksmt_pfn_of(pair + ps);
		if (!merged)
			usleep(50 * 1000);
	}
	s = ksmt_stats(fd);
	ok = merged && s.pages_shared >= 1 && s.pages_sharing >= 1 && s.mm_slots >= 1 &&
	     s.rmap_items >= s.pages_shared + s.pages_sharing + s.pages_unshared &&
	     s.rmap_items < 100000 && ksmt_bytes_ok(pair, 2 * ps, 0x5a);
	ktap_test_result(ok, "afterwards a fresh pair of identical pages merges (MERGE_RANGE %s, one PFN: %s; shared %llu sharing %llu unshared %llu items %llu slots %llu)",
			 err ? strerror(-err) : "ok", merged ? "yes" : "no",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing,
			 (unsigned long long)s.pages_unshared, (unsigned long long)s.rmap_items,
			 (unsigned long long)s.mm_slots);

	/* 8: clean up; nothing left. */
	err = ksmt_process(fd, KSMMOD_IOC_REMOVE_PROCESS, 0);
	memset(&p, 0, sizeof(p));
	p.run = KSMMOD_RUN_UNMERGE;
	if (ksmt_set_params(fd, &p, KSMMOD_PARAM_RUN))
		ktap_exit_fail_msg("SET_PARAMS run=2: %s", strerror(errno));
	p = initial;
	if (ksmt_set_params(fd, &p, KSMMOD_PARAM_ALL))
		ktap_exit_fail_msg("SET_PARAMS (initial): %s", strerror(errno));
	waitpid(zombie_pid, NULL, 0);
	close(pfd_zombie);
	close(pfd_dead);
	close(pfd_byst);
	close(pfd_self);
	s = ksmt_wait_drained(fd);
	ksmt_get_params(fd, &pa);
	pa.size = initial.size;
	ktap_test_result(!err && !s.pages_shared && !s.pages_sharing && !s.pages_unshared &&
			 !s.rmap_items && !s.mm_slots && !s.stable_node_chains &&
			 !memcmp(&pa, &initial, sizeof(pa)) && ksmt_bytes_ok(pair, 2 * ps, 0x5a),
			 "cleanup: REMOVE_PROCESS %s, run=2, tunables as found (run %u, pages_to_scan %u), nothing left (shared %llu sharing %llu unshared %llu items %llu slots %llu)",
			 err ? strerror(-err) : "ok", pa.run, pa.pages_to_scan,
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing,
			 (unsigned long long)s.pages_unshared, (unsigned long long)s.rmap_items,
			 (unsigned long long)s.mm_slots);
	close(fd);
	return ktap_finished();
}
