#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/metrics.h"

static int reset(void **state)
{
    (void)state;
    metrics_reset();
    return 0;
}

static void disabled_records_nothing(void **state)
{
    struct strbuf out = STRBUF_INIT;

    (void)state;
    metrics_counter_add("c_total", "help", "", 1);
    metrics_render(&out);
    assert_int_equal(out.length, 0);
    strbuf_free(&out);
}

static void counter_series_by_labels(void **state)
{
    struct strbuf out = STRBUF_INIT;

    (void)state;
    metrics_enable();
    metrics_counter_add("calls_total", "Calls", "code=\"OK\"", 1);
    metrics_counter_add("calls_total", "Calls", "code=\"OK\"", 2);
    metrics_counter_add("calls_total", "Calls", "code=\"NOT_FOUND\"", 1);
    metrics_render(&out);
    assert_non_null(strstr(out.data, "# HELP calls_total Calls\n# TYPE calls_total counter\n"));
    assert_non_null(strstr(out.data, "calls_total{code=\"OK\"} 3\n"));
    assert_non_null(strstr(out.data, "calls_total{code=\"NOT_FOUND\"} 1\n"));
    strbuf_free(&out);
}

static void histogram_buckets_cumulative(void **state)
{
    struct strbuf out = STRBUF_INIT;

    (void)state;
    metrics_enable();
    metrics_histogram_observe("latency_seconds", "Latency", "", 0.00005);
    metrics_histogram_observe("latency_seconds", "Latency", "", 0.003);
    metrics_histogram_observe("latency_seconds", "Latency", "", 100);
    metrics_render(&out);
    assert_non_null(strstr(out.data, "latency_seconds_bucket{le=\"0.0001\"} 1\n"));
    assert_non_null(strstr(out.data, "latency_seconds_bucket{le=\"0.005\"} 2\n"));
    assert_non_null(strstr(out.data, "latency_seconds_bucket{le=\"60\"} 2\n"));
    assert_non_null(strstr(out.data, "latency_seconds_bucket{le=\"+Inf\"} 3\n"));
    assert_non_null(strstr(out.data, "latency_seconds_count 3\n"));
    assert_non_null(strstr(out.data, "latency_seconds_sum 100.00305\n"));
    strbuf_free(&out);
}

static double forty_two(void *data)
{
    (void)data;
    return 42;
}

static void gauge_function_read_at_render(void **state)
{
    struct strbuf out = STRBUF_INIT;

    (void)state;
    metrics_gauge_register("answer", "The answer", forty_two, NULL);
    metrics_render(&out);
    assert_non_null(strstr(out.data, "# TYPE answer gauge\nanswer 42\n"));
    strbuf_free(&out);
}

static void label_values_escaped(void **state)
{
    struct strbuf out = STRBUF_INIT;

    (void)state;
    metrics_escape_label_value(&out, "a\"b\\c\nd");
    assert_string_equal(out.data, "a\\\"b\\\\c\\nd");
    strbuf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(disabled_records_nothing, reset),
        cmocka_unit_test_setup(counter_series_by_labels, reset),
        cmocka_unit_test_setup(histogram_buckets_cumulative, reset),
        cmocka_unit_test_setup(gauge_function_read_at_render, reset),
        cmocka_unit_test_setup(label_values_escaped, reset),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
