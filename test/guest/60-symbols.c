// SPDX-License-Identifier: GPL-2.0
/*
 * The symbol layer's table (/sys/kernel/debug/ksmmod/symbols) is complete on
 * this kernel: every non-exported function ksmmod uses is resolved and, on an
 * IBT kernel, starts with ENDBR64 or its sealed NOP; variables are listed
 * as data.
 *
 * What "every" means on this kernel is read from the kernel itself, not from
 * its version: where kernels differ (a helper moved out of line, renamed or
 * gone), the test looks the alternatives up in /proc/kallsyms and expects the
 * module to use the one this kernel has, in the module's order of preference.
 * A module whose build-time header probes chose wrongly fails here.
 */
#include "ksmtest.h"

/* Symbols every supported kernel must provide. */
static const char *const common[] = {
	"kallsyms_lookup_name", "page_vma_mapped_walk", "ptep_clear_flush",
	"__mmu_notifier_invalidate_range_start", "__mmu_notifier_invalidate_range_end",
	"mm_find_pmd", "__put_anon_vma", "lru_add_drain_all", "folio_free_swap", "pidfd_get_task",
	"ptrace_may_access", "mm_trace_rss_stat", "__ksm_enter", "__ksm_exit", "do_madvise",
	"flush_tlb_mm_range",
	/* variables */
	"mm_kobj", "ksm_run", "ksm_pages_shared",
};

/**
 * struct choice - symbols of which the module needs the first the kernel has
 * @what: what the group is for, for the report
 * @names: alternatives in the module's order of preference, NULL-terminated;
 *	an entry "a+b" means both a and b (a pair that comes and goes together)
 * @optional: the kernel may have none of them (then the module needs none)
 */
struct choice {
	const char *what;
	const char *names[4];
	bool optional;
};

static const struct choice choices[] = {
	{ "page lookup", { "folio_walk_start+vma_pgtable_walk_end", "follow_page" }, false },
	{ "anon rmap", { "folio_add_anon_rmap_ptes+folio_remove_rmap_ptes",
			 "page_add_anon_rmap+page_remove_rmap" }, false },
	{ "PTE map+lock", { "pte_offset_map_lock", "__pte_offset_map_lock" }, true },
	{ "THP split", { "__split_huge_page_to_list_to_order", "split_huge_page_to_list_to_order",
			 "split_huge_page_to_list" }, true },
	{ "secondary MMU PTE change", { "__mmu_notifier_change_pte" }, true },
	{ "secondary TLB flush", { "__mmu_notifier_invalidate_range" }, true },
	{ "out-of-line folio_mapcount", { "folio_mapcount" }, true },
	{ "KSM zero-page count", { "ksm_zero_pages" }, true },
};

#define MAX_EXPECTED 40
static const char *expected[MAX_EXPECTED];
static char expected_buf[MAX_EXPECTED][64];
static int nexpected;
static char table[16384];

/* Names of interest found in /proc/kallsyms (text or data of vmlinux). */
static char found[64][64];
static int nfound;

static bool kernel_has(const char *name)
{
	int i;

	for (i = 0; i < nfound; i++)
		if (!strcmp(found[i], name))
			return true;
	return false;
}

static bool wanted(const char *name)
{
	size_t i, j;

	for (i = 0; i < sizeof(choices) / sizeof(choices[0]); i++)
		for (j = 0; choices[i].names[j]; j++) {
			const char *n = choices[i].names[j], *plus = strchr(n, '+');

			if (!strcmp(n, name) ||
			    (plus && ((size_t)(plus - n) == strlen(name) && !strncmp(n, name, plus - n))) ||
			    (plus && !strcmp(plus + 1, name)))
				return true;
		}
	return false;
}

/* Collect the alternatives' names from /proc/kallsyms (vmlinux only, no [module]). */
static void read_kallsyms(void)
{
	char line[512], name[256], type;
	unsigned long long addr;
	FILE *f = fopen("/proc/kallsyms", "r");

	if (!f)
		ktap_exit_fail_msg("cannot open /proc/kallsyms: %s", strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		if (strchr(line, '['))
			continue;
		if (sscanf(line, "%llx %c %255s", &addr, &type, name) != 3)
			continue;
		/*
		 * Global symbols only: a compiler may also emit local,
		 * out-of-line copies of a header's inline function ("t
		 * folio_mapcount" on 7.3's debug build), which the module
		 * cannot and need not call.
		 */
		if (strchr("TDBR", type) && wanted(name) && !kernel_has(name) && nfound < 64)
			snprintf(found[nfound++], sizeof(found[0]), "%s", name);
	}
	fclose(f);
}

static void expect(const char *name)
{
	if (nexpected < MAX_EXPECTED) {
		snprintf(expected_buf[nexpected], sizeof(expected_buf[0]), "%s", name);
		expected[nexpected] = expected_buf[nexpected];
		nexpected++;
	}
}

/* The first alternative of @c the kernel has, whole (both halves of a pair). */
static void choose(const struct choice *c)
{
	char a[64];
	int j;

	for (j = 0; c->names[j]; j++) {
		const char *plus = strchr(c->names[j], '+');

		if (plus) {
			snprintf(a, sizeof(a), "%.*s", (int)(plus - c->names[j]), c->names[j]);
			if (kernel_has(a) && kernel_has(plus + 1)) {
				expect(a);
				expect(plus + 1);
				printf("# %s: this kernel has %s\n", c->what, c->names[j]);
				return;
			}
		} else if (kernel_has(c->names[j])) {
			expect(c->names[j]);
			printf("# %s: this kernel has %s\n", c->what, c->names[j]);
			return;
		}
	}
	if (c->optional)
		printf("# %s: this kernel has none of the alternatives, none needed\n", c->what);
	else
		printf("# %s: this kernel has none of the alternatives\n", c->what);
}

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
	int nlines = 0, ntotal = -1, i, ncommon = sizeof(common) / sizeof(common[0]);
	size_t c;
	char release[80];
	const char *p;
	ssize_t n;

	read_kallsyms();
	for (i = 0; i < ncommon; i++)
		expect(common[i]);
	for (c = 0; c < sizeof(choices) / sizeof(choices[0]); c++)
		choose(&choices[c]);
	/* a required group the kernel lacks is a failed test of its own */
	for (c = 0, i = 0; c < sizeof(choices) / sizeof(choices[0]); c++)
		i += !choices[c].optional;
	ktap_print_header(2 + nexpected + i);
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
	ktap_test_result(ntotal == nexpected && nlines == ntotal + 1 && !strstr(table, "missing"),
			 "table has exactly the %d entries this kernel's symbols call for, none missing (header says %d, %d lines)",
			 nexpected, ntotal, nlines - 1);
	for (c = 0; c < sizeof(choices) / sizeof(choices[0]); c++) {
		bool any = false;
		int j;

		if (choices[c].optional)
			continue;
		for (j = 0; choices[c].names[j]; j++) {
			char a[64];
			const char *plus = strchr(choices[c].names[j], '+');

			snprintf(a, sizeof(a), "%.*s",
				 plus ? (int)(plus - choices[c].names[j]) : 63, choices[c].names[j]);
			any |= kernel_has(a) && (!plus || kernel_has(plus + 1));
		}
		ktap_test_result(any, "%s: the kernel has one of the supported alternatives",
				 choices[c].what);
	}
	for (i = 0; i < nexpected; i++)
		expect_symbol(expected[i]);
	return ktap_finished();
}
