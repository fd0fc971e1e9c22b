/* sha1_buffer of common/sha1.h on Windows CNG (bcrypt.dll); Linux uses sha1_openssl.c. */
#ifdef _WIN32

#include "common/sha1.h"

#include <stdio.h>
#include <stdlib.h>

#include <windows.h>

#include <bcrypt.h>

static void check_bcrypt(NTSTATUS status, const char *what)
{
    /* The SHA-1 provider fails only when memory runs out or the system is broken. */
    if (!BCRYPT_SUCCESS(status)) {
        fprintf(stderr, "hostcri: BCrypt %s failed: NTSTATUS 0x%08lx\n", what,
                (unsigned long)status);
        abort();
    }
}

void sha1_buffer(const void *data, size_t length, uint8_t out[SHA1_DIGEST_LENGTH])
{
    BCRYPT_ALG_HANDLE provider;
    BCRYPT_HASH_HANDLE hash;
    const unsigned char *bytes = data;

    /* Opened per call: the only caller hashes once per WebSocket handshake. */
    check_bcrypt(BCryptOpenAlgorithmProvider(&provider, BCRYPT_SHA1_ALGORITHM, NULL, 0),
                 "BCryptOpenAlgorithmProvider");
    check_bcrypt(BCryptCreateHash(provider, &hash, NULL, 0, NULL, 0, 0), "BCryptCreateHash");
    /* BCryptHashData takes a ULONG length: feed larger buffers in pieces. */
    while (length > 0) {
        ULONG piece = length > 0x40000000 ? 0x40000000 : (ULONG)length;

        check_bcrypt(BCryptHashData(hash, (PUCHAR)bytes, piece, 0), "BCryptHashData");
        bytes += piece;
        length -= piece;
    }
    check_bcrypt(BCryptFinishHash(hash, out, SHA1_DIGEST_LENGTH, 0), "BCryptFinishHash");
    BCryptDestroyHash(hash);
    BCryptCloseAlgorithmProvider(provider, 0);
}

#endif
