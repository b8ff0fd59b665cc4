// SPDX-License-Identifier: GPL-2.0
/*
 * rmmod while merged pages are away from where they were merged: some KSM
 * pages swapped out (zram swap, reclaim through a memory cgroup, as in
 * 80-swap), some migrated to the other NUMA node (move_pages, as in
 * 81-migrate), the rest merged in place. After rmmod every page reads back
 * its bytes; once every page has been written with its own contents, every
 * page reads exactly those and no PFN is shared between two pages; swapoff
 * brings everything back intact; the module loads again (95-soak needs it)
 * and merges the same pages again.
 *
 * Runs after 90-unload, so ksmt_ensure_loaded() loads a fresh module. The
 * pages to swap are faulted in while this process is in one memory cgroup,
 * the others in a second one: reclaim of the first swaps out only them.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/swap.h>

#include "ksmtest.h"

#define NPAGES	48
#define PLAN	9
#define CG	"/sys/fs/cgroup/"
#define CG_SWAP	CG "ksmtest91-swap"
#define CG_REST	CG "ksmtest91-rest"

/*
 * Pages 0-15 (S, swapped): 4 contents x 4 pages; 16-31 (M, migrated):
 * 2 contents x 8 pages; 32-47 (R, resident): 8 contents x 2 pages.
 * 14 KSM pages, 34 extra mappings.
 */
static int pattern(int i)
{
	if (i < 16)
		return 0x10 + i % 4;
	if (i < 32)
		return 0x20 + i % 2;
	return 0x30 + i % 8;
}

static int fd;
static long psize;

/* 128 MiB of swap on /dev/zram0, reset first if 80-swap used it. */
static bool swap_on(void)
{
	char size[32];

	ksmt_load_listed_modules();
	if (access("/sys/block/zram0", F_OK))
		return false;
	if (ksmt_read_file("/sys/block/zram0/disksize", size, sizeof(size)) > 0 && atol(size)) {
		swapoff("/dev/zram0");
		if (!ksmt_write_file("/sys/block/zram0/reset", "1"))
			return false;
	}
	ksmt_write_file("/sys/block/zram0/comp_algorithm", "lzo-rle");
	if (!ksmt_write_file("/sys/block/zram0/disksize", "128M"))
		return false;
	if (system("mkswap /dev/zram0 >/dev/null 2>&1"))
		return false;
	return swapon("/dev/zram0", 0) == 0;
}

static bool cgroups(void)
{
	mkdir("/sys/fs/cgroup", 0755);
	if (access(CG "cgroup.controllers", F_OK) && system("mount -t cgroup2 none /sys/fs/cgroup"))
		return false;
	ksmt_write_file(CG "cgroup.subtree_control", "+memory");
	mkdir(CG_SWAP, 0755);
	mkdir(CG_REST, 0755);
	return !access(CG_SWAP "/memory.reclaim", W_OK) && !access(CG_REST "/cgroup.procs", W_OK);
}

static bool join(const char *cg)
{
	char path[128], pid[32];

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	snprintf(pid, sizeof(pid), "%d", getpid());
	return ksmt_write_file(path, pid);
}

/* Reclaim the swap cgroup until all of [p, p + n pages) is out (at most 200 passes). */
static int reclaim(char *p, int n)
{
	int passes = 0;

	ksmt_write_file("/proc/sys/vm/swappiness", "200");
	for (; passes < 200 && ksmt_swapped_pages(p, n) < n; passes++) {
		ksmt_write_file(CG_SWAP "/memory.reclaim", "64M");
		usleep(10000);
	}
	ksmt_write_file("/proc/sys/vm/swappiness", "60");
	return passes;
}

/* NUMA node of the page at @addr (move_pages query), or -errno. */
static int node_of(void *addr)
{
	void *pages[1] = { addr };
	int status = -1;

	if (syscall(SYS_move_pages, 0, 1UL, pages, NULL, &status, 0))
		return -errno;
	return status;
}

/* Pages with the same pattern share one PFN, different patterns do not. */
static bool merged_by_pattern(char *m)
{
	for (int i = 0; i < NPAGES; i++) {
		uint64_t f = ksmt_pfn_of(m + i * psize);

		if (!f)
			return false;
		for (int j = i + 1; j < NPAGES; j++)
			if ((ksmt_pfn_of(m + j * psize) == f) != (pattern(i) == pattern(j)))
				return false;
	}
	return true;
}

/* Pages not all of whose bytes are pattern(i) (@own: own_byte() instead). */
static unsigned char own_byte(int i, long b)
{
	return 0x80 + i + b % 7;
}

static int bad_pages(char *m, bool own)
{
	int bad = 0;

	for (int i = 0; i < NPAGES; i++) {
		unsigned char *p = (unsigned char *)m + i * psize;

		for (long b = 0; b < psize; b++) {
			unsigned char want = own ? own_byte(i, b) : pattern(i);

			if (p[b] != want) {
				if (bad < 8)
					ktap_print_msg("page %d byte %ld: %#x, want %#x", i, b, p[b], want);
				bad++;
				break;
			}
		}
	}
	return bad;
}

static void skip_all(const char *why)
{
	for (int i = 0; i < PLAN; i++)
		ktap_test_skip("rmmod with merged pages swapped out and migrated", why);
	exit(ktap_finished());
}

int main(void)
{
	int err, out, out_rest, kmsg, passes, bad, node[2], target[2], status[2];
	uint64_t before[2], after[2];
	struct ksmmod_stats s;
	bool ok, leaked;
	long ret[2];
	char *m;

	ktap_print_header(PLAN);
	if (access("/sys/devices/system/node/node1", F_OK))
		skip_all("guest has a single NUMA node");
	if (!swap_on() || !cgroups())
		skip_all("no zram swap device or no memory cgroups with memory.reclaim in this guest");
	ksmt_ensure_loaded();
	fd = ksmt_open();
	psize = sysconf(_SC_PAGESIZE);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	m = mmap(NULL, NPAGES * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	madvise(m, NPAGES * psize, MADV_NOHUGEPAGE);
	/* S charged to the swap cgroup, M and R to the other one. */
	if (!join(CG_SWAP))
		ktap_exit_fail_msg("cannot join %s", CG_SWAP);
	for (int i = 0; i < 16; i++)
		memset(m + i * psize, pattern(i), psize);
	if (!join(CG_REST))
		ktap_exit_fail_msg("cannot join %s", CG_REST);
	for (int i = 16; i < NPAGES; i++)
		memset(m + i * psize, pattern(i), psize);
	err = ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, NPAGES * psize);
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	s = ksmt_settle(fd, 3);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);	/* its references make migration fail */
	ok = merged_by_pattern(m);
	ktap_test_result(!err && ok && s.pages_shared == 14 && s.pages_sharing == 34 && s.rmap_items == NPAGES,
			 "merged: shared %llu sharing %llu items %llu (want 14 34 48), one PFN per contents",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing,
			 (unsigned long long)s.rmap_items);

	/* Migrate M's two KSM pages to the other node. */
	for (int k = 0; k < 2; k++) {
		char *p = m + (16 + k) * psize;

		before[k] = ksmt_pfn_of(p);
		node[k] = node_of(p);
		target[k] = node[k] == 0 ? 1 : 0;
		status[k] = -1;
		ret[k] = ksmt_move_page(p, target[k], &status[k]);
		after[k] = ksmt_pfn_of(p);
	}
	ok = true;
	for (int i = 16; i < 32; i++)
		ok = ok && ksmt_pfn_of(m + i * psize) == after[i % 2] && node_of(m + i * psize) == target[i % 2];
	ktap_test_result(ok && ret[0] == 0 && ret[1] == 0 && status[0] == target[0] && status[1] == target[1] &&
			 after[0] != before[0] && after[1] != before[1] && after[0] != after[1],
			 "move_pages: both KSM pages of M moved (node %d->%d ret %ld, node %d->%d ret %ld), all 16 mappings followed",
			 node[0], status[0], ret[0], node[1], status[1], ret[1]);

	/* Swap S out: only its 4 KSM pages are charged to the swap cgroup. */
	passes = reclaim(m, 16);
	out = ksmt_swapped_pages(m, 16);
	out_rest = ksmt_swapped_pages(m + 16 * psize, 32);
	ktap_test_result(out == 16 && out_rest == 0,
			 "reclaim swapped out all 16 mappings of S's 4 KSM pages (%d after %d passes), none of M and R (%d)",
			 out, passes, out_rest);
	s = ksmt_stats(fd);
	ktap_print_msg("before rmmod: shared %llu sharing %llu items %llu",
		       (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing,
		       (unsigned long long)s.rmap_items);

	/* rmmod: every node must be detached, nothing leaked. */
	close(fd);
	kmsg = ksmt_kmsg_open();
	err = ksmt_unload();
	leaked = ksmt_kmsg_contains(kmsg, "leaking");
	ktap_test_result(!err && !leaked && ksmt_swapped_pages(m, 16) == out,
			 "rmmod with %d mappings swapped out and 16 migrated (%s%s)", out,
			 err ? strerror(-err) : "ok", leaked ? ", metadata leaked" : "");

	bad = bad_pages(m, false);
	ktap_test_result(bad == 0, "after rmmod: every page reads back its bytes (%d bad)", bad);

	/* Each page gets its own contents: then no two pages may share a PFN. */
	for (int i = 0; i < NPAGES; i++)
		for (long b = 0; b < psize; b++)
			m[i * psize + b] = (char)own_byte(i, b);
	bad = bad_pages(m, true);
	ok = true;
	for (int i = 0; i < NPAGES; i++)
		for (int j = i + 1; j < NPAGES; j++)
			if (ksmt_pfn_of(m + i * psize) == ksmt_pfn_of(m + j * psize))
				ok = false;
	ktap_test_result(bad == 0 && ok, "after rmmod: every page written, reads its own bytes, no PFN shared (%d bad)",
			 bad);

	err = swapoff("/dev/zram0") ? -errno : 0;
	bad = bad_pages(m, true);
	ktap_test_result(!err && bad == 0 && ksmt_swapped_pages(m, NPAGES) == 0,
			 "swapoff (%s): nothing left in swap, bytes intact", err ? strerror(-err) : "ok");
	ksmt_write_file("/sys/block/zram0/reset", "1");

	/* A fresh module merges these pages again. */
	err = ksmt_load(NULL);
	if (err)
		ktap_exit_fail_msg("cannot load the module again: %s", strerror(-err));
	fd = ksmt_open();
	s = ksmt_stats(fd);
	ktap_test_result(s.pages_shared == 0 && s.rmap_items == 0 && s.mm_slots == 0,
			 "module loads again, nothing registered (shared %llu items %llu slots %llu)",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.rmap_items,
			 (unsigned long long)s.mm_slots);
	for (int i = 0; i < NPAGES; i++)
		memset(m + i * psize, pattern(i), psize);
	err = ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, NPAGES * psize);
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	s = ksmt_settle(fd, 3);
	ok = merged_by_pattern(m) && bad_pages(m, false) == 0;
	ktap_test_result(!err && ok && s.pages_shared == 14 && s.pages_sharing == 34,
			 "the reloaded module merges the same pages again (shared %llu sharing %llu, want 14 34), bytes intact",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing);
	ksmt_range(fd, KSMMOD_IOC_UNMERGE_RANGE, m, NPAGES * psize);
	{
		struct ksmmod_process p;

		memset(&p, 0, sizeof(p));
		p.size = sizeof(p);
		ksmt_ioctl(fd, KSMMOD_IOC_REMOVE_PROCESS, &p);
	}
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	close(fd);
	join(CG);
	return ktap_finished();
}
