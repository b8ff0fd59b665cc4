/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ksmmod symbol layer: calling kernel functions that are not exported.
 *
 * Every non-exported function ksmmod uses is listed once, in KSMMOD_SYMBOLS()
 * below (and KSMMOD_SYMBOLS_COMPAT() in compat/symbols.h for those that differ between
 * kernels). For each entry X(ret, name, (params), declared):
 *
 * - src/symbols.c resolves its address at load time; a missing or unsafe
 *   symbol makes the load fail with a message naming it;
 * - kcall_<name>(params) calls it. kcall_<name> is a four-byte thunk in
 *   src/symbols.c that pushes the resolved address and returns into it, so
 *   the function is entered by RET, never by an indirect CALL or JMP (see the
 *   IBT notes in src/symbols.c);
 * - when @declared is 1, the build checks that (params) and ret match the
 *   kernel's own declaration in the public headers.
 */
#ifndef _KSMMOD_SYMBOLS_H
#define _KSMMOD_SYMBOLS_H

#include <linux/types.h>

#include "ksmmod/compat/defs.h"
#include "ksmmod/compat/symbols.h"

/* Functions all supported kernels have, with the same prototype. */
#define KSMMOD_SYMBOLS_COMMON(X)					\
	X(unsigned long, kallsyms_lookup_name, (const char *name), 1)	\
	X(bool, page_vma_mapped_walk, (struct page_vma_mapped_walk *pvmw), 1) \
	X(pte_t, ptep_clear_flush, (struct vm_area_struct *vma,		\
	  unsigned long address, pte_t *ptep), 1)				\
	X(int, __mmu_notifier_invalidate_range_start,				\
	  (struct mmu_notifier_range *r), 1)					\
	/* flush_tlb_range() of x86, hidden from modules (same in 6.1-7.3) */ \
	X(void, flush_tlb_mm_range, (struct mm_struct *mm, unsigned long start, \
	  unsigned long end, unsigned int stride_shift, bool freed_tables), 0) \
	/* mm/internal.h, same in 6.1 and 6.12 */				\
	X(pmd_t *, mm_find_pmd, (struct mm_struct *mm, unsigned long address), 0) \
	X(void, lru_add_drain_all, (void), 1)				\
	X(bool, folio_free_swap, (struct folio *folio), 1)		\
	X(struct task_struct *, pidfd_get_task, (int pidfd, unsigned int *flags), 1) \
	X(bool, ptrace_may_access, (struct task_struct *task, unsigned int mode), 1) \
	/* the kernel's KSM entry and exit (hooked in drop-in mode) */		\
	X(int, __ksm_enter, (struct mm_struct *mm), 1)			\
	X(void, __ksm_exit, (struct mm_struct *mm), 1)			\
	/* madvise() of another process (MERGE_RANGE sets VM_MERGEABLE with it) */ \
	X(int, do_madvise, (struct mm_struct *mm, unsigned long start,	\
	  size_t len_in, int behavior), 1)

#define KSMMOD_SYMBOLS(X)						\
	KSMMOD_SYMBOLS_COMMON(X)						\
	KSMMOD_SYMBOLS_COMPAT(X)

#define KSMMOD_KCALL_DECLARE(ret, sym, params, declared) ret kcall_##sym params;
KSMMOD_SYMBOLS(KSMMOD_KCALL_DECLARE)
#undef KSMMOD_KCALL_DECLARE

/*
 * Non-exported kernel variables, X(type, name): resolved at load time like
 * the functions (but required to lie in the kernel's data, not its text) and
 * reached through the pointer kvar_<name>.
 */
#define KSMMOD_DATA_SYMBOLS(X)						\
	/* /sys/kernel/mm; exported on 6.1 but not on 6.12 */			\
	X(struct kobject *, mm_kobj)						\
	/* mm/ksm.c's state, checked at load */					\
	X(unsigned long, ksm_run)						\
	X(unsigned long, ksm_pages_shared)					\
	KSMMOD_DATA_SYMBOLS_COMPAT(X)

#define KSMMOD_KVAR_DECLARE(type, sym) extern type *kvar_##sym;
KSMMOD_DATA_SYMBOLS(KSMMOD_KVAR_DECLARE)
#undef KSMMOD_KVAR_DECLARE

int ksmmod_symbols_init(void);

/**
 * ksmmod_symbols_show() - describe the resolved symbol table
 * @m: seq_file to print to, one line per symbol
 *
 * Return: 0.
 */
struct seq_file;
int ksmmod_symbols_show(struct seq_file *m, void *unused);

#endif /* _KSMMOD_SYMBOLS_H */
