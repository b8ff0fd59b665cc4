// SPDX-License-Identifier: GPL-2.0
/*
 * ksmmod merge: the page-table work. Write-protecting a candidate page and
 * replacing its PTE with the KSM page (breaking a merge: src/unmerge.c).
 *
 * DOC: Merging one page
 *
 * With the page locked and mmap_lock held for read:
 *
 * 1. write_protect_page(): clear the PTE and flush the TLB, so that no GUP
 *    (O_DIRECT, vmsplice, RDMA) can start on the page; then refuse the page
 *    if anything besides its mappings (and the swap cache, and our own
 *    reference) holds it: mapcount + 1 + swapcache == refcount. Clear
 *    PageAnonExclusive (only possible with the PTE cleared), and put the PTE
 *    back write-protected and clean. Secondary MMUs are told through the
 *    mmu_notifier range around it.
 * 2. For the first page of a pair, that page itself becomes the KSM page:
 *    its folio->mapping is switched to a (for now NULL) stable node.
 * 3. replace_page(): for every further page with identical contents
 *    (compared under the lock, byte for byte), re-check that the PTE is still
 *    the write-protected one from step 1, and point it to the KSM page.
 *
 * A write to a merged page faults, and the kernel's do_wp_page() copies KSM
 * pages unconditionally: copy on write needs nothing from ksmmod.
 *
 * A plain page merged into an existing KSM page (or the zero page), by far
 * the most common merge, gets steps 1 and 3 in one visit of its page table
 * (ksmmod_merge_pte()): the PTE is cleared and flushed once, the references
 * checked, the contents compared while nothing can change them, and the new
 * PTE installed, all under one page table lock and one mmu_notifier range.
 * Identical memory usually brings a run of such pages in one page table:
 * ksmmod_merge_ptes() does them together, clearing every PTE of the run
 * first and flushing the TLB once for all (the range, or the whole mm past
 * the kernel's tlb_single_page_flush_ceiling), then checking, comparing and
 * replacing page by page. The scanner forms the runs (src/scan.c,
 * ksmmod_scan_merge_run()).
 *
 * With use_zero_pages, a page found empty is not merged into a KSM page but
 * replaced (step 3) by a dirty-marked mapping of the shared zero page (see
 * "KSM zero pages" in include/ksmmod/compat/zero.h); a write faults in a fresh
 * zeroed page as for any zero-page mapping.
 */
#include <linux/mm.h>
#include <linux/mm_inline.h>
#include <linux/mmu_notifier.h>
#include <linux/pagemap.h>
#include <linux/rmap.h>
#include <linux/sched/mm.h>
#include <linux/swap.h>
#include <linux/swapops.h>
#include <linux/userfaultfd_k.h>

#include "ksmmod/core.h"
#include "ksmmod/ksmmod.h"
#include "ksmmod/registry.h"
#include "ksmmod/symbols.h"

/*
 * Why ksmmodd's last merge attempt was refused, if for a reason the
 * counters report (ksmmod_merge_take_refusal()): merges run only in
 * ksmmodd, under ksmmod_thread_mutex.
 */
static enum ksmmod_refusal ksmmod_refusal;
static struct mm_struct *ksmmod_refusal_mm;

static void ksmmod_refuse(enum ksmmod_refusal why, struct mm_struct *mm)
{
	ksmmod_refusal = why;
	ksmmod_refusal_mm = mm;
}

/**
 * ksmmod_merge_take_refusal() - why the last merge attempt was refused
 * @mm: set to the address space of the refused page (KSMMOD_REFUSED_* only)
 *
 * Clears the record. Called by the scanner after each page.
 *
 * Return: KSMMOD_REFUSED_* or KSMMOD_REFUSED_NONE.
 */
enum ksmmod_refusal ksmmod_merge_take_refusal(struct mm_struct **mm)
{
	enum ksmmod_refusal why = ksmmod_refusal;

	*mm = ksmmod_refusal_mm;
	ksmmod_refusal = KSMMOD_REFUSED_NONE;
	ksmmod_refusal_mm = NULL;
	return why;
}

/**
 * ksmmod_folio_refs_mapped_only() - whether only @folio's mappings hold it
 * @folio: a folio the caller holds one reference on (and, for the answer to
 *	last, its lock and the PTEs cleared and flushed: see step 1)
 *
 * Return: true if its references are its mappings', the swap cache's and
 * the caller's (mapcount + 1 + swapcache == refcount): no GUP pin can
 * write the page behind a merge's back.
 */
bool ksmmod_folio_refs_mapped_only(struct folio *folio)
{
	return ksmmod_folio_mapcount(folio) + 1 + folio_test_swapcache(folio) ==
	       folio_ref_count(folio);
}

/**
 * ksmmod_write_protect_page() - step 1 of a merge (see DOC above)
 * @vma: the mapping
 * @folio: the (order-0, locked) folio mapped at @addr
 * @addr: its address
 * @orig_pte: set to the write-protected PTE now installed
 *
 * Return: 0, or -EFAULT if the page is not mapped there any more or is
 * pinned.
 */
static int ksmmod_write_protect_page(struct vm_area_struct *vma, struct folio *folio,
				     unsigned long addr, pte_t *orig_pte)
{
	struct mm_struct *mm = vma->vm_mm;
	/* DEFINE_FOLIO_VMA_WALK() for an order-0 anonymous folio. */
	struct page_vma_mapped_walk pvmw = {
		.pfn = folio_pfn(folio),
		.nr_pages = 1,
		.pgoff = folio->index,
		.vma = vma,
		.address = addr,
	};
	struct mmu_notifier_range range;
	bool anon_exclusive;
	int err = -EFAULT;
	pte_t entry;

	if (WARN_ON_ONCE(folio_test_large(folio)))
		return err;

	ksmmod_mn_range_init(&range, vma, addr, addr + PAGE_SIZE);
	ksmmod_mn_range_start(&range);

	if (!kcall_page_vma_mapped_walk(&pvmw))
		goto out_mn;
	if (WARN_ONCE(!pvmw.pte, "ksmmod: unexpected PMD mapping"))
		goto out_unlock;
	entry = ptep_get(pvmw.pte);
	/*
	 * The walk also returns the non-present PFN swap entries that map a
	 * page to a device (device-exclusive; device-private pages are never
	 * scanned), on every kernel: nothing to clear and write-protect here.
	 * Give up, as 7.2's and 7.3's write_protect_page() do.
	 */
	if (unlikely(!pte_present(entry)))
		goto out_unlock;
	/*
	 * 7.3+: a PTE that userfaultfd read-write-protects (UFFDIO_RWPROTECT:
	 * PROT_NONE plus the uffd bit) stays until the monitor resolves it. A
	 * KSM page mapping is accessible: merging would let the next access go
	 * by without the fault the monitor tracks. (7.3's write_protect_page()
	 * has no such check.)
	 */
	if (ksmmod_pte_uffd_rwp(vma, entry))
		goto out_unlock;

	anon_exclusive = PageAnonExclusive(&folio->page);
	if (pte_write(entry) || pte_dirty(entry) || anon_exclusive || mm_tlb_flush_pending(mm)) {
		flush_cache_page(vma, addr, folio_pfn(folio));
		/*
		 * Clear the PTE and flush before counting references, so that
		 * no lockless GUP can take a new one after the check.
		 */
		entry = kcall_ptep_clear_flush(vma, addr, pvmw.pte);
		if (!ksmmod_folio_refs_mapped_only(folio) ||
		    (anon_exclusive && ksmmod_try_share_anon_rmap(folio, &folio->page))) {
			set_pte_at(mm, addr, pvmw.pte, entry);
			if (folio_maybe_dma_pinned(folio))
				ksmmod_refuse(KSMMOD_REFUSED_PINNED, mm);
			goto out_unlock;
		}
		if (pte_dirty(entry))
			folio_mark_dirty(folio);
		entry = pte_mkclean(entry);
		if (pte_write(entry))
			entry = pte_wrprotect(entry);
		set_pte_at(mm, addr, pvmw.pte, entry);
	}
	*orig_pte = entry;
	err = 0;

out_unlock:
	page_vma_mapped_walk_done(&pvmw);
out_mn:
	ksmmod_mn_range_end(&range);
	return err;
}

/**
 * ksmmod_kpage_pte() - the PTE that maps @kpage at @addr, rmap side done
 * @vma: the mapping (its page table lock held)
 * @addr: the address
 * @kpage: a KSM page, or the zero page
 * @old: the PTE it replaces (write-protected, as step 1 left it)
 *
 * The bits that belong to the mapping rather than to the page carry over
 * from @old: soft-dirty (CRIU's incremental dumps and clear_refs users read
 * it: losing it makes them skip a page written since the last dump; 6.12's
 * replace_page() keeps it, 6.1's loses it) and the userfaultfd write-protect
 * bit (a write to the merged page must still reach the monitor, not just
 * copy the page; no kernel's KSM keeps it). The kernel's KSM also marks
 * every zero page it maps soft-dirty (a side effect of pte_mkdirty() on
 * x86): harmless but imprecise; here a page not written since clear_refs
 * stays clean, which is what it is.
 *
 * Return: the PTE to install (read-only, as a KSM or zero page mapping is).
 */
static pte_t ksmmod_kpage_pte(struct vm_area_struct *vma, unsigned long addr, struct page *kpage,
			      pte_t old)
{
	struct folio *kfolio = page_folio(kpage);
	pte_t newpte;

	/* PageAnonExclusive() is only defined on anonymous pages (not the zero page). */
	VM_BUG_ON_PAGE(PageAnon(kpage) && PageAnonExclusive(kpage), kpage);
	if (is_zero_pfn(page_to_pfn(kpage))) {
		/* An anonymous page leaves this mm's RSS; the zero page is not counted. */
		ksmmod_dec_mm_anonpages(vma->vm_mm);
		/* Special, and dirty to mark it as placed by KSM. */
		newpte = pte_mkdirty(pte_mkspecial(pfn_pte(page_to_pfn(kpage), vma->vm_page_prot)));
	} else {
		folio_get(kfolio);
		ksmmod_add_anon_rmap(kfolio, kpage, vma, addr);
		newpte = mk_pte(kpage, vma->vm_page_prot);
	}
	/* Exactly @old's: x86's pte_mkdirty() above also sets soft-dirty. */
	newpte = pte_soft_dirty(old) ? pte_mksoft_dirty(newpte) : pte_clear_soft_dirty(newpte);
	if (ksmmod_pte_uffd(old))
		newpte = ksmmod_pte_mkuffd(newpte);
	return newpte;
}

/*
 * The rmap side of unmapping @page, whose PTE now maps its KSM page (page
 * table lock held): the mapping's reference on it goes.
 */
static void ksmmod_unmap_replaced(struct vm_area_struct *vma, struct page *page)
{
	struct folio *folio = page_folio(page);

	ksmmod_remove_rmap(folio, page, vma);
	if (!folio_mapped(folio))
		kcall_folio_free_swap(folio);
	folio_put(folio);
}

/**
 * ksmmod_replace_page() - step 3: map @kpage instead of @page at @addr
 * @vma: the mapping
 * @page: the page mapped there now (locked, write-protected by step 1)
 * @kpage: the KSM page with the same contents (locked), or the zero page
 * @addr: the address
 * @orig_pte: the PTE step 1 installed
 *
 * Return: 0, or -EFAULT if the PTE changed since step 1.
 */
static int ksmmod_replace_page(struct vm_area_struct *vma, struct page *page,
			       struct page *kpage, unsigned long addr, pte_t orig_pte)
{
	struct mm_struct *mm = vma->vm_mm;
	struct mmu_notifier_range range;
	int err = -EFAULT;
	spinlock_t *ptl;
	pte_t *ptep;
	pte_t newpte;
	pmd_t *pmd;

	pmd = ksmmod_find_pte_table(mm, addr);
	if (!pmd)
		return err;

	ksmmod_mn_range_init(&range, vma, addr, addr + PAGE_SIZE);
	ksmmod_mn_range_start(&range);

	ptep = ksmmod_pte_offset_map_lock(mm, pmd, addr, &ptl);
	if (!ptep)
		goto out_mn;
	if (!pte_same(ptep_get(ptep), orig_pte)) {
		pte_unmap_unlock(ptep, ptl);
		goto out_mn;
	}
	VM_BUG_ON_PAGE(PageAnonExclusive(page), page);

	newpte = ksmmod_kpage_pte(vma, addr, kpage, orig_pte);
	flush_cache_page(vma, addr, pte_pfn(ptep_get(ptep)));
	/* Read-only page replaced by a read-only page with the same contents. */
	kcall_ptep_clear_flush(vma, addr, ptep);
	ksmmod_set_pte_replace(mm, addr, ptep, newpte);
	ksmmod_unmap_replaced(vma, page);

	pte_unmap_unlock(ptep, ptl);
	err = 0;
out_mn:
	ksmmod_mn_range_end(&range);
	return err;
}

/**
 * ksmmod_merge_ptes() - steps 1 and 3 at once, for pages of one page table
 * @vma: the mapping (mmap_lock held)
 * @pmd: the PMD entry of their page table (stable under the mmap_lock: see
 *	ksmmod_get_anon_page_pmd())
 * @pages: order-0 anonymous pages that are not KSM pages, each locked and
 *	with a reference held by the caller
 * @addrs: their addresses, ascending, all in @pmd's page table
 * @nr: how many (1 to KSMMOD_MERGE_RUN)
 * @kpage: a KSM page or the zero page, with (supposedly) the same contents
 * @errp: set to why the first page not merged was not: -EFAULT if it is not
 *	mapped there any more or is pinned, -ESTALE if its contents differ
 *
 * For a page merged into an existing KSM page, write-protecting it first
 * (step 1) and then replacing it (step 3) means two page table walks, two
 * PTE clears with TLB flushes, two mmu_notifier ranges. Here, for a run of
 * such pages, one of each does: under the page table lock, every PTE is
 * cleared, then the TLB is flushed once for all of them (for the range or
 * the whole mm, as the kernel's tlb_single_page_flush_ceiling decides), so
 * that no CPU or device can reach a page through them and no GUP can start
 * on one. Then, page by page: the references are checked as in step 1
 * (mapcount + 1 + swapcache == refcount, so no pin can write the page), the
 * contents are compared while nothing can change them, PageAnonExclusive is
 * cleared, and the PTE set to map @kpage. The first page that fails any of
 * this, and every page after it, gets its PTE back exactly as it was: a
 * failure leaves those pages as they were, the ones before it merged.
 *
 * Return: how many leading pages of @pages map @kpage now (@nr: all).
 */
int ksmmod_merge_ptes(struct vm_area_struct *vma, pmd_t *pmd, struct page **pages,
		      const unsigned long *addrs, unsigned int nr, struct page *kpage, int *errp)
{
	struct mm_struct *mm = vma->vm_mm;
	unsigned int i, cleared, merged = 0;
	pte_t old[KSMMOD_MERGE_RUN];
	struct mmu_notifier_range range;
	unsigned long start, end;
	pte_t *start_pte, *ptep;
	spinlock_t *ptl;

	*errp = -EFAULT;
	if (WARN_ON_ONCE(!nr || nr > KSMMOD_MERGE_RUN ||
			 (addrs[0] & PMD_MASK) != (addrs[nr - 1] & PMD_MASK)))
		return 0;
	start = addrs[0];
	end = addrs[nr - 1] + PAGE_SIZE;

	/*
	 * The caller holds the pages' locks across the range start, which may
	 * block (a secondary MMU's invalidation): up to KSMMOD_MERGE_RUN of
	 * them where mm/ksm.c holds one.
	 */
	ksmmod_mn_range_init(&range, vma, start, end);
	ksmmod_mn_range_start(&range);
	start_pte = ksmmod_pte_offset_map_lock(mm, pmd, start, &ptl);
	if (!start_pte)
		goto out_mn;

	for (cleared = 0; cleared < nr; cleared++) {
		struct page *page = pages[cleared];
		pte_t entry;

		if (WARN_ON_ONCE(folio_test_large(page_folio(page))))
			break;
		ptep = start_pte + ((addrs[cleared] - start) >> PAGE_SHIFT);
		entry = ptep_get(ptep);
		/*
		 * Not this page any more, a device-exclusive entry, or
		 * userfaultfd's access tracking: stop here (see
		 * ksmmod_write_protect_page()).
		 */
		if (!pte_present(entry) || pte_pfn(entry) != page_to_pfn(page) ||
		    ksmmod_pte_uffd_rwp(vma, entry))
			break;
		flush_cache_page(vma, addrs[cleared], page_to_pfn(page));
		old[cleared] = ptep_get_and_clear(mm, addrs[cleared], ptep);
	}
	if (cleared) {
		/* One flush before counting references and comparing (see step 1). */
		kcall_flush_tlb_mm_range(mm, start, addrs[cleared - 1] + PAGE_SIZE, PAGE_SHIFT,
					 false);
		/* The compares below trust that no device can write the pages either. */
		for (i = 0; i < cleared; i++)
			ksmmod_flush_secondary_tlbs(mm, addrs[i]);
	}

	for (merged = 0; merged < cleared; merged++) {
		struct page *page = pages[merged];
		struct folio *folio = page_folio(page);

		ptep = start_pte + ((addrs[merged] - start) >> PAGE_SHIFT);
		if (!ksmmod_folio_refs_mapped_only(folio)) {
			/* Only the first page's refusal is the caller's to count. */
			if (!merged && folio_maybe_dma_pinned(folio))
				ksmmod_refuse(KSMMOD_REFUSED_PINNED, mm);
			break;
		}
		if (ksmmod_memcmp_pages(page, kpage)) {
			*errp = -ESTALE;	/* not the same (any more) */
			break;
		}
		if (PageAnonExclusive(page) && ksmmod_try_share_anon_rmap(folio, page)) {
			if (!merged)
				ksmmod_refuse(KSMMOD_REFUSED_PINNED, mm);
			break;
		}
		if (pte_dirty(old[merged]))
			folio_mark_dirty(folio);
		ksmmod_set_pte_replace(mm, addrs[merged], ptep,
				       ksmmod_kpage_pte(vma, addrs[merged], kpage, old[merged]));
		ksmmod_unmap_replaced(vma, page);
	}
	/* Those not merged: their PTEs back as they were (cleared and flushed only). */
	for (i = merged; i < cleared; i++)
		set_pte_at(mm, addrs[i], start_pte + ((addrs[i] - start) >> PAGE_SHIFT), old[i]);
	if (merged == nr)
		*errp = 0;
	pte_unmap_unlock(start_pte, ptl);
out_mn:
	ksmmod_mn_range_end(&range);
	return start_pte ? merged : 0;
}

/**
 * ksmmod_merge_pte() - steps 1 and 3 at once: replace @folio by @kpage at @addr
 * @vma: the mapping
 * @folio: the (order-0, locked, not KSM) folio mapped at @addr
 * @addr: its address
 * @kpage: a KSM page or the zero page, with (supposedly) the same contents
 *
 * ksmmod_merge_ptes() for one page.
 *
 * Return: 0 if @kpage is mapped at @addr now, -EFAULT if the page is not
 * mapped there any more or is pinned, -ESTALE if the contents differ (the
 * page is then left as it was).
 */
static int ksmmod_merge_pte(struct vm_area_struct *vma, struct folio *folio,
			    unsigned long addr, struct page *kpage)
{
	struct page *page = &folio->page;
	pmd_t *pmd = ksmmod_find_pte_table(vma->vm_mm, addr);
	int err = -EFAULT;

	if (pmd)
		ksmmod_merge_ptes(vma, pmd, &page, &addr, 1, kpage, &err);
	return err;
}

/**
 * ksmmod_try_to_merge_one_page() - merge @page at @addr with @kpage
 * @vma: the mapping, mmap_lock held
 * @page: the page mapped at @addr (reference held)
 * @addr: its address
 * @kpage: a KSM page with (supposedly) the same contents, the zero page,
 *	or NULL to make @page itself the KSM page of a new pair
 *
 * Return: 0 on success, -EFAULT/-EBUSY otherwise (nothing changed).
 */
int ksmmod_try_to_merge_one_page(struct vm_area_struct *vma, struct page *page, unsigned long addr,
				 struct page *kpage)
{
	struct folio *folio = page_folio(page);
	pte_t orig_pte = __pte(0);
	int err = -EFAULT;

	if (page == kpage)	/* already merged with it: e.g. a forked child */
		return 0;
	if (!PageAnon(page))
		return err;
	/*
	 * Moving a mapping between KSM pages (densify) would drop the
	 * userfaultfd write-protect bit of its PTE: leave those alone.
	 */
	if (folio_test_ksm(page_folio(page)) && userfaultfd_wp(vma))
		return -EBUSY;
	if (!folio_trylock(folio))
		return -EBUSY;
	/*
	 * A subpage of a transparent huge page is worth merging: split the
	 * huge page (only now, as mm/ksm.c does). @page stays locked.
	 */
	if (folio_test_large(folio)) {
		if (ksmmod_split_huge_page(page)) {
			/*
			 * Two subpages of one huge page fail here when paired
			 * (kpage NULL): the scanner splits those itself.
			 */
			if (kpage)
				ksmmod_refuse(KSMMOD_REFUSED_THP, vma->vm_mm);
			goto out_unlock;
		}
		folio = page_folio(page);
	}
	if (kpage && !folio_test_ksm(folio)) {
		err = ksmmod_merge_pte(vma, folio, addr, kpage);
	} else if (ksmmod_write_protect_page(vma, folio, addr, &orig_pte) == 0) {
		if (!kpage) {
			/*
			 * Upgrade the page from anonymous to KSM while it is
			 * locked; ksmmod_stable_tree_insert() fills in the node.
			 * A clean KSM page would be dropped by reclaim instead
			 * of swapped: mark it dirty.
			 */
			ksmmod_folio_set_stable_node(folio, NULL);
			folio_mark_accessed(folio);
			if (!folio_test_dirty(folio))
				folio_mark_dirty(folio);
			err = 0;
		} else if (!ksmmod_memcmp_pages(page, kpage)) {
			err = ksmmod_replace_page(vma, page, kpage, addr, orig_pte);
		} else {
			err = -ESTALE;	/* not the same contents (any more) */
		}
	}
out_unlock:
	folio_unlock(folio);
	return err;
}
