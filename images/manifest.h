#ifndef HOSTCRI_IMAGES_MANIFEST_H
#define HOSTCRI_IMAGES_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "images/platform.h"

/*
 * OCI image manifests and indexes, Docker schema 2 manifests and manifest lists, and image
 * configs. Docker schema 1 manifests and every other media type are rejected.
 *
 * Layer media types accepted (everything else in "layers" is rejected with its media type):
 *   application/vnd.oci.image.layer.v1.tar[+gzip|+zstd]
 *   application/vnd.oci.image.layer.nondistributable.v1.tar[+gzip|+zstd]
 *   application/vnd.docker.image.rootfs.diff.tar[.gzip]
 *   application/vnd.docker.image.rootfs.foreign.diff.tar[.gzip]
 * Non-distributable ("foreign") layers, which Windows base images use, are accepted and marked
 * foreign. The registry client fetches them by digest like any layer, and may try their urls
 * when the registry does not have the blob. Their content is verified by digest all the same.
 */

#define MEDIA_TYPE_OCI_MANIFEST "application/vnd.oci.image.manifest.v1+json"
#define MEDIA_TYPE_OCI_INDEX "application/vnd.oci.image.index.v1+json"
#define MEDIA_TYPE_OCI_CONFIG "application/vnd.oci.image.config.v1+json"
#define MEDIA_TYPE_DOCKER_MANIFEST "application/vnd.docker.distribution.manifest.v2+json"
#define MEDIA_TYPE_DOCKER_LIST "application/vnd.docker.distribution.manifest.list.v2+json"
#define MEDIA_TYPE_DOCKER_CONFIG "application/vnd.docker.container.image.v1+json"

/* Accept header value for manifest requests: every manifest and index type parsed here. */
#define MANIFEST_ACCEPT_HEADER                                                                     \
    MEDIA_TYPE_OCI_INDEX ", " MEDIA_TYPE_DOCKER_LIST ", " MEDIA_TYPE_OCI_MANIFEST                  \
                         ", " MEDIA_TYPE_DOCKER_MANIFEST

/*
 * Largest manifest, index or config document parsed, in bytes. Registries commonly reject
 * manifests above 4 MB, and real image configs are far smaller.
 */
#define MANIFEST_MAX_SIZE (4 * 1024 * 1024)

enum manifest_kind {
    MANIFEST_KIND_IMAGE, /* OCI image manifest or Docker schema 2 manifest */
    MANIFEST_KIND_INDEX, /* OCI image index or Docker manifest list */
};

enum layer_compression {
    LAYER_COMPRESSION_NONE,
    LAYER_COMPRESSION_GZIP,
    LAYER_COMPRESSION_ZSTD,
};

/* A content descriptor. Every string is owned by the struct. */
struct manifest_descriptor {
    char *media_type;
    char *digest; /* validated with digest_parse */
    int64_t size; /* >= 0 */
    char **urls;  /* NULL-terminated, or NULL */
    /* Layers only. */
    enum layer_compression compression;
    bool foreign;
    /* Index entries only. */
    bool has_platform;        /* false also for a platform without os or architecture */
    struct platform platform; /* normalized; empty when !has_platform */
};

/* A parsed manifest or index. */
struct manifest {
    enum manifest_kind kind;
    char *media_type; /* one of the four MEDIA_TYPE_* manifest and index types */
    /* MANIFEST_KIND_IMAGE */
    struct manifest_descriptor config;
    struct manifest_descriptor *layers;
    size_t layer_count;
    /* MANIFEST_KIND_INDEX */
    struct manifest_descriptor *manifests;
    size_t manifest_count;
};

#define MANIFEST_INIT                                                                              \
    {                                                                                              \
        0                                                                                          \
    }

/*
 * Parses a manifest or index document. content_type is the HTTP Content-Type it came with
 * (parameters such as "; charset=utf-8" are ignored) or NULL when unknown. The "mediaType"
 * field of the document is used too, and the two must agree when both name a known type.
 * When neither is known, the shape of the document decides (OCI allows "mediaType" to be
 * absent): "manifests" means an OCI index, "config" and "layers" an OCI manifest.
 *
 * Returns 0 and fills *out (clear; free with manifest_clear), or -1 with
 * ERROR_INVALID_ARGUMENT. The message names the media type for schema 1 and unknown types,
 * and the field for a malformed one. Never follows or fetches anything.
 */
int manifest_parse(const char *content_type, const void *data, size_t size, struct manifest *out,
                   struct error *err);

/* Frees everything in m and resets it to MANIFEST_INIT. */
void manifest_clear(struct manifest *m);

#define _cleanup_manifest_ __attribute__((cleanup(manifest_clear)))

/*
 * For an index: chooses the entry for host (platform_select rules) among entries whose media
 * type is an image manifest; entries without a platform are skipped. Stores a pointer into
 * index in *chosen. Returns 0, or -1 with ERROR_NOT_FOUND naming the host platform.
 */
int manifest_index_select(const struct manifest *index, const struct platform *host,
                          const struct manifest_descriptor **chosen, struct error *err);

/* One "Labels" entry of an image config. */
struct image_config_label {
    char *key;
    char *value;
};

/* The parts of an OCI or Docker image config that a runtime uses. Every string is owned. */
struct image_config {
    char *architecture;
    char *os;
    char *variant;    /* or NULL */
    char *os_version; /* "os.version", or NULL */
    char *created;    /* RFC 3339 text as stored, or NULL */
    char *author;     /* or NULL */
    /* "config" object; each may be NULL when absent */
    char *user;
    char **env;        /* NULL-terminated "KEY=value" */
    char **entrypoint; /* NULL-terminated */
    char **cmd;        /* NULL-terminated */
    char *working_dir;
    char *stop_signal;
    char **exposed_ports; /* NULL-terminated keys: "80/tcp" */
    char **volumes;       /* NULL-terminated keys: "/data" */
    struct image_config_label *labels;
    size_t label_count;
    /* "rootfs" */
    char **diff_ids; /* NULL-terminated, validated digests, one per layer, in order */
    size_t diff_id_count;
};

#define IMAGE_CONFIG_INIT                                                                          \
    {                                                                                              \
        0                                                                                          \
    }

/*
 * Parses an image config document into *out (clear; free with image_config_clear). Requires
 * "architecture", "os", and "rootfs" of type "layers" with valid diff_ids. Returns 0, or -1
 * with ERROR_INVALID_ARGUMENT naming the field that is missing or malformed.
 */
int image_config_parse(const void *data, size_t size, struct image_config *out, struct error *err);

void image_config_clear(struct image_config *config);

#define _cleanup_image_config_ __attribute__((cleanup(image_config_clear)))

/* The config's label value for key, or NULL. Points into config. */
const char *image_config_label(const struct image_config *config, const char *key);

/*
 * Computes the chain IDs of a layer stack from its diff IDs: chain(0) = diff(0) and
 * chain(n) = sha256(chain(n-1) + " " + diff(n)), as the OCI image specification defines.
 * Returns 0 and a NULL-terminated array of count digests in *chain_ids (free with strv_free),
 * or -1 with ERROR_INVALID_ARGUMENT when a diff ID is not a valid digest.
 */
int manifest_chain_ids(char *const *diff_ids, size_t count, char ***chain_ids, struct error *err);

/* True when media_type is an accepted layer media type (see above). */
bool manifest_is_layer_media_type(const char *media_type);

#endif
