// SPDX-License-Identifier: GPL-2.0
#define _GNU_SOURCE
/*
 * "Why did nothing merge?": ineligible_pages.
 *
 * A range registration (MERGE_RANGE) over 16 private anonymous pages, 8 pages
 * of a shared anonymous mapping and 4 of a private file mapping (a memfd):
 * the kernel's madvise, which does the flagging, makes the 16 and the 4
 * VM_MERGEABLE (its KSM merges the copied-on-write pages of private file
 * mappings; registered_bytes counts them) but not the shared 8. The 16
 * merge; the 4 are what ksmmod was asked to merge and cannot:
 * ineligible_pages is exactly 4. A whole process (ADD_PROCESS) asks for
 * everything: its ineligible_pages are exactly the pages of the mappings
 * /proc/self/maps shows as file-backed, shared or special ([vvar], [vdso]),
 * counted system-wide (GET_STATS) too and shown by ksmmodctl status PID.
 * (merge_pinned is tested in 75-pin.)
 */
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "ksmtest.h"

#define NPRIV	16
#define NSHARED	8
#define NFILE	4
#define NALL	(NPRIV + NSHARED + NFILE)

static long psize;

/* 16 private pages of @byte, then 8 shared and 4 file-backed ones. */
static char *map_mixed(int byte)
{
	char *m = mmap(NULL, NALL * psize, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int mfd = memfd_create("ksmmod-why", 0);

	if (m == MAP_FAILED || mfd < 0 || ftruncate(mfd, NFILE * psize))
		return NULL;
	if (mmap(m, NPRIV * psize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED,
		 -1, 0) == MAP_FAILED ||
	    mmap(m + NPRIV * psize, NSHARED * psize, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED ||
	    mmap(m + (NPRIV + NSHARED) * psize, NFILE * psize, PROT_READ | PROT_WRITE,
		 MAP_PRIVATE | MAP_FIXED, mfd, 0) == MAP_FAILED)
		return NULL;
	close(mfd);
	madvise(m, NPRIV * psize, MADV_NOHUGEPAGE);
	memset(m, byte, NALL * psize);
	return m;
}

/*
 * Pages of this process's mappings ksmmod cannot merge, from /proc/self/maps:
 * everything but private anonymous mappings ([heap], [stack] and nameless).
 */
static long maps_ineligible(void)
{
	FILE *f = fopen("/proc/self/maps", "r");
	char line[512];
	long pages = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		unsigned long start, end, ino;
		char perms[8], path[256] = "";

		if (sscanf(line, "%lx-%lx %7s %*s %*s %lu %255s", &start, &end, perms, &ino, path) < 4)
			continue;
		if (start >= 0xffff800000000000UL)	/* [vsyscall]: no mapping of the mm */
			continue;
		if (perms[3] == 'p' && !ino && (!path[0] || !strcmp(path, "[heap]") ||
						!strcmp(path, "[stack]")))
			continue;
		pages += (end - start) / psize;
	}
	fclose(f);
	return pages;
}

static struct ksmmod_process_stats pstats(int fd)
{
	struct ksmmod_process_stats ps;

	if (ksmt_process_stats(fd, 0, &ps))
		memset(&ps, 0xff, sizeof(ps));
	return ps;
}

/* In a child: registered whole, its ineligible pages against its maps. */
static int whole_child(int fd)
{
	struct ksmmod_process p = { .size = sizeof(p) };
	struct ksmmod_process_stats ps;
	struct ksmmod_stats s;
	long want;
	char *m;

	if (ksmt_ioctl(fd, KSMMOD_IOC_ADD_PROCESS, &p))
		return 2;
	m = map_mixed(0x79);
	if (!m)
		return 3;
	/* Two whole passes over the process after the last mapping change. */
	ksmt_settle(fd, 3);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	want = maps_ineligible();
	ps = pstats(fd);
	s = ksmt_stats(fd);
	ktap_print_msg("whole process: ineligible_pages %llu, maps say %ld; system-wide %llu",
		       (unsigned long long)ps.ineligible_pages, want,
		       (unsigned long long)s.ineligible_pages);
	if (want < NSHARED + NFILE || (long)ps.ineligible_pages != want)
		return 4;
	if (s.ineligible_pages < ps.ineligible_pages)
		return 5;
	{
		char pid[16], text[4096], wantline[64];
		char *const argv[] = { "ksmmodctl", "status", "--raw", pid, NULL };

		snprintf(pid, sizeof(pid), "%d", getpid());
		snprintf(wantline, sizeof(wantline), "ineligible_pages %ld\n", want);
		if (ksmt_ksmmodctl(argv, text, sizeof(text), NULL, 0) || !strstr(text, wantline))
			return 7;
	}
	return 0;
}

int main(void)
{
	struct ksmmod_process_stats ps;
	struct ksmmod_stats s;
	bool merged = true;
	int fd, status, rc;
	char *m;
	pid_t pid;

	ktap_print_header(3);
	psize = sysconf(_SC_PAGESIZE);
	ksmt_ensure_loaded();
	fd = ksmt_open();
	ksmt_set_run(fd, KSMMOD_RUN_STOP);

	m = map_mixed(0x77);
	if (!m)
		ktap_exit_fail_msg("mmap/memfd: %s", strerror(errno));
	if (ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, NALL * psize))
		ktap_exit_fail_msg("MERGE_RANGE: %s", strerror(errno));
	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	ksmt_settle(fd, 3);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	s = ksmt_stats(fd);
	ps = pstats(fd);
	for (int i = 1; i < NPRIV; i++)
		merged &= ksmt_pfn_of(m + i * psize) == ksmt_pfn_of(m);
	ktap_test_result(merged && s.pages_shared == 1 && s.pages_sharing == NPRIV - 1,
			 "MERGE_RANGE over 16 private, 8 shared, 4 file pages: the 16 merged");
	ktap_test_result(ps.registered_bytes == (uint64_t)(NPRIV + NFILE) * psize &&
			 ps.ineligible_pages == NFILE && !ps.merge_pinned && !ps.thp_unsplittable,
			 "16 + 4 pages made mergeable (%llu bytes); ineligible_pages %llu (want the 4 file pages)",
			 (unsigned long long)ps.registered_bytes,
			 (unsigned long long)ps.ineligible_pages);
	if (ksmt_range(fd, KSMMOD_IOC_UNMERGE_RANGE, m, NALL * psize))
		ktap_exit_fail_msg("UNMERGE_RANGE: %s", strerror(errno));

	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	pid = fork();
	if (pid == 0)
		_exit(whole_child(fd));
	waitpid(pid, &status, 0);
	rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	ktap_test_result(rc == 0,
			 "a whole process: ineligible_pages as its maps say, system-wide too, in ksmmodctl status PID (step %d)",
			 rc);

	ksmt_set_run(fd, KSMMOD_RUN_STOP);
	munmap(m, NALL * psize);
	close(fd);
	return ktap_finished();
}
