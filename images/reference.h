#ifndef HOSTCRI_IMAGES_REFERENCE_H
#define HOSTCRI_IMAGES_REFERENCE_H

#include <stdbool.h>

#include "common/error.h"

/*
 * Image references as Docker and containerd read them:
 *
 *   busybox                          -> docker.io/library/busybox:latest
 *   user/app:1.0                     -> docker.io/user/app:1.0
 *   127.0.0.1:5000/test/layers:1.0   -> 127.0.0.1:5000/test/layers:1.0
 *   localhost/x                      -> localhost/x:latest
 *   name@sha256:<64 hex>             -> docker.io/library/name@sha256:...
 *   name:tag@sha256:<64 hex>         -> docker.io/library/name:tag@sha256:...
 *
 * The first path component is a registry domain when it contains "." or ":", or is
 * "localhost", or has an uppercase letter (Docker's rule); otherwise the domain is docker.io.
 * "index.docker.io" is written as docker.io, and a docker.io repository with one component
 * gets the "library/" prefix. The repository path is lowercase components of
 * [a-z0-9] joined by ".", "_", "__" or runs of "-", separated by "/"; a tag is
 * [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}; a digest is sha256 with 64 or sha512 with 128 lowercase
 * hex digits. The name (domain and path) is at most 255 characters.
 *
 * When both a tag and a digest are given, the digest is what is fetched and the tag is kept
 * as the name the image is known by.
 */

/* Domain of Docker Hub in references, and the host its registry API is served from. */
#define REFERENCE_DOCKER_HUB_DOMAIN "docker.io"
#define REFERENCE_DOCKER_HUB_API_HOST "registry-1.docker.io"

/* A parsed, normalized reference. Every string is owned by the struct. */
struct image_reference {
    char *domain; /* "docker.io", "127.0.0.1:5000", "localhost", "[::1]:5000" */
    char *path;   /* repository path inside the registry: "library/busybox" */
    char *tag;    /* "latest" when neither a tag nor a digest was given; NULL with a digest only */
    char *digest; /* "sha256:<hex>" or NULL */
};

#define IMAGE_REFERENCE_INIT                                                                       \
    {                                                                                              \
        NULL, NULL, NULL, NULL                                                                     \
    }

/*
 * Parses and normalizes text into *ref (which the caller clears with reference_clear).
 * Returns 0, or -1 with ERROR_INVALID_ARGUMENT and a message that quotes text and names the
 * problem. A bare 64-hex string is rejected here, as Docker does: it is an image id, which
 * the image store resolves (see reference_is_image_id).
 */
int reference_parse(const char *text, struct image_reference *ref, struct error *err);

/* Frees the strings of ref and resets it to IMAGE_REFERENCE_INIT. Safe on a cleared ref. */
void reference_clear(struct image_reference *ref);

#define _cleanup_reference_ __attribute__((cleanup(reference_clear)))

/* Deep copy of src into *dst (which must be clear). */
void reference_copy(struct image_reference *dst, const struct image_reference *src);

/* The repository name, "<domain>/<path>": "docker.io/library/busybox". Caller frees. */
char *reference_name(const struct image_reference *ref);

/*
 * The full normalized reference: "<name>:<tag>", "<name>@<digest>" or "<name>:<tag>@<digest>".
 * Caller frees.
 */
char *reference_string(const struct image_reference *ref);

/* "<name>:<tag>", the form of a CRI repo_tags entry, or NULL when ref has no tag. Caller frees. */
char *reference_tagged_string(const struct image_reference *ref);

/* "<name>@<digest>", the form of a CRI repo_digests entry, for any digest. Caller frees. */
char *reference_digested_string(const struct image_reference *ref, const char *digest);

/*
 * The short form that Docker shows: the domain is dropped for docker.io, and so is
 * "library/" for official images ("busybox:latest", "user/app:1.0"). The domain stays when
 * the short form would read as another registry ("docker.io/my.org/app"). Caller frees.
 */
char *reference_familiar_string(const struct image_reference *ref);

/*
 * The host[:port] that serves the registry API for ref: registry-1.docker.io for docker.io,
 * the domain itself otherwise. Points into ref or to a constant; do not free.
 */
const char *reference_api_host(const struct image_reference *ref);

/*
 * What to put after "/v2/<path>/manifests/": the digest when there is one, else the tag.
 * Points into ref; do not free.
 */
const char *reference_fetch_ref(const struct image_reference *ref);

/*
 * True when s has the form of a full image id, "sha256:<64 lowercase hex>" or the 64 hex
 * digits alone. Short id prefixes are not recognized here: the image store resolves them.
 */
bool reference_is_image_id(const char *s);

#endif
