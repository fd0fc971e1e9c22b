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

/* Runs a Go client (path in env_name) against a fresh URL for request; returns its JSON result. */
static json_t *run_go_client(const char *env_name, const struct streaming_request *request,
                             const char *extra_args)
{
    const char *client = getenv(env_name);
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
        fail_msg("%s failed (status %d): %s", client, status, output.data ? output.data : "");
    json_t *result = json_loadb(output.data, output.length, 0, &error);
    if (result == NULL)
        fail_msg("%s printed invalid JSON: %s", client, error.text);
    strbuf_free(&output);
    return result;
}

static json_t *run_client(const struct streaming_request *request, const char *extra_args)
{
    return run_go_client("HOSTCRI_SPDYCLIENT", request, extra_args);
}

static const char *get(json_t *result, const char *key)
{
    const char *value = json_string_value(json_object_get(result, key));

    assert_non_null(value);
    return value;
}

/* Skips the test when the Go client named by env_name was not built. */
static void skip_without(const char *env_name)
{
    if (getenv(env_name) == NULL)
        skip();
}

static void test_interop_exit_code(void **state)
{
    static const char *const cmd[] = {"sh", "-c", "echo hi; echo err >&2; exit 3"};
    struct streaming_request request =
        harness_exec_request(cmd, 3, false, STREAMING_STDOUT | STREAMING_STDERR);
    json_error_t error;

    skip_without("HOSTCRI_SPDYCLIENT");
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
    struct streaming_request request =
        harness_exec_request(cmd, 1, false, STREAMING_STDIN | STREAMING_STDOUT | STREAMING_STDERR);

    skip_without("HOSTCRI_SPDYCLIENT");
    json_t *result = run_client(&request, "-stdin 'line1\nline2\n'");
    assert_string_equal(get(result, "stdout"), "line1\nline2\n");
    assert_string_equal(get(result, "stderr"), "");
    assert_string_equal(get(result, "error"), "{\"metadata\":{},\"status\":\"Success\"}");
    json_decref(result);
}

static void test_interop_bulk_output(void **state)
{
    static const char *const cmd[] = {"seq", "1", "200000"};
    struct streaming_request request = harness_exec_request(cmd, 3, false, STREAMING_STDOUT);

    skip_without("HOSTCRI_SPDYCLIENT");
    /* 1,288,895 bytes: more than the server's write backlog limit, so output pauses and resumes. */
    json_t *result = run_client(&request, "-stderr=false");
    assert_int_equal(strlen(get(result, "stdout")), 1288895);
    assert_true(str_has_prefix(get(result, "stdout"), "1\n2\n3\n"));
    assert_string_equal(get(result, "error"), "{\"metadata\":{},\"status\":\"Success\"}");
    json_decref(result);
}

static void test_interop_ws5_stdin_close_signal(void **state)
{
    static const char *const cmd[] = {"cat"};
    struct streaming_request request =
        harness_exec_request(cmd, 1, false, STREAMING_STDIN | STREAMING_STDOUT | STREAMING_STDERR);

    skip_without("HOSTCRI_WSCLIENT");
    json_t *result = run_go_client("HOSTCRI_WSCLIENT", &request, "-mode exec -stdin 'hello\n'");
    assert_string_equal(get(result, "protocol"), "v5.channel.k8s.io");
    assert_true(json_is_true(json_object_get(result, "ready")));
    assert_true(json_is_true(json_object_get(result, "pong")));
    assert_string_equal(get(result, "stdout"), "hello\n");
    assert_string_equal(get(result, "error"), "{\"metadata\":{},\"status\":\"Success\"}");
    assert_int_equal(json_integer_value(json_object_get(result, "close_code")), 1000);
    json_decref(result);
}

static void test_interop_ws5_exit_code(void **state)
{
    static const char *const cmd[] = {"sh", "-c", "echo hi; echo err >&2; exit 3"};
    struct streaming_request request =
        harness_exec_request(cmd, 3, false, STREAMING_STDOUT | STREAMING_STDERR);

    skip_without("HOSTCRI_WSCLIENT");
    json_t *result = run_go_client("HOSTCRI_WSCLIENT", &request, "-mode exec");
    assert_string_equal(get(result, "stdout"), "hi\n");
    assert_string_equal(get(result, "stderr"), "err\n");
    assert_non_null(strstr(get(result, "error"), "\"reason\":\"NonZeroExitCode\""));
    assert_non_null(strstr(get(result, "error"), "{\"reason\":\"ExitCode\",\"message\":\"3\"}"));
    assert_int_equal(json_integer_value(json_object_get(result, "close_code")), 1000);
    json_decref(result);
}

static void test_interop_ws_spdy_tunnel(void **state)
{
    struct streaming_request request = {.kind = STREAMING_PORT_FORWARD, .pod_sandbox_id = "p0d"};
    struct pod_server pod;

    skip_without("HOSTCRI_WSCLIENT");
    pod_server_start(&pod, 1);
    _cleanup_free_ char *args = xasprintf("-mode tunnel -port %u", pod.port);
    json_t *result = run_go_client("HOSTCRI_WSCLIENT", &request, args);
    pod_server_join(&pod);
    assert_string_equal(get(result, "protocol"), "SPDY/3.1+portforward.k8s.io");
    assert_string_equal(get(result, "data"), POD_RESPONSE);
    assert_string_equal(get(result, "error"), "");
    json_decref(result);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interop_exit_code),
        cmocka_unit_test(test_interop_stdin_eof),
        cmocka_unit_test(test_interop_bulk_output),
        cmocka_unit_test(test_interop_ws5_stdin_close_signal),
        cmocka_unit_test(test_interop_ws5_exit_code),
        cmocka_unit_test(test_interop_ws_spdy_tunnel),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
