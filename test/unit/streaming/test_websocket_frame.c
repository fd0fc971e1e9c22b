/*
 * The WebSocket frame codec (websocket_frame.h) and the session rules built on it: input split
 * anywhere, the three length encodings, fragmented messages with control frames between the
 * fragments, the protocol errors and their close codes, pings and the close handshake.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "common/strbuf.h"
#include "common/util.h"
#include "cri/streaming/websocket.h"
#include "cri/streaming/websocket_frame.h"

#define MAX_EVENTS 16

static const uint8_t test_mask[WEBSOCKET_MASK_LENGTH] = {0x37, 0xfa, 0x21, 0x3d};

/* What a parser delivered, in order: messages and control frames. */
struct events {
    size_t frame_count;
    size_t count;
    struct {
        uint8_t opcode;
        struct strbuf payload;
    } items[MAX_EVENTS];
};

static void record(struct events *events, uint8_t opcode, const uint8_t *payload, size_t length)
{
    assert_true(events->count < MAX_EVENTS);
    events->items[events->count].opcode = opcode;
    events->items[events->count].payload = (struct strbuf)STRBUF_INIT;
    strbuf_append(&events->items[events->count].payload, payload, length);
    events->count++;
}

static void on_frame(void *data, bool fin, uint8_t opcode, uint64_t payload_length)
{
    struct events *events = data;

    events->frame_count++;
}

static bool on_message(void *data, uint8_t opcode, const uint8_t *payload, size_t length)
{
    record(data, opcode, payload, length);
    return true;
}

static bool on_control(void *data, uint8_t opcode, const uint8_t *payload, size_t length)
{
    record(data, opcode, payload, length);
    return true;
}

static const struct websocket_frame_callbacks recording = {
    .on_frame = on_frame,
    .on_message = on_message,
    .on_control = on_control,
};

static void events_free(struct events *events)
{
    for (size_t i = 0; i < events->count; i++)
        strbuf_free(&events->items[i].payload);
}

/* Builds a masked client frame with the fixed test key. */
static void client_frame(struct strbuf *out, bool fin, uint8_t opcode, const void *payload,
                         size_t length)
{
    websocket_frame_write(out, fin, opcode, payload, length, test_mask);
}

/* Feeds wire to a new server-side parser and returns the feed result. */
static int parse_all(const struct strbuf *wire, size_t max_message, struct events *events,
                     uint16_t *close_code)
{
    struct websocket_parser *parser = websocket_parser_new(true, max_message, &recording, events);
    struct error err = ERROR_INIT;
    int rc = websocket_parser_feed(parser, (const uint8_t *)wire->data, wire->length, &err);

    if (rc < 0) {
        assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
        *close_code = websocket_parser_close_code(parser);
    }
    error_clear(&err);
    websocket_parser_free(parser);
    return rc;
}

/* Expects wire to fail with close_code and to deliver nothing. */
static void expect_rejected(const struct strbuf *wire, size_t max_message, uint16_t close_code)
{
    struct events events = {0};
    uint16_t code = 0;

    assert_int_equal(parse_all(wire, max_message, &events, &code), -1);
    assert_int_equal(code, close_code);
    assert_int_equal(events.count, 0);
}

static void test_frame_one_byte_at_a_time(void **state)
{
    _cleanup_strbuf_ struct strbuf wire = STRBUF_INIT;
    struct events events = {0};
    struct error err = ERROR_INIT;

    client_frame(&wire, true, WEBSOCKET_OPCODE_BINARY, "\x01hello", 6);
    client_frame(&wire, true, WEBSOCKET_OPCODE_PING, "p", 1);
    client_frame(&wire, true, WEBSOCKET_OPCODE_TEXT, "", 0);
    struct websocket_parser *parser = websocket_parser_new(true, 1024, &recording, &events);
    for (size_t i = 0; i < wire.length; i++)
        assert_int_equal(websocket_parser_feed(parser, (const uint8_t *)wire.data + i, 1, &err), 0);

    assert_int_equal(events.frame_count, 3);
    assert_int_equal(events.count, 3);
    assert_int_equal(events.items[0].opcode, WEBSOCKET_OPCODE_BINARY);
    assert_int_equal(events.items[0].payload.length, 6);
    assert_memory_equal(events.items[0].payload.data, "\x01hello", 6);
    assert_int_equal(events.items[1].opcode, WEBSOCKET_OPCODE_PING);
    assert_string_equal(events.items[1].payload.data, "p");
    assert_int_equal(events.items[2].opcode, WEBSOCKET_OPCODE_TEXT);
    assert_int_equal(events.items[2].payload.length, 0);
    websocket_parser_free(parser);
    events_free(&events);
}

static void test_frame_several_in_one_chunk(void **state)
{
    _cleanup_strbuf_ struct strbuf wire = STRBUF_INIT;
    struct events events = {0};
    uint16_t code = 0;

    for (int i = 0; i < 5; i++)
        client_frame(&wire, true, WEBSOCKET_OPCODE_BINARY, "abc", (size_t)i % 4);
    assert_int_equal(parse_all(&wire, 1024, &events, &code), 0);
    assert_int_equal(events.count, 5);
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(events.items[i].payload.length, i % 4);
    events_free(&events);
}

/* Writes a server frame of length bytes, checks its length field, and parses it back. */
static void check_length_encoding(size_t length, size_t header_length, uint8_t length7)
{
    _cleanup_strbuf_ struct strbuf wire = STRBUF_INIT;
    _cleanup_free_ uint8_t *payload = xmalloc(length);
    struct events events = {0};
    struct error err = ERROR_INIT;

    for (size_t i = 0; i < length; i++)
        payload[i] = (uint8_t)(i * 7);
    websocket_frame_write(&wire, true, WEBSOCKET_OPCODE_BINARY, payload, length, NULL);
    assert_int_equal(wire.length, header_length + length);
    assert_int_equal((uint8_t)wire.data[1], length7);

    /* A client parser reads server frames, in two pieces split inside the header. */
    struct websocket_parser *parser = websocket_parser_new(false, 1 << 20, &recording, &events);
    assert_int_equal(websocket_parser_feed(parser, (const uint8_t *)wire.data, 3, &err), 0);
    assert_int_equal(
        websocket_parser_feed(parser, (const uint8_t *)wire.data + 3, wire.length - 3, &err), 0);
    assert_int_equal(events.count, 1);
    assert_int_equal(events.items[0].payload.length, length);
    assert_memory_equal(events.items[0].payload.data, payload, length);
    websocket_parser_free(parser);
    events_free(&events);

    /* The same payload masked, through a server parser. */
    strbuf_reset(&wire);
    client_frame(&wire, true, WEBSOCKET_OPCODE_BINARY, payload, length);
    assert_int_equal(wire.length, header_length + WEBSOCKET_MASK_LENGTH + length);
    memset(&events, 0, sizeof(events));
    uint16_t code = 0;
    assert_int_equal(parse_all(&wire, 1 << 20, &events, &code), 0);
    assert_int_equal(events.count, 1);
    assert_memory_equal(events.items[0].payload.data, payload, length);
    events_free(&events);
}

static void test_frame_length_encodings(void **state)
{
    check_length_encoding(125, 2, 125);
    check_length_encoding(126, 4, 126);
    check_length_encoding(65535, 4, 126);
    check_length_encoding(65536, 10, 127);
}

static void test_frame_fragmented_message_with_ping(void **state)
{
    _cleanup_strbuf_ struct strbuf wire = STRBUF_INIT;
    struct events events = {0};
    uint16_t code = 0;

    client_frame(&wire, false, WEBSOCKET_OPCODE_TEXT, "\x01one ", 5);
    client_frame(&wire, true, WEBSOCKET_OPCODE_PING, "are you there", 13);
    client_frame(&wire, false, WEBSOCKET_OPCODE_CONTINUATION, "two ", 4);
    client_frame(&wire, true, WEBSOCKET_OPCODE_CONTINUATION, "three", 5);
    assert_int_equal(parse_all(&wire, 1024, &events, &code), 0);

    assert_int_equal(events.frame_count, 4);
    assert_int_equal(events.count, 2);
    assert_int_equal(events.items[0].opcode, WEBSOCKET_OPCODE_PING);
    assert_string_equal(events.items[0].payload.data, "are you there");
    assert_int_equal(events.items[1].opcode, WEBSOCKET_OPCODE_TEXT);
    assert_string_equal(events.items[1].payload.data, "\x01one two three");
    events_free(&events);
}

static void test_frame_unmasked_client_frame(void **state)
{
    _cleanup_strbuf_ struct strbuf wire = STRBUF_INIT;
    struct events events = {0};
    struct error err = ERROR_INIT;

    websocket_frame_write(&wire, true, WEBSOCKET_OPCODE_BINARY, "\x00x", 2, NULL);
    expect_rejected(&wire, 1024, WEBSOCKET_CLOSE_PROTOCOL_ERROR);

    /* A client rejects a masked frame from the server, and keeps failing afterwards. */
    strbuf_reset(&wire);
    client_frame(&wire, true, WEBSOCKET_OPCODE_BINARY, "\x00x", 2);
    struct websocket_parser *parser = websocket_parser_new(false, 1024, &recording, &events);
    assert_int_equal(websocket_parser_feed(parser, (const uint8_t *)wire.data, wire.length, &err),
                     -1);
    error_clear(&err);
    assert_int_equal(websocket_parser_feed(parser, (const uint8_t *)"", 0, &err), -1);
    assert_int_equal(websocket_parser_close_code(parser), WEBSOCKET_CLOSE_PROTOCOL_ERROR);
    error_clear(&err);
    websocket_parser_free(parser);
}

static void test_frame_reserved_bits(void **state)
{
    for (uint8_t bit = 0x10; bit <= 0x40; bit <<= 1) {
        _cleanup_strbuf_ struct strbuf wire = STRBUF_INIT;

        client_frame(&wire, true, WEBSOCKET_OPCODE_BINARY, "\x00x", 2);
        wire.data[0] = (char)((uint8_t)wire.data[0] | bit);
        expect_rejected(&wire, 1024, WEBSOCKET_CLOSE_PROTOCOL_ERROR);
    }
}

static void test_frame_unknown_opcodes(void **state)
{
    static const uint8_t unknown[] = {0x3, 0x4, 0x5, 0x6, 0x7, 0xb, 0xc, 0xd, 0xe, 0xf};

    for (size_t i = 0; i < ARRAY_SIZE(unknown); i++) {
        _cleanup_strbuf_ struct strbuf wire = STRBUF_INIT;

        client_frame(&wire, true, unknown[i], "x", 1);
        expect_rejected(&wire, 1024, WEBSOCKET_CLOSE_PROTOCOL_ERROR);
    }
}

static void test_frame_oversized_message(void **state)
{
    _cleanup_strbuf_ struct strbuf wire = STRBUF_INIT;
    char payload[80] = {0};

    /* One frame over the maximum, and fragments that pass it only together. */
    client_frame(&wire, true, WEBSOCKET_OPCODE_BINARY, payload, 65);
    expect_rejected(&wire, 64, WEBSOCKET_CLOSE_TOO_BIG);
    strbuf_reset(&wire);
    client_frame(&wire, false, WEBSOCKET_OPCODE_BINARY, payload, 40);
    client_frame(&wire, true, WEBSOCKET_OPCODE_CONTINUATION, payload, 25);
    expect_rejected(&wire, 64, WEBSOCKET_CLOSE_TOO_BIG);

    /* Exactly the maximum passes. */
    struct events events = {0};
    uint16_t code = 0;
    strbuf_reset(&wire);
    client_frame(&wire, false, WEBSOCKET_OPCODE_BINARY, payload, 40);
    client_frame(&wire, true, WEBSOCKET_OPCODE_CONTINUATION, payload, 24);
    assert_int_equal(parse_all(&wire, 64, &events, &code), 0);
    assert_int_equal(events.count, 1);
    assert_int_equal(events.items[0].payload.length, 64);
    events_free(&events);
}

static void test_frame_control_over_125_bytes(void **state)
{
    _cleanup_strbuf_ struct strbuf wire = STRBUF_INIT;
    char payload[126] = {0};

    client_frame(&wire, true, WEBSOCKET_OPCODE_PING, payload, 126);
    expect_rejected(&wire, 1 << 20, WEBSOCKET_CLOSE_PROTOCOL_ERROR);

    /* 125 bytes is the maximum and passes. */
    struct events events = {0};
    uint16_t code = 0;
    strbuf_reset(&wire);
    client_frame(&wire, true, WEBSOCKET_OPCODE_PING, payload, 125);
    assert_int_equal(parse_all(&wire, 1 << 20, &events, &code), 0);
    assert_int_equal(events.count, 1);
    assert_int_equal(events.items[0].payload.length, 125);
    events_free(&events);
}

static void test_frame_fragmented_control(void **state)
{
    _cleanup_strbuf_ struct strbuf wire = STRBUF_INIT;

    client_frame(&wire, false, WEBSOCKET_OPCODE_PING, "x", 1);
    expect_rejected(&wire, 1024, WEBSOCKET_CLOSE_PROTOCOL_ERROR);
    strbuf_reset(&wire);
    client_frame(&wire, false, WEBSOCKET_OPCODE_CLOSE, "\x03\xe8", 2);
    expect_rejected(&wire, 1024, WEBSOCKET_CLOSE_PROTOCOL_ERROR);
}

static void test_frame_bad_fragment_sequence(void **state)
{
    _cleanup_strbuf_ struct strbuf wire = STRBUF_INIT;

    /* A continuation with no message started. */
    client_frame(&wire, true, WEBSOCKET_OPCODE_CONTINUATION, "x", 1);
    expect_rejected(&wire, 1024, WEBSOCKET_CLOSE_PROTOCOL_ERROR);

    /* A new binary message before the fragmented text message ends. */
    strbuf_reset(&wire);
    client_frame(&wire, false, WEBSOCKET_OPCODE_TEXT, "a", 1);
    client_frame(&wire, true, WEBSOCKET_OPCODE_BINARY, "b", 1);
    expect_rejected(&wire, 1024, WEBSOCKET_CLOSE_PROTOCOL_ERROR);
}

static void test_frame_64bit_length_top_bit(void **state)
{
    /* 127, then a length with the most significant bit set, then the key. */
    static const uint8_t header[] = {0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4};
    _cleanup_strbuf_ struct strbuf wire = STRBUF_INIT;

    strbuf_append(&wire, header, sizeof(header));
    expect_rejected(&wire, SIZE_MAX, WEBSOCKET_CLOSE_PROTOCOL_ERROR);
}

/* Session: collects close codes and the payload of one decoded message. */
struct peer {
    int closes;
    uint16_t close_code;
    struct strbuf message;
};

static void peer_message(void *data, unsigned channel, const uint8_t *payload, size_t length)
{
    struct peer *peer = data;

    strbuf_append(&peer->message, payload, length);
}

static void peer_close(void *data, uint16_t code)
{
    struct peer *peer = data;

    peer->closes++;
    peer->close_code = code;
}

static const struct websocket_callbacks peer_callbacks = {
    .on_message = peer_message,
    .on_close = peer_close,
};

static struct websocket_session *raw_session(bool server, struct peer *peer)
{
    struct websocket_protocol_info info = {WEBSOCKET_FRAMING_RAW, 0, false};

    return websocket_session_new(server, &info, 1 << 20, &peer_callbacks, peer);
}

static void test_session_ping_answered_with_pong(void **state)
{
    _cleanup_strbuf_ struct strbuf wire = STRBUF_INIT;
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    struct peer peer = {0};
    struct error err = ERROR_INIT;
    struct websocket_session *server = raw_session(true, &peer);

    client_frame(&wire, true, WEBSOCKET_OPCODE_PING, "payload", 7);
    assert_int_equal(websocket_session_feed(server, wire.data, wire.length, &err), 0);
    websocket_session_flush(server, &out);
    /* An unmasked pong with the same payload. */
    assert_int_equal(out.length, 9);
    assert_int_equal((uint8_t)out.data[0], 0x80 | WEBSOCKET_OPCODE_PONG);
    assert_int_equal((uint8_t)out.data[1], 7);
    assert_memory_equal(out.data + 2, "payload", 7);
    websocket_session_free(server);
    strbuf_free(&peer.message);
}

/* The close echo, decoded by a client session. */
static void test_session_close_echo(void **state)
{
    static const uint8_t going_away[] = {0x03, 0xe9}; /* 1001 */
    _cleanup_strbuf_ struct strbuf wire = STRBUF_INIT;
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    struct peer server_peer = {0}, client_peer = {0};
    struct error err = ERROR_INIT;
    struct websocket_session *server = raw_session(true, &server_peer);
    struct websocket_session *client = raw_session(false, &client_peer);

    client_frame(&wire, true, WEBSOCKET_OPCODE_CLOSE, going_away, 2);
    /* Bytes after the close frame are ignored. */
    client_frame(&wire, true, WEBSOCKET_OPCODE_BINARY, "late", 4);
    assert_int_equal(websocket_session_feed(server, wire.data, wire.length, &err), 0);
    assert_int_equal(server_peer.closes, 1);
    assert_int_equal(server_peer.close_code, 1001);
    assert_int_equal(server_peer.message.length, 0);
    assert_true(websocket_session_close_received(server));
    assert_true(websocket_session_closing(server));

    /* Nothing goes out after the echo: no data, no second close. */
    websocket_session_send(server, 0, "data", 4);
    websocket_session_close(server, WEBSOCKET_CLOSE_NORMAL, "bye");
    websocket_session_flush(server, &out);
    assert_int_equal(out.length, 4);
    assert_memory_equal(out.data, "\x88\x02\x03\xe9", 4);
    assert_int_equal(websocket_session_feed(client, out.data, out.length, &err), 0);
    assert_int_equal(client_peer.close_code, 1001);

    websocket_session_free(server);
    websocket_session_free(client);
}

static void test_session_close_without_code(void **state)
{
    _cleanup_strbuf_ struct strbuf wire = STRBUF_INIT;
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    struct peer peer = {0};
    struct error err = ERROR_INIT;
    struct websocket_session *server = raw_session(true, &peer);

    client_frame(&wire, true, WEBSOCKET_OPCODE_CLOSE, NULL, 0);
    assert_int_equal(websocket_session_feed(server, wire.data, wire.length, &err), 0);
    assert_int_equal(peer.close_code, WEBSOCKET_CLOSE_NO_STATUS_RECEIVED);
    websocket_session_flush(server, &out);
    assert_int_equal(out.length, 2);
    assert_memory_equal(out.data, "\x88\x00", 2);
    websocket_session_free(server);
}

static void test_session_invalid_close_frames(void **state)
{
    static const char *const payloads[] = {"\x03", "\x03\xed", "\x00\x00", "\x13\x88"};
    static const size_t lengths[] = {1, 2, 2, 2}; /* 1-byte payload, 1005, 0, 5000 */

    for (size_t i = 0; i < ARRAY_SIZE(payloads); i++) {
        _cleanup_strbuf_ struct strbuf wire = STRBUF_INIT;
        _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
        struct peer peer = {0};
        struct error err = ERROR_INIT;
        struct websocket_session *server = raw_session(true, &peer);

        client_frame(&wire, true, WEBSOCKET_OPCODE_CLOSE, payloads[i], lengths[i]);
        assert_int_equal(websocket_session_feed(server, wire.data, wire.length, &err), -1);
        error_clear(&err);
        assert_int_equal(peer.closes, 0);
        websocket_session_flush(server, &out);
        assert_int_equal(out.length, 4);
        assert_memory_equal(out.data, "\x88\x02\x03\xea", 4);
        websocket_session_free(server);
    }
}

/* A requested close follows the data queued before it; a client masks every frame. */
static void test_session_close_after_data(void **state)
{
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    struct peer client_peer = {0}, server_peer = {0};
    struct error err = ERROR_INIT;
    struct websocket_session *client = raw_session(false, &client_peer);
    struct websocket_session *server = raw_session(true, &server_peer);

    websocket_session_send(client, 0, "first", 5);
    websocket_session_close(client, WEBSOCKET_CLOSE_NORMAL, NULL);
    websocket_session_send(client, 0, "dropped", 7);
    websocket_session_flush(client, &out);
    assert_int_equal((uint8_t)out.data[1], 0x80 | 5);
    assert_int_equal(websocket_session_feed(server, out.data, out.length, &err), 0);
    assert_int_equal(server_peer.message.length, 5);
    assert_memory_equal(server_peer.message.data, "first", 5);
    assert_int_equal(server_peer.close_code, WEBSOCKET_CLOSE_NORMAL);

    /* The server's echo reaches the client, which sends nothing more. */
    strbuf_reset(&out);
    websocket_session_flush(server, &out);
    assert_int_equal(websocket_session_feed(client, out.data, out.length, &err), 0);
    assert_int_equal(client_peer.close_code, WEBSOCKET_CLOSE_NORMAL);
    strbuf_reset(&out);
    websocket_session_flush(client, &out);
    assert_int_equal(out.length, 0);

    strbuf_free(&server_peer.message);
    websocket_session_free(client);
    websocket_session_free(server);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_frame_one_byte_at_a_time),
        cmocka_unit_test(test_frame_several_in_one_chunk),
        cmocka_unit_test(test_frame_length_encodings),
        cmocka_unit_test(test_frame_fragmented_message_with_ping),
        cmocka_unit_test(test_frame_unmasked_client_frame),
        cmocka_unit_test(test_frame_reserved_bits),
        cmocka_unit_test(test_frame_unknown_opcodes),
        cmocka_unit_test(test_frame_oversized_message),
        cmocka_unit_test(test_frame_control_over_125_bytes),
        cmocka_unit_test(test_frame_fragmented_control),
        cmocka_unit_test(test_frame_bad_fragment_sequence),
        cmocka_unit_test(test_frame_64bit_length_top_bit),
        cmocka_unit_test(test_session_ping_answered_with_pong),
        cmocka_unit_test(test_session_close_echo),
        cmocka_unit_test(test_session_close_without_code),
        cmocka_unit_test(test_session_invalid_close_frames),
        cmocka_unit_test(test_session_close_after_data),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
