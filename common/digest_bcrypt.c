/*
 * The digest_ctx functions of common/digest.h on Windows CNG (bcrypt.dll), which ships with
 * every Windows version hostcri supports; the Linux build uses digest_openssl.c instead.
 */
#ifdef _WIN32

#include "common/digest.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <windows.h>

#include <bcrypt.h>

#include "common/util.h"

struct digest_ctx {
    enum digest_algorithm algorithm;
    BCRYPT_HASH_HANDLE hash;
};

/* One provider per algorithm, opened on first use and kept for the life of the process. */
static INIT_ONCE provider_once[2] = {INIT_ONCE_STATIC_INIT, INIT_ONCE_STATIC_INIT};
static BCRYPT_ALG_HANDLE providers[2];

static void check_bcrypt(NTSTATUS status, const char *what)
{
    /* The sha2 providers fail only when memory runs out or the system is broken. */
    if (!BCRYPT_SUCCESS(status)) {
        fprintf(stderr, "hostcri: BCrypt %s failed: NTSTATUS 0x%08lx\n", what,
                (unsigned long)status);
        abort();
    }
}

static BOOL CALLBACK open_provider_cb(PINIT_ONCE once, PVOID parameter, PVOID *context)
{
    enum digest_algorithm algorithm = (enum digest_algorithm)(uintptr_t)parameter;
    LPCWSTR name = algorithm == DIGEST_SHA512 ? BCRYPT_SHA512_ALGORITHM : BCRYPT_SHA256_ALGORITHM;

    (void)once;
    (void)context;
    check_bcrypt(BCryptOpenAlgorithmProvider(&providers[algorithm], name, NULL, 0),
                 "BCryptOpenAlgorithmProvider");
    return TRUE;
}

struct digest_ctx *digest_ctx_new(enum digest_algorithm algorithm)
{
    struct digest_ctx *ctx = xcalloc(1, sizeof(*ctx));

    InitOnceExecuteOnce(&provider_once[algorithm], open_provider_cb, (PVOID)(uintptr_t)algorithm,
                        NULL);
    ctx->algorithm = algorithm;
    /* A NULL hash object buffer makes BCrypt allocate it (Windows 7 and later). */
    check_bcrypt(BCryptCreateHash(providers[algorithm], &ctx->hash, NULL, 0, NULL, 0, 0),
                 "BCryptCreateHash");
    return ctx;
}

enum digest_algorithm digest_ctx_algorithm(const struct digest_ctx *ctx)
{
    return ctx->algorithm;
}

void digest_ctx_update(struct digest_ctx *ctx, const void *data, size_t length)
{
    const unsigned char *bytes = data;

    /* BCryptHashData takes a ULONG length: feed larger buffers in pieces. */
    while (length > 0) {
        ULONG piece = length > 0x40000000 ? 0x40000000 : (ULONG)length;

        check_bcrypt(BCryptHashData(ctx->hash, (PUCHAR)bytes, piece, 0), "BCryptHashData");
        bytes += piece;
        length -= piece;
    }
}

void digest_ctx_final(struct digest_ctx *ctx, char out[DIGEST_STRING_MAX])
{
    static const char hex_digits[] = "0123456789abcdef";
    unsigned char raw[64];
    ULONG raw_length = ctx->algorithm == DIGEST_SHA512 ? 64 : 32;
    size_t pos;

    check_bcrypt(BCryptFinishHash(ctx->hash, raw, raw_length, 0), "BCryptFinishHash");
    pos = (size_t)snprintf(out, DIGEST_STRING_MAX, "%s:", digest_algorithm_name(ctx->algorithm));
    for (ULONG i = 0; i < raw_length && pos + 2 < DIGEST_STRING_MAX; i++) {
        out[pos++] = hex_digits[raw[i] >> 4];
        out[pos++] = hex_digits[raw[i] & 0xf];
    }
    out[pos] = '\0';
}

void digest_ctx_free(struct digest_ctx *ctx)
{
    if (ctx == NULL)
        return;
    if (ctx->hash)
        BCryptDestroyHash(ctx->hash);
    free(ctx);
}

#endif
