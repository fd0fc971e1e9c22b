/*
 * TLS for the streaming server on Windows. Schannel support is not written yet, so a
 * configured certificate stops the start rather than letting the server speak plain HTTP.
 */
#include "cri/streaming/tls.h"

#include <stdlib.h>

int tls_server_new(const char *cert_file, const char *key_file, struct tls_server **out,
                   struct error *err)
{
    return error_set(err, ERROR_INVALID_ARGUMENT,
                     "TLS for the streaming server is not supported on Windows yet: remove the "
                     "streaming TLS certificate and key from the configuration");
}

void tls_server_free(struct tls_server *server)
{
}

struct tls_session *tls_session_new(struct tls_server *server)
{
    abort(); /* tls_server_new never succeeds */
}

void tls_session_free(struct tls_session *session)
{
}

bool tls_session_handshake_done(const struct tls_session *session)
{
    return false;
}

int tls_session_read(struct tls_session *session, const void *data, size_t length,
                     struct strbuf *plain, struct strbuf *out, struct error *err)
{
    return error_set(err, ERROR_UNIMPLEMENTED, "no TLS on Windows");
}

int tls_session_write(struct tls_session *session, const void *data, size_t length,
                      struct strbuf *out, struct error *err)
{
    return error_set(err, ERROR_UNIMPLEMENTED, "no TLS on Windows");
}

void tls_session_shutdown(struct tls_session *session, struct strbuf *out)
{
}
