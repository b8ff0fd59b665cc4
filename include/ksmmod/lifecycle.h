/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksmmod process lifecycle: registration, drop-in entry and exit, notifier
 * events, unload (src/lifecycle.c).
 */
#ifndef _KSMMOD_LIFECYCLE_H
#define _KSMMOD_LIFECYCLE_H

#include <linux/bits.h>
#include <linux/types.h>

struct mm_struct;
struct ksmmod_process_stats;

/* How ksmmod_register() registers: MERGE_RANGE is 0. */
#define KSMMOD_REG_WHOLE	BIT(0)	/* ADD_PROCESS */
#define KSMMOD_REG_KEEP_EXEC	BIT(1)	/* ... with KSMMOD_PROCESS_KEEP_EXEC */
#define KSMMOD_REG_FOLLOW	BIT(2)	/* the caller follows a fork or exec: no permission check */

int ksmmod_register(u32 pidfd, unsigned long start, unsigned long end, unsigned int how,
		    u64 explicit);
int ksmmod_unregister(u32 pidfd, unsigned long start, unsigned long end, bool whole);
int ksmmod_process_stats(u32 pidfd, struct ksmmod_process_stats *ps);
int ksmmod_set_domain(u32 pidfd, u64 explicit);
void ksmmod_set_dropin(bool on);
bool ksmmod_dropin_active(void);
bool ksmmod_own_madvise(void);
int ksmmod_enter_mm(struct mm_struct *mm);
bool ksmmod_exit_mm(struct mm_struct *mm);
void ksmmod_lifecycle_work(void);
void ksmmod_reap_gone(void);
void ksmmod_drop_notifiers(void);
void ksmmod_leave_all(void);
void ksmmod_lifecycle_exit(void);

#endif /* _KSMMOD_LIFECYCLE_H */
