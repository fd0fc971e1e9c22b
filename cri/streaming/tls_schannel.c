/*
 * TLS for the streaming server through Schannel (Windows builds). The certificate chain and key
 * come from PEM files (tls_pem.c). The key is imported into a named key of the account that
 * runs hostcri (the user key store, not the machine's), because Schannel's server side needs a
 * persisted key. Keys that exist only in memory are reported to fail there with
 * SEC_E_NO_CREDENTIALS, which is why .NET's SslStream rejects ephemeral keys on Windows. The
 * key's name is unique to this process, and tls_server_free deletes the key.
 *
 * RSA keys go to the CryptoAPI provider "Microsoft Enhanced RSA and AES Cryptographic
 * Provider", EC keys to CNG's "Microsoft Software Key Storage Provider". Each connection runs
 * AcceptSecurityContext, EncryptMessage and DecryptMessage on memory buffers.
 *
 * NOTE: a process that dies without tls_server_free leaves its key in the store. The next
 * process with the same id replaces it (RSA), or overwrites it (EC); others are not removed.
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

/* PEM files larger than this are not certificates or keys. */
#define MAX_PEM_FILE (1024 * 1024)
#define KEY_NAME_PREFIX L"hostcri-streaming-tls-"
#define ENCODING (X509_ASN_ENCODING | PKCS_7_ASN_ENCODING)

struct tls_server {
    CredHandle credentials;
    bool credentials_valid;
    HCERTSTORE store; /* the chain, so that Schannel can send the intermediates */
    const CERT_CONTEXT *cert;
    enum tls_key_type key_type;
    wchar_t key_name[64];
    HCRYPTPROV rsa_provider;        /* RSA: the key container */
    NCRYPT_PROV_HANDLE ec_provider; /* EC: the key storage provider and the key */
    NCRYPT_KEY_HANDLE ec_key;
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

/*
 * Sets err to "<context>: <system message> (0x<status>)" for a failed CryptoAPI, CNG or SSPI
 * call, whose status codes (NTE_*, SEC_E_*) read best in hexadecimal. Returns -1.
 */
static int crypto_error(struct error *err, enum error_code code, unsigned long status,
                        const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int crypto_error(struct error *err, enum error_code code, unsigned long status,
                        const char *fmt, ...)
{
    char message[256];
    va_list args;

    va_start(args, fmt);
    _cleanup_free_ char *context = xvasprintf(fmt, args);
    va_end(args);
    windows_error_string(status, message, sizeof(message));
    if (str_has_prefix(message, "Windows error "))
        return error_set(err, code, "%s: error 0x%08lx", context, status);
    return error_set(err, code, "%s: %s (0x%08lx)", context, message, status);
}

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
        return crypto_error(err, ERROR_INTERNAL, GetLastError(), "CertOpenStore failed");
    for (size_t i = 0; i < count; i++) {
        if (strcmp(blocks[i].label, "CERTIFICATE") != 0)
            continue;
        found++;
        if (!CertAddEncodedCertificateToStore(server->store, X509_ASN_ENCODING, blocks[i].der,
                                              (DWORD)blocks[i].length, CERT_STORE_ADD_ALWAYS,
                                              found == 1 ? &server->cert : NULL))
            return crypto_error(err, ERROR_INVALID_ARGUMENT, GetLastError(),
                                "certificate %zu of the file is invalid", found);
    }
    if (found == 0)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "no certificate found (expected a PEM block \"BEGIN CERTIFICATE\")");
    return 0;
}

/* Imports a PKCS#1 RSA key into a new CryptoAPI key container named server->key_name. */
static int import_rsa(struct tls_server *server, const struct tls_private_key *key,
                      struct error *err)
{
    BYTE *blob = NULL;
    DWORD blob_size = 0;
    HCRYPTKEY handle;

    if (!CryptDecodeObjectEx(ENCODING, PKCS_RSA_PRIVATE_KEY, key->der, (DWORD)key->length,
                             CRYPT_DECODE_ALLOC_FLAG, NULL, &blob, &blob_size))
        return crypto_error(err, ERROR_INVALID_ARGUMENT, GetLastError(), "invalid RSA private key");
    BOOL created =
        CryptAcquireContextW(&server->rsa_provider, server->key_name, MS_ENH_RSA_AES_PROV_W,
                             PROV_RSA_AES, CRYPT_NEWKEYSET | CRYPT_SILENT);
    if (!created && GetLastError() == (DWORD)NTE_EXISTS) {
        /* Left behind by an earlier process with the same id that did not stop cleanly. */
        HCRYPTPROV stale;

        CryptAcquireContextW(&stale, server->key_name, MS_ENH_RSA_AES_PROV_W, PROV_RSA_AES,
                             CRYPT_DELETEKEYSET | CRYPT_SILENT);
        created =
            CryptAcquireContextW(&server->rsa_provider, server->key_name, MS_ENH_RSA_AES_PROV_W,
                                 PROV_RSA_AES, CRYPT_NEWKEYSET | CRYPT_SILENT);
    }
    if (!created) {
        DWORD error = GetLastError();

        SecureZeroMemory(blob, blob_size);
        LocalFree(blob);
        server->rsa_provider = 0;
        return crypto_error(err, ERROR_INTERNAL, error, "create the key container %ls",
                            server->key_name);
    }
    BOOL imported = CryptImportKey(server->rsa_provider, blob, blob_size, 0, 0, &handle);
    DWORD error = GetLastError();
    SecureZeroMemory(blob, blob_size);
    LocalFree(blob);
    if (!imported)
        return crypto_error(err, ERROR_INVALID_ARGUMENT, error,
                            "CryptImportKey of the RSA private key failed");
    CryptDestroyKey(handle);

    CRYPT_KEY_PROV_INFO info = {
        .pwszContainerName = server->key_name,
        .pwszProvName = (wchar_t *)MS_ENH_RSA_AES_PROV_W,
        .dwProvType = PROV_RSA_AES,
        .dwKeySpec = AT_KEYEXCHANGE,
    };
    if (!CertSetCertificateContextProperty(server->cert, CERT_KEY_PROV_INFO_PROP_ID, 0, &info))
        return crypto_error(err, ERROR_INTERNAL, GetLastError(), "tie the key to the certificate");
    return 0;
}

/* Imports a PKCS#8 EC key into a new CNG key named server->key_name. */
static int import_ec(struct tls_server *server, const struct tls_private_key *key,
                     struct error *err)
{
    NCryptBuffer name = {(ULONG)((wcslen(server->key_name) + 1) * sizeof(wchar_t)),
                         NCRYPTBUFFER_PKCS_KEY_NAME, server->key_name};
    NCryptBufferDesc parameters = {NCRYPTBUFFER_VERSION, 1, &name};
    SECURITY_STATUS status;

    status = NCryptOpenStorageProvider(&server->ec_provider, MS_KEY_STORAGE_PROVIDER, 0);
    if (status != ERROR_SUCCESS) {
        server->ec_provider = 0;
        return crypto_error(err, ERROR_INTERNAL, (unsigned long)status,
                            "NCryptOpenStorageProvider failed");
    }
    status = NCryptImportKey(server->ec_provider, 0, NCRYPT_PKCS8_PRIVATE_KEY_BLOB, &parameters,
                             &server->ec_key, key->der, (DWORD)key->length,
                             NCRYPT_OVERWRITE_KEY_FLAG | NCRYPT_DO_NOT_FINALIZE_FLAG |
                                 NCRYPT_SILENT_FLAG);
    if (status != ERROR_SUCCESS) {
        server->ec_key = 0;
        return crypto_error(err, ERROR_INVALID_ARGUMENT, (unsigned long)status,
                            "NCryptImportKey of the EC private key failed");
    }
    status = NCryptFinalizeKey(server->ec_key, NCRYPT_SILENT_FLAG);
    if (status != ERROR_SUCCESS)
        return crypto_error(err, ERROR_INVALID_ARGUMENT, (unsigned long)status,
                            "NCryptFinalizeKey of the EC private key failed");

    /* dwProvType 0 marks a CNG key. */
    CRYPT_KEY_PROV_INFO info = {
        .pwszContainerName = server->key_name,
        .pwszProvName = (wchar_t *)MS_KEY_STORAGE_PROVIDER,
    };
    if (!CertSetCertificateContextProperty(server->cert, CERT_KEY_PROV_INFO_PROP_ID, 0, &info))
        return crypto_error(err, ERROR_INTERNAL, GetLastError(), "tie the key to the certificate");
    return 0;
}

/* Exports the RSA public key of provider's key (or of the certificate, with spki) without the
 * BLOBHEADER, whose algorithm field differs between the two. */
static bool rsa_public_blob(HCRYPTPROV provider, const CERT_PUBLIC_KEY_INFO *spki,
                            struct strbuf *out)
{
    HCRYPTKEY key;
    DWORD size = 0;
    bool ok;

    if (spki ? !CryptImportPublicKeyInfo(provider, X509_ASN_ENCODING, (CERT_PUBLIC_KEY_INFO *)spki,
                                         &key)
             : !CryptGetUserKey(provider, AT_KEYEXCHANGE, &key))
        return false;
    ok = CryptExportKey(key, 0, PUBLICKEYBLOB, 0, NULL, &size) && size > sizeof(BLOBHEADER);
    if (ok) {
        BYTE *blob = xmalloc(size);

        ok = CryptExportKey(key, 0, PUBLICKEYBLOB, 0, blob, &size);
        if (ok)
            strbuf_append(out, blob + sizeof(BLOBHEADER), size - sizeof(BLOBHEADER));
        free(blob);
    }
    CryptDestroyKey(key);
    return ok;
}

/* Exports an EC public key as X and Y, without the BCRYPT_ECCKEY_BLOB header. */
static bool ec_public_blob(NCRYPT_KEY_HANDLE ncrypt_key, BCRYPT_KEY_HANDLE bcrypt_key,
                           struct strbuf *out)
{
    BYTE blob[sizeof(BCRYPT_ECCKEY_BLOB) + 2 * 66];
    ULONG size = 0;
    bool ok = ncrypt_key ? NCryptExportKey(ncrypt_key, 0, BCRYPT_ECCPUBLIC_BLOB, NULL, blob,
                                           sizeof(blob), &size, 0) == ERROR_SUCCESS
                         : BCRYPT_SUCCESS(BCryptExportKey(bcrypt_key, NULL, BCRYPT_ECCPUBLIC_BLOB,
                                                          blob, sizeof(blob), &size, 0));

    if (ok && size > sizeof(BCRYPT_ECCKEY_BLOB))
        strbuf_append(out, blob + sizeof(BCRYPT_ECCKEY_BLOB), size - sizeof(BCRYPT_ECCKEY_BLOB));
    return ok;
}

/* Checks that the imported key is the private half of the certificate's public key. */
static bool key_matches_certificate(struct tls_server *server)
{
    const CERT_PUBLIC_KEY_INFO *spki = &server->cert->pCertInfo->SubjectPublicKeyInfo;
    _cleanup_strbuf_ struct strbuf from_key = STRBUF_INIT;
    _cleanup_strbuf_ struct strbuf from_cert = STRBUF_INIT;
    bool ok;

    if (server->key_type == TLS_KEY_RSA) {
        HCRYPTPROV verify;

        if (!CryptAcquireContextW(&verify, NULL, MS_ENH_RSA_AES_PROV_W, PROV_RSA_AES,
                                  CRYPT_VERIFYCONTEXT | CRYPT_SILENT))
            return false;
        ok = rsa_public_blob(server->rsa_provider, NULL, &from_key) &&
             rsa_public_blob(verify, spki, &from_cert);
        CryptReleaseContext(verify, 0);
    } else {
        BCRYPT_KEY_HANDLE cert_key;

        if (!CryptImportPublicKeyInfoEx2(X509_ASN_ENCODING, (CERT_PUBLIC_KEY_INFO *)spki, 0, NULL,
                                         &cert_key))
            return false;
        ok =
            ec_public_blob(server->ec_key, 0, &from_key) && ec_public_blob(0, cert_key, &from_cert);
        BCryptDestroyKey(cert_key);
    }
    return ok && from_key.length == from_cert.length &&
           memcmp(from_key.data, from_cert.data, from_key.length) == 0;
}

static int load_key(struct tls_server *server, const char *key_file, struct error *err)
{
    static LONG counter;
    struct tls_pem_block *blocks = NULL;
    size_t count = 0;
    struct tls_private_key key = {0};
    int rc;

    swprintf(server->key_name, ARRAY_SIZE(server->key_name), KEY_NAME_PREFIX L"%lu-%ld",
             (unsigned long)GetCurrentProcessId(), InterlockedIncrement(&counter));
    rc = read_pem(key_file, &blocks, &count, err);
    if (rc == 0)
        rc = tls_private_key_from_pem(blocks, count, &key, err);
    tls_pem_blocks_free(blocks, count);
    if (rc < 0)
        return -1;
    server->key_type = key.type;
    rc = key.type == TLS_KEY_RSA ? import_rsa(server, &key, err) : import_ec(server, &key, err);
    tls_private_key_clear(&key);
    return rc;
}

/* Server credentials, TLS 1.2 and later. SCH_CREDENTIALS (Windows 10 1809 and later) also
 * enables TLS 1.3 where the system has it; older systems, and Wine 8, take SCHANNEL_CRED. */
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
        return crypto_error(err, ERROR_INVALID_ARGUMENT, (unsigned long)status,
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
    if (!key_matches_certificate(server)) {
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
    log_debug("streaming: TLS key of %s in key container %ls", cert_file, server->key_name);
    *out = server;
    return 0;
}

/* Deletes the key container or CNG key that load_key created. */
static void delete_key(struct tls_server *server)
{
    HCRYPTPROV deleted;

    if (server->rsa_provider != 0) {
        CryptReleaseContext(server->rsa_provider, 0);
        if (!CryptAcquireContextW(&deleted, server->key_name, MS_ENH_RSA_AES_PROV_W, PROV_RSA_AES,
                                  CRYPT_DELETEKEYSET | CRYPT_SILENT))
            log_warn("streaming: delete the TLS key container %ls: Windows error %lu",
                     server->key_name, GetLastError());
    }
    if (server->ec_key != 0) {
        SECURITY_STATUS status = NCryptDeleteKey(server->ec_key, NCRYPT_SILENT_FLAG);

        if (status != ERROR_SUCCESS) {
            log_warn("streaming: delete the TLS key %ls: status 0x%lx", server->key_name,
                     (unsigned long)status);
            NCryptFreeObject(server->ec_key);
        }
    }
    if (server->ec_provider != 0)
        NCryptFreeObject(server->ec_provider);
}

void tls_server_free(struct tls_server *server)
{
    if (server == NULL)
        return;
    if (server->credentials_valid)
        FreeCredentialsHandle(&server->credentials);
    delete_key(server);
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
    return crypto_error(err, ERROR_UNAVAILABLE, (unsigned long)status, "%s failed", call);
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
     * to AcceptSecurityContext. */
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
