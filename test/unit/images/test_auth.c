#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "images/auth.h"

#define SECOND_NS 1000000000ULL

static void test_challenge_bearer(void **state)
{
    struct auth_challenge challenge;

    assert_int_equal(auth_challenge_parse("Bearer realm=\"https://auth.example/token\","
                                          "service=\"registry.example\","
                                          "scope=\"repository:test/busybox:pull\"",
                                          &challenge, NULL),
                     0);
    assert_int_equal(challenge.scheme, AUTH_SCHEME_BEARER);
    assert_string_equal(challenge.realm, "https://auth.example/token");
    assert_string_equal(challenge.service, "registry.example");
    assert_string_equal(challenge.scope, "repository:test/busybox:pull");
    auth_challenge_clear(&challenge);
}

static void test_challenge_spaces_and_case(void **state)
{
    struct auth_challenge challenge;

    assert_int_equal(
        auth_challenge_parse("  bearer  Realm = \"https://a/t\" , SERVICE=reg ", &challenge, NULL),
        0);
    assert_int_equal(challenge.scheme, AUTH_SCHEME_BEARER);
    assert_string_equal(challenge.realm, "https://a/t");
    assert_string_equal(challenge.service, "reg");
    assert_null(challenge.scope);
    auth_challenge_clear(&challenge);
}

static void test_challenge_escaped_quote(void **state)
{
    struct auth_challenge challenge;

    assert_int_equal(
        auth_challenge_parse("Bearer realm=\"https://a/t\",service=\"a\\\"b\"", &challenge, NULL),
        0);
    assert_string_equal(challenge.service, "a\"b");
    auth_challenge_clear(&challenge);
}

static void test_challenge_basic(void **state)
{
    struct auth_challenge challenge;

    assert_int_equal(auth_challenge_parse("Basic realm=\"testbed-registry\"", &challenge, NULL), 0);
    assert_int_equal(challenge.scheme, AUTH_SCHEME_BASIC);
    assert_string_equal(challenge.realm, "testbed-registry");
    auth_challenge_clear(&challenge);
}

static void test_challenge_bearer_wins_over_basic(void **state)
{
    struct auth_challenge challenge;

    assert_int_equal(auth_challenge_parse("Basic realm=\"r\", Bearer realm=\"https://t/\","
                                          "service=\"s\"",
                                          &challenge, NULL),
                     0);
    assert_int_equal(challenge.scheme, AUTH_SCHEME_BEARER);
    assert_string_equal(challenge.realm, "https://t/");
    assert_string_equal(challenge.service, "s");
    auth_challenge_clear(&challenge);
}

static void test_challenge_invalid(void **state)
{
    const char *const invalid[] = {
        "", "Negotiate abc", "Bearer service=\"x\"", "Bearer realm=\"unterminated", NULL,
    };

    for (size_t i = 0; i < ARRAY_SIZE(invalid); i++) {
        struct auth_challenge challenge;
        _cleanup_error_ struct error err = ERROR_INIT;

        assert_int_equal(auth_challenge_parse(invalid[i], &challenge, &err), -1);
        assert_int_equal(err.code, ERROR_UNAUTHENTICATED);
        auth_challenge_clear(&challenge);
    }
}

static void test_token_get_url(void **state)
{
    struct auth_challenge challenge = {AUTH_SCHEME_BEARER, (char *)"https://t/token",
                                       (char *)"my registry", NULL};
    _cleanup_free_ char *url = auth_token_get_url(&challenge, "repository:a/b:pull");

    assert_string_equal(url,
                        "https://t/token?service=my%20registry&scope=repository%3Aa%2Fb%3Apull");
}

static void test_token_post_form_refresh(void **state)
{
    struct auth_challenge challenge = {AUTH_SCHEME_BEARER, (char *)"https://t/token", (char *)"reg",
                                       NULL};
    struct auth_credentials creds = {NULL, NULL, (char *)"refresh&token", NULL};
    _cleanup_free_ char *form = auth_token_post_form(&challenge, "repository:a:pull", &creds);

    assert_string_equal(form, "grant_type=refresh_token&refresh_token=refresh%26token&service=reg"
                              "&scope=repository%3Aa%3Apull&client_id=hostcri");
}

static void test_token_response(void **state)
{
    const char *body = "{\"token\":\"abc\",\"expires_in\":300}";
    const char *access = "{\"access_token\":\"xyz\"}";
    char *token = NULL;
    int64_t expires = 0;

    assert_int_equal(auth_token_parse_response(body, strlen(body), &token, &expires, NULL), 0);
    assert_string_equal(token, "abc");
    assert_int_equal(expires, 300);
    free(token);

    assert_int_equal(auth_token_parse_response(access, strlen(access), &token, &expires, NULL), 0);
    assert_string_equal(token, "xyz");
    assert_int_equal(expires, 60);
    free(token);

    assert_int_equal(auth_token_parse_response("{}", 2, &token, &expires, NULL), -1);
    assert_null(token);
    assert_int_equal(auth_token_parse_response("nope", 4, &token, &expires, NULL), -1);
}

static void test_token_cache_expiry(void **state)
{
    struct auth_token_cache *cache = auth_token_cache_new();
    uint64_t now = 1000 * SECOND_NS;

    auth_token_cache_put(cache, "reg:5000", "repository:a:pull", "fp", "t1", now + 60 * SECOND_NS);
    assert_string_equal(auth_token_cache_get(cache, "reg:5000", "repository:a:pull", "fp", now),
                        "t1");
    /* Other host, scope or credentials do not share the token. */
    assert_null(auth_token_cache_get(cache, "reg:5001", "repository:a:pull", "fp", now));
    assert_null(auth_token_cache_get(cache, "reg:5000", "repository:b:pull", "fp", now));
    assert_null(auth_token_cache_get(cache, "reg:5000", "repository:a:pull", "other", now));
    /* A token within 5 seconds of its expiry counts as expired. */
    assert_non_null(
        auth_token_cache_get(cache, "reg:5000", "repository:a:pull", "fp", now + 54 * SECOND_NS));
    assert_null(
        auth_token_cache_get(cache, "reg:5000", "repository:a:pull", "fp", now + 56 * SECOND_NS));
    assert_null(auth_token_cache_get(cache, "reg:5000", "repository:a:pull", "fp", now));
    auth_token_cache_free(cache);
}

static void test_token_cache_replace_and_drop(void **state)
{
    struct auth_token_cache *cache = auth_token_cache_new();
    uint64_t now = 5 * SECOND_NS;

    auth_token_cache_put(cache, "h", "s", "fp", "old", now + 100 * SECOND_NS);
    auth_token_cache_put(cache, "h", "s", "fp", "new", now + 100 * SECOND_NS);
    assert_string_equal(auth_token_cache_get(cache, "h", "s", "fp", now), "new");
    auth_token_cache_drop(cache, "h", "s", "fp");
    assert_null(auth_token_cache_get(cache, "h", "s", "fp", now));
    auth_token_cache_free(cache);
}

static void test_credentials_from_cri(void **state)
{
    struct auth_credentials creds;
    _cleanup_error_ struct error err = ERROR_INIT;

    /* base64("testbed:testbed-pass") */
    assert_int_equal(auth_credentials_from_cri(NULL, NULL, "dGVzdGJlZDp0ZXN0YmVkLXBhc3M=", NULL,
                                               NULL, &creds, NULL),
                     0);
    assert_string_equal(creds.username, "testbed");
    assert_string_equal(creds.password, "testbed-pass");
    auth_credentials_clear(&creds);

    assert_int_equal(auth_credentials_from_cri("", "", "", "", "", &creds, NULL), 0);
    assert_true(auth_credentials_empty(&creds));
    auth_credentials_clear(&creds);

    assert_int_equal(auth_credentials_from_cri("u", "p", "ignored", "id", "rt", &creds, NULL), 0);
    assert_string_equal(creds.username, "u");
    assert_string_equal(creds.identity_token, "id");
    assert_string_equal(creds.registry_token, "rt");
    auth_credentials_clear(&creds);

    /* base64("nocolon") */
    assert_int_equal(
        auth_credentials_from_cri(NULL, NULL, "bm9jb2xvbg==", NULL, NULL, &creds, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_null(strstr(err.message, "bm9jb2xvbg"));

    /* Padding only, which once read before the buffer. */
    assert_int_equal(auth_credentials_from_cri(NULL, NULL, "====", NULL, NULL, &creds, NULL), -1);
    assert_int_equal(auth_credentials_from_cri(NULL, NULL, "abc", NULL, NULL, &creds, NULL), -1);
}

static void test_basic_header(void **state)
{
    struct auth_credentials creds = {(char *)"testbed", (char *)"testbed-pass", NULL, NULL};
    _cleanup_free_ char *header = auth_basic_header(&creds);

    assert_string_equal(header, "Authorization: Basic dGVzdGJlZDp0ZXN0YmVkLXBhc3M=");
}

static void test_fingerprint_separates_users(void **state)
{
    struct auth_credentials a = {(char *)"xy", (char *)"z", NULL, NULL};
    struct auth_credentials b = {(char *)"x", (char *)"yz", NULL, NULL};
    _cleanup_free_ char *fa = auth_credentials_fingerprint(&a);
    _cleanup_free_ char *fb = auth_credentials_fingerprint(&b);
    _cleanup_free_ char *anonymous = auth_credentials_fingerprint(NULL);

    assert_string_not_equal(fa, fb);
    assert_string_equal(anonymous, "anonymous");
    /* Hex digits only, so the secrets themselves never show. */
    assert_int_equal(strspn(fa, "0123456789abcdef"), strlen(fa));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_challenge_bearer),
        cmocka_unit_test(test_challenge_spaces_and_case),
        cmocka_unit_test(test_challenge_escaped_quote),
        cmocka_unit_test(test_challenge_basic),
        cmocka_unit_test(test_challenge_bearer_wins_over_basic),
        cmocka_unit_test(test_challenge_invalid),
        cmocka_unit_test(test_token_get_url),
        cmocka_unit_test(test_token_post_form_refresh),
        cmocka_unit_test(test_token_response),
        cmocka_unit_test(test_token_cache_expiry),
        cmocka_unit_test(test_token_cache_replace_and_drop),
        cmocka_unit_test(test_credentials_from_cri),
        cmocka_unit_test(test_basic_header),
        cmocka_unit_test(test_fingerprint_separates_users),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
