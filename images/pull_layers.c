#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"
#include "images/layer.h"
#include "images/pull_internal.h"

static void schedule_layers(struct pull *pull);

/*
 * Concurrent pulls of different images share their common layers: a layer that another pull
 * is downloading or unpacking waits for it instead of being fetched twice. These two
 * functions find such a layer and wake the waiting pulls when it is done, or when its pull
 * failed so that they fetch it themselves.
 */
static bool in_flight_elsewhere(const struct pull *pull, const char *chain_id)
{
    for (struct pull *other = pull->manager->pulls; other != NULL; other = other->next) {
        if (other == pull || other->failed || other->completed)
            continue;
        for (size_t i = 0; i < other->layer_count; i++) {
            enum pull_layer_state state = other->layers[i].state;

            if ((state == PULL_LAYER_DOWNLOADING || state == PULL_LAYER_UNPACKING) &&
                strcmp(other->layers[i].chain_id, chain_id) == 0)
                return true;
        }
    }
    return false;
}

static void wake_other_pulls(struct pull *pull)
{
    struct pull *next;

    /* A woken pull may complete, which unlinks it but keeps its next pointer valid. */
    for (struct pull *other = pull->manager->pulls; other != NULL; other = next) {
        next = other->next;
        if (other != pull && other->in_layer_phase && !other->failed && !other->completed)
            schedule_layers(other);
    }
}

/* Unpacking on the thread pool. */

static void unpack_work_cb(uv_work_t *work)
{
    struct pull_layer *layer = work->data;
    struct pull_context *context = &layer->pull->manager->context;
    const char *digest = layer->descriptor->digest;
    _cleanup_free_ char *blob_path = NULL;

    if (layer->work_writer != NULL &&
        content_writer_commit(steal_pointer(&layer->work_writer), &layer->work_error) < 0) {
        layer->commit_failed = true;
        return;
    }
    blob_path = content_store_blob_path(context->content, digest, &layer->work_error);
    if (blob_path == NULL)
        return;
    layer_create(layer->work_root, layer->chain_id, blob_path, layer->diff_id,
                 layer_format_for_os(layer->pull->config.os), NULL, &layer->work_error);
}

static void unpack_after_cb(uv_work_t *work, int status)
{
    struct pull_layer *layer = work->data;
    struct pull *pull = layer->pull;

    pull->pending_work--;
    if (layer->work_error.code != ERROR_OK) {
        struct error err = ERROR_INIT;

        /* The unpack and commit messages already name the layer's blob. */
        error_move(&err, &layer->work_error);
        if (layer->commit_failed && layer->source_host != NULL)
            error_prefix(&err, "layer from registry %s", layer->source_host);
        pull_fail(pull, &err);
        return;
    }
    if (pull->failed) {
        pull_maybe_complete(pull);
        return;
    }
    layer->state = PULL_LAYER_DONE;
    pull->finished_layers++;
    log_info_id("image", pull->text, "layer %zu of %zu ready: %s, %lld bytes %s, %llu ms",
                layer->index + 1, pull->layer_count, layer->descriptor->digest,
                (long long)layer->descriptor->size,
                layer->downloaded ? "downloaded" : "already stored",
                (unsigned long long)(uv_now(pull->manager->context.loop) - layer->started_ms));
    schedule_layers(pull);
    wake_other_pulls(pull);
}

static void queue_unpack(struct pull_layer *layer, struct content_writer *writer)
{
    struct pull *pull = layer->pull;

    if (!layer->downloaded)
        layer->started_ms = uv_now(pull->manager->context.loop);
    layer->state = PULL_LAYER_UNPACKING;
    layer->work_writer = writer;
    layer->work_root = (char *)pull->manager->context.root_dir;
    layer->work.data = layer;
    pull->pending_work++;
    uv_queue_work(pull->manager->context.loop, &layer->work, unpack_work_cb, unpack_after_cb);
}

/* Downloads into the content store. */

static int layer_body_cb(void *data, const char *bytes, size_t length)
{
    struct pull_layer *layer = data;

    if (layer->writer == NULL)
        return -1;
    if (content_writer_write(layer->writer, bytes, length, &layer->error) < 0)
        return -1;
    return 0;
}

static void layer_restart_cb(void *data)
{
    struct pull_layer *layer = data;
    struct pull *pull = layer->pull;

    content_writer_abort(layer->writer);
    layer->writer = NULL;
    error_clear(&layer->error);
    content_writer_open(pull->manager->context.content, layer->descriptor->digest,
                        layer->descriptor->size, &layer->writer, &layer->error);
}

static void layer_done_cb(const struct registry_fetch_result *result, const struct error *err,
                          void *data)
{
    struct pull_layer *layer = data;
    struct pull *pull = layer->pull;
    struct content_writer *writer = steal_pointer(&layer->writer);
    struct error local = ERROR_INIT;

    layer->fetch = NULL;
    pull->active_downloads--;
    if (err != NULL) {
        content_writer_abort(writer);
        if (err->code == ERROR_ABORTED && layer->error.code != ERROR_OK) {
            error_move(&local, &layer->error);
            error_prefix(&local, "layer %s", layer->descriptor->digest);
        } else {
            local.code = err->code;
            local.message = xstrdup(err->message);
        }
        pull_fail(pull, &local);
        return;
    }
    log_debug_id("image", pull->text, "downloaded layer %s from %s", layer->descriptor->digest,
                 result->endpoint_host);
    free(layer->source_host);
    layer->source_host = xstrdup(result->endpoint_host);
    pull->downloaded_layers++;
    pull->downloaded_bytes += layer->descriptor->size;
    metrics_counter_add("hostcri_image_pulled_bytes_total",
                        "Bytes of image layers downloaded from registries", "",
                        (double)layer->descriptor->size);
    queue_unpack(layer, writer);
    schedule_layers(pull);
}

static void start_download(struct pull_layer *layer)
{
    struct pull *pull = layer->pull;
    struct pull_context *context = &pull->manager->context;
    struct error err = ERROR_INIT;
    struct registry_fetch_request request = {
        .domain = pull->ref.domain,
        .api_host = reference_api_host(&pull->ref),
        .repository = pull->ref.path,
        .kind = REGISTRY_BLOB,
        .reference = layer->descriptor->digest,
        .credentials = &pull->creds,
    };

    if (content_writer_open(context->content, layer->descriptor->digest, layer->descriptor->size,
                            &layer->writer, &err) < 0) {
        pull_fail(pull, &err);
        return;
    }
    layer->state = PULL_LAYER_DOWNLOADING;
    layer->started_ms = uv_now(context->loop);
    layer->downloaded = true;
    pull->active_downloads++;
    if (registry_fetch_start(context->registry, &request, layer_body_cb, layer_restart_cb,
                             layer_done_cb, layer, &layer->fetch, &err) < 0) {
        pull->active_downloads--;
        content_writer_abort(steal_pointer(&layer->writer));
        pull_fail(pull, &err);
    }
}

/* Blob already stored with the right size: unpack it without a download. */
static bool blob_is_stored(struct pull *pull, const struct manifest_descriptor *descriptor)
{
    int64_t size = -1;

    return content_store_size(pull->manager->context.content, descriptor->digest, &size, NULL) ==
               0 &&
           size == descriptor->size;
}

static void schedule_layers(struct pull *pull)
{
    struct pull_context *context = &pull->manager->context;
    unsigned limit = context->max_parallel_downloads ? context->max_parallel_downloads : 1;

    for (size_t i = 0; i < pull->layer_count && !pull->failed; i++) {
        struct pull_layer *layer = &pull->layers[i];

        if (layer->state != PULL_LAYER_WAITING)
            continue;
        if (layer_exists(context->root_dir, layer->chain_id)) {
            layer->state = PULL_LAYER_DONE;
            pull->finished_layers++;
        } else if (in_flight_elsewhere(pull, layer->chain_id)) {
            continue;
        } else if (blob_is_stored(pull, layer->descriptor)) {
            queue_unpack(layer, NULL);
        } else if (pull->active_downloads < limit) {
            start_download(layer);
        }
    }
    if (!pull->failed && pull->finished_layers == pull->layer_count && pull->pending_work == 0)
        pull_record(pull);
}

void pull_layers_start(struct pull *pull)
{
    pull->in_layer_phase = true;
    pull->layer_count = pull->manifest.layer_count;
    pull->layers = xcalloc(pull->layer_count ? pull->layer_count : 1, sizeof(*pull->layers));
    for (size_t i = 0; i < pull->layer_count; i++) {
        struct pull_layer *layer = &pull->layers[i];

        layer->pull = pull;
        layer->index = i;
        layer->descriptor = &pull->manifest.layers[i];
        layer->chain_id = pull->chain_ids[i];
        layer->diff_id = pull->config.diff_ids[i];
    }
    schedule_layers(pull);
}

void pull_layers_cancel(struct pull *pull)
{
    for (size_t i = 0; i < pull->layer_count; i++) {
        struct pull_layer *layer = &pull->layers[i];

        if (layer->fetch != NULL) {
            registry_fetch_cancel(layer->fetch);
            layer->fetch = NULL;
            pull->active_downloads--;
        }
        content_writer_abort(layer->writer);
        layer->writer = NULL;
    }
    if (pull->in_layer_phase)
        wake_other_pulls(pull);
}
