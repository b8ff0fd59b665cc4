// SPDX-License-Identifier: GPL-2.0
/*
 * Merged pages and the kernel's own rmap users: reclaim swaps merged pages
 * out (it unmaps every mapping through our stable node, as rmap_walk_ksm()
 * reads it), reading brings back the right bytes, a write gets a private
 * copy; rmmod with merged pages swapped out, then every page read and
 * written. Swap is a zram device (its modules come from the kernel image,
 * listed in /modules.order). MADV_PAGEOUT leaves pages mapped more than once
 * alone, so reclaim is driven through a memory cgroup's memory.reclaim.
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/swap.h>
#include <sys/wait.h>

#include "ksmtest.h"

#define NPAGES	64

static int fd;
static long psize;

/* Load the modules listed in /modules.order (zram and its dependencies). */
static void load_modules(void)
{
	char list[1024], path[300], *name, *save;

	if (ksmt_read_file("/modules.order", list, sizeof(list)) <= 0)
		return;
	for (name = strtok_r(list, "\n", &save); name; name = strtok_r(NULL, "\n", &save)) {
		int mfd, flags = strstr(name, ".xz") ? 4 /* MODULE_INIT_COMPRESSED_FILE */ : 0;

		snprintf(path, sizeof(path), "/%s", name);
		mfd = open(path, O_RDONLY | O_CLOEXEC);
		if (mfd < 0)
			continue;
		if (syscall(SYS_finit_module, mfd, "", flags) && errno != EEXIST)
			ktap_print_msg("loading %s: %s", name, strerror(errno));
		close(mfd);
	}
}

static bool write_file(const char *path, const char *val)
{
	int f = open(path, O_WRONLY);
	bool ok = f >= 0 && write(f, val, strlen(val)) == (ssize_t)strlen(val);

	if (f >= 0)
		close(f);
	return ok;
}

/* Set up 128 MiB of swap on /dev/zram0; false if impossible. */
static bool swap_on(void)
{
	load_modules();
	if (access("/sys/block/zram0", F_OK))
		return false;
	write_file("/sys/block/zram0/comp_algorithm", "lzo-rle");
	if (!write_file("/sys/block/zram0/disksize", "128M"))
		return false;
	if (system("mkswap /dev/zram0 >/dev/null 2>&1"))
		return false;
	return swapon("/dev/zram0", 0) == 0;
}

/* Put this process in its own memory cgroup (cgroup v2); false if impossible. */
static bool own_memcg(void)
{
	char pid[32];

	mkdir("/sys/fs/cgroup", 0755);
	if (access("/sys/fs/cgroup/cgroup.controllers", F_OK) &&
	    system("mount -t cgroup2 none /sys/fs/cgroup"))
		return false;
	write_file("/sys/fs/cgroup/cgroup.subtree_control", "+memory");
	mkdir("/sys/fs/cgroup/ksmtest", 0755);
	snprintf(pid, sizeof(pid), "%d", getpid());
	return write_file("/sys/fs/cgroup/ksmtest/cgroup.procs", pid) &&
	       !access("/sys/fs/cgroup/ksmtest/memory.reclaim", W_OK);
}

static int swapped_pages(char *p, int n);

/*
 * Ask the cgroup to reclaim (swap out) its memory until all of [p, p + n
 * pages) is out, at most 200 times: recently used pages take passes of LRU
 * aging first, and 6.1's reclaim was seen to need many more passes than
 * 6.12's (or to give up) for pages mapped many times.
 */
static void reclaim(char *p, int n)
{
	write_file("/proc/sys/vm/swappiness", "200");
	for (int i = 0; i < 200 && swapped_pages(p, n) < n; i++) {
		write_file("/sys/fs/cgroup/ksmtest/memory.reclaim", "64M");
		usleep(10000);
	}
	write_file("/proc/sys/vm/swappiness", "60");
}

/* Number of pages of [p, p + n pages) that pagemap reports swapped out. */
static int swapped_pages(char *p, int n)
{
	int pm = open("/proc/self/pagemap", O_RDONLY), count = 0;

	for (int i = 0; i < n; i++) {
		uint64_t e = 0;

		if (pread(pm, &e, sizeof(e), (uintptr_t)(p + i * psize) / psize * sizeof(e)) == sizeof(e) &&
		    (e >> 62 & 1))
			count++;
	}
	close(pm);
	return count;
}

static bool pattern_ok(char *m, int changed)
{
	for (int i = 0; i < NPAGES; i++)
		for (long b = 0; b < psize; b += 512) {
			char want = i < NPAGES / 2 ? 0x61 : 0x62;

			if (i == changed && b == 0)
				want = 0x01;
			if (m[i * psize + b] != want)
				return false;
		}
	return true;
}

int main(void)
{
	struct ksmmod_stats s;
	int err, out;
	char *m;

	ktap_print_header(8);
	if (!swap_on() || !own_memcg()) {
		for (int i = 0; i < 8; i++)
			ktap_test_skip("merged pages and swap",
				       "no zram swap device or no memory cgroup with memory.reclaim in this guest");
		return ktap_finished();
	}
	ksmt_ensure_loaded();
	fd = ksmt_open();
	psize = sysconf(_SC_PAGESIZE);
	m = mmap(NULL, NPAGES * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	madvise(m, NPAGES * psize, MADV_NOHUGEPAGE);
	memset(m, 0x61, NPAGES / 2 * psize);
	memset(m + NPAGES / 2 * psize, 0x62, NPAGES / 2 * psize);
	err = ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, NPAGES * psize);
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	s = ksmt_settle(fd, 3);
	ktap_test_result(!err && s.pages_shared == 2 && s.pages_sharing == NPAGES - 2,
			 "merged: shared %llu sharing %llu", (unsigned long long)s.pages_shared,
			 (unsigned long long)s.pages_sharing);

	/* Reclaim needs the rmap walk over our nodes to unmap every mapping. */
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	reclaim(m, NPAGES);
	out = swapped_pages(m, NPAGES);
	/*
	 * A KSM page goes to swap only once reclaim has unmapped every one of
	 * its mappings through rmap_walk_ksm() over our node: one swapped-out
	 * merged mapping proves that walk; all 64 is what 6.12 achieves.
	 */
	ktap_test_result(out > 0, "reclaim swapped out merged mappings (%d of %d)", out, NPAGES);
	ktap_test_result(pattern_ok(m, -1), "swapped back in: every page has its bytes");
	m[5 * psize] = 0x01;
	ktap_test_result(pattern_ok(m, 5) && ksmt_pfn_of(m + 5 * psize) != ksmt_pfn_of(m + 6 * psize),
			 "write after swap-in: private copy, others intact");

	/* Merge again, swap out, unload the module, then use every page. */
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	s = ksmt_settle(fd, 3);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	ktap_test_result(s.pages_shared == 2 && s.pages_sharing == NPAGES - 3,
			 "merged again (shared %llu sharing %llu)", (unsigned long long)s.pages_shared,
			 (unsigned long long)s.pages_sharing);
	reclaim(m, NPAGES);
	out = swapped_pages(m, NPAGES);
	close(fd);
	err = ksmt_unload();
	ktap_test_result(!err && out > 0, "rmmod with %d merged pages swapped out (%s)", out,
			 err ? strerror(-err) : "ok");
	ktap_test_result(pattern_ok(m, 5), "after rmmod: every swapped page reads back right");
	memset(m, 0x63, NPAGES * psize);
	ktap_test_result(m[0] == 0x63 && m[NPAGES * psize - 1] == 0x63 && !swapoff("/dev/zram0"),
			 "after rmmod: pages writable, swapoff succeeds");
	if (ksmt_load(NULL))
		ktap_print_msg("reloading the module failed");
	return ktap_finished();
}
