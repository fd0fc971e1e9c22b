/* The digest_ctx functions of common/digest.h on OpenSSL's EVP interface (Linux). */
#ifndef _WIN32

#include "common/digest.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/evp.h>

#include "common/util.h"

struct digest_ctx {
    enum digest_algorithm algorithm;
    EVP_MD_CTX *md;
};

static void check_openssl(int ok, const char *what)
{
    /* EVP calls on the built-in sha2 implementations fail only when memory runs out. */
    if (!ok) {
        fprintf(stderr, "hostcri: OpenSSL %s failed\n", what);
        abort();
    }
}

struct digest_ctx *digest_ctx_new(enum digest_algorithm algorithm)
{
    struct digest_ctx *ctx = xcalloc(1, sizeof(*ctx));
    const EVP_MD *type = algorithm == DIGEST_SHA512 ? EVP_sha512() : EVP_sha256();

    ctx->algorithm = algorithm;
    ctx->md = EVP_MD_CTX_new();
    check_openssl(ctx->md != NULL, "EVP_MD_CTX_new");
    check_openssl(EVP_DigestInit_ex(ctx->md, type, NULL), "EVP_DigestInit_ex");
    return ctx;
}

enum digest_algorithm digest_ctx_algorithm(const struct digest_ctx *ctx)
{
    return ctx->algorithm;
}

void digest_ctx_update(struct digest_ctx *ctx, const void *data, size_t length)
{
    if (length > 0)
        check_openssl(EVP_DigestUpdate(ctx->md, data, length), "EVP_DigestUpdate");
}

void digest_ctx_final(struct digest_ctx *ctx, char out[DIGEST_STRING_MAX])
{
    static const char hex_digits[] = "0123456789abcdef";
    unsigned char raw[EVP_MAX_MD_SIZE];
    unsigned int raw_length = 0;
    const char *name = digest_algorithm_name(ctx->algorithm);
    size_t pos;

    check_openssl(EVP_DigestFinal_ex(ctx->md, raw, &raw_length), "EVP_DigestFinal_ex");
    pos = (size_t)snprintf(out, DIGEST_STRING_MAX, "%s:", name);
    for (unsigned int i = 0; i < raw_length && pos + 2 < DIGEST_STRING_MAX; i++) {
        out[pos++] = hex_digits[raw[i] >> 4];
        out[pos++] = hex_digits[raw[i] & 0xf];
    }
    out[pos] = '\0';
}

void digest_ctx_free(struct digest_ctx *ctx)
{
    if (ctx == NULL)
        return;
    EVP_MD_CTX_free(ctx->md);
    free(ctx);
}

#endif
