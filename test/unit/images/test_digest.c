#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/digest.h"
#include "common/util.h"

#define EMPTY_SHA256 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define ABC_SHA256 "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define ABC_SHA512                                                                                 \
    "sha512:"                                                                                      \
    "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c"       \
    "23a3feebbd454d4423643ce80e2a9ac94fa54ca49f"

static void test_digest_known_values(void **state)
{
    char out[DIGEST_STRING_MAX];

    digest_buffer(DIGEST_SHA256, "", 0, out);
    assert_string_equal(out, EMPTY_SHA256);
    digest_buffer(DIGEST_SHA256, "abc", 3, out);
    assert_string_equal(out, ABC_SHA256);
    digest_buffer(DIGEST_SHA512, "abc", 3, out);
    assert_string_equal(out, ABC_SHA512);
}

static void test_digest_streaming(void **state)
{
    _cleanup_digest_ctx_ struct digest_ctx *ctx = digest_ctx_new(DIGEST_SHA256);
    char out[DIGEST_STRING_MAX];

    assert_int_equal(digest_ctx_algorithm(ctx), DIGEST_SHA256);
    digest_ctx_update(ctx, "a", 1);
    digest_ctx_update(ctx, "", 0);
    digest_ctx_update(ctx, "bc", 2);
    digest_ctx_final(ctx, out);
    assert_string_equal(out, ABC_SHA256);
}

static void test_digest_parse(void **state)
{
    enum digest_algorithm algorithm = DIGEST_SHA512;
    const char *hex = NULL;
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(digest_parse(ABC_SHA256, &algorithm, &hex, NULL), 0);
    assert_int_equal(algorithm, DIGEST_SHA256);
    assert_string_equal(hex, ABC_SHA256 + 7);
    assert_int_equal(digest_parse(ABC_SHA512, &algorithm, NULL, NULL), 0);
    assert_int_equal(algorithm, DIGEST_SHA512);

    assert_false(digest_is_valid("sha256:abc"));
    assert_false(digest_is_valid("sha256"));
    assert_false(digest_is_valid(NULL));
    assert_false(
        digest_is_valid("SHA256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    assert_false(
        digest_is_valid("sha256:BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD"));
    assert_false(
        digest_is_valid("md5:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
    assert_int_equal(digest_parse("sha256:xyz", NULL, NULL, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "sha256:xyz"));
}

static void test_digest_file(void **state)
{
    char path[] = "/tmp/hostcri-digest-XXXXXX";
    int fd = mkstemp(path);
    char out[DIGEST_STRING_MAX];
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_true(fd >= 0);
    assert_int_equal(write(fd, "abc", 3), 3);
    close(fd);
    assert_int_equal(digest_file(DIGEST_SHA256, path, out, NULL), 0);
    assert_string_equal(out, ABC_SHA256);
    unlink(path);
    assert_int_equal(digest_file(DIGEST_SHA256, path, out, &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_digest_known_values),
        cmocka_unit_test(test_digest_streaming),
        cmocka_unit_test(test_digest_parse),
        cmocka_unit_test(test_digest_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
