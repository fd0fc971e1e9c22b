#include "images/pull.h"

#include <stdlib.h>
#include <string.h>

#include "common/digest.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"
#include "images/layer.h"
#include "images/pull_internal.h"

static void fetch_config(struct pull *pull);
static void fetch_platform_manifest(struct pull *pull, const struct manifest_descriptor *chosen);

/* Lifecycle. */

static void pull_free_cb(uv_handle_t *handle)
{
    struct pull *pull = handle->data;
    struct pull_manager *manager = pull->manager;

    free(pull->key);
    free(pull->text);
    reference_clear(&pull->ref);
    auth_credentials_clear(&pull->creds);
    strbuf_free(&pull->body);
    free(pull->top_digest);
    free(pull->top_media_type);
    free(pull->manifest_digest);
    manifest_clear(&pull->manifest);
    free(pull->config_json);
    image_config_clear(&pull->config);
    strv_free(pull->chain_ids);
    for (size_t i = 0; i < pull->layer_count; i++) {
        error_clear(&pull->layers[i].error);
        error_clear(&pull->layers[i].work_error);
        free(pull->layers[i].source_host);
    }
    free(pull->layers);
    error_clear(&pull->error);
    free(pull);

    manager->allocated--;
    if (manager->closing && manager->allocated == 0) {
        void (*closed_cb)(void *) = manager->closed_cb;
        void *closed_data = manager->closed_data;

        free(manager);
        if (closed_cb != NULL)
            closed_cb(closed_data);
    }
}

static void unlink_pull(struct pull *pull)
{
    struct pull_manager *manager = pull->manager;

    if (pull->prev != NULL)
        pull->prev->next = pull->next;
    else
        manager->pulls = pull->next;
    if (pull->next != NULL)
        pull->next->prev = pull->prev;
}

static void notify_waiters(struct pull *pull, const char *image_id)
{
    struct pull_waiter *waiter = pull->waiters;

    pull->waiters = NULL;
    while (waiter != NULL) {
        struct pull_waiter *next = waiter->next;

        waiter->cb(image_id, pull->failed ? &pull->error : NULL, waiter->data);
        free(waiter);
        waiter = next;
    }
}

static void complete(struct pull *pull, const char *image_id)
{
    struct pull_manager *manager = pull->manager;

    pull->completed = true;
    manager->active--;
    metrics_counter_add("hostcri_image_pulls_total", "Image pulls finished, by result",
                        pull->failed ? "result=\"failure\"" : "result=\"success\"", 1);
    if (pull->failed)
        log_warn_id("image", pull->text, "pull failed: %s", pull->error.message);
    else
        log_info_id("image", pull->text,
                    "pulled as %s in %llu ms: %zu of %zu layers downloaded (%lld bytes)", image_id,
                    (unsigned long long)(uv_now(manager->context.loop) - pull->started_ms),
                    pull->downloaded_layers, pull->layer_count, (long long)pull->downloaded_bytes);
    notify_waiters(pull, image_id);

    unlink_pull(pull);
    uv_close((uv_handle_t *)&pull->start_timer, pull_free_cb);
    if (manager->active == 0 && !manager->closing && manager->idle_cb != NULL)
        manager->idle_cb(manager->idle_data);
}

void pull_maybe_complete(struct pull *pull)
{
    if (pull->completed || !pull->failed || pull->pending_work > 0)
        return;
    complete(pull, NULL);
}

void pull_fail(struct pull *pull, struct error *err)
{
    if (pull->failed || pull->completed) {
        /* A later failure, such as a second layer's unpack, may be what the pull waited for. */
        error_clear(err);
        pull_maybe_complete(pull);
        return;
    }
    pull->failed = true;
    error_move(&pull->error, err);
    if (!str_has_prefix(pull->error.message, "pull \""))
        error_prefix(&pull->error, "pull \"%s\"", pull->text);
    if (pull->fetch != NULL) {
        registry_fetch_cancel(pull->fetch);
        pull->fetch = NULL;
    }
    pull_layers_cancel(pull);
    pull_maybe_complete(pull);
}

static void fail_with(struct pull *pull, enum error_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail_with(struct pull *pull, enum error_code code, const char *fmt, ...)
{
    struct error err = ERROR_INIT;
    va_list args;

    va_start(args, fmt);
    error_setv(&err, code, fmt, args);
    va_end(args);
    pull_fail(pull, &err);
}

/* Fetching small documents (manifests, indexes, configs) into memory. */

typedef void (*document_step)(struct pull *pull, const char *digest, const char *content_type);

struct document_fetch {
    struct pull *pull;
    const char *what; /* "manifest" or "config", for messages */
    char *expected_digest;
    int64_t expected_size;
    document_step step;
};

static int document_body_cb(void *data, const char *bytes, size_t length)
{
    struct document_fetch *doc = data;
    struct pull *pull = doc->pull;

    if (pull->body.length + length > pull->body_limit) {
        error_set(&pull->error, ERROR_OUT_OF_RANGE, "document is larger than %zu bytes",
                  pull->body_limit);
        return -1;
    }
    strbuf_append(&pull->body, bytes, length);
    return 0;
}

static void document_restart_cb(void *data)
{
    struct document_fetch *doc = data;

    strbuf_reset(&doc->pull->body);
}

static void document_free(struct document_fetch *doc)
{
    free(doc->expected_digest);
    free(doc);
}

/* Checks the fetched body against the descriptor and stores it. Fills digest. */
static int verify_document(struct pull *pull, const struct document_fetch *doc, const char *host,
                           char digest[DIGEST_STRING_MAX], struct error *err)
{
    enum digest_algorithm algorithm = DIGEST_SHA256;
    const char *data = pull->body.data ? pull->body.data : "";

    if (doc->expected_digest != NULL)
        digest_parse(doc->expected_digest, &algorithm, NULL, NULL);
    digest_buffer(algorithm, data, pull->body.length, digest);
    if (doc->expected_digest != NULL && strcmp(digest, doc->expected_digest) != 0)
        return error_set(err, ERROR_DATA_LOSS,
                         "%s %s from registry %s: digest mismatch: expected %s, got %s", doc->what,
                         doc->expected_digest, host, doc->expected_digest, digest);
    if (doc->expected_size >= 0 && (int64_t)pull->body.length != doc->expected_size)
        return error_set(err, ERROR_DATA_LOSS,
                         "%s %s from registry %s: size mismatch: expected %lld bytes, got %zu",
                         doc->what, digest, host, (long long)doc->expected_size, pull->body.length);
    return 0;
}

/* Storing a fetched document, which syncs it to disk, on the thread pool. */
struct store_job {
    uv_work_t work;
    struct document_fetch *doc;
    char digest[DIGEST_STRING_MAX];
    char *content_type;
    struct error error;
};

static void store_work_cb(uv_work_t *work)
{
    struct store_job *job = work->data;
    struct pull *pull = job->doc->pull;

    /* The loop thread leaves pull->body alone until this job is done. */
    content_store_put(pull->manager->context.content, job->digest,
                      pull->body.data ? pull->body.data : "", pull->body.length, NULL, &job->error);
}

static void store_after_cb(uv_work_t *work, int status)
{
    struct store_job *job = work->data;
    struct pull *pull = job->doc->pull;

    pull->pending_work--;
    if (job->error.code != ERROR_OK)
        pull_fail(pull, &job->error);
    else if (pull->failed)
        pull_maybe_complete(pull);
    else
        job->doc->step(pull, job->digest, job->content_type);
    document_free(job->doc);
    free(job->content_type);
    error_clear(&job->error);
    free(job);
}

static void document_done_cb(const struct registry_fetch_result *result, const struct error *err,
                             void *data)
{
    struct document_fetch *doc = data;
    struct pull *pull = doc->pull;
    struct error local = ERROR_INIT;
    char digest[DIGEST_STRING_MAX];
    struct store_job *job;

    pull->fetch = NULL;
    if (err != NULL) {
        if (err->code == ERROR_ABORTED) {
            error_move(&local, &pull->error);
        } else {
            local.code = err->code;
            local.message = xstrdup(err->message);
        }
        document_free(doc);
        pull_fail(pull, &local);
        return;
    }
    if (verify_document(pull, doc, result->endpoint_host, digest, &local) < 0) {
        document_free(doc);
        pull_fail(pull, &local);
        return;
    }
    job = xcalloc(1, sizeof(*job));
    job->doc = doc;
    memcpy(job->digest, digest, sizeof(job->digest));
    job->content_type = xstrdup_or_null(result->content_type);
    job->work.data = job;
    pull->pending_work++;
    uv_queue_work(pull->manager->context.loop, &job->work, store_work_cb, store_after_cb);
}

/*
 * Gets a document: from the content store when its digest is known and present, else from the
 * registry. step runs with the body in pull->body.
 */
static void fetch_document(struct pull *pull, enum registry_object kind, const char *reference,
                           const char *expected_digest, int64_t expected_size,
                           const char *media_type, document_step step)
{
    struct pull_context *context = &pull->manager->context;
    struct document_fetch *doc = xcalloc(1, sizeof(*doc));
    struct error err = ERROR_INIT;
    struct registry_fetch_request request = {
        .domain = pull->ref.domain,
        .api_host = reference_api_host(&pull->ref),
        .repository = pull->ref.path,
        .kind = kind,
        .reference = reference,
        .credentials = &pull->creds,
    };

    doc->pull = pull;
    doc->what = kind == REGISTRY_BLOB ? "config" : "manifest";
    doc->expected_digest = xstrdup_or_null(expected_digest);
    doc->expected_size = expected_size;
    doc->step = step;
    strbuf_reset(&pull->body);
    pull->body_limit = MANIFEST_MAX_SIZE;

    if (expected_digest != NULL && content_store_exists(context->content, expected_digest)) {
        char *data = NULL;
        size_t length = 0;

        if (content_store_read(context->content, expected_digest, MANIFEST_MAX_SIZE, &data, &length,
                               &err) == 0) {
            strbuf_append(&pull->body, data, length);
            free(data);
            step(pull, expected_digest, media_type);
            document_free(doc);
            return;
        }
        log_warn_id("image", pull->text, "stored blob %s is unusable, fetching it again: %s",
                    expected_digest, err.message);
        error_clear(&err);
    }
    if (registry_fetch_start(context->registry, &request, document_body_cb, document_restart_cb,
                             document_done_cb, doc, &pull->fetch, &err) < 0) {
        document_free(doc);
        pull_fail(pull, &err);
    }
}

/* The steps of a pull. */

static void config_step(struct pull *pull, const char *digest, const char *content_type)
{
    struct error err = ERROR_INIT;

    pull->config_json = xstrndup(pull->body.data ? pull->body.data : "", pull->body.length);
    if (image_config_parse(pull->body.data, pull->body.length, &pull->config, &err) < 0) {
        error_prefix(&err, "config %s", digest);
        pull_fail(pull, &err);
        return;
    }
    if (pull->config.diff_id_count != pull->manifest.layer_count) {
        fail_with(pull, ERROR_INVALID_ARGUMENT,
                  "manifest %s has %zu layers but its config %s lists %zu diff IDs",
                  pull->manifest_digest, pull->manifest.layer_count, digest,
                  pull->config.diff_id_count);
        return;
    }
    if (manifest_chain_ids(pull->config.diff_ids, pull->config.diff_id_count, &pull->chain_ids,
                           &err) < 0) {
        pull_fail(pull, &err);
        return;
    }
    pull_layers_start(pull);
}

static void image_manifest_step(struct pull *pull, const char *digest, const char *content_type)
{
    struct error err = ERROR_INIT;

    manifest_clear(&pull->manifest);
    if (manifest_parse(content_type, pull->body.data, pull->body.length, &pull->manifest, &err) <
        0) {
        error_prefix(&err, "manifest %s", digest);
        pull_fail(pull, &err);
        return;
    }
    if (pull->manifest.kind != MANIFEST_KIND_IMAGE) {
        fail_with(pull, ERROR_INVALID_ARGUMENT,
                  "manifest %s chosen from index %s is itself an index", digest, pull->top_digest);
        return;
    }
    free(pull->manifest_digest);
    pull->manifest_digest = xstrdup(digest);
    fetch_config(pull);
}

static void top_step(struct pull *pull, const char *digest, const char *content_type)
{
    struct error err = ERROR_INIT;
    const struct manifest_descriptor *chosen = NULL;

    pull->top_digest = xstrdup(digest);
    if (manifest_parse(content_type, pull->body.data, pull->body.length, &pull->manifest, &err) <
        0) {
        error_prefix(&err, "manifest %s", digest);
        pull_fail(pull, &err);
        return;
    }
    pull->top_media_type = xstrdup(pull->manifest.media_type);
    if (pull->manifest.kind == MANIFEST_KIND_IMAGE) {
        pull->manifest_digest = xstrdup(digest);
        fetch_config(pull);
        return;
    }
    if (manifest_index_select(&pull->manifest, pull->manager->context.platform, &chosen, &err) <
        0) {
        error_prefix(&err, "index %s", digest);
        pull_fail(pull, &err);
        return;
    }
    fetch_platform_manifest(pull, chosen);
}

static void fetch_platform_manifest(struct pull *pull, const struct manifest_descriptor *chosen)
{
    _cleanup_free_ char *digest = xstrdup(chosen->digest);
    _cleanup_free_ char *media_type = xstrdup(chosen->media_type);
    int64_t size = chosen->size;

    /* The index is no longer needed once the entry is copied out of it. */
    manifest_clear(&pull->manifest);
    fetch_document(pull, REGISTRY_MANIFEST, digest, digest, size, media_type, image_manifest_step);
}

static void fetch_config(struct pull *pull)
{
    const struct manifest_descriptor *config = &pull->manifest.config;

    fetch_document(pull, REGISTRY_BLOB, config->digest, config->digest, config->size, NULL,
                   config_step);
}

/* Interval of the progress lines of a long pull, milliseconds. */
#define PROGRESS_INTERVAL_MS 10000

static void progress_timer_cb(uv_timer_t *timer)
{
    struct pull *pull = timer->data;
    int64_t received = pull->downloaded_bytes;
    size_t downloading = 0;
    size_t unpacking = 0;

    if (pull->failed || pull->completed)
        return;
    for (size_t i = 0; i < pull->layer_count; i++) {
        const struct pull_layer *layer = &pull->layers[i];

        if (layer->state == PULL_LAYER_DOWNLOADING) {
            downloading++;
            if (layer->writer != NULL)
                received += content_writer_offset(layer->writer);
        } else if (layer->state == PULL_LAYER_UNPACKING) {
            unpacking++;
        }
    }
    log_info_id("image", pull->text,
                "pull in progress: %zu of %zu layers done, %zu downloading, %zu unpacking, "
                "%lld bytes received",
                pull->finished_layers, pull->layer_count, downloading, unpacking,
                (long long)received);
}

/*
 * Resolving a tag: a HEAD request returns the digest of the manifest the tag names, and when
 * that manifest is already stored the pull needs no GET of it. Registries such as Docker Hub
 * count manifest GETs, not HEADs, against their pull rate limits.
 */
static int head_body_cb(void *data, const char *bytes, size_t length)
{
    return 0;
}

static void fetch_top_by_reference(struct pull *pull)
{
    fetch_document(pull, REGISTRY_MANIFEST, reference_fetch_ref(&pull->ref), pull->ref.digest, -1,
                   NULL, top_step);
}

static void head_done_cb(const struct registry_fetch_result *result, const struct error *err,
                         void *data)
{
    struct pull *pull = data;
    struct error local = ERROR_INIT;
    _cleanup_free_ char *digest = NULL;
    _cleanup_free_ char *media_type = NULL;

    pull->fetch = NULL;
    if (err != NULL && (err->code == ERROR_UNAVAILABLE || err->code == ERROR_UNAUTHENTICATED ||
                        err->code == ERROR_PERMISSION_DENIED)) {
        /* A GET would fail the same way. */
        local.code = err->code;
        local.message = xstrdup(err->message);
        pull_fail(pull, &local);
        return;
    }
    if (err == NULL && result->content_digest != NULL && digest_is_valid(result->content_digest) &&
        content_store_exists(pull->manager->context.content, result->content_digest)) {
        digest = xstrdup(result->content_digest);
        media_type = xstrdup_or_null(result->content_type);
        log_debug_id("image", pull->text, "tag %s names the stored manifest %s", pull->ref.tag,
                     digest);
        fetch_document(pull, REGISTRY_MANIFEST, digest, digest, -1, media_type, top_step);
        return;
    }
    fetch_top_by_reference(pull);
}

static void resolve_tag(struct pull *pull)
{
    struct error err = ERROR_INIT;
    struct registry_fetch_request request = {
        .domain = pull->ref.domain,
        .api_host = reference_api_host(&pull->ref),
        .repository = pull->ref.path,
        .kind = REGISTRY_MANIFEST,
        .reference = pull->ref.tag,
        .credentials = &pull->creds,
        .head = true,
    };

    if (registry_fetch_start(pull->manager->context.registry, &request, head_body_cb, NULL,
                             head_done_cb, pull, &pull->fetch, &err) < 0)
        pull_fail(pull, &err);
}

static void start_timer_cb(uv_timer_t *timer)
{
    struct pull *pull = timer->data;

    pull->started_ms = uv_now(pull->manager->context.loop);
    log_info_id("image", pull->text, "pull started");
    /* The same timer then logs the progress of a long pull until the pull completes. */
    uv_timer_start(timer, progress_timer_cb, PROGRESS_INTERVAL_MS, PROGRESS_INTERVAL_MS);
    if (pull->ref.digest != NULL)
        fetch_top_by_reference(pull);
    else
        resolve_tag(pull);
}

/* Public functions. */

struct pull_manager *pull_manager_new(const struct pull_context *context, pull_idle_cb idle_cb,
                                      void *idle_data)
{
    struct pull_manager *manager = xcalloc(1, sizeof(*manager));

    manager->context = *context;
    manager->idle_cb = idle_cb;
    manager->idle_data = idle_data;
    return manager;
}

void pull_manager_close(struct pull_manager *manager, void (*closed_cb)(void *data), void *data)
{
    struct pull *pull;
    struct pull *next;

    manager->closing = true;
    manager->closed_cb = closed_cb;
    manager->closed_data = data;
    for (pull = manager->pulls; pull != NULL; pull = next) {
        next = pull->next;
        fail_with(pull, ERROR_CANCELLED, "the image service is shutting down");
    }
    if (manager->allocated == 0) {
        free(manager);
        if (closed_cb != NULL)
            closed_cb(data);
    }
}

size_t pull_manager_active(const struct pull_manager *manager)
{
    return manager->active;
}

static char *pull_key(const struct image_reference *ref, const struct auth_credentials *creds)
{
    _cleanup_free_ char *text = reference_string(ref);
    _cleanup_free_ char *fingerprint = auth_credentials_fingerprint(creds);

    return xasprintf("%s\n%s", text, fingerprint);
}

static void add_waiter(struct pull *pull, pull_done_cb cb, void *data)
{
    struct pull_waiter *waiter = xcalloc(1, sizeof(*waiter));
    struct pull_waiter **link = &pull->waiters;

    while (*link != NULL)
        link = &(*link)->next;
    waiter->cb = cb;
    waiter->data = data;
    *link = waiter;
}

int pull_start(struct pull_manager *manager, const char *text, const struct image_reference *ref,
               const struct auth_credentials *creds, pull_done_cb cb, void *data, struct error *err)
{
    _cleanup_free_ char *key = pull_key(ref, creds);
    struct pull *pull;

    if (manager->closing)
        return error_set(err, ERROR_CANCELLED, "the image service is shutting down");
    for (pull = manager->pulls; pull != NULL; pull = pull->next) {
        if (!pull->failed && !pull->completed && strcmp(pull->key, key) == 0) {
            log_info_id("image", text, "joining the pull in progress");
            add_waiter(pull, cb, data);
            return 0;
        }
    }

    pull = xcalloc(1, sizeof(*pull));
    pull->manager = manager;
    pull->key = steal_pointer(&key);
    pull->text = xstrdup(text);
    reference_copy(&pull->ref, ref);
    auth_credentials_copy(&pull->creds, creds);
    add_waiter(pull, cb, data);
    uv_timer_init(manager->context.loop, &pull->start_timer);
    pull->start_timer.data = pull;
    pull->next = manager->pulls;
    if (manager->pulls != NULL)
        manager->pulls->prev = pull;
    manager->pulls = pull;
    manager->active++;
    manager->allocated++;
    /* The pull starts from the loop, so that cb never runs before this returns. */
    uv_timer_start(&pull->start_timer, start_timer_cb, 0, 0);
    return 0;
}

/* Recording the image. */

static char **strv_single(char *value)
{
    char **strv = xcalloc(2, sizeof(char *));

    strv[0] = value;
    return strv;
}

static bool is_pinned(const struct pull *pull, char *const *names)
{
    char *const *pinned = pull->manager->context.pinned_names;

    for (size_t i = 0; pinned != NULL && pinned[i] != NULL; i++) {
        for (size_t j = 0; names[j] != NULL; j++) {
            if (strcmp(pinned[i], names[j]) == 0)
                return true;
        }
    }
    return false;
}

static void fill_record(struct pull *pull, struct image_record *record)
{
    size_t n = pull->layer_count;
    size_t blob_count = 0;
    char *tag = reference_tagged_string(&pull->ref);

    record->id = xstrdup(pull->manifest.config.digest);
    record->repo_tags = tag != NULL ? strv_single(tag) : xcalloc(1, sizeof(char *));
    record->repo_digests = strv_single(reference_digested_string(&pull->ref, pull->top_digest));
    record->manifest_digest = xstrdup(pull->manifest_digest);
    record->config_json = xstrdup(pull->config_json);
    record->size = pull->manifest.config.size;
    record->chain_ids = xcalloc(n + 1, sizeof(char *));
    record->diff_ids = xcalloc(n + 1, sizeof(char *));
    record->layer_digests = xcalloc(n + 1, sizeof(char *));
    record->blobs = xcalloc(n + 4, sizeof(char *));
    if (strcmp(pull->top_digest, pull->manifest_digest) != 0)
        record->blobs[blob_count++] = xstrdup(pull->top_digest);
    record->blobs[blob_count++] = xstrdup(pull->manifest_digest);
    record->blobs[blob_count++] = xstrdup(pull->manifest.config.digest);
    for (size_t i = 0; i < n; i++) {
        record->chain_ids[i] = xstrdup(pull->chain_ids[i]);
        record->diff_ids[i] = xstrdup(pull->config.diff_ids[i]);
        record->layer_digests[i] = xstrdup(pull->manifest.layers[i].digest);
        record->blobs[blob_count++] = xstrdup(pull->manifest.layers[i].digest);
        record->size += pull->manifest.layers[i].size;
    }
    record->pinned = is_pinned(pull, record->repo_tags) || is_pinned(pull, record->repo_digests);
}

void pull_record(struct pull *pull)
{
    _cleanup_image_record_ struct image_record record = {0};
    struct error err = ERROR_INIT;

    fill_record(pull, &record);
    if (image_store_put(pull->manager->context.store, &record, &err) < 0) {
        pull_fail(pull, &err);
        return;
    }
    for (size_t i = 0; i < pull->layer_count; i++) {
        const char *digest = pull->manifest.layers[i].digest;

        if (content_store_exists(pull->manager->context.content, digest) &&
            image_store_add_layer_blob(pull->manager->context.store, pull->config.diff_ids[i],
                                       digest, &err) < 0) {
            log_warn_id("image", pull->text, "cannot record layer blob %s: %s", digest,
                        err.message);
            error_clear(&err);
        }
    }
    complete(pull, record.id);
}
