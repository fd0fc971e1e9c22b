#ifndef HOSTCRI_COMMON_SHA1_H
#define HOSTCRI_COMMON_SHA1_H

#include <stddef.h>
#include <stdint.h>

/*
 * SHA-1 for protocols that fix it, such as the WebSocket accept key (RFC 6455 section 4.2.2).
 * SHA-1 is broken for collision resistance, so content digests use common/digest.h instead.
 * common/sha1_openssl.c implements it on Linux, common/sha1_bcrypt.c on Windows.
 */

#define SHA1_DIGEST_LENGTH 20

/* Hashes length bytes of data into out. Aborts when the crypto library fails. */
void sha1_buffer(const void *data, size_t length, uint8_t out[SHA1_DIGEST_LENGTH]);

#endif
