#ifndef HOSTCRI_IMAGES_IMAGE_STORE_GC_H
#define HOSTCRI_IMAGES_IMAGE_STORE_GC_H

#include <stddef.h>

#include "common/error.h"
#include "images/content_store.h"
#include "images/image_store.h"

/*
 * Garbage collection of blobs and layer directories that no image record uses. It runs in
 * two parts: image_gc_prepare reads the records on the loop thread, and image_gc_run deletes
 * on the thread pool. Nothing may add blobs or layers between the two (the images subsystem
 * defers pulls while a collection runs), or they would be deleted.
 */

struct image_gc {
    char **keep_blobs;  /* sorted */
    char **keep_layers; /* sorted chain IDs */
    size_t keep_blob_count;
    size_t keep_layer_count;
    size_t removed_blobs;
    size_t removed_layers;
    struct error error; /* the first failure of image_gc_run, if any */
};

/*
 * Reads the keep sets from store: every blob and chain ID of every image, and for a layer
 * whose own blob is not in content (it was shared with another pull), the stored blobs
 * recorded with its diff ID, so that a flattened copy can still be made. content may be NULL
 * to skip that step. Returns 0 with *out set (free with image_gc_free), or -1.
 */
int image_gc_prepare(struct image_store *store, const struct content_store *content,
                     struct image_gc **out, struct error *err);

/*
 * Deletes every blob of content and every layer under root that is not in the keep sets, and
 * counts them. Blocking: run it on the thread pool. Failures go to gc->error; the collection
 * goes on past them.
 */
void image_gc_run(struct image_gc *gc, struct content_store *content, const char *root);

/* Frees the collection. Safe on NULL. */
void image_gc_free(struct image_gc *gc);

#endif
