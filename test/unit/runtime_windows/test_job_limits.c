#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "runtime/windows/job_limits.h"

#define MIB (UINT64_C(1) << 20)

static struct job_limits convert(struct job_resources resources, int host_cpus)
{
    struct job_limits limits;
    struct error err = ERROR_INIT;

    assert_int_equal(job_limits_from_resources(&resources, host_cpus, &limits, &err), 0);
    return limits;
}

static void rejects(struct job_resources resources, const char *text)
{
    struct job_limits limits;
    struct error err = ERROR_INIT;

    assert_int_equal(job_limits_from_resources(&resources, 4, &limits, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, text));
    error_clear(&err);
}

static void nothing_set(void **state)
{
    struct job_limits limits = convert((struct job_resources){0}, 4);

    (void)state;
    assert_false(limits.set_cpu);
    assert_false(limits.set_memory);
}

static void cpu_count_becomes_rate(void **state)
{
    (void)state;
    assert_int_equal(convert((struct job_resources){.cpu_count = 1}, 4).cpu_rate, 2500);
    assert_int_equal(convert((struct job_resources){.cpu_count = 3}, 8).cpu_rate, 3750);
    /* Clamped to the host's CPUs. */
    assert_int_equal(convert((struct job_resources){.cpu_count = 16}, 4).cpu_rate, 10000);
    /* At least 1 on a very large host. */
    assert_int_equal(convert((struct job_resources){.cpu_count = 1}, 20000).cpu_rate, 1);
    assert_true(convert((struct job_resources){.cpu_count = 1}, 4).set_cpu);
    rejects((struct job_resources){.cpu_count = -2}, "invalid cpu_count -2");
}

static void cpu_maximum_is_rate(void **state)
{
    struct job_limits limits = convert((struct job_resources){.cpu_maximum = 5000}, 4);

    (void)state;
    assert_true(limits.set_cpu);
    assert_int_equal(limits.cpu_rate, 5000);
    assert_int_equal(limits.cpu_weight, 0);
    assert_int_equal(convert((struct job_resources){.cpu_maximum = 1}, 4).cpu_rate, 1);
    assert_int_equal(convert((struct job_resources){.cpu_maximum = 10000}, 4).cpu_rate, 10000);
    rejects((struct job_resources){.cpu_maximum = 10001}, "invalid cpu_maximum 10001");
    rejects((struct job_resources){.cpu_maximum = -5}, "invalid cpu_maximum -5");
}

static void cpu_shares_become_weight(void **state)
{
    (void)state;
    assert_int_equal(convert((struct job_resources){.cpu_shares = 1}, 4).cpu_weight, 1);
    assert_int_equal(convert((struct job_resources){.cpu_shares = 5000}, 4).cpu_weight, 5);
    assert_int_equal(convert((struct job_resources){.cpu_shares = 10000}, 4).cpu_weight, 9);
    assert_int_equal(convert((struct job_resources){.cpu_shares = 5000}, 4).cpu_rate, 0);
    rejects((struct job_resources){.cpu_shares = 10001}, "invalid cpu_shares 10001");
}

static void cpu_fields_exclusive(void **state)
{
    (void)state;
    rejects((struct job_resources){.cpu_count = 2, .cpu_maximum = 5000},
            "cpu_count=2 and cpu_maximum=5000");
    rejects((struct job_resources){.cpu_maximum = 5000, .cpu_shares = 10},
            "cpu_maximum=5000 and cpu_shares=10");
    rejects((struct job_resources){.cpu_count = 1, .cpu_maximum = 2, .cpu_shares = 3},
            "cpu_count=1 and cpu_maximum=2 and cpu_shares=3");
}

static void cfs_quota_becomes_rate(void **state)
{
    struct job_limits limits =
        convert((struct job_resources){.cpu_quota_us = 50000, .cpu_period_us = 100000}, 2);

    (void)state;
    assert_true(limits.set_cpu);
    assert_int_equal(limits.cpu_rate, 2500);
    limits = convert((struct job_resources){.cpu_quota_us = -1, .cpu_period_us = 100000}, 2);
    assert_true(limits.set_cpu);
    assert_int_equal(limits.cpu_rate, 0);
    /* A Windows field wins over the quota. */
    limits = convert(
        (struct job_resources){.cpu_maximum = 100, .cpu_quota_us = 50000, .cpu_period_us = 100000},
        2);
    assert_int_equal(limits.cpu_rate, 100);
}

static void memory_whole_mib(void **state)
{
    struct job_limits limits =
        convert((struct job_resources){.memory_limit_bytes = 100 * MIB + 12345}, 4);

    (void)state;
    assert_true(limits.set_memory);
    assert_int_equal(limits.memory_bytes, 100 * MIB);
    limits = convert((struct job_resources){.memory_limit_bytes = -1}, 4);
    assert_true(limits.set_memory);
    assert_int_equal(limits.memory_bytes, 0);
    rejects((struct job_resources){.memory_limit_bytes = 4096}, "invalid memory limit 4096");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(nothing_set),          cmocka_unit_test(cpu_count_becomes_rate),
        cmocka_unit_test(cpu_maximum_is_rate),  cmocka_unit_test(cpu_shares_become_weight),
        cmocka_unit_test(cpu_fields_exclusive), cmocka_unit_test(cfs_quota_becomes_rate),
        cmocka_unit_test(memory_whole_mib),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
