/*
 * The streaming server against the recorded SPDY clients: each recorded client byte stream is
 * replayed with a fresh token, and the frames the server sends back must have the kind and
 * order of the recorded server (containerd 1.6.20): one SYN_REPLY per SYN_STREAM, output on
 * the right streams, the Status on the error stream, resets, GOAWAY, close. The commands run
 * as host processes through the test backend, which stands in for a container.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
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

/* A per-stream outline: S reply, D data (consecutive frames merged), F fin, R reset. */
static void outline_append(struct strbuf *outline, int kind, uint8_t flags, size_t length)
{
    char last = outline->length ? outline->data[outline->length - 1] : 0;

    if (kind == SPDY_SYN_REPLY)
        strbuf_append_char(outline, 'S');
    else if (kind == SPDY_RST_STREAM)
        strbuf_append_char(outline, 'R');
    else if (kind == SPDY_DATA) {
        if (length > 0 && last != 'D')
            strbuf_append_char(outline, 'D');
        if (flags & SPDY_FLAG_FIN)
            strbuf_append_char(outline, 'F');
    }
}

static void recorded_outline(json_t *timeline, uint32_t stream, struct strbuf *outline,
                             struct strbuf *data)
{
    static const char *const kinds[] = {"DATA", "SYN_STREAM", "SYN_REPLY", "RST_STREAM"};

    for (size_t i = 0; i < json_array_size(timeline); i++) {
        json_t *entry = json_array_get(timeline, i);
        const char *kind = json_string_value(json_object_get(entry, "kind"));

        if (!wire_entry_is(entry, "dir", "s2c") ||
            json_integer_value(json_object_get(entry, "stream")) != stream)
            continue;
        for (int k = 0; k < 4; k++) {
            if (strcmp(kind, kinds[k]) != 0)
                continue;
            size_t length = 0;
            _cleanup_free_ unsigned char *bytes = k == 0 ? wire_entry_data(entry, &length) : NULL;
            outline_append(outline, k, (uint8_t)json_integer_value(json_object_get(entry, "flags")),
                           length);
            if (bytes)
                strbuf_append(data, bytes, length);
        }
    }
}

static void received_outline(const struct replay *replay, uint32_t stream, struct strbuf *outline)
{
    for (size_t i = 0; i < replay->frame_count; i++) {
        const struct received_frame *frame = &replay->frames[i];

        if (frame->kind != SPDY_GOAWAY && frame->kind != SPDY_PING && frame->stream == stream)
            outline_append(outline, frame->kind, frame->flags, frame->data.length);
    }
}

/* True when the recorded client half-closed stream (DATA with FIN). */
static bool client_finished(json_t *timeline, uint32_t stream)
{
    for (size_t i = 0; i < json_array_size(timeline); i++) {
        json_t *entry = json_array_get(timeline, i);

        if (wire_entry_is(entry, "dir", "c2s") && wire_entry_is(entry, "kind", "DATA") &&
            json_integer_value(json_object_get(entry, "stream")) == stream &&
            (json_integer_value(json_object_get(entry, "flags")) & SPDY_FLAG_FIN))
            return true;
    }
    return false;
}

/*
 * Drops a final reset. The reference server resets a stream that the client has already ended
 * in some recordings and not in others (it depends on when its copy loop saw the FIN); the
 * client ignores either.
 */
static void drop_final_reset(struct strbuf *outline)
{
    if (outline->length > 0 && outline->data[outline->length - 1] == 'R')
        outline->data[--outline->length] = '\0';
}

/* Client stream ids and types, from the recorded SYN_STREAMs. */
static size_t client_streams(json_t *timeline, uint32_t ids[16], const char *types[16])
{
    size_t count = 0;

    for (size_t i = 0; i < json_array_size(timeline) && count < 16; i++) {
        json_t *entry = json_array_get(timeline, i);

        if (wire_entry_is(entry, "dir", "c2s") && wire_entry_is(entry, "kind", "SYN_STREAM")) {
            ids[count] = (uint32_t)json_integer_value(json_object_get(entry, "stream"));
            types[count] = json_string_value(json_object_get(entry, "stream_type"));
            count++;
        }
    }
    return count;
}

enum data_check {
    DATA_EXACT, /* output equals the recorded output */
    DATA_ANY,   /* output differs on the host (terminal sessions): checked by the test */
};

/*
 * Checks a replayed remote command session against its recording: SYN_REPLYs in SYN_STREAM
 * order, the same outline per stream, the status after all output, GOAWAY last.
 */
static void check_remote_command(const struct replay *replay, enum data_check data_check)
{
    uint32_t ids[16];
    const char *types[16];
    size_t count = client_streams(replay->timeline, ids, types);
    size_t replies = 0, status_index = 0, last_fin = 0;
    uint32_t error_stream = 0;

    assert_non_null(strstr(replay->response_head, "HTTP/1.1 101 Switching Protocols\r\n"));
    assert_non_null(strstr(replay->response_head, "X-Stream-Protocol-Version: v4.channel.k8s.io"));

    for (size_t i = 0; i < replay->frame_count; i++) {
        const struct received_frame *frame = &replay->frames[i];

        if (frame->kind == SPDY_SYN_REPLY) {
            assert_true(replies < count);
            assert_int_equal(frame->stream, ids[replies]);
            replies++;
        }
    }
    assert_int_equal(replies, count);

    for (size_t s = 0; s < count; s++) {
        _cleanup_strbuf_ struct strbuf expected = STRBUF_INIT;
        _cleanup_strbuf_ struct strbuf actual = STRBUF_INIT;
        _cleanup_strbuf_ struct strbuf expected_data = STRBUF_INIT;
        _cleanup_strbuf_ struct strbuf actual_data = STRBUF_INIT;

        recorded_outline(replay->timeline, ids[s], &expected, &expected_data);
        received_outline(replay, ids[s], &actual);
        replay_stream_data(replay, SPDY_DATA, ids[s], &actual_data);
        if (client_finished(replay->timeline, ids[s])) {
            drop_final_reset(&expected);
            drop_final_reset(&actual);
        }
        if (strcmp(expected.data, actual.data) != 0)
            fail_msg("%s: stream %u (%s): expected frames %s, received %s", replay->name, ids[s],
                     types[s], expected.data, actual.data);
        if (strcmp(types[s], "error") == 0) {
            error_stream = ids[s];
            harness_check_status(&actual_data, &expected_data);
        } else if (data_check == DATA_EXACT) {
            assert_int_equal(actual_data.length, expected_data.length);
            if (actual_data.length > 0)
                assert_memory_equal(actual_data.data, expected_data.data, actual_data.length);
        }
    }

    /* Order: every FIN of an output before the status, GOAWAY last. */
    for (size_t i = 0; i < replay->frame_count; i++) {
        const struct received_frame *frame = &replay->frames[i];

        if (frame->kind == SPDY_DATA && frame->stream == error_stream && frame->data.length)
            status_index = i;
        if (frame->kind == SPDY_DATA && (frame->flags & SPDY_FLAG_FIN))
            last_fin = i;
    }
    assert_true(last_fin < status_index);
    assert_int_equal(replay->frames[replay->frame_count - 1].kind, SPDY_GOAWAY);
}

static const char *const exit3_cmd[] = {"sh", "-c", "echo hi; echo err >&2; exit 3"};
static const char *const hello_cmd[] = {"echo", "-n", "hello"};
static const char *const cat_cmd[] = {"cat"};
static const char *const sh_cmd[] = {"sh"};
static const char *const ping_cmd[] = {"sh", "-c", "sleep 1; echo done"};
static const char *const bulk_cmd[] = {"seq", "1", "20000"};

/* Starts a server, replays the recorded case of replay and checks the session against it. */
static void replay_remote_command(struct harness *harness, struct replay *replay,
                                  enum data_check data_check)
{
    harness_init(harness, NULL);
    harness_replay(harness, replay);
    check_remote_command(replay, data_check);
}

static void run_exec_case(const char *name, struct streaming_request request,
                          enum data_check data_check)
{
    struct harness harness;
    struct replay replay = {.name = name, .request = &request};

    replay_remote_command(&harness, &replay, data_check);
    replay_free(&replay);
    harness_free(&harness);
}

static void test_spdy_exec_exit_code(void **state)
{
    run_exec_case("spdy-exec-exit3",
                  harness_exec_request(exit3_cmd, 3, false, STREAMING_STDOUT | STREAMING_STDERR),
                  DATA_EXACT);
}

static void test_spdy_exec_success(void **state)
{
    run_exec_case("spdy-exec-success",
                  harness_exec_request(hello_cmd, 3, false, STREAMING_STDOUT | STREAMING_STDERR),
                  DATA_EXACT);
}

static void test_spdy_exec_stdin_eof(void **state)
{
    run_exec_case("spdy-exec-stdin",
                  harness_exec_request(cat_cmd, 1, false,
                                       STREAMING_STDIN | STREAMING_STDOUT | STREAMING_STDERR),
                  DATA_EXACT);
}

static void test_spdy_exec_ping(void **state)
{
    struct harness harness;
    struct streaming_request request =
        harness_exec_request(ping_cmd, 3, false, STREAMING_STDOUT | STREAMING_STDERR);
    struct replay replay = {.name = "spdy-exec-ping", .request = &request};
    uint32_t pings[2];
    size_t ping_count = 0;

    replay_remote_command(&harness, &replay, DATA_EXACT);
    for (size_t i = 0; i < replay.frame_count; i++) {
        if (replay.frames[i].kind == SPDY_PING && ping_count < 2)
            pings[ping_count++] = replay.frames[i].value;
    }
    assert_int_equal(ping_count, 2);
    assert_int_equal(pings[0], 1);
    assert_int_equal(pings[1], 3);
    replay_free(&replay);
    harness_free(&harness);
}

static void test_spdy_exec_bulk_output(void **state)
{
    run_exec_case("spdy-exec-bulk",
                  harness_exec_request(bulk_cmd, 3, false, STREAMING_STDOUT | STREAMING_STDERR),
                  DATA_EXACT);
}

static void test_spdy_exec_tty_resize(void **state)
{
    struct harness harness;
    struct streaming_request request =
        harness_exec_request(sh_cmd, 1, true, STREAMING_STDIN | STREAMING_STDOUT);
    struct replay replay = {.name = "spdy-exec-tty", .request = &request};
    _cleanup_strbuf_ struct strbuf output = STRBUF_INIT;

    replay_remote_command(&harness, &replay, DATA_ANY);
    replay_stream_data(&replay, SPDY_DATA, 5, &output);
    /* stty size prints rows and columns: 24 80 first, 40 120 after the resize. */
    char *first = strstr(output.data, "24 80");
    assert_non_null(first);
    assert_non_null(strstr(first, "40 120"));
    assert_true(harness.backend.resizes >= 1);
    replay_free(&replay);
    harness_free(&harness);
}

static void test_spdy_attach(void **state)
{
    struct harness harness;
    struct streaming_request request = {
        .kind = STREAMING_ATTACH,
        .container_id = "c0ffee",
        .streams = STREAMING_STDIN | STREAMING_STDOUT | STREAMING_STDERR,
    };
    struct replay replay = {.name = "spdy-attach", .request = &request};

    replay_remote_command(&harness, &replay, DATA_EXACT);
    replay_free(&replay);
    harness_free(&harness);
}

static void test_spdy_attach_tty(void **state)
{
    struct harness harness;
    struct streaming_request request = {
        .kind = STREAMING_ATTACH,
        .container_id = "c0ffee",
        .tty = true,
        .streams = STREAMING_STDIN | STREAMING_STDOUT,
    };
    struct replay replay = {.name = "spdy-attach-tty", .request = &request};
    _cleanup_strbuf_ struct strbuf output = STRBUF_INIT;

    replay_remote_command(&harness, &replay, DATA_ANY);
    replay_stream_data(&replay, SPDY_DATA, 5, &output);
    char *first = strstr(output.data, "24 80");
    assert_non_null(first);
    assert_non_null(strstr(first, "30 100"));
    replay_free(&replay);
    harness_free(&harness);
}

static void check_port_forward_streams(const struct replay *replay)
{
    uint32_t ids[16];
    const char *types[16];
    size_t count = client_streams(replay->timeline, ids, types);

    assert_non_null(strstr(replay->response_head, "X-Stream-Protocol-Version: portforward.k8s.io"));
    for (size_t s = 0; s < count; s++) {
        _cleanup_strbuf_ struct strbuf expected = STRBUF_INIT;
        _cleanup_strbuf_ struct strbuf actual = STRBUF_INIT;
        _cleanup_strbuf_ struct strbuf expected_data = STRBUF_INIT;

        recorded_outline(replay->timeline, ids[s], &expected, &expected_data);
        received_outline(replay, ids[s], &actual);
        if (strcmp(expected.data, actual.data) != 0)
            fail_msg("%s: stream %u (%s): expected frames %s, received %s", replay->name, ids[s],
                     types[s], expected.data, actual.data);
    }
}

static void test_spdy_port_forward(void **state)
{
    struct harness harness;
    struct pod_server pod;
    struct streaming_request request = {.kind = STREAMING_PORT_FORWARD, .pod_sandbox_id = "p0d"};
    struct replay replay = {.name = "spdy-portforward", .request = &request};

    pod_server_start(&pod, 2);
    replay.port_override = pod.port;
    harness_init(&harness, NULL);
    harness_replay(&harness, &replay);
    pod_server_join(&pod);
    check_port_forward_streams(&replay);

    /* Two local connections: data streams 3 and 7 carry the pod's answer; the error streams
     * 1 and 5 stay empty. */
    static const uint32_t data_streams[] = {3, 7}, error_streams[] = {1, 5};
    for (int i = 0; i < 2; i++) {
        _cleanup_strbuf_ struct strbuf data = STRBUF_INIT;
        _cleanup_strbuf_ struct strbuf errors = STRBUF_INIT;

        replay_stream_data(&replay, SPDY_DATA, data_streams[i], &data);
        replay_stream_data(&replay, SPDY_DATA, error_streams[i], &errors);
        assert_int_equal(data.length, strlen(POD_RESPONSE));
        assert_memory_equal(data.data, POD_RESPONSE, data.length);
        assert_int_equal(errors.length, 0);
    }
    replay_free(&replay);
    harness_free(&harness);
}

static void test_spdy_port_forward_refused(void **state)
{
    struct harness harness;
    struct streaming_request request = {.kind = STREAMING_PORT_FORWARD, .pod_sandbox_id = "p0d"};
    struct replay replay = {.name = "spdy-portforward-refused", .request = &request};
    _cleanup_strbuf_ struct strbuf errors = STRBUF_INIT;

    replay.port_override = unused_port();
    harness_init(&harness, NULL);
    harness_replay(&harness, &replay);
    check_port_forward_streams(&replay);
    replay_stream_data(&replay, SPDY_DATA, 1, &errors);
    assert_non_null(errors.data);
    assert_non_null(strstr(errors.data, "error forwarding port"));
    assert_non_null(strstr(errors.data, "connection refused"));
    replay_free(&replay);
    harness_free(&harness);
}

/* 8 MiB through one pair to a slow pod: the server pauses the client instead of buffering. */
static void test_spdy_port_forward_slow_pod(void **state)
{
    struct harness harness;
    struct pod_server pod;
    struct streaming_request request = {.kind = STREAMING_PORT_FORWARD, .pod_sandbox_id = "p0d"};
    struct spdy_writer writer;
    struct spdy_parser parser;
    struct spdy_frame frame = {0};
    struct error err = ERROR_INIT;
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    _cleanup_strbuf_ struct strbuf rest = STRBUF_INIT;
    _cleanup_strbuf_ struct strbuf answer = STRBUF_INIT;
    static char chunk[32768];
    const size_t total = 8 * 1024 * 1024;

    pod_sink_start(&pod);
    harness_init(&harness, NULL);
    _cleanup_free_ char *url = harness_issue(&harness, &request);
    _cleanup_free_ char *port = xasprintf("%u", pod.port);
    const char *path = strstr(url + 7, "/");
    _cleanup_free_ char *head = xasprintf("POST %s HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                                          "Upgrade: SPDY/3.1\r\n"
                                          "X-Stream-Protocol-Version: portforward.k8s.io\r\n\r\n",
                                          path);
    struct spdy_header error_headers[] = {
        {"streamtype", "error", 5}, {"port", port, strlen(port)}, {"requestid", "0", 1}};
    struct spdy_header data_headers[] = {
        {"streamtype", "data", 4}, {"port", port, strlen(port)}, {"requestid", "0", 1}};

    harness_resume(&harness);
    int fd;
    free(harness_handshake(&harness, head, &fd, &rest));
    spdy_writer_init(&writer);
    spdy_write_syn_stream(&writer, &out, 1, 0, 0, 0, error_headers, 3);
    spdy_write_data(&out, 1, SPDY_FLAG_FIN, NULL, 0);
    spdy_write_syn_stream(&writer, &out, 3, 0, 0, 0, data_headers, 3);
    harness_send(fd, out.data, out.length);
    for (size_t sent = 0; sent < total; sent += sizeof(chunk)) {
        strbuf_reset(&out);
        spdy_write_data(&out, 3, sent + sizeof(chunk) >= total ? SPDY_FLAG_FIN : 0, chunk,
                        sizeof(chunk));
        harness_send(fd, out.data, out.length);
    }
    /* As kubectl at the end: GOAWAY, after which the server closes once the pair is done. */
    strbuf_reset(&out);
    spdy_write_goaway(&out, 0, SPDY_GOAWAY_OK);
    harness_send(fd, out.data, out.length);
    harness_read_to_eof(fd, &rest);
    close(fd);
    pod_server_join(&pod);
    harness_pause(&harness);

    spdy_parser_init(&parser, NULL);
    spdy_parser_feed(&parser, rest.data, rest.length);
    while (spdy_parser_next(&parser, &frame, &err) == 1) {
        if (frame.type == SPDY_DATA && frame.stream_id == 3)
            strbuf_append(&answer, frame.data, frame.data_length);
    }
    assert_string_equal(answer.data, "got 8388608\n");
    spdy_frame_clear(&frame);
    spdy_parser_free(&parser);
    spdy_writer_free(&writer);
    harness_free(&harness);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spdy_exec_exit_code),
        cmocka_unit_test(test_spdy_exec_success),
        cmocka_unit_test(test_spdy_exec_stdin_eof),
        cmocka_unit_test(test_spdy_exec_ping),
        cmocka_unit_test(test_spdy_exec_bulk_output),
        cmocka_unit_test(test_spdy_exec_tty_resize),
        cmocka_unit_test(test_spdy_attach),
        cmocka_unit_test(test_spdy_attach_tty),
        cmocka_unit_test(test_spdy_port_forward),
        cmocka_unit_test(test_spdy_port_forward_refused),
        cmocka_unit_test(test_spdy_port_forward_slow_pod),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
