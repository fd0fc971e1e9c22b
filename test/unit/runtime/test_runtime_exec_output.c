/* Unit tests of the ExecSync output limits against protobuf-c's own packed sizes. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "api/api.pb-c.h"
#include "runtime/exec_output.h"

#define MIB ((size_t)1024 * 1024)

/* The packed size of a real response; the data is never read for the size. */
static size_t packed_size(size_t stdout_length, size_t stderr_length, int exit_code)
{
    static uint8_t data[1];
    Runtime__V1__ExecSyncResponse response = RUNTIME__V1__EXEC_SYNC_RESPONSE__INIT;

    response.stdout.data = data;
    response.stdout.len = stdout_length;
    response.stderr.data = data;
    response.stderr.len = stderr_length;
    response.exit_code = exit_code;
    return protobuf_c_message_get_packed_size(&response.base);
}

static void size_matches_protobuf_c(void **state)
{
    static const size_t lengths[] = {0, 1, 127, 128, 16383, 16384, 2 * MIB, 16 * MIB, 300 * MIB};
    static const int codes[] = {0, 1, 127, 128, 255, -1, -2147483647 - 1};

    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
        for (size_t j = 0; j < sizeof(lengths) / sizeof(lengths[0]); j++) {
            for (size_t k = 0; k < sizeof(codes) / sizeof(codes[0]); k++)
                assert_int_equal(exec_output_response_size(lengths[i], lengths[j], codes[k]),
                                 packed_size(lengths[i], lengths[j], codes[k]));
        }
    }
}

static void output_under_the_limit_is_kept(void **state)
{
    size_t out = 3 * MIB;
    size_t err = 5 * MIB;

    exec_output_fit(&out, &err, 7, 16 * MIB);
    assert_int_equal(out, 3 * MIB);
    assert_int_equal(err, 5 * MIB);

    out = 16 * MIB;
    err = 16 * MIB;
    exec_output_fit(&out, &err, 0, 40 * MIB);
    assert_int_equal(out, 16 * MIB);
    assert_int_equal(err, 16 * MIB);
}

/* Checks that the response fits the limit and wastes at most a few bytes of it. */
static void assert_fits(size_t out, size_t err, int exit_code, uint64_t limit)
{
    size_t size = packed_size(out, err, exit_code);

    assert_true(size <= limit);
    assert_true(size + 16 >= limit);
}

static void one_full_stream_is_trimmed_to_fit(void **state)
{
    size_t out = 16 * MIB;
    size_t err = 0;

    exec_output_fit(&out, &err, 7, 16 * MIB);
    assert_int_equal(err, 0);
    assert_true(out < 16 * MIB);
    assert_fits(out, err, 7, 16 * MIB);
}

static void two_full_streams_share_the_room(void **state)
{
    size_t out = 16 * MIB;
    size_t err = 16 * MIB;

    exec_output_fit(&out, &err, -1, 16 * MIB);
    assert_fits(out, err, -1, 16 * MIB);
    assert_true(out >= err);
    assert_true(out - err <= 1);
}

static void a_short_stream_leaves_its_room_to_the_other(void **state)
{
    size_t out = 1000;
    size_t err = 16 * MIB;

    exec_output_fit(&out, &err, 0, 16 * MIB);
    assert_int_equal(out, 1000);
    assert_fits(out, err, 0, 16 * MIB);

    out = 16 * MIB;
    err = 2 * MIB;
    exec_output_fit(&out, &err, 0, 4 * MIB);
    assert_int_equal(out, err);
    assert_fits(out, err, 0, 4 * MIB);
}

static void a_tiny_limit_keeps_nothing(void **state)
{
    size_t out = 100;
    size_t err = 100;

    exec_output_fit(&out, &err, -1, 8);
    assert_int_equal(out, 0);
    assert_int_equal(err, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(size_matches_protobuf_c),
        cmocka_unit_test(output_under_the_limit_is_kept),
        cmocka_unit_test(one_full_stream_is_trimmed_to_fit),
        cmocka_unit_test(two_full_streams_share_the_room),
        cmocka_unit_test(a_short_stream_leaves_its_room_to_the_other),
        cmocka_unit_test(a_tiny_limit_keeps_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
