#ifndef HOSTCRI_COMMON_DIGEST_H
#define HOSTCRI_COMMON_DIGEST_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

/*
 * Content digests in the OCI form "<algorithm>:<lowercase hex>", for example
 * "sha256:e3b0c442...". Only sha256 (64 hex digits) and sha512 (128 hex digits) are
 * accepted, as the OCI image specification registers them.
 *
 * The hashing itself lives behind struct digest_ctx so that each OS can use its own crypto
 * library: common/digest_openssl.c (OpenSSL EVP) on Linux, a BCrypt file on Windows.
 */

enum digest_algorithm {
    DIGEST_SHA256 = 0,
    DIGEST_SHA512 = 1,
};

/* Room for the longest digest string, "sha512:" + 128 hex digits, and the NUL. */
#define DIGEST_STRING_MAX 136

/* Hex digits of a sha256 digest; also the length of an image id without "sha256:". */
#define DIGEST_SHA256_HEX_LENGTH 64

/* "sha256" or "sha512". */
const char *digest_algorithm_name(enum digest_algorithm algorithm);

/* Number of hex digits of a digest of algorithm: 64 or 128. */
size_t digest_algorithm_hex_length(enum digest_algorithm algorithm);

/*
 * Checks that digest is "<algorithm>:<hex>" with a supported algorithm, exactly the right
 * number of hex digits, and lowercase hex. On success returns 0 and, when the pointers are
 * not NULL, stores the algorithm and a pointer to the hex part inside digest. On failure
 * returns -1 with ERROR_INVALID_ARGUMENT and a message that names the digest.
 */
int digest_parse(const char *digest, enum digest_algorithm *algorithm, const char **hex,
                 struct error *err);

/* True when digest_parse would accept digest. */
bool digest_is_valid(const char *digest);

/* A streaming hash. Opaque; one per stream; not shared between threads while in use. */
struct digest_ctx;

/* Starts a hash of algorithm. Never returns NULL (allocation or library failure aborts). */
struct digest_ctx *digest_ctx_new(enum digest_algorithm algorithm);

/* The algorithm the context was created with. */
enum digest_algorithm digest_ctx_algorithm(const struct digest_ctx *ctx);

/* Adds length bytes of data to the hash. Must not be called after digest_ctx_final. */
void digest_ctx_update(struct digest_ctx *ctx, const void *data, size_t length);

/*
 * Finishes the hash and writes "<algorithm>:<hex>" with its NUL into out, which has room for
 * DIGEST_STRING_MAX bytes. Called at most once; afterwards the context can only be freed.
 */
void digest_ctx_final(struct digest_ctx *ctx, char out[DIGEST_STRING_MAX]);

/* Frees the context. Safe on NULL. */
void digest_ctx_free(struct digest_ctx *ctx);

void digest_ctx_free_ptr(struct digest_ctx **ctx);
#define _cleanup_digest_ctx_ __attribute__((cleanup(digest_ctx_free_ptr)))

/* Hashes a buffer in one call; writes the digest string into out as digest_ctx_final does. */
void digest_buffer(enum digest_algorithm algorithm, const void *data, size_t length,
                   char out[DIGEST_STRING_MAX]);

/*
 * Hashes the file at path with algorithm and writes the digest string into out. Returns 0,
 * or -1 with ERROR_NOT_FOUND when the file is missing and ERROR_INTERNAL on other I/O errors.
 * Blocking: call it on a worker thread for large files.
 */
int digest_file(enum digest_algorithm algorithm, const char *path, char out[DIGEST_STRING_MAX],
                struct error *err);

#endif
