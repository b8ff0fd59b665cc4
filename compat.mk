# SPDX-License-Identifier: GPL-2.0
#
# Build-time probes of the headers ksmmod is built against. Each probe looks for
# a declaration in the target kernel's headers ($(srctree), which for Debian's
# split header packages is linux-headers-<abi>-common) and, if found, defines a
# KSMMOD_HAVE_* macro. include/ksmmod/compat.h is the only place that reads them:
# code elsewhere never tests kernel versions.

ksmmod_probe = $(if $(shell grep -qsE '$(2)' $(srctree)/$(1) && echo y),-D$(3))

KSMMOD_COMPAT_FLAGS := \
	$(call ksmmod_probe,include/linux/pagewalk.h,folio_walk_start,KSMMOD_HAVE_FOLIO_WALK) \
	$(call ksmmod_probe,include/linux/rmap.h,void folio_add_anon_rmap_ptes,KSMMOD_HAVE_FOLIO_RMAP_PTES) \
	$(call ksmmod_probe,include/linux/mm.h,__pte_offset_map_lock,KSMMOD_HAVE_PTE_OFFSET_MAP_LOCK_FN) \
	$(call ksmmod_probe,include/linux/huge_mm.h,split_huge_page_to_list_to_order,KSMMOD_HAVE_SPLIT_TO_ORDER) \
	$(call ksmmod_probe,include/linux/mmu_notifier.h,__mmu_notifier_change_pte,KSMMOD_HAVE_MMU_NOTIFIER_CHANGE_PTE) \
	$(call ksmmod_probe,include/linux/mmu_notifier.h,bool only_end,KSMMOD_HAVE_RANGE_END_ONLY_END) \
	$(call ksmmod_probe,include/linux/mmu_notifier.h,void __mmu_notifier_invalidate_range[[:punct:]]struct,KSMMOD_HAVE_MN_INVALIDATE_RANGE) \
	$(call ksmmod_probe,include/linux/mm.h,void vm_flags_set,KSMMOD_HAVE_VM_FLAGS_SET) \
	$(call ksmmod_probe,include/linux/mmu_notifier.h,range->vma = vma,KSMMOD_HAVE_RANGE_INIT_VMA) \
	$(call ksmmod_probe,include/linux/rmap.h,int folio_try_share_anon_rmap_pte,KSMMOD_HAVE_FOLIO_TRY_SHARE) \
	$(call ksmmod_probe,include/linux/mm.h,static inline int folio_mapcount,KSMMOD_HAVE_FOLIO_MAPCOUNT_INLINE) \
	$(call ksmmod_probe,include/linux/ksm.h,ksm_might_unmap_zero_page,KSMMOD_HAVE_KSM_ZERO_PAGES) \
	$(call ksmmod_probe,include/linux/mm_types.h,struct percpu_counter rss_stat,KSMMOD_HAVE_PERCPU_RSS) \
	$(call ksmmod_probe,include/linux/ksm.h,int ksm_execve,KSMMOD_HAVE_KSM_EXECVE) \
	$(call ksmmod_probe,include/linux/mm.h,bool mm_flags_test,KSMMOD_HAVE_MM_FLAGS_BITMAP) \
	$(call ksmmod_probe,include/linux/rmap.h,void __put_anon_vma,KSMMOD_HAVE_ANON_VMA_REFS) \
	$(call ksmmod_probe,include/linux/pagewalk.h,define FW_MIGRATION,KSMMOD_HAVE_FW_MIGRATION) \
	$(call ksmmod_probe,include/linux/leafops.h,softleaf_to_folio,KSMMOD_HAVE_SOFTLEAF) \
	$(call ksmmod_probe,include/linux/mm.h,long mmap_region,KSMMOD_HAVE_MMAP_REGION_DECL) \
	$(call ksmmod_probe,include/linux/mm.h,^pte_t [*]pte_offset_map_lock,KSMMOD_HAVE_PTE_OFFSET_MAP_LOCK_EXTERN) \
	$(call ksmmod_probe,include/linux/huge_mm.h,int __split_huge_page_to_list_to_order,KSMMOD_HAVE_SPLIT_TO_ORDER_FN) \
	$(call ksmmod_probe,include/asm-generic/pgtable_uffd.h,pte_t pte_mkuffd[^_],KSMMOD_HAVE_PTE_UFFD) \
	$(call ksmmod_probe,include/linux/userfaultfd_k.h,bool userfaultfd_pte_rwp,KSMMOD_HAVE_UFFD_RWP)
