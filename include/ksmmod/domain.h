/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksmmod merge domains: which processes' pages may merge with each other.
 *
 * Every registered process (slot) belongs to one merge domain, named by a
 * 16-bit index into the domain table: 0 is the default domain (policy
 * "none": everybody), the others stand for a real uid or a cgroup v2 (policy
 * "uid" or "cgroup") and are counted by the slots that use them. The trees
 * never pair pages of two domains: the index is part of the stable tree's
 * key (the top bits of a node's hash, see ksmmod_tree_key()) and of an
 * unstable item (beside its nid).
 */
#ifndef _KSMMOD_DOMAIN_H
#define _KSMMOD_DOMAIN_H

#include <linux/types.h>

struct task_struct;

/**
 * struct ksmmod_owner - who a process was when it was registered
 * @uid: its real uid (in the initial user namespace)
 * @cgroup: the id of its cgroup v2 (0 without cgroups)
 * @explicit: the domain KSMMOD_IOC_SET_DOMAIN gave it (or the process it
 *	was forked from, or executed in), overriding the policy; 0: none
 *
 * Kept in its slot: a change of merge_domains places every slot anew from it.
 */
struct ksmmod_owner {
	u32 uid;
	u64 cgroup;
	u64 explicit;
};

void ksmmod_owner_of(struct task_struct *task, struct ksmmod_owner *owner);
u32 ksmmod_domain_policy(void);
void ksmmod_domain_set_policy(u32 policy);
int ksmmod_domain_get(u32 policy, const struct ksmmod_owner *owner, u16 *idx);
void ksmmod_domain_hold(u16 idx);
void ksmmod_domain_put(u16 idx);
u16 ksmmod_domain_next_dead(u16 after);
bool ksmmod_domain_describe(u16 idx, u32 *kind, u64 *id);
void ksmmod_domain_free_dead(u16 idx);
void ksmmod_domain_exit(void);

#endif /* _KSMMOD_DOMAIN_H */
