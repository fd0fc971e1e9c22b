/* Unit tests of the CPU sampler's data: the rate from two samples and the table by id. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "runtime/cpu_rate.h"

#define SECOND_NS 1000000000LL

static void rate_needs_two_samples(void **state)
{
    struct cpu_history history = {0};
    uint64_t nano_cores = 7;

    assert_false(cpu_history_rate(&history, &nano_cores));
    cpu_history_add(&history, 5 * SECOND_NS, 1000);
    assert_false(cpu_history_rate(&history, &nano_cores));
    assert_int_equal(nano_cores, 7);
    cpu_history_add(&history, 6 * SECOND_NS, 1000 + SECOND_NS / 2);
    assert_true(cpu_history_rate(&history, &nano_cores));
    assert_int_equal(nano_cores, 500000000);
}

static void rate_uses_the_last_two_samples(void **state)
{
    struct cpu_history history = {0};
    uint64_t nano_cores = 0;

    cpu_history_add(&history, 0, 0);
    cpu_history_add(&history, 10 * SECOND_NS, 10 * SECOND_NS);
    cpu_history_add(&history, 20 * SECOND_NS, 10 * SECOND_NS + 25 * SECOND_NS / 10);
    assert_true(cpu_history_rate(&history, &nano_cores));
    assert_int_equal(nano_cores, 250000000);
    assert_int_equal(history.samples, 2);

    /* Two busy threads: two cores. */
    cpu_history_add(&history, 30 * SECOND_NS,
                    10 * SECOND_NS + 25 * SECOND_NS / 10 + 20 * SECOND_NS);
    assert_true(cpu_history_rate(&history, &nano_cores));
    assert_int_equal(nano_cores, 2000000000);
}

static void rate_rejects_bad_samples(void **state)
{
    struct cpu_history history = {0};
    uint64_t nano_cores = 7;

    /* A job that was recreated starts its CPU time again at 0. */
    cpu_history_add(&history, 1 * SECOND_NS, 5 * SECOND_NS);
    cpu_history_add(&history, 2 * SECOND_NS, 1000);
    assert_false(cpu_history_rate(&history, &nano_cores));
    /* The next sample gives a rate again. */
    cpu_history_add(&history, 3 * SECOND_NS, 1000 + SECOND_NS / 10);
    assert_true(cpu_history_rate(&history, &nano_cores));
    assert_int_equal(nano_cores, 100000000);

    /* Two samples at the same instant have no rate. */
    cpu_history_add(&history, 3 * SECOND_NS, 1000 + SECOND_NS);
    assert_false(cpu_history_rate(&history, &nano_cores));
}

static void idle_rate_is_zero(void **state)
{
    struct cpu_history history = {0};
    uint64_t nano_cores = 7;

    cpu_history_add(&history, 1 * SECOND_NS, 42);
    cpu_history_add(&history, 11 * SECOND_NS, 42);
    assert_true(cpu_history_rate(&history, &nano_cores));
    assert_int_equal(nano_cores, 0);
}

static void table_finds_updates_and_sweeps(void **state)
{
    struct cpu_table table = {0};
    char id[16];

    /* Inserted out of order, found in order. */
    for (int i = 199; i >= 0; i--) {
        snprintf(id, sizeof(id), "c%03d", (i * 37) % 200);
        cpu_history_add(cpu_table_update(&table, id, 1), 1, (uint64_t)i);
    }
    assert_int_equal(table.n_entries, 200);
    for (size_t i = 1; i < table.n_entries; i++)
        assert_true(strcmp(table.entries[i - 1].id, table.entries[i].id) < 0);
    assert_non_null(cpu_table_find(&table, "c000"));
    assert_non_null(cpu_table_find(&table, "c199"));
    assert_null(cpu_table_find(&table, "c200"));
    assert_null(cpu_table_find(&table, "c"));

    /* Pass 2 updates the even ids only: the sweep forgets the odd ones. */
    for (int i = 0; i < 200; i += 2) {
        snprintf(id, sizeof(id), "c%03d", i);
        cpu_history_add(cpu_table_update(&table, id, 2), 2, (uint64_t)i);
    }
    cpu_table_sweep(&table, 2);
    assert_int_equal(table.n_entries, 100);
    assert_null(cpu_table_find(&table, "c001"));
    assert_int_equal(cpu_table_find(&table, "c002")->samples, 2);

    /* An id seen again after it was forgotten starts with no samples. */
    assert_int_equal(cpu_table_update(&table, "c001", 3)->samples, 0);
    cpu_table_sweep(&table, 3);
    assert_int_equal(table.n_entries, 1);

    cpu_table_free(&table);
    assert_int_equal(table.n_entries, 0);
    assert_null(cpu_table_find(&table, "c001"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rate_needs_two_samples),
        cmocka_unit_test(rate_uses_the_last_two_samples),
        cmocka_unit_test(rate_rejects_bad_samples),
        cmocka_unit_test(idle_rate_is_zero),
        cmocka_unit_test(table_finds_updates_and_sweeps),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
