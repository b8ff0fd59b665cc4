// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod page content: the hash that keys both trees and the byte-for-byte
 * compare every merge rests on.
 *
 * DOC: Page content
 *
 * A page's content hash (xxh64 of the whole page) keys the stable and the
 * unstable tree and tells a volatile page (its hash changed since the last
 * full scan) from a candidate. A hash match is never trusted for a merge:
 * the pages are compared byte for byte while both are write-protected
 * (src/merge.c), and the trees order colliding hashes by the compare.
 */
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/string.h>
#include <linux/xxhash.h>

#include "ksmmod/core.h"

/*
 * Content hash of a page: the key of both trees, the top KSMMOD_HASH_BITS of
 * its xxh64 (an rmap item keeps no more, see layout.h).
 */
u64 ksmmod_page_hash(struct page *page)
{
	void *addr = kmap_local_page(page);
	u64 hash = xxh64(addr, PAGE_SIZE, 0);

	kunmap_local(addr);
	return hash >> (64 - KSMMOD_HASH_BITS);
}

/*
 * Whether two page-sized buffers are equal. Almost every compare ksmmod
 * makes is of equal pages (a hash matched), where the kernel's memcmp() goes
 * word by word with a branch each: here eight words are folded into one
 * test, about half the instructions (and twice as fast under QEMU/TCG).
 */
static bool ksmmod_same_page_data(const unsigned long *a, const unsigned long *b)
{
	unsigned int i;

	for (i = 0; i < PAGE_SIZE / sizeof(*a); i += 8) {
		if ((a[i] ^ b[i]) | (a[i + 1] ^ b[i + 1]) | (a[i + 2] ^ b[i + 2]) |
		    (a[i + 3] ^ b[i + 3]) | (a[i + 4] ^ b[i + 4]) | (a[i + 5] ^ b[i + 5]) |
		    (a[i + 6] ^ b[i + 6]) | (a[i + 7] ^ b[i + 7]))
			return false;
	}
	return true;
}

/**
 * ksmmod_memcmp_pages() - memcmp() of two pages
 * @a: a page
 * @b: another page
 *
 * Return: 0 if their contents are equal, else memcmp()'s order (the trees
 * order colliding hashes by it).
 */
int ksmmod_memcmp_pages(struct page *a, struct page *b)
{
	void *pa = kmap_local_page(a);
	void *pb = kmap_local_page(b);
	int ret = ksmmod_same_page_data(pa, pb) ? 0 : memcmp(pa, pb, PAGE_SIZE);

	kunmap_local(pb);
	kunmap_local(pa);
	return ret;
}
