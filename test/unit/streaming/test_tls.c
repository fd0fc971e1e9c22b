/*
 * The TLS interface of the streaming server (cri/streaming/tls.h) with its OpenSSL
 * implementation: an OpenSSL client talks to a tls_session through memory buffers only, so
 * every record passes through tls_session_read and tls_session_write. Then the errors of
 * tls_server_new: a key of another certificate, a missing file, and garbage instead of PEM.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "common/util.h"
#include "cri/streaming/tls.h"
#include "tls_files.h"

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* An OpenSSL client on memory BIOs. */
struct client {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *in;  /* records from the server */
    BIO *out; /* records for the server */
};

static void client_init(struct client *client, const char *cert_file, int max_version)
{
    client->ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(client->ctx);
    assert_int_equal(SSL_CTX_load_verify_locations(client->ctx, cert_file, NULL), 1);
    SSL_CTX_set_verify(client->ctx, SSL_VERIFY_PEER, NULL);
    if (max_version != 0) {
        /* Security level 0 lets the client offer the old versions at all. */
        SSL_CTX_set_security_level(client->ctx, 0);
        SSL_CTX_set_min_proto_version(client->ctx, TLS1_VERSION);
        SSL_CTX_set_max_proto_version(client->ctx, max_version);
    }
    client->ssl = SSL_new(client->ctx);
    client->in = BIO_new(BIO_s_mem());
    client->out = BIO_new(BIO_s_mem());
    SSL_set_bio(client->ssl, client->in, client->out);
    SSL_set_connect_state(client->ssl);
}

static void client_free(struct client *client)
{
    SSL_free(client->ssl);
    SSL_CTX_free(client->ctx);
}

/* Takes what the client wrote for the server. */
static void client_output(struct client *client, struct strbuf *records)
{
    char buffer[4096];
    int n;

    while ((n = BIO_read(client->out, buffer, sizeof(buffer))) > 0)
        strbuf_append(records, buffer, (size_t)n);
}

/*
 * Runs the handshake, handing the client's records to the session one byte at a time when
 * bytewise is set, so that every partial record is seen. Returns the last tls_session_read
 * result, with its error in err.
 */
static int handshake(struct client *client, struct tls_session *session, bool bytewise,
                     struct error *err)
{
    int rc = 0;

    for (int round = 0; round < 10 && rc == 0; round++) {
        _cleanup_strbuf_ struct strbuf records = STRBUF_INIT;
        _cleanup_strbuf_ struct strbuf plain = STRBUF_INIT;
        _cleanup_strbuf_ struct strbuf answer = STRBUF_INIT;

        SSL_do_handshake(client->ssl);
        client_output(client, &records);
        if (records.length == 0 && SSL_is_init_finished(client->ssl) &&
            tls_session_handshake_done(session))
            break;
        size_t step = bytewise ? 1 : records.length;
        for (size_t i = 0; i < records.length && rc == 0; i += step)
            rc = tls_session_read(session, records.data + i, step, &plain, &answer, err);
        assert_int_equal(plain.length, 0);
        BIO_write(client->in, answer.data ? answer.data : "", (int)answer.length);
    }
    return rc;
}

static void test_tls_handshake_and_data(void **state)
{
    struct tls_files files;
    struct tls_server *server = NULL;
    struct client client;
    struct error err = ERROR_INIT;
    static const char early[] = "written before the handshake;";
    static const char from_server[] = "hello from the server";
    static const char from_client[] = "hello from the client";
    char buffer[256];

    tls_files_make(&files);
    assert_int_equal(tls_server_new(files.cert_file, files.key_file, &server, &err), 0);
    struct tls_session *session = tls_session_new(server);
    client_init(&client, files.cert_file, 0);

    _cleanup_strbuf_ struct strbuf early_records = STRBUF_INIT;
    assert_int_equal(tls_session_write(session, early, strlen(early), &early_records, &err), 0);
    assert_int_equal(early_records.length, 0);
    assert_int_equal(handshake(&client, session, true, &err), 0);
    assert_true(SSL_is_init_finished(client.ssl));
    assert_true(tls_session_handshake_done(session));
    assert_true(SSL_version(client.ssl) >= TLS1_2_VERSION);

    /* Server to client: the early plaintext comes first. */
    _cleanup_strbuf_ struct strbuf records = STRBUF_INIT;
    assert_int_equal(tls_session_write(session, from_server, strlen(from_server), &records, &err),
                     0);
    BIO_write(client.in, records.data, (int)records.length);
    _cleanup_strbuf_ struct strbuf received = STRBUF_INIT;
    int n;
    while ((n = SSL_read(client.ssl, buffer, sizeof(buffer))) > 0)
        strbuf_append(&received, buffer, (size_t)n);
    assert_string_equal(received.data, "written before the handshake;hello from the server");

    /* Client to server, a byte at a time. */
    _cleanup_strbuf_ struct strbuf sent = STRBUF_INIT;
    _cleanup_strbuf_ struct strbuf plain = STRBUF_INIT;
    _cleanup_strbuf_ struct strbuf answer = STRBUF_INIT;
    assert_int_equal(SSL_write(client.ssl, from_client, (int)strlen(from_client)),
                     (int)strlen(from_client));
    client_output(&client, &sent);
    for (size_t i = 0; i < sent.length; i++)
        assert_int_equal(tls_session_read(session, sent.data + i, 1, &plain, &answer, &err), 0);
    assert_string_equal(plain.data, from_client);

    /* The client's close_notify ends the session's input; the server sends its own. */
    strbuf_reset(&sent);
    SSL_shutdown(client.ssl);
    client_output(&client, &sent);
    assert_int_equal(tls_session_read(session, sent.data, sent.length, &plain, &answer, &err), 1);
    strbuf_reset(&records);
    tls_session_shutdown(session, &records);
    assert_true(records.length > 0);
    BIO_write(client.in, records.data, (int)records.length);
    assert_int_equal(SSL_read(client.ssl, buffer, sizeof(buffer)), 0);
    assert_int_equal(SSL_get_error(client.ssl, 0), SSL_ERROR_ZERO_RETURN);

    client_free(&client);
    tls_session_free(session);
    tls_server_free(server);
    tls_files_remove(&files);
}

static void test_tls_rejects_plain_http(void **state)
{
    struct tls_files files;
    struct tls_server *server = NULL;
    struct error err = ERROR_INIT;
    static const char request[] = "GET /exec/abc HTTP/1.1\r\nHost: x\r\n\r\n";

    tls_files_make(&files);
    assert_int_equal(tls_server_new(files.cert_file, files.key_file, &server, &err), 0);
    struct tls_session *session = tls_session_new(server);
    _cleanup_strbuf_ struct strbuf plain = STRBUF_INIT;
    _cleanup_strbuf_ struct strbuf answer = STRBUF_INIT;
    assert_int_equal(tls_session_read(session, request, strlen(request), &plain, &answer, &err),
                     -1);
    assert_false(tls_session_handshake_done(session));
    assert_int_equal(plain.length, 0);
    assert_non_null(err.message);
    error_clear(&err);
    tls_session_free(session);
    tls_server_free(server);
    tls_files_remove(&files);
}

static void test_tls_rejects_tls_1_1(void **state)
{
    struct tls_files files;
    struct tls_server *server = NULL;
    struct client client;
    struct error err = ERROR_INIT;

    tls_files_make(&files);
    assert_int_equal(tls_server_new(files.cert_file, files.key_file, &server, &err), 0);
    struct tls_session *session = tls_session_new(server);
    client_init(&client, files.cert_file, TLS1_1_VERSION);
    assert_int_equal(handshake(&client, session, false, &err), -1);
    assert_false(tls_session_handshake_done(session));
    assert_non_null(strstr(err.message, "protocol"));
    error_clear(&err);
    client_free(&client);
    tls_session_free(session);
    tls_server_free(server);
    tls_files_remove(&files);
}

static void test_tls_key_of_another_certificate(void **state)
{
    struct tls_files files;
    struct tls_server *server = NULL;
    struct error err = ERROR_INIT;
    EVP_PKEY *cert_key = EVP_EC_gen("P-256");
    EVP_PKEY *other_key = EVP_EC_gen("P-256");

    tls_files_write(&files, cert_key, other_key);
    assert_int_equal(tls_server_new(files.cert_file, files.key_file, &server, &err), -1);
    assert_null(server);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, files.cert_file));
    assert_non_null(strstr(err.message, files.key_file));
    assert_non_null(strstr(err.message, "key values mismatch"));
    error_clear(&err);
    EVP_PKEY_free(cert_key);
    EVP_PKEY_free(other_key);
    tls_files_remove(&files);
}

static void test_tls_missing_files(void **state)
{
    struct tls_files files;
    struct tls_server *server = NULL;
    struct error err = ERROR_INIT;

    tls_files_make(&files);
    assert_int_equal(tls_server_new("/nonexistent/cert.pem", files.key_file, &server, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "/nonexistent/cert.pem"));
    error_clear(&err);

    assert_int_equal(tls_server_new(files.cert_file, "/nonexistent/key.pem", &server, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "/nonexistent/key.pem"));
    error_clear(&err);
    assert_null(server);
    tls_files_remove(&files);
}

static void test_tls_garbage_pem(void **state)
{
    struct tls_files files;
    struct tls_server *server = NULL;
    struct error err = ERROR_INIT;

    tls_files_make(&files);
    _cleanup_free_ char *garbage = xasprintf("%s/garbage.pem", files.dir);
    write_file(garbage,
               "-----BEGIN CERTIFICATE-----\nnot base64 at all!\n-----END CERTIFICATE-----\n");
    assert_int_equal(tls_server_new(garbage, files.key_file, &server, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, garbage));
    error_clear(&err);

    write_file(garbage, "this is no PEM file\n");
    assert_int_equal(tls_server_new(files.cert_file, garbage, &server, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, garbage));
    error_clear(&err);
    assert_null(server);
    unlink(garbage);
    tls_files_remove(&files);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tls_handshake_and_data),
        cmocka_unit_test(test_tls_rejects_plain_http),
        cmocka_unit_test(test_tls_rejects_tls_1_1),
        cmocka_unit_test(test_tls_key_of_another_certificate),
        cmocka_unit_test(test_tls_missing_files),
        cmocka_unit_test(test_tls_garbage_pem),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
