// SPDX-License-Identifier: GPL-2.0
/*
 * DOC: The load-time layout guard
 *
 * ksmmod's stable nodes and rmap items are read and written by the kernel's
 * own code (rmap walks, migration, memory failure, swap-in) as if they were
 * mm/ksm.c's struct ksm_stable_node and struct ksm_rmap_item: private
 * structs, in no header, whose layout include/ksmmod/layout.h restates. A
 * kernel that changed them would have ksmmod's nodes misread, which means
 * memory corruption. So before anything is merged, the module reads the
 * running kernel's own type information (BTF, /sys/kernel/btf/vmlinux: every
 * Debian kernel has CONFIG_DEBUG_INFO_BTF=y) and compares, for each field
 * the kernel touches (KSMMOD_LAYOUT_FIELDS), its offset and size with
 * ksmmod's; each kernel struct must also fit in what ksmmod allocates and
 * have no member ksmmod does not know (KSMMOD_LAYOUT_KNOWN_*: a new member
 * is something new the kernel may read). Any difference refuses the load
 * with a message naming the struct and field. An optional field (one only
 * newer kernels have, such as 7.3's ksm_rmap_item.linear_page_index, which
 * its rmap walk reads) is compared where the kernel has it.
 *
 * A kernel without BTF cannot be checked: the load is refused unless
 * layout_unverified=1 says the layout is known to match (the test suite's
 * debug kernel, built from the same sources without BTF). layout_perturb=
 * "struct.field" (testing only) moves one expected offset by 8 bytes, and
 * "-struct.member" makes one member unknown, to prove the refusals.
 *
 * The flag values the kernel reads in folio->mapping (PAGE_MAPPING_*) are
 * macros, not types: BTF does not carry them. They come from the headers the
 * module is built against, which are the running kernel's.
 */
#include <linux/btf.h>
#include <linux/fs.h>
#include <linux/module.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/vmalloc.h>

#include "ksmmod/layout.h"
#include "ksmmod/ksmmod.h"

/* What ksmmod allocates for a stable node and for an rmap item. */
static_assert(sizeof(struct ksmmod_stable_node) == sizeof(struct ksmmod_rmap_item));
#define KSMMOD_NODE_BYTES	sizeof(struct ksmmod_stable_node)

#define KSMMOD_BTF_PATH		"/sys/kernel/btf/vmlinux"
#define KSMMOD_BTF_MAX		(256 << 20)

static bool layout_unverified;
module_param(layout_unverified, bool, 0444);
MODULE_PARM_DESC(layout_unverified,
		 "load on a kernel without BTF, trusting that its mm/ksm.c structs match ksmmod's");

static char *layout_perturb;
module_param(layout_perturb, charp, 0400);
MODULE_PARM_DESC(layout_perturb,
		 "testing only: expect struct.field 8 bytes further on, or (-struct.member) forget a member");

/**
 * struct ksmmod_btf - the kernel's BTF, as read from sysfs
 * @data: the raw blob
 * @size: its size
 * @types: its type section
 * @strs: its string section
 * @str_len: size of @strs
 * @index: offset in @types of each type id's record (id 0 is void)
 * @nr: number of type ids, void included
 */
struct ksmmod_btf {
	void *data;
	size_t size;
	const char *types;
	const char *strs;
	u32 str_len;
	u32 *index;
	u32 nr;
};

/* Bytes that follow a type's struct btf_type, by kind; -1 if unknown. */
static long ksmmod_btf_extra(const struct btf_type *t)
{
	u32 vlen = BTF_INFO_VLEN(t->info);

	switch (BTF_INFO_KIND(t->info)) {
	case BTF_KIND_INT:
	case BTF_KIND_VAR:
	case BTF_KIND_DECL_TAG:
		return 4;
	case BTF_KIND_ARRAY:
		return sizeof(struct btf_array);
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
	case BTF_KIND_DATASEC:
		return (long)vlen * 12;
	case BTF_KIND_ENUM:
	case BTF_KIND_FUNC_PROTO:
		return (long)vlen * 8;
	case BTF_KIND_ENUM64:
		return (long)vlen * 12;
	case BTF_KIND_PTR:
	case BTF_KIND_FWD:
	case BTF_KIND_TYPEDEF:
	case BTF_KIND_VOLATILE:
	case BTF_KIND_CONST:
	case BTF_KIND_RESTRICT:
	case BTF_KIND_FUNC:
	case BTF_KIND_FLOAT:
	case BTF_KIND_TYPE_TAG:
		return 0;
	default:
		return -1;
	}
}

/* The record of type @id, or NULL. */
static const struct btf_type *ksmmod_btf_type(const struct ksmmod_btf *btf, u32 id)
{
	return id && id < btf->nr ? (const void *)(btf->types + btf->index[id]) : NULL;
}

static const char *ksmmod_btf_name(const struct ksmmod_btf *btf, u32 off)
{
	return off < btf->str_len ? btf->strs + off : "";
}

/**
 * ksmmod_btf_parse() - check the header and index the types of @btf->data
 * @btf: @data and @size set
 *
 * Return: 0 or -EINVAL (not BTF, or a kind this parser does not know),
 * -ENOMEM.
 */
static int ksmmod_btf_parse(struct ksmmod_btf *btf)
{
	const struct btf_header *h = btf->data;
	u32 off, nr, pass;

	if (btf->size < sizeof(*h) || h->magic != BTF_MAGIC || h->hdr_len > btf->size ||
	    (u64)h->hdr_len + h->type_off + h->type_len > btf->size ||
	    (u64)h->hdr_len + h->str_off + h->str_len > btf->size)
		return -EINVAL;
	btf->types = btf->data + h->hdr_len + h->type_off;
	btf->strs = btf->data + h->hdr_len + h->str_off;
	btf->str_len = h->str_len;
	/* Count the types, then index them. */
	for (pass = 0; pass < 2; pass++) {
		for (off = 0, nr = 1; off + sizeof(struct btf_type) <= h->type_len; nr++) {
			const struct btf_type *t = (const void *)(btf->types + off);
			long extra = ksmmod_btf_extra(t);

			if (extra < 0)
				return -EINVAL;
			if (pass)
				btf->index[nr] = off;
			off += sizeof(*t) + extra;
		}
		if (off != h->type_len)
			return -EINVAL;
		if (!pass) {
			btf->nr = nr;
			btf->index = kvcalloc(nr, sizeof(*btf->index), GFP_KERNEL);
			if (!btf->index)
				return -ENOMEM;
		}
	}
	return 0;
}

/* Size of type @id in bytes (through typedefs and qualifiers), 0 if unknown. */
static u32 ksmmod_btf_size(const struct ksmmod_btf *btf, u32 id)
{
	int depth;

	for (depth = 0; depth < 32; depth++) {
		const struct btf_type *t = ksmmod_btf_type(btf, id);

		if (!t)
			return 0;
		switch (BTF_INFO_KIND(t->info)) {
		case BTF_KIND_PTR:
			return sizeof(void *);
		case BTF_KIND_ARRAY: {
			const struct btf_array *a = (const void *)(t + 1);

			return a->nelems * ksmmod_btf_size(btf, a->type);
		}
		case BTF_KIND_TYPEDEF:
		case BTF_KIND_VOLATILE:
		case BTF_KIND_CONST:
		case BTF_KIND_RESTRICT:
		case BTF_KIND_TYPE_TAG:
			id = t->type;
			continue;
		default:
			return t->size;
		}
	}
	return 0;
}

/* The struct or union type @id resolves to (through typedefs), or NULL. */
static const struct btf_type *ksmmod_btf_composite(const struct ksmmod_btf *btf, u32 id)
{
	const struct btf_type *t = ksmmod_btf_type(btf, id);

	if (t && BTF_INFO_KIND(t->info) == BTF_KIND_TYPEDEF)
		t = ksmmod_btf_type(btf, t->type);
	if (t && (BTF_INFO_KIND(t->info) == BTF_KIND_STRUCT ||
		  BTF_INFO_KIND(t->info) == BTF_KIND_UNION))
		return t;
	return NULL;
}

/**
 * ksmmod_btf_member() - find member @name of struct @t, also inside anonymous members
 * @btf: the BTF
 * @t: a struct or union type
 * @name: the member name
 * @base: byte offset of @t in the outer struct
 * @offset: set to the member's byte offset in the outer struct
 * @size: set to its size
 *
 * Return: true if found.
 */
static bool ksmmod_btf_member(const struct ksmmod_btf *btf, const struct btf_type *t,
			      const char *name, u32 base, u32 *offset, u32 *size)
{
	const struct btf_member *m = (const void *)(t + 1);
	bool kflag = BTF_INFO_KFLAG(t->info);
	u32 i;

	for (i = 0; i < BTF_INFO_VLEN(t->info); i++, m++) {
		u32 bits = kflag ? BTF_MEMBER_BIT_OFFSET(m->offset) : m->offset;
		const struct btf_type *inner;

		if (!m->name_off) {
			inner = ksmmod_btf_composite(btf, m->type);
			if (inner && ksmmod_btf_member(btf, inner, name, base + bits / 8, offset, size))
				return true;
			continue;
		}
		if (!strcmp(ksmmod_btf_name(btf, m->name_off), name)) {
			*offset = base + bits / 8;
			*size = ksmmod_btf_size(btf, m->type);
			return true;
		}
	}
	return false;
}

/* The struct named @name, or NULL. */
static const struct btf_type *ksmmod_btf_struct(const struct ksmmod_btf *btf, const char *name)
{
	u32 id;

	for (id = 1; id < btf->nr; id++) {
		const struct btf_type *t = ksmmod_btf_type(btf, id);

		if (BTF_INFO_KIND(t->info) == BTF_KIND_STRUCT &&
		    !strcmp(ksmmod_btf_name(btf, t->name_off), name))
			return t;
	}
	return NULL;
}

static const struct ksmmod_layout_field ksmmod_layout_fields[] = KSMMOD_LAYOUT_FIELDS;

static const char *const ksmmod_known_stable_node[] = { KSMMOD_LAYOUT_KNOWN_STABLE_NODE, NULL };
static const char *const ksmmod_known_rmap_item[] = { KSMMOD_LAYOUT_KNOWN_RMAP_ITEM, NULL };

/* The members ksmmod knows in kernel struct @kstruct (NULL-terminated). */
static const char *const *ksmmod_known_members(const char *kstruct)
{
	if (!strcmp(kstruct, "ksm_stable_node"))
		return ksmmod_known_stable_node;
	return ksmmod_known_rmap_item;
}

/* Whether member @name of @kstruct is known (layout_perturb=-struct.member forgets one). */
static bool ksmmod_member_known(const char *kstruct, const char *name)
{
	const char *const *k;
	size_t n = strlen(kstruct);

	if (layout_perturb && layout_perturb[0] == '-' &&
	    !strncmp(layout_perturb + 1, kstruct, n) && layout_perturb[n + 1] == '.' &&
	    !strcmp(layout_perturb + n + 2, name))
		return false;
	for (k = ksmmod_known_members(kstruct); *k; k++)
		if (!strcmp(*k, name))
			return true;
	return false;
}

/**
 * ksmmod_btf_unknown_member() - a member of @t that ksmmod does not know
 * @btf: the BTF
 * @kstruct: the kernel struct's name
 * @t: that struct, or an anonymous struct or union inside it
 *
 * Return: the first unknown member's name, or NULL if every one is known.
 */
static const char *ksmmod_btf_unknown_member(const struct ksmmod_btf *btf, const char *kstruct,
					     const struct btf_type *t)
{
	const struct btf_member *m = (const void *)(t + 1);
	u32 i;

	for (i = 0; i < BTF_INFO_VLEN(t->info); i++, m++) {
		const struct btf_type *inner;
		const char *name;

		if (!m->name_off) {
			inner = ksmmod_btf_composite(btf, m->type);
			name = inner ? ksmmod_btf_unknown_member(btf, kstruct, inner) : "(anonymous)";
			if (name)
				return name;
			continue;
		}
		name = ksmmod_btf_name(btf, m->name_off);
		if (!ksmmod_member_known(kstruct, name))
			return name;
	}
	return NULL;
}

/* Whether layout_perturb names @f. */
static bool ksmmod_layout_perturbed(const struct ksmmod_layout_field *f)
{
	size_t n = strlen(f->kstruct);

	return layout_perturb && !strncmp(layout_perturb, f->kstruct, n) &&
	       layout_perturb[n] == '.' && !strcmp(layout_perturb + n + 1, f->member);
}

/* Compare every kernel-visible field; 0 or -EINVAL with a message. */
static int ksmmod_layout_compare(const struct ksmmod_btf *btf)
{
	const char *last = NULL, *unknown;
	const struct btf_type *t = NULL;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(ksmmod_layout_fields); i++) {
		const struct ksmmod_layout_field *f = &ksmmod_layout_fields[i];
		u32 want = f->offset + (ksmmod_layout_perturbed(f) ? 8 : 0);
		u32 offset, size;

		if (!last || strcmp(f->kstruct, last)) {
			last = f->kstruct;
			t = ksmmod_btf_struct(btf, f->kstruct);
			if (!t) {
				pr_err("layout: this kernel has no struct %s; refusing to load\n",
				       f->kstruct);
				return -EINVAL;
			}
			unknown = ksmmod_btf_unknown_member(btf, f->kstruct, t);
			if (unknown) {
				pr_err("layout: struct %s has a member %s in this kernel that ksmmod does not know; refusing to load\n",
				       f->kstruct, unknown);
				return -EINVAL;
			}
			if (t->size > KSMMOD_NODE_BYTES) {
				pr_err("layout: struct %s is %u bytes in this kernel, ksmmod allocates %zu; refusing to load\n",
				       f->kstruct, t->size, KSMMOD_NODE_BYTES);
				return -EINVAL;
			}
		}
		if (!ksmmod_btf_member(btf, t, f->member, 0, &offset, &size)) {
			if (f->optional)
				continue;	/* not in this kernel: it reads no such field */
			pr_err("layout: struct %s has no field %s in this kernel; refusing to load\n",
			       f->kstruct, f->member);
			return -EINVAL;
		}
		if (offset != want || size != f->size) {
			pr_err("layout: struct %s field %s is at offset %u (%u bytes) in this kernel, ksmmod expects %u (%u bytes); refusing to load\n",
			       f->kstruct, f->member, offset, size, want, f->size);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Read the kernel's BTF into @btf->data (vmalloc'ed). Plain file reads: the
 * kernel_read_file() family would ask the LSMs about a read of an unknown
 * kind, and IPE warns about that.
 */
static ssize_t ksmmod_btf_read(struct ksmmod_btf *btf)
{
	struct file *f;
	loff_t pos = 0;
	ssize_t n = 0;
	loff_t size;

	f = filp_open(KSMMOD_BTF_PATH, O_RDONLY, 0);
	if (IS_ERR(f))
		return PTR_ERR(f);
	size = i_size_read(file_inode(f));
	if (size <= 0 || size > KSMMOD_BTF_MAX) {
		n = -EFBIG;
		goto out;
	}
	btf->data = vmalloc(size);
	if (!btf->data) {
		n = -ENOMEM;
		goto out;
	}
	while (pos < size) {
		n = kernel_read(f, btf->data + pos, size - pos, &pos);
		if (n <= 0)
			break;
	}
	n = n < 0 ? n : pos;
out:
	filp_close(f, NULL);
	return n;
}

/**
 * ksmmod_layout_check() - refuse a kernel whose mm/ksm.c structs differ from ksmmod's
 *
 * Return: 0, or -EINVAL (a difference, or no BTF without layout_unverified),
 * -ENOMEM, or the error reading the BTF.
 */
int ksmmod_layout_check(void)
{
	struct ksmmod_btf btf = { };
	ssize_t n;
	int err;

	n = ksmmod_btf_read(&btf);
	if (n < 0) {
		vfree(btf.data);
		if (layout_unverified) {
			pr_warn("layout: no BTF (%s: %zd); loading unverified, as layout_unverified=1 asks\n",
				KSMMOD_BTF_PATH, n);
			return 0;
		}
		pr_err("layout: cannot read %s (%zd): the layout of struct ksm_stable_node and struct ksm_rmap_item cannot be verified; refusing to load (layout_unverified=1 overrides)\n",
		       KSMMOD_BTF_PATH, n);
		return n == -ENOENT ? -EINVAL : (int)n;
	}
	btf.size = n;
	err = ksmmod_btf_parse(&btf);
	if (err)
		pr_err("layout: cannot parse %s (%d); refusing to load\n", KSMMOD_BTF_PATH, err);
	else
		err = ksmmod_layout_compare(&btf);
	kvfree(btf.index);
	vfree(btf.data);
	return err;
}
