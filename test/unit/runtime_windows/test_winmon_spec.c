#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "runtime/windows/winmon_spec.h"

static void spec_round_trip(void **state)
{
    char *argv[] = {"cmd.exe", "/c", "echo \"a b\"", NULL};
    char *env[] = {"PATH=C:\\Windows;C:\\hpc", "X=with\nnewline", NULL};
    struct winmon_spec spec = {.id = "c1",
                               .job_name = "hostcri-c1",
                               .pod_job_name = "hostcri-pod-p1",
                               .argv = argv,
                               .env = env,
                               .cwd = "C:\\hpc",
                               .username = "NT AUTHORITY\\SYSTEM",
                               .log_path = "C:\\var\\log\\pods\\p\\c\\0.log",
                               .grace_ms = 500,
                               .tty = true};
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    struct winmon_spec read = {0};
    struct error err = ERROR_INIT;

    (void)state;
    winmon_spec_encode(&spec, &out);
    assert_int_equal(winmon_spec_decode(out.data, out.length, &read, &err), 0);
    assert_string_equal(read.id, "c1");
    assert_string_equal(read.job_name, "hostcri-c1");
    assert_string_equal(read.pod_job_name, "hostcri-pod-p1");
    assert_int_equal(strv_length(read.argv), 3);
    assert_string_equal(read.argv[2], "echo \"a b\"");
    assert_int_equal(strv_length(read.env), 2);
    assert_string_equal(read.env[1], "X=with\nnewline");
    assert_string_equal(read.cwd, "C:\\hpc");
    assert_string_equal(read.username, "NT AUTHORITY\\SYSTEM");
    assert_string_equal(read.log_path, "C:\\var\\log\\pods\\p\\c\\0.log");
    assert_null(read.exit_file);
    assert_int_equal(read.grace_ms, 500);
    assert_true(read.tty);
    assert_false(read.stdin_open);
    winmon_spec_clear(&read);
}

static void spec_keeps_empty_environment(void **state)
{
    char *argv[] = {"x.exe", NULL};
    char *env[] = {NULL};
    struct winmon_spec spec = {.id = "c", .job_name = "j", .argv = argv, .env = env};
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    struct winmon_spec read = {0};

    (void)state;
    winmon_spec_encode(&spec, &out);
    assert_int_equal(winmon_spec_decode(out.data, out.length, &read, NULL), 0);
    assert_non_null(read.env);
    assert_null(read.env[0]);
    winmon_spec_clear(&read);
    spec.env = NULL;
    strbuf_reset(&out);
    winmon_spec_encode(&spec, &out);
    assert_int_equal(winmon_spec_decode(out.data, out.length, &read, NULL), 0);
    assert_null(read.env);
    winmon_spec_clear(&read);
}

/* test_runtime_monitor_format covers the pair framing. This test checks the Windows codes. */
static void spec_rejects_truncated_data(void **state)
{
    static const char missing_value[] = "id\0c\0job";
    static const char no_args[] = "id\0c\0job\0j\0";
    struct winmon_spec read = {0};
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(winmon_spec_decode(missing_value, sizeof(missing_value) - 1, &read, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "key \"job\""));
    error_clear(&err);
    winmon_spec_clear(&read);
    assert_int_equal(winmon_spec_decode(no_args, sizeof(no_args) - 1, &read, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "arg missing"));
    error_clear(&err);
    winmon_spec_clear(&read);
}

static void report_parse(void **state)
{
    struct error err = ERROR_INIT;
    uint32_t pid = 7;

    (void)state;
    assert_int_equal(winmon_report_parse("OK 4242\n", &pid, &err), 0);
    assert_int_equal(pid, 4242);
    assert_int_equal(winmon_report_parse("ERR 5 start x.exe: program not found\n", &pid, &err), -1);
    assert_int_equal(pid, 0);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
    assert_string_equal(err.message, "start x.exe: program not found");
    error_clear(&err);
    assert_int_equal(winmon_report_parse("OK 0\n", &pid, &err), -1);
    assert_int_equal(err.code, ERROR_INTERNAL);
    error_clear(&err);
    assert_int_equal(winmon_report_parse("ERR 99 strange code", &pid, &err), -1);
    assert_int_equal(err.code, ERROR_INTERNAL);
    error_clear(&err);
    assert_int_equal(winmon_report_parse("", &pid, &err), -1);
    assert_int_equal(err.code, ERROR_INTERNAL);
    error_clear(&err);
}

static void reply_parse_and_error_line(void **state)
{
    struct error err = ERROR_INIT;
    struct error sent = {ERROR_FAILED_PRECONDITION, "invalid signal 1\nfor Windows"};
    _cleanup_free_ char *line = winmon_error_line(&sent);

    (void)state;
    assert_int_equal(winmon_reply_parse("OK\n", &err), 0);
    assert_int_equal(winmon_reply_parse("OK", &err), 0);
    assert_int_equal(winmon_reply_parse("OK 1234\n", &err), 0);
    assert_int_equal(winmon_reply_parse("OKAY\n", &err), -1);
    error_clear(&err);
    assert_string_equal(line, "ERR 9 invalid signal 1 for Windows\n");
    assert_int_equal(winmon_reply_parse(line, &err), -1);
    assert_int_equal(err.code, ERROR_FAILED_PRECONDITION);
    assert_string_equal(err.message, "invalid signal 1 for Windows");
    error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spec_round_trip),
        cmocka_unit_test(spec_keeps_empty_environment),
        cmocka_unit_test(spec_rejects_truncated_data),
        cmocka_unit_test(report_parse),
        cmocka_unit_test(reply_parse_and_error_line),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
