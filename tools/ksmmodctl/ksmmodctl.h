/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksmmodctl's internal header: what its source files share.
 *
 *   ksmmodctl.c  command line: global options, dispatch, help
 *   util.c       messages, device and pidfd opening, number parsing, sizes
 *   params.c     the tunables: set, apply (configuration files)
 *   status.c     version, status [--raw|--json] [PID]
 *   metrics.c    metrics (Prometheus), the registered processes
 *   register.c   merge, unmerge, add, remove, run
 *   watch.c      watch: the live view
 */
#ifndef KSMMODCTL_H
#define KSMMODCTL_H

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#ifndef EXIT_CANNOT_EXEC
#define EXIT_CANNOT_EXEC	126
#define EXIT_NOT_FOUND		127
#endif

#include <linux/ksmmod.h>

#define ARRAY_SIZE(a)	(sizeof(a) / sizeof((a)[0]))

#define EXIT_USAGE	2

#define DEFAULT_DEVICE	"/dev/" KSMMOD_DEVICE_NAME

/* pidfd_open(2), Linux 5.3; the same number on every architecture. */
#ifndef SYS_pidfd_open
#define SYS_pidfd_open	434
#endif

/* The device to use (-d, --device). */
extern const char *device;

/* util.c */
__attribute__((format(printf, 1, 2)))
void err_msg(const char *fmt, ...);
__attribute__((format(printf, 1, 2)))
int usage_err(const char *fmt, ...);
unsigned long page_size(void);
const char *fmt_size(char *buf, size_t len, long double bytes);
const char *fmt_pages(char *buf, size_t len, uint64_t pages);
int open_device(int flags);
void ioctl_err(const char *what);
int get_api(int fd, struct ksmmod_api *api);
int get_params_stats(int fd, struct ksmmod_params *p, struct ksmmod_stats *s);
int open_params_stats(struct ksmmod_params *p, struct ksmmod_stats *s);
int parse_u32(const char *s, uint32_t *out);
int parse_u64(const char *s, bool suffix, uint64_t *out);
int parse_pid(const char *cmd, const char *s, pid_t *out);
int open_pidfd(pid_t pid);
int open_device_pidfd(int flags, pid_t pid, int *pidfd);

/* params.c: one tunable of struct ksmmod_params. */
struct param_desc {
	const char *name;
	__u64 bit;		/* KSMMOD_PARAM_* */
	size_t offset;		/* of the __u32 field in struct ksmmod_params */
	uint32_t min;
	uint32_t max;
	bool pages;		/* value is a number of pages */
	const char * const *names;	/* NULL, or a name for each value 0..max */
};

extern const struct param_desc params[];
extern const size_t nr_params;
uint32_t *param_field(struct ksmmod_params *p, const struct param_desc *d);
int cmd_set(int argc, char **argv);
int cmd_apply(int argc, char **argv);

/* status.c: one counter of struct ksmmod_stats (general_profit is handled apart). */
struct stat_desc {
	const char *name;
	size_t offset;		/* of the __u64 field in struct ksmmod_stats */
	bool pages;		/* value is a number of pages */
	const char *unit;	/* else: what is counted, shown as "(unit)", or NULL */
};

const struct stat_desc *stat_at(size_t i);
int64_t stat_value(const struct ksmmod_stats *s, const struct stat_desc *d);
int cmd_version(void);
int cmd_status(bool raw, bool json);
int cmd_process_status(pid_t pid, bool raw, bool json);

/* metrics.c: a process with memory registered. */
struct proc_entry {
	pid_t pid;
	char comm[64];
	struct ksmmod_process_stats ps;
};

void read_comm(pid_t pid, char *buf, size_t len);
struct proc_entry *registered_procs(int fd, size_t *nr);
int cmd_metrics(void);

/* register.c */
struct reg_cmd;
const struct reg_cmd *find_reg_cmd(const char *name);
int cmd_register(const struct reg_cmd *c, int argc, char **argv);
int cmd_run(int argc, char **argv);

/* watch.c */
int cmd_watch(int argc, char **argv);

/* domains.c */
int parse_domain(const char *cmd, const char *s, uint64_t *id);
int domain_check_allowed(int fd);
int set_domain(int fd, int pidfd, uint64_t id);
int cmd_domain_status(bool raw, bool json);
const char *kind_name(uint32_t kind);

#endif /* KSMMODCTL_H */
