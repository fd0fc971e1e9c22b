#include "images/images.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "images/content_fs.h"
#include "images/content_store.h"
#include "images/image_store_gc.h"
#include "images/layer.h"
#include "images/platform.h"
#include "images/pull.h"
#include "images/reference.h"
#include "images/registry.h"

/* A pull asked for while a garbage collection runs; it starts when the collection ends. */
struct deferred_pull {
    struct deferred_pull *next;
    char *text;
    struct image_reference ref;
    struct auth_credentials creds;
    images_pull_cb cb;
    void *data;
};

struct images {
    uv_loop_t *loop;
    char *root_dir;
    char *certs_dir;
    char *db_path;
    struct images_registry_config *registries;
    size_t registry_count;
    struct registry_client_options registry_options;
    struct platform platform;
    char **pinned_names;

    struct content_store *content;
    struct image_store *store;
    struct registry_client *registry;
    struct pull_manager *pulls;

    images_in_use_cb in_use_cb;
    void *in_use_data;

    unsigned pending_jobs;
    bool gc_running;
    bool gc_wanted;
    bool closing;
    bool pulls_closed;
    struct deferred_pull *deferred;
};

static void gc_start(struct images *images);

void images_config_init_defaults(struct images_config *config)
{
    memset(config, 0, sizeof(*config));
    config->root_dir = "/var/lib/hostcri";
    config->certs_dir = "/etc/hostcri/certs.d";
    config->max_parallel_downloads = 3;
    config->connect_timeout_ms = 30000;
    config->stall_timeout_ms = 60000;
    config->request_timeout_ms = 120000;
    config->retries = 3;
    config->retry_backoff_ms = 500;
}

/* Opening and closing. */

static int make_dir(const char *path, struct error *err)
{
    int rc = content_fs_mkdir_p(path, 0700);

    if (rc < 0)
        return error_set_errno(err, ERROR_INTERNAL, rc, "create %s", path);
    return 0;
}

/* A configured platform of the host's own os matches entries by the host's os.version too. */
static void keep_host_os_version(struct platform *configured)
{
    _cleanup_platform_ struct platform host = PLATFORM_INIT;

    platform_host(&host);
    if (configured->os_version == NULL && strcmp(configured->os, host.os) == 0)
        configured->os_version = xstrdup_or_null(host.os_version);
}

static int copy_config(struct images *images, const struct images_config *config, struct error *err)
{
    images->root_dir = xstrdup(config->root_dir);
    images->certs_dir = xstrdup_or_null(config->certs_dir);
    images->db_path = xasprintf("%s/images.db", config->root_dir);
    images->registry_count = config->registry_count;
    images->registries = xcalloc(config->registry_count + 1, sizeof(*images->registries));
    for (size_t i = 0; i < config->registry_count; i++)
        hosts_registry_config_copy(&images->registries[i], &config->registries[i]);

    images->registry_options = (struct registry_client_options){
        .certs_dir = images->certs_dir,
        .registries = images->registries,
        .registry_count = images->registry_count,
        .connect_timeout_ms = config->connect_timeout_ms,
        .stall_timeout_ms = config->stall_timeout_ms,
        .request_timeout_ms = config->request_timeout_ms,
        .retries = config->retries,
        .retry_backoff_ms = config->retry_backoff_ms,
    };

    if (config->platform != NULL) {
        if (platform_parse(config->platform, &images->platform, err) < 0)
            return -1;
        keep_host_os_version(&images->platform);
    } else {
        platform_host(&images->platform);
    }

    images->pinned_names =
        xcalloc(strv_length((char *const *)config->pinned_images) + 1, sizeof(char *));
    for (size_t i = 0; config->pinned_images != NULL && config->pinned_images[i]; i++) {
        _cleanup_reference_ struct image_reference ref = IMAGE_REFERENCE_INIT;

        if (reference_parse(config->pinned_images[i], &ref, err) < 0)
            return error_prefix(err, "pinned image");
        images->pinned_names[i] = ref.digest ? reference_digested_string(&ref, ref.digest)
                                             : reference_tagged_string(&ref);
    }
    return 0;
}

static void images_free(struct images *images)
{
    for (size_t i = 0; i < images->registry_count; i++)
        hosts_registry_config_clear(&images->registries[i]);
    free(images->registries);
    platform_clear(&images->platform);
    strv_free(images->pinned_names);
    content_store_close(images->content);
    image_store_close(images->store);
    free(images->root_dir);
    free(images->certs_dir);
    free(images->db_path);
    free(images);
}

static void pulls_idle_cb(void *data)
{
    struct images *images = data;

    if (images->gc_wanted)
        gc_start(images);
}

int images_open(uv_loop_t *loop, const struct images_config *config, struct images **out,
                struct error *err)
{
    struct images *images = xcalloc(1, sizeof(*images));
    _cleanup_free_ char *platform_text = NULL;
    struct pull_context context;

    images->loop = loop;
    if (copy_config(images, config, err) < 0 || make_dir(images->root_dir, err) < 0 ||
        content_store_open(images->root_dir, &images->content, err) < 0 ||
        layer_store_init(images->root_dir, err) < 0 ||
        image_store_open(images->db_path, &images->store, err) < 0 ||
        registry_client_new(loop, &images->registry_options, &images->registry, err) < 0) {
        images_free(images);
        return -1;
    }
    context = (struct pull_context){
        .loop = loop,
        .root_dir = images->root_dir,
        .content = images->content,
        .registry = images->registry,
        .store = images->store,
        .platform = &images->platform,
        .max_parallel_downloads = config->max_parallel_downloads,
        .pinned_names = images->pinned_names,
    };
    images->pulls = pull_manager_new(&context, pulls_idle_cb, images);
    platform_text = platform_format(&images->platform);
    log_info("images: root %s, %zu registry entries, platform %s", images->root_dir,
             images->registry_count, platform_text);

    /* Blobs committed by pulls that a killed daemon did not finish belong to no image. */
    images->gc_wanted = true;
    gc_start(images);
    *out = images;
    return 0;
}

static void maybe_free(struct images *images)
{
    if (images->closing && images->pulls_closed && images->pending_jobs == 0)
        images_free(images);
}

static void pulls_closed_cb(void *data)
{
    struct images *images = data;

    images->pulls_closed = true;
    maybe_free(images);
}

static void fail_deferred(struct images *images)
{
    struct error err = ERROR_INIT;

    error_set(&err, ERROR_CANCELLED, "the image service is shutting down");
    while (images->deferred != NULL) {
        struct deferred_pull *deferred = images->deferred;

        images->deferred = deferred->next;
        deferred->cb(NULL, &err, deferred->data);
        free(deferred->text);
        reference_clear(&deferred->ref);
        auth_credentials_clear(&deferred->creds);
        free(deferred);
    }
    error_clear(&err);
}

void images_close(struct images *images)
{
    if (images == NULL)
        return;

    struct registry_client *registry = images->registry;

    images->closing = true;
    fail_deferred(images);
    /* The pulls cancel their fetches first; the images struct may be freed by this call. */
    pull_manager_close(images->pulls, pulls_closed_cb, images);
    registry_client_close(registry);
}

/* Garbage collection. */

struct gc_job {
    uv_work_t work;
    struct images *images;
    struct image_gc *gc;
};

static void gc_work_cb(uv_work_t *work)
{
    struct gc_job *job = work->data;

    image_gc_run(job->gc, job->images->content, job->images->root_dir);
}

static void start_deferred_pulls(struct images *images)
{
    struct deferred_pull *deferred = images->deferred;
    struct error err = ERROR_INIT;

    images->deferred = NULL;
    while (deferred != NULL) {
        struct deferred_pull *next = deferred->next;

        if (pull_start(images->pulls, deferred->text, &deferred->ref, &deferred->creds,
                       deferred->cb, deferred->data, &err) < 0) {
            deferred->cb(NULL, &err, deferred->data);
            error_clear(&err);
        }
        free(deferred->text);
        reference_clear(&deferred->ref);
        auth_credentials_clear(&deferred->creds);
        free(deferred);
        deferred = next;
    }
}

static void gc_after_cb(uv_work_t *work, int status)
{
    struct gc_job *job = work->data;
    struct images *images = job->images;

    images->pending_jobs--;
    images->gc_running = false;
    if (job->gc->error.code != ERROR_OK)
        log_warn("images: garbage collection: %s", job->gc->error.message);
    if (job->gc->removed_blobs > 0 || job->gc->removed_layers > 0)
        log_info("images: garbage collection removed %zu blobs and %zu layers",
                 job->gc->removed_blobs, job->gc->removed_layers);
    image_gc_free(job->gc);
    free(job);
    if (images->closing) {
        maybe_free(images);
        return;
    }
    start_deferred_pulls(images);
    /* Images removed while this collection ran; with pulls running it waits for them. */
    if (images->gc_wanted)
        gc_start(images);
}

/* Starts a collection now, or marks it wanted for when the running pulls have finished. */
static void gc_start(struct images *images)
{
    struct error err = ERROR_INIT;
    struct gc_job *job;

    if (images->closing)
        return;
    images->gc_wanted = true;
    if (images->gc_running || pull_manager_active(images->pulls) > 0)
        return;
    job = xcalloc(1, sizeof(*job));
    job->images = images;
    if (image_gc_prepare(images->store, images->content, &job->gc, &err) < 0) {
        log_warn("images: garbage collection: %s", err.message);
        error_clear(&err);
        free(job);
        return;
    }
    images->gc_wanted = false;
    images->gc_running = true;
    images->pending_jobs++;
    job->work.data = job;
    uv_queue_work(images->loop, &job->work, gc_work_cb, gc_after_cb);
}

/* Pulls. */

int images_pull_start(struct images *images, const char *reference,
                      const struct auth_credentials *auth, images_pull_cb cb, void *data,
                      struct error *err)
{
    _cleanup_reference_ struct image_reference ref = IMAGE_REFERENCE_INIT;
    struct deferred_pull *deferred;

    if (reference_parse(reference, &ref, err) < 0)
        return error_prefix(err, "pull \"%s\"", reference);
    if (images->closing)
        return error_set(err, ERROR_CANCELLED, "the image service is shutting down");
    if (!images->gc_running)
        return pull_start(images->pulls, reference, &ref, auth, cb, data, err);

    deferred = xcalloc(1, sizeof(*deferred));
    deferred->text = xstrdup(reference);
    reference_copy(&deferred->ref, &ref);
    auth_credentials_copy(&deferred->creds, auth);
    deferred->cb = cb;
    deferred->data = data;
    deferred->next = images->deferred;
    images->deferred = deferred;
    return 0;
}

size_t images_active_pulls(const struct images *images)
{
    return pull_manager_active(images->pulls);
}

/* Lookups. */

enum match_kind {
    MATCH_ID,
    MATCH_TAG,
    MATCH_DIGEST,
};

static bool is_hex_prefix(const char *s)
{
    if (str_has_prefix(s, "sha256:"))
        s += 7;
    return strlen(s) >= 3 && strspn(s, "0123456789abcdef") == strlen(s);
}

/*
 * Finds an image by id, name or id prefix. *name (when matched by name) is the normalized name
 * that matched; the caller frees it.
 */
static int find_image(struct images *images, const char *ref_or_id, struct image_record *out,
                      enum match_kind *kind, char **name, struct error *err)
{
    _cleanup_reference_ struct image_reference ref = IMAGE_REFERENCE_INIT;

    *name = NULL;
    *kind = MATCH_ID;
    if (reference_is_image_id(ref_or_id)) {
        _cleanup_free_ char *id = str_has_prefix(ref_or_id, "sha256:")
                                      ? xstrdup(ref_or_id)
                                      : xasprintf("sha256:%s", ref_or_id);

        if (image_store_get(images->store, id, out, NULL) == 0)
            return 0;
    }
    if (reference_parse(ref_or_id, &ref, NULL) == 0) {
        *kind = ref.digest ? MATCH_DIGEST : MATCH_TAG;
        *name = ref.digest ? reference_digested_string(&ref, ref.digest)
                           : reference_tagged_string(&ref);
        if (image_store_get_by_name(images->store, *name, out, NULL) == 0)
            return 0;
        free(*name);
        *name = NULL;
    }
    *kind = MATCH_ID;
    if (is_hex_prefix(ref_or_id) &&
        image_store_get_by_id_prefix(images->store, ref_or_id, out, err) == 0)
        return 0;
    if (err != NULL && err->code == ERROR_INVALID_ARGUMENT)
        return -1;
    return error_set(err, ERROR_NOT_FOUND, "image \"%s\" not found", ref_or_id);
}

static bool has_name(char *const *names, const char *name)
{
    for (size_t i = 0; names != NULL && names[i] != NULL; i++) {
        if (strcmp(names[i], name) == 0)
            return true;
    }
    return false;
}

/* Marks the record pinned when one of its names is configured as pinned today. */
static void apply_pinned(const struct images *images, struct image_record *record)
{
    for (size_t i = 0; images->pinned_names[i] != NULL && !record->pinned; i++) {
        record->pinned = has_name(record->repo_tags, images->pinned_names[i]) ||
                         has_name(record->repo_digests, images->pinned_names[i]);
    }
}

int images_status(struct images *images, const char *ref_or_id, struct image_record *out,
                  struct error *err)
{
    _cleanup_free_ char *name = NULL;
    enum match_kind kind;

    if (find_image(images, ref_or_id, out, &kind, &name, err) < 0)
        return -1;
    apply_pinned(images, out);
    return 0;
}

int images_list(struct images *images, struct image_record **records, size_t *count,
                struct error *err)
{
    if (image_store_list(images->store, records, count, err) < 0)
        return -1;
    for (size_t i = 0; i < *count; i++)
        apply_pinned(images, &(*records)[i]);
    return 0;
}

void images_set_in_use_hook(struct images *images, images_in_use_cb cb, void *data)
{
    images->in_use_cb = cb;
    images->in_use_data = data;
}

bool images_is_in_use(struct images *images, const char *image_id, char **container_id)
{
    *container_id = NULL;
    return images->in_use_cb != NULL &&
           images->in_use_cb(images->in_use_data, image_id, container_id);
}

int images_remove(struct images *images, const char *ref_or_id, struct error *err)
{
    _cleanup_image_record_ struct image_record record = {0};
    _cleanup_free_ char *name = NULL;
    _cleanup_free_ char *container = NULL;
    enum match_kind kind;
    struct error lookup = ERROR_INIT;

    if (find_image(images, ref_or_id, &record, &kind, &name, &lookup) < 0) {
        if (lookup.code == ERROR_NOT_FOUND) {
            error_clear(&lookup);
            return 0;
        }
        error_move(err, &lookup);
        return -1;
    }
    if (kind == MATCH_TAG && strv_length(record.repo_tags) > 1) {
        log_info_id("image", record.id, "untagging %s", name);
        return image_store_remove_name(images->store, name, err);
    }
    if (images_is_in_use(images, record.id, &container))
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "image \"%s\" (%s) is in use by container %s", ref_or_id, record.id,
                         container ? container : "(unknown)");
    if (image_store_remove(images->store, record.id, err) < 0)
        return -1;
    log_info_id("image", record.id, "removed (asked as %s)", ref_or_id);
    gc_start(images);
    return 0;
}

/* Resolving an image for a container. */

void images_resolved_clear(struct images_resolved *resolved)
{
    if (resolved == NULL)
        return;
    free(resolved->id);
    free(resolved->repo_tag);
    free(resolved->repo_digest);
    image_config_clear(&resolved->config);
    strv_free(resolved->layer_dirs);
    memset(resolved, 0, sizeof(*resolved));
}

int images_resolve(struct images *images, const char *ref_or_id, struct images_resolved *out,
                   struct error *err)
{
    _cleanup_image_record_ struct image_record record = {0};
    size_t count;

    memset(out, 0, sizeof(*out));
    if (images_status(images, ref_or_id, &record, err) < 0)
        return -1;
    if (image_config_parse(record.config_json, strlen(record.config_json), &out->config, err) < 0)
        return error_prefix(err, "image %s", record.id);
    out->id = xstrdup(record.id);
    out->repo_tag = xstrdup_or_null(record.repo_tags[0]);
    out->repo_digest = xstrdup_or_null(record.repo_digests[0]);
    count = strv_length(record.chain_ids);
    out->layer_dirs = xcalloc(count + 1, sizeof(char *));
    out->layer_count = count;
    for (size_t i = 0; i < count; i++) {
        if (!layer_exists(images->root_dir, record.chain_ids[i])) {
            error_set(err, ERROR_DATA_LOSS, "image %s: layer %s is missing; pull the image again",
                      record.id, record.chain_ids[i]);
            images_resolved_clear(out);
            return -1;
        }
        out->layer_dirs[i] = layer_fs_path(images->root_dir, record.chain_ids[i], err);
        if (out->layer_dirs[i] == NULL) {
            images_resolved_clear(out);
            return -1;
        }
    }
    return 0;
}

/* Disk use, on the thread pool. */

struct fs_info_job {
    uv_work_t work;
    struct images *images;
    images_fs_info_cb cb;
    void *data;
    struct images_fs_usage usage;
    struct error error;
};

static void fs_info_work_cb(uv_work_t *work)
{
    struct fs_info_job *job = work->data;
    const char *parts[] = {"content", "layers", "images.db", "images.db-wal"};

    for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
        _cleanup_free_ char *path = xasprintf("%s/%s", job->images->root_dir, parts[i]);
        uint64_t bytes = 0;
        uint64_t inodes = 0;

        if (layer_disk_usage(path, &bytes, &inodes, &job->error) < 0)
            return;
        job->usage.used_bytes += bytes;
        job->usage.inodes_used += inodes;
    }
    job->usage.timestamp_ns = time_now_ns();
}

static void fs_info_after_cb(uv_work_t *work, int status)
{
    struct fs_info_job *job = work->data;
    struct images *images = job->images;

    images->pending_jobs--;
    job->usage.mountpoint = images->root_dir;
    if (job->error.code != ERROR_OK)
        job->cb(NULL, &job->error, job->data);
    else
        job->cb(&job->usage, NULL, job->data);
    error_clear(&job->error);
    free(job);
    maybe_free(images);
}

int images_fs_info_start(struct images *images, images_fs_info_cb cb, void *data, struct error *err)
{
    struct fs_info_job *job;

    if (images->closing)
        return error_set(err, ERROR_CANCELLED, "the image service is shutting down");
    job = xcalloc(1, sizeof(*job));
    job->images = images;
    job->cb = cb;
    job->data = data;
    job->work.data = job;
    images->pending_jobs++;
    uv_queue_work(images->loop, &job->work, fs_info_work_cb, fs_info_after_cb);
    return 0;
}

/* Flattened copies, on the thread pool. */

struct flatten_job {
    uv_work_t work;
    struct images *images;
    images_flatten_cb cb;
    void *data;
    char **blob_paths;
    char **diff_ids;
    size_t count;
    enum layer_format format;
    char *target_dir;
    struct error error;
};

static void flatten_work_cb(uv_work_t *work)
{
    struct flatten_job *job = work->data;

    layer_flatten((const char *const *)job->blob_paths, (const char *const *)job->diff_ids,
                  job->count, job->format, job->target_dir, NULL, &job->error);
}

static void flatten_after_cb(uv_work_t *work, int status)
{
    struct flatten_job *job = work->data;
    struct images *images = job->images;

    images->pending_jobs--;
    job->cb(job->error.code != ERROR_OK ? &job->error : NULL, job->data);
    error_clear(&job->error);
    strv_free(job->blob_paths);
    strv_free(job->diff_ids);
    free(job->target_dir);
    free(job);
    maybe_free(images);
}

/*
 * A stored blob of the layer with diff_id: digest itself, or another blob recorded with the
 * same diff ID (a gzip and a zstd blob of one tar). Layers shared between concurrent pulls
 * are fetched once, so an image may have its layer directory but not its own blob. Returns
 * the blob's path, or NULL.
 */
static char *find_layer_blob(struct images *images, const char *digest, const char *diff_id)
{
    _cleanup_strv_ char **candidates = NULL;

    if (content_store_exists(images->content, digest))
        return content_store_blob_path(images->content, digest, NULL);
    if (diff_id == NULL || image_store_layer_blobs(images->store, diff_id, &candidates, NULL) < 0)
        return NULL;
    for (size_t i = 0; candidates[i] != NULL; i++) {
        if (content_store_exists(images->content, candidates[i]))
            return content_store_blob_path(images->content, candidates[i], NULL);
    }
    return NULL;
}

/* The layer format of a recorded image, from the os of its config. */
static enum layer_format record_layer_format(const struct image_record *record)
{
    struct image_config config = IMAGE_CONFIG_INIT;
    enum layer_format format = LAYER_FORMAT_PLAIN;

    if (image_config_parse(record->config_json, strlen(record->config_json), &config, NULL) == 0)
        format = layer_format_for_os(config.os);
    image_config_clear(&config);
    return format;
}

int images_flatten_start(struct images *images, const char *image_id, const char *target_dir,
                         images_flatten_cb cb, void *data, struct error *err)
{
    _cleanup_image_record_ struct image_record record = {0};
    struct flatten_job *job;
    size_t count;

    if (images_status(images, image_id, &record, err) < 0)
        return -1;
    count = strv_length(record.layer_digests);
    if (strv_length(record.diff_ids) != count)
        return error_set(err, ERROR_DATA_LOSS,
                         "image %s: the record has %zu layers and %zu diff IDs", record.id, count,
                         strv_length(record.diff_ids));
    job = xcalloc(1, sizeof(*job));
    job->blob_paths = xcalloc(count + 1, sizeof(char *));
    for (size_t i = 0; i < count; i++) {
        job->blob_paths[i] = find_layer_blob(images, record.layer_digests[i], record.diff_ids[i]);
        if (job->blob_paths[i] == NULL) {
            strv_free(job->blob_paths);
            free(job);
            return error_set(err, ERROR_NOT_FOUND,
                             "image %s: layer blob %s is not stored; pull the image again",
                             record.id, record.layer_digests[i]);
        }
    }
    job->images = images;
    job->cb = cb;
    job->data = data;
    job->diff_ids = steal_pointer(&record.diff_ids);
    job->count = count;
    job->format = record_layer_format(&record);
    job->target_dir = xstrdup(target_dir);
    job->work.data = job;
    images->pending_jobs++;
    uv_queue_work(images->loop, &job->work, flatten_work_cb, flatten_after_cb);
    return 0;
}
