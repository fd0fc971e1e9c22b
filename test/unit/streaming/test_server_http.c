/*
 * The streaming server's HTTP side: URLs and tokens, routing, protocol negotiation, request
 * limits and timeouts, and the RPC validation rules.
 */
#include <regex.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "common/util.h"
#include "cri/streaming/spdy.h"
#include "harness.h"

static const char *const sleep_cmd[] = {"sleep", "30"};

static const struct streaming_request exec_request = {
    .kind = STREAMING_EXEC,
    .container_id = "c0ffee",
    .cmd = sleep_cmd,
    .cmd_count = 2,
    .streams = STREAMING_STDOUT | STREAMING_STDERR,
};

/* Sends head (a complete request head) and returns everything the server sent until it closed. */
static char *exchange(struct harness *harness, const char *head)
{
    struct strbuf response = STRBUF_INIT;
    int fd = harness_connect(harness);

    harness_send(fd, head, strlen(head));
    harness_read_to_eof(fd, &response);
    close(fd);
    return strbuf_steal(&response);
}

/*
 * Connects and sends head and the client frames after it before reading anything, then reads
 * the response head. Returns the connection, and rest receives what followed the head.
 */
static int send_pipelined(struct harness *harness, const char *head, const void *frames,
                          size_t length, struct strbuf *rest)
{
    int fd = harness_connect(harness);

    harness_send(fd, head, strlen(head));
    harness_send(fd, frames, length);
    free(harness_read_response_head(fd, rest));
    return fd;
}

static void test_url_format(void **state)
{
    struct harness harness;
    regex_t pattern;
    struct streaming_request attach = exec_request;
    struct streaming_request forward = {.kind = STREAMING_PORT_FORWARD, .pod_sandbox_id = "p"};

    attach.kind = STREAMING_ATTACH;
    harness_init(&harness, NULL);
    assert_int_equal(regcomp(&pattern,
                             "^http://127\\.0\\.0\\.1:[0-9]+/(exec|attach|portforward)/"
                             "[A-Za-z0-9_-]{8}$",
                             REG_EXTENDED | REG_NOSUB),
                     0);
    _cleanup_free_ char *exec_url = harness_issue(&harness, &exec_request);
    _cleanup_free_ char *attach_url = harness_issue(&harness, &attach);
    _cleanup_free_ char *forward_url = harness_issue(&harness, &forward);
    assert_int_equal(regexec(&pattern, exec_url, 0, NULL, 0), 0);
    assert_int_equal(regexec(&pattern, attach_url, 0, NULL, 0), 0);
    assert_int_equal(regexec(&pattern, forward_url, 0, NULL, 0), 0);
    assert_non_null(strstr(exec_url, "/exec/"));
    assert_non_null(strstr(attach_url, "/attach/"));
    assert_non_null(strstr(forward_url, "/portforward/"));
    assert_string_not_equal(exec_url, attach_url);
    regfree(&pattern);
    harness_free(&harness);
}

static void test_ipv6_url_brackets(void **state)
{
    struct streaming_config config;
    struct streaming_server *server = NULL;
    struct error err = ERROR_INIT;
    uv_loop_t loop;

    streaming_config_init(&config);
    config.address = "::1";
    assert_int_equal(uv_loop_init(&loop), 0);
    if (streaming_server_start(&loop, &config, &host_backend_ops, NULL, &server, &err) < 0) {
        /* A machine without IPv6 loopback. */
        error_clear(&err);
        uv_run(&loop, UV_RUN_DEFAULT);
        uv_loop_close(&loop);
        skip();
    }
    assert_true(str_has_prefix(streaming_server_base_url(server), "http://[::1]:"));
    streaming_server_stop(server);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_invalid_address_fails(void **state)
{
    struct streaming_config config;
    struct streaming_server *server = NULL;
    struct error err = ERROR_INIT;
    uv_loop_t loop;

    streaming_config_init(&config);
    config.address = "not-an-address";
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(streaming_server_start(&loop, &config, &host_backend_ops, NULL, &server, &err),
                     -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "not-an-address"));
    error_clear(&err);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_token_reuse_not_found(void **state)
{
    struct harness harness;
    struct strbuf rest = STRBUF_INIT;

    harness_init(&harness, NULL);
    _cleanup_free_ char *url = harness_issue(&harness, &exec_request);
    _cleanup_free_ char *first = harness_recorded_head("spdy-token-reuse", "conn1", url, NULL);
    _cleanup_free_ char *second = harness_recorded_head("spdy-token-reuse", "conn2", url, NULL);
    harness_resume(&harness);

    int fd;
    _cleanup_free_ char *upgraded = harness_handshake(&harness, first, &fd, &rest);
    assert_non_null(strstr(upgraded, "HTTP/1.1 101 Switching Protocols\r\n"));
    close(fd);

    _cleanup_free_ char *response = exchange(&harness, second);
    assert_true(str_has_prefix(response, "HTTP/1.1 404 Not Found\r\n"));
    assert_non_null(strstr(response, "\r\n\r\n404 page not found\n"));
    harness_pause(&harness);
    strbuf_free(&rest);
    harness_free(&harness);
}

static void test_bad_protocol_recorded(void **state)
{
    struct harness harness;

    harness_init(&harness, NULL);
    _cleanup_free_ char *url1 = harness_issue(&harness, &exec_request);
    _cleanup_free_ char *url2 = harness_issue(&harness, &exec_request);
    _cleanup_free_ char *unknown = harness_recorded_head("spdy-bad-protocol", "conn1", url1, NULL);
    _cleanup_free_ char *missing = harness_recorded_head("spdy-bad-protocol", "conn2", url2, NULL);
    harness_resume(&harness);

    /* An unknown version: 403 with one accepted-version line per server protocol. */
    _cleanup_free_ char *forbidden = exchange(&harness, unknown);
    assert_true(str_has_prefix(forbidden, "HTTP/1.1 403 Forbidden\r\n"));
    assert_non_null(
        strstr(forbidden, "X-Accepted-Stream-Protocol-Versions: v4.channel.k8s.io\r\n"));
    assert_non_null(
        strstr(forbidden, "X-Accepted-Stream-Protocol-Versions: v3.channel.k8s.io\r\n"));
    assert_non_null(
        strstr(forbidden, "X-Accepted-Stream-Protocol-Versions: v2.channel.k8s.io\r\n"));
    assert_non_null(strstr(forbidden, "X-Accepted-Stream-Protocol-Versions: channel.k8s.io\r\n"));
    assert_non_null(strstr(forbidden, "unable to upgrade: unable to negotiate protocol: client "
                                      "supports [v9.channel.k8s.io], server accepts "
                                      "[v4.channel.k8s.io v3.channel.k8s.io v2.channel.k8s.io "
                                      "channel.k8s.io]\n"));

    /* No version at all: 400 with the reference wording. */
    _cleanup_free_ char *bad = exchange(&harness, missing);
    assert_true(str_has_prefix(bad, "HTTP/1.1 400 Bad Request\r\n"));
    assert_non_null(
        strstr(bad, "\r\n\r\nunable to upgrade: X-Stream-Protocol-Version is required\n"));
    harness_pause(&harness);
    harness_free(&harness);
}

static void test_websocket_bad_protocol(void **state)
{
    struct harness harness;
    static const char head_template[] = "GET %s HTTP/1.1\r\n"
                                        "Host: 127.0.0.1\r\n"
                                        "Connection: Upgrade\r\n"
                                        "Upgrade: websocket\r\n"
                                        "Sec-WebSocket-Key: soYIFGzzQiSSBHZUqjcwRg==\r\n"
                                        "Sec-WebSocket-Version: 13\r\n"
                                        "Sec-WebSocket-Protocol: v9.channel.k8s.io\r\n\r\n";

    harness_init(&harness, NULL);
    _cleanup_free_ char *url = harness_issue(&harness, &exec_request);
    _cleanup_free_ char *head = xasprintf(head_template, strstr(url + 7, "/"));
    harness_resume(&harness);
    _cleanup_free_ char *response = exchange(&harness, head);
    /* As recorded: a bare 403 without body, then the connection closes. */
    assert_string_equal(response, "HTTP/1.1 403 Forbidden\r\n\r\n");
    harness_pause(&harness);
    harness_free(&harness);
}

static void test_expired_token_not_found(void **state)
{
    struct harness harness;
    struct streaming_config config;

    streaming_config_init(&config);
    config.token_ttl_ms = 1;
    harness_init(&harness, &config);
    _cleanup_free_ char *url = harness_issue(&harness, &exec_request);
    _cleanup_free_ char *head = harness_recorded_head("spdy-exec-exit3", NULL, url, NULL);
    usleep(20 * 1000);
    harness_resume(&harness);
    _cleanup_free_ char *response = exchange(&harness, head);
    assert_true(str_has_prefix(response, "HTTP/1.1 404 Not Found\r\n"));
    harness_pause(&harness);
    harness_free(&harness);
}

static void test_pending_request_limit(void **state)
{
    struct harness harness;
    struct streaming_config config;
    struct error err = ERROR_INIT;
    char *url = NULL;

    streaming_config_init(&config);
    config.max_pending_requests = 2;
    harness_init(&harness, &config);
    free(harness_issue(&harness, &exec_request));
    free(harness_issue(&harness, &exec_request));
    assert_int_equal(streaming_server_issue_url(harness.server, &exec_request, &url, &err), -1);
    assert_int_equal(err.code, ERROR_RESOURCE_EXHAUSTED);
    assert_null(url);
    error_clear(&err);
    harness_free(&harness);
}

static void test_wrong_kind_burns_token(void **state)
{
    struct harness harness;

    harness_init(&harness, NULL);
    _cleanup_free_ char *url = harness_issue(&harness, &exec_request);
    _cleanup_free_ char *head = harness_recorded_head("spdy-exec-exit3", NULL, url, NULL);
    /* The same token on /attach/: 404, and the token is spent. */
    char *exec_path = strstr(head, "/exec/");
    _cleanup_free_ char *attach_head = xasprintf("POST /attach/%s", exec_path + strlen("/exec/"));
    harness_resume(&harness);

    _cleanup_free_ char *wrong = exchange(&harness, attach_head);
    assert_true(str_has_prefix(wrong, "HTTP/1.1 404 Not Found\r\n"));
    _cleanup_free_ char *again = exchange(&harness, head);
    assert_true(str_has_prefix(again, "HTTP/1.1 404 Not Found\r\n"));
    harness_pause(&harness);
    harness_free(&harness);
}

static void test_malformed_request_bad_request(void **state)
{
    struct harness harness;
    struct strbuf rest = STRBUF_INIT;
    static const char *const malformed[] = {
        "GARBAGE\r\n\r\n",
        "GET /exec/x HTTP/2.0\r\n\r\n",
        "GET /exec/x HTTP/1.1\r\nNo colon here\r\n\r\n",
        "GET /exec/x HTTP/1.1\r\n folded: header\r\n\r\n",
        "GET exec HTTP/1.1\r\n\r\n",
    };

    harness_init(&harness, NULL);
    _cleanup_free_ char *url = harness_issue(&harness, &exec_request);
    _cleanup_free_ char *head = harness_recorded_head("spdy-exec-exit3", NULL, url, NULL);
    harness_resume(&harness);
    for (size_t i = 0; i < ARRAY_SIZE(malformed); i++) {
        _cleanup_free_ char *response = exchange(&harness, malformed[i]);

        if (!str_has_prefix(response, "HTTP/1.1 400 Bad Request\r\n"))
            fail_msg("request %zu: expected 400, got \"%.40s\"", i, response);
    }

    /* A head over the limit: 431. */
    _cleanup_free_ char *huge = xmalloc(20000);
    memset(huge, 'a', 19999);
    huge[19999] = '\0';
    memcpy(huge, "GET /exec/x HTTP/1.1\r\nX: ", 25);
    _cleanup_free_ char *too_large = exchange(&harness, huge);
    assert_true(str_has_prefix(too_large, "HTTP/1.1 431 "));

    /* The server keeps serving. */
    int fd;
    _cleanup_free_ char *upgraded = harness_handshake(&harness, head, &fd, &rest);
    assert_true(str_has_prefix(upgraded, "HTTP/1.1 101 "));
    close(fd);
    harness_pause(&harness);
    strbuf_free(&rest);
    harness_free(&harness);
}

static void test_unknown_path_not_found(void **state)
{
    struct harness harness;
    static const char *const requests[] = {
        "GET / HTTP/1.1\r\n\r\n",
        "GET /exec/ HTTP/1.1\r\n\r\n",
        "GET /exec/abc/def HTTP/1.1\r\n\r\n",
        "GET /run/abcdefgh HTTP/1.1\r\n\r\n",
        "PUT /exec/abcdefgh HTTP/1.1\r\n\r\n",
    };

    harness_init(&harness, NULL);
    harness_resume(&harness);
    for (size_t i = 0; i < ARRAY_SIZE(requests); i++) {
        _cleanup_free_ char *response = exchange(&harness, requests[i]);

        assert_true(str_has_prefix(response, "HTTP/1.1 404 Not Found\r\n"));
    }
    harness_pause(&harness);
    harness_free(&harness);
}

static void test_request_timeout_closes(void **state)
{
    struct harness harness;
    struct streaming_config config;
    struct strbuf response = STRBUF_INIT;

    streaming_config_init(&config);
    config.request_timeout_ms = 100;
    harness_init(&harness, &config);
    harness_resume(&harness);
    int fd = harness_connect(&harness);
    harness_send(fd, "GET /exec/", 10);
    harness_read_to_eof(fd, &response);
    assert_int_equal(response.length, 0);
    close(fd);
    harness_pause(&harness);
    strbuf_free(&response);
    harness_free(&harness);
}

static void test_stream_creation_timeout(void **state)
{
    struct harness harness;
    struct streaming_config config;
    struct wire_bytes bytes;
    struct strbuf rest = STRBUF_INIT;
    struct spdy_parser parser;
    struct spdy_frame frame = {0};
    struct error err = ERROR_INIT;
    int goaways = 0, replies = 0, data_frames = 0;

    streaming_config_init(&config);
    config.stream_creation_timeout_ms = 200;
    harness_init(&harness, &config);
    _cleanup_free_ char *url = harness_issue(&harness, &exec_request);
    _cleanup_free_ char *head = harness_recorded_head("spdy-exec-exit3", NULL, url, &bytes);
    size_t head_length = wire_head_length(&bytes);
    harness_resume(&harness);

    /* Only the first of the three streams (the error stream, 49 bytes), then silence. */
    int fd = send_pipelined(&harness, head, bytes.data + head_length, 49, &rest);
    harness_read_to_eof(fd, &rest);
    close(fd);

    spdy_parser_init(&parser, NULL);
    spdy_parser_feed(&parser, rest.data, rest.length);
    while (spdy_parser_next(&parser, &frame, &err) == 1) {
        replies += frame.type == SPDY_SYN_REPLY;
        goaways += frame.type == SPDY_GOAWAY;
        data_frames += frame.type == SPDY_DATA;
    }
    /* The stream was answered, nothing ran, and the connection ended with GOAWAY. */
    assert_int_equal(replies, 1);
    assert_int_equal(data_frames, 0);
    assert_int_equal(goaways, 1);
    assert_int_equal(harness.backend.started, 0);
    spdy_frame_clear(&frame);
    spdy_parser_free(&parser);
    harness_pause(&harness);
    strbuf_free(&rest);
    wire_bytes_free(&bytes);
    harness_free(&harness);
}

static void test_idle_timeout_closes(void **state)
{
    struct harness harness;
    struct streaming_config config;
    struct strbuf rest = STRBUF_INIT;

    streaming_config_init(&config);
    config.idle_timeout_ms = 100;
    config.stream_creation_timeout_ms = 0;
    harness_init(&harness, &config);
    _cleanup_free_ char *url = harness_issue(&harness, &exec_request);
    _cleanup_free_ char *head = harness_recorded_head("spdy-exec-exit3", NULL, url, NULL);
    harness_resume(&harness);

    /* Upgraded, then silent: the server closes the connection without a status. */
    int fd;
    _cleanup_free_ char *response = harness_handshake(&harness, head, &fd, &rest);
    assert_true(str_has_prefix(response, "HTTP/1.1 101 "));
    harness_read_to_eof(fd, &rest);
    assert_int_equal(rest.length, 0);
    close(fd);
    harness_pause(&harness);
    strbuf_free(&rest);
    harness_free(&harness);
}

static void test_connection_limit(void **state)
{
    struct harness harness;
    struct streaming_config config;

    streaming_config_init(&config);
    config.max_connections = 1;
    harness_init(&harness, &config);
    harness_resume(&harness);
    int idle = harness_connect(&harness);
    usleep(50 * 1000); /* let the server accept the first connection */
    _cleanup_free_ char *response = exchange(&harness, "GET / HTTP/1.1\r\n\r\n");
    assert_true(str_has_prefix(response, "HTTP/1.1 503 "));
    close(idle);
    harness_pause(&harness);
    harness_free(&harness);
}

static void test_client_gone_kills_exec(void **state)
{
    struct harness harness;
    struct wire_bytes bytes;
    struct strbuf rest = STRBUF_INIT;

    harness_init(&harness, NULL);
    _cleanup_free_ char *url = harness_issue(&harness, &exec_request);
    _cleanup_free_ char *head = harness_recorded_head("spdy-exec-exit3", NULL, url, &bytes);
    size_t head_length = wire_head_length(&bytes);
    harness_resume(&harness);

    int fd =
        send_pipelined(&harness, head, bytes.data + head_length, bytes.length - head_length, &rest);

    /* Wait for the three SYN_REPLYs: the process starts with the last stream. */
    struct spdy_parser parser;
    struct spdy_frame frame = {0};
    struct error err = ERROR_INIT;
    int replies = 0;
    spdy_parser_init(&parser, NULL);
    spdy_parser_feed(&parser, rest.data, rest.length);
    while (replies < 3) {
        char buffer[4096];
        int rc;

        while ((rc = spdy_parser_next(&parser, &frame, &err)) == 1)
            replies += frame.type == SPDY_SYN_REPLY;
        assert_int_equal(rc, 0);
        if (replies >= 3)
            break;
        ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
        assert_true(n > 0);
        spdy_parser_feed(&parser, buffer, (size_t)n);
    }
    spdy_frame_clear(&frame);
    spdy_parser_free(&parser);
    close(fd);

    /* The server notices the close and kills the process through the backend. */
    int killed = 0;
    for (int attempt = 0; attempt < 200 && killed == 0; attempt++) {
        usleep(50 * 1000);
        harness_pause(&harness);
        killed = harness.backend.killed;
        if (killed == 0)
            harness_resume(&harness);
    }
    harness_pause(&harness);
    assert_int_equal(harness.backend.started, 1);
    assert_int_equal(killed, 1);
    strbuf_free(&rest);
    wire_bytes_free(&bytes);
    harness_free(&harness);
}

/* An exec whose command cannot start: the v4 Status is an InternalError with code 500. */
static void test_exec_start_failure_status(void **state)
{
    static const char *const missing_cmd[] = {"/nonexistent/command"};
    struct streaming_request request = exec_request;
    struct harness harness;
    struct wire_bytes bytes;
    struct strbuf rest = STRBUF_INIT, status = STRBUF_INIT;
    struct spdy_parser parser;
    struct spdy_frame frame = {0};
    struct error err = ERROR_INIT;
    json_error_t error;
    bool stdout_fin = false;

    request.cmd = missing_cmd;
    request.cmd_count = 1;
    harness_init(&harness, NULL);
    _cleanup_free_ char *url = harness_issue(&harness, &request);
    _cleanup_free_ char *head = harness_recorded_head("spdy-exec-exit3", NULL, url, &bytes);
    size_t head_length = wire_head_length(&bytes);
    harness_resume(&harness);

    /* The recorded client bytes are its three SYN_STREAMs (error, stdout, stderr). */
    int fd =
        send_pipelined(&harness, head, bytes.data + head_length, bytes.length - head_length, &rest);
    harness_read_to_eof(fd, &rest);
    close(fd);
    harness_pause(&harness);

    spdy_parser_init(&parser, NULL);
    spdy_parser_feed(&parser, rest.data, rest.length);
    while (spdy_parser_next(&parser, &frame, &err) == 1) {
        if (frame.type == SPDY_DATA && frame.stream_id == 1)
            strbuf_append(&status, frame.data, frame.data_length);
        if (frame.type == SPDY_DATA && frame.stream_id == 3 && (frame.flags & SPDY_FLAG_FIN))
            stdout_fin = true;
    }
    json_t *object = json_loadb(status.data, status.length, 0, &error);
    assert_non_null(object);
    assert_string_equal(json_string_value(json_object_get(object, "status")), "Failure");
    assert_string_equal(json_string_value(json_object_get(object, "reason")), "InternalError");
    assert_int_equal(json_integer_value(json_object_get(object, "code")), 500);
    assert_non_null(strstr(json_string_value(json_object_get(object, "message")),
                           "error executing command in container"));
    /* Nothing ran, so stdout was never opened: the client sees it reset, not finished. */
    assert_false(stdout_fin);
    json_decref(object);
    spdy_frame_clear(&frame);
    spdy_parser_free(&parser);
    strbuf_free(&rest);
    strbuf_free(&status);
    wire_bytes_free(&bytes);
    harness_free(&harness);
}

static void test_validate_requests(void **state)
{
    struct error err = ERROR_INIT;
    const unsigned out = STREAMING_STDOUT,
                   all = STREAMING_STDIN | STREAMING_STDOUT | STREAMING_STDERR;

    assert_int_equal(streaming_validate_exec_request("c", 1, false, all, &err), 0);
    assert_int_equal(streaming_validate_exec_request("c", 1, true, STREAMING_STDIN | out, &err), 0);

    assert_int_equal(streaming_validate_exec_request("", 1, false, out, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_string_equal(err.message, "missing required container_id");
    error_clear(&err);
    assert_int_equal(streaming_validate_exec_request(NULL, 1, false, out, &err), -1);
    error_clear(&err);
    assert_int_equal(streaming_validate_exec_request("c", 1, true, all, &err), -1);
    assert_string_equal(err.message, "tty and stderr cannot both be true");
    error_clear(&err);
    assert_int_equal(streaming_validate_exec_request("c", 1, false, 0, &err), -1);
    assert_string_equal(err.message, "one of stdin, stdout, or stderr must be set");
    error_clear(&err);
    assert_int_equal(streaming_validate_exec_request("c", 0, false, out, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    error_clear(&err);

    assert_int_equal(streaming_validate_attach_request("c", false, out, &err), 0);
    assert_int_equal(streaming_validate_attach_request("", false, out, &err), -1);
    error_clear(&err);
    assert_int_equal(streaming_validate_attach_request("c", true, STREAMING_STDERR, &err), -1);
    error_clear(&err);

    static const int32_t good_ports[] = {1, 80, 65535}, bad_ports[] = {80, 0}, big[] = {65536};
    assert_int_equal(streaming_validate_port_forward_request("p", NULL, 0, &err), 0);
    assert_int_equal(streaming_validate_port_forward_request("p", good_ports, 3, &err), 0);
    assert_int_equal(streaming_validate_port_forward_request("p", bad_ports, 2, &err), -1);
    assert_string_equal(err.message, "invalid port 0: expected 1-65535");
    error_clear(&err);
    assert_int_equal(streaming_validate_port_forward_request("p", big, 1, &err), -1);
    error_clear(&err);
    assert_int_equal(streaming_validate_port_forward_request("", NULL, 0, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_string_equal(err.message, "missing required pod_sandbox_id");
    error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_url_format),
        cmocka_unit_test(test_ipv6_url_brackets),
        cmocka_unit_test(test_invalid_address_fails),
        cmocka_unit_test(test_token_reuse_not_found),
        cmocka_unit_test(test_bad_protocol_recorded),
        cmocka_unit_test(test_websocket_bad_protocol),
        cmocka_unit_test(test_expired_token_not_found),
        cmocka_unit_test(test_pending_request_limit),
        cmocka_unit_test(test_wrong_kind_burns_token),
        cmocka_unit_test(test_malformed_request_bad_request),
        cmocka_unit_test(test_unknown_path_not_found),
        cmocka_unit_test(test_request_timeout_closes),
        cmocka_unit_test(test_stream_creation_timeout),
        cmocka_unit_test(test_idle_timeout_closes),
        cmocka_unit_test(test_connection_limit),
        cmocka_unit_test(test_client_gone_kills_exec),
        cmocka_unit_test(test_exec_start_failure_status),
        cmocka_unit_test(test_validate_requests),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
