// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod merge domains (see include/ksmmod/domain.h).
 *
 * DOC: Merge domains
 *
 * A merged page tells a process, through the copy-on-write fault its next
 * write takes, that another process holds the same contents: across
 * tenants, a side channel. merge_domains keeps the trees apart per tenant:
 * with "uid" a page merges only with pages of processes whose real uid was
 * the same at registration, with "cgroup" of processes that were in the same
 * cgroup v2 then (one VM scope or container). The domain of a process is
 * fixed when it is registered (fork passes the parent's on); a change of the
 * policy, allowed only while nothing is merged, places every registered
 * process anew from what it was at registration (struct ksmmod_owner).
 * An administrator can also name the domain of a process (SET_DOMAIN, an
 * "explicit" domain): that one holds whatever the policy, and passes to the
 * process's forks and, where its registration follows exec, to what it
 * executes.
 *
 * The table maps an index (what slots and tree entries carry) to the kind
 * and id of a domain, with the number of slots in it. A domain whose last
 * slot is gone stays in the table, dead, until the stable tree has been rid
 * of its nodes (ksmmod_stable_reap_domains(): a page an unregistered fork
 * child still maps keeps its node without items): only then can its index
 * name another domain. The same uid or cgroup registering again meanwhile
 * revives it. Index 0, the default domain, is not in the table.
 * The table changes under its own mutex; lookups by (kind, id) walk it,
 * which is cheap for the rare registrations and the few domains a host has.
 */
#include <linux/cgroup.h>
#include <linux/cred.h>
#include <linux/mutex.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/uidgid.h>
#include <linux/xarray.h>

#include "ksmmod/domain.h"
#include "ksmmod/ksmmod.h"

/**
 * struct ksmmod_domain - one merge domain
 * @kind: KSMMOD_DOMAINS_UID, KSMMOD_DOMAINS_CGROUP or KSMMOD_DOMAINS_EXPLICIT
 * @id: the uid, the cgroup id or the id SET_DOMAIN gave
 * @refs: slots in it
 */
struct ksmmod_domain {
	u32 kind;
	u64 id;
	unsigned long refs;
};

static DEFINE_XARRAY_ALLOC1(ksmmod_domains);
static DEFINE_MUTEX(ksmmod_domains_lock);
static u32 ksmmod_policy = KSMMOD_DOMAINS_NONE;

/**
 * ksmmod_owner_of() - record who @task is, for its domain
 * @task: the process being registered
 * @owner: filled in
 */
void ksmmod_owner_of(struct task_struct *task, struct ksmmod_owner *owner)
{
	owner->uid = from_kuid_munged(&init_user_ns, task_uid(task));
	owner->cgroup = 0;
	owner->explicit = 0;
#ifdef CONFIG_CGROUPS
	rcu_read_lock();
	owner->cgroup = cgroup_id(task_dfl_cgroup(task));
	rcu_read_unlock();
#endif
}

/* The merge_domains policy (KSMMOD_DOMAINS_*); read with the registry lock held. */
u32 ksmmod_domain_policy(void)
{
	return READ_ONCE(ksmmod_policy);
}

/**
 * ksmmod_domain_set_policy() - record a new policy
 * @policy: KSMMOD_DOMAINS_*
 *
 * The caller has placed every slot in a domain of @policy, under the
 * registry lock, which it still holds.
 */
void ksmmod_domain_set_policy(u32 policy)
{
	WRITE_ONCE(ksmmod_policy, policy);
}

/**
 * ksmmod_domain_get() - the domain of a process, with a reference
 * @policy: KSMMOD_DOMAINS_NONE, _UID or _CGROUP
 * @owner: who the process was at registration; its explicit domain, if it
 *	has one, overrides @policy
 * @idx: set to the domain's index (0 for the default domain)
 *
 * Return: 0, -ENOMEM, or -ENOSPC when every index is taken.
 */
int ksmmod_domain_get(u32 policy, const struct ksmmod_owner *owner, u16 *idx)
{
	struct ksmmod_domain *d;
	unsigned long i;
	u32 new;
	u64 id;
	int err;

	if (owner->explicit)
		policy = KSMMOD_DOMAINS_EXPLICIT;
	if (policy == KSMMOD_DOMAINS_NONE) {
		*idx = 0;
		return 0;
	}
	id = policy == KSMMOD_DOMAINS_UID ? owner->uid :
	     policy == KSMMOD_DOMAINS_CGROUP ? owner->cgroup : owner->explicit;
	mutex_lock(&ksmmod_domains_lock);
	xa_for_each(&ksmmod_domains, i, d) {
		if (d->kind == policy && d->id == id) {
			d->refs++;
			*idx = i;
			mutex_unlock(&ksmmod_domains_lock);
			return 0;
		}
	}
	d = kmalloc(sizeof(*d), GFP_KERNEL);
	err = -ENOMEM;
	if (d) {
		d->kind = policy;
		d->id = id;
		d->refs = 1;
		err = xa_alloc(&ksmmod_domains, &new, d, XA_LIMIT(1, U16_MAX), GFP_KERNEL);
		if (err == -EBUSY)
			err = -ENOSPC;
		if (err)
			kfree(d);
		else
			*idx = new;
	}
	mutex_unlock(&ksmmod_domains_lock);
	return err;
}

/**
 * ksmmod_domain_hold() - another slot in domain @idx (a fork)
 * @idx: a domain a slot holds
 */
void ksmmod_domain_hold(u16 idx)
{
	struct ksmmod_domain *d;

	if (!idx)
		return;
	mutex_lock(&ksmmod_domains_lock);
	d = xa_load(&ksmmod_domains, idx);
	if (!WARN_ON_ONCE(!d))
		d->refs++;
	mutex_unlock(&ksmmod_domains_lock);
}

/**
 * ksmmod_domain_put() - a slot leaves domain @idx
 * @idx: the domain; dead with its last slot (see ksmmod_domain_next_dead())
 */
void ksmmod_domain_put(u16 idx)
{
	struct ksmmod_domain *d;

	if (!idx)
		return;
	mutex_lock(&ksmmod_domains_lock);
	d = xa_load(&ksmmod_domains, idx);
	if (!WARN_ON_ONCE(!d || !d->refs))
		d->refs--;
	mutex_unlock(&ksmmod_domains_lock);
}

/**
 * ksmmod_domain_next_dead() - the next domain without processes
 * @after: an index; 0 for the first
 *
 * Return: the lowest index above @after whose domain has no slot, or 0.
 */
u16 ksmmod_domain_next_dead(u16 after)
{
	unsigned long i = after;
	struct ksmmod_domain *d;
	u16 idx = 0;

	mutex_lock(&ksmmod_domains_lock);
	xa_for_each_start(&ksmmod_domains, i, d, (unsigned long)after + 1) {
		if (!d->refs) {
			idx = i;
			break;
		}
	}
	mutex_unlock(&ksmmod_domains_lock);
	return idx;
}

/**
 * ksmmod_domain_describe() - what domain @idx stands for
 * @idx: an index a slot holds
 * @kind: set to its KSMMOD_DOMAINS_* kind (NONE for index 0)
 * @id: set to its uid, cgroup id or explicit id (0 for index 0)
 *
 * Return: false if @idx names no domain (or one without processes).
 */
bool ksmmod_domain_describe(u16 idx, u32 *kind, u64 *id)
{
	struct ksmmod_domain *d;
	bool live;

	*kind = KSMMOD_DOMAINS_NONE;
	*id = 0;
	if (!idx)
		return true;
	mutex_lock(&ksmmod_domains_lock);
	d = xa_load(&ksmmod_domains, idx);
	live = d && d->refs;
	if (live) {
		*kind = d->kind;
		*id = d->id;
	}
	mutex_unlock(&ksmmod_domains_lock);
	return live;
}

/**
 * ksmmod_domain_free_dead() - free the index of a dead domain
 * @idx: from ksmmod_domain_next_dead(), after the stable tree forgot it
 *
 * Nothing happens if a slot revived the domain meanwhile.
 */
void ksmmod_domain_free_dead(u16 idx)
{
	struct ksmmod_domain *d;

	mutex_lock(&ksmmod_domains_lock);
	d = xa_load(&ksmmod_domains, idx);
	if (d && !d->refs) {
		xa_erase(&ksmmod_domains, idx);
		kfree(d);
	}
	mutex_unlock(&ksmmod_domains_lock);
}

/* At unload, after every slot is gone: nothing may be left. */
void ksmmod_domain_exit(void)
{
	struct ksmmod_domain *d;
	unsigned long i;

	xa_for_each(&ksmmod_domains, i, d) {
		WARN_ONCE(d->refs, "ksmmod: merge domain %lu still has %lu processes\n", i, d->refs);
		kfree(d);
	}
	xa_destroy(&ksmmod_domains);
}
