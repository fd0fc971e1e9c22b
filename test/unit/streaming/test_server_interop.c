/*
 * The streaming server against an independent SPDY client: spdyclient/main.go, built on
 * moby/spdystream as the Kubernetes clients are. It checks what the replays cannot: that a real
 * SPDY stack accepts the server's replies, compressed headers, data, pings and resets. The
 * test is skipped when the Go client was not built (Go or the spdystream package missing).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "common/util.h"
#include "harness.h"

/* Runs the Go client against a fresh URL for request and returns its JSON result. */
static json_t *run_client(const struct streaming_request *request, const char *extra_args)
{
    const char *client = getenv("HOSTCRI_SPDYCLIENT");
    struct harness harness;
    json_error_t error;
    char buffer[65536];
    struct strbuf output = STRBUF_INIT;
    size_t n;

    harness_init(&harness, NULL);
    _cleanup_free_ char *url = harness_issue(&harness, request);
    _cleanup_free_ char *command = xasprintf("%s -url %s %s", client, url, extra_args);
    harness_resume(&harness);
    FILE *pipe = popen(command, "r");
    assert_non_null(pipe);
    while ((n = fread(buffer, 1, sizeof(buffer), pipe)) > 0)
        strbuf_append(&output, buffer, n);
    int status = pclose(pipe);
    harness_pause(&harness);
    harness_free(&harness);

    if (status != 0)
        fail_msg("spdyclient failed (status %d): %s", status, output.data ? output.data : "");
    json_t *result = json_loadb(output.data, output.length, 0, &error);
    if (result == NULL)
        fail_msg("spdyclient printed invalid JSON: %s", error.text);
    strbuf_free(&output);
    return result;
}

static const char *get(json_t *result, const char *key)
{
    const char *value = json_string_value(json_object_get(result, key));

    assert_non_null(value);
    return value;
}

static void skip_without_client(void)
{
    if (getenv("HOSTCRI_SPDYCLIENT") == NULL)
        skip();
}

static void test_interop_exit_code(void **state)
{
    static const char *const cmd[] = {"sh", "-c", "echo hi; echo err >&2; exit 3"};
    struct streaming_request request = {
        .kind = STREAMING_EXEC,
        .container_id = "c0ffee",
        .cmd = cmd,
        .cmd_count = 3,
        .streams = STREAMING_STDOUT | STREAMING_STDERR,
    };
    json_error_t error;

    skip_without_client();
    json_t *result = run_client(&request, "");
    assert_string_equal(get(result, "protocol"), "v4.channel.k8s.io");
    assert_string_equal(get(result, "stdout"), "hi\n");
    assert_string_equal(get(result, "stderr"), "err\n");
    assert_true(json_is_true(json_object_get(result, "ping_ok")));

    json_t *status = json_loads(get(result, "error"), 0, &error);
    assert_non_null(status);
    assert_string_equal(json_string_value(json_object_get(status, "reason")), "NonZeroExitCode");
    json_t *cause =
        json_array_get(json_object_get(json_object_get(status, "details"), "causes"), 0);
    assert_string_equal(json_string_value(json_object_get(cause, "reason")), "ExitCode");
    assert_string_equal(json_string_value(json_object_get(cause, "message")), "3");
    json_decref(status);
    json_decref(result);
}

static void test_interop_stdin_eof(void **state)
{
    static const char *const cmd[] = {"cat"};
    struct streaming_request request = {
        .kind = STREAMING_EXEC,
        .container_id = "c0ffee",
        .cmd = cmd,
        .cmd_count = 1,
        .streams = STREAMING_STDIN | STREAMING_STDOUT | STREAMING_STDERR,
    };

    skip_without_client();
    json_t *result = run_client(&request, "-stdin 'line1\nline2\n'");
    assert_string_equal(get(result, "stdout"), "line1\nline2\n");
    assert_string_equal(get(result, "stderr"), "");
    assert_string_equal(get(result, "error"), "{\"metadata\":{},\"status\":\"Success\"}");
    json_decref(result);
}

static void test_interop_bulk_output(void **state)
{
    static const char *const cmd[] = {"seq", "1", "200000"};
    struct streaming_request request = {
        .kind = STREAMING_EXEC,
        .container_id = "c0ffee",
        .cmd = cmd,
        .cmd_count = 3,
        .streams = STREAMING_STDOUT,
    };

    skip_without_client();
    /* 1,288,895 bytes: more than the server's write backlog limit, so output pauses and resumes. */
    json_t *result = run_client(&request, "-stderr=false");
    assert_int_equal(strlen(get(result, "stdout")), 1288895);
    assert_true(str_has_prefix(get(result, "stdout"), "1\n2\n3\n"));
    assert_string_equal(get(result, "error"), "{\"metadata\":{},\"status\":\"Success\"}");
    json_decref(result);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interop_exit_code),
        cmocka_unit_test(test_interop_stdin_eof),
        cmocka_unit_test(test_interop_bulk_output),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
