// SPDX-License-Identifier: GPL-2.0
/*
 * rmmod racing memory offlining. Offlining a block sends MEM_GOING_OFFLINE,
 * migrates the block's pages away, then sends MEM_OFFLINE (or
 * MEM_CANCEL_OFFLINE). ksmmod keeps its tree walkers out in between; if its
 * memory notifier is unregistered in the gap (unload), the end never comes
 * to it, and unload itself must not wait for it.
 *
 * A helper keeps offlining and onlining a block of the guest's DIMM node
 * (node 2, ZONE_MOVABLE, see test/harness/run-guest.sh), with tens of MiB to
 * migrate each time so that each gap lasts a while, while the module is
 * loaded and unloaded again and again. Every rmmod must return (within 60 s,
 * or it is counted hung), and the module must load again afterwards.
 *
 * The block goes back online as ZONE_MOVABLE ("online_movable"): plain
 * "online" may put it in ZONE_NORMAL once the movable zone no longer spans
 * it, and a slab page allocated there then makes the next offlining retry
 * for ever (the kernel gives up on a signal only). Like every such loop of
 * an administrator's, each offlining is bounded (OFFLINE_SECS, by SIGALRM):
 * ksmmod waits for an offlining to end, as mm/ksm.c's ksmd does, so rmmod
 * cannot return before it. A hang prints who waits where.
 */
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "ksmtest.h"

#define DIMM_NODE	2
#define FILL_MIB	48
#define CYCLES		12
#define MPOL_BIND	2
#define OFFLINE_SECS	10

/*
 * The sysfs state file of an online memory block of node @node in
 * ZONE_MOVABLE (only such a block can be offlined reliably), or "".
 */
static void block_of_node(int node, char *path, size_t size)
{
	char dir[64];
	struct dirent *e;
	DIR *d;

	path[0] = '\0';
	snprintf(dir, sizeof(dir), "/sys/devices/system/node/node%d", node);
	d = opendir(dir);
	while (d && (e = readdir(d))) {
		char state[16] = "", zones[64] = "", zpath[320];

		if (strncmp(e->d_name, "memory", 6) || e->d_name[6] < '0' || e->d_name[6] > '9')
			continue;
		snprintf(path, size, "/sys/devices/system/memory/%s/state", e->d_name);
		snprintf(zpath, sizeof(zpath), "/sys/devices/system/memory/%s/valid_zones", e->d_name);
		if (ksmt_read_file(path, state, sizeof(state)) > 0 && !strncmp(state, "online", 6) &&
		    ksmt_read_file(zpath, zones, sizeof(zones)) > 0 && !strncmp(zones, "Movable", 7))
			break;
		path[0] = '\0';
	}
	if (d)
		closedir(d);
}

/* Fill node 2 with @mib MiB of this process's memory; returns the mapping. */
static char *fill_node(size_t mib)
{
	unsigned long mask = 1UL << DIMM_NODE;
	size_t len = mib << 20;
	char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (m == MAP_FAILED)
		return NULL;
	if (syscall(SYS_mbind, m, len, MPOL_BIND, &mask, sizeof(mask) * 8 + 1, 0)) {
		munmap(m, len);
		return NULL;
	}
	memset(m, 0x5e, len);
	return m;
}

/* What the helper does (shared with the test, for a hang's diagnostics). */
static struct progress {
	volatile int step, iteration, offlined;
} *progress;

static void on_alarm(int sig)
{
	(void)sig;
}

/* The helper: offline and online @state again and again until killed. */
static void offliner(const char *state)
{
	struct sigaction sa = { .sa_handler = on_alarm };	/* no SA_RESTART */

	sigaction(SIGALRM, &sa, NULL);
	for (;;) {
		char *m;

		progress->step = 1;
		m = fill_node(FILL_MIB);
		progress->step = 2;
		alarm(OFFLINE_SECS);
		progress->offlined += ksmt_write_file(state, "offline");
		alarm(0);
		progress->step = 3;
		ksmt_write_file(state, "online_movable");
		progress->step = 4;
		progress->iteration++;
		if (m)
			munmap(m, (size_t)FILL_MIB << 20);
	}
}

/* Print the kernel stack of task @pid, named @who. */
static void print_stack(const char *who, pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/stack", pid);
	ksmt_print_file(who, path);
}

/* Print the stacks of ksmmod's kernel threads. */
static void print_threads(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	while (d && (e = readdir(d))) {
		char path[300], comm[32] = "";

		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		if (ksmt_read_file(path, comm, sizeof(comm)) > 0 && !strncmp(comm, "ksmmod", 6)) {
			comm[strcspn(comm, "\n")] = '\0';
			print_stack(comm, atoi(e->d_name));
		}
	}
	if (d)
		closedir(d);
}

/* Print the pages of memory block @state that are in use (/proc/kpageflags). */
static void print_block(const char *state)
{
	const char *nr = strstr(state, "/memory/memory");
	unsigned long npfn, start, used = 0;
	char bs[32] = "";

	ksmt_read_file("/sys/devices/system/memory/block_size_bytes", bs, sizeof(bs));
	npfn = strtoul(bs, NULL, 16) / 4096;
	if (!nr || !npfn)
		return;
	start = strtoul(nr + 14, NULL, 10) * npfn;
	for (unsigned long pfn = start; pfn < start + npfn; pfn++) {
		uint64_t flags;

		/* Free pages: the buddy head (KPF_BUDDY) and its tails (no flags). */
		if (ksmt_kpageflags(pfn, &flags) || !flags || (flags & (1ULL << KPF_BUDDY)))
			continue;
		if (used++ < 8)
			ktap_print_msg("block: pfn %#lx kpageflags %#llx", pfn,
				       (unsigned long long)flags);
	}
	ktap_print_msg("block: %lu pages in use", used);
}

/*
 * rmmod in a child, waited for at most @secs seconds; 0, -errno or
 * -ETIMEDOUT, after printing where the child, the helper and ksmmod's
 * threads wait and what the block holds.
 */
static int unload_within(int secs, pid_t helper, const char *state)
{
	int status;
	pid_t c = fork();

	if (c == 0)
		_exit(-ksmt_unload());
	for (int i = 0; i < secs * 10; i++) {
		if (waitpid(c, &status, WNOHANG) == c)
			return WIFEXITED(status) ? -WEXITSTATUS(status) : -ECHILD;
		usleep(100 * 1000);
	}
	print_stack("rmmod", c);
	ktap_print_msg("offliner: step %d of iteration %d", progress->step, progress->iteration);
	print_stack("offliner", helper);
	print_threads();
	print_block(state);
	return -ETIMEDOUT;
}

int main(void)
{
	int hung = 0, failed = 0, err = 0, cycles = 0;
	char state[320];
	pid_t helper;

	ktap_print_header(2);
	block_of_node(DIMM_NODE, state, sizeof(state));
	if (!state[0]) {
		ktap_test_skip("rmmod while memory is being offlined", "no online ZONE_MOVABLE memory block on node 2");
		ktap_test_skip("the module loads again", "no online ZONE_MOVABLE memory block on node 2");
		return ktap_finished();
	}
	ktap_print_msg("offlining and onlining %s", state);
	if (ksmt_loaded() && ksmt_unload())
		ktap_exit_fail_msg("cannot unload ksmmod");
	progress = mmap(NULL, sizeof(*progress), PROT_READ | PROT_WRITE,
			MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (progress == MAP_FAILED)
		ktap_exit_fail_msg("mmap: %s", strerror(errno));
	helper = fork();
	if (helper == 0)
		offliner(state);
	for (cycles = 0; cycles < CYCLES && !hung; cycles++) {
		err = ksmt_load(NULL);
		if (err) {
			failed++;
			continue;
		}
		usleep((cycles % 5) * 40 * 1000);
		err = unload_within(60, helper, state);
		hung += err == -ETIMEDOUT;
		failed += err && err != -ETIMEDOUT;
	}
	kill(helper, SIGKILL);
	waitpid(helper, NULL, 0);
	ksmt_write_file(state, "online_movable");
	/* Not one offlining that went through would have tested nothing. */
	ktap_test_result(!hung && !failed && progress->offlined,
			 "rmmod while memory is being offlined: %d cycles, %d hung, %d failed (last %s); the block went offline %d of %d times",
			 cycles, hung, failed, strerror(-err), progress->offlined, progress->iteration);
	err = hung ? -EBUSY : ksmt_load(NULL);
	ktap_test_result(!err, "the module loads again (%s)", err ? strerror(-err) : "ok");
	return ktap_finished();
}
