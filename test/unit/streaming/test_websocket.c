/*
 * WebSocket: every recorded session decodes to the frames and channel messages of its
 * frames.jsonl; the accept key, subprotocol choice and channel framing behave as the
 * Kubernetes clients expect.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "common/util.h"
#include "cri/streaming/websocket.h"
#include "wire_corpus.h"

struct ws_case {
    const char *name;
    const char *protocol;
};

static const struct ws_case ws_cases[] = {
    {"ws4-exec-exit3", WEBSOCKET_PROTOCOL_V4},
    {"ws4-exec-stdin", WEBSOCKET_PROTOCOL_V4},
    {"ws4-exec-stdin-closesignal", WEBSOCKET_PROTOCOL_V4},
    {"ws4-exec-tty", WEBSOCKET_PROTOCOL_V4},
    {"ws4b64-exec-exit3", WEBSOCKET_PROTOCOL_V4_BASE64},
    {"ws1-exec-exit3", WEBSOCKET_PROTOCOL_V1},
    {"ws4-attach", WEBSOCKET_PROTOCOL_V4},
    {"ws4-portforward", WEBSOCKET_PROTOCOL_V4},
};

#define MAX_EVENTS 64

/* What one direction decoded to: frame starts and delivered messages, in order. */
struct decoded {
    size_t frame_count;
    struct {
        bool fin;
        uint8_t opcode;
        uint64_t length;
    } frames[MAX_EVENTS];
    size_t message_count;
    struct {
        unsigned channel; /* 256 + code for a close frame */
        uint8_t *data;
        size_t length;
    } messages[MAX_EVENTS];
};

static void on_frame(void *data, bool fin, uint8_t opcode, uint64_t payload_length)
{
    struct decoded *d = data;

    assert_true(d->frame_count < MAX_EVENTS);
    d->frames[d->frame_count].fin = fin;
    d->frames[d->frame_count].opcode = opcode;
    d->frames[d->frame_count].length = payload_length;
    d->frame_count++;
}

static void on_message(void *data, unsigned channel, const uint8_t *payload, size_t length)
{
    struct decoded *d = data;

    assert_true(d->message_count < MAX_EVENTS);
    d->messages[d->message_count].channel = channel;
    d->messages[d->message_count].data = xcalloc(1, length + 1);
    memcpy(d->messages[d->message_count].data, payload, length);
    d->messages[d->message_count].length = length;
    d->message_count++;
}

static void on_close(void *data, uint16_t code)
{
    on_message(data, 256u + code, (const uint8_t *)"", 0);
}

static const struct websocket_callbacks recording_callbacks = {
    .on_message = on_message,
    .on_close = on_close,
    .on_frame = on_frame,
};

static void decoded_free(struct decoded *d)
{
    for (size_t i = 0; i < d->message_count; i++)
        free(d->messages[i].data);
}

static uint8_t opcode_of(const char *kind)
{
    if (strcmp(kind, "WS_TEXT") == 0)
        return 1;
    if (strcmp(kind, "WS_BINARY") == 0)
        return 2;
    if (strcmp(kind, "WS_CLOSE") == 0)
        return 8;
    if (strcmp(kind, "WS_PING") == 0)
        return 9;
    if (strcmp(kind, "WS_PONG") == 0)
        return 10;
    return 0;
}

static void check_entry(const struct decoded *d, size_t frame, size_t *message, json_t *entry)
{
    uint8_t opcode = opcode_of(json_string_value(json_object_get(entry, "kind")));

    assert_true(frame < d->frame_count);
    assert_int_equal(d->frames[frame].opcode, opcode);
    assert_int_equal(d->frames[frame].fin, json_is_true(json_object_get(entry, "fin")));
    assert_int_equal(d->frames[frame].length,
                     json_integer_value(json_object_get(entry, "payload_len")));

    if (opcode == 8) {
        assert_true(*message < d->message_count);
        assert_int_equal(d->messages[*message].channel,
                         256 + json_integer_value(json_object_get(entry, "close_code")));
        (*message)++;
    } else if (opcode == 1 || opcode == 2) {
        size_t length;
        _cleanup_free_ unsigned char *expected = wire_entry_data(entry, &length);

        assert_true(*message < d->message_count);
        assert_int_equal(d->messages[*message].channel,
                         json_integer_value(json_object_get(entry, "channel")));
        assert_int_equal(d->messages[*message].length, length);
        assert_memory_equal(d->messages[*message].data, expected, length);
        (*message)++;
    }
}

static void check_direction(const struct ws_case *c, const char *dir, json_t *timeline)
{
    struct wire_bytes bytes;
    struct websocket_protocol_info info;
    struct decoded d = {0};
    struct error err = ERROR_INIT;
    size_t head, frame = 0, message = 0;

    wire_read(c->name, NULL, dir, &bytes);
    head = wire_head_length(&bytes);
    assert_true(head > 0);
    assert_int_equal(websocket_protocol_info(c->protocol, &info), 0);

    /* The client's frames are masked, so the server role decodes them, and the reverse. */
    struct websocket_session *session =
        websocket_session_new(strcmp(dir, "c2s") == 0, &info, 1 << 20, &recording_callbacks, &d);
    for (size_t i = head; i < bytes.length; i++) {
        if (websocket_session_feed(session, bytes.data + i, 1, &err) < 0)
            fail_msg("%s %s: %s", c->name, dir, err.message);
    }

    for (size_t i = 0; i < json_array_size(timeline); i++) {
        json_t *entry = json_array_get(timeline, i);

        if (!wire_entry_is(entry, "dir", dir))
            continue;
        if (opcode_of(json_string_value(json_object_get(entry, "kind"))) == 0)
            continue;
        check_entry(&d, frame++, &message, entry);
    }
    assert_int_equal(frame, d.frame_count);
    assert_int_equal(message, d.message_count);

    websocket_session_free(session);
    decoded_free(&d);
    wire_bytes_free(&bytes);
}

static void test_websocket_recorded_sessions(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(ws_cases); i++) {
        json_t *timeline = wire_timeline(ws_cases[i].name);

        check_direction(&ws_cases[i], "c2s", timeline);
        check_direction(&ws_cases[i], "s2c", timeline);
        json_decref(timeline);
    }
}

static void test_websocket_accept_key(void **state)
{
    char accept[WEBSOCKET_ACCEPT_LENGTH + 1];
    struct error err = ERROR_INIT;

    /* Pairs from the recorded handshakes, and the example of RFC 6455 section 1.3. */
    assert_int_equal(websocket_accept_key("soYIFGzzQiSSBHZUqjcwRg==", accept, &err), 0);
    assert_string_equal(accept, "/N8O6KDf34EC3+4Qj2fPRzS86uw=");
    assert_int_equal(websocket_accept_key("PN18QyCDfZkPqd038dOEkQ==", accept, &err), 0);
    assert_string_equal(accept, "wIMSgQJqFUxqyqPY1F0dGz5fnKo=");
    assert_int_equal(websocket_accept_key("dGhlIHNhbXBsZSBub25jZQ==", accept, &err), 0);
    assert_string_equal(accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");

    assert_int_equal(websocket_accept_key("short", accept, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    error_clear(&err);
    assert_int_equal(websocket_accept_key(NULL, accept, &err), -1);
    error_clear(&err);
}

static void test_websocket_select_protocol(void **state)
{
    static const char *const exec_protocols[] = {WEBSOCKET_PROTOCOL_V5,
                                                 WEBSOCKET_PROTOCOL_V4,
                                                 WEBSOCKET_PROTOCOL_V4_BASE64,
                                                 WEBSOCKET_PROTOCOL_BASE64,
                                                 WEBSOCKET_PROTOCOL_V1,
                                                 "",
                                                 NULL};
    static const char *const tunnel_only[] = {WEBSOCKET_PROTOCOL_SPDY_TUNNEL, NULL};

    assert_string_equal(websocket_select_protocol("v5.channel.k8s.io", exec_protocols),
                        WEBSOCKET_PROTOCOL_V5);
    /* Client order decides. */
    assert_string_equal(
        websocket_select_protocol(" v4.channel.k8s.io ,v5.channel.k8s.io", exec_protocols),
        WEBSOCKET_PROTOCOL_V4);
    assert_string_equal(websocket_select_protocol("x, ,base64.channel.k8s.io", exec_protocols),
                        WEBSOCKET_PROTOCOL_BASE64);
    assert_string_equal(websocket_select_protocol(NULL, exec_protocols), "");
    assert_string_equal(websocket_select_protocol("", exec_protocols), "");
    assert_null(websocket_select_protocol("v9.channel.k8s.io", exec_protocols));
    assert_null(websocket_select_protocol(NULL, tunnel_only));
    assert_string_equal(websocket_select_protocol("SPDY/3.1+portforward.k8s.io", tunnel_only),
                        WEBSOCKET_PROTOCOL_SPDY_TUNNEL);
}

/* Sends from a server session and decodes with a client session. */
static void round_trip(const char *protocol, unsigned channel, const char *text)
{
    struct websocket_protocol_info info;
    struct decoded d = {0};
    struct error err = ERROR_INIT;
    _cleanup_strbuf_ struct strbuf wire = STRBUF_INIT;

    assert_int_equal(websocket_protocol_info(protocol, &info), 0);
    struct websocket_session *server =
        websocket_session_new(true, &info, 1 << 20, &recording_callbacks, &d);
    struct websocket_session *client =
        websocket_session_new(false, &info, 1 << 20, &recording_callbacks, &d);

    websocket_session_send(server, channel, text, strlen(text));
    websocket_session_close(server, WEBSOCKET_CLOSE_NORMAL, NULL);
    assert_true(websocket_session_closing(server));
    websocket_session_flush(server, &wire);
    assert_int_equal(websocket_session_feed(client, wire.data, wire.length, &err), 0);

    assert_int_equal(d.message_count, 2);
    assert_int_equal(d.messages[0].channel, info.framing == WEBSOCKET_FRAMING_RAW ? 0 : channel);
    assert_int_equal(d.messages[0].length, strlen(text));
    assert_memory_equal(d.messages[0].data, text, strlen(text));
    assert_int_equal(d.messages[1].channel, 256 + WEBSOCKET_CLOSE_NORMAL);
    assert_int_equal(d.frames[0].opcode, info.framing == WEBSOCKET_FRAMING_BASE64 ? 1 : 2);

    websocket_session_free(server);
    websocket_session_free(client);
    decoded_free(&d);
}

static void test_websocket_channel_framing(void **state)
{
    round_trip(WEBSOCKET_PROTOCOL_V4, 1, "hello\n");
    round_trip(WEBSOCKET_PROTOCOL_V4_BASE64, 2, "err\n");
    round_trip(WEBSOCKET_PROTOCOL_V4_BASE64, 3, "a");
    round_trip(WEBSOCKET_PROTOCOL_V4_BASE64, 3, "ab");
    round_trip(WEBSOCKET_PROTOCOL_V1, 3, "");
    round_trip(WEBSOCKET_PROTOCOL_SPDY_TUNNEL, 0, "\x80\x03\x00\x06");
}

static unsigned signalled_channel;

static void on_close_signal(void *data, unsigned channel)
{
    signalled_channel = channel;
}

/* Encodes one masked client frame with a client session. */
static void client_frame(const struct websocket_protocol_info *info, const void *payload,
                         size_t length, struct strbuf *out)
{
    struct decoded d = {0};
    struct websocket_protocol_info raw = *info;

    raw.framing = WEBSOCKET_FRAMING_RAW;
    struct websocket_session *client =
        websocket_session_new(false, &raw, 1 << 20, &recording_callbacks, &d);
    websocket_session_send(client, 0, payload, length);
    websocket_session_flush(client, out);
    websocket_session_free(client);
}

static void test_websocket_close_signal(void **state)
{
    struct websocket_protocol_info info;
    struct websocket_callbacks callbacks = recording_callbacks;
    struct decoded d = {0};
    struct error err = ERROR_INIT;
    _cleanup_strbuf_ struct strbuf wire = STRBUF_INIT;

    callbacks.on_close_signal = on_close_signal;
    assert_int_equal(websocket_protocol_info(WEBSOCKET_PROTOCOL_V5, &info), 0);
    assert_true(info.close_signal);

    struct websocket_session *server = websocket_session_new(true, &info, 1 << 20, &callbacks, &d);
    signalled_channel = 99;
    client_frame(&info, "\xff\x00", 2, &wire);
    assert_int_equal(websocket_session_feed(server, wire.data, wire.length, &err), 0);
    assert_int_equal(signalled_channel, 0);
    assert_int_equal(d.message_count, 0);

    /* Any other length after 255 is a protocol error. */
    strbuf_reset(&wire);
    client_frame(&info, "\xff\x00\x01", 3, &wire);
    assert_int_equal(websocket_session_feed(server, wire.data, wire.length, &err), -1);
    assert_true(websocket_session_closing(server));
    error_clear(&err);
    websocket_session_free(server);
}

static void test_websocket_rejects_unmasked(void **state)
{
    struct websocket_protocol_info info;
    struct decoded d = {0};
    struct error err = ERROR_INIT;
    _cleanup_strbuf_ struct strbuf wire = STRBUF_INIT;
    static const uint8_t unmasked[] = {0x82, 0x02, 0x00, 'x'};

    assert_int_equal(websocket_protocol_info(WEBSOCKET_PROTOCOL_V4, &info), 0);
    struct websocket_session *server =
        websocket_session_new(true, &info, 1 << 20, &recording_callbacks, &d);
    assert_int_equal(websocket_session_feed(server, unmasked, sizeof(unmasked), &err), -1);
    assert_int_equal(d.message_count, 0);
    error_clear(&err);

    /* The server answers with close 1002: 0x88, length 2, 0x03 0xea. */
    websocket_session_flush(server, &wire);
    assert_true(wire.length >= 4);
    assert_int_equal((uint8_t)wire.data[0], 0x88);
    assert_int_equal((uint8_t)wire.data[2], 0x03);
    assert_int_equal((uint8_t)wire.data[3], 0xea);
    websocket_session_free(server);
}

static void test_websocket_rejects_big_message(void **state)
{
    struct websocket_protocol_info info;
    struct decoded d = {0};
    struct error err = ERROR_INIT;
    _cleanup_strbuf_ struct strbuf wire = STRBUF_INIT;
    char payload[100] = {0};

    assert_int_equal(websocket_protocol_info(WEBSOCKET_PROTOCOL_V4, &info), 0);
    struct websocket_session *server =
        websocket_session_new(true, &info, 64, &recording_callbacks, &d);
    client_frame(&info, payload, sizeof(payload), &wire);
    assert_int_equal(websocket_session_feed(server, wire.data, wire.length, &err), -1);
    assert_int_equal(d.message_count, 0);
    error_clear(&err);
    websocket_session_free(server);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_websocket_recorded_sessions),
        cmocka_unit_test(test_websocket_accept_key),
        cmocka_unit_test(test_websocket_select_protocol),
        cmocka_unit_test(test_websocket_channel_framing),
        cmocka_unit_test(test_websocket_close_signal),
        cmocka_unit_test(test_websocket_rejects_unmasked),
        cmocka_unit_test(test_websocket_rejects_big_message),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
