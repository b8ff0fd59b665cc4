// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod page lookup: which anonymous page is mapped where, without faulting
 * anything in.
 *
 * DOC: Finding pages
 *
 * The scanner looks pages up a page table at a time
 * (ksmmod_get_anon_pages()), skipping empty page tables and PMDs at once, and
 * again one by one when their turn comes (ksmmod_get_anon_page_pmd()); the
 * trees look up the page of an rmap item (ksmmod_get_mergeable_page()). Only
 * present anonymous pages count: swap entries, the zero page, device pages
 * and page cache pages give nothing, as follow_page() / folio_walk_start()
 * in mm/ksm.c. The single-address lookup that differs between kernels,
 * ksmmod_get_anon_page(), is a shim in include/ksmmod/compat/lookup.h.
 */
#include <linux/mm.h>
#include <linux/pgtable.h>

#include "ksmmod/core.h"
#include "ksmmod/symbols.h"

/**
 * ksmmod_vma_eligible() - whether ksmmod may merge pages of @vma
 * @vma: a mapping
 *
 * Return: true for private anonymous mappings without special flags: the
 * mappings the kernel's KSM would accept, minus private file mappings.
 */
bool ksmmod_vma_eligible(struct vm_area_struct *vma)
{
	if (vma->vm_flags & (VM_SHARED | VM_MAYSHARE | VM_PFNMAP | VM_IO | VM_DONTEXPAND |
			     VM_HUGETLB | VM_MIXEDMAP | KSMMOD_VM_DROPPABLE))
		return false;
	if (vma_is_dax(vma) || vma->vm_file || !vma_is_anonymous(vma))
		return false;
	return true;
}

/**
 * ksmmod_find_mergeable_vma() - the mapping at @addr, if ksmmod may merge there
 * @mm: address space, mmap_lock held
 * @addr: address
 *
 * Return: the vma, or NULL if @mm is exiting, nothing is mapped at @addr, or
 * the mapping is not eligible (or has no anon_vma yet: no anonymous pages).
 */
struct vm_area_struct *ksmmod_find_mergeable_vma(struct mm_struct *mm, unsigned long addr)
{
	struct vm_area_struct *vma;

	if (!atomic_read(&mm->mm_users))
		return NULL;
	vma = vma_lookup(mm, addr);
	if (!vma || !(vma->vm_flags & VM_MERGEABLE) || !vma->anon_vma ||
	    !ksmmod_vma_eligible(vma))
		return NULL;
	return vma;
}

/**
 * ksmmod_none_entries() - how many entries of a page table level are empty
 * @entry: the first entry to look at (PTEs or PMDs: 8 bytes each)
 * @nr: how many entries to look at, at most
 *
 * Sparse memory has page tables with one page in 512 and PMD tables with
 * one page table in many: testing eight entries (a cache line) at once
 * instead of each entry through the page lookup is what makes a scan's cost
 * follow the pages that are there, not the address space. An all-zero
 * entry is what pte_none() / pmd_none() accept (the Knights Landing erratum
 * bits aside: such an entry is looked at on its own, which is only slower).
 * The caller holds what keeps the table (mmap_lock, and the page table lock
 * for PTEs); entries read here are hints: the caller reads the one it uses
 * again.
 *
 * Return: the number of leading all-zero entries, @nr if all are.
 */
static unsigned long ksmmod_none_entries(const void *entry, unsigned long nr)
{
	const u64 *e = entry;
	unsigned long i = 0;

	BUILD_BUG_ON(sizeof(pte_t) != sizeof(u64) || sizeof(pmd_t) != sizeof(u64));
	for (; i + 8 <= nr; i += 8)
		if (READ_ONCE(e[i]) | READ_ONCE(e[i + 1]) | READ_ONCE(e[i + 2]) |
		    READ_ONCE(e[i + 3]) | READ_ONCE(e[i + 4]) | READ_ONCE(e[i + 5]) |
		    READ_ONCE(e[i + 6]) | READ_ONCE(e[i + 7]))
			break;
	for (; i < nr; i++)
		if (READ_ONCE(e[i]))
			break;
	return i;
}

/**
 * ksmmod_skip_none_ptes() - move past the empty PTEs of a locked page table
 * @ptep: the PTE of *@addr; moved with it
 * @addr: an address; moved to the first one from it on whose PTE is not empty
 * @end: end of the range looked at, within the page table
 *
 * Return: false if every PTE up to @end is empty (then *@addr is @end).
 */
bool ksmmod_skip_none_ptes(pte_t **ptep, unsigned long *addr, unsigned long end)
{
	unsigned long skip = ksmmod_none_entries(*ptep, (end - *addr) >> PAGE_SHIFT);

	*ptep += skip;
	*addr += skip << PAGE_SHIFT;
	return *addr < end;
}

/**
 * ksmmod_lock_pte_table() - the page table that maps @addr, locked
 * @mm: the address space, mmap_lock held
 * @addr: an address
 * @end: end of the range the caller looks at; clamped to the page table's
 * @pmdp: set to the PMD pointing to the page table (a table returned)
 * @ptlp: set to the page table's lock (a table returned)
 * @next: set to the end of what has nothing mapped (NULL returned)
 *
 * For the batched page table walks: no PUD (what mm_find_pmd() checks) or
 * an empty PMD means nothing is mapped up to its end, which the caller can
 * skip at once instead of looking at every address; the empty PMDs that
 * follow in the same PMD table are skipped with it.
 *
 * Return: the PTE of @addr, mapped and locked (pte_unmap_unlock() it); NULL
 * if nothing is mapped before *@next; or ERR_PTR(-EAGAIN) for a huge or
 * non-present PMD (look at one address at a time).
 */
pte_t *ksmmod_lock_pte_table(struct mm_struct *mm, unsigned long addr, unsigned long *end,
			     pmd_t **pmdp, spinlock_t **ptlp, unsigned long *next)
{
	pmd_t *pmd = kcall_mm_find_pmd(mm, addr);
	pte_t *ptep;
	pmd_t pmde;

	if (!pmd) {
		*next = pud_addr_end(addr, *end);
		return NULL;
	}
	/* As in replace_page(): a huge PMD may appear without the anon_vma lock. */
	pmde = READ_ONCE(*pmd);
	barrier();
	if (pmd_none(pmde)) {
		unsigned long pend = pud_addr_end(addr, *end);
		unsigned long nr = ((pend - 1) >> PMD_SHIFT) - (addr >> PMD_SHIFT) + 1;

		/*
		 * This PMD, seen empty in pmde, and the empty ones after it in
		 * the same PMD table (up to pud_addr_end()). Not *pmd again: a
		 * fault may fill it meanwhile, and the walk must move on.
		 */
		*next = min(pend, (addr & PMD_MASK) +
				  (1 + ksmmod_none_entries(pmd + 1, nr - 1)) * PMD_SIZE);
		return NULL;
	}
	if (!pmd_present(pmde) || pmd_trans_huge(pmde))
		return ERR_PTR(-EAGAIN);
	ptep = ksmmod_pte_offset_map_lock(mm, pmd, addr, ptlp);
	if (!ptep)
		return ERR_PTR(-EAGAIN);
	*end = pmd_addr_end(addr, *end);
	*pmdp = pmd;
	return ptep;
}

/*
 * The anonymous page a PTE maps, if the scanner looks at it: present (also
 * PROT_NONE NUMA-hinting PTEs, which pte_present() accepts), no zero page,
 * no device page, not a page cache page.
 */
static struct page *ksmmod_pte_anon_page(pte_t pte)
{
	unsigned long pfn = pte_pfn(pte);
	struct folio *folio;
	struct page *page;

	if (!pte_present(pte) || pte_special(pte) || is_zero_pfn(pfn) || !pfn_valid(pfn))
		return NULL;
	page = pfn_to_page(pfn);
	folio = page_folio(page);
	if (folio_is_zone_device(folio) || !folio_test_anon(folio))
		return NULL;
	return page;
}

/**
 * ksmmod_get_anon_pages() - the anonymous pages mapped from @addr on, in one go
 * @vma: the mapping, mmap_lock held
 * @addr: page-aligned address in @vma
 * @end: end of the range to look at (within @vma); only the addresses that
 *	share @addr's page table are looked at
 * @addrs: set to the addresses of the pages found, in order
 * @first: set to the first page found, with a reference (put_page() it); the
 *	others get none (the caller looks them up again when it gets to them,
 *	with ksmmod_get_anon_page_pmd())
 * @max: room in @addrs (at least 1)
 * @pmdp: set to the PMD entry of the page table the pages were found in
 * @next: set to the first address not looked at
 *
 * The scanner's page lookup: what ksmmod_get_anon_page() finds at each
 * address (see ksmmod_pte_anon_page(); nothing is faulted in), but the page
 * table is walked down and locked once for up to @max pages instead of once
 * per page. A page of a large folio comes alone.
 *
 * Return: the number of pages found (0: none before *@next), or -1 if @addr
 * is mapped through a huge or non-present PMD: use ksmmod_get_anon_page().
 */
int ksmmod_get_anon_pages(struct vm_area_struct *vma, unsigned long addr, unsigned long end,
			  unsigned long *addrs, struct page **first, int max, pmd_t **pmdp,
			  unsigned long *next)
{
	pte_t *start_pte, *ptep;
	spinlock_t *ptl;
	pmd_t *pmd;
	int n = 0;

	start_pte = ksmmod_lock_pte_table(vma->vm_mm, addr, &end, &pmd, &ptl, next);
	if (IS_ERR_OR_NULL(start_pte))
		return start_pte ? -1 : 0;
	for (ptep = start_pte; addr < end && n < max; addr += PAGE_SIZE, ptep++) {
		struct folio *folio;
		struct page *page;

		if (!ksmmod_skip_none_ptes(&ptep, &addr, end))
			break;
		page = ksmmod_pte_anon_page(ptep_get(ptep));
		if (!page)
			continue;
		folio = page_folio(page);
		/*
		 * A large folio (PTE-mapped THP) is split when one of its pages
		 * is merged, which needs the caller's reference to be the only
		 * extra one: its pages come one per batch.
		 */
		if (folio_test_large(folio) && n)
			break;
		/* Mapped here, under the page table lock: it has references. */
		if (!n) {
			folio_get(folio);
			*first = page;
		}
		addrs[n++] = addr;
		if (folio_test_large(folio)) {
			addr += PAGE_SIZE;
			break;
		}
	}
	pte_unmap_unlock(start_pte, ptl);
	*pmdp = pmd;
	*next = addr;
	return n;
}

/**
 * ksmmod_get_anon_page_pmd() - a page ksmmod_get_anon_pages() found, again
 * @vma: the mapping, whose mmap_lock has been held since that lookup
 * @pmd: the PMD entry it set
 * @addr: the page's address
 *
 * Cheaper than ksmmod_get_anon_page(): no walk down to the PMD entry. For
 * a mapping with an anon_vma (all that ksmmod scans), a PMD entry that
 * points to a page table changes only under the mmap_lock held for writing
 * on both kernels (khugepaged and MADV_COLLAPSE of anonymous memory,
 * mremap, munmap before it downgrades the lock: then it frees only page
 * tables no mapping uses any more); 6.12's page table retraction works
 * without it, but only on mappings with no anon_vma, and 7.3's page table
 * reclaim (CONFIG_PT_RECLAIM: zap_pte_table_if_empty() frees a table left
 * empty by MADV_DONTNEED under the read lock) on any. 6.1's
 * pte_offset_map_lock() does not check the entry again, so that rule is
 * what makes this safe there (6.1 has neither); 6.5 and later check it
 * under the page table lock, and give NULL if it changed.
 *
 * Return: what is mapped at @addr now, if ksmmod_get_anon_pages() would
 * serve it, with a reference; or NULL.
 */
struct page *ksmmod_get_anon_page_pmd(struct vm_area_struct *vma, pmd_t *pmd,
				      unsigned long addr)
{
	struct page *page;
	spinlock_t *ptl;
	pte_t *ptep;

	mmap_assert_locked(vma->vm_mm);
	ptep = ksmmod_pte_offset_map_lock(vma->vm_mm, pmd, addr, &ptl);
	if (!ptep)
		return NULL;
	page = ksmmod_pte_anon_page(ptep_get(ptep));
	if (page)
		folio_get(page_folio(page));
	pte_unmap_unlock(ptep, ptl);
	return page;
}

/**
 * ksmmod_get_mergeable_page() - the page an rmap item stands for, now
 * @item: an rmap item
 *
 * Return: its anonymous page (possibly a subpage of a huge page) with a
 * reference, or NULL.
 */
struct page *ksmmod_get_mergeable_page(struct ksmmod_rmap_item *item)
{
	unsigned long addr = item->address & PAGE_MASK;
	struct mm_struct *mm = item->mm;
	struct vm_area_struct *vma;
	struct page *page = NULL;

	mmap_read_lock(mm);
	vma = ksmmod_find_mergeable_vma(mm, addr);
	if (vma)
		page = ksmmod_get_anon_page(vma, addr);
	mmap_read_unlock(mm);
	return page;
}
