// SPDX-License-Identifier: GPL-2.0
/*
 * Soak: four worker processes hammer merged memory for about a minute while
 * the scanner runs flat out (pages_to_scan 2000, sleep_millisecs 0). Each
 * worker has NPG pages registered with MERGE_RANGE, every page holding one of
 * a few patterns (so most pages are merged) and keeps a table of what every
 * page must contain. In random order it: writes a page with a new pattern,
 * checks a page, MADV_DONTNEEDs a page (then it must read as zeros), forks a
 * child that checks every page, writes some of its own and checks again
 * while the worker goes on, munmaps a chunk and maps and registers it again,
 * moves a page to the other NUMA node (move_pages), and checks every page
 * regularly; the parent compacts memory every 15 s. Workers retire after a random lifetime
 * and are replaced. Then everything stops: after a few full scans the
 * counters must be exactly what the tables predict; run=2 unmerges
 * everything (counters zero) and every worker checks every page once more;
 * once they have exited, nothing is left registered.
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

#define PLAN		7
#define SOAK_MS		60000	/* guest time the workers run */
#define NWORKERS	4
#define NPG		256	/* pages per worker */
#define CHUNK		16	/* pages munmapped and mapped again */
#define NPAT		12	/* patterns 1..NPAT; 0 means "zeros, not present" */
#define MAX_SHARING	4096	/* above NWORKERS * NPG: no limit reached */

enum op {
	OP_WRITE, OP_CHECK, OP_DONTNEED, OP_FORK, OP_REMAP, OP_MIGRATE, OP_VERIFY_ALL, OP_REPLACE,
	OP_COMPACT, NOPS
};
static const char *const op_names[NOPS] = {
	"write", "check-page", "dontneed", "fork", "remap", "migrate", "verify-all", "replace",
	"compact",
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
	uint64_t merge_errors;		/* MERGE_RANGE failures */
	uint64_t migrated;		/* pages move_pages() moved to the other node */
	uint64_t npat[NPAT + 1];	/* quiesced: present pages per pattern */
};

static struct shared *sh;
static bool two_nodes;
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
	unsigned char want[NPG];
	int printed;
};

static void set_page(struct arena *a, int i, int p)
{
	memcpy(a->mem + i * psize, pat[p], psize);
	a->want[i] = p;
}

static bool check_page(struct arena *a, int i, const char *who)
{
	const unsigned char *m = (unsigned char *)a->mem + i * psize, *w = pat[a->want[i]];
	long b;

	if (!memcmp(m, w, psize))
		return true;
	for (b = 0; b < psize && m[b] == w[b]; b++)
		;
	if (a->printed++ < 5)
		ktap_print_msg("%s %d: page %d (pattern %d): byte %ld is %#x, want %#x; pfn %#llx",
			       who, getpid(), i, a->want[i], b, m[b], w[b],
			       (unsigned long long)ksmt_pfn_of(a->mem + i * psize));
	return false;
}

static int check_all(struct arena *a, const char *who)
{
	int bad = 0;

	for (int i = 0; i < NPG; i++)
		bad += !check_page(a, i, who);
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
	if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, p, n * psize))
		add(&sh->merge_errors, 1);
}

static void worker(int slot, uint64_t retire_at)
{
	uint64_t n = 0;
	struct arena a = { 0 };
	pid_t child = 0;
	int bad;

	rng_state = (getpid() * 2654435761U) ^ (slot + 1) * 40503U ^ (uint32_t)now_ms();
	a.mem = mmap(NULL, NPG * psize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a.mem == MAP_FAILED)
		worker_die("mmap");
	map_chunk(&a, 0, NPG);

	while (!flag(&sh->stop) && now_ms() < retire_at) {
		unsigned int r = rnd() % 100;
		int i = rnd() % NPG;

		if (r < 45) {
			set_page(&a, i, pick_pattern());
			add(&sh->ops[OP_WRITE], 1);
		} else if (r < 65) {
			add(&sh->soak_bad, !check_page(&a, i, "worker"));
			add(&sh->ops[OP_CHECK], 1);
		} else if (r < 75) {
			madvise(a.mem + i * psize, psize, MADV_DONTNEED);
			a.want[i] = 0;
			add(&sh->ops[OP_DONTNEED], 1);
		} else if (r < 79) {
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
		} else if (r < 82) {
			int c = rnd() % (NPG / CHUNK);

			munmap(a.mem + c * CHUNK * psize, CHUNK * psize);
			map_chunk(&a, c * CHUNK, CHUNK);
			add(&sh->ops[OP_REMAP], 1);
		} else if (r < 85 && two_nodes) {
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

static uint64_t soak_start;

/*
 * A worker lives 10-40 s, but does not retire in the last 10 s of the soak:
 * all NWORKERS are there when it ends.
 */
static pid_t spawn(int slot)
{
	uint64_t retire_at = now_ms() + 10000 + rnd() % 30000;
	pid_t pid;

	if (retire_at > soak_start + SOAK_MS - 10000)
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
	if (ksmt_set_params(fd, &p, mask))
		ktap_exit_fail_msg("SET_PARAMS %#llx: %s", (unsigned long long)mask, strerror(errno));
}

#define COUNTS(s) (unsigned long long)(s).pages_shared, (unsigned long long)(s).pages_sharing, \
	(unsigned long long)(s).pages_unshared, (unsigned long long)(s).pages_volatile, \
	(unsigned long long)(s).rmap_items, (unsigned long long)(s).mm_slots

int main(void)
{
	uint64_t start, last_print, last_compact, max_sharing = 0, max_shared = 0, total_ops = 0;
	uint64_t want_sharing = 0, want_items = 0, want_nodes = 0;
	pid_t pids[NWORKERS];
	int live = NWORKERS, abnormal = 0, replaced = 0, final_abnormal = 0, status;
	struct ksmmod_stats s;
	bool all_ops = true;

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
			pat[p][b] = p ? (unsigned char)(p * 0x3b + b * 7 + (b >> 8)) : 0;
	}

	/* Nothing merged (run=2), then the limit up, then full speed. */
	set_params(KSMMOD_PARAM_RUN, KSMMOD_RUN_UNMERGE, 0, 0, 0);
	set_params(KSMMOD_PARAM_MAX_PAGE_SHARING, 0, 0, 0, MAX_SHARING);
	set_params(KSMMOD_PARAM_RUN | KSMMOD_PARAM_PAGES_TO_SCAN | KSMMOD_PARAM_SLEEP_MILLISECS,
		   KSMMOD_RUN_MERGE, 2000, 0, 0);

	two_nodes = !access("/sys/devices/system/node/node1", F_OK);
	soak_start = start = last_print = last_compact = now_ms();
	for (int w = 0; w < NWORKERS; w++)
		pids[w] = spawn(w);
	while (now_ms() - start < SOAK_MS) {
		pid_t pid;

		while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
			for (int w = 0; w < NWORKERS; w++) {
				if (pids[w] != pid)
					continue;
				if (!WIFEXITED(status) || WEXITSTATUS(status)) {
					ktap_print_msg("worker %d ended with status %#x", pid, status);
					abnormal++;
				}
				if (now_ms() - start < SOAK_MS - 5000) {
					pids[w] = spawn(w);
					replaced++;
					add(&sh->ops[OP_REPLACE], 1);
				} else {
					pids[w] = 0;
					live--;
				}
			}
		}
		s = ksmt_stats(fd);
		if (s.pages_sharing > max_sharing)
			max_sharing = s.pages_sharing;
		if (s.pages_shared > max_shared)
			max_shared = s.pages_shared;
		if (now_ms() - last_compact >= 15000) {
			int c = open("/proc/sys/vm/compact_memory", O_WRONLY | O_CLOEXEC);

			last_compact = now_ms();
			if (c >= 0 && write(c, "1", 1) == 1)
				add(&sh->ops[OP_COMPACT], 1);
			if (c >= 0)
				close(c);
		}
		if (now_ms() - last_print >= 10000) {
			last_print = now_ms();
			ktap_print_msg("t=%llus: writes %llu checks %llu fork %llu remap %llu; shared %llu sharing %llu unshared %llu volatile %llu items %llu slots %llu",
				       (unsigned long long)(last_print - start) / 1000,
				       (unsigned long long)sh->ops[OP_WRITE], (unsigned long long)sh->ops[OP_CHECK],
				       (unsigned long long)sh->ops[OP_FORK], (unsigned long long)sh->ops[OP_REMAP],
				       COUNTS(s));
		}
		usleep(100000);
	}

	/* Quiesce: the workers stop, publish their tables, and wait. */
	__atomic_store_n(&sh->stop, 1, __ATOMIC_RELEASE);
	for (int i = 0; i < 6000 && __atomic_load_n(&sh->ready, __ATOMIC_SEQ_CST) < live; i++) {
		pid_t pid = waitpid(-1, &status, WNOHANG);

		for (int w = 0; pid > 0 && w < NWORKERS; w++) {
			if (pids[w] == pid) {
				if (!WIFEXITED(status) || WEXITSTATUS(status))
					abnormal++;
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
		ktap_print_msg("pattern %d: %llu pages", p, (unsigned long long)sh->npat[p]);
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
	ktap_test_result(live == NWORKERS && s.pages_sharing == want_sharing &&
			 s.pages_shared + s.pages_unshared == want_nodes &&
			 s.rmap_items == want_items && s.pages_volatile == 0 && s.mm_slots == (uint64_t)live,
			 "quiesced, %d workers: shared %llu sharing %llu unshared %llu volatile %llu items %llu slots %llu (want shared+unshared %llu, sharing %llu, volatile 0, items %llu, slots %d)",
			 live, COUNTS(s), (unsigned long long)want_nodes, (unsigned long long)want_sharing,
			 (unsigned long long)want_items, live);

	/* run=2 with the workers alive, then their final check. */
	set_params(KSMMOD_PARAM_RUN, KSMMOD_RUN_UNMERGE, 0, 0, 0);
	s = ksmt_stats(fd);
	ktap_test_result(s.pages_shared == 0 && s.pages_sharing == 0 && s.pages_unshared == 0 &&
			 s.rmap_items == 0 && s.mm_slots == (uint64_t)live,
			 "run=2: shared %llu sharing %llu unshared %llu volatile %llu items %llu slots %llu (want 0 0 0 0 0 %d)",
			 COUNTS(s), live);
	__atomic_store_n(&sh->release, 1, __ATOMIC_RELEASE);
	for (int w = 0; w < NWORKERS; w++) {
		if (!pids[w])
			continue;
		if (waitpid(pids[w], &status, 0) != pids[w] || !WIFEXITED(status) || WEXITSTATUS(status))
			final_abnormal++;
	}
	ktap_test_result(sh->final_bad == 0 && final_abnormal == 0,
			 "after run=2 every worker finds every page intact (%llu mismatching pages, %d bad exits)",
			 (unsigned long long)sh->final_bad, final_abnormal);

	for (int k = 0; k < NOPS; k++) {
		ktap_print_msg("%-10s %llu", op_names[k], (unsigned long long)sh->ops[k]);
		total_ops += sh->ops[k];
		if (!sh->ops[k] && (k != OP_MIGRATE || two_nodes))
			all_ops = false;
	}
	ktap_test_result(sh->soak_bad == 0 && abnormal == 0 && sh->merge_errors == 0 && sh->verifications > 0,
			 "soak: %llu operations in %d s, %llu full checks: %llu mismatching pages, %d bad exits, %llu MERGE_RANGE errors",
			 (unsigned long long)total_ops, SOAK_MS / 1000, (unsigned long long)sh->verifications,
			 (unsigned long long)sh->soak_bad, abnormal, (unsigned long long)sh->merge_errors);
	ktap_test_result(sh->child_bad == 0 && sh->child_abnormal == 0 && sh->ops[OP_FORK] > 0,
			 "forked children: %llu checked every page and wrote private copies: %llu mismatching pages, %llu bad exits",
			 (unsigned long long)sh->ops[OP_FORK], (unsigned long long)sh->child_bad,
			 (unsigned long long)sh->child_abnormal);
	ktap_test_result(all_ops && max_sharing > 0 && replaced > 0 && (sh->migrated > 0 || !two_nodes),
			 "every operation ran, %d workers replaced, %llu pages migrated, merging went on (max shared %llu, max sharing %llu)",
			 replaced, (unsigned long long)sh->migrated, (unsigned long long)max_shared,
			 (unsigned long long)max_sharing);

	/* Everybody is gone: the next scans forget every process. */
	set_params(KSMMOD_PARAM_RUN, KSMMOD_RUN_MERGE, 0, 0, 0);
	for (int i = 0; i < 1500 && ksmt_stats(fd).mm_slots; i++)
		usleep(20000);
	s = ksmt_stats(fd);
	ktap_test_result(s.mm_slots == 0 && s.pages_shared == 0 && s.pages_sharing == 0 &&
			 s.pages_unshared == 0 && s.rmap_items == 0,
			 "all processes gone: shared %llu sharing %llu unshared %llu volatile %llu items %llu slots %llu (want all 0)",
			 COUNTS(s));

	set_params(KSMMOD_PARAM_RUN, KSMMOD_RUN_UNMERGE, 0, 0, 0);
	set_params(KSMMOD_PARAM_RUN | KSMMOD_PARAM_PAGES_TO_SCAN | KSMMOD_PARAM_SLEEP_MILLISECS |
		   KSMMOD_PARAM_MAX_PAGE_SHARING, KSMMOD_RUN_STOP, 100, 20, 256);
	close(fd);
	return ktap_finished();
}
