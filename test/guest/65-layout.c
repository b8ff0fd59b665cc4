// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod's stable nodes and rmap items are binary-compatible with the running
 * kernel's struct ksm_stable_node and struct ksm_rmap_item (mm/ksm.c): the
 * kernel's rmap walkers and migration code read and write them directly.
 *
 * The kernel's own layout comes from its BTF (/sys/kernel/btf/vmlinux),
 * parsed here without libbpf; ksmmod's comes from its debugfs file
 * /sys/kernel/debug/ksmmod/layout ("ksm_rmap_item.hlist 48 16" per line).
 * Proves: both kernel structs are as large as what ksmmod allocates (64
 * bytes), the layout file lists exactly the kernel-visible fields, and each
 * of them has the same offset and size in the kernel as in ksmmod. An
 * optional field (7.3's ksm_rmap_item.linear_page_index) is a skip on a
 * kernel without it. Without BTF in the kernel every result is a skip.
 *
 * For checking the parser outside the guest, KSMT_BTF overrides the BTF path
 * (e.g. a .BTF section extracted from a vmlinux with objcopy) and
 * KSMT_LAYOUT the layout file; with KSMT_LAYOUT set the module is not loaded.
 */
#include <linux/btf.h>

#include "ksmtest.h"

#define BTF_PATH	"/sys/kernel/btf/vmlinux"
#define LAYOUT_PATH	"/sys/kernel/debug/ksmmod/layout"
#define NO_BTF		"kernel has no BTF (" BTF_PATH " missing; built without CONFIG_DEBUG_INFO_BTF)"

/* Bytes ksmmod allocates per stable node and per rmap item. */
#define KSMMOD_OBJ_SIZE	64

/* The kernel structs, with the size ksmmod allocates for each. */
static const char *const kstructs[] = { "ksm_stable_node", "ksm_rmap_item" };
#define NSTRUCTS	((int)(sizeof(kstructs) / sizeof(kstructs[0])))

/* KSMMOD_LAYOUT_FIELDS of include/ksmmod/layout.h, in its order. */
static const struct {
	const char *kstruct;
	const char *member;
	bool optional;		/* only some kernels have it */
} fields[] = {
	{ "ksm_stable_node", "hlist", false },
	{ "ksm_stable_node", "kpfn", false },
	{ "ksm_stable_node", "rmap_hlist_len", false },
	{ "ksm_stable_node", "nid", false },
	{ "ksm_rmap_item", "rmap_list", false },
	{ "ksm_rmap_item", "anon_vma", false },
	{ "ksm_rmap_item", "mm", false },
	{ "ksm_rmap_item", "address", false },
	{ "ksm_rmap_item", "linear_page_index", true },
	{ "ksm_rmap_item", "head", false },
	{ "ksm_rmap_item", "hlist", false },
};
#define NFIELDS		((int)(sizeof(fields) / sizeof(fields[0])))

/* Struct sizes + "file lists exactly these fields" + one per field. */
#define PLAN		(NSTRUCTS + 1 + NFIELDS)

/* The parsed BTF: the raw blob and where each type id's record starts. */
static struct {
	char *data;
	size_t len;
	const char *types;	/* type section */
	__u32 types_len;
	const char *strs;	/* string section */
	__u32 strs_len;
	const struct btf_type **type;	/* type[id], id 1..ntypes */
	__u32 ntypes;
} btf;

/* Why the BTF could not be used (empty if it was parsed). */
static char btf_error[160];

/* Read all of @path (sysfs files may not report their size) into @len bytes. */
static char *read_all(const char *path, size_t *len)
{
	size_t cap = 1 << 22, n = 0;
	char *buf = malloc(cap), *nbuf;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t r;

	if (fd < 0 || !buf) {
		snprintf(btf_error, sizeof(btf_error), "cannot open %s: %s", path, strerror(errno));
		free(buf);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	for (;;) {
		if (n == cap) {
			nbuf = realloc(buf, cap * 2);
			if (!nbuf) {
				snprintf(btf_error, sizeof(btf_error), "out of memory reading %s", path);
				goto fail;
			}
			buf = nbuf;
			cap *= 2;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			snprintf(btf_error, sizeof(btf_error), "read %s: %s", path, strerror(errno));
			goto fail;
		}
		if (!r)
			break;
		n += r;
	}
	close(fd);
	*len = n;
	return buf;
fail:
	close(fd);
	free(buf);
	return NULL;
}

/* Bytes of kind-specific data following the btf_type record @t. */
static __u32 btf_extra_len(const struct btf_type *t)
{
	__u32 vlen = BTF_INFO_VLEN(t->info);

	switch (BTF_INFO_KIND(t->info)) {
	case BTF_KIND_INT:
		return sizeof(__u32);
	case BTF_KIND_ARRAY:
		return sizeof(struct btf_array);
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
		return vlen * sizeof(struct btf_member);
	case BTF_KIND_ENUM:
		return vlen * sizeof(struct btf_enum);
	case BTF_KIND_FUNC_PROTO:
		return vlen * sizeof(struct btf_param);
	case BTF_KIND_VAR:
		return sizeof(struct btf_var);
	case BTF_KIND_DATASEC:
		return vlen * sizeof(struct btf_var_secinfo);
	case BTF_KIND_DECL_TAG:
		return sizeof(struct btf_decl_tag);
	case BTF_KIND_ENUM64:
		return vlen * sizeof(struct btf_enum64);
	default:	/* PTR, FWD, TYPEDEF, modifiers, FUNC, FLOAT, TYPE_TAG */
		return 0;
	}
}

/*
 * Load and index the BTF at @path: check the header and section bounds, then
 * walk the type section once, recording where each type id's record starts.
 * Returns false with btf_error set if the blob is unusable.
 */
static bool btf_load(const char *path)
{
	const struct btf_header *hdr;
	__u32 off = 0, cap = 0, kind;
	const struct btf_type *t;
	const struct btf_type **ntype;

	btf.data = read_all(path, &btf.len);
	if (!btf.data)
		return false;
	hdr = (const struct btf_header *)btf.data;
	if (btf.len < sizeof(*hdr) || hdr->magic != BTF_MAGIC) {
		snprintf(btf_error, sizeof(btf_error), "%s: not BTF (%zu bytes, magic %#x)",
			 path, btf.len, btf.len >= 2 ? hdr->magic : 0);
		return false;
	}
	if (hdr->version != BTF_VERSION || hdr->hdr_len < sizeof(*hdr) ||
	    hdr->hdr_len > btf.len ||
	    (__u64)hdr->type_off + hdr->type_len > btf.len - hdr->hdr_len ||
	    (__u64)hdr->str_off + hdr->str_len > btf.len - hdr->hdr_len || !hdr->str_len ||
	    btf.data[hdr->hdr_len + hdr->str_off + hdr->str_len - 1]) {
		snprintf(btf_error, sizeof(btf_error), "%s: bad BTF header (version %u, hdr_len %u)",
			 path, hdr->version, hdr->hdr_len);
		return false;
	}
	btf.types = btf.data + hdr->hdr_len + hdr->type_off;
	btf.types_len = hdr->type_len;
	btf.strs = btf.data + hdr->hdr_len + hdr->str_off;
	btf.strs_len = hdr->str_len;

	/* Type ids start at 1; id 0 is void. */
	while (off < btf.types_len) {
		if (btf.types_len - off < sizeof(*t) || off % 4) {
			snprintf(btf_error, sizeof(btf_error),
				 "%s: truncated type record at offset %u", path, off);
			return false;
		}
		t = (const struct btf_type *)(btf.types + off);
		kind = BTF_INFO_KIND(t->info);
		if (kind == BTF_KIND_UNKN || kind > BTF_KIND_ENUM64) {
			snprintf(btf_error, sizeof(btf_error),
				 "%s: unknown BTF kind %u (type %u)", path, kind, btf.ntypes + 1);
			return false;
		}
		if ((__u64)off + sizeof(*t) + btf_extra_len(t) > btf.types_len) {
			snprintf(btf_error, sizeof(btf_error),
				 "%s: type %u overruns the type section", path, btf.ntypes + 1);
			return false;
		}
		if (btf.ntypes + 2 > cap) {
			cap = cap ? cap * 2 : 65536;
			ntype = realloc(btf.type, cap * sizeof(*btf.type));
			if (!ntype) {
				snprintf(btf_error, sizeof(btf_error), "out of memory indexing BTF");
				return false;
			}
			btf.type = ntype;
		}
		btf.type[++btf.ntypes] = t;
		off += sizeof(*t) + btf_extra_len(t);
	}
	return true;
}

/* Type @id's record, or NULL for void or an out-of-range id. */
static const struct btf_type *btf_type_by_id(__u32 id)
{
	return id && id <= btf.ntypes ? btf.type[id] : NULL;
}

/* The string at @off in the string section ("" if out of range). */
static const char *btf_str(__u32 off)
{
	return off < btf.strs_len ? btf.strs + off : "";
}

/* Skip typedefs and qualifiers from type @id; returns the underlying id. */
static __u32 btf_skip_mods(__u32 id)
{
	const struct btf_type *t;
	int depth;

	for (depth = 0; depth < 32 && (t = btf_type_by_id(id)); depth++) {
		switch (BTF_INFO_KIND(t->info)) {
		case BTF_KIND_TYPEDEF:
		case BTF_KIND_VOLATILE:
		case BTF_KIND_CONST:
		case BTF_KIND_RESTRICT:
		case BTF_KIND_TYPE_TAG:
			id = t->type;
			break;
		default:
			return id;
		}
	}
	return id;
}

/* Size in bytes of type @id, or -1 if it has none (void, FWD, FUNC...). */
static long long btf_type_size(__u32 id, int depth)
{
	const struct btf_type *t = btf_type_by_id(btf_skip_mods(id));
	const struct btf_array *a;
	long long elem;

	if (!t || depth > 32)
		return -1;
	switch (BTF_INFO_KIND(t->info)) {
	case BTF_KIND_PTR:
		return sizeof(void *);
	case BTF_KIND_INT:
	case BTF_KIND_STRUCT:
	case BTF_KIND_UNION:
	case BTF_KIND_ENUM:
	case BTF_KIND_ENUM64:
	case BTF_KIND_FLOAT:
		return t->size;
	case BTF_KIND_ARRAY:
		a = (const struct btf_array *)(t + 1);
		elem = btf_type_size(a->type, depth + 1);
		return elem < 0 ? -1 : elem * a->nelems;
	default:
		return -1;
	}
}

/* The first STRUCT type named @name, or NULL. */
static const struct btf_type *btf_find_struct(const char *name)
{
	const struct btf_type *t;
	__u32 id;

	for (id = 1; id <= btf.ntypes; id++) {
		t = btf.type[id];
		if (BTF_INFO_KIND(t->info) == BTF_KIND_STRUCT && !strcmp(btf_str(t->name_off), name))
			return t;
	}
	return NULL;
}

/*
 * Find member @name of struct/union @t, descending into anonymous struct and
 * union members. On success, *@bit_off is its bit offset from the start of
 * the outermost struct (@base_bits is @t's own), *@type its type id and
 * *@bitfield its bitfield size (0 if not a bitfield).
 */
static bool btf_find_member(const struct btf_type *t, const char *name, __u32 base_bits,
			    __u32 *bit_off, __u32 *type, __u32 *bitfield, int depth)
{
	const struct btf_member *m = (const struct btf_member *)(t + 1);
	bool kflag = BTF_INFO_KFLAG(t->info);
	const struct btf_type *mt;
	__u32 i, off, bits;

	if (depth > 16)
		return false;
	for (i = 0; i < BTF_INFO_VLEN(t->info); i++, m++) {
		off = kflag ? m->offset & 0xffffff : m->offset;
		bits = kflag ? m->offset >> 24 : 0;
		if (m->name_off && !strcmp(btf_str(m->name_off), name)) {
			*bit_off = base_bits + off;
			*type = m->type;
			*bitfield = bits;
			return true;
		}
		if (m->name_off)
			continue;
		mt = btf_type_by_id(btf_skip_mods(m->type));
		if (mt && (BTF_INFO_KIND(mt->info) == BTF_KIND_STRUCT ||
			   BTF_INFO_KIND(mt->info) == BTF_KIND_UNION) &&
		    btf_find_member(mt, name, base_bits + off, bit_off, type, bitfield, depth + 1))
			return true;
	}
	return false;
}

/* ksmmod's offset and size of @kstruct.@member from the layout file, or -1. */
static int layout_lookup(const char *layout, const char *kstruct, const char *member,
			 unsigned int *off, unsigned int *size)
{
	char key[128];
	const char *p;
	size_t klen;

	klen = snprintf(key, sizeof(key), "%s.%s ", kstruct, member);
	for (p = layout; *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : p + strlen(p)) {
		if (!strncmp(p, key, klen))
			return sscanf(p + klen, "%u %u", off, size) == 2 ? 0 : -1;
	}
	return -1;
}

/* True if @layout has exactly one well-formed line per expected field. */
static bool layout_exact(const char *layout, int *nlines)
{
	char name[128], line[256];
	const char *p, *nl;
	unsigned int o, s;
	bool ok = true;
	int i, seen[NFIELDS] = { 0 };
	size_t len;

	*nlines = 0;
	for (p = layout; *p; p = nl ? nl + 1 : p + len) {
		nl = strchr(p, '\n');
		len = nl ? (size_t)(nl - p) : strlen(p);
		if (len >= sizeof(line))
			len = sizeof(line) - 1;
		memcpy(line, p, len);
		line[len] = '\0';
		(*nlines)++;
		if (sscanf(line, "%127s %u %u", name, &o, &s) != 3) {
			ktap_print_msg("malformed layout line: '%s'", line);
			ok = false;
			continue;
		}
		for (i = 0; i < NFIELDS; i++) {
			snprintf(line, sizeof(line), "%s.%s", fields[i].kstruct, fields[i].member);
			if (!strcmp(name, line))
				break;
		}
		if (i == NFIELDS) {
			ktap_print_msg("unexpected layout line for %s", name);
			ok = false;
		} else if (seen[i]++) {
			ktap_print_msg("duplicate layout line for %s", name);
			ok = false;
		}
	}
	for (i = 0; i < NFIELDS; i++) {
		if (!seen[i]) {
			ktap_print_msg("no layout line for %s.%s", fields[i].kstruct,
				       fields[i].member);
			ok = false;
		}
	}
	return ok && *nlines == NFIELDS;
}

int main(void)
{
	const char *btf_path = getenv("KSMT_BTF") ?: BTF_PATH;
	const char *layout_path = getenv("KSMT_LAYOUT");
	const struct btf_type *st[NSTRUCTS] = { NULL };
	unsigned int koff, ksize;
	__u32 bit_off = 0, type = 0, bitfield = 0;
	static char layout[4096];
	char name[128], why[160];
	long long bsize;
	int i, j, nlines;
	const char *p;
	bool have, exact;
	ssize_t n;

	ktap_print_header(PLAN);

	if (access(btf_path, F_OK)) {
		for (i = 0; i < NSTRUCTS; i++) {
			snprintf(name, sizeof(name), "%s is %d bytes in this kernel's BTF",
				 kstructs[i], KSMMOD_OBJ_SIZE);
			ktap_test_skip(name, NO_BTF);
		}
		ktap_test_skip("layout file lists exactly the kernel-visible fields", NO_BTF);
		for (i = 0; i < NFIELDS; i++) {
			snprintf(name, sizeof(name), "%s.%s", fields[i].kstruct, fields[i].member);
			ktap_test_skip(name, NO_BTF);
		}
		return ktap_finished();
	}

	if (btf_load(btf_path))
		ktap_print_msg("%s: %u types, %u bytes of strings", btf_path, btf.ntypes,
			       btf.strs_len);
	else
		ktap_print_msg("%s", btf_error);

	/* The kernel's structs are the size of ksmmod's. */
	for (i = 0; i < NSTRUCTS; i++) {
		st[i] = btf_error[0] ? NULL : btf_find_struct(kstructs[i]);
		if (btf_error[0])
			snprintf(why, sizeof(why), "%s", btf_error);
		else if (!st[i])
			snprintf(why, sizeof(why), "no struct %s in BTF", kstructs[i]);
		else
			snprintf(why, sizeof(why), "BTF says %u", st[i]->size);
		ktap_test_result(st[i] && st[i]->size == KSMMOD_OBJ_SIZE,
				 "%s is %d bytes in this kernel's BTF (%s)", kstructs[i],
				 KSMMOD_OBJ_SIZE, why);
	}

	/* ksmmod's side: its debugfs layout file (or a stand-in). */
	if (layout_path) {
		ktap_print_msg("KSMT_LAYOUT=%s: not loading the module", layout_path);
	} else {
		layout_path = LAYOUT_PATH;
		ksmt_ensure_loaded();
	}
	n = ksmt_read_file(layout_path, layout, sizeof(layout));
	if (n < 0) {
		ktap_print_msg("cannot read %s: %s", layout_path, strerror(-n));
		layout[0] = '\0';
	}
	for (p = layout; *p; p++) {
		if (p == layout || p[-1] == '\n')
			fputs("# layout: ", stdout);
		putchar(*p);
	}
	if (p > layout && p[-1] != '\n')
		putchar('\n');

	exact = layout_exact(layout, &nlines);
	ktap_test_result(exact, "layout file lists exactly the %d kernel-visible fields (%d lines)",
			 NFIELDS, nlines);

	/* Each field: same offset and size in the kernel as in ksmmod. */
	for (i = 0; i < NFIELDS; i++) {
		have = !layout_lookup(layout, fields[i].kstruct, fields[i].member, &koff, &ksize);
		for (j = 0; j < NSTRUCTS && strcmp(kstructs[j], fields[i].kstruct); j++)
			;
		bsize = -1;
		if (j < NSTRUCTS && st[j] &&
		    btf_find_member(st[j], fields[i].member, 0, &bit_off, &type, &bitfield, 0)) {
			bsize = btf_type_size(type, 0);
			if (bitfield || bit_off % 8)
				snprintf(why, sizeof(why), "bitfield at bit %u, %u bits",
					 bit_off, bitfield);
			else if (bsize < 0)
				snprintf(why, sizeof(why), "%u/unsized type %u", bit_off / 8, type);
			else
				snprintf(why, sizeof(why), "%u/%lld", bit_off / 8, bsize);
		} else if (j < NSTRUCTS && st[j] && fields[i].optional) {
			snprintf(name, sizeof(name), "%s.%s", fields[i].kstruct, fields[i].member);
			snprintf(why, sizeof(why), "not in this kernel (ksmmod: %s)",
				 have ? "listed" : "not listed");
			ktap_test_skip(name, why);
			continue;
		} else {
			snprintf(why, sizeof(why), "missing");
		}
		if (have)
			snprintf(name, sizeof(name), "%u/%u", koff, ksize);
		else
			snprintf(name, sizeof(name), "missing");
		ktap_test_result(have && bsize >= 0 && !bitfield && bit_off % 8 == 0 &&
				 bit_off / 8 == koff && bsize == ksize,
				 "%s.%s: ksmmod %s, kernel BTF %s", fields[i].kstruct,
				 fields[i].member, name, why);
	}
	free(btf.type);
	free(btf.data);
	return ktap_finished();
}
