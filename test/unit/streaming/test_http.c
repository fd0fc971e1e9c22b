/*
 * The streaming server's HTTP request-head parser and header helpers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include "common/util.h"
#include "cri/streaming/http.h"

static const char request_head[] =
    "POST /exec/abc?x=1 HTTP/1.1\r\n"
    "Host: 127.0.0.1:1\r\n"
    "Connection: keep-alive, Upgrade\r\n"
    "Upgrade: SPDY/3.1\r\n"
    "X-Stream-Protocol-Version: v5.channel.k8s.io\r\n"
    "x-stream-protocol-version: v4.channel.k8s.io, ,v3.channel.k8s.io\r\n"
    "Empty:\r\n"
    "\r\n"
    "SPDY bytes";

static void test_http_head_length(void **state)
{
    assert_int_equal(http_head_length(request_head, strlen(request_head)),
                     strlen(request_head) - strlen("SPDY bytes"));
    assert_int_equal(http_head_length("GET / HTTP/1.1\n\nrest", 20), 16);
    assert_int_equal(http_head_length("GET / HTTP/1.1\r\nHost: x\r\n", 25), 0);
    assert_int_equal(http_head_length("", 0), 0);
}

static void test_http_parse_request(void **state)
{
    struct http_request request;
    struct error err = ERROR_INIT;
    size_t length = http_head_length(request_head, strlen(request_head));

    assert_int_equal(http_request_parse(request_head, length, &request, &err), 0);
    assert_string_equal(request.method, "POST");
    assert_string_equal(request.target, "/exec/abc?x=1");
    assert_string_equal(request.path, "/exec/abc");
    assert_int_equal(request.minor_version, 1);
    assert_int_equal(request.header_count, 6);
    assert_string_equal(http_request_header(&request, "host"), "127.0.0.1:1");
    assert_string_equal(http_request_header(&request, "Empty"), "");
    assert_null(http_request_header(&request, "Missing"));

    /* Values of repeated headers, split on commas, empties dropped, in order. */
    char **values = http_request_header_values(&request, "X-Stream-Protocol-Version");
    assert_int_equal(strv_length(values), 3);
    assert_string_equal(values[0], "v5.channel.k8s.io");
    assert_string_equal(values[1], "v4.channel.k8s.io");
    assert_string_equal(values[2], "v3.channel.k8s.io");
    strv_free(values);

    assert_true(http_request_header_has_token(&request, "Connection", "upgrade"));
    assert_false(http_request_header_has_token(&request, "Connection", "close"));
    assert_true(http_request_header_contains(&request, "Upgrade", "spdy/3.1"));
    assert_false(http_request_header_contains(&request, "Upgrade", "websocket"));
    http_request_free(&request);
}

static void test_http_rejects_malformed(void **state)
{
    static const char *const heads[] = {
        "\r\n\r\n",
        "GET\r\n\r\n",
        "GET /  HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1 extra\r\n\r\n",
        "GET / HTTP/1.x\r\n\r\n",
        "G(T / HTTP/1.1\r\n\r\n",
        "GET /a b HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
        "GET / HTTP/1.1\r\n: x\r\n\r\n",
        "GET / HTTP/1.1\r\nX: a\001b\r\n\r\n",
    };

    for (size_t i = 0; i < ARRAY_SIZE(heads); i++) {
        struct http_request request;
        struct error err = ERROR_INIT;

        if (http_request_parse(heads[i], strlen(heads[i]), &request, &err) == 0)
            fail_msg("head %zu was accepted", i);
        assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
        error_clear(&err);
        http_request_free(&request);
    }
}

static void test_http_header_limit(void **state)
{
    struct strbuf head = STRBUF_INIT;
    struct http_request request;
    struct error err = ERROR_INIT;

    strbuf_append_str(&head, "GET / HTTP/1.1\r\n");
    for (int i = 0; i <= HTTP_MAX_HEADERS; i++)
        strbuf_appendf(&head, "X-%d: %d\r\n", i, i);
    strbuf_append_str(&head, "\r\n");
    assert_int_equal(http_request_parse(head.data, head.length, &request, &err), -1);
    assert_non_null(strstr(err.message, "HTTP headers"));
    error_clear(&err);
    http_request_free(&request);
    strbuf_free(&head);
}

static void test_http_write_response(void **state)
{
    struct strbuf out = STRBUF_INIT;
    const char *headers[] = {"X-Accepted-Stream-Protocol-Versions: v4.channel.k8s.io", NULL};

    http_write_response(&out, 403, headers, "no\n");
    assert_string_equal(out.data, "HTTP/1.1 403 Forbidden\r\n"
                                  "X-Accepted-Stream-Protocol-Versions: v4.channel.k8s.io\r\n"
                                  "Content-Type: text/plain; charset=utf-8\r\n"
                                  "X-Content-Type-Options: nosniff\r\n"
                                  "Content-Length: 3\r\n"
                                  "\r\n"
                                  "no\n");
    strbuf_free(&out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_head_length),       cmocka_unit_test(test_http_parse_request),
        cmocka_unit_test(test_http_rejects_malformed), cmocka_unit_test(test_http_header_limit),
        cmocka_unit_test(test_http_write_response),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
