/*
 * The streaming server's private key in a Windows key store (tls_schannel_keys.h): RSA keys in
 * the CryptoAPI provider "Microsoft Enhanced RSA and AES Cryptographic Provider", EC keys in
 * CNG's "Microsoft Software Key Storage Provider".
 */
#include "cri/streaming/tls_schannel_keys.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error_windows.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "common/text_windows.h"
#include "common/util.h"

#define KEY_NAME_PREFIX "hostcri-streaming-tls-"
#define ENCODING (X509_ASN_ENCODING | PKCS_7_ASN_ENCODING)

int tls_crypto_error(struct error *err, enum error_code code, unsigned long status, const char *fmt,
                     ...)
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

/* Imports a PKCS#1 RSA key into a new CryptoAPI key container named stored->name. */
static int import_rsa(struct tls_stored_key *stored, const CERT_CONTEXT *cert,
                      const struct tls_private_key *key, struct error *err)
{
    BYTE *blob = NULL;
    DWORD blob_size = 0;
    HCRYPTKEY handle;

    if (!CryptDecodeObjectEx(ENCODING, PKCS_RSA_PRIVATE_KEY, key->der, (DWORD)key->length,
                             CRYPT_DECODE_ALLOC_FLAG, NULL, &blob, &blob_size))
        return tls_crypto_error(err, ERROR_INVALID_ARGUMENT, GetLastError(),
                                "invalid RSA private key");
    BOOL created = CryptAcquireContextW(&stored->rsa_provider, stored->name, MS_ENH_RSA_AES_PROV_W,
                                        PROV_RSA_AES, CRYPT_NEWKEYSET | CRYPT_SILENT);
    if (!created && GetLastError() == (DWORD)NTE_EXISTS) {
        /* Left behind by an earlier process with the same id that did not stop cleanly. */
        HCRYPTPROV stale;

        CryptAcquireContextW(&stale, stored->name, MS_ENH_RSA_AES_PROV_W, PROV_RSA_AES,
                             CRYPT_DELETEKEYSET | CRYPT_SILENT);
        created = CryptAcquireContextW(&stored->rsa_provider, stored->name, MS_ENH_RSA_AES_PROV_W,
                                       PROV_RSA_AES, CRYPT_NEWKEYSET | CRYPT_SILENT);
    }
    if (!created) {
        DWORD error = GetLastError();

        SecureZeroMemory(blob, blob_size);
        LocalFree(blob);
        stored->rsa_provider = 0;
        return tls_crypto_error(err, ERROR_INTERNAL, error, "create the key container %ls",
                                stored->name);
    }
    BOOL imported = CryptImportKey(stored->rsa_provider, blob, blob_size, 0, 0, &handle);
    DWORD error = GetLastError();
    SecureZeroMemory(blob, blob_size);
    LocalFree(blob);
    if (!imported)
        return tls_crypto_error(err, ERROR_INVALID_ARGUMENT, error,
                                "CryptImportKey of the RSA private key failed");
    CryptDestroyKey(handle);

    CRYPT_KEY_PROV_INFO info = {
        .pwszContainerName = stored->name,
        .pwszProvName = (wchar_t *)MS_ENH_RSA_AES_PROV_W,
        .dwProvType = PROV_RSA_AES,
        .dwKeySpec = AT_KEYEXCHANGE,
    };
    if (!CertSetCertificateContextProperty(cert, CERT_KEY_PROV_INFO_PROP_ID, 0, &info))
        return tls_crypto_error(err, ERROR_INTERNAL, GetLastError(),
                                "tie the key to the certificate");
    return 0;
}

/*
 * Imports a PKCS#8 EC key into a new CNG key named stored->name.
 *
 * NOTE: NCryptImportKey's documentation warns that a service calling it from its start can
 * deadlock, and the daemon loads the certificate before it reports SERVICE_RUNNING. Wine has
 * no CNG import to try this with, so the EC path awaits a check on a real node.
 */
static int import_ec(struct tls_stored_key *stored, const CERT_CONTEXT *cert,
                     const struct tls_private_key *key, struct error *err)
{
    NCryptBuffer name = {(ULONG)((wcslen(stored->name) + 1) * sizeof(wchar_t)),
                         NCRYPTBUFFER_PKCS_KEY_NAME, stored->name};
    NCryptBufferDesc parameters = {NCRYPTBUFFER_VERSION, 1, &name};
    SECURITY_STATUS status;

    status = NCryptOpenStorageProvider(&stored->ec_provider, MS_KEY_STORAGE_PROVIDER, 0);
    if (status != ERROR_SUCCESS) {
        stored->ec_provider = 0;
        return tls_crypto_error(err, ERROR_INTERNAL, (unsigned long)status,
                                "NCryptOpenStorageProvider failed");
    }
    status = NCryptImportKey(stored->ec_provider, 0, NCRYPT_PKCS8_PRIVATE_KEY_BLOB, &parameters,
                             &stored->ec_key, key->der, (DWORD)key->length,
                             NCRYPT_OVERWRITE_KEY_FLAG | NCRYPT_DO_NOT_FINALIZE_FLAG |
                                 NCRYPT_SILENT_FLAG);
    if (status != ERROR_SUCCESS) {
        stored->ec_key = 0;
        return tls_crypto_error(err, ERROR_INVALID_ARGUMENT, (unsigned long)status,
                                "NCryptImportKey of the EC private key failed");
    }
    status = NCryptFinalizeKey(stored->ec_key, NCRYPT_SILENT_FLAG);
    if (status != ERROR_SUCCESS)
        return tls_crypto_error(err, ERROR_INVALID_ARGUMENT, (unsigned long)status,
                                "NCryptFinalizeKey of the EC private key failed");

    /* dwProvType 0 marks a CNG key. */
    CRYPT_KEY_PROV_INFO info = {
        .pwszContainerName = stored->name,
        .pwszProvName = (wchar_t *)MS_KEY_STORAGE_PROVIDER,
    };
    if (!CertSetCertificateContextProperty(cert, CERT_KEY_PROV_INFO_PROP_ID, 0, &info))
        return tls_crypto_error(err, ERROR_INTERNAL, GetLastError(),
                                "tie the key to the certificate");
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

bool tls_stored_key_matches(const struct tls_stored_key *stored, const CERT_CONTEXT *cert)
{
    const CERT_PUBLIC_KEY_INFO *spki = &cert->pCertInfo->SubjectPublicKeyInfo;
    _cleanup_strbuf_ struct strbuf from_key = STRBUF_INIT;
    _cleanup_strbuf_ struct strbuf from_cert = STRBUF_INIT;
    bool ok;

    if (stored->type == TLS_KEY_RSA) {
        HCRYPTPROV verify;

        if (!CryptAcquireContextW(&verify, NULL, MS_ENH_RSA_AES_PROV_W, PROV_RSA_AES,
                                  CRYPT_VERIFYCONTEXT | CRYPT_SILENT))
            return false;
        ok = rsa_public_blob(stored->rsa_provider, NULL, &from_key) &&
             rsa_public_blob(verify, spki, &from_cert);
        CryptReleaseContext(verify, 0);
    } else {
        BCRYPT_KEY_HANDLE cert_key;

        if (!CryptImportPublicKeyInfoEx2(X509_ASN_ENCODING, (CERT_PUBLIC_KEY_INFO *)spki, 0, NULL,
                                         &cert_key))
            return false;
        ok =
            ec_public_blob(stored->ec_key, 0, &from_key) && ec_public_blob(0, cert_key, &from_cert);
        BCryptDestroyKey(cert_key);
    }
    return ok && from_key.length == from_cert.length &&
           memcmp(from_key.data, from_cert.data, from_key.length) == 0;
}

void tls_stored_key_delete(struct tls_stored_key *stored)
{
    HCRYPTPROV deleted;

    if (stored->rsa_provider != 0) {
        CryptReleaseContext(stored->rsa_provider, 0);
        if (!CryptAcquireContextW(&deleted, stored->name, MS_ENH_RSA_AES_PROV_W, PROV_RSA_AES,
                                  CRYPT_DELETEKEYSET | CRYPT_SILENT))
            log_warn("streaming: cannot delete the TLS key container %ls: error 0x%08lx",
                     stored->name, GetLastError());
    }
    if (stored->ec_key != 0) {
        SECURITY_STATUS status = NCryptDeleteKey(stored->ec_key, NCRYPT_SILENT_FLAG);

        if (status != ERROR_SUCCESS) {
            log_warn("streaming: cannot delete the TLS key %ls: error 0x%08lx", stored->name,
                     (unsigned long)status);
            NCryptFreeObject(stored->ec_key);
        }
    }
    if (stored->ec_provider != 0)
        NCryptFreeObject(stored->ec_provider);
}

int tls_stored_key_import(struct tls_stored_key *stored, const CERT_CONTEXT *cert,
                          const struct tls_private_key *key, struct error *err)
{
    static LONG counter;

    swprintf(stored->name, ARRAY_SIZE(stored->name), L"" KEY_NAME_PREFIX "%lu-%ld",
             (unsigned long)GetCurrentProcessId(), InterlockedIncrement(&counter));
    stored->type = key->type;
    if (key->type == TLS_KEY_RSA)
        return import_rsa(stored, cert, key, err);
    return import_ec(stored, cert, key, err);
}

/* ---- Keys of processes that no longer run -------------------------------------------------- */

/* Returns whether name is a key of a hostcri process other than this one that no longer runs. */
static bool is_stale(const char *name)
{
    char *end;

    if (!str_has_prefix(name, KEY_NAME_PREFIX))
        return false;
    unsigned long pid = strtoul(name + strlen(KEY_NAME_PREFIX), &end, 10);
    if (*end != '-' || pid == GetCurrentProcessId())
        return false;
    HANDLE process = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)pid);
    if (process != NULL) {
        CloseHandle(process);
        return false;
    }
    /* Access denied means that the process exists. */
    return GetLastError() == ERROR_INVALID_PARAMETER;
}

static void delete_stale_rsa_keys(void)
{
    _cleanup_strv_ char **stale = xcalloc(1, sizeof(*stale));
    size_t count = 0;
    HCRYPTPROV provider;
    char name[256];

    if (!CryptAcquireContextW(&provider, NULL, MS_ENH_RSA_AES_PROV_W, PROV_RSA_AES,
                              CRYPT_VERIFYCONTEXT | CRYPT_SILENT))
        return;
    /* The names are collected first, because deleting during the enumeration would restart it. */
    for (DWORD size = sizeof(name), flags = CRYPT_FIRST;
         CryptGetProvParam(provider, PP_ENUMCONTAINERS, (BYTE *)name, &size, flags);
         size = sizeof(name), flags = CRYPT_NEXT) {
        if (!is_stale(name))
            continue;
        stale = xrealloc(stale, (count + 2) * sizeof(*stale));
        stale[count++] = xstrdup(name);
        stale[count] = NULL;
    }
    CryptReleaseContext(provider, 0);
    for (size_t i = 0; i < count; i++) {
        if (CryptAcquireContextA(&provider, stale[i], MS_ENH_RSA_AES_PROV_A, PROV_RSA_AES,
                                 CRYPT_DELETEKEYSET | CRYPT_SILENT))
            log_info("streaming: deleted the TLS key container %s of a stopped process", stale[i]);
        else
            log_warn("streaming: cannot delete the TLS key container %s: error 0x%08lx", stale[i],
                     GetLastError());
    }
}

static void delete_stale_ec_keys(void)
{
    NCRYPT_PROV_HANDLE provider;
    NCryptKeyName *key_name;
    void *state = NULL;
    _cleanup_strv_ char **stale = xcalloc(1, sizeof(*stale));
    size_t count = 0;

    if (NCryptOpenStorageProvider(&provider, MS_KEY_STORAGE_PROVIDER, 0) != ERROR_SUCCESS)
        return;
    while (NCryptEnumKeys(provider, NULL, &key_name, &state, NCRYPT_SILENT_FLAG) == ERROR_SUCCESS) {
        char name[256];

        snprintf(name, sizeof(name), "%ls", key_name->pszName);
        NCryptFreeBuffer(key_name);
        if (!is_stale(name))
            continue;
        stale = xrealloc(stale, (count + 2) * sizeof(*stale));
        stale[count++] = xstrdup(name);
        stale[count] = NULL;
    }
    if (state != NULL)
        NCryptFreeBuffer(state);
    for (size_t i = 0; i < count; i++) {
        _cleanup_free_ wchar_t *wide = text_windows_utf8_to_wide(stale[i]);
        NCRYPT_KEY_HANDLE key;
        SECURITY_STATUS status;

        status = NCryptOpenKey(provider, &key, wide, 0, NCRYPT_SILENT_FLAG);
        if (status == ERROR_SUCCESS) {
            status = NCryptDeleteKey(key, NCRYPT_SILENT_FLAG);
            if (status != ERROR_SUCCESS)
                NCryptFreeObject(key);
        }
        if (status == ERROR_SUCCESS)
            log_info("streaming: deleted the TLS key %s of a stopped process", stale[i]);
        else
            log_warn("streaming: cannot delete the TLS key %s: error 0x%08lx", stale[i],
                     (unsigned long)status);
    }
    NCryptFreeObject(provider);
}

void tls_stored_keys_delete_stale(void)
{
    delete_stale_rsa_keys();
    delete_stale_ec_keys();
}
