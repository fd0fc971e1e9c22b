/*
 * The streaming server against WebSocket clients: the recorded scripted-client sessions (v4,
 * v4.base64, channel.k8s.io) replayed with a fresh token, crictl's v5 handshake with v5 frames,
 * and crictl's port-forward handshake carrying the recorded SPDY port-forward session. Commands
 * run as host processes through the test backend, which stands in for a container.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "common/util.h"
#include "cri/streaming/spdy.h"
#include "cri/streaming/websocket.h"
#include "harness.h"

#define KIND_MESSAGE 2
#define KIND_CLOSE 8

static const char *const exit3_cmd[] = {"sh", "-c", "echo hi; echo err >&2; exit 3"};
static const char *const head3_cmd[] = {"head", "-n", "3"};
static const char *const cat_cmd[] = {"cat"};
static const char *const sh_cmd[] = {"sh"};

static void replay_ws(struct harness *harness, struct replay *replay)
{
    replay->websocket = true;
    harness_init(harness, NULL);
    harness_replay(harness, replay);
    assert_true(str_has_prefix(replay->response_head, "HTTP/1.1 101 Switching Protocols\r\n"));
}

/* The recorded server payload of channel, concatenated. */
static void recorded_channel(json_t *timeline, unsigned channel, struct strbuf *out)
{
    for (size_t i = 0; i < json_array_size(timeline); i++) {
        json_t *entry = json_array_get(timeline, i);
        size_t length;

        if (!wire_entry_is(entry, "dir", "s2c") ||
            (!wire_entry_is(entry, "kind", "WS_BINARY") &&
             !wire_entry_is(entry, "kind", "WS_TEXT")) ||
            json_integer_value(json_object_get(entry, "channel")) != channel)
            continue;
        _cleanup_free_ unsigned char *data = wire_entry_data(entry, &length);
        strbuf_append(out, data, length);
    }
}

/* Checks the frame kinds: the ready message on ready_channel first, close 1000 last. */
static void check_frame_order(const struct replay *replay, unsigned ready_channel)
{
    assert_true(replay->frame_count >= 2);
    assert_int_equal(replay->frames[0].kind, KIND_MESSAGE);
    assert_int_equal(replay->frames[0].stream, ready_channel);
    assert_int_equal(replay->frames[0].data.length, 0);
    const struct received_frame *last = &replay->frames[replay->frame_count - 1];
    assert_int_equal(last->kind, KIND_CLOSE);
    assert_int_equal(last->value, WEBSOCKET_CLOSE_NORMAL);
}

/* Compares channel payloads with the recording; the status by status, reason and details. */
static void check_channels(const struct replay *replay, bool json_status)
{
    for (unsigned channel = 1; channel <= 3; channel++) {
        _cleanup_strbuf_ struct strbuf expected = STRBUF_INIT;
        _cleanup_strbuf_ struct strbuf actual = STRBUF_INIT;

        recorded_channel(replay->timeline, channel, &expected);
        replay_stream_data(replay, KIND_MESSAGE, channel, &actual);
        if (channel == 3 && json_status) {
            harness_check_status(&actual, &expected);
            continue;
        }
        assert_int_equal(actual.length, expected.length);
        if (actual.length > 0)
            assert_memory_equal(actual.data, expected.data, actual.length);
    }
}

static void test_ws4_exec_exit_code(void **state)
{
    struct harness harness;
    struct streaming_request request =
        harness_exec_request(exit3_cmd, 3, false, STREAMING_STDOUT | STREAMING_STDERR);
    struct replay replay = {.name = "ws4-exec-exit3", .request = &request};

    replay_ws(&harness, &replay);
    /* The client offers v5 first; the recorded server lacked it and chose v4. */
    assert_non_null(strstr(replay.response_head, "Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n"));
    assert_non_null(
        strstr(replay.response_head, "Sec-WebSocket-Accept: /N8O6KDf34EC3+4Qj2fPRzS86uw=\r\n"));
    check_frame_order(&replay, 1);
    check_channels(&replay, true);
    replay_free(&replay);
    harness_free(&harness);
}

static void test_ws4_base64_exec(void **state)
{
    struct harness harness;
    struct streaming_request request =
        harness_exec_request(exit3_cmd, 3, false, STREAMING_STDOUT | STREAMING_STDERR);
    struct replay replay = {.name = "ws4b64-exec-exit3", .request = &request};

    replay_ws(&harness, &replay);
    assert_non_null(
        strstr(replay.response_head, "Sec-WebSocket-Protocol: v4.base64.channel.k8s.io\r\n"));
    check_frame_order(&replay, 1);
    check_channels(&replay, true);
    replay_free(&replay);
    harness_free(&harness);
}

static void test_ws1_exec_text_status(void **state)
{
    struct harness harness;
    struct streaming_request request =
        harness_exec_request(exit3_cmd, 3, false, STREAMING_STDOUT | STREAMING_STDERR);
    struct replay replay = {.name = "ws1-exec-exit3", .request = &request};

    replay_ws(&harness, &replay);
    assert_non_null(strstr(replay.response_head, "Sec-WebSocket-Protocol: channel.k8s.io\r\n"));
    check_frame_order(&replay, 1);
    /* channel.k8s.io carries the error as text; here it even has the recorded wording. */
    check_channels(&replay, false);
    replay_free(&replay);
    harness_free(&harness);
}

static void test_ws4_exec_stdin(void **state)
{
    struct harness harness;
    struct streaming_request request = harness_exec_request(
        head3_cmd, 3, false, STREAMING_STDIN | STREAMING_STDOUT | STREAMING_STDERR);
    struct replay replay = {.name = "ws4-exec-stdin", .request = &request};

    replay_ws(&harness, &replay);
    check_frame_order(&replay, 1);
    check_channels(&replay, true);
    replay_free(&replay);
    harness_free(&harness);
}

static void test_ws4_close_signal_ignored(void **state)
{
    struct harness harness;
    struct streaming_request request = harness_exec_request(
        cat_cmd, 1, false, STREAMING_STDIN | STREAMING_STDOUT | STREAMING_STDERR);
    struct replay replay = {.name = "ws4-exec-stdin-closesignal", .request = &request};
    _cleanup_strbuf_ struct strbuf output = STRBUF_INIT;

    replay_ws(&harness, &replay);
    /* v4 has no stdin EOF: cat runs until the client's close frame, and the server kills it. */
    check_frame_order(&replay, 1);
    replay_stream_data(&replay, KIND_MESSAGE, 1, &output);
    assert_int_equal(output.length, 6);
    assert_memory_equal(output.data, "line1\n", 6);
    assert_int_equal(harness.backend.killed, 1);
    replay_free(&replay);
    harness_free(&harness);
}

static void test_ws4_exec_tty_resize(void **state)
{
    struct harness harness;
    struct streaming_request request =
        harness_exec_request(sh_cmd, 1, true, STREAMING_STDIN | STREAMING_STDOUT);
    struct replay replay = {.name = "ws4-exec-tty", .request = &request};
    _cleanup_strbuf_ struct strbuf output = STRBUF_INIT;
    _cleanup_strbuf_ struct strbuf status = STRBUF_INIT;

    replay_ws(&harness, &replay);
    check_frame_order(&replay, 1);
    replay_stream_data(&replay, KIND_MESSAGE, 1, &output);
    replay_stream_data(&replay, KIND_MESSAGE, 3, &status);
    char *first = strstr(output.data, "24 80");
    assert_non_null(first);
    assert_non_null(strstr(first, "40 120"));
    assert_non_null(strstr(status.data, "\"status\":\"Success\""));
    replay_free(&replay);
    harness_free(&harness);
}

static void test_ws4_attach(void **state)
{
    struct harness harness;
    struct streaming_request request = {
        .kind = STREAMING_ATTACH,
        .container_id = "c0ffee",
        .streams = STREAMING_STDIN | STREAMING_STDOUT | STREAMING_STDERR,
    };
    struct replay replay = {.name = "ws4-attach", .request = &request};
    _cleanup_strbuf_ struct strbuf output = STRBUF_INIT;
    _cleanup_strbuf_ struct strbuf errors = STRBUF_INIT;

    replay_ws(&harness, &replay);
    check_frame_order(&replay, 1);
    replay_stream_data(&replay, KIND_MESSAGE, 1, &output);
    replay_stream_data(&replay, KIND_MESSAGE, 2, &errors);
    assert_string_equal(output.data, "hello\n");
    assert_string_equal(errors.data, "err\n");
    /* An attach never kills the container. */
    assert_int_equal(harness.backend.killed, 0);
    replay_free(&replay);
    harness_free(&harness);
}

static void test_ws4_port_forward(void **state)
{
    struct harness harness;
    struct pod_server pod;
    int32_t port;
    struct streaming_request request = {.kind = STREAMING_PORT_FORWARD, .pod_sandbox_id = "p0d"};
    struct replay replay = {.name = "ws4-portforward", .request = &request};
    _cleanup_strbuf_ struct strbuf data = STRBUF_INIT;

    pod_server_start(&pod, 1);
    port = pod.port;
    request.ports = &port;
    request.port_count = 1;
    replay_ws(&harness, &replay);
    pod_server_join(&pod);

    /* Channels 0 (data) and 1 (error) start with the port, 2 bytes little-endian. */
    uint8_t prefix[2] = {port & 0xff, port >> 8};
    assert_true(replay.frame_count >= 3);
    assert_int_equal(replay.frames[0].stream, 0);
    assert_int_equal(replay.frames[0].data.length, 2);
    assert_memory_equal(replay.frames[0].data.data, prefix, 2);
    assert_int_equal(replay.frames[1].stream, 1);
    assert_memory_equal(replay.frames[1].data.data, prefix, 2);
    for (size_t i = 2; i < replay.frame_count; i++) {
        if (replay.frames[i].kind == KIND_MESSAGE && replay.frames[i].stream == 0)
            strbuf_append(&data, replay.frames[i].data.data, replay.frames[i].data.length);
        assert_false(replay.frames[i].kind == KIND_MESSAGE && replay.frames[i].stream == 1);
    }
    assert_string_equal(data.data, POD_RESPONSE);
    assert_int_equal(replay.frames[replay.frame_count - 1].kind, KIND_CLOSE);
    assert_int_equal(replay.frames[replay.frame_count - 1].value, WEBSOCKET_CLOSE_NORMAL);
    replay_free(&replay);
    harness_free(&harness);
}

/* crictl's v5 handshake (recorded against a server that refused it), then v5 frames. */
static void test_ws5_close_signal_ends_stdin(void **state)
{
    struct harness harness;
    struct streaming_request request = harness_exec_request(
        cat_cmd, 1, false, STREAMING_STDIN | STREAMING_STDOUT | STREAMING_STDERR);
    struct strbuf rest = STRBUF_INIT;
    struct websocket_protocol_info info;
    struct websocket_callbacks none = {0};
    int fd;

    harness_init(&harness, NULL);
    _cleanup_free_ char *url = harness_issue(&harness, &request);
    _cleanup_free_ char *head = harness_recorded_head("crictl-ws-exec-stdin", NULL, url, NULL);
    harness_resume(&harness);

    _cleanup_free_ char *response = harness_handshake(&harness, head, &fd, &rest);
    assert_true(str_has_prefix(response, "HTTP/1.1 101 "));
    assert_non_null(strstr(response, "Sec-WebSocket-Protocol: v5.channel.k8s.io\r\n"));

    /* stdin "hello\n", then the close signal for stdin: cat ends and the exec succeeds. */
    assert_int_equal(websocket_protocol_info(WEBSOCKET_PROTOCOL_V5, &info), 0);
    struct websocket_session *client = websocket_session_new(false, &info, 1 << 20, &none, NULL);
    struct websocket_protocol_info raw = info;
    raw.framing = WEBSOCKET_FRAMING_RAW;
    struct websocket_session *signal = websocket_session_new(false, &raw, 1 << 20, &none, NULL);
    _cleanup_strbuf_ struct strbuf frames = STRBUF_INIT;
    websocket_session_send(client, 0, "hello\n", 6);
    websocket_session_flush(client, &frames);
    websocket_session_send(signal, 0, "\xff\x00", 2);
    websocket_session_flush(signal, &frames);
    harness_send(fd, frames.data, frames.length);

    _cleanup_strbuf_ struct strbuf received = STRBUF_INIT;
    strbuf_append(&received, rest.data, rest.length);
    harness_read_to_eof(fd, &received);
    close(fd);
    harness_pause(&harness);

    /* The ready message, "hello\n" on stdout, Success on the error channel, close 1000. */
    assert_non_null(memmem(received.data, received.length, "\x82\x01\x01", 3));
    assert_non_null(memmem(received.data, received.length, "\x01hello\n", 7));
    assert_non_null(
        memmem(received.data, received.length, "{\"metadata\":{},\"status\":\"Success\"}", 34));
    assert_non_null(memmem(received.data, received.length, "\x88\x02\x03\xe8", 4));
    assert_int_equal(harness.backend.killed, 0);

    websocket_session_free(client);
    websocket_session_free(signal);
    strbuf_free(&rest);
    harness_free(&harness);
}

/* crictl's port-forward handshake offers only SPDY tunnelled in WebSocket messages. */
static void test_ws_spdy_tunnel_port_forward(void **state)
{
    struct harness harness;
    struct pod_server pod;
    struct streaming_request request = {.kind = STREAMING_PORT_FORWARD, .pod_sandbox_id = "p0d"};
    struct replay replay = {
        .name = "spdy-portforward",
        .head_name = "crictl-ws-portforward",
        .request = &request,
        .websocket = true,
        .tunnel = true,
    };
    _cleanup_strbuf_ struct strbuf first = STRBUF_INIT;
    _cleanup_strbuf_ struct strbuf second = STRBUF_INIT;
    int replies = 0;

    pod_server_start(&pod, 2);
    replay.port_override = pod.port;
    harness_init(&harness, NULL);
    harness_replay(&harness, &replay);
    pod_server_join(&pod);

    assert_true(str_has_prefix(replay.response_head, "HTTP/1.1 101 "));
    assert_non_null(
        strstr(replay.response_head, "Sec-WebSocket-Protocol: SPDY/3.1+portforward.k8s.io\r\n"));
    for (size_t i = 0; i < replay.frame_count; i++)
        replies += replay.frames[i].kind == SPDY_SYN_REPLY;
    assert_int_equal(replies, 4);
    replay_stream_data(&replay, SPDY_DATA, 3, &first);
    replay_stream_data(&replay, SPDY_DATA, 7, &second);
    assert_string_equal(first.data, POD_RESPONSE);
    assert_string_equal(second.data, POD_RESPONSE);
    replay_free(&replay);
    harness_free(&harness);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ws4_exec_exit_code),
        cmocka_unit_test(test_ws4_base64_exec),
        cmocka_unit_test(test_ws1_exec_text_status),
        cmocka_unit_test(test_ws4_exec_stdin),
        cmocka_unit_test(test_ws4_close_signal_ignored),
        cmocka_unit_test(test_ws4_exec_tty_resize),
        cmocka_unit_test(test_ws4_attach),
        cmocka_unit_test(test_ws4_port_forward),
        cmocka_unit_test(test_ws5_close_signal_ends_stdin),
        cmocka_unit_test(test_ws_spdy_tunnel_port_forward),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
