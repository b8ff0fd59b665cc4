// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod control device: /dev/ksmmod and its ioctls (include/uapi/linux/ksmmod.h).
 *
 * Commands are dispatched on their type and number; the size encoded in the
 * command is not trusted. Each argument structure carries its own @size: a
 * smaller (older) structure is zero-extended, a larger (newer) one is accepted
 * if the bytes this module does not know are zero (copy_struct_from_user()).
 * Output is written up to the smaller of the two sizes, with @size set to the
 * number of bytes written.
 */
#include <linux/capability.h>
#include <linux/compat.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/uaccess.h>
#include <linux/utsname.h>

#include "ksmmod/ksmmod.h"
#include "ksmmod/lifecycle.h"
#include "ksmmod/registry.h"

/* Largest @size accepted: a sanity bound on how much user memory is scanned. */
#define KSMMOD_MAX_ARG_SIZE	PAGE_SIZE

/**
 * ksmmod_copy_in() - read a growable argument structure from user space
 * @karg: kernel copy, @ksize bytes
 * @ksize: size of the structure this module knows
 * @ver0: smallest size accepted (the first version of the structure)
 * @uarg: user pointer
 * @usize: set to the size the caller declared in its @size field
 *
 * Return: 0, -EFAULT for a bad pointer, -EINVAL for a size below @ver0,
 * -E2BIG for a larger structure with unknown non-zero bytes.
 */
static int ksmmod_copy_in(void *karg, size_t ksize, size_t ver0,
			  const void __user *uarg, u32 *usize)
{
	u32 size;

	if (get_user(size, (const u32 __user *)uarg))
		return -EFAULT;
	if (size < ver0)
		return -EINVAL;
	if (size > KSMMOD_MAX_ARG_SIZE)
		return -E2BIG;
	*usize = size;
	return copy_struct_from_user(karg, ksize, uarg, size);
}

/**
 * ksmmod_copy_out() - write a growable argument structure back to user space
 * @uarg: user pointer
 * @usize: size the caller declared
 * @karg: kernel copy; its first u32 (@size) is set to the bytes written
 * @ksize: size of the structure this module knows
 *
 * Return: 0 or -EFAULT.
 */
static int ksmmod_copy_out(void __user *uarg, u32 usize, void *karg, size_t ksize)
{
	u32 n = min_t(u32, usize, ksize);

	*(u32 *)karg = n;
	return copy_to_user(uarg, karg, n) ? -EFAULT : 0;
}

static bool ksmmod_all_zero(const void *p, size_t n)
{
	return !memchr_inv(p, 0, n);
}

static u64 ksmmod_ioctl_mask(void);

/**
 * ksmmod_ioc_api() - KSMMOD_IOC_API: version and feature handshake
 * @uarg: struct ksmmod_api
 *
 * Return: 0 or a negative errno.
 */
static long ksmmod_ioc_api(void __user *uarg)
{
	struct ksmmod_api a;
	u32 usize;
	int err;

	err = ksmmod_copy_in(&a, sizeof(a), KSMMOD_API_SIZE_VER0, uarg, &usize);
	if (err)
		return err;
	if (!a.api_version || a.flags || a.pad || !ksmmod_all_zero(a.reserved, sizeof(a.reserved)))
		return -EINVAL;

	memset(&a, 0, sizeof(a));
	a.api_version = KSMMOD_API_VERSION;
	a.features = KSMMOD_FEATURES_ALL;
	a.ioctls = ksmmod_ioctl_mask();
	strscpy(a.module_version, KSMMOD_VERSION, sizeof(a.module_version));
	strscpy(a.kernel_release, init_utsname()->release, sizeof(a.kernel_release));
	return ksmmod_copy_out(uarg, usize, &a, sizeof(a));
}

/**
 * ksmmod_ioc_get_params() - KSMMOD_IOC_GET_PARAMS
 * @uarg: struct ksmmod_params
 *
 * Return: 0 or a negative errno.
 */
static long ksmmod_ioc_get_params(void __user *uarg)
{
	struct ksmmod_params p;
	u32 usize;
	int err;

	err = ksmmod_copy_in(&p, sizeof(p), KSMMOD_PARAMS_SIZE_VER0, uarg, &usize);
	if (err)
		return err;
	if (p.flags || p.pad || !ksmmod_all_zero(p.reserved, sizeof(p.reserved)))
		return -EINVAL;

	memset(&p, 0, sizeof(p));
	ksmmod_params_get(&p);
	return ksmmod_copy_out(uarg, usize, &p, sizeof(p));
}

/**
 * ksmmod_ioc_set_params() - KSMMOD_IOC_SET_PARAMS (CAP_SYS_ADMIN)
 * @uarg: struct ksmmod_params with @mask naming the fields to change
 *
 * Return: 0, -EPERM without CAP_SYS_ADMIN, -EINVAL for bad fields, -EBUSY
 * for a stable-tree tunable while pages are merged, or a copy error. On any
 * error nothing changes.
 */
static long ksmmod_ioc_set_params(void __user *uarg)
{
	struct ksmmod_params p;
	u32 usize;
	int err;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	err = ksmmod_copy_in(&p, sizeof(p), KSMMOD_PARAMS_SIZE_VER0, uarg, &usize);
	if (err)
		return err;
	if (p.flags || p.pad || !ksmmod_all_zero(p.reserved, sizeof(p.reserved)))
		return -EINVAL;
	return ksmmod_params_set(&p);
}

/**
 * ksmmod_ioc_get_stats() - KSMMOD_IOC_GET_STATS
 * @uarg: struct ksmmod_stats
 *
 * Return: 0 or a negative errno.
 */
static long ksmmod_ioc_get_stats(void __user *uarg)
{
	struct ksmmod_stats s;
	u32 usize;
	int err;

	err = ksmmod_copy_in(&s, sizeof(s), KSMMOD_STATS_SIZE_VER0, uarg, &usize);
	if (err)
		return err;
	if (s.flags)
		return -EINVAL;

	memset(&s, 0, sizeof(s));
	ksmmod_stats_get(&s);
	return ksmmod_copy_out(uarg, usize, &s, sizeof(s));
}

/**
 * ksmmod_range_bounds() - check a MERGE/UNMERGE_RANGE argument
 * @r: the argument
 * @start: set to the first address
 * @end: set to the end address (== @start for an empty range)
 *
 * Return: 0, -EINVAL (reserved fields, unaligned start, overflow), -ENOMEM
 * (beyond the user address space, which is never mapped).
 */
static int ksmmod_range_bounds(const struct ksmmod_range *r, unsigned long *start,
			       unsigned long *end)
{
	u64 len = PAGE_ALIGN(r->length);

	if (r->flags || r->pad || !ksmmod_all_zero(r->reserved, sizeof(r->reserved)))
		return -EINVAL;
	if (r->start & ~PAGE_MASK)
		return -EINVAL;
	if (len < r->length || r->start + len < r->start)
		return -EINVAL;
	if (r->start + len > TASK_SIZE_MAX)
		return -ENOMEM;
	*start = r->start;
	*end = r->start + len;
	return 0;
}

/**
 * ksmmod_ioc_range() - KSMMOD_IOC_MERGE_RANGE and KSMMOD_IOC_UNMERGE_RANGE
 * @uarg: struct ksmmod_range
 * @merge: MERGE_RANGE (else UNMERGE_RANGE)
 *
 * Return: 0 or a negative errno (see struct ksmmod_range).
 */
static long ksmmod_ioc_range(void __user *uarg, bool merge)
{
	unsigned long start, end;
	struct ksmmod_range r;
	u32 usize;
	int err;

	err = ksmmod_copy_in(&r, sizeof(r), KSMMOD_RANGE_SIZE_VER0, uarg, &usize);
	if (err)
		return err;
	err = ksmmod_range_bounds(&r, &start, &end);
	if (err || start == end)
		return err;
	if (merge)
		return ksmmod_register(r.pidfd, start, end, 0, 0);
	return ksmmod_unregister(r.pidfd, start, end, false);
}

static long ksmmod_ioc_merge_range(void __user *uarg)
{
	return ksmmod_ioc_range(uarg, true);
}

static long ksmmod_ioc_unmerge_range(void __user *uarg)
{
	return ksmmod_ioc_range(uarg, false);
}

/**
 * ksmmod_ioc_process() - KSMMOD_IOC_ADD_PROCESS and KSMMOD_IOC_REMOVE_PROCESS
 * @uarg: struct ksmmod_process
 * @add: ADD_PROCESS (else REMOVE_PROCESS)
 *
 * Return: 0 or a negative errno (see struct ksmmod_process).
 */
static long ksmmod_ioc_process(void __user *uarg, bool add)
{
	struct ksmmod_process p;
	u32 usize;
	int err;

	err = ksmmod_copy_in(&p, sizeof(p), KSMMOD_PROCESS_SIZE_VER0, uarg, &usize);
	if (err)
		return err;
	if (p.pad || !ksmmod_all_zero(p.reserved, sizeof(p.reserved)))
		return -EINVAL;
	if (p.flags & ~(add ? KSMMOD_PROCESS_FLAGS_ALL : 0))
		return -EINVAL;
	if (add)
		return ksmmod_register(p.pidfd, 0, TASK_SIZE_MAX,
				       KSMMOD_REG_WHOLE |
				       (p.flags & KSMMOD_PROCESS_KEEP_EXEC ? KSMMOD_REG_KEEP_EXEC : 0),
				       0);
	return ksmmod_unregister(p.pidfd, 0, TASK_SIZE_MAX, true);
}

static long ksmmod_ioc_add_process(void __user *uarg)
{
	return ksmmod_ioc_process(uarg, true);
}

static long ksmmod_ioc_remove_process(void __user *uarg)
{
	return ksmmod_ioc_process(uarg, false);
}

/**
 * ksmmod_ioc_process_stats() - KSMMOD_IOC_PROCESS_STATS
 * @uarg: struct ksmmod_process_stats
 *
 * Return: 0 or a negative errno (see struct ksmmod_process_stats).
 */
static long ksmmod_ioc_process_stats(void __user *uarg)
{
	struct ksmmod_process_stats ps;
	u32 usize, pidfd;
	int err;

	err = ksmmod_copy_in(&ps, sizeof(ps), KSMMOD_PROCESS_STATS_SIZE_VER0, uarg, &usize);
	if (err)
		return err;
	if (ps.flags || ps.pad || ps.merging_pages || ps.rmap_items || ps.zero_pages ||
	    ps.process_profit || ps.registered_bytes || ps.merge_any || ps.mergeable ||
	    ps.ineligible_pages || ps.merge_pinned || ps.thp_unsplittable ||
	    ps.domain_kind || ps.pad2 || ps.domain_id ||
	    !ksmmod_all_zero(ps.reserved, sizeof(ps.reserved)))
		return -EINVAL;
	pidfd = ps.pidfd;
	memset(&ps, 0, sizeof(ps));
	err = ksmmod_process_stats(pidfd, &ps);
	if (err)
		return err;
	ps.pidfd = pidfd;
	return ksmmod_copy_out(uarg, usize, &ps, sizeof(ps));
}

/**
 * ksmmod_ioc_set_domain() - KSMMOD_IOC_SET_DOMAIN
 * @uarg: struct ksmmod_set_domain
 *
 * Return: 0 or a negative errno (see struct ksmmod_set_domain).
 */
static long ksmmod_ioc_set_domain(void __user *uarg)
{
	struct ksmmod_set_domain d;
	u32 usize;
	int err;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	err = ksmmod_copy_in(&d, sizeof(d), KSMMOD_SET_DOMAIN_SIZE_VER0, uarg, &usize);
	if (err)
		return err;
	if (d.flags || d.pad || !ksmmod_all_zero(d.reserved, sizeof(d.reserved)))
		return -EINVAL;
	return ksmmod_set_domain(d.pidfd, d.domain);
}

/* More entries than there can be domains (65535 and the default one). */
#define KSMMOD_DOMAIN_STATS_MAX	65536

/**
 * ksmmod_ioc_domain_stats() - KSMMOD_IOC_DOMAIN_STATS
 * @uarg: struct ksmmod_domain_stats
 *
 * Return: 0 or a negative errno (see struct ksmmod_domain_stats).
 */
static long ksmmod_ioc_domain_stats(void __user *uarg)
{
	struct ksmmod_domain_entry *out = NULL;
	struct ksmmod_domain_stats ds;
	u32 usize, total, i, esize, room;
	u8 __user *dst;
	long err;

	if (!capable(CAP_SYS_ADMIN))
		return -EPERM;
	err = ksmmod_copy_in(&ds, sizeof(ds), KSMMOD_DOMAIN_STATS_SIZE_VER0, uarg, &usize);
	if (err)
		return err;
	if (ds.flags || !ksmmod_all_zero(ds.reserved, sizeof(ds.reserved)) ||
	    ds.entry_size < KSMMOD_DOMAIN_ENTRY_SIZE_VER0 || ds.entry_size > KSMMOD_MAX_ARG_SIZE ||
	    ds.count > KSMMOD_DOMAIN_STATS_MAX)
		return -EINVAL;
	dst = u64_to_user_ptr(ds.entries);
	if (ds.count && !access_ok(dst, (size_t)ds.count * ds.entry_size))
		return -EFAULT;
	/*
	 * Each domain listed has a process: room for the processes there are
	 * (the caller's @count bounds memory only through that), again if
	 * more came meanwhile.
	 */
	room = min_t(u32, ds.count, ksmmod_registry_nr_slots() + 64);
	for (;;) {
		if (room) {
			out = kvcalloc(room, sizeof(*out), GFP_KERNEL);
			if (!out)
				return -ENOMEM;
		}
		err = ksmmod_domain_stats(out, room, &total);
		if (err || total <= room || room == ds.count)
			break;
		kvfree(out);
		out = NULL;
		room = min_t(u32, ds.count, total + 64);
	}
	esize = min_t(u32, ds.entry_size, sizeof(*out));
	for (i = 0; !err && i < min(room, total); i++, dst += ds.entry_size) {
		if (copy_to_user(dst, &out[i], esize) ||
		    clear_user(dst + esize, ds.entry_size - esize))
			err = -EFAULT;
	}
	kvfree(out);
	if (err)
		return err;
	ds.count = total;
	return ksmmod_copy_out(uarg, usize, &ds, sizeof(ds));
}

/**
 * struct ksmmod_ioctl_desc - one command
 * @dir: required _IOC_DIR() of the command
 * @handler: implementation
 */
struct ksmmod_ioctl_desc {
	unsigned int dir;
	long (*handler)(void __user *uarg);
};

static const struct ksmmod_ioctl_desc ksmmod_ioctls[] = {
	[KSMMOD_NR_API] = { _IOC_READ | _IOC_WRITE, ksmmod_ioc_api },
	[KSMMOD_NR_GET_PARAMS] = { _IOC_READ | _IOC_WRITE, ksmmod_ioc_get_params },
	[KSMMOD_NR_SET_PARAMS] = { _IOC_WRITE, ksmmod_ioc_set_params },
	[KSMMOD_NR_GET_STATS] = { _IOC_READ | _IOC_WRITE, ksmmod_ioc_get_stats },
	[KSMMOD_NR_MERGE_RANGE] = { _IOC_WRITE, ksmmod_ioc_merge_range },
	[KSMMOD_NR_UNMERGE_RANGE] = { _IOC_WRITE, ksmmod_ioc_unmerge_range },
	[KSMMOD_NR_ADD_PROCESS] = { _IOC_WRITE, ksmmod_ioc_add_process },
	[KSMMOD_NR_REMOVE_PROCESS] = { _IOC_WRITE, ksmmod_ioc_remove_process },
	[KSMMOD_NR_PROCESS_STATS] = { _IOC_READ | _IOC_WRITE, ksmmod_ioc_process_stats },
	[KSMMOD_NR_SET_DOMAIN] = { _IOC_WRITE, ksmmod_ioc_set_domain },
	[KSMMOD_NR_DOMAIN_STATS] = { _IOC_READ | _IOC_WRITE, ksmmod_ioc_domain_stats },
};

/* Bit N set for every command number N this module implements. */
static u64 ksmmod_ioctl_mask(void)
{
	u64 mask = 0;
	size_t nr;

	for (nr = 0; nr < ARRAY_SIZE(ksmmod_ioctls); nr++)
		if (ksmmod_ioctls[nr].handler)
			mask |= BIT_ULL(nr);
	return mask;
}

static long ksmmod_ioctl(struct file *file, unsigned int cmd, unsigned long arg)
{
	unsigned int nr = _IOC_NR(cmd);

	if (_IOC_TYPE(cmd) != KSMMOD_IOC_TYPE || nr >= ARRAY_SIZE(ksmmod_ioctls) ||
	    !ksmmod_ioctls[nr].handler || _IOC_DIR(cmd) != ksmmod_ioctls[nr].dir)
		return -ENOTTY;
	return ksmmod_ioctls[nr].handler((void __user *)arg);
}

static const struct file_operations ksmmod_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = ksmmod_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice ksmmod_miscdev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = KSMMOD_DEVICE_NAME,
	.fops = &ksmmod_fops,
	.mode = 0600,
};

int ksmmod_dev_init(void)
{
	return misc_register(&ksmmod_miscdev);
}

void ksmmod_dev_exit(void)
{
	misc_deregister(&ksmmod_miscdev);
}
