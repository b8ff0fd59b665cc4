/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Minimal KTAP producer for ksmmod's in-guest tests, with the semantics of
 * tools/testing/selftests/kselftest.h: a plan, one result line per test,
 * "# SKIP reason" for skips, and exit codes 0 pass, 1 fail, 4 skip.
 */
#ifndef KSMMOD_KTAP_H
#define KSMMOD_KTAP_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#define KTAP_EXIT_PASS	0
#define KTAP_EXIT_FAIL	1
#define KTAP_EXIT_SKIP	4

static int ktap_num, ktap_npass, ktap_nfail, ktap_nskip;

static inline void ktap_print_header(int plan)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	setvbuf(stderr, NULL, _IONBF, 0);
	printf("KTAP version 1\n1..%d\n", plan);
}

static inline void __attribute__((format(printf, 1, 2))) ktap_print_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("# ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
}

/* One result: "ok N name" or "not ok N name". Returns @ok. */
static inline bool __attribute__((format(printf, 2, 3))) ktap_test_result(bool ok, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("%sok %d ", ok ? "" : "not ", ++ktap_num);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	if (ok)
		ktap_npass++;
	else
		ktap_nfail++;
	return ok;
}

/* A skipped test: "ok N name # SKIP reason". */
static inline void ktap_test_skip(const char *name, const char *reason)
{
	printf("ok %d %s # SKIP %s\n", ++ktap_num, name, reason);
	ktap_nskip++;
}

static inline int ktap_finished(void)
{
	printf("# totals: pass:%d fail:%d skip:%d\n", ktap_npass, ktap_nfail, ktap_nskip);
	if (ktap_nfail)
		return KTAP_EXIT_FAIL;
	if (!ktap_npass && ktap_nskip)
		return KTAP_EXIT_SKIP;
	return KTAP_EXIT_PASS;
}

/* Abort the whole program: the harness counts the missing results as failures. */
static inline void __attribute__((noreturn, format(printf, 1, 2))) ktap_exit_fail_msg(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	printf("Bail out! ");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	exit(KTAP_EXIT_FAIL);
}

#endif /* KSMMOD_KTAP_H */
