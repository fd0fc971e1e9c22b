/* Unit tests of the spec and exit file formats that both monitor programs share. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "runtime/monitor_format.h"

static void pairs_round_trip(void **state)
{
    char *args[] = {"sh", "-c", "echo 'a\tb' \"$X\"", "", NULL};
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    size_t offset = 0;
    const char *key;
    const char *value;

    (void)state;
    monitor_format_put(&out, "id", "c1");
    monitor_format_put(&out, "cwd", NULL);
    monitor_format_put_list(&out, "arg", args);
    monitor_format_put_list(&out, "env", NULL);
    monitor_format_put(&out, "env", "X=with\nnewline\r");
    monitor_format_put_number(&out, "oom_score_adj", -998);
    monitor_format_put_number(&out, "big", INT64_MAX);

    assert_int_equal(monitor_format_next_pair(out.data, out.length, &offset, &key, &value), 1);
    assert_string_equal(key, "id");
    assert_string_equal(value, "c1");
    for (size_t i = 0; args[i] != NULL; i++) {
        assert_int_equal(monitor_format_next_pair(out.data, out.length, &offset, &key, &value), 1);
        assert_string_equal(key, "arg");
        assert_string_equal(value, args[i]);
    }
    assert_int_equal(monitor_format_next_pair(out.data, out.length, &offset, &key, &value), 1);
    assert_string_equal(value, "X=with\nnewline\r");
    assert_int_equal(monitor_format_next_pair(out.data, out.length, &offset, &key, &value), 1);
    assert_string_equal(key, "oom_score_adj");
    assert_string_equal(value, "-998");
    assert_int_equal(monitor_format_next_pair(out.data, out.length, &offset, &key, &value), 1);
    assert_string_equal(value, "9223372036854775807");
    assert_int_equal(monitor_format_next_pair(out.data, out.length, &offset, &key, &value), 0);
    assert_int_equal(offset, out.length);
}

static void pairs_reject_truncated_data(void **state)
{
    static const char missing_value[] = "id\0c\0job";
    static const char missing_nul[] = "id\0c\0job\0j";
    static const char key_only[] = "id\0c\0job\0";
    size_t offset = 0;
    const char *key;
    const char *value;

    (void)state;
    assert_int_equal(
        monitor_format_next_pair(missing_value, sizeof(missing_value) - 1, &offset, &key, &value),
        1);
    assert_int_equal(
        monitor_format_next_pair(missing_value, sizeof(missing_value) - 1, &offset, &key, &value),
        -1);
    assert_int_equal(offset, 5);
    assert_ptr_equal(key, missing_value + 5);
    offset = 5;
    assert_int_equal(
        monitor_format_next_pair(missing_nul, sizeof(missing_nul) - 1, &offset, &key, &value), -1);
    assert_int_equal(offset, 5);
    offset = 5;
    assert_int_equal(
        monitor_format_next_pair(key_only, sizeof(key_only) - 1, &offset, &key, &value), -1);
    offset = 0;
    assert_int_equal(monitor_format_next_pair("", 0, &offset, &key, &value), 0);
}

static void stored_strings_are_copies(void **state)
{
    char value[] = "first";
    char *field = NULL;
    char **list = NULL;

    (void)state;
    monitor_format_store_string(&field, value);
    monitor_format_store_string(&field, "second");
    assert_string_equal(field, "second");
    monitor_format_append_string(&list, value);
    monitor_format_append_string(&list, "b");
    value[0] = 'F';
    assert_int_equal(strv_length(list), 2);
    assert_string_equal(list[0], "first");
    assert_string_equal(list[1], "b");
    assert_null(list[2]);
    free(field);
    strv_free(list);
}

static void exit_round_trip(void **state)
{
    struct job_exit_status status = {.exit_code = 137,
                                     .signal = 9,
                                     .started_at_ns = 1700000000000000001,
                                     .finished_at_ns = 1700000000000000002,
                                     .reason = JOB_EXIT_OOM_KILLED,
                                     .message = "line one\nline two\r\nline three"};
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    struct job_exit_status read;

    (void)state;
    monitor_format_exit_encode(&status, &out);
    assert_string_equal(out.data, "exit_code=137\nsignal=9\nstarted_at=1700000000000000001\n"
                                  "finished_at=1700000000000000002\nreason=oom_killed\n"
                                  "message=line one line two  line three\n");
    monitor_format_exit_decode(out.data, &read);
    assert_int_equal(read.exit_code, 137);
    assert_int_equal(read.signal, 9);
    assert_int_equal(read.started_at_ns, 1700000000000000001);
    assert_int_equal(read.finished_at_ns, 1700000000000000002);
    assert_int_equal(read.reason, JOB_EXIT_OOM_KILLED);
    assert_string_equal(read.message, "line one line two  line three");
    free(read.message);
}

static void exit_reasons_round_trip(void **state)
{
    static const enum job_exit_reason reasons[] = {JOB_EXIT_COMPLETED, JOB_EXIT_OOM_KILLED,
                                                   JOB_EXIT_UNKNOWN, JOB_EXIT_START_ERROR,
                                                   JOB_EXIT_NOT_STARTED};
    struct job_exit_status read;

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(reasons); i++) {
        struct job_exit_status status = {.exit_code = -1, .reason = reasons[i]};
        _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;

        monitor_format_exit_encode(&status, &out);
        assert_null(strstr(out.data, "message="));
        monitor_format_exit_decode(out.data, &read);
        assert_int_equal(read.reason, reasons[i]);
        assert_int_equal(read.exit_code, -1);
        assert_null(read.message);
    }
}

static void exit_decode_accepts_crlf(void **state)
{
    struct job_exit_status read;

    (void)state;
    monitor_format_exit_decode("exit_code=3\r\nreason=oom_killed\r\nunknown=1\r\n", &read);
    assert_int_equal(read.exit_code, 3);
    assert_int_equal(read.reason, JOB_EXIT_OOM_KILLED);
    assert_null(read.message);
}

/* Older Linux monitors kept a '\r' inside the message, and the reader must too. */
static void exit_decode_keeps_inner_cr(void **state)
{
    struct job_exit_status read;

    (void)state;
    monitor_format_exit_decode("exit_code=1\nmessage=a\rexit_code=7\n", &read);
    assert_int_equal(read.exit_code, 1);
    assert_string_equal(read.message, "a\rexit_code=7");
    free(read.message);
}

static void exit_decode_skips_unknown(void **state)
{
    struct job_exit_status read;

    (void)state;
    monitor_format_exit_decode("\n\nno equals sign\nreason=melted\nsignal=15\nmessage=a=b\n",
                               &read);
    assert_int_equal(read.reason, JOB_EXIT_COMPLETED);
    assert_int_equal(read.signal, 15);
    assert_string_equal(read.message, "a=b");
    free(read.message);
}

static void exit_missing_reports_unknown(void **state)
{
    struct job_exit_status status = {.exit_code = 3, .signal = 9, .started_at_ns = 5};

    (void)state;
    monitor_format_exit_missing(&status, "c1", "open exit: No such file or directory");
    assert_int_equal(status.reason, JOB_EXIT_UNKNOWN);
    assert_int_equal(status.exit_code, 255);
    assert_int_equal(status.signal, 0);
    assert_int_equal(status.started_at_ns, 0);
    assert_true(status.finished_at_ns > 0);
    assert_string_equal(status.message, "the monitor of container c1 ended without an exit status "
                                        "(open exit: No such file or directory)");
    free(status.message);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pairs_round_trip),
        cmocka_unit_test(pairs_reject_truncated_data),
        cmocka_unit_test(stored_strings_are_copies),
        cmocka_unit_test(exit_round_trip),
        cmocka_unit_test(exit_reasons_round_trip),
        cmocka_unit_test(exit_decode_accepts_crlf),
        cmocka_unit_test(exit_decode_keeps_inner_cr),
        cmocka_unit_test(exit_decode_skips_unknown),
        cmocka_unit_test(exit_missing_reports_unknown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
