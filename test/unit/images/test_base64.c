/* common/base64.c, which the registry credentials (images/auth.c) use on Linux and Windows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/base64.h"
#include "common/util.h"

/* The test vectors of RFC 4648 section 10. */
static const char *const vectors[][2] = {
    {"", ""},
    {"f", "Zg=="},
    {"fo", "Zm8="},
    {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="},
    {"fooba", "Zm9vYmE="},
    {"foobar", "Zm9vYmFy"},
};

static void test_base64_encode_vectors(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(vectors); i++) {
        _cleanup_free_ char *encoded = base64_encode(vectors[i][0], strlen(vectors[i][0]));

        assert_string_equal(encoded, vectors[i][1]);
    }
}

static void test_base64_decode_vectors(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(vectors); i++) {
        _cleanup_free_ unsigned char *decoded = NULL;
        size_t length = 99;

        assert_int_equal(base64_decode(vectors[i][1], strlen(vectors[i][1]), &decoded, &length), 0);
        assert_int_equal(length, strlen(vectors[i][0]));
        assert_memory_equal(decoded, vectors[i][0], length);
        assert_int_equal(decoded[length], '\0');
    }
}

static void test_base64_decode_binary(void **state)
{
    const unsigned char bytes[] = {0x00, 0xff, 0x10, 0x3e, 0x3f};
    _cleanup_free_ char *encoded = base64_encode(bytes, sizeof(bytes));
    _cleanup_free_ unsigned char *decoded = NULL;
    size_t length = 0;

    assert_string_equal(encoded, "AP8QPj8=");
    assert_int_equal(base64_decode(encoded, strlen(encoded), &decoded, &length), 0);
    assert_int_equal(length, sizeof(bytes));
    assert_memory_equal(decoded, bytes, sizeof(bytes));
}

static void test_base64_decode_invalid(void **state)
{
    const char *const invalid[] = {"Zg=", "Zg", "Z===", "Zm9v!mFy", "Zm=v", "Zm9v\nYmFy", "===="};

    for (size_t i = 0; i < ARRAY_SIZE(invalid); i++) {
        unsigned char *decoded = NULL;
        size_t length = 0;

        print_message("%s\n", invalid[i]);
        assert_int_equal(base64_decode(invalid[i], strlen(invalid[i]), &decoded, &length), -1);
        assert_null(decoded);
    }
}

static void test_base64_wipe(void **state)
{
    char secret[] = "password";

    base64_wipe(secret, strlen(secret));
    for (size_t i = 0; i < strlen("password"); i++)
        assert_int_equal(secret[i], 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_base64_encode_vectors), cmocka_unit_test(test_base64_decode_vectors),
        cmocka_unit_test(test_base64_decode_binary),  cmocka_unit_test(test_base64_decode_invalid),
        cmocka_unit_test(test_base64_wipe),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
