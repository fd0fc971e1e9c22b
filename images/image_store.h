#ifndef HOSTCRI_IMAGES_IMAGE_STORE_H
#define HOSTCRI_IMAGES_IMAGE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/*
 * Image records in SQLite (WAL mode, one transaction per change), so they survive restarts
 * and crashes. An image is known by its id (the config digest) and by any number of names:
 * repo tags ("docker.io/library/busybox:1.0") and repo digests ("docker.io/library/busybox@
 * sha256:..."). A name belongs to one image at a time; recording an image under a name that
 * another image had moves the name, and the other image stays (untagged) until it is removed.
 *
 * The store is used from the loop thread only.
 */

struct image_store;

/* One image. Every string and array is owned by the record. */
struct image_record {
    char *id;              /* "sha256:<hex>" of the config */
    char **repo_tags;      /* NULL-terminated, sorted; never NULL after a read */
    char **repo_digests;   /* NULL-terminated, sorted; never NULL after a read */
    char *manifest_digest; /* the platform's image manifest */
    int64_t size;          /* bytes: config plus the compressed layers, as listed in the manifest */
    char *config_json;     /* the image config document as pulled */
    char **chain_ids;      /* NULL-terminated, base layer first */
    char **diff_ids;       /* NULL-terminated, the same order */
    char **layer_digests;  /* NULL-terminated blob digests of the layers, the same order */
    char **blobs;          /* NULL-terminated: every blob the image keeps (index, manifest,
                              config, layers), for garbage collection */
    bool pinned;
    int64_t created_ns; /* when it was first recorded, nanoseconds since the epoch */
};

/* Frees everything in record and zeroes it. Safe on a zeroed record and on NULL. */
void image_record_clear(struct image_record *record);

/* Deep copy of src into *dst. */
void image_record_copy(struct image_record *dst, const struct image_record *src);

/* Clears count records and frees the array. */
void image_records_free(struct image_record *records, size_t count);

#define _cleanup_image_record_ __attribute__((cleanup(image_record_clear)))

/*
 * Opens (creating as needed) the database at path. Returns 0 with *out set (close with
 * image_store_close), or -1 with ERROR_INTERNAL naming the path and SQLite's message.
 */
int image_store_open(const char *path, struct image_store **out, struct error *err);

/* Closes the database. Safe on NULL. */
void image_store_close(struct image_store *store);

/*
 * Records record->id with its data and adds its repo tags and digests (names already on the
 * image stay, and so do the blobs it kept). record->created_ns is kept from an existing row. Names
 * held by another image move to this one. One transaction. Returns 0, or -1 with ERROR_INTERNAL.
 */
int image_store_put(struct image_store *store, const struct image_record *record,
                    struct error *err);

/* Reads the image with exactly this id. Returns 0, or -1 with ERROR_NOT_FOUND. */
int image_store_get(struct image_store *store, const char *id, struct image_record *out,
                    struct error *err);

/* Reads the image that has name (a repo tag or repo digest). Returns 0 or -1 (NOT_FOUND). */
int image_store_get_by_name(struct image_store *store, const char *name, struct image_record *out,
                            struct error *err);

/*
 * Reads the image whose id starts with prefix ("sha256:" optional, at least 3 hex digits).
 * Returns 0, or -1 with ERROR_NOT_FOUND, or ERROR_INVALID_ARGUMENT when it is ambiguous.
 */
int image_store_get_by_id_prefix(struct image_store *store, const char *prefix,
                                 struct image_record *out, struct error *err);

/* Reads all images, ordered by id. *records (count in *count) is freed with image_records_free. */
int image_store_list(struct image_store *store, struct image_record **records, size_t *count,
                     struct error *err);

/* Removes one name. Returns 0 (also when no image had it), or -1 with ERROR_INTERNAL. */
int image_store_remove_name(struct image_store *store, const char *name, struct error *err);

/* Removes the image and all its names. Returns 0 (also when absent), or -1. */
int image_store_remove(struct image_store *store, const char *id, struct error *err);

/* Sets the pinned flag of the image. Returns 0, or -1 (NOT_FOUND when absent). */
int image_store_set_pinned(struct image_store *store, const char *id, bool pinned,
                           struct error *err);

/*
 * Records that the layer blob digest unpacks to the tar of diff_id (several blobs, gzip, zstd
 * or uncompressed, may hold one tar). Returns 0, or -1 with ERROR_INTERNAL.
 */
int image_store_add_layer_blob(struct image_store *store, const char *diff_id, const char *digest,
                               struct error *err);

/*
 * Reads the blob digests recorded for diff_id (which may no longer be stored) into a
 * NULL-terminated *digests that the caller frees with strv_free. Returns 0 or -1.
 */
int image_store_layer_blobs(struct image_store *store, const char *diff_id, char ***digests,
                            struct error *err);

#endif
