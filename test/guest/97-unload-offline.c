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
 */
#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>

#include "ksmtest.h"

#define DIMM_NODE	2
#define FILL_MIB	48
#define CYCLES		25
#define MPOL_BIND	2

/* The sysfs state file of an online memory block of node @node, or "". */
static void block_of_node(int node, char *path, size_t size)
{
	char dir[64];
	struct dirent *e;
	DIR *d;

	path[0] = '\0';
	snprintf(dir, sizeof(dir), "/sys/devices/system/node/node%d", node);
	d = opendir(dir);
	while (d && (e = readdir(d))) {
		char state[16] = "";

		if (strncmp(e->d_name, "memory", 6) || e->d_name[6] < '0' || e->d_name[6] > '9')
			continue;
		snprintf(path, size, "/sys/devices/system/memory/%s/state", e->d_name);
		if (ksmt_read_file(path, state, sizeof(state)) > 0 && !strncmp(state, "online", 6))
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

/* The helper: offline and online @state again and again until killed. */
static void offliner(const char *state)
{
	for (;;) {
		char *m = fill_node(FILL_MIB);

		ksmt_write_file(state, "offline");
		ksmt_write_file(state, "online");
		if (m)
			munmap(m, (size_t)FILL_MIB << 20);
	}
}

/* rmmod in a child, waited for at most @secs seconds; 0, -errno or -ETIMEDOUT. */
static int unload_within(int secs)
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
		ktap_test_skip("rmmod while memory is being offlined", "no online memory block on node 2");
		ktap_test_skip("the module loads again", "no online memory block on node 2");
		return ktap_finished();
	}
	ktap_print_msg("offlining and onlining %s", state);
	if (ksmt_loaded() && ksmt_unload())
		ktap_exit_fail_msg("cannot unload ksmmod");
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
		err = unload_within(60);
		hung += err == -ETIMEDOUT;
		failed += err && err != -ETIMEDOUT;
	}
	kill(helper, SIGKILL);
	waitpid(helper, NULL, 0);
	ksmt_write_file(state, "online");
	ktap_test_result(!hung && !failed,
			 "rmmod while memory is being offlined: %d cycles, %d hung, %d failed (last %s)",
			 cycles, hung, failed, strerror(-err));
	err = hung ? -EBUSY : ksmt_load(NULL);
	ktap_test_result(!err, "the module loads again (%s)", err ? strerror(-err) : "ok");
	return ktap_finished();
}
