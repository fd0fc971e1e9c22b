/*
 * TLS for the streaming server through OpenSSL (Linux builds): an SSL_CTX per server and, per
 * connection, an SSL object between two memory BIOs.
 */
#include "cri/streaming/tls.h"

#include <stdlib.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "common/util.h"

struct tls_server {
    SSL_CTX *ctx;
};

struct tls_session {
    SSL *ssl;
    BIO *network_in;       /* ciphertext from the peer, read by OpenSSL */
    BIO *network_out;      /* ciphertext from OpenSSL, for the peer */
    struct strbuf pending; /* plaintext written before the handshake completed */
};

int tls_server_new(const char *cert_file, const char *key_file, struct tls_server **out,
                   struct error *err)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

    if (ctx == NULL)
        abort(); /* allocation failure */
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    if (SSL_CTX_use_certificate_chain_file(ctx, cert_file) != 1 ||
        SSL_CTX_use_PrivateKey_file(ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        char reason[256];

        ERR_error_string_n(ERR_get_error(), reason, sizeof(reason));
        ERR_clear_error();
        SSL_CTX_free(ctx);
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "load streaming TLS certificate %s and key %s: %s", cert_file, key_file,
                         reason);
    }
    *out = xcalloc(1, sizeof(**out));
    (*out)->ctx = ctx;
    return 0;
}

void tls_server_free(struct tls_server *server)
{
    if (server == NULL)
        return;
    SSL_CTX_free(server->ctx);
    free(server);
}

struct tls_session *tls_session_new(struct tls_server *server)
{
    struct tls_session *session = xcalloc(1, sizeof(*session));

    session->ssl = SSL_new(server->ctx);
    session->network_in = BIO_new(BIO_s_mem());
    session->network_out = BIO_new(BIO_s_mem());
    if (session->ssl == NULL || session->network_in == NULL || session->network_out == NULL)
        abort(); /* allocation failure */
    SSL_set_bio(session->ssl, session->network_in, session->network_out);
    SSL_set_accept_state(session->ssl);
    return session;
}

void tls_session_free(struct tls_session *session)
{
    if (session == NULL)
        return;
    SSL_free(session->ssl); /* frees both BIOs */
    strbuf_free(&session->pending);
    free(session);
}

bool tls_session_handshake_done(const struct tls_session *session)
{
    return SSL_is_init_finished(session->ssl);
}

/* Moves what OpenSSL produced for the peer to out. */
static void drain_output(struct tls_session *session, struct strbuf *out)
{
    char buffer[16384];
    int n;

    while ((n = BIO_read(session->network_out, buffer, sizeof(buffer))) > 0)
        strbuf_append(out, buffer, (size_t)n);
}

/* Sets err to the reason of OpenSSL's first queued error and clears the queue. Returns -1. */
static int openssl_error(struct error *err)
{
    const char *reason = ERR_reason_error_string(ERR_get_error());

    error_set(err, ERROR_UNAVAILABLE, "%s", reason ? reason : "unknown error");
    ERR_clear_error();
    return -1;
}

static int encrypt(struct tls_session *session, const void *data, size_t length, struct strbuf *out,
                   struct error *err)
{
    /* A memory BIO grows as needed, so SSL_write takes everything at once. */
    if (SSL_write(session->ssl, data, (int)length) <= 0)
        return openssl_error(err);
    drain_output(session, out);
    return 0;
}

int tls_session_read(struct tls_session *session, const void *data, size_t length,
                     struct strbuf *plain, struct strbuf *out, struct error *err)
{
    char buffer[16384];

    BIO_write(session->network_in, data, (int)length);
    if (!SSL_is_init_finished(session->ssl)) {
        int rc = SSL_do_handshake(session->ssl);

        drain_output(session, out);
        if (rc <= 0) {
            int reason = SSL_get_error(session->ssl, rc);

            if (reason == SSL_ERROR_WANT_READ || reason == SSL_ERROR_WANT_WRITE)
                return 0;
            return openssl_error(err);
        }
        if (session->pending.length > 0) {
            _cleanup_strbuf_ struct strbuf pending = session->pending;

            session->pending = (struct strbuf)STRBUF_INIT;
            if (encrypt(session, pending.data, pending.length, out, err) < 0)
                return -1;
        }
    }
    for (;;) {
        int n = SSL_read(session->ssl, buffer, sizeof(buffer));

        if (n > 0) {
            strbuf_append(plain, buffer, (size_t)n);
            continue;
        }
        int reason = SSL_get_error(session->ssl, n);
        drain_output(session, out);
        if (reason == SSL_ERROR_ZERO_RETURN)
            return 1;
        if (reason == SSL_ERROR_WANT_READ || reason == SSL_ERROR_WANT_WRITE)
            return 0;
        return openssl_error(err);
    }
}

int tls_session_write(struct tls_session *session, const void *data, size_t length,
                      struct strbuf *out, struct error *err)
{
    if (length == 0)
        return 0;
    if (!SSL_is_init_finished(session->ssl)) {
        strbuf_append(&session->pending, data, length);
        return 0;
    }
    return encrypt(session, data, length, out, err);
}

void tls_session_shutdown(struct tls_session *session, struct strbuf *out)
{
    if (!SSL_is_init_finished(session->ssl))
        return;
    SSL_shutdown(session->ssl);
    drain_output(session, out);
}
