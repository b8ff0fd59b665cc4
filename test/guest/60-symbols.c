// SPDX-License-Identifier: GPL-2.0
/*
 * The symbol layer's table (/sys/kernel/debug/ksmmod/symbols) is complete on
 * this kernel: every non-exported function ksmmod uses is resolved and, on an
 * IBT kernel, starts with ENDBR64 or its sealed NOP; variables are listed
 * as data.
 */
#include "ksmtest.h"

/* Symbols every supported kernel must provide. */
static const char *const common[] = {
	"kallsyms_lookup_name", "page_vma_mapped_walk", "ptep_clear_flush",
	"__mmu_notifier_invalidate_range_start", "__mmu_notifier_invalidate_range_end",
	"mm_find_pmd", "__put_anon_vma", "lru_add_drain_all", "folio_free_swap", "pidfd_get_task",
	"ptrace_may_access", "mm_trace_rss_stat", "__ksm_enter", "__ksm_exit",
	/* variables */
	"mm_kobj", "ksm_run", "ksm_pages_shared",
};
/* 6.1 (before the folio conversions). */
static const char *const v6_1[] = {
	"follow_page", "folio_mapcount", "page_add_anon_rmap", "page_remove_rmap",
	"split_huge_page_to_list", "__mmu_notifier_change_pte", "__mmu_notifier_invalidate_range",
};
/* 6.12. */
static const char *const v6_12[] = {
	"folio_walk_start", "vma_pgtable_walk_end", "folio_add_anon_rmap_ptes", "folio_remove_rmap_ptes",
	"__pte_offset_map_lock", "split_huge_page_to_list_to_order",
	"ksm_zero_pages",	/* a variable: must be listed as "data" */
};

static char table[16384];

static bool is_variable(const char *name)
{
	return !strcmp(name, "ksm_zero_pages") || !strcmp(name, "mm_kobj") ||
	       !strcmp(name, "ksm_run") || !strcmp(name, "ksm_pages_shared");
}

/* Check one expected symbol's line in the table. */
static void expect_symbol(const char *name)
{
	char key[128];
	const char *line;
	bool ok = false;

	snprintf(key, sizeof(key), "\n%s resolved ", name);
	line = strstr(table, key);
	if (line) {
		line += strlen(key);
		if (is_variable(name))
			ok = !strncmp(line, "data\n", 5);
		else
			ok = !strncmp(line, "endbr\n", 6) || !strncmp(line, "sealed\n", 7) ||
			     !strncmp(line, "plain\n", 6);
	}
	ktap_test_result(ok, "%s resolved with a valid entry", name);
}

int main(void)
{
	const char *const *ver;
	int nver, nlines = 0, ntotal = -1, i;
	char release[80];
	const char *p;
	ssize_t n;

	if (ksmt_kernel_at_least(6, 12)) {
		ver = v6_12;
		nver = sizeof(v6_12) / sizeof(v6_12[0]);
	} else {
		ver = v6_1;
		nver = sizeof(v6_1) / sizeof(v6_1[0]);
	}
	ktap_print_header(2 + (int)(sizeof(common) / sizeof(common[0])) + nver);
	ksmt_ensure_loaded();

	n = ksmt_read_file("/sys/kernel/debug/ksmmod/symbols", table, sizeof(table));
	if (n <= 0)
		ktap_exit_fail_msg("cannot read /sys/kernel/debug/ksmmod/symbols: %s", strerror(-n));
	fputs("# ", stdout);
	for (p = table; *p; p++) {
		putchar(*p);
		if (*p == '\n' && p[1])
			fputs("# ", stdout);
		nlines += *p == '\n';
	}
	sscanf(table, "# kernel %79[^,], %d symbols", release, &ntotal);
	ktap_test_result(!strcmp(release, ksmt_release()), "table is for this kernel (%s)", release);
	ktap_test_result(ntotal == (int)(sizeof(common) / sizeof(common[0])) + nver &&
			 nlines == ntotal + 1 && !strstr(table, "missing"),
			 "table has exactly the %d expected entries, none missing (header says %d, %d lines)",
			 (int)(sizeof(common) / sizeof(common[0])) + nver, ntotal, nlines - 1);
	for (i = 0; i < (int)(sizeof(common) / sizeof(common[0])); i++)
		expect_symbol(common[i]);
	for (i = 0; i < nver; i++)
		expect_symbol(ver[i]);
	return ktap_finished();
}
