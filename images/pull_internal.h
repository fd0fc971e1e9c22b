#ifndef HOSTCRI_IMAGES_PULL_INTERNAL_H
#define HOSTCRI_IMAGES_PULL_INTERNAL_H

#include "common/strbuf.h"
#include "images/manifest.h"
#include "images/pull.h"

/* State shared by pull.c (documents, lifecycle) and pull_layers.c (layers). Loop thread only. */

struct pull_waiter {
    struct pull_waiter *next;
    pull_done_cb cb;
    void *data;
};

enum pull_layer_state {
    PULL_LAYER_WAITING,
    PULL_LAYER_DOWNLOADING,
    PULL_LAYER_UNPACKING,
    PULL_LAYER_DONE,
};

struct pull_layer {
    struct pull *pull;
    size_t index;
    const struct manifest_descriptor *descriptor; /* points into pull->manifest */
    const char *chain_id;                         /* points into pull->chain_ids */
    const char *diff_id;                          /* points into pull->config */
    enum pull_layer_state state;
    struct registry_fetch *fetch;
    struct content_writer *writer;
    struct error error; /* set by the body callback when it aborts */

    /* Thread pool job: commit the blob (when downloaded) and unpack it. */
    uv_work_t work;
    struct content_writer *work_writer;
    char *work_root;
    struct error work_error;
    bool commit_failed;  /* work_error comes from the digest and size check of the blob */
    char *source_host;   /* the registry endpoint the blob came from, for messages */
    uint64_t started_ms; /* loop time when the download (or the unpack of a stored blob) began */
    bool downloaded;     /* the blob came from the registry in this pull */
};

struct pull {
    struct pull_manager *manager;
    struct pull *prev;
    struct pull *next;
    char *key;
    char *text;
    struct image_reference ref;
    struct auth_credentials creds;
    struct pull_waiter *waiters;
    uv_timer_t start_timer;

    /* Documents: the reference's manifest or index, the platform's manifest, the config. */
    struct registry_fetch *fetch;
    struct strbuf body;
    size_t body_limit;
    char *top_digest;
    char *top_media_type;
    char *manifest_digest;
    struct manifest manifest;
    char *config_json;
    struct image_config config;
    char **chain_ids;

    struct pull_layer *layers;
    size_t layer_count;
    bool in_layer_phase; /* layers, chain_ids and config are set */
    size_t active_downloads;
    size_t finished_layers;
    size_t downloaded_layers; /* layers fetched from a registry by this pull */
    int64_t downloaded_bytes; /* their compressed size */
    uint64_t started_ms;      /* uv_now when the pull started, for the log */
    unsigned pending_work;

    struct error error;
    bool failed;
    bool completed;
};

struct pull_manager {
    struct pull_context context;
    struct pull *pulls;
    size_t active;    /* pulls not completed yet */
    size_t allocated; /* pulls not freed yet (a completed pull is freed by its close callback) */
    pull_idle_cb idle_cb;
    void *idle_data;
    bool closing;
    void (*closed_cb)(void *data);
    void *closed_data;
};

/* Fails the pull with err (its contents are taken), once; later failures are dropped. */
void pull_fail(struct pull *pull, struct error *err);

/* Completes the pull when it failed or finished and no thread pool job is left. */
void pull_maybe_complete(struct pull *pull);

/* Starts the layer phase once the manifest, config and chain IDs are known. */
void pull_layers_start(struct pull *pull);

/* Cancels the downloads of all layers and drops their writers. */
void pull_layers_cancel(struct pull *pull);

/* Records the image when every layer is done; completes the pull. */
void pull_record(struct pull *pull);

#endif
