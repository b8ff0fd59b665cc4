// SPDX-License-Identifier: GPL-2.0
/*
 * sprof - sampling profile of one kernel thread (ksmd or ksmmodd) in the
 * bench guest, where no hardware counters exist (QEMU/TCG) and Debian's
 * kernel has no function profiler: the software cpu-clock event samples the
 * thread's kernel call chains (perf_event_open, as root).
 *
 *   sprof COMM [HZ]      prints "# sprof-ready" once sampling, then runs
 *                        until SIGINT/SIGTERM; then prints, per function,
 *                        "# sprof self NAME SAMPLES PERCENT" (samples whose
 *                        IP is in it) and "# sprof incl NAME SAMPLES PERCENT"
 *                        (samples with it anywhere on the call chain), and
 *                        the hottest IPs ("# sprof ip NAME+0xOFF SAMPLES")
 *
 * Under TCG each sample costs a call chain unwind in the guest: the profiled
 * thread runs slower, but the shares of its functions stay meaningful.
 *   sprof -a [HZ]        the same for everything running on every CPU
 *   sprof --hold         keeps a task-bound perf event open until killed, so
 *                        that the kernel's perf static keys are not flipped
 *                        for every profile (text patching under QEMU/TCG has
 *                        been seen to oops)
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <linux/perf_event.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

struct sym {
	uint64_t addr;
	char *name;
	long self, incl;
	long seen;	/* sample number last counted in incl */
};

static struct sym *syms;
static long nsyms;
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int cmp_addr(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static void load_kallsyms(void)
{
	FILE *f = fopen("/proc/kallsyms", "r");
	char line[512];
	long cap = 0;

	if (!f)
		exit(1);
	while (fgets(line, sizeof(line), f)) {
		unsigned long long addr;
		char type, name[256], mod[256] = "";
		int n = sscanf(line, "%llx %c %255s %255s", &addr, &type, name, mod);

		if (n < 3 || !addr || (type != 't' && type != 'T'))
			continue;
		if (nsyms == cap) {
			cap = cap ? cap * 2 : 65536;
			syms = realloc(syms, cap * sizeof(*syms));
			if (!syms)
				exit(1);
		}
		syms[nsyms].addr = addr;
		syms[nsyms].name = strdup(name);
		syms[nsyms].self = syms[nsyms].incl = 0;
		syms[nsyms].seen = -1;
		nsyms++;
	}
	fclose(f);
	qsort(syms, nsyms, sizeof(*syms), cmp_addr);
}

static struct sym *lookup(uint64_t ip)
{
	long lo = 0, hi = nsyms - 1;

	if (!nsyms || ip < syms[0].addr)
		return NULL;
	while (lo < hi) {
		long mid = (lo + hi + 1) / 2;

		if (syms[mid].addr <= ip)
			lo = mid;
		else
			hi = mid - 1;
	}
	return &syms[lo];
}

static pid_t find_thread(const char *comm)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t pid = -1;

	while (d && (e = readdir(d))) {
		char path[300], buf[64] = "";
		FILE *f;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f)) {
			buf[strcspn(buf, "\n")] = 0;
			if (!strcmp(buf, comm))
				pid = atoi(e->d_name);
		}
		fclose(f);
	}
	if (d)
		closedir(d);
	return pid;
}

static long nsamples;

/* Sample counts per IP (open addressing), for "# sprof ip" lines. */
#define IP_SLOTS 65536
static uint64_t ip_key[IP_SLOTS];
static long ip_count[IP_SLOTS];

static void count_ip(uint64_t ip)
{
	uint64_t h = (ip * 0x9e3779b97f4a7c15ULL) >> 48;

	for (uint64_t i = 0; i < IP_SLOTS; i++) {
		uint64_t s = (h + i) % IP_SLOTS;

		if (ip_key[s] == ip || !ip_key[s]) {
			ip_key[s] = ip;
			ip_count[s]++;
			return;
		}
	}
}

static int cmp_slot(const void *a, const void *b)
{
	long x = ip_count[*(const int *)a], y = ip_count[*(const int *)b];

	return (y > x) - (y < x);
}

static void account(const uint64_t *chain, uint64_t nr, uint64_t ip)
{
	struct sym *s = lookup(ip);

	nsamples++;
	count_ip(ip);
	if (s)
		s->self++;
	for (uint64_t i = 0; i < nr; i++) {
		if (chain[i] >= (uint64_t)PERF_CONTEXT_MAX)
			continue;
		s = lookup(chain[i]);
		if (s && s->seen != nsamples) {
			s->seen = nsamples;
			s->incl++;
		}
	}
}

static int cmp_self(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return (y->self > x->self) - (y->self < x->self);
}

static int cmp_incl(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	return (y->incl > x->incl) - (y->incl < x->incl);
}

#define MAX_EVENTS 64

int main(int argc, char **argv)
{
	struct perf_event_attr attr = { 0 };
	const long data_pages = 256;
	long psize = sysconf(_SC_PAGESIZE), hz = argc > 2 ? atol(argv[2]) : 10000;
	struct perf_event_mmap_page *meta[MAX_EVENTS];
	struct pollfd pfd[MAX_EVENTS];
	uint64_t tail[MAX_EVENTS] = { 0 };
	int nev = 0;
	pid_t tid = -1;

	if (argc < 2)
		return 2;
	if (!strcmp(argv[1], "--hold")) {
		attr.size = sizeof(attr);
		attr.type = PERF_TYPE_SOFTWARE;
		attr.config = PERF_COUNT_SW_TASK_CLOCK;
		if (syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0) < 0) {
			perror("sprof: perf_event_open");
			return 1;
		}
		for (;;)
			pause();
	}
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	load_kallsyms();
	if (strcmp(argv[1], "-a")) {
		tid = find_thread(argv[1]);
		if (tid < 0) {
			fprintf(stderr, "sprof: no thread %s\n", argv[1]);
			return 1;
		}
	}
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_SOFTWARE;
	attr.config = PERF_COUNT_SW_CPU_CLOCK;
	attr.sample_period = 1000000000 / hz;
	attr.sample_type = PERF_SAMPLE_IP | PERF_SAMPLE_CALLCHAIN;
	attr.exclude_user = 1;
	attr.exclude_callchain_user = 1;
	attr.wakeup_watermark = data_pages * psize / 4;
	attr.watermark = 1;
	/* One event on the thread, or (-a) one per CPU for everything. */
	for (int cpu = 0; cpu < (tid < 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1) && nev < MAX_EVENTS;
	     cpu++) {
		int fd = syscall(SYS_perf_event_open, &attr, tid, tid < 0 ? cpu : -1, -1, 0);

		if (fd < 0) {
			perror("sprof: perf_event_open");
			return 1;
		}
		meta[nev] = mmap(NULL, (data_pages + 1) * psize, PROT_READ | PROT_WRITE,
				 MAP_SHARED, fd, 0);
		if (meta[nev] == MAP_FAILED) {
			perror("sprof: mmap");
			return 1;
		}
		pfd[nev].fd = fd;
		pfd[nev].events = POLLIN;
		nev++;
	}
	printf("# sprof-ready\n");
	fflush(stdout);
	for (;;) {
		uint64_t size = data_pages * psize;

		for (int e = 0; e < nev; e++) {
			uint64_t head = __atomic_load_n(&meta[e]->data_head, __ATOMIC_ACQUIRE);
			unsigned char *data = (unsigned char *)meta[e] + psize;

			while (tail[e] < head) {
				struct perf_event_header h;
				unsigned char rec[65536];

				for (size_t i = 0; i < sizeof(h); i++)
					((unsigned char *)&h)[i] = data[(tail[e] + i) % size];
				if (h.size < sizeof(h))
					break;
				for (size_t i = 0; i < h.size; i++)
					rec[i] = data[(tail[e] + i) % size];
				if (h.type == PERF_RECORD_SAMPLE) {
					const uint64_t *v = (const uint64_t *)(rec + sizeof(h));

					account(v + 2, v[1], v[0]);
				}
				tail[e] += h.size;
			}
			__atomic_store_n(&meta[e]->data_tail, tail[e], __ATOMIC_RELEASE);
		}
		if (stop)
			break;
		poll(pfd, nev, 50);
	}
	printf("# sprof comm=%s tid=%d hz=%ld samples=%ld\n", argv[1], tid, hz, nsamples);
	{
		static int order[IP_SLOTS];

		for (int i = 0; i < IP_SLOTS; i++)
			order[i] = i;
		qsort(order, IP_SLOTS, sizeof(order[0]), cmp_slot);
		for (int i = 0; i < 40 && ip_count[order[i]]; i++) {
			struct sym *s = lookup(ip_key[order[i]]);

			printf("# sprof ip %s+0x%llx %ld\n", s ? s->name : "?",
			       s ? (unsigned long long)(ip_key[order[i]] - s->addr) : 0ULL,
			       ip_count[order[i]]);
		}
	}
	qsort(syms, nsyms, sizeof(*syms), cmp_self);
	for (long i = 0; i < nsyms && i < 40 && syms[i].self; i++)
		printf("# sprof self %s %ld %.1f\n", syms[i].name, syms[i].self,
		       100.0 * syms[i].self / (nsamples ? nsamples : 1));
	qsort(syms, nsyms, sizeof(*syms), cmp_incl);
	for (long i = 0; i < nsyms && i < 80 && syms[i].incl; i++)
		printf("# sprof incl %s %ld %.1f\n", syms[i].name, syms[i].incl,
		       100.0 * syms[i].incl / (nsamples ? nsamples : 1));
	return 0;
}
