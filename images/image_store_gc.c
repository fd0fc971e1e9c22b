#include "images/image_store_gc.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "images/layer.h"

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void add_all(char ***set, size_t *count, char *const *values)
{
    size_t n = strv_length(values);

    *set = xrealloc(*set, (*count + n + 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++)
        (*set)[(*count)++] = xstrdup(values[i]);
    (*set)[*count] = NULL;
}

static bool contains(char *const *set, size_t count, const char *value)
{
    return count > 0 && bsearch(&value, set, count, sizeof(char *), compare_strings) != NULL;
}

/* Adds the stored blobs recorded for the diff IDs of layers whose own blob is missing. */
static void keep_substitute_blobs(struct image_gc *gc, struct image_store *store,
                                  const struct content_store *content,
                                  const struct image_record *record)
{
    for (size_t i = 0; record->layer_digests[i] != NULL && record->diff_ids[i] != NULL; i++) {
        _cleanup_strv_ char **candidates = NULL;
        char *stored[2] = {NULL, NULL};

        if (content_store_exists(content, record->layer_digests[i]) ||
            image_store_layer_blobs(store, record->diff_ids[i], &candidates, NULL) < 0)
            continue;
        for (size_t j = 0; candidates[j] != NULL && stored[0] == NULL; j++) {
            if (content_store_exists(content, candidates[j]))
                stored[0] = candidates[j];
        }
        if (stored[0] != NULL)
            add_all(&gc->keep_blobs, &gc->keep_blob_count, stored);
    }
}

int image_gc_prepare(struct image_store *store, const struct content_store *content,
                     struct image_gc **out, struct error *err)
{
    struct image_record *records = NULL;
    size_t count = 0;
    struct image_gc *gc;

    if (image_store_list(store, &records, &count, err) < 0)
        return -1;
    gc = xcalloc(1, sizeof(*gc));
    gc->keep_blobs = xcalloc(1, sizeof(char *));
    gc->keep_layers = xcalloc(1, sizeof(char *));
    for (size_t i = 0; i < count; i++) {
        add_all(&gc->keep_blobs, &gc->keep_blob_count, records[i].blobs);
        add_all(&gc->keep_layers, &gc->keep_layer_count, records[i].chain_ids);
        if (content != NULL)
            keep_substitute_blobs(gc, store, content, &records[i]);
    }
    image_records_free(records, count);
    qsort(gc->keep_blobs, gc->keep_blob_count, sizeof(char *), compare_strings);
    qsort(gc->keep_layers, gc->keep_layer_count, sizeof(char *), compare_strings);
    *out = gc;
    return 0;
}

static void note_error(struct image_gc *gc, struct error *err)
{
    if (gc->error.code == ERROR_OK)
        error_move(&gc->error, err);
    else
        error_clear(err);
}

void image_gc_run(struct image_gc *gc, struct content_store *content, const char *root)
{
    _cleanup_strv_ char **blobs = NULL;
    _cleanup_strv_ char **layers = NULL;
    struct error err = ERROR_INIT;

    if (content_store_list(content, &blobs, &err) < 0)
        note_error(gc, &err);
    for (size_t i = 0; blobs != NULL && blobs[i] != NULL; i++) {
        if (contains(gc->keep_blobs, gc->keep_blob_count, blobs[i]))
            continue;
        if (content_store_delete(content, blobs[i], &err) < 0 && err.code != ERROR_NOT_FOUND)
            note_error(gc, &err);
        else
            gc->removed_blobs++;
        error_clear(&err);
    }

    if (layer_list(root, &layers, &err) < 0)
        note_error(gc, &err);
    for (size_t i = 0; layers != NULL && layers[i] != NULL; i++) {
        if (contains(gc->keep_layers, gc->keep_layer_count, layers[i]))
            continue;
        if (layer_remove(root, layers[i], &err) < 0 && err.code != ERROR_NOT_FOUND)
            note_error(gc, &err);
        else
            gc->removed_layers++;
        error_clear(&err);
    }
}

void image_gc_free(struct image_gc *gc)
{
    if (gc == NULL)
        return;
    strv_free(gc->keep_blobs);
    strv_free(gc->keep_layers);
    error_clear(&gc->error);
    free(gc);
}
