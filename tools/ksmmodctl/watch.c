// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmodctl: "watch", a live view redrawn every --interval seconds: memory
 * saved and how fast it grows, the scanner's progress, pace and CPU share,
 * and the processes that gain most.
 *
 * The module reports no position within the current full scan, so the
 * progress shown is an estimate: the pages scanned since full_scans last
 * went up, out of the pages the last full scan took (pages_scanned between
 * two increments of full_scans, as seen at refreshes; until two were seen,
 * the average pages_scanned / full_scans since the module was loaded).
 *
 * The device is opened for each refresh only, so that a watch left running
 * does not keep the module from being unloaded (the next refresh then says
 * that the module is gone, as status does, and exits 1).
 */
#include <poll.h>
#include <signal.h>
#include <termios.h>
#include <time.h>

#include "ksmmodctl.h"

#ifndef WATCH_KTHREAD
#define WATCH_KTHREAD	"ksmmodd"	/* the scanner, src/ksmmodd.c */
#endif
#define WATCH_MIN_INTERVAL	0.1
#define WATCH_MAX_INTERVAL	3600.0
#define WATCH_TOP_NOTTY	10	/* processes shown when stdout is no terminal */

/* One refresh's readings. */
struct watch_sample {
	double t;			/* CLOCK_MONOTONIC, seconds */
	struct ksmmod_params p;
	struct ksmmod_stats s;
	pid_t kthread;			/* ksmmodd's pid, 0 if not found */
	long long cpu_ticks;		/* its utime + stime, -1 if unknown */
};

/* What watch remembers between refreshes. */
struct watch_state {
	bool have_prev;
	struct watch_sample prev;
	pid_t kthread;			/* ksmmodd's pid as last found, 0 if none */
	/* progress estimate */
	bool have_boundary;		/* full_scans went up at a refresh */
	uint64_t boundary_scanned;	/* pages_scanned at that refresh */
	uint64_t boundary_scans;	/* full_scans then */
	uint64_t scan_pages;		/* pages a full scan takes, 0: unknown */
};

/* volatile sig_atomic_t: what C allows a signal handler to set */
static volatile sig_atomic_t watch_signal;
static struct termios watch_saved_tio;
static bool watch_tio_changed;

static void watch_on_signal(int sig)
{
	watch_signal = sig;
}

static void watch_restore_tty(void)
{
	if (watch_tio_changed) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &watch_saved_tio);
		watch_tio_changed = false;
	}
}

/* Keys without Enter and without echo; ISIG stays, so Ctrl-C is SIGINT. */
static void watch_raw_tty(void)
{
	struct termios t;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &watch_saved_tio))
		return;
	t = watch_saved_tio;
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	t.c_cc[VMIN] = 0;
	t.c_cc[VTIME] = 0;
	if (!tcsetattr(STDIN_FILENO, TCSANOW, &t))
		watch_tio_changed = true;
}

static double watch_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * utime + stime of task @pid from /proc/PID/stat, if its comm is
 * WATCH_KTHREAD; -1 otherwise (gone, or the pid was reused).
 */
static long long watch_task_ticks(pid_t pid)
{
	char path[64], buf[1024], *p;
	unsigned long long utime, stime;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	/* "pid (comm) state ppid ...": comm may hold blanks and ')' */
	p = strchr(buf, '(');
	if (!p || strncmp(p + 1, WATCH_KTHREAD ")", strlen(WATCH_KTHREAD) + 1))
		return -1;
	p = strrchr(buf, ')');
	/* fields 3 (state) to 13 skipped; 14 utime, 15 stime */
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu",
		   &utime, &stime) != 2)
		return -1;
	return (long long)(utime + stime);
}

/* The pid of the scanner thread, 0 if there is none. */
static pid_t watch_find_kthread(void)
{
	struct dirent *e;
	pid_t found = 0;
	char comm[64];
	DIR *d = opendir("/proc");

	if (!d)
		return 0;
	while (!found && (e = readdir(d))) {
		pid_t pid;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		pid = (pid_t)atol(e->d_name);
		read_comm(pid, comm, sizeof(comm));
		if (!strcmp(comm, WATCH_KTHREAD))
			found = pid;
	}
	closedir(d);
	return found;
}

/* Processes by profit, largest first (then by pid). */
static int watch_cmp_profit(const void *a, const void *b)
{
	const struct proc_entry *x = a, *y = b;

	if (x->ps.process_profit != y->ps.process_profit)
		return x->ps.process_profit < y->ps.process_profit ? 1 : -1;
	return x->pid < y->pid ? -1 : x->pid > y->pid;
}

/* One "  label  value  rate" line, 80 columns at most. */
static void watch_line(const char *label, const char *value, const char *rate)
{
	if (rate)
		printf("  %-15s  %-38.38s %.20s\n", label, value, rate);
	else
		printf("  %-15s  %.61s\n", label, value);
}

/* "+12.3 KiB/s" (or "-...") for a change of @bytes in @dt seconds. */
static const char *watch_byte_rate(char *buf, size_t len, long double bytes, double dt)
{
	char sz[24];

	fmt_size(sz, sizeof(sz), bytes / dt);
	snprintf(buf, len, "%s%s/s", bytes < 0 ? "" : "+", sz);
	return buf;
}

/* "+12 pages/s" for a change of @pages (may be negative) in @dt seconds. */
static const char *watch_page_rate(char *buf, size_t len, long double pages, double dt)
{
	snprintf(buf, len, "%+.0Lf pages/s", pages / dt);
	return buf;
}

/*
 * The progress line's value: the estimate of the module header comment,
 * updated with this refresh's counters. When full scans end between two
 * frames, a percentage would always read ~0%: the line says how many ended
 * and how large they are instead.
 */
static void watch_progress(struct watch_state *w, const struct ksmmod_stats *s,
			   char *buf, size_t len)
{
	uint64_t per_scan, done, ended = 0;

	if (w->have_prev && (s->full_scans < w->prev.s.full_scans ||
			     s->pages_scanned < w->prev.s.pages_scanned)) {
		/* the counters went back: the module was reloaded */
		w->have_boundary = false;
		w->scan_pages = 0;
	} else if (w->have_prev && s->full_scans > w->prev.s.full_scans) {
		ended = s->full_scans - w->prev.s.full_scans;
		if (w->have_boundary)	/* scans seen from end to end */
			w->scan_pages = (s->pages_scanned - w->boundary_scanned) /
					(s->full_scans - w->boundary_scans);
		else			/* the average since load, until then */
			w->scan_pages = s->pages_scanned / s->full_scans;
		w->have_boundary = true;
		w->boundary_scanned = s->pages_scanned;
		w->boundary_scans = s->full_scans;
	}
	per_scan = w->scan_pages;
	if (ended > 1 || (ended && per_scan)) {
		snprintf(buf, len, "#%" PRIu64 ": %" PRIu64 " ended since the last frame (~%" PRIu64
			 " pages each)", (uint64_t)s->full_scans + 1, ended, per_scan);
		return;
	}
	if (!w->have_boundary || !per_scan) {
		snprintf(buf, len, "#%" PRIu64 ": estimate after a full scan ends",
			 (uint64_t)s->full_scans + 1);
		return;
	}
	done = s->pages_scanned - w->boundary_scanned;
	snprintf(buf, len, "#%" PRIu64 ": ~%u%% (%" PRIu64 " of ~%" PRIu64 " pages)",
		 (uint64_t)s->full_scans + 1,
		 done >= per_scan ? 99 : (unsigned int)(done * 100 / per_scan), done, per_scan);
}

/* Rows of the terminal on stdout, 0 if it is none. */
static int watch_rows(void)
{
	struct winsize ws;

	if (!isatty(STDOUT_FILENO) || ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) || !ws.ws_row)
		return 0;
	return ws.ws_row;
}

/* Print one frame from @cur (and the previous sample in @w). */
static void watch_frame(struct watch_state *w, const struct watch_sample *cur,
			struct proc_entry *procs, size_t nr, double interval, bool tty)
{
	const struct ksmmod_params *p = &cur->p;
	const struct ksmmod_stats *s = &cur->s;
	const struct watch_sample *prev = w->have_prev ? &w->prev : NULL;
	double dt = prev ? cur->t - prev->t : 0;
	char v[96], r[40], a[32], clock[32];
	int rows = watch_rows(), used = 0, top;
	time_t now = time(NULL);
	struct tm tm;

	if (prev && dt <= 0)
		prev = NULL;
	localtime_r(&now, &tm);
	strftime(clock, sizeof(clock), "%Y-%m-%d %H:%M:%S", &tm);
	if (tty)
		printf("\033[H\033[2J");
	snprintf(v, sizeof(v), "ksmmod watch, every %g s (q or Ctrl-C quits)", interval);
	printf("%-60.60s %19s\n", v, clock);
	printf("run %s, pages_to_scan %" PRIu32 ", sleep_millisecs %" PRIu32
	       ", processes registered: %" PRIu64 "\n",
	       p->run == KSMMOD_RUN_STOP ? "stop" : p->run == KSMMOD_RUN_MERGE ? "merge" :
	       p->run == KSMMOD_RUN_UNMERGE ? "unmerge" : "?",
	       p->pages_to_scan, p->sleep_millisecs, (uint64_t)s->mm_slots);
	used += 2;

	printf("\nMemory saved\n");
	snprintf(v, sizeof(v), "%" PRIu64 " (%s)", (uint64_t)s->pages_sharing,
		 fmt_pages(a, sizeof(a), s->pages_sharing));
	watch_line("pages_sharing", v, prev ? watch_page_rate(r, sizeof(r),
			(long double)s->pages_sharing - prev->s.pages_sharing, dt) : "-");
	snprintf(v, sizeof(v), "%" PRId64 " (%s)", (int64_t)s->general_profit,
		 fmt_size(a, sizeof(a), (long double)s->general_profit));
	watch_line("general_profit", v, prev ? watch_byte_rate(r, sizeof(r),
			(long double)s->general_profit - prev->s.general_profit, dt) : "-");
	snprintf(v, sizeof(v), "%" PRIu64 " (%s)", (uint64_t)s->pages_shared,
		 fmt_pages(a, sizeof(a), s->pages_shared));
	watch_line("pages_shared", v, NULL);
	used += 5;

	printf("\nScanning (progress: estimated from pages_scanned per full scan)\n");
	watch_progress(w, s, v, sizeof(v));
	watch_line("full scan", v, NULL);
	snprintf(v, sizeof(v), "%" PRIu64, (uint64_t)s->pages_scanned);
	watch_line("pages_scanned", v, prev ? watch_page_rate(r, sizeof(r),
			(long double)s->pages_scanned - prev->s.pages_scanned, dt) : "-");
	snprintf(v, sizeof(v), "%" PRIu64, (uint64_t)s->full_scans);
	if (prev)
		snprintf(r, sizeof(r), "+%" PRIu64, (uint64_t)(s->full_scans - prev->s.full_scans));
	watch_line("full_scans", v, prev ? r : "-");
	if (!cur->kthread || cur->cpu_ticks < 0)
		snprintf(v, sizeof(v), "n/a (no %s thread)", WATCH_KTHREAD);
	else if (!prev || prev->kthread != cur->kthread || prev->cpu_ticks < 0)
		snprintf(v, sizeof(v), "- (pid %d)", (int)cur->kthread);
	else
		snprintf(v, sizeof(v), "%.1f%% (pid %d)",
			 (double)(cur->cpu_ticks - prev->cpu_ticks) * 100.0 /
			 (double)sysconf(_SC_CLK_TCK) / dt, (int)cur->kthread);
	watch_line(WATCH_KTHREAD " CPU", v, NULL);
	used += 6;

	printf("\nTop processes by profit\n");
	printf("  %7s  %-16s %14s %14s %14s\n", "PID", "COMM", "PROFIT", "MERGING_PAGES",
	       "RMAP_ITEMS");
	used += 3;
	/* the frame fills the terminal, less the line the cursor ends on */
	top = rows ? rows - used - 1 : WATCH_TOP_NOTTY;
	if (top < 1)
		top = 1;
	if (!nr)
		printf("  (none: no process has memory registered)\n");
	qsort(procs, nr, sizeof(*procs), watch_cmp_profit);
	for (size_t i = 0; i < nr; i++) {
		if ((int)i == top - 1 && nr > (size_t)top) {
			printf("  (%zu more)\n", nr - i);
			break;
		}
		printf("  %7d  %-16.16s %14s %14" PRIu64 " %14" PRIu64 "\n", (int)procs[i].pid,
		       procs[i].comm,
		       fmt_size(a, sizeof(a), (long double)procs[i].ps.process_profit),
		       (uint64_t)procs[i].ps.merging_pages, (uint64_t)procs[i].ps.rmap_items);
	}
	if (!tty)
		printf("\n");	/* frames apart in a log */
	fflush(stdout);
}

/*
 * Parse --interval's SECONDS: a decimal number (fractions allowed) in
 * [WATCH_MIN_INTERVAL, WATCH_MAX_INTERVAL]. Returns 0 or the usage status.
 */
static int watch_parse_interval(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (!*s || *end || errno || !(v >= WATCH_MIN_INTERVAL && v <= WATCH_MAX_INTERVAL) ||
	    !isdigit((unsigned char)s[0]))
		return usage_err("watch: --interval '%s': expected SECONDS, %g to %g", s,
				 WATCH_MIN_INTERVAL, WATCH_MAX_INTERVAL);
	*out = v;
	return 0;
}

/* One refresh's counters into @cur; false (the error said) if the device fails. */
static bool watch_sample(struct watch_state *w, struct watch_sample *cur,
			 struct proc_entry **procs, size_t *nr)
{
	int fd = open_device(O_RDONLY);

	if (fd < 0)
		return false;
	cur->t = watch_now();
	if (get_params_stats(fd, &cur->p, &cur->s)) {
		close(fd);
		return false;
	}
	*procs = registered_procs(fd, nr);
	close(fd);
	cur->cpu_ticks = w->kthread ? watch_task_ticks(w->kthread) : -1;
	if (cur->cpu_ticks < 0) {
		/* first refresh, or the module was reloaded: look (again) */
		w->kthread = watch_find_kthread();
		cur->cpu_ticks = w->kthread ? watch_task_ticks(w->kthread) : -1;
	}
	cur->kthread = w->kthread;
	return true;
}

/*
 * Wait until @deadline, reading keys from a terminal on stdin. Returns 1 if
 * 'q' was pressed, -1 on a signal, 0 at the deadline.
 */
static int watch_wait(double deadline)
{
	bool keys = watch_tio_changed;

	for (;;) {
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		double left = deadline - watch_now();
		char c[16];
		ssize_t n;
		int ret;

		if (watch_signal)
			return -1;
		if (left <= 0)
			return 0;
		ret = poll(&pfd, keys ? 1 : 0, (int)(left * 1000) + 1);
		if (ret < 0 && errno != EINTR)
			return -1;
		if (ret <= 0 || !(pfd.revents & (POLLIN | POLLHUP)))
			continue;
		n = read(STDIN_FILENO, c, sizeof(c));
		if (n <= 0) {
			keys = false;	/* the terminal hung up: time only */
			continue;
		}
		if (memchr(c, 'q', (size_t)n) || memchr(c, 'Q', (size_t)n))
			return 1;
	}
}

/*
 * "ksmmodctl watch [--interval SECONDS] [--count N]": a frame every
 * SECONDS (default 1) until 'q', Ctrl-C, SIGTERM or N frames. On a terminal
 * each frame replaces the last (ANSI clear screen); otherwise frames follow
 * each other, a blank line apart.
 */
int cmd_watch(int argc, char **argv)
{
	struct watch_state w = { 0 };
	struct sigaction sa = { 0 };
	double interval = 1, next;
	uint64_t count = 0, frames = 0;
	bool tty = isatty(STDOUT_FILENO);
	int ret = EXIT_SUCCESS, sig;

	for (int i = 0; i < argc; i++) {
		const char *a = argv[i], *val = NULL;
		bool is_interval = !strcmp(a, "--interval") || !strncmp(a, "--interval=", 11);
		bool is_count = !strcmp(a, "--count") || !strncmp(a, "--count=", 8);
		int err;

		if (!is_interval && !is_count)
			return usage_err("watch: unexpected argument '%s'", a);
		if (strchr(a, '=')) {
			val = strchr(a, '=') + 1;
		} else {
			if (i + 1 >= argc)
				return usage_err("watch: option '%s' needs a value", a);
			val = argv[++i];
		}
		if (is_interval) {
			err = watch_parse_interval(val, &interval);
			if (err)
				return err;
		} else {
			err = parse_u64(val, false, &count);
			if (err || !count)
				return usage_err("watch: --count '%s': expected a number > 0", val);
		}
	}

	/* the first refresh before anything else: a missing module is said at once */
	{
		struct proc_entry *procs = NULL;
		struct watch_sample cur;
		size_t nr = 0;

		if (!watch_sample(&w, &cur, &procs, &nr))
			return EXIT_FAILURE;
		sa.sa_handler = watch_on_signal;
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGHUP, &sa, NULL);
		watch_raw_tty();
		setvbuf(stdout, NULL, _IOFBF, 1 << 14);	/* one write per frame: no flicker */
		next = cur.t;
		for (;;) {
			watch_frame(&w, &cur, procs, nr, interval, tty);
			free(procs);
			procs = NULL;
			w.prev = cur;
			w.have_prev = true;
			if (count && ++frames >= count)
				break;
			next += interval;
			if (watch_now() > next)
				next = watch_now();	/* fell behind (suspended?): no catching up */
			if (watch_wait(next))
				break;
			if (!watch_sample(&w, &cur, &procs, &nr)) {
				ret = EXIT_FAILURE;
				break;
			}
		}
		free(procs);
	}
	watch_restore_tty();
	fflush(stdout);
	sig = watch_signal;
	if (sig == SIGTERM || sig == SIGHUP) {
		/* the terminal restored, die of the signal as the caller expects */
		signal(sig, SIG_DFL);
		raise(sig);
	}
	return ret;
}
