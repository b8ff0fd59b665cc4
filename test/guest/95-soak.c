// SPDX-License-Identifier: GPL-2.0
/*
 * Soak: worker processes hammer merged memory while the scanner runs flat out
 * (pages_to_scan 2000, sleep_millisecs 0), in rounds, with rmmod and insmod
 * of the module between rounds. The length is ksmmod.soak=SECONDS on the
 * guest's command line (default 60; `make soak DURATION=...`, and 300 on the
 * debug lane of `make check`); a round lasts at most 60 s, so there are at
 * least two rounds.
 *
 * Each worker has NPG pages registered, with MERGE_RANGE or (drop-in mode,
 * every other worker) with madvise(MADV_MERGEABLE) as programs do, every page
 * holding one of a few patterns (so most pages are merged), and keeps a table
 * of what every page must contain. In random order it: writes a page with a
 * new pattern, checks a page, MADV_DONTNEEDs a page (then it must read as
 * zeros), runs one of stress-ng's vm methods over a few pages (flip, incdec,
 * gray, walk-1: byte by byte, checked on the way), forks a child that checks
 * every page, writes some of its own and checks again while the worker goes
 * on, munmaps a chunk and maps and registers it again, mremaps a chunk away
 * and back, moves a page to the other NUMA node (move_pages), and checks every
 * page regularly. The workers run in a memory cgroup whose memory.high is
 * below their working set, with swap on zram, so pages (merged ones too) are
 * swapped out and in all the time. The parent compacts memory every 15 s and
 * flips run to 2 (unmerge everything) and back to 1 every few seconds. Workers
 * retire after a random lifetime and are replaced; fork and exit churn on.
 *
 * At the end of each round everything stops: after a few full scans the
 * counters must be exactly what the tables predict; run=2 unmerges
 * everything (counters zero) and every worker checks every page once more;
 * once they have exited, nothing is left registered, and the module unloads
 * cleanly and loads again.
 *
 * Mismatching pages are printed (process, page, pattern, first bad byte,
 * PFN) and counted: the soak passes only with zero.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "ksmtest.h"

#define PLAN		9
#define ROUND_MAX_MS	60000	/* a round lasts at most this long */
#define NWORKERS	4
#define NPG		256	/* pages per worker */
#define CHUNK		16	/* pages munmapped and mapped again, or mremapped */
#define NPAT		12	/* patterns 1..NPAT; 0 means "zeros, not present" */
#define MAX_SHARING	4096	/* above NWORKERS * NPG: no limit reached */
#define PAD_SLOTS	1024	/* workers in a row whose arenas never share an address */
#define MEMCG		"/sys/fs/cgroup/ksmtest/"
/* memory.high of the workers' cgroup: about half of their pages fit */
#define MEM_HIGH	"3M"

enum op {
	OP_WRITE, OP_CHECK, OP_DONTNEED, OP_VM, OP_FORK, OP_REMAP, OP_MREMAP, OP_MIGRATE,
	OP_VERIFY_ALL, OP_REPLACE, OP_COMPACT, OP_RUN_FLIP, NOPS
};
static const char *const op_names[NOPS] = {
	"write", "check-page", "dontneed", "vm-method", "fork", "remap", "mremap", "migrate",
	"verify-all", "replace", "compact", "run-flip",
};
#define MPOL_MF_MOVE_ALL	(1 << 2)	/* pages mapped more than once too (root) */

struct shared {
	int stop;			/* parent: quiesce */
	int release;			/* parent: final check and exit */
	int ready;			/* workers quiesced */
	int pad;
	uint64_t ops[NOPS];
	uint64_t verifications;		/* full checks of all pages of a process */
	uint64_t soak_bad;		/* mismatching pages seen by workers while soaking */
	uint64_t final_bad;		/* mismatching pages at the final check (after run=2) */
	uint64_t child_bad;		/* mismatching pages seen by forked children */
	uint64_t child_abnormal;	/* children that crashed or failed */
	uint64_t merge_errors;		/* MERGE_RANGE / madvise failures */
	uint64_t migrated;		/* pages move_pages() moved to the other node */
	uint64_t npat[NPAT + 1];	/* quiesced: present pages per pattern */
};

static struct shared *sh;
static bool two_nodes, use_madvise;
static int fd;
static long psize;
static unsigned char *pat[NPAT + 1];

static uint64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000ULL + t.tv_nsec / 1000000;
}

static uint32_t rng_state;

static uint32_t rnd(void)
{
	uint32_t x = rng_state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return rng_state = x;
}

/* Skewed: patterns 1-6 common, 7-12 rare. */
static int pick_pattern(void)
{
	return rnd() % 100 < 80 ? 1 + rnd() % 6 : 7 + rnd() % 6;
}

/*
 * Byte @b of pattern @p. Patterns 1-8 are arithmetic; 9-12 are the final
 * contents of stress-ng's vm methods gray, walk-1, zero-one and modulo-x.
 */
static unsigned char pattern_byte(int p, long b)
{
	switch (p) {
	case 0:
		return 0;
	case 9:		/* gray code */
		return (unsigned char)((b ^ (b >> 1)) & 0xff);
	case 10:	/* walking ones */
		return (unsigned char)(1u << (b & 7));
	case 11:	/* zero-one */
		return b & 1 ? 0xff : 0x00;
	case 12:	/* modulo-x */
		return b % 23 ? 0x5a : 0xa5;
	default:
		return (unsigned char)(p * 0x3b + b * 7 + (b >> 8));
	}
}

static int flag(int *f)
{
	return __atomic_load_n(f, __ATOMIC_ACQUIRE);
}

static void add(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

/* The pages of one process and what each must contain. */
struct arena {
	char *mem;
	char *spare;		/* CHUNK pages reserved (PROT_NONE) for mremap */
	unsigned char want[NPG];
	int printed;
};

static void set_page(struct arena *a, int i, int p)
{
	memcpy(a->mem + i * psize, pat[p], psize);
	a->want[i] = p;
}

/* Page @i of @a, wherever it is now (@at), holds what the table says. */
static bool check_at(struct arena *a, int i, const char *at, const char *who)
{
	const unsigned char *m = (const unsigned char *)at, *w = pat[a->want[i]];
	long b;

	if (!memcmp(m, w, psize))
		return true;
	for (b = 0; b < psize && m[b] == w[b]; b++)
		;
	if (a->printed++ < 5)
		ktap_print_msg("%s %d: page %d (pattern %d): byte %ld is %#x, want %#x; pfn %#llx",
			       who, getpid(), i, a->want[i], b, m[b], w[b],
			       (unsigned long long)ksmt_pfn_of((void *)at));
	return false;
}

static bool check_page(struct arena *a, int i, const char *who)
{
	return check_at(a, i, a->mem + i * psize, who);
}

static int check_all(struct arena *a, const char *who)
{
	int bad = 0;

	for (int i = 0; i < NPG; i++)
		bad += !check_page(a, i, who);
	return bad;
}

/*
 * One of stress-ng's vm methods over pages [@i, @i + @n) of @a, byte by byte
 * as stress-ng writes (each first write to a merged page breaks CoW): flip
 * (invert, check, invert back), incdec (add, check, subtract), or a rewrite
 * in a method's final pattern (gray, walk-1, zero-one, modulo-x; always for
 * a page not present, which must not become a present page of zeros the
 * table does not count). Every intermediate state is checked too. Returns
 * the number of pages that read back wrong.
 */
static int vm_method(struct arena *a, int i, int n)
{
	int bad = 0, m = rnd() % 3;
	unsigned char k = 1 + rnd() % 254;

	for (int pg = i; pg < i + n && pg < NPG; pg++) {
		volatile unsigned char *v = (volatile unsigned char *)a->mem + pg * psize;
		const unsigned char *w = pat[a->want[pg]];
		bool ok = true;

		/* A page that is not there (zeros) gets a method's pattern. */
		switch (a->want[pg] ? m : 2) {
		case 0:	/* flip */
		case 1:	/* incdec */
			for (long b = 0; b < psize; b++)
				v[b] = m ? (unsigned char)(v[b] + k) : (unsigned char)~v[b];
			for (long b = 0; b < psize && ok; b++)
				ok = v[b] == (m ? (unsigned char)(w[b] + k) : (unsigned char)~w[b]);
			for (long b = 0; b < psize; b++)
				v[b] = m ? (unsigned char)(v[b] - k) : (unsigned char)~v[b];
			break;
		default: {	/* a method's pattern, written and read back */
			int p = 9 + rnd() % 4;

			for (long b = 0; b < psize; b++)
				v[b] = pat[p][b];
			a->want[pg] = p;
			break;
		}
		}
		if (!ok && a->printed++ < 5)
			ktap_print_msg("worker %d: page %d: vm method %d read back a wrong byte", getpid(), pg, m);
		bad += !ok + !check_page(a, pg, "vm-method");
	}
	return bad;
}

/* A child of a worker: check, write its own copies, check again. */
static void child_main(struct arena *a)
{
	uint64_t bad;

	rng_state ^= getpid() * 2654435761U;
	bad = check_all(a, "child");
	for (int k = 0; k < 8; k++)
		set_page(a, rnd() % NPG, pick_pattern());
	usleep(rnd() % 20000);
	bad += check_all(a, "child");
	add(&sh->child_bad, bad);
	_exit(0);
}

static void reap_child(pid_t *child, bool block)
{
	int status;

	if (!*child || waitpid(*child, &status, block ? 0 : WNOHANG) != *child)
		return;
	if (!WIFEXITED(status) || WEXITSTATUS(status))
		add(&sh->child_abnormal, 1);
	*child = 0;
}

/* A worker cannot go on: say why, and exit with a status the parent counts. */
static void __attribute__((noreturn)) worker_die(const char *what)
{
	ktap_print_msg("worker %d: %s: %s", getpid(), what, strerror(errno));
	_exit(2);
}

static void map_chunk(struct arena *a, int first, int n)
{
	char *p = a->mem + first * psize;

	if (mmap(p, n * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != p)
		worker_die("mmap");
	madvise(p, n * psize, MADV_NOHUGEPAGE);
	for (int i = first; i < first + n; i++)
		set_page(a, i, pick_pattern());
	if (use_madvise ? madvise(p, n * psize, MADV_MERGEABLE) :
			  ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, p, n * psize))
		add(&sh->merge_errors, 1);
}

/*
 * Move chunk @c of @a to the spare area with mremap, check it there, and move
 * it back: the pages (merged or not) keep their contents and stay registered.
 */
static int mremap_chunk(struct arena *a, int c)
{
	char *home = a->mem + c * CHUNK * psize;
	int bad = 0;

	if (mremap(home, CHUNK * psize, CHUNK * psize, MREMAP_MAYMOVE | MREMAP_FIXED, a->spare) != a->spare)
		worker_die("mremap away");
	for (int i = 0; i < CHUNK; i++)
		bad += !check_at(a, c * CHUNK + i, a->spare + i * psize, "mremapped");
	if (mremap(a->spare, CHUNK * psize, CHUNK * psize, MREMAP_MAYMOVE | MREMAP_FIXED, home) != home)
		worker_die("mremap back");
	if (mmap(a->spare, CHUNK * psize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != a->spare)
		worker_die("mmap spare");
	return bad;
}

/*
 * Workers started so far: each maps its arena at an address of its own
 * (see worker()).
 */
static unsigned int spawned;

static void worker(int slot, uint64_t retire_at)
{
	uint64_t n = 0;
	struct arena a = { 0 };
	pid_t child = 0;
	int bad;

	rng_state = (getpid() * 2654435761U) ^ (slot + 1) * 40503U ^ (uint32_t)now_ms();
	use_madvise = use_madvise && slot % 2;
	/*
	 * Workers are forks of one parent: without this pad, every worker
	 * would map its arena at the same address. The kernel's swap-in of a
	 * page that was a KSM page (ksm_might_need_to_copy()) reads the
	 * anon_vma of the process that swapped it in first whenever the page
	 * index matches, even after that process exited and the anon_vma was
	 * freed: a read upstream calls harmless (it only decides between
	 * reusing and copying; the index test comes first since "ksm: swap
	 * the two conditions in ksm_might_need_to_copy()"), but KASAN reports
	 * it, with any KSM. An anonymous page's index is its address when
	 * first mapped, so a pad of a few pages is not enough: the arenas of
	 * workers whose lifetimes may overlap must not overlap in address at
	 * all, or page j of one and page j + d of another (same pattern,
	 * merged) share an index. Each worker's pad is a whole number of
	 * arenas, distinct for PAD_SLOTS workers in a row.
	 */
	if (mmap(NULL, (size_t)(1 + spawned % PAD_SLOTS) * (NPG + CHUNK) * psize, PROT_NONE,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0) == MAP_FAILED)
		worker_die("mmap pad");
	a.mem = mmap(NULL, (NPG + CHUNK) * psize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a.mem == MAP_FAILED)
		worker_die("mmap");
	a.spare = a.mem + NPG * psize;
	map_chunk(&a, 0, NPG);

	while (!flag(&sh->stop) && now_ms() < retire_at) {
		unsigned int r = rnd() % 100;
		int i = rnd() % NPG;

		if (r < 40) {
			set_page(&a, i, pick_pattern());
			add(&sh->ops[OP_WRITE], 1);
		} else if (r < 58) {
			add(&sh->soak_bad, !check_page(&a, i, "worker"));
			add(&sh->ops[OP_CHECK], 1);
		} else if (r < 66) {
			madvise(a.mem + i * psize, psize, MADV_DONTNEED);
			a.want[i] = 0;
			add(&sh->ops[OP_DONTNEED], 1);
		} else if (r < 74) {
			add(&sh->soak_bad, vm_method(&a, i, 1 + rnd() % 4));
			add(&sh->ops[OP_VM], 1);
		} else if (r < 78) {
			if (!child) {
				fflush(stdout);
				child = fork();
				if (child == 0)
					child_main(&a);
				if (child < 0)
					child = 0;
				else
					add(&sh->ops[OP_FORK], 1);
			}
		} else if (r < 81) {
			int c = rnd() % (NPG / CHUNK);

			munmap(a.mem + c * CHUNK * psize, CHUNK * psize);
			map_chunk(&a, c * CHUNK, CHUNK);
			add(&sh->ops[OP_REMAP], 1);
		} else if (r < 83) {
			add(&sh->soak_bad, mremap_chunk(&a, rnd() % (NPG / CHUNK)));
			add(&sh->ops[OP_MREMAP], 1);
		} else if (r < 86 && two_nodes) {
			void *pages[1] = { a.mem + i * psize };
			int node = -1, status = -1;

			/* Present pages only; busy pages (the scanner's) may fail. */
			if (!syscall(SYS_move_pages, 0, 1UL, pages, NULL, &node, 0) && node >= 0) {
				node = !node;
				if (!syscall(SYS_move_pages, 0, 1UL, pages, &node, &status, MPOL_MF_MOVE_ALL) &&
				    status == node)
					add(&sh->migrated, 1);
				add(&sh->ops[OP_MIGRATE], 1);
			}
		}
		if (++n % 64 == 0) {
			add(&sh->soak_bad, check_all(&a, "worker"));
			add(&sh->verifications, 1);
			add(&sh->ops[OP_VERIFY_ALL], 1);
		}
		reap_child(&child, false);
		usleep(rnd() % 1500);
	}
	reap_child(&child, true);
	add(&sh->soak_bad, check_all(&a, "worker"));
	add(&sh->verifications, 1);
	if (!flag(&sh->stop))
		_exit(0);	/* retired: the parent starts a new worker */

	/* Quiesced: publish what the pages hold, wait, check once more. */
	for (int i = 0; i < NPG; i++)
		if (a.want[i])
			add(&sh->npat[a.want[i]], 1);
	__atomic_fetch_add(&sh->ready, 1, __ATOMIC_SEQ_CST);
	while (!flag(&sh->release))
		usleep(10000);
	bad = check_all(&a, "worker (final)");
	add(&sh->final_bad, bad);
	add(&sh->verifications, 1);
	_exit(0);
}

static uint64_t round_end;

/*
 * A worker lives 10-40 s, but does not retire in the last 10 s of the round:
 * all NWORKERS are there when it ends. The first worker of a round
 * (@first) lives 5-10 s, so that every round has at least one replacement
 * (a round is at least 20 s long).
 */
static pid_t spawn(int slot, bool first)
{
	uint64_t retire_at = now_ms() + (first ? 5000 + rnd() % 5000 : 10000 + rnd() % 30000);
	pid_t pid;

	spawned++;

	if (retire_at > round_end - 10000)
		retire_at = UINT64_MAX;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		ktap_exit_fail_msg("fork: %s", strerror(errno));
	if (pid == 0)
		worker(slot, retire_at);
	return pid;
}

static void set_params(uint64_t mask, unsigned int run, unsigned int pages, unsigned int sleep_ms,
		       unsigned int mps)
{
	struct ksmmod_params p;

	memset(&p, 0, sizeof(p));
	p.run = run;
	p.pages_to_scan = pages;
	p.sleep_millisecs = sleep_ms;
	p.max_page_sharing = mps;
	p.smart_scan = 1;	/* KSM's default: skipping under churn is part of the soak */
	if (ksmt_set_params(fd, &p, mask))
		ktap_exit_fail_msg("SET_PARAMS %#llx: %s", (unsigned long long)mask, strerror(errno));
}

#define COUNTS(s) (unsigned long long)(s).pages_shared, (unsigned long long)(s).pages_sharing, \
	(unsigned long long)(s).pages_unshared, (unsigned long long)(s).pages_volatile, \
	(unsigned long long)(s).rmap_items, (unsigned long long)(s).mm_slots

/* pswpout of /proc/vmstat: pages written to swap since boot. */
static uint64_t swapped_out(void)
{
	char buf[8192], *p;

	if (ksmt_read_file("/proc/vmstat", buf, sizeof(buf)) <= 0)
		return 0;
	p = strstr(buf, "\npswpout ");
	return p ? strtoull(p + 9, NULL, 10) : 0;
}

/* What went wrong in any round, for the results at the end. */
static struct {
	int rounds, abnormal, replaced, final_abnormal, bad_quiesce, bad_unmerge, bad_gone;
	int reloads, bad_reloads;
	uint64_t max_sharing, max_shared;
} tot;

/* One round of the soak, @ms long. Returns with no worker left. */
static void soak_round(uint64_t ms, bool limit_memory)
{
	uint64_t start, last_print, last_compact, next_flip, want_sharing = 0, want_items = 0, want_nodes = 0;
	pid_t pids[NWORKERS];
	int live = NWORKERS, status, final_abnormal = 0;
	struct ksmmod_stats s;

	memset(sh->npat, 0, sizeof(sh->npat));
	__atomic_store_n(&sh->stop, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&sh->release, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&sh->ready, 0, __ATOMIC_SEQ_CST);

	/* Nothing merged (run=2), then the limit up, then full speed. */
	set_params(KSMMOD_PARAM_RUN, KSMMOD_RUN_UNMERGE, 0, 0, 0);
	set_params(KSMMOD_PARAM_MAX_PAGE_SHARING, 0, 0, 0, MAX_SHARING);
	set_params(KSMMOD_PARAM_RUN | KSMMOD_PARAM_PAGES_TO_SCAN | KSMMOD_PARAM_SLEEP_MILLISECS |
		   KSMMOD_PARAM_SMART_SCAN, KSMMOD_RUN_MERGE, 2000, 0, 0);
	if (limit_memory)
		ksmt_write_file(MEMCG "memory.high", MEM_HIGH);

	start = last_print = last_compact = now_ms();
	next_flip = start + 5000 + rnd() % 5000;
	round_end = start + ms;
	for (int w = 0; w < NWORKERS; w++)
		pids[w] = spawn(w, w == 0);
	while (now_ms() < round_end) {
		pid_t pid;

		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			for (int w = 0; w < NWORKERS; w++) {
				if (pids[w] != pid)
					continue;
				if (!WIFEXITED(status) || WEXITSTATUS(status)) {
					ktap_print_msg("worker %d ended with status %#x", pid, status);
					tot.abnormal++;
				}
				if (now_ms() < round_end - 5000) {
					pids[w] = spawn(w, false);
					tot.replaced++;
					add(&sh->ops[OP_REPLACE], 1);
				} else {
					pids[w] = 0;
					live--;
				}
			}
		}
		s = ksmt_stats(fd);
		if (s.pages_sharing > tot.max_sharing)
			tot.max_sharing = s.pages_sharing;
		if (s.pages_shared > tot.max_shared)
			tot.max_shared = s.pages_shared;
		if (now_ms() - last_compact >= 15000) {
			last_compact = now_ms();
			if (ksmt_write_file("/proc/sys/vm/compact_memory", "1"))
				add(&sh->ops[OP_COMPACT], 1);
		}
		/* Unmerge everything under the workers' feet, then merge again. */
		if (now_ms() >= next_flip && now_ms() < round_end - 15000) {
			set_params(KSMMOD_PARAM_RUN, KSMMOD_RUN_UNMERGE, 0, 0, 0);
			set_params(KSMMOD_PARAM_RUN, KSMMOD_RUN_MERGE, 0, 0, 0);
			add(&sh->ops[OP_RUN_FLIP], 1);
			next_flip = now_ms() + 5000 + rnd() % 5000;
		}
		if (now_ms() - last_print >= 10000) {
			last_print = now_ms();
			ktap_print_msg("round %d t=%llus: writes %llu checks %llu fork %llu remap %llu; shared %llu sharing %llu unshared %llu volatile %llu items %llu slots %llu; swapped out %llu",
				       tot.rounds + 1, (unsigned long long)(last_print - start) / 1000,
				       (unsigned long long)sh->ops[OP_WRITE], (unsigned long long)sh->ops[OP_CHECK],
				       (unsigned long long)sh->ops[OP_FORK], (unsigned long long)sh->ops[OP_REMAP],
				       COUNTS(s), (unsigned long long)swapped_out());
		}
		usleep(100000);
	}
	if (limit_memory)
		ksmt_write_file(MEMCG "memory.high", "max");

	/* Quiesce: the workers stop, publish their tables, and wait. */
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 6000 && __atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST) < live; i++) {
		pid_t pid = waitpid(-1, &status, WNOHANG);

		for (int w = 0; pid > 0 && w < NWORKERS; w++) {
			if (pids[w] == pid) {
				if (!WIFEXITED(status) || WEXITSTATUS(status))
					tot.abnormal++;
				pids[w] = 0;
				live--;
			}
		}
		usleep(10000);
	}
	if (__atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST) != live)
		ktap_exit_fail_msg("only %d of %d workers quiesced", __atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST), live);
	s = ksmt_settle(fd, 4);
	for (int p = 1; p <= NPAT; p++) {
		if (!sh->npat[p])
			continue;
		want_nodes++;
		want_sharing += sh->npat[p] - 1;
		want_items += sh->npat[p];
	}
	/*
	 * Each pattern in >= 2 pages is one KSM page (shared 1, sharing n - 1);
	 * a pattern in one page is either unshared or the last mapping of a
	 * KSM page (shared 1, sharing 0).
	 */
	/*
	 * A worker that retired in time may still take its last check into
	 * the round's final 5 s on a slow kernel, and is then not replaced:
	 * the counters must match the workers that are there.
	 */
	if (!(live > 0 && s.pages_sharing == want_sharing &&
	      s.pages_shared + s.pages_unshared == want_nodes &&
	      s.rmap_items == want_items && s.pages_volatile == 0 && s.mm_slots == (uint64_t)live)) {
		tot.bad_quiesce++;
		ktap_print_msg("round %d quiesced, %d workers: shared %llu sharing %llu unshared %llu volatile %llu items %llu slots %llu (want shared+unshared %llu, sharing %llu, volatile 0, items %llu, slots %d)",
			       tot.rounds + 1, live, COUNTS(s), (unsigned long long)want_nodes,
			       (unsigned long long)want_sharing, (unsigned long long)want_items, live);
	}

	/* run=2 with the workers alive, then their final check. */
	set_params(KSMMOD_PARAM_RUN, KSMMOD_RUN_UNMERGE, 0, 0, 0);
	s = ksmt_stats(fd);
	if (!(s.pages_shared == 0 && s.pages_sharing == 0 && s.pages_unshared == 0 &&
	      s.rmap_items == 0 && s.mm_slots == (uint64_t)live)) {
		tot.bad_unmerge++;
		ktap_print_msg("round %d run=2: shared %llu sharing %llu unshared %llu volatile %llu items %llu slots %llu (want 0 0 0 0 0 %d)",
			       tot.rounds + 1, COUNTS(s), live);
	}
	__atomic_store_n(&sh->release, 1, __ATOMIC_RELEASE);
	for (int w = 0; w < NWORKERS; w++) {
		if (!pids[w])
			continue;
		if (waitpid(pids[w], &status, 0) != pids[w] || !WIFEXITED(status) || WEXITSTATUS(status))
			final_abnormal++;
	}
	tot.final_abnormal += final_abnormal;

	/* Everybody is gone: the next scans forget every process. */
	set_params(KSMMOD_PARAM_RUN, KSMMOD_RUN_MERGE, 0, 0, 0);
	for (int i = 0; i < 1500 && ksmt_stats(fd).mm_slots; i++)
		usleep(20000);
	s = ksmt_stats(fd);
	if (!(s.mm_slots == 0 && s.pages_shared == 0 && s.pages_sharing == 0 &&
	      s.pages_unshared == 0 && s.rmap_items == 0)) {
		tot.bad_gone++;
		ktap_print_msg("round %d, all processes gone: shared %llu sharing %llu unshared %llu volatile %llu items %llu slots %llu (want all 0)",
			       tot.rounds + 1, COUNTS(s));
	}
	set_params(KSMMOD_PARAM_RUN, KSMMOD_RUN_STOP, 0, 0, 0);
	tot.rounds++;
}

/* rmmod and insmod between rounds; false (and said why) if either fails. */
static bool reload(void)
{
	int err = -EBUSY;

	close(fd);
	for (int i = 0; i < 100 && err; i++) {
		err = ksmt_unload();
		if (err)
			usleep(100000);
	}
	if (err) {
		ktap_print_msg("rmmod after round %d: %s", tot.rounds, strerror(-err));
		fd = ksmt_open();
		return false;
	}
	err = ksmt_load(NULL);
	if (err)
		ktap_exit_fail_msg("insmod after round %d: %s", tot.rounds, strerror(-err));
	fd = ksmt_open();
	return true;
}

int main(void)
{
	uint64_t soak_ms = ksmt_cmdline_ull("ksmmod.soak", 60) * 1000, round_ms, t0, total_ops = 0;
	uint64_t swap0, swapped;
	bool all_ops = true, limit_memory;

	ktap_print_header(PLAN);
	ksmt_ensure_loaded();
	fd = ksmt_open();
	psize = sysconf(_SC_PAGESIZE);
	rng_state = 0x95c0ffee ^ getpid();
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	for (int p = 0; p <= NPAT; p++) {
		pat[p] = malloc(psize);
		if (!pat[p])
			ktap_exit_fail_msg("malloc");
		for (long b = 0; b < psize; b++)
			pat[p][b] = pattern_byte(p, b);
	}
	two_nodes = !access("/sys/devices/system/node/node1", F_OK);
	use_madvise = ksmt_dropin();
	/* The workers are children: they inherit the cgroup and its limit. */
	limit_memory = ksmt_swap_on() && ksmt_own_memcg() && !access(MEMCG "memory.high", W_OK);
	if (!limit_memory)
		ktap_print_msg("no zram swap or memory cgroup: the workers run without a memory limit");
	round_ms = soak_ms / 2 < ROUND_MAX_MS ? soak_ms / 2 : ROUND_MAX_MS;
	if (round_ms < 20000)
		round_ms = 20000;
	ktap_print_msg("soak of %llu s in rounds of %llu s (%s workers use madvise)",
		       (unsigned long long)soak_ms / 1000, (unsigned long long)round_ms / 1000,
		       use_madvise ? "odd" : "no");

	swap0 = swapped_out();
	t0 = now_ms();
	do {
		if (tot.rounds) {
			tot.reloads++;
			tot.bad_reloads += !reload();
		}
		soak_round(round_ms, limit_memory);
	} while (now_ms() - t0 + round_ms <= soak_ms + round_ms / 2);
	swapped = swapped_out() - swap0;

	ktap_test_result(tot.bad_quiesce == 0 && tot.abnormal == 0,
			 "quiesced counters exact in %d of %d rounds",
			 tot.rounds - tot.bad_quiesce, tot.rounds);
	ktap_test_result(tot.bad_unmerge == 0,
			 "run=2 left nothing merged in %d of %d rounds", tot.rounds - tot.bad_unmerge, tot.rounds);
	ktap_test_result(sh->final_bad == 0 && tot.final_abnormal == 0,
			 "after run=2 every worker finds every page intact (%llu mismatching pages, %d bad exits)",
			 (unsigned long long)sh->final_bad, tot.final_abnormal);
	for (int k = 0; k < NOPS; k++) {
		ktap_print_msg("%-10s %llu", op_names[k], (unsigned long long)sh->ops[k]);
		total_ops += sh->ops[k];
		if (!sh->ops[k] && (k != OP_MIGRATE || two_nodes))
			all_ops = false;
	}
	ktap_test_result(sh->soak_bad == 0 && tot.abnormal == 0 && sh->merge_errors == 0 && sh->verifications > 0,
			 "soak: %llu operations in %llu s, %llu full checks: %llu mismatching pages, %d bad exits, %llu registration errors",
			 (unsigned long long)total_ops, (unsigned long long)(now_ms() - t0) / 1000,
			 (unsigned long long)sh->verifications, (unsigned long long)sh->soak_bad,
			 tot.abnormal, (unsigned long long)sh->merge_errors);
	ktap_test_result(sh->child_bad == 0 && sh->child_abnormal == 0 && sh->ops[OP_FORK] > 0,
			 "forked children: %llu checked every page and wrote private copies: %llu mismatching pages, %llu bad exits",
			 (unsigned long long)sh->ops[OP_FORK], (unsigned long long)sh->child_bad,
			 (unsigned long long)sh->child_abnormal);
	ktap_test_result(all_ops && tot.max_sharing > 0 && tot.replaced > 0 && (sh->migrated > 0 || !two_nodes),
			 "every operation ran, %d workers replaced, %llu pages migrated, %llu run flips, merging went on (max shared %llu, max sharing %llu)",
			 tot.replaced, (unsigned long long)sh->migrated, (unsigned long long)sh->ops[OP_RUN_FLIP],
			 (unsigned long long)tot.max_shared, (unsigned long long)tot.max_sharing);
	if (limit_memory)
		ktap_test_result(swapped > 0, "under memory.high %s, %llu pages went to zram swap",
				 MEM_HIGH, (unsigned long long)swapped);
	else
		ktap_test_skip("swap under a memory limit", "no zram swap or memory cgroup in this guest");
	ktap_test_result(tot.bad_gone == 0,
			 "all processes gone, nothing left registered, in %d of %d rounds",
			 tot.rounds - tot.bad_gone, tot.rounds);
	ktap_test_result(tot.reloads > 0 && tot.bad_reloads == 0,
			 "rmmod and insmod between rounds: %d of %d clean", tot.reloads - tot.bad_reloads,
			 tot.reloads);

	set_params(KSMMOD_PARAM_RUN, KSMMOD_RUN_UNMERGE, 0, 0, 0);
	set_params(KSMMOD_PARAM_RUN | KSMMOD_PARAM_PAGES_TO_SCAN | KSMMOD_PARAM_SLEEP_MILLISECS |
		   KSMMOD_PARAM_MAX_PAGE_SHARING, KSMMOD_RUN_STOP, 100, 20, 256);
	close(fd);
	return ktap_finished();
}
