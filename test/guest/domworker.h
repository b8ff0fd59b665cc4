/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Worker processes for the merge domain tests (53-domains, 54-domains-explicit, 55-domains-mm): each
 * holds NPAGES pages of one byte, registered by itself (MERGE_RANGE), under
 * a uid and in a cgroup of the test's choosing, and forks on request; the
 * root parent reads the PFN they map from /proc/PID/pagemap.
 *
 * The test defines NPAGES and BYTE before including this, and opens the
 * device into @fd.
 */
#ifndef KSMMOD_DOMWORKER_H
#define KSMMOD_DOMWORKER_H

#include "ksmtest.h"

#include <signal.h>
#include <stdint.h>
#include <sys/wait.h>

#define CG	"/sys/fs/cgroup"

/* /dev/ksmmod, opened by the test. */
static int fd;

/**
 * struct worker - a child holding NPAGES identical pages
 * @pid: its pid
 * @addr: where its pages are
 * @up: reads its reports
 * @down: sends it commands ('f': fork a child that holds the pages too)
 */
struct worker {
	pid_t pid;
	uint64_t addr;
	int up, down;
};

/*
 * Child: join @cgroup, become @uid, fill (every page BYTE, or with @unique
 * each its own byte) and register its pages, then serve commands.
 */
static void worker_main(const char *cgroup, uid_t uid, bool unique, int up, int down)
{
	long psize = sysconf(_SC_PAGESIZE);
	uint64_t msg;
	char path[128], c;
	char *m;

	if (cgroup) {
		snprintf(path, sizeof(path), CG "/%s/cgroup.procs", cgroup);
		if (!ksmt_write_file(path, "0"))
			_exit(2);
	}
	if (uid && setresuid(uid, uid, uid))
		_exit(3);
	m = ksmt_map_filled(NPAGES, BYTE);
	for (int i = 0; m && unique && i < NPAGES; i++)
		memset(m + i * psize, BYTE + 1 + i, psize);
	if (!m || ksmt_range(fd, KSMMOD_IOC_MERGE_RANGE, m, NPAGES * psize))
		_exit(4);
	/* An open device would keep the module from unloading (reload()). */
	close(fd);
	msg = (uintptr_t)m;
	if (write(up, &msg, sizeof(msg)) != sizeof(msg))
		_exit(5);
	while (read(down, &c, 1) == 1) {
		if (c == 'f') {
			pid_t child = fork();

			if (child == 0) {
				pause();
				_exit(0);
			}
			msg = child;
			if (write(up, &msg, sizeof(msg)) != sizeof(msg))
				_exit(6);
		}
	}
	_exit(0);
}

static struct worker start_mode(const char *cgroup, uid_t uid, bool unique)
{
	int up[2], down[2];
	struct worker w;

	if (pipe(up) || pipe(down))
		ktap_exit_fail_msg("pipe");
	fflush(stdout);
	w.pid = fork();
	if (w.pid == 0) {
		close(up[0]);
		close(down[1]);
		worker_main(cgroup, uid, unique, up[1], down[0]);
	}
	close(up[1]);
	close(down[0]);
	w.up = up[0];
	w.down = down[1];
	if (read(w.up, &w.addr, sizeof(w.addr)) != sizeof(w.addr))
		ktap_exit_fail_msg("worker (cgroup %s, uid %u) did not start", cgroup ? cgroup : "-",
				   uid);
	return w;
}

static struct worker start(const char *cgroup, uid_t uid)
{
	return start_mode(cgroup, uid, false);
}

static void stop(struct worker *w)
{
	kill(w->pid, SIGKILL);
	waitpid(w->pid, NULL, 0);
	close(w->up);
	close(w->down);
}

/* The PFN all of @pid's NPAGES pages at @addr map, 0 if they do not map one. */
static uint64_t pfn_of(pid_t pid, uint64_t addr)
{
	return ksmt_pfn_all(pid, addr, NPAGES);
}

/* Set merge_domains through the ioctl: 0 or -errno. */
static int set_policy(uint32_t policy)
{
	struct ksmmod_params p;

	memset(&p, 0, sizeof(p));
	p.merge_domains = policy;
	return ksmt_set_params(fd, &p, KSMMOD_PARAM_MERGE_DOMAINS);
}

/* Merge until settled; true if the counters are exactly @shared/@sharing. */
static bool merged(uint64_t shared, uint64_t sharing)
{
	struct ksmmod_stats s;

	ksmt_set_run(fd, KSMMOD_RUN_MERGE);
	ksmt_settle(fd, 3);
	s = ksmt_settle(fd, 1);
	return s.pages_shared == shared && s.pages_sharing == sharing;
}

/* run=2, then run=0: nothing merged, the scanner stopped. */
static void unmerge(void)
{
	ksmt_set_run(fd, KSMMOD_RUN_UNMERGE);
	ksmt_set_run(fd, KSMMOD_RUN_STOP);
}

/* Unload and load the module again with @params (NULL: none); @fd reopened. */
static void reload(const char *params)
{
	int err;

	close(fd);
	err = ksmt_unload();
	if (!err)
		err = ksmt_load(params);
	if (err)
		ktap_exit_fail_msg("reload with '%s': %s", params ? params : "", strerror(-err));
	fd = ksmt_open();
}

#endif /* KSMMOD_DOMWORKER_H */
