#ifndef HOSTCRI_CRI_STREAMING_TLS_PEM_H
#define HOSTCRI_CRI_STREAMING_TLS_PEM_H

#include <stddef.h>

#include "common/error.h"

/*
 * PEM files and private key formats for the Schannel side of tls.h, where no library reads
 * them: PEM blocks (RFC 7468), PKCS#8 private keys (RFC 5208), PKCS#1 RSA private keys
 * (RFC 8017) and SEC1 EC private keys (RFC 5915). Plain C with no system calls, so the Linux
 * unit tests cover it too.
 */

/* One "-----BEGIN <label>-----" block, its base64 decoded. */
struct tls_pem_block {
    char *label;
    unsigned char *der;
    size_t length;
};

/*
 * Parses every PEM block in length bytes of text; text outside the blocks is ignored. Returns
 * 0 with a new array in *blocks and its length in *count (0 when there is no block), or -1
 * with ERROR_INVALID_ARGUMENT naming the line of the first invalid block. Encrypted blocks
 * (a "Proc-Type: 4,ENCRYPTED" header) are rejected.
 */
int tls_pem_parse(const char *text, size_t length, struct tls_pem_block **blocks, size_t *count,
                  struct error *err);

/* Frees count blocks and the array, wiping the decoded bytes. NULL is allowed. */
void tls_pem_blocks_free(struct tls_pem_block *blocks, size_t count);

enum tls_key_type {
    TLS_KEY_RSA,
    TLS_KEY_EC,
};

/*
 * A private key in the form the Windows key stores import: for RSA the PKCS#1 RSAPrivateKey
 * (CryptDecodeObjectEx with PKCS_RSA_PRIVATE_KEY turns it into a PRIVATEKEYBLOB), for EC the
 * PKCS#8 PrivateKeyInfo (NCryptImportKey with NCRYPT_PKCS8_PRIVATE_KEY_BLOB).
 */
struct tls_private_key {
    enum tls_key_type type;
    unsigned char *der;
    size_t length;
};

/*
 * Finds the private key among blocks ("PRIVATE KEY", "RSA PRIVATE KEY" or "EC PRIVATE KEY";
 * other blocks, such as "EC PARAMETERS", are skipped) and converts it into *key. Returns 0, or
 * -1 with ERROR_INVALID_ARGUMENT saying what is wrong: no key block, an encrypted key, invalid
 * DER, or an algorithm other than RSA and EC. Free the key with tls_private_key_clear.
 */
int tls_private_key_from_pem(const struct tls_pem_block *blocks, size_t count,
                             struct tls_private_key *key, struct error *err);

/* Wipes and frees the key's bytes. */
void tls_private_key_clear(struct tls_private_key *key);

#endif
