// SPDX-License-Identifier: GPL-2.0
/*
 * demo-dup: the `make demo` workload. Allocates MIB mebibytes of anonymous
 * memory whose pages hold 64 different contents (page i is filled with the
 * byte i % 64), so almost every page is a duplicate of another, prints its
 * pid, and waits to be killed.
 *
 *   demo-dup MIB
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	size_t len = (argc > 1 ? strtoul(argv[1], NULL, 10) : 32) << 20;
	char *mem = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (mem == MAP_FAILED) {
		perror("demo-dup: mmap");
		return 1;
	}
	for (size_t off = 0; off < len; off += 4096)
		memset(mem + off, (int)(off / 4096 % 64), 4096);
	printf("%d\n", getpid());
	fflush(stdout);
	for (;;)
		pause();
}
