#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cri/grpc_wire.h"

static void feed_in_pieces(struct grpc_reader *reader, const uint8_t *data, size_t length,
                           size_t piece)
{
    struct error err = ERROR_INIT;

    for (size_t offset = 0; offset < length; offset += piece) {
        size_t take = length - offset < piece ? length - offset : piece;

        assert_int_equal(grpc_reader_feed(reader, data + offset, take, &err), 0);
    }
}

static void reader_one_message_any_split(void **state)
{
    const uint8_t body[] = {0, 0, 0, 0, 3, 'a', 'b', 'c'};

    (void)state;
    for (size_t piece = 1; piece <= sizeof(body); piece++) {
        struct grpc_reader reader;

        grpc_reader_init(&reader, 1024);
        feed_in_pieces(&reader, body, sizeof(body), piece);
        assert_int_equal(reader.messages, 1);
        assert_int_equal(reader.first.length, 3);
        assert_memory_equal(reader.first.data, "abc", 3);
        assert_false(grpc_reader_has_partial(&reader));
        grpc_reader_free(&reader);
    }
}

static void reader_empty_message(void **state)
{
    const uint8_t body[] = {0, 0, 0, 0, 0};
    struct grpc_reader reader;

    (void)state;
    grpc_reader_init(&reader, 1024);
    feed_in_pieces(&reader, body, sizeof(body), sizeof(body));
    assert_int_equal(reader.messages, 1);
    assert_int_equal(reader.first.length, 0);
    assert_non_null(reader.first.data);
    grpc_reader_free(&reader);
}

static void reader_counts_extra_messages(void **state)
{
    const uint8_t body[] = {0, 0, 0, 0, 1, 'x', 0, 0, 0, 0, 1, 'y'};
    struct grpc_reader reader;

    (void)state;
    grpc_reader_init(&reader, 1024);
    feed_in_pieces(&reader, body, sizeof(body), 5);
    assert_int_equal(reader.messages, 2);
    assert_memory_equal(reader.first.data, "x", 1);
    grpc_reader_free(&reader);
}

static void reader_rejects_oversized_from_prefix(void **state)
{
    /* Only the prefix arrives: the limit is enforced before any body is buffered. */
    const uint8_t prefix[] = {0, 0x40, 0, 0, 0};
    struct grpc_reader reader;
    struct error err = ERROR_INIT;

    (void)state;
    grpc_reader_init(&reader, 16 * 1024 * 1024);
    assert_int_equal(grpc_reader_feed(&reader, prefix, sizeof(prefix), &err), -1);
    assert_int_equal(err.code, ERROR_RESOURCE_EXHAUSTED);
    assert_non_null(strstr(err.message, "larger than max"));
    assert_int_equal(reader.message.capacity, 0);
    error_clear(&err);
    grpc_reader_free(&reader);
}

static void reader_accepts_message_at_limit(void **state)
{
    uint8_t body[5 + 8] = {0, 0, 0, 0, 8};
    struct grpc_reader reader;

    (void)state;
    grpc_reader_init(&reader, 8);
    feed_in_pieces(&reader, body, sizeof(body), 4);
    assert_int_equal(reader.messages, 1);
    grpc_reader_free(&reader);
}

static void reader_rejects_compressed(void **state)
{
    const uint8_t prefix[] = {1, 0, 0, 0, 4};
    struct grpc_reader reader;
    struct error err = ERROR_INIT;

    (void)state;
    grpc_reader_init(&reader, 1024);
    assert_int_equal(grpc_reader_feed(&reader, prefix, 1, &err), 0);
    assert_int_equal(grpc_reader_feed(&reader, prefix + 1, 4, &err), -1);
    assert_int_equal(err.code, ERROR_UNIMPLEMENTED);
    error_clear(&err);
    grpc_reader_free(&reader);
}

static void reader_reports_partial(void **state)
{
    const uint8_t body[] = {0, 0, 0, 0, 4, 'a'};
    struct grpc_reader reader;

    (void)state;
    grpc_reader_init(&reader, 1024);
    feed_in_pieces(&reader, body, sizeof(body), 3);
    assert_true(grpc_reader_has_partial(&reader));
    assert_int_equal(reader.messages, 0);
    grpc_reader_free(&reader);
}

static void prefix_is_big_endian(void **state)
{
    uint8_t prefix[GRPC_PREFIX_SIZE];

    (void)state;
    grpc_write_prefix(prefix, 0x01020304);
    assert_int_equal(prefix[0], 0);
    assert_int_equal(prefix[1], 1);
    assert_int_equal(prefix[4], 4);
}

static void timeout_units(void **state)
{
    static const struct {
        const char *text;
        uint64_t expected_ns;
    } cases[] = {
        {"1H", 3600000000000ULL},
        {"2M", 120000000000ULL},
        {"3S", 3000000000ULL},
        {"4m", 4000000ULL},
        {"5u", 5000ULL},
        {"6n", 6ULL},
        {"99999999S", 99999999000000000ULL},
        {"0m", 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t ns = 1;

        assert_int_equal(grpc_timeout_parse(cases[i].text, strlen(cases[i].text), &ns), 0);
        assert_true(ns == cases[i].expected_ns);
    }
}

static void timeout_rejects_malformed(void **state)
{
    static const char *const cases[] = {"", "S", "1", "123456789S", "1x", "-1S", "1.5S", " 1S"};

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t ns;

        assert_int_equal(grpc_timeout_parse(cases[i], strlen(cases[i]), &ns), -1);
    }
}

static void timeout_saturates(void **state)
{
    uint64_t ns;

    (void)state;
    assert_int_equal(grpc_timeout_parse("99999999H", 9, &ns), 0);
    assert_true(ns == UINT64_MAX);
}

static void percent_encoding_round_trip(void **state)
{
    const char *message = "container \"abc\" not found: 100% sure\n\xc3\xbc";
    struct strbuf encoded = STRBUF_INIT;
    struct strbuf decoded = STRBUF_INIT;

    (void)state;
    grpc_percent_encode(&encoded, message);
    assert_string_equal(encoded.data, "container \"abc\" not found: 100%25 sure%0A%C3%BC");
    grpc_percent_decode(&decoded, encoded.data, encoded.length);
    assert_string_equal(decoded.data, message);
    strbuf_free(&encoded);
    strbuf_free(&decoded);
}

static void percent_decode_keeps_malformed(void **state)
{
    struct strbuf decoded = STRBUF_INIT;

    (void)state;
    grpc_percent_decode(&decoded, "50%zz%4", 7);
    assert_string_equal(decoded.data, "50%zz%4");
    strbuf_free(&decoded);
}

static void content_types(void **state)
{
    static const char *const valid[] = {"application/grpc", "application/grpc+proto",
                                        "application/grpc;charset=utf-8"};
    static const char *const invalid[] = {"application/json", "application/grpc+json", "text/plain",
                                          "application/grp", ""};

    (void)state;
    for (size_t i = 0; i < sizeof(valid) / sizeof(valid[0]); i++)
        assert_true(grpc_content_type_is_valid(valid[i], strlen(valid[i])));
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++)
        assert_false(grpc_content_type_is_valid(invalid[i], strlen(invalid[i])));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reader_one_message_any_split),
        cmocka_unit_test(reader_empty_message),
        cmocka_unit_test(reader_counts_extra_messages),
        cmocka_unit_test(reader_rejects_oversized_from_prefix),
        cmocka_unit_test(reader_accepts_message_at_limit),
        cmocka_unit_test(reader_rejects_compressed),
        cmocka_unit_test(reader_reports_partial),
        cmocka_unit_test(prefix_is_big_endian),
        cmocka_unit_test(timeout_units),
        cmocka_unit_test(timeout_rejects_malformed),
        cmocka_unit_test(timeout_saturates),
        cmocka_unit_test(percent_encoding_round_trip),
        cmocka_unit_test(percent_decode_keeps_malformed),
        cmocka_unit_test(content_types),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
