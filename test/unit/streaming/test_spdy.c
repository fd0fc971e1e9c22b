/*
 * SPDY/3.1 framing: every recorded session decodes to exactly the frames of its frames.jsonl,
 * the writer's frames decode back, and the parser's limits hold.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "common/util.h"
#include "cri/streaming/spdy.h"
#include "wire_corpus.h"

static const char *const spdy_cases[] = {
    "spdy-exec-exit3",  "spdy-exec-success",        "spdy-exec-stdin", "spdy-exec-tty",
    "spdy-exec-ping",   "spdy-exec-bulk",           "spdy-attach",     "spdy-attach-tty",
    "spdy-portforward", "spdy-portforward-refused",
};

static int is_spdy_kind(const char *kind)
{
    static const char *const kinds[] = {"SYN_STREAM", "SYN_REPLY",     "RST_STREAM",
                                        "SETTINGS",   "PING",          "GOAWAY",
                                        "HEADERS",    "WINDOW_UPDATE", "DATA"};

    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        if (strcmp(kind, kinds[i]) == 0)
            return 1;
    }
    return 0;
}

static long long get_int(json_t *entry, const char *key)
{
    json_t *value = json_object_get(entry, key);

    if (!json_is_integer(value))
        fail_msg("timeline entry %lld has no integer \"%s\"",
                 (long long)json_integer_value(json_object_get(entry, "seq")), key);
    return json_integer_value(value);
}

/* Finds name in the decoded headers and compares its NUL-separated values with the list. */
static void check_header(const struct spdy_frame *frame, const char *name, json_t *values)
{
    for (size_t i = 0; i < frame->headers.count; i++) {
        const struct spdy_header *header = &frame->headers.items[i];
        size_t offset = 0;

        if (strcmp(header->name, name) != 0)
            continue;
        for (size_t v = 0; v < json_array_size(values); v++) {
            const char *expected = json_string_value(json_array_get(values, v));

            assert_true(offset <= header->value_length);
            assert_string_equal(header->value + offset, expected);
            offset += strlen(expected) + 1;
        }
        assert_int_equal(offset, header->value_length + 1);
        return;
    }
    fail_msg("header \"%s\" missing from stream %u", name, frame->stream_id);
}

static void check_headers(const struct spdy_frame *frame, json_t *entry)
{
    json_t *headers = json_object_get(entry, "headers");

    assert_int_equal(frame->headers.count, json_array_size(headers));
    for (size_t i = 0; i < json_array_size(headers); i++) {
        json_t *pair = json_array_get(headers, i);

        check_header(frame, json_string_value(json_array_get(pair, 0)), json_array_get(pair, 1));
    }
    assert_int_equal(frame->compressed_length, get_int(entry, "compressed_len"));
    assert_int_equal(frame->headers_raw_length, get_int(entry, "headers_raw_len"));
}

static void check_frame(const struct spdy_frame *frame, json_t *entry, size_t offset)
{
    const char *kind = json_string_value(json_object_get(entry, "kind"));

    assert_string_equal(spdy_frame_type_name(frame->type), kind);
    assert_int_equal(offset, get_int(entry, "offset"));
    assert_int_equal(frame->flags, get_int(entry, "flags"));
    assert_int_equal(frame->length, get_int(entry, "length"));
    if (frame->type != SPDY_DATA)
        assert_int_equal(frame->version, get_int(entry, "version"));

    switch (frame->type) {
    case SPDY_DATA: {
        size_t length;
        _cleanup_free_ unsigned char *data = wire_entry_data(entry, &length);

        assert_int_equal(frame->stream_id, get_int(entry, "stream"));
        assert_int_equal(frame->data_length, length);
        assert_memory_equal(frame->data, data, length);
        break;
    }
    case SPDY_SYN_STREAM:
        assert_int_equal(frame->associated_stream_id, get_int(entry, "assoc"));
        assert_int_equal(frame->priority, get_int(entry, "priority"));
        assert_int_equal(frame->slot, get_int(entry, "slot"));
        /* fall through */
    case SPDY_SYN_REPLY:
    case SPDY_HEADERS:
        assert_int_equal(frame->stream_id, get_int(entry, "stream"));
        check_headers(frame, entry);
        break;
    case SPDY_RST_STREAM:
        assert_int_equal(frame->stream_id, get_int(entry, "stream"));
        assert_string_equal(spdy_rst_status_name(frame->status),
                            json_string_value(json_object_get(entry, "status")));
        break;
    case SPDY_PING:
        assert_int_equal(frame->ping_id, get_int(entry, "ping_id"));
        break;
    case SPDY_GOAWAY:
        assert_int_equal(frame->last_good_stream_id, get_int(entry, "last_good_stream"));
        assert_string_equal(spdy_goaway_status_name(frame->status),
                            json_string_value(json_object_get(entry, "status")));
        break;
    case SPDY_WINDOW_UPDATE:
        assert_int_equal(frame->stream_id, get_int(entry, "stream"));
        assert_int_equal(frame->delta, get_int(entry, "delta"));
        break;
    case SPDY_SETTINGS:
        break;
    }
}

/* Decodes one direction of one connection, fed in pieces of 1, 2, 3, ... 13 bytes. */
static void check_direction(const char *name, const char *conn, const char *dir, json_t *timeline)
{
    struct wire_bytes bytes;
    struct spdy_parser parser;
    struct spdy_frame frame = {0};
    size_t head, fed, consumed, index = 0, piece = 1;

    wire_read(name, NULL, dir, &bytes);
    head = wire_head_length(&bytes);
    assert_true(head > 0);
    spdy_parser_init(&parser, NULL);
    fed = consumed = head;

    while (fed < bytes.length) {
        size_t n = bytes.length - fed < piece ? bytes.length - fed : piece;
        struct error err = ERROR_INIT;
        int rc;

        spdy_parser_feed(&parser, bytes.data + fed, n);
        fed += n;
        piece = piece % 13 + 1;
        while ((rc = spdy_parser_next(&parser, &frame, &err)) == 1) {
            json_t *entry = NULL;

            /* The next SPDY entry of this direction and connection in the timeline. */
            while (index < json_array_size(timeline)) {
                json_t *candidate = json_array_get(timeline, index++);

                if (wire_entry_is(candidate, "dir", dir) &&
                    wire_entry_is(candidate, "conn", conn) &&
                    is_spdy_kind(json_string_value(json_object_get(candidate, "kind")))) {
                    entry = candidate;
                    break;
                }
            }
            if (entry == NULL)
                fail_msg("%s %s: frame at offset %zu is not in the timeline", name, dir, consumed);
            check_frame(&frame, entry, consumed);
            consumed += SPDY_FRAME_HEADER_LENGTH + frame.length;
        }
        if (rc < 0)
            fail_msg("%s %s: %s", name, dir, err.message);
    }

    /* Whatever is left must be the recorder's INCOMPLETE_FRAME, and nothing else is missing. */
    for (; index < json_array_size(timeline); index++) {
        json_t *entry = json_array_get(timeline, index);

        if (!wire_entry_is(entry, "dir", dir) || !wire_entry_is(entry, "conn", conn))
            continue;
        const char *kind = json_string_value(json_object_get(entry, "kind"));
        if (strcmp(kind, "INCOMPLETE_FRAME") == 0)
            assert_int_equal(spdy_parser_pending(&parser), get_int(entry, "have"));
        else if (is_spdy_kind(kind))
            fail_msg("%s %s: frame seq %lld was not decoded", name, dir, get_int(entry, "seq"));
    }
    if (spdy_parser_pending(&parser) > 0)
        assert_int_equal(consumed + spdy_parser_pending(&parser), bytes.length);

    spdy_frame_clear(&frame);
    spdy_parser_free(&parser);
    wire_bytes_free(&bytes);
}

static void test_spdy_recorded_sessions(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(spdy_cases); i++) {
        json_t *timeline = wire_timeline(spdy_cases[i]);

        check_direction(spdy_cases[i], "conn1", "c2s", timeline);
        check_direction(spdy_cases[i], "conn1", "s2c", timeline);
        json_decref(timeline);
    }
}

static void test_spdy_first_block_header(void **state)
{
    struct spdy_writer writer;
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    static const uint8_t zlib_header[] = {0x78, 0xf9, 0xe3, 0xc6, 0xa7, 0xc2};

    spdy_writer_init(&writer);
    spdy_write_syn_reply(&writer, &out, 1, 0, NULL, 0);
    /* 8-byte frame header, 4-byte stream id, then the zlib header with the dictionary id. */
    assert_true(out.length > 12 + sizeof(zlib_header));
    assert_memory_equal(out.data + 12, zlib_header, sizeof(zlib_header));
    /* Sync flush: the block ends with an empty stored block. */
    assert_memory_equal(out.data + out.length - 4, "\x00\x00\xff\xff", 4);
    spdy_writer_free(&writer);
}

static void test_spdy_round_trip(void **state)
{
    struct spdy_writer writer;
    struct spdy_parser parser;
    struct spdy_frame frame = {0};
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    struct error err = ERROR_INIT;
    struct spdy_header headers[] = {
        {"streamtype", "data", 4},
        {"port", "8080", 4},
        {"multi", "a\0b", 3},
    };
    struct spdy_setting setting = {.flags = 1, .id = 7, .value = 65536};

    spdy_writer_init(&writer);
    spdy_write_syn_stream(&writer, &out, 1, 0, 3, SPDY_FLAG_FIN, headers, ARRAY_SIZE(headers));
    spdy_write_syn_reply(&writer, &out, 1, 0, headers, 1);
    spdy_write_headers(&writer, &out, 1, 0, NULL, 0);
    spdy_write_data(&out, 1, SPDY_FLAG_FIN, "hello", 5);
    spdy_write_rst_stream(&out, 3, SPDY_RST_CANCEL);
    spdy_write_settings(&out, 0, &setting, 1);
    spdy_write_ping(&out, 2);
    spdy_write_goaway(&out, 5, SPDY_GOAWAY_OK);
    spdy_write_window_update(&out, 0, 1000);

    spdy_parser_init(&parser, NULL);
    spdy_parser_feed(&parser, out.data, out.length);

    assert_int_equal(spdy_parser_next(&parser, &frame, &err), 1);
    assert_int_equal(frame.type, SPDY_SYN_STREAM);
    assert_int_equal(frame.flags, SPDY_FLAG_FIN);
    assert_int_equal(frame.priority, 3);
    assert_int_equal(frame.headers.count, 3);
    assert_string_equal(spdy_headers_get(&frame.headers, "port"), "8080");
    assert_string_equal(spdy_headers_get(&frame.headers, "MULTI"), "a");
    assert_int_equal(frame.headers.items[2].value_length, 3);

    assert_int_equal(spdy_parser_next(&parser, &frame, &err), 1);
    assert_int_equal(frame.type, SPDY_SYN_REPLY);
    assert_string_equal(spdy_headers_get(&frame.headers, "streamtype"), "data");

    assert_int_equal(spdy_parser_next(&parser, &frame, &err), 1);
    assert_int_equal(frame.type, SPDY_HEADERS);
    assert_int_equal(frame.headers.count, 0);

    assert_int_equal(spdy_parser_next(&parser, &frame, &err), 1);
    assert_int_equal(frame.type, SPDY_DATA);
    assert_int_equal(frame.data_length, 5);
    assert_memory_equal(frame.data, "hello", 5);

    assert_int_equal(spdy_parser_next(&parser, &frame, &err), 1);
    assert_int_equal(frame.type, SPDY_RST_STREAM);
    assert_int_equal(frame.status, SPDY_RST_CANCEL);

    assert_int_equal(spdy_parser_next(&parser, &frame, &err), 1);
    assert_int_equal(frame.type, SPDY_SETTINGS);
    assert_int_equal(frame.settings_count, 1);
    assert_int_equal(frame.settings[0].id, 7);
    assert_int_equal(frame.settings[0].value, 65536);

    assert_int_equal(spdy_parser_next(&parser, &frame, &err), 1);
    assert_int_equal(frame.ping_id, 2);
    assert_int_equal(spdy_parser_next(&parser, &frame, &err), 1);
    assert_int_equal(frame.last_good_stream_id, 5);
    assert_int_equal(spdy_parser_next(&parser, &frame, &err), 1);
    assert_int_equal(frame.delta, 1000);
    assert_int_equal(spdy_parser_next(&parser, &frame, &err), 0);

    spdy_frame_clear(&frame);
    spdy_parser_free(&parser);
    spdy_writer_free(&writer);
}

static void test_spdy_large_data_split(void **state)
{
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    _cleanup_free_ char *payload = xcalloc(1, SPDY_DATA_CHUNK * 2 + 10);

    spdy_write_data(&out, 3, SPDY_FLAG_FIN, payload, SPDY_DATA_CHUNK * 2 + 10);
    assert_int_equal(out.length, SPDY_DATA_CHUNK * 2 + 10 + 3 * SPDY_FRAME_HEADER_LENGTH);
    /* FIN only on the last of the three frames. */
    assert_int_equal((uint8_t)out.data[4], 0);
    assert_int_equal((uint8_t)out.data[SPDY_FRAME_HEADER_LENGTH + SPDY_DATA_CHUNK + 4], 0);
    assert_int_equal((uint8_t)out.data[2 * (SPDY_FRAME_HEADER_LENGTH + SPDY_DATA_CHUNK) + 4],
                     SPDY_FLAG_FIN);
}

static void expect_parse_error(const void *bytes, size_t length, const struct spdy_limits *limits,
                               const char *message_part)
{
    struct spdy_parser parser;
    struct spdy_frame frame = {0};
    struct error err = ERROR_INIT;

    spdy_parser_init(&parser, limits);
    spdy_parser_feed(&parser, bytes, length);
    assert_int_equal(spdy_parser_next(&parser, &frame, &err), -1);
    assert_non_null(strstr(err.message, message_part));
    error_clear(&err);
    /* The connection stays failed. */
    assert_int_equal(spdy_parser_next(&parser, &frame, &err), -1);
    error_clear(&err);
    spdy_parser_free(&parser);
}

static void test_spdy_rejects_bad_frames(void **state)
{
    static const uint8_t credential[] = {0x80, 3, 0, 10, 0, 0, 0, 0};
    static const uint8_t big_data[] = {0, 0, 0, 1, 0, 0x10, 0, 1};
    static const uint8_t short_ping[] = {0x80, 3, 0, 6, 0, 0, 0, 2, 0, 0};
    static const uint8_t bad_block[] = {0x80, 3, 0, 2, 0, 0, 0, 8, 0, 0, 0, 1, 1, 2, 3, 4};
    struct spdy_limits small = spdy_default_limits;

    expect_parse_error(credential, sizeof(credential), NULL, "control frame type 10");
    expect_parse_error(big_data, sizeof(big_data), NULL, "over the limit");
    expect_parse_error(short_ping, sizeof(short_ping), NULL, "expected 4");
    expect_parse_error(bad_block, sizeof(bad_block), NULL, "header block");

    small.max_header_count = 1;
    {
        struct spdy_writer writer;
        _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
        struct spdy_header headers[] = {{"a", "1", 1}, {"b", "2", 1}};

        spdy_writer_init(&writer);
        spdy_write_syn_reply(&writer, &out, 1, 0, headers, 2);
        expect_parse_error(out.data, out.length, &small, "more than the limit");
        spdy_writer_free(&writer);
    }
}

static void test_spdy_rejects_bad_names(void **state)
{
    struct spdy_header upper[] = {{"Port", "1", 1}};
    struct spdy_header twice[] = {{"port", "1", 1}, {"port", "2", 1}};
    struct spdy_writer writer;
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;

    spdy_writer_init(&writer);
    spdy_write_syn_reply(&writer, &out, 1, 0, upper, 1);
    expect_parse_error(out.data, out.length, NULL, "not lowercase");
    spdy_writer_free(&writer);

    strbuf_reset(&out);
    spdy_writer_init(&writer);
    spdy_write_syn_reply(&writer, &out, 1, 0, twice, 2);
    expect_parse_error(out.data, out.length, NULL, "duplicate");
    spdy_writer_free(&writer);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spdy_recorded_sessions),
        cmocka_unit_test(test_spdy_first_block_header),
        cmocka_unit_test(test_spdy_round_trip),
        cmocka_unit_test(test_spdy_large_data_split),
        cmocka_unit_test(test_spdy_rejects_bad_frames),
        cmocka_unit_test(test_spdy_rejects_bad_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
