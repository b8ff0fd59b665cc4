// SPDX-License-Identifier: GPL-2.0
/*
 * Memory hot-remove (offlining a memory block) with merged pages.
 *
 * The guest's NUMA node 2 is a hot-pluggable DIMM onlined as ZONE_MOVABLE
 * (test/harness/run-guest.sh). A KSM page moved there (move_pages) and its
 * memory block offlined migrates out again: every mapping follows it with
 * its bytes and it stays merged (exact counters). A stable
 * node whose page was freed before the scanner noticed is stale; when the
 * block holding its old pfn goes offline, the memory notifier removes it at
 * once (pages_shared drops without a scan) and nothing ever reads the
 * offlined struct page (the debug lane poisons them).
 */
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>

#include "ksmtest.h"

#define NA	32	/* pages of 0x3c: stay merged across the offlining */
#define NB	16	/* pages of 0x3d: freed, leaving a stale node */
#define DIMM_NODE	2

static long psize;
static unsigned long block_pages;

static bool same_pfn(char *m, int n, uint64_t *pfn)
{
	*pfn = ksmt_pfn_of(m);
	for (int i = 1; i < n; i++)
		if (ksmt_pfn_of(m + i * psize) != *pfn)
			return false;
	return *pfn != 0;
}

/* Write "online"/"offline" to the state of the block holding @pfn; 0 or -errno. */
static int set_block_state(uint64_t pfn, const char *state)
{
	char path[128];
	int fd, err = 0;

	snprintf(path, sizeof(path), "/sys/devices/system/memory/memory%llu/state",
		 (unsigned long long)(pfn / block_pages));
	fd = open(path, O_WRONLY);
	if (fd < 0)
		return -errno;
	/* Offlining may fail transiently (pages being isolated): retry a few times. */
	for (int i = 0; i < 5; i++) {
		err = write(fd, state, strlen(state)) < 0 ? -errno : 0;
		if (err != -EBUSY && err != -EAGAIN)
			break;
		usleep(200 * 1000);
	}
	close(fd);
	return err;
}

/* move_pages() the page at @addr to @node; 0 if it is there now. */
static int move_to(void *addr, int node)
{
	void *pages[1] = { addr };
	int nodes[1] = { node }, status = -1;

	if (syscall(SYS_move_pages, 0, 1UL, pages, nodes, &status, MPOL_MF_MOVE_ALL))
		return -errno;
	return status == node ? 0 : (status < 0 ? status : -EAGAIN);
}

static void skip_rest(int from, int plan, const char *why)
{
	for (int i = from; i < plan; i++)
		ktap_test_skip("memory offlining", why);
}

int main(void)
{
	uint64_t pfn_a = 0, pfn_a2 = 0, pfn_b = 0;
	struct ksmmod_stats s;
	char buf[64], *a, *b;
	int fd, err;
	bool ok;

	ktap_print_header(6);
	if (ksmt_read_file("/sys/devices/system/memory/block_size_bytes", buf, sizeof(buf)) <= 0) {
		skip_rest(0, 6, "no /sys/devices/system/memory (no memory hotplug)");
		return ktap_finished();
	}
	if (access("/sys/devices/system/node/node2", F_OK)) {
		skip_rest(0, 6, "guest has no hot-pluggable node 2 (test/harness/run-guest.sh adds one)");
		return ktap_finished();
	}
	psize = sysconf(_SC_PAGESIZE);
	block_pages = strtoul(buf, NULL, 16) / psize;
	ksmt_ensure_loaded();
	fd = ksmt_open();

	a = mmap(NULL, NA * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	b = mmap(NULL, NB * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (a == MAP_FAILED || b == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	madvise(a, NA * psize, MADV_NOHUGEPAGE);
	madvise(b, NB * psize, MADV_NOHUGEPAGE);
	memset(a, 0x3c, NA * psize);
	memset(b, 0x3d, NB * psize);
	if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, a, NA * psize) ||
	    ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, b, NB * psize))
		ktap_exit_fail_msg("MERGE_RANGE failed");
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	ksmt_settle(fd, 3);
	s = ksmt_settle(fd, 1);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	err = move_to(a, DIMM_NODE);
	if (!err)
		err = move_to(b, DIMM_NODE);
	ktap_test_result(!err && same_pfn(a, NA, &pfn_a) && same_pfn(b, NB, &pfn_b) &&
			 s.pages_shared == 2 && s.pages_sharing == NA + NB - 2,
			 "merged and moved to the hot-pluggable node: shared %llu (2), sharing %llu (%d), move %d",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing,
			 NA + NB - 2, err);

	/* Free B's KSM page behind the scanner's back: its node is stale. */
	munmap(b, NB * psize);
	err = set_block_state(pfn_b, "offline");
	if (err) {
		ktap_print_msg("offlining block %llu failed: %s",
			       (unsigned long long)(pfn_b / block_pages), strerror(-err));
		skip_rest(1, 6, "the hot-pluggable node's memory cannot be offlined here");
		return ktap_finished();
	}
	s = ksmt_stats(fd);
	ktap_test_result(s.pages_shared == 1 && s.pages_sharing == NA - 1,
			 "the stale node in the offlined block is gone at once: shared %llu sharing %llu",
			 (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing);

	/* Offline the block of A's KSM page (if not the same): it migrates, stays merged. */
	if (pfn_a / block_pages != pfn_b / block_pages)
		err = set_block_state(pfn_a, "offline");
	ok = !err && same_pfn(a, NA, &pfn_a2) && pfn_a2 / block_pages != pfn_a / block_pages;
	s = ksmt_stats(fd);
	ktap_test_result(ok && s.pages_shared == 1 && s.pages_sharing == NA - 1,
			 "after offlining its block the KSM page moved out (%#llx -> %#llx), still merged",
			 (unsigned long long)pfn_a, (unsigned long long)pfn_a2);
	ktap_test_result(ksmt_bytes_ok(a, NA * psize, 0x3c), "every byte of the moved page intact");
	/*
	 * Back into ZONE_MOVABLE, as the harness onlined them: plain "online"
	 * may pick ZONE_NORMAL, and slab pages there would keep every later
	 * offlining of the block (97-unload-offline) from going through.
	 */
	set_block_state(pfn_a, "online_movable");
	set_block_state(pfn_b, "online_movable");

	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	ksmt_settle(fd, 2);
	s = ksmt_settle(fd, 1);
	ktap_test_result(s.pages_shared == 1 && s.pages_sharing == NA - 1 &&
			 ksmt_bytes_ok(a, NA * psize, 0x3c),
			 "scanning on: counters exact, bytes intact");
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	err = ksmt_range(fd, KSMMOD_IOC_UNMERGE_RANGE, a, NA * psize);
	s = ksmt_stats(fd);
	ktap_test_result(!err && s.pages_shared == 0 && s.pages_sharing == 0 &&
			 ksmt_bytes_ok(a, NA * psize, 0x3c), "unmerged: counters zero, bytes intact");
	munmap(a, NA * psize);
	return ktap_finished();
}
