#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "images/reference.h"

#define HEX64 "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define HEX128 HEX64 HEX64

struct valid_case {
    const char *text;
    const char *domain;
    const char *path;
    const char *tag;
    const char *digest;
    const char *full;
    const char *familiar;
};

static const struct valid_case valid_cases[] = {
    {"busybox", "docker.io", "library/busybox", "latest", NULL, "docker.io/library/busybox:latest",
     "busybox:latest"},
    {"busybox:1.36", "docker.io", "library/busybox", "1.36", NULL, "docker.io/library/busybox:1.36",
     "busybox:1.36"},
    {"user/app", "docker.io", "user/app", "latest", NULL, "docker.io/user/app:latest",
     "user/app:latest"},
    {"docker.io/library/busybox", "docker.io", "library/busybox", "latest", NULL,
     "docker.io/library/busybox:latest", "busybox:latest"},
    {"index.docker.io/busybox", "docker.io", "library/busybox", "latest", NULL,
     "docker.io/library/busybox:latest", "busybox:latest"},
    {"127.0.0.1:5000/test/layers:1.0", "127.0.0.1:5000", "test/layers", "1.0", NULL,
     "127.0.0.1:5000/test/layers:1.0", "127.0.0.1:5000/test/layers:1.0"},
    {"localhost/x", "localhost", "x", "latest", NULL, "localhost/x:latest", "localhost/x:latest"},
    {"localhost:5000/a/b/c:v_1-2.3", "localhost:5000", "a/b/c", "v_1-2.3", NULL,
     "localhost:5000/a/b/c:v_1-2.3", "localhost:5000/a/b/c:v_1-2.3"},
    {"[::1]:5000/x:1", "[::1]:5000", "x", "1", NULL, "[::1]:5000/x:1", "[::1]:5000/x:1"},
    {"Registry/app", "Registry", "app", "latest", NULL, "Registry/app:latest",
     "Registry/app:latest"},
    {"my-registry.example.com/a__b/c--d/e.f:TAG", "my-registry.example.com", "a__b/c--d/e.f", "TAG",
     NULL, "my-registry.example.com/a__b/c--d/e.f:TAG",
     "my-registry.example.com/a__b/c--d/e.f:TAG"},
    {"busybox@sha256:" HEX64, "docker.io", "library/busybox", NULL, "sha256:" HEX64,
     "docker.io/library/busybox@sha256:" HEX64, "busybox@sha256:" HEX64},
    {"busybox:1.0@sha256:" HEX64, "docker.io", "library/busybox", "1.0", "sha256:" HEX64,
     "docker.io/library/busybox:1.0@sha256:" HEX64, "busybox:1.0@sha256:" HEX64},
    {"quay.io/x/y@sha512:" HEX128, "quay.io", "x/y", NULL, "sha512:" HEX128,
     "quay.io/x/y@sha512:" HEX128, "quay.io/x/y@sha512:" HEX128},
    {"localhost:5000", "docker.io", "library/localhost", "5000", NULL,
     "docker.io/library/localhost:5000", "localhost:5000"},
    {"[::1]/x", "[::1]", "x", "latest", NULL, "[::1]/x:latest", "[::1]/x:latest"},
    {"Example.COM:443/team/app", "Example.COM:443", "team/app", "latest", NULL,
     "Example.COM:443/team/app:latest", "Example.COM:443/team/app:latest"},
    {"app:_", "docker.io", "library/app", "_", NULL, "docker.io/library/app:_", "app:_"},
    {"docker.io/my.org/app:1", "docker.io", "my.org/app", "1", NULL, "docker.io/my.org/app:1",
     "docker.io/my.org/app:1"},
};

static void assert_str_or_null(const char *actual, const char *expected)
{
    if (expected == NULL)
        assert_null(actual);
    else
        assert_string_equal(actual, expected);
}

/* Parsing a normalized or familiar string again gives the same normalized string. */
static void check_reparse(const char *text)
{
    _cleanup_reference_ struct image_reference ref = IMAGE_REFERENCE_INIT;
    _cleanup_free_ char *again = NULL;
    _cleanup_reference_ struct image_reference first = IMAGE_REFERENCE_INIT;
    _cleanup_free_ char *expected = NULL;

    assert_int_equal(reference_parse(text, &first, NULL), 0);
    expected = reference_string(&first);
    assert_int_equal(reference_parse(expected, &ref, NULL), 0);
    again = reference_string(&ref);
    assert_string_equal(again, expected);
}

static void test_reference_valid(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(valid_cases); i++) {
        const struct valid_case *c = &valid_cases[i];
        _cleanup_reference_ struct image_reference ref = IMAGE_REFERENCE_INIT;
        _cleanup_error_ struct error err = ERROR_INIT;
        _cleanup_free_ char *full = NULL;
        _cleanup_free_ char *familiar = NULL;

        print_message("%s\n", c->text);
        assert_int_equal(reference_parse(c->text, &ref, &err), 0);
        assert_string_equal(ref.domain, c->domain);
        assert_string_equal(ref.path, c->path);
        assert_str_or_null(ref.tag, c->tag);
        assert_str_or_null(ref.digest, c->digest);
        full = reference_string(&ref);
        assert_string_equal(full, c->full);
        familiar = reference_familiar_string(&ref);
        assert_string_equal(familiar, c->familiar);
        check_reparse(full);
        check_reparse(familiar);
    }
}

static const char *const invalid_cases[] = {
    "",
    "Busybox",
    "docker.io/Library/busybox",
    "busybox:",
    "busybox:-tag",
    "busybox:" HEX64 HEX64 "x",
    "busybox@",
    "busybox@sha256:abc",
    "busybox@sha256:" HEX64 "0",
    "busybox@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
    "busybox@md5:0123456789abcdef0123456789abcdef",
    "busybox@sha512:" HEX64,
    HEX64,
    "a..b",
    "a.-b",
    "-a",
    "a-",
    "a___b",
    "/busybox",
    "busybox/",
    "a//b",
    "-host.com/x",
    "host.com:/x",
    "host.com:12a/x",
    "[::1/x",
    "@sha256:" HEX64,
    "bus box",
    "busybox:1@sha256:" HEX64 "@sha256:" HEX64,
};

static void test_reference_invalid(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(invalid_cases); i++) {
        _cleanup_reference_ struct image_reference ref = IMAGE_REFERENCE_INIT;
        _cleanup_error_ struct error err = ERROR_INIT;

        print_message("%s\n", invalid_cases[i]);
        assert_int_equal(reference_parse(invalid_cases[i], &ref, &err), -1);
        assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
        assert_non_null(strstr(err.message, invalid_cases[i]));
        assert_null(ref.domain);
    }
}

static void test_reference_tag_length(void **state)
{
    char text[160];
    _cleanup_reference_ struct image_reference ref = IMAGE_REFERENCE_INIT;

    /* 128 characters is the longest tag. */
    snprintf(text, sizeof(text), "app:%0128d", 7);
    assert_int_equal(reference_parse(text, &ref, NULL), 0);
    assert_int_equal(strlen(ref.tag), 128);
    reference_clear(&ref);
    snprintf(text, sizeof(text), "app:%0129d", 7);
    assert_int_equal(reference_parse(text, &ref, NULL), -1);
}

static void test_reference_name_too_long(void **state)
{
    char text[300];
    _cleanup_reference_ struct image_reference ref = IMAGE_REFERENCE_INIT;
    _cleanup_error_ struct error err = ERROR_INIT;

    memset(text, 'a', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    assert_int_equal(reference_parse(text, &ref, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    text[255] = '\0';
    error_clear(&err);
    assert_int_equal(reference_parse(text, &ref, &err), 0);
}

static void test_reference_api_host(void **state)
{
    _cleanup_reference_ struct image_reference hub = IMAGE_REFERENCE_INIT;
    _cleanup_reference_ struct image_reference local = IMAGE_REFERENCE_INIT;

    assert_int_equal(reference_parse("busybox", &hub, NULL), 0);
    assert_string_equal(reference_api_host(&hub), "registry-1.docker.io");
    assert_string_equal(reference_fetch_ref(&hub), "latest");

    assert_int_equal(reference_parse("127.0.0.1:28443/a:1@sha256:" HEX64, &local, NULL), 0);
    assert_string_equal(reference_api_host(&local), "127.0.0.1:28443");
    assert_string_equal(reference_fetch_ref(&local), "sha256:" HEX64);
}

static void test_reference_tag_and_digest_strings(void **state)
{
    _cleanup_reference_ struct image_reference ref = IMAGE_REFERENCE_INIT;
    _cleanup_reference_ struct image_reference copy = IMAGE_REFERENCE_INIT;
    _cleanup_free_ char *tagged = NULL;
    _cleanup_free_ char *digested = NULL;
    _cleanup_free_ char *name = NULL;

    assert_int_equal(reference_parse("busybox:1.0@sha256:" HEX64, &ref, NULL), 0);
    reference_copy(&copy, &ref);
    tagged = reference_tagged_string(&copy);
    assert_string_equal(tagged, "docker.io/library/busybox:1.0");
    digested = reference_digested_string(&copy, "sha256:" HEX64);
    assert_string_equal(digested, "docker.io/library/busybox@sha256:" HEX64);
    name = reference_name(&copy);
    assert_string_equal(name, "docker.io/library/busybox");

    reference_clear(&ref);
    assert_int_equal(reference_parse("busybox@sha256:" HEX64, &ref, NULL), 0);
    assert_null(reference_tagged_string(&ref));
}

static void test_reference_is_image_id(void **state)
{
    assert_true(reference_is_image_id("sha256:" HEX64));
    assert_true(reference_is_image_id(HEX64));
    assert_false(reference_is_image_id("sha256:" HEX64 "0"));
    assert_false(reference_is_image_id("0123456789ab"));
    assert_false(reference_is_image_id("sha512:" HEX64));
    assert_false(reference_is_image_id("busybox"));
    assert_false(reference_is_image_id(
        "sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef"));
    assert_false(reference_is_image_id(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_valid),
        cmocka_unit_test(test_reference_invalid),
        cmocka_unit_test(test_reference_tag_length),
        cmocka_unit_test(test_reference_name_too_long),
        cmocka_unit_test(test_reference_api_host),
        cmocka_unit_test(test_reference_tag_and_digest_strings),
        cmocka_unit_test(test_reference_is_image_id),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
