#ifndef HOSTCRI_CRI_STREAMING_TLS_H
#define HOSTCRI_CRI_STREAMING_TLS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/strbuf.h"

/*
 * TLS for the streaming server's connections, with one implementation per system: OpenSSL on
 * Linux (tls_openssl.c) and Schannel on Windows (tls_schannel.c). A session works on memory
 * buffers only: the connection hands it the ciphertext it reads from the socket and sends the
 * ciphertext the session produces, so the TLS library never touches the socket. Every function
 * runs on the loop thread. Both implementations accept TLS 1.2 and later only.
 */

struct tls_server;
struct tls_session;

/*
 * Loads a PEM certificate chain (the server's certificate first, then intermediates) and the
 * PEM private key of that certificate. Returns 0 with *out set (free with tls_server_free), or
 * -1 with ERROR_INVALID_ARGUMENT and a message that names the file and what is wrong with it.
 */
int tls_server_new(const char *cert_file, const char *key_file, struct tls_server **out,
                   struct error *err);

/* Frees the server context. Every session made from it must be freed first. NULL is allowed. */
void tls_server_free(struct tls_server *server);

/* Starts the server side of a new connection. Allocation failure aborts. */
struct tls_session *tls_session_new(struct tls_server *server);

void tls_session_free(struct tls_session *session);

/* Returns true once the handshake has completed. */
bool tls_session_handshake_done(const struct tls_session *session);

/*
 * Feeds length bytes of ciphertext from the peer. Appends the plaintext they complete to plain
 * and the records to send back (handshake messages, alerts) to out; a partial record is kept
 * for the next call. Returns 0, 1 once the peer has sent close_notify, or -1 with err when the
 * handshake or a record failed. After -1 the caller sends out and closes the connection; the
 * message is the cause in the library's words, to be logged by the caller.
 */
int tls_session_read(struct tls_session *session, const void *data, size_t length,
                     struct strbuf *plain, struct strbuf *out, struct error *err);

/*
 * Encrypts length bytes of plaintext and appends the records to out. Plaintext written before
 * the handshake has completed is kept and sent once it has. Returns 0 or -1 with err.
 */
int tls_session_write(struct tls_session *session, const void *data, size_t length,
                      struct strbuf *out, struct error *err);

/* Appends a close_notify alert to out, when the handshake has completed. */
void tls_session_shutdown(struct tls_session *session, struct strbuf *out);

#endif
