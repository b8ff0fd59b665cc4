// SPDX-License-Identifier: GPL-2.0
/*
 * merge-exec CMD [ARGS...]: run CMD with all its memory mergeable, the way
 * systemd's MemoryKSM=yes starts a service: prctl(PR_SET_MEMORY_MERGE, 1),
 * which the new program keeps across exec (Linux 6.4 and later), then exec.
 * With ksmmod loaded in drop-in mode, ksmmod serves it instead of the
 * kernel's KSM. Exits 1 with a message if the kernel has no such prctl.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#ifndef PR_SET_MEMORY_MERGE
#define PR_SET_MEMORY_MERGE	67
#endif

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: merge-exec CMD [ARGS...]\n");
		return 2;
	}
	if (prctl(PR_SET_MEMORY_MERGE, 1, 0, 0, 0)) {
		fprintf(stderr, "merge-exec: prctl(PR_SET_MEMORY_MERGE): %s\n", strerror(errno));
		return 1;
	}
	execv(argv[1], argv + 1);
	fprintf(stderr, "merge-exec: %s: %s\n", argv[1], strerror(errno));
	return 127;
}
