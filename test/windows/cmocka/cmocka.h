#ifndef HOSTCRI_TEST_WINDOWS_CMOCKA_H
#define HOSTCRI_TEST_WINDOWS_CMOCKA_H

/*
 * The part of cmocka's API that the unit tests of test/unit/runtime_windows/ use, so that the
 * same test files also build with mingw-w64 and run under Wine (cmocka itself is not in the
 * Windows dependency prefix). Each test prints "PASS <name>" or "FAIL <name>: <reason>" and the
 * run ends with "<N> passed, <N> failed", the format of the other Windows test programs. A
 * failed assertion ends its test with longjmp; teardown still runs. Include <setjmp.h> first,
 * as with cmocka.
 */

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef void (*CMUnitTestFunction)(void **state);
typedef int (*CMFixtureFunction)(void **state);

struct CMUnitTest {
    const char *name;
    CMUnitTestFunction test_func;
    CMFixtureFunction setup_func;
    CMFixtureFunction teardown_func;
    void *initial_state;
};

#define cmocka_unit_test(f)                                                                        \
    {                                                                                              \
#f, f, NULL, NULL, NULL                                                                    \
    }
#define cmocka_unit_test_setup_teardown(f, setup, teardown)                                        \
    {                                                                                              \
#f, f, setup, teardown, NULL                                                               \
    }

/* The failure of the test that runs: where to jump and the reason. The state is static because
 * a local modified between setjmp and longjmp is indeterminate after the jump. */
static jmp_buf cmocka_shim_jump;
static char cmocka_shim_reason[512];
static void *cmocka_shim_state;

__attribute__((format(printf, 3, 4), noreturn)) static void
cmocka_shim_fail(const char *file, int line, const char *fmt, ...)
{
    va_list args;
    int length = snprintf(cmocka_shim_reason, sizeof(cmocka_shim_reason), "%s:%d: ", file, line);

    va_start(args, fmt);
    vsnprintf(cmocka_shim_reason + length, sizeof(cmocka_shim_reason) - (size_t)length, fmt, args);
    va_end(args);
    longjmp(cmocka_shim_jump, 1);
}

#define fail_msg(...) cmocka_shim_fail(__FILE__, __LINE__, __VA_ARGS__)
#define fail() fail_msg("fail()")
#define assert_true(c) ((c) ? (void)0 : fail_msg("%s is false", #c))
#define assert_false(c) (!(c) ? (void)0 : fail_msg("%s is true", #c))
#define assert_null(p) ((p) == NULL ? (void)0 : fail_msg("%s is not NULL", #p))
#define assert_non_null(p) ((p) != NULL ? (void)0 : fail_msg("%s is NULL", #p))
#define assert_ptr_equal(a, b)                                                                     \
    ((const void *)(a) == (const void *)(b) ? (void)0 : fail_msg("%s != %s", #a, #b))
#define assert_int_equal(a, b)                                                                     \
    do {                                                                                           \
        intmax_t cmocka_shim_a = (intmax_t)(a), cmocka_shim_b = (intmax_t)(b);                     \
        if (cmocka_shim_a != cmocka_shim_b)                                                        \
            fail_msg("%s is %" PRIdMAX ", expected %" PRIdMAX, #a, cmocka_shim_a, cmocka_shim_b);  \
    } while (0)
#define assert_int_not_equal(a, b)                                                                 \
    do {                                                                                           \
        if ((intmax_t)(a) == (intmax_t)(b))                                                        \
            fail_msg("%s equals %s", #a, #b);                                                      \
    } while (0)
#define assert_string_equal(a, b)                                                                  \
    do {                                                                                           \
        const char *cmocka_shim_a = (a), *cmocka_shim_b = (b);                                     \
        if (cmocka_shim_a == NULL || cmocka_shim_b == NULL ||                                      \
            strcmp(cmocka_shim_a, cmocka_shim_b) != 0)                                             \
            fail_msg("%s is \"%s\", expected \"%s\"", #a,                                          \
                     cmocka_shim_a ? cmocka_shim_a : "(null)",                                     \
                     cmocka_shim_b ? cmocka_shim_b : "(null)");                                    \
    } while (0)
#define assert_memory_equal(a, b, size)                                                            \
    (memcmp((a), (b), (size)) == 0 ? (void)0 : fail_msg("%s differs from %s", #a, #b))

/* Runs one test with its setup and teardown, and prints its line. Returns whether it passed. */
static bool cmocka_shim_run_one(const struct CMUnitTest *test)
{
    volatile bool ok = true;

    cmocka_shim_state = test->initial_state;
    cmocka_shim_reason[0] = '\0';
    if (setjmp(cmocka_shim_jump) == 0) {
        if (test->setup_func && test->setup_func(&cmocka_shim_state) != 0)
            fail_msg("setup failed");
        test->test_func(&cmocka_shim_state);
    } else {
        ok = false;
    }
    /* A failure inside teardown jumps to this second setjmp. */
    if (setjmp(cmocka_shim_jump) == 0) {
        if (test->teardown_func && test->teardown_func(&cmocka_shim_state) != 0)
            fail_msg("teardown failed");
    } else {
        ok = false;
    }
    if (ok)
        printf("PASS %s\n", test->name);
    else
        printf("FAIL %s: %s\n", test->name, cmocka_shim_reason);
    fflush(stdout);
    return ok;
}

/* Runs tests and prints one line per test and the summary. Returns the number of failures. */
static int cmocka_shim_run(const struct CMUnitTest *tests, size_t count)
{
    int passed = 0;

    for (size_t i = 0; i < count; i++)
        passed += cmocka_shim_run_one(&tests[i]);
    printf("\n%d passed, %d failed\n", passed, (int)count - passed);
    return (int)count - passed;
}

#define cmocka_run_group_tests(tests, group_setup, group_teardown)                                 \
    ((void)(group_setup), (void)(group_teardown),                                                  \
     cmocka_shim_run((tests), sizeof(tests) / sizeof((tests)[0])))

#endif
