#ifndef HOSTCRI_TEST_WINDOWS_CHECKS_H
#define HOSTCRI_TEST_WINDOWS_CHECKS_H

/*
 * The check lines of the Windows test programs, which run-wine-tests.sh counts: "PASS name",
 * "FAIL name: detail" and "XFAIL name: reason" for an API that Wine lacks, then checks_finish's
 * summary, whose last line is "N passed, N failed".
 */

#include <stdbool.h>

/* Prints PASS or FAIL for ok, with the formatted detail on a failure. Returns ok. */
bool check(bool ok, const char *name, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A check of an API that Wine 8 does not implement: under Wine a failure is an XFAIL that names
 * wine_reason, elsewhere a FAIL. Returns ok. */
bool check_api(bool ok, const char *name, const char *wine_reason, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prints "XFAIL name: reason" for a check that cannot pass here, counted apart. */
void expected_failure(const char *name, const char *reason);

/* Returns whether the program runs under Wine (ntdll exports wine_get_version). */
bool checks_under_wine(void);

/* Prints the summary and returns the number of failed checks, the program's exit status. */
int checks_finish(void);

#endif
