#include "checks.h"

#include <stdarg.h>
#include <stdio.h>

#include <windows.h>

static int passed;
static int failed;
static int expected_failures;

static void report(bool ok, const char *name, const char *wine_reason, const char *fmt,
                   va_list args)
{
    if (ok) {
        printf("PASS %s\n", name);
        passed++;
    } else if (wine_reason != NULL && checks_under_wine()) {
        printf("XFAIL %s: %s (", name, wine_reason);
        vprintf(fmt, args);
        printf(")\n");
        expected_failures++;
    } else {
        printf("FAIL %s: ", name);
        vprintf(fmt, args);
        printf("\n");
        failed++;
    }
    fflush(stdout);
}

bool check(bool ok, const char *name, const char *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    report(ok, name, NULL, fmt, args);
    va_end(args);
    return ok;
}

bool check_api(bool ok, const char *name, const char *wine_reason, const char *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    report(ok, name, wine_reason, fmt, args);
    va_end(args);
    return ok;
}

void expected_failure(const char *name, const char *reason)
{
    printf("XFAIL %s: %s\n", name, reason);
    fflush(stdout);
    expected_failures++;
}

bool checks_under_wine(void)
{
    HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");

    return ntdll != NULL && GetProcAddress(ntdll, "wine_get_version") != NULL;
}

int checks_finish(void)
{
    printf("%d expected failures\n", expected_failures);
    printf("%d passed, %d failed\n", passed, failed);
    return failed;
}
