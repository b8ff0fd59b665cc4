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
	int swapped;

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
		swapped = folio_test_swapcache(folio);
		flush_cache_page(vma, addr, folio_pfn(folio));
		/*
		 * Clear the PTE and flush before counting references, so that
		 * no lockless GUP can take a new one after the check.
		 */
		entry = kcall_ptep_clear_flush(vma, addr, pvmw.pte);
		if (ksmmod_folio_mapcount(folio) + 1 + swapped != folio_ref_count(folio) ||
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
	pmd_t *pmd, pmde;
	pte_t *ptep;
	pte_t newpte;

	pmd = kcall_mm_find_pmd(mm, addr);
	if (!pmd)
		return err;
	/* A huge PMD may be set up without the anon_vma lock: check both. */
	pmde = READ_ONCE(*pmd);
	barrier();
	if (!pmd_present(pmde) || pmd_trans_huge(pmde))
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
 * ksmmod_merge_pte() - steps 1 and 3 at once: replace @folio by @kpage at @addr
 * @vma: the mapping
 * @folio: the (order-0, locked, not KSM) folio mapped at @addr
 * @addr: its address
 * @kpage: a KSM page or the zero page, with (supposedly) the same contents
 *
 * For a page merged into an existing KSM page, write-protecting it first
 * (step 1) and then replacing it (step 3) means two page table walks, two
 * PTE clears with TLB flushes, two mmu_notifier ranges. Here one of each
 * does: under the page table lock, the PTE is cleared and flushed (no access
 * to the page through it, no new GUP), the references are checked as in
 * step 1 (mapcount + 1 + swapcache == refcount, so no pin can write the
 * page), PageAnonExclusive is cleared, and the contents are compared while
 * nothing can change them; equal, the PTE is set to map @kpage; else it is
 * put back write-protected and clean, as step 1 leaves it.
 *
 * Return: 0 if @kpage is mapped at @addr now, -EFAULT if the page is not
 * mapped there any more or is pinned, -ESTALE if the contents differ.
 */
static int ksmmod_merge_pte(struct vm_area_struct *vma, struct folio *folio,
			    unsigned long addr, struct page *kpage)
{
	struct mm_struct *mm = vma->vm_mm;
	struct page *page = &folio->page;
	/* DEFINE_FOLIO_VMA_WALK() for an order-0 anonymous folio. */
	struct page_vma_mapped_walk pvmw = {
		.pfn = folio_pfn(folio),
		.nr_pages = 1,
		.pgoff = folio->index,
		.vma = vma,
		.address = addr,
	};
	struct mmu_notifier_range range;
	int err = -EFAULT;
	pte_t entry;
	int swapped;

	if (WARN_ON_ONCE(folio_test_large(folio)))
		return err;

	ksmmod_mn_range_init(&range, vma, addr, addr + PAGE_SIZE);
	ksmmod_mn_range_start(&range);

	if (!kcall_page_vma_mapped_walk(&pvmw))
		goto out_mn;
	if (WARN_ONCE(!pvmw.pte, "ksmmod: unexpected PMD mapping"))
		goto out_unlock;
	/*
	 * A device-exclusive entry, or userfaultfd's access tracking: give up
	 * (see ksmmod_write_protect_page()).
	 */
	if (unlikely(!pte_present(ptep_get(pvmw.pte)) ||
		     ksmmod_pte_uffd_rwp(vma, ptep_get(pvmw.pte))))
		goto out_unlock;

	swapped = folio_test_swapcache(folio);
	flush_cache_page(vma, addr, folio_pfn(folio));
	/* Clear and flush before counting references (see step 1). */
	entry = kcall_ptep_clear_flush(vma, addr, pvmw.pte);
	/* The compare below trusts that no device can write the page either. */
	ksmmod_flush_secondary_tlbs(mm, addr);
	if (ksmmod_folio_mapcount(folio) + 1 + swapped != folio_ref_count(folio) ||
	    (PageAnonExclusive(page) && ksmmod_try_share_anon_rmap(folio, page))) {
		set_pte_at(mm, addr, pvmw.pte, entry);
		if (folio_maybe_dma_pinned(folio))
			ksmmod_refuse(KSMMOD_REFUSED_PINNED, mm);
		goto out_unlock;
	}
	if (pte_dirty(entry))
		folio_mark_dirty(folio);
	if (ksmmod_memcmp_pages(page, kpage)) {
		/* Not the same (any more): leave it write-protected, as step 1. */
		set_pte_at(mm, addr, pvmw.pte, pte_wrprotect(pte_mkclean(entry)));
		err = -ESTALE;
		goto out_unlock;
	}
	ksmmod_set_pte_replace(mm, addr, pvmw.pte, ksmmod_kpage_pte(vma, addr, kpage, entry));
	ksmmod_unmap_replaced(vma, page);
	err = 0;

out_unlock:
	page_vma_mapped_walk_done(&pvmw);
out_mn:
	ksmmod_mn_range_end(&range);
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
