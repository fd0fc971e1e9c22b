/*
 * TLS for the streaming server through Schannel (Windows builds). The certificate chain and key
 * come from PEM files (tls_pem.c). The key goes into a named, persisted key of the account that
 * runs hostcri (tls_schannel_keys.c), because Schannel's server side needs a persisted key:
 * keys that exist only in memory are reported to fail there with SEC_E_NO_CREDENTIALS, which
 * is why .NET's SslStream rejects ephemeral keys on Windows. tls_server_free deletes the key,
 * and the next tls_server_new deletes the keys of hostcri processes that were killed.
 *
 * Each connection runs AcceptSecurityContext, EncryptMessage and DecryptMessage on memory
 * buffers.
 *
 * NOTE: Schannel sends the chain that Windows builds from its certificate stores, so the
 * intermediates of the file may not reach clients unless the machine's "Intermediate
 * Certification Authorities" store has them. This is not checked on a real host yet.
 */
#include "cri/streaming/tls.h"

#define SECURITY_WIN32
/* Declares SCH_CREDENTIALS and TLS_PARAMETERS, which need UNICODE_STRING from subauth.h. */
#define SCHANNEL_USE_BLACKLISTS
#include <windows.h>

#include <ncrypt.h>
#include <subauth.h>
#include <schannel.h>
#include <security.h>
#include <wincrypt.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error_windows.h"
#include "common/log.h"
#include "common/text_windows.h"
#include "common/util.h"
#include "cri/streaming/tls_pem.h"
#include "cri/streaming/tls_schannel_keys.h"

/* PEM files larger than this are not certificates or keys. */
#define MAX_PEM_FILE (1024 * 1024)

struct tls_server {
    CredHandle credentials;
    bool credentials_valid;
    HCERTSTORE store; /* the chain */
    const CERT_CONTEXT *cert;
    struct tls_stored_key key;
};

struct tls_session {
    struct tls_server *server;
    CtxtHandle context;
    bool context_valid;
    bool established;   /* the first handshake completed */
    bool renegotiating; /* DecryptMessage asked for AcceptSecurityContext again */
    bool closed;        /* close_notify received or sent */
    SecPkgContext_StreamSizes sizes;
    struct strbuf input;   /* ciphertext not yet consumed */
    struct strbuf pending; /* plaintext written before the handshake completed */
};

/* ---- Loading the certificate and the key -------------------------------------------------- */

/* Reads a whole file named in UTF-8 into *text. */
static int read_file(const char *path, struct strbuf *text, struct error *err)
{
    _cleanup_free_ wchar_t *wide = text_windows_utf8_to_wide(path);
    char buffer[16384];
    size_t n;

    FILE *file = wide ? _wfopen(wide, L"rb") : NULL;
    if (file == NULL)
        return error_set_errno(err, ERROR_INVALID_ARGUMENT, errno, "cannot open the file");
    while ((n = fread(buffer, 1, sizeof(buffer), file)) > 0 && text->length <= MAX_PEM_FILE)
        strbuf_append(text, buffer, n);
    bool failed = ferror(file);
    fclose(file);
    SecureZeroMemory(buffer, sizeof(buffer));
    if (failed)
        return error_set(err, ERROR_INVALID_ARGUMENT, "cannot read the file");
    if (text->length > MAX_PEM_FILE)
        return error_set(err, ERROR_INVALID_ARGUMENT, "the file is larger than %d bytes",
                         MAX_PEM_FILE);
    return 0;
}

/* Reads the PEM blocks of path; the caller frees them with tls_pem_blocks_free. */
static int read_pem(const char *path, struct tls_pem_block **blocks, size_t *count,
                    struct error *err)
{
    struct strbuf text = STRBUF_INIT;
    int rc = read_file(path, &text, err);

    if (rc == 0)
        rc = tls_pem_parse(text.data ? text.data : "", text.length, blocks, count, err);
    if (text.data)
        SecureZeroMemory(text.data, text.length);
    strbuf_free(&text);
    return rc;
}

/* Puts every CERTIFICATE block into a memory store; the first is the server's certificate. */
static int load_chain(struct tls_server *server, const struct tls_pem_block *blocks, size_t count,
                      struct error *err)
{
    size_t found = 0;

    server->store = CertOpenStore(CERT_STORE_PROV_MEMORY, 0, 0, CERT_STORE_CREATE_NEW_FLAG, NULL);
    if (server->store == NULL)
        return tls_crypto_error(err, ERROR_INTERNAL, GetLastError(), "CertOpenStore failed");
    for (size_t i = 0; i < count; i++) {
        if (strcmp(blocks[i].label, "CERTIFICATE") != 0)
            continue;
        found++;
        if (!CertAddEncodedCertificateToStore(server->store, X509_ASN_ENCODING, blocks[i].der,
                                              (DWORD)blocks[i].length, CERT_STORE_ADD_ALWAYS,
                                              found == 1 ? &server->cert : NULL))
            return tls_crypto_error(err, ERROR_INVALID_ARGUMENT, GetLastError(),
                                    "certificate %zu of the file is invalid", found);
    }
    if (found == 0)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "no certificate found (expected a PEM block \"BEGIN CERTIFICATE\")");
    return 0;
}

static int load_key(struct tls_server *server, const char *key_file, struct error *err)
{
    struct tls_pem_block *blocks = NULL;
    size_t count = 0;
    struct tls_private_key key = {0};

    int rc = read_pem(key_file, &blocks, &count, err);
    if (rc == 0)
        rc = tls_private_key_from_pem(blocks, count, &key, err);
    tls_pem_blocks_free(blocks, count);
    if (rc == 0)
        rc = tls_stored_key_import(&server->key, server->cert, &key, err);
    tls_private_key_clear(&key);
    return rc;
}

/* Server credentials, TLS 1.2 and later. SCH_CREDENTIALS is the form that allows TLS 1.3 where
 * the system has it; systems that reject it, Wine 8 among them, take SCHANNEL_CRED. */
static int acquire_credentials(struct tls_server *server, struct error *err)
{
    TLS_PARAMETERS parameters = {
        .grbitDisabledProtocols = SP_PROT_SSL2_SERVER | SP_PROT_SSL3_SERVER |
                                  SP_PROT_TLS1_0_SERVER | SP_PROT_TLS1_1_SERVER,
    };
    SCH_CREDENTIALS modern = {
        .dwVersion = SCH_CREDENTIALS_VERSION,
        .cCreds = 1,
        .paCred = (PCCERT_CONTEXT *)&server->cert,
        .dwFlags = SCH_USE_STRONG_CRYPTO,
        .cTlsParameters = 1,
        .pTlsParameters = &parameters,
    };
    SCHANNEL_CRED legacy = {
        .dwVersion = SCHANNEL_CRED_VERSION,
        .cCreds = 1,
        .paCred = (PCCERT_CONTEXT *)&server->cert,
        .grbitEnabledProtocols = SP_PROT_TLS1_2_SERVER,
        .dwFlags = SCH_USE_STRONG_CRYPTO,
    };
    SECURITY_STATUS status;

    status = AcquireCredentialsHandleW(NULL, (SEC_WCHAR *)UNISP_NAME_W, SECPKG_CRED_INBOUND, NULL,
                                       &modern, NULL, NULL, &server->credentials, NULL);
    if (status != SEC_E_OK)
        status = AcquireCredentialsHandleW(NULL, (SEC_WCHAR *)UNISP_NAME_W, SECPKG_CRED_INBOUND,
                                           NULL, &legacy, NULL, NULL, &server->credentials, NULL);
    if (status != SEC_E_OK)
        return tls_crypto_error(err, ERROR_INVALID_ARGUMENT, (unsigned long)status,
                                "AcquireCredentialsHandle for the certificate failed");
    server->credentials_valid = true;
    return 0;
}

int tls_server_new(const char *cert_file, const char *key_file, struct tls_server **out,
                   struct error *err)
{
    struct tls_server *server = xcalloc(1, sizeof(*server));
    struct tls_pem_block *blocks = NULL;
    size_t count = 0;

    tls_stored_keys_delete_stale();
    int rc = read_pem(cert_file, &blocks, &count, err);
    if (rc == 0)
        rc = load_chain(server, blocks, count, err);
    tls_pem_blocks_free(blocks, count);
    if (rc < 0) {
        tls_server_free(server);
        return error_prefix(err, "load streaming TLS certificate %s", cert_file);
    }
    if (load_key(server, key_file, err) < 0) {
        tls_server_free(server);
        return error_prefix(err, "load streaming TLS key %s", key_file);
    }
    if (!tls_stored_key_matches(&server->key, server->cert)) {
        tls_server_free(server);
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "load streaming TLS key %s: it is not the private key of the "
                         "certificate in %s",
                         key_file, cert_file);
    }
    if (acquire_credentials(server, err) < 0) {
        tls_server_free(server);
        return error_prefix(err, "load streaming TLS certificate %s and key %s", cert_file,
                            key_file);
    }
    log_debug("streaming: TLS key of %s in key container %ls", cert_file, server->key.name);
    *out = server;
    return 0;
}

void tls_server_free(struct tls_server *server)
{
    if (server == NULL)
        return;
    if (server->credentials_valid)
        FreeCredentialsHandle(&server->credentials);
    tls_stored_key_delete(&server->key);
    if (server->cert)
        CertFreeCertificateContext(server->cert);
    if (server->store)
        CertCloseStore(server->store, 0);
    free(server);
}

/* ---- Sessions ----------------------------------------------------------------------------- */

#define ACCEPT_FLAGS                                                                               \
    (ASC_REQ_SEQUENCE_DETECT | ASC_REQ_REPLAY_DETECT | ASC_REQ_CONFIDENTIALITY |                   \
     ASC_REQ_EXTENDED_ERROR | ASC_REQ_ALLOCATE_MEMORY | ASC_REQ_STREAM)

/* Sets err for a failed SSPI call. Returns -1. */
static int security_error(struct error *err, const char *call, SECURITY_STATUS status)
{
    return tls_crypto_error(err, ERROR_UNAVAILABLE, (unsigned long)status, "%s failed", call);
}

struct tls_session *tls_session_new(struct tls_server *server)
{
    struct tls_session *session = xcalloc(1, sizeof(*session));

    session->server = server;
    return session;
}

void tls_session_free(struct tls_session *session)
{
    if (session == NULL)
        return;
    if (session->context_valid)
        DeleteSecurityContext(&session->context);
    strbuf_free(&session->input);
    strbuf_free(&session->pending);
    free(session);
}

bool tls_session_handshake_done(const struct tls_session *session)
{
    return session->established;
}

/* Appends the token AcceptSecurityContext allocated, and frees it. */
static void take_token(SecBuffer *buffer, struct strbuf *out)
{
    if (buffer->pvBuffer != NULL && buffer->cbBuffer > 0)
        strbuf_append(out, buffer->pvBuffer, buffer->cbBuffer);
    if (buffer->pvBuffer != NULL)
        FreeContextBuffer(buffer->pvBuffer);
    buffer->pvBuffer = NULL;
}

static int encrypt(struct tls_session *session, const void *data, size_t length, struct strbuf *out,
                   struct error *err);

/* Runs one AcceptSecurityContext step over the buffered input. Returns 1 when it consumed
 * records and may go on, 0 when it needs more input, or -1. */
static int handshake_step(struct tls_session *session, struct strbuf *out, struct error *err)
{
    SecBuffer input[2] = {
        {(ULONG)session->input.length, SECBUFFER_TOKEN, session->input.data},
        {0, SECBUFFER_EMPTY, NULL},
    };
    /* With ASC_REQ_EXTENDED_ERROR a failure puts its alert record in the token. */
    SecBuffer output[1] = {{0, SECBUFFER_TOKEN, NULL}};
    SecBufferDesc input_desc = {SECBUFFER_VERSION, 2, input};
    SecBufferDesc output_desc = {SECBUFFER_VERSION, 1, output};
    ULONG attributes = 0;

    SECURITY_STATUS status = AcceptSecurityContext(
        &session->server->credentials, session->context_valid ? &session->context : NULL,
        &input_desc, ACCEPT_FLAGS, 0, &session->context, &output_desc, &attributes, NULL);
    if (status == SEC_E_INCOMPLETE_MESSAGE)
        return 0;
    if (session->context.dwLower != 0 || session->context.dwUpper != 0)
        session->context_valid = true;
    take_token(&output[0], out);
    if (status != SEC_E_OK && status != SEC_I_CONTINUE_NEEDED)
        return security_error(err, "AcceptSecurityContext", status);

    size_t extra = input[1].BufferType == SECBUFFER_EXTRA ? input[1].cbBuffer : 0;
    strbuf_consume(&session->input, session->input.length - extra);
    if (status == SEC_I_CONTINUE_NEEDED)
        return session->input.length > 0 ? 1 : 0;

    session->renegotiating = false;
    if (!session->established) {
        status =
            QueryContextAttributesW(&session->context, SECPKG_ATTR_STREAM_SIZES, &session->sizes);
        if (status != SEC_E_OK)
            return security_error(err, "QueryContextAttributes(STREAM_SIZES)", status);
        session->established = true;
    }
    if (session->pending.length > 0) {
        _cleanup_strbuf_ struct strbuf pending = session->pending;

        session->pending = (struct strbuf)STRBUF_INIT;
        if (encrypt(session, pending.data, pending.length, out, err) < 0)
            return -1;
    }
    return 1;
}

/* Decrypts one record of the buffered input into plain. Returns 1 when it may go on, 0 when it
 * needs more input, 2 on close_notify, or -1. */
static int decrypt_step(struct tls_session *session, struct strbuf *plain, struct error *err)
{
    SecBuffer buffers[4] = {
        {(ULONG)session->input.length, SECBUFFER_DATA, session->input.data},
        {0, SECBUFFER_EMPTY, NULL},
        {0, SECBUFFER_EMPTY, NULL},
        {0, SECBUFFER_EMPTY, NULL},
    };
    SecBufferDesc desc = {SECBUFFER_VERSION, 4, buffers};
    size_t extra = 0;

    if (session->input.length == 0)
        return 0;
    SECURITY_STATUS status = DecryptMessage(&session->context, &desc, 0, NULL);
    if (status == SEC_E_INCOMPLETE_MESSAGE)
        return 0;
    if (status != SEC_E_OK && status != SEC_I_RENEGOTIATE && status != SEC_I_CONTEXT_EXPIRED)
        return security_error(err, "DecryptMessage", status);
    /* Decryption works in place, so the plaintext is copied before the input moves. */
    for (size_t i = 1; i < ARRAY_SIZE(buffers); i++) {
        if (buffers[i].BufferType == SECBUFFER_DATA && buffers[i].cbBuffer > 0)
            strbuf_append(plain, buffers[i].pvBuffer, buffers[i].cbBuffer);
        if (buffers[i].BufferType == SECBUFFER_EXTRA)
            extra = buffers[i].cbBuffer;
    }
    strbuf_consume(&session->input, session->input.length - extra);
    if (status == SEC_I_CONTEXT_EXPIRED) {
        session->closed = true;
        return 2;
    }
    /* A TLS 1.2 renegotiation or TLS 1.3 post-handshake message: the records that follow go
     * to AcceptSecurityContext.
     * NOTE: when no bytes follow, AcceptSecurityContext runs only once the peer sends more, and
     * writes wait until then. Go clients (kubelet, crictl) do not renegotiate, and no real
     * host has run this path yet. */
    if (status == SEC_I_RENEGOTIATE)
        session->renegotiating = true;
    return 1;
}

int tls_session_read(struct tls_session *session, const void *data, size_t length,
                     struct strbuf *plain, struct strbuf *out, struct error *err)
{
    int rc;

    if (session->closed)
        return 1;
    strbuf_append(&session->input, data, length);
    do {
        if (!session->established || session->renegotiating)
            rc = handshake_step(session, out, err);
        else
            rc = decrypt_step(session, plain, err);
    } while (rc == 1 && session->input.length > 0);
    if (rc < 0)
        return -1;
    return rc == 2 ? 1 : 0;
}

static int encrypt(struct tls_session *session, const void *data, size_t length, struct strbuf *out,
                   struct error *err)
{
    const SecPkgContext_StreamSizes *sizes = &session->sizes;
    const char *bytes = data;

    while (length > 0) {
        size_t chunk = length < sizes->cbMaximumMessage ? length : sizes->cbMaximumMessage;
        size_t record = sizes->cbHeader + chunk + sizes->cbTrailer;

        strbuf_reserve(out, record);
        char *start = out->data + out->length;
        memcpy(start + sizes->cbHeader, bytes, chunk);
        SecBuffer buffers[4] = {
            {sizes->cbHeader, SECBUFFER_STREAM_HEADER, start},
            {(ULONG)chunk, SECBUFFER_DATA, start + sizes->cbHeader},
            {sizes->cbTrailer, SECBUFFER_STREAM_TRAILER, start + sizes->cbHeader + chunk},
            {0, SECBUFFER_EMPTY, NULL},
        };
        SecBufferDesc desc = {SECBUFFER_VERSION, 4, buffers};
        SECURITY_STATUS status = EncryptMessage(&session->context, 0, &desc, 0);
        if (status != SEC_E_OK)
            return security_error(err, "EncryptMessage", status);
        /* The trailer may come out shorter than its maximum. */
        out->length += buffers[0].cbBuffer + buffers[1].cbBuffer + buffers[2].cbBuffer;
        out->data[out->length] = '\0';
        bytes += chunk;
        length -= chunk;
    }
    return 0;
}

int tls_session_write(struct tls_session *session, const void *data, size_t length,
                      struct strbuf *out, struct error *err)
{
    if (length == 0)
        return 0;
    if (session->closed)
        return error_set(err, ERROR_UNAVAILABLE, "the TLS session is closed");
    if (!session->established || session->renegotiating) {
        strbuf_append(&session->pending, data, length);
        return 0;
    }
    return encrypt(session, data, length, out, err);
}

void tls_session_shutdown(struct tls_session *session, struct strbuf *out)
{
    DWORD type = SCHANNEL_SHUTDOWN;
    SecBuffer token = {sizeof(type), SECBUFFER_TOKEN, &type};
    SecBufferDesc token_desc = {SECBUFFER_VERSION, 1, &token};
    SecBuffer output[1] = {{0, SECBUFFER_TOKEN, NULL}};
    SecBufferDesc output_desc = {SECBUFFER_VERSION, 1, output};
    ULONG attributes = 0;

    if (!session->established || session->closed)
        return;
    session->closed = true;
    if (ApplyControlToken(&session->context, &token_desc) != SEC_E_OK)
        return;
    /* With the shutdown token applied, AcceptSecurityContext writes the close_notify alert. */
    AcceptSecurityContext(&session->server->credentials, &session->context, NULL, ACCEPT_FLAGS, 0,
                          NULL, &output_desc, &attributes, NULL);
    take_token(&output[0], out);
}
