/*
 * The streaming server with TLS: a certificate made for the test, an https URL, and an exec
 * over SPDY inside TLS. A client that speaks plain HTTP to the TLS port is dropped.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/util.h"
#include "cri/streaming/spdy.h"
#include "harness.h"
#include "tls_files.h"

static const char *const hello_cmd[] = {"echo", "-n", "hello"};

static const struct streaming_request exec_request = {
    .kind = STREAMING_EXEC,
    .container_id = "c0ffee",
    .cmd = hello_cmd,
    .cmd_count = 3,
    .streams = STREAMING_STDOUT | STREAMING_STDERR,
};

/* Length of the leading SYN_STREAM frames of a SPDY byte stream. */
static size_t syn_stream_prefix(const uint8_t *data, size_t length)
{
    size_t offset = 0;

    while (offset + SPDY_FRAME_HEADER_LENGTH <= length && data[offset] == 0x80 &&
           data[offset + 3] == SPDY_SYN_STREAM)
        offset += SPDY_FRAME_HEADER_LENGTH + ((size_t)data[offset + 5] << 16 |
                                              (size_t)data[offset + 6] << 8 | data[offset + 7]);
    return offset;
}

static void tls_write_all(SSL *ssl, const void *data, size_t length)
{
    assert_int_equal(SSL_write(ssl, data, (int)length), (int)length);
}

static void test_tls_exec(void **state)
{
    struct tls_files cert;
    struct streaming_config config;
    struct harness harness;
    struct wire_bytes bytes;
    struct strbuf received = STRBUF_INIT;
    char buffer[16384];
    int n;

    tls_files_make(&cert);
    streaming_config_init(&config);
    config.tls_cert_file = cert.cert_file;
    config.tls_key_file = cert.key_file;
    harness_init(&harness, &config);
    _cleanup_free_ char *url = harness_issue(&harness, &exec_request);
    assert_true(str_has_prefix(url, "https://127.0.0.1:"));

    wire_read("spdy-exec-success", NULL, "c2s", &bytes);
    size_t head_length = wire_head_length(&bytes);
    _cleanup_free_ char *head = harness_rewrite_head((const char *)bytes.data, head_length, url);
    size_t streams = syn_stream_prefix(bytes.data + head_length, bytes.length - head_length);
    assert_true(streams > 0);
    harness_resume(&harness);

    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(ctx);
    assert_int_equal(SSL_CTX_load_verify_locations(ctx, cert.cert_file, NULL), 1);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    SSL *ssl = SSL_new(ctx);
    int fd = harness_connect(&harness);
    SSL_set_fd(ssl, fd);
    if (SSL_connect(ssl) != 1)
        fail_msg("TLS handshake failed: %s", ERR_reason_error_string(ERR_get_error()));
    tls_write_all(ssl, head, strlen(head));
    tls_write_all(ssl, bytes.data + head_length, streams);
    while ((n = SSL_read(ssl, buffer, sizeof(buffer))) > 0)
        strbuf_append(&received, buffer, (size_t)n);
    SSL_free(ssl);
    SSL_CTX_free(ctx);
    close(fd);
    harness_pause(&harness);

    /* 101, then the exec's frames: "hello" on stdout (3) and Success on the error stream (1). */
    assert_true(str_has_prefix(received.data, "HTTP/1.1 101 Switching Protocols\r\n"));
    char *frames = strstr(received.data, "\r\n\r\n") + 4;
    struct spdy_parser parser;
    struct spdy_frame frame = {0};
    struct error err = ERROR_INIT;
    struct strbuf stdout_data = STRBUF_INIT, status = STRBUF_INIT;
    spdy_parser_init(&parser, NULL);
    spdy_parser_feed(&parser, frames, received.length - (size_t)(frames - received.data));
    while (spdy_parser_next(&parser, &frame, &err) == 1) {
        if (frame.type == SPDY_DATA && frame.stream_id == 3)
            strbuf_append(&stdout_data, frame.data, frame.data_length);
        if (frame.type == SPDY_DATA && frame.stream_id == 1)
            strbuf_append(&status, frame.data, frame.data_length);
    }
    assert_string_equal(stdout_data.data, "hello");
    assert_string_equal(status.data, "{\"metadata\":{},\"status\":\"Success\"}");

    spdy_frame_clear(&frame);
    spdy_parser_free(&parser);
    strbuf_free(&stdout_data);
    strbuf_free(&status);
    strbuf_free(&received);
    wire_bytes_free(&bytes);
    harness_free(&harness);
    tls_files_remove(&cert);
}

static void test_tls_rejects_plain_http(void **state)
{
    struct tls_files cert;
    struct streaming_config config;
    struct harness harness;
    struct strbuf response = STRBUF_INIT;
    static const char request[] = "POST /exec/abcdefgh HTTP/1.1\r\nHost: x\r\n\r\n";

    tls_files_make(&cert);
    streaming_config_init(&config);
    config.tls_cert_file = cert.cert_file;
    config.tls_key_file = cert.key_file;
    harness_init(&harness, &config);
    harness_resume(&harness);
    int fd = harness_connect(&harness);
    harness_send(fd, request, strlen(request));
    harness_read_to_eof(fd, &response);
    close(fd);
    harness_pause(&harness);
    /* No HTTP answer: the handshake fails and the connection closes. */
    assert_false(response.length >= 5 && memcmp(response.data, "HTTP/", 5) == 0);
    strbuf_free(&response);
    harness_free(&harness);
    tls_files_remove(&cert);
}

static void test_tls_bad_certificate_fails(void **state)
{
    struct streaming_config config;
    struct streaming_server *server = NULL;
    struct error err = ERROR_INIT;
    uv_loop_t loop;

    streaming_config_init(&config);
    config.tls_cert_file = "/nonexistent/cert.pem";
    config.tls_key_file = "/nonexistent/key.pem";
    assert_int_equal(uv_loop_init(&loop), 0);
    assert_int_equal(streaming_server_start(&loop, &config, &host_backend_ops, NULL, &server, &err),
                     -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "/nonexistent/cert.pem"));
    error_clear(&err);

    config.tls_key_file = NULL;
    assert_int_equal(streaming_server_start(&loop, &config, &host_backend_ops, NULL, &server, &err),
                     -1);
    error_clear(&err);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_exec),
        cmocka_unit_test(test_tls_rejects_plain_http),
        cmocka_unit_test(test_tls_bad_certificate_fails),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
