#ifndef HOSTCRI_CRI_STREAMING_TLS_SCHANNEL_KEYS_H
#define HOSTCRI_CRI_STREAMING_TLS_SCHANNEL_KEYS_H

/*
 * The private key of the streaming server's certificate in a Windows key store, for
 * tls_schannel.c (Windows builds only). Schannel's server side needs a persisted key, so the
 * key gets a name of this process's own, "hostcri-streaming-tls-<pid>-<n>", in the store of
 * the account that runs hostcri (not the machine's), and is deleted when the server stops.
 */

#include <stdbool.h>
#include <wchar.h>

#include <windows.h>

#include <ncrypt.h>
#include <wincrypt.h>

#include "common/error.h"
#include "cri/streaming/tls_pem.h"

/* A key in a Windows key store: RSA through CryptoAPI, EC through CNG. */
struct tls_stored_key {
    enum tls_key_type type;
    wchar_t name[64];
    HCRYPTPROV rsa_provider;        /* RSA: the key container */
    NCRYPT_PROV_HANDLE ec_provider; /* EC: the key storage provider and the key */
    NCRYPT_KEY_HANDLE ec_key;
};

/*
 * Sets err to "<context>: <system message> (0x<status>)" for a failed CryptoAPI, CNG or SSPI
 * call, whose status codes (NTE_*, SEC_E_*) read best in hexadecimal. Returns -1.
 */
int tls_crypto_error(struct error *err, enum error_code code, unsigned long status, const char *fmt,
                     ...) __attribute__((format(printf, 4, 5)));

/*
 * Imports key into a new persisted key named for this process and ties it to cert
 * (CERT_KEY_PROV_INFO_PROP_ID), so that Schannel finds it. Returns 0, or -1 with err. Call
 * tls_stored_key_delete afterwards in both cases.
 */
int tls_stored_key_import(struct tls_stored_key *stored, const CERT_CONTEXT *cert,
                          const struct tls_private_key *key, struct error *err);

/* Returns whether the stored key is the private half of cert's public key. */
bool tls_stored_key_matches(const struct tls_stored_key *stored, const CERT_CONTEXT *cert);

/* Deletes the key from its store and releases the handles. Safe on a zeroed key. */
void tls_stored_key_delete(struct tls_stored_key *stored);

/*
 * Deletes the keys that hostcri processes which no longer run left behind (a process that was
 * killed never deletes its key). Failures are logged, not returned.
 */
void tls_stored_keys_delete_stale(void);

#endif
