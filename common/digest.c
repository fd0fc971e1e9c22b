#include "common/digest.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"

/* Windows has no close-on-exec flag, and its open() needs binary mode for hashing. */
#ifdef _WIN32
#define DIGEST_OPEN_FLAGS O_BINARY
#else
#define DIGEST_OPEN_FLAGS O_CLOEXEC
#endif

struct digest_algorithm_info {
    const char *name;
    size_t hex_length;
};

static const struct digest_algorithm_info algorithms[] = {
    [DIGEST_SHA256] = {"sha256", 64},
    [DIGEST_SHA512] = {"sha512", 128},
};

const char *digest_algorithm_name(enum digest_algorithm algorithm)
{
    return algorithms[algorithm].name;
}

size_t digest_algorithm_hex_length(enum digest_algorithm algorithm)
{
    return algorithms[algorithm].hex_length;
}

static bool is_lower_hex(const char *s, size_t length)
{
    for (size_t i = 0; i < length; i++) {
        char c = s[i];

        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return true;
}

int digest_parse(const char *digest, enum digest_algorithm *algorithm, const char **hex,
                 struct error *err)
{
    const char *colon = digest ? strchr(digest, ':') : NULL;

    if (colon == NULL)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid digest \"%s\": expected \"<algorithm>:<hex>\"",
                         digest ? digest : "");

    for (size_t i = 0; i < ARRAY_SIZE(algorithms); i++) {
        size_t name_length = strlen(algorithms[i].name);
        const char *digits = colon + 1;

        if ((size_t)(colon - digest) != name_length ||
            strncmp(digest, algorithms[i].name, name_length) != 0)
            continue;
        if (strlen(digits) != algorithms[i].hex_length ||
            !is_lower_hex(digits, algorithms[i].hex_length))
            return error_set(err, ERROR_INVALID_ARGUMENT,
                             "invalid digest \"%s\": %s needs %zu lowercase hex digits", digest,
                             algorithms[i].name, algorithms[i].hex_length);
        if (algorithm)
            *algorithm = (enum digest_algorithm)i;
        if (hex)
            *hex = digits;
        return 0;
    }
    return error_set(
        err, ERROR_INVALID_ARGUMENT,
        "invalid digest \"%s\": unsupported algorithm (sha256 and sha512 are supported)", digest);
}

bool digest_is_valid(const char *digest)
{
    return digest_parse(digest, NULL, NULL, NULL) == 0;
}

void digest_ctx_free_ptr(struct digest_ctx **ctx)
{
    digest_ctx_free(*ctx);
}

void digest_buffer(enum digest_algorithm algorithm, const void *data, size_t length,
                   char out[DIGEST_STRING_MAX])
{
    _cleanup_digest_ctx_ struct digest_ctx *ctx = digest_ctx_new(algorithm);

    digest_ctx_update(ctx, data, length);
    digest_ctx_final(ctx, out);
}

int digest_file(enum digest_algorithm algorithm, const char *path, char out[DIGEST_STRING_MAX],
                struct error *err)
{
    _cleanup_digest_ctx_ struct digest_ctx *ctx = NULL;
    _cleanup_close_ int fd = open(path, O_RDONLY | DIGEST_OPEN_FLAGS);
    char buffer[65536];

    if (fd < 0)
        return error_set_errno(err, errno == ENOENT ? ERROR_NOT_FOUND : ERROR_INTERNAL, errno,
                               "open %s", path);

    ctx = digest_ctx_new(algorithm);
    for (;;) {
        ssize_t n = read(fd, buffer, sizeof(buffer));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_set_errno(err, ERROR_INTERNAL, errno, "read %s", path);
        if (n == 0)
            break;
        digest_ctx_update(ctx, buffer, (size_t)n);
    }
    digest_ctx_final(ctx, out);
    return 0;
}
