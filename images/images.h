#ifndef HOSTCRI_IMAGES_IMAGES_H
#define HOSTCRI_IMAGES_IMAGES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common/error.h"
#include "images/auth.h"
#include "images/hosts.h"
#include "images/image_store.h"
#include "images/manifest.h"

/*
 * The image subsystem for the rest of the daemon: pulls images from registries into the
 * content store and the layer directories under the root directory, keeps the image records,
 * and resolves images for containers.
 *
 *   <root>/images.db             image records (SQLite, WAL)
 *   <root>/content/              blobs by digest (content_store.h)
 *   <root>/layers/<chain id>/fs  unpacked layers, shared between images (layer.h)
 *
 * Everything runs on the loop thread; blocking work (unpacking, syncing, walking trees) runs
 * on the libuv thread pool. Asynchronous functions follow the libuv contract: a synchronous
 * failure returns -1 and never runs the callback; otherwise the callback runs exactly once,
 * later, from the loop.
 */

struct images;

/*
 * Settings, filled by the daemon's configuration loader. images_open copies what it needs,
 * so the strings may be freed after it returns. Start from images_config_init_defaults.
 */
struct images_config {
    /* Directory of the database, blobs and layers. Default "/var/lib/hostcri". */
    const char *root_dir;
    /*
     * certs.d directory: <certs_dir>/<host[:port]>/ca.crt, client.cert and client.key.
     * Default "/etc/hostcri/certs.d"; a missing directory means no per-host files.
     */
    const char *certs_dir;
    /* Per-host settings (mirrors, insecure, credentials); registry_count entries. Default none. */
    const struct images_registry_config *registries;
    size_t registry_count;
    /* Platform to pull from an index, "os/arch[/variant]"; NULL (default) means this host. */
    const char *platform;
    /* Layers of one image downloaded at the same time. Default 3; 0 means 1. */
    unsigned max_parallel_downloads;
    /* TCP and TLS connection setup limit, milliseconds. Default 30000. */
    uint64_t connect_timeout_ms;
    /* A transfer that receives less than 1 byte per second for this long fails, milliseconds.
     * Default 60000. */
    uint64_t stall_timeout_ms;
    /* Whole-request limit for manifests and tokens (not blobs), milliseconds. Default 120000. */
    uint64_t request_timeout_ms;
    /* Retries of one request after a connection failure or a 5xx status. Default 3. */
    unsigned retries;
    /* Delay before the first retry, doubled for each next one (at most 10 s), milliseconds.
     * Default 500. */
    uint64_t retry_backoff_ms;
    /* Image references reported as pinned (never removed by the kubelet's image garbage
     * collection), such as the sandbox image, also for images pulled before they were
     * configured. NULL-terminated, or NULL (default). */
    const char *const *pinned_images;
};

/* Fills *config with the defaults documented above. */
void images_config_init_defaults(struct images_config *config);

/*
 * Opens the image subsystem on loop: creates the folders and the database, removes what a
 * killed daemon left half-done, and starts a garbage collection on the thread pool.
 * Returns 0 with *out set, or -1 (ERROR_INVALID_ARGUMENT for a bad platform or mirror,
 * ERROR_INTERNAL for I/O and database errors).
 */
int images_open(uv_loop_t *loop, const struct images_config *config, struct images **out,
                struct error *err);

/*
 * Stops the subsystem: running pulls fail with ERROR_CANCELLED, at once or (when a layer is
 * being unpacked) as soon as their thread pool job returns, while fs-info and flatten jobs
 * already on the thread pool finish and run their callbacks. The memory is freed
 * when the last job and libuv handle has finished, so the caller must keep running the loop
 * afterwards. Safe on NULL.
 */
void images_close(struct images *images);

/*
 * Runs once per pull. On success image_id is the image id ("sha256:<hex>" of the config) and
 * err is NULL; on failure image_id is NULL and err explains the failure (the message starts with
 * `pull "<reference>": ` and names the registry host and HTTP status when there is one).
 */
typedef void (*images_pull_cb)(const char *image_id, const struct error *err, void *data);

/*
 * Pulls reference (any form reference.h parses; it is normalized) with the credentials in
 * auth (NULL or empty for the host's configured credentials or none). Concurrent pulls of
 * the same reference with the same credentials share one download, and concurrent pulls of
 * different images fetch their common layers once. A failed pull leaves the images already
 * recorded untouched. Returns 0 and runs cb exactly once later, or -1 without running cb:
 * ERROR_INVALID_ARGUMENT for an invalid reference, ERROR_CANCELLED while closing.
 */
int images_pull_start(struct images *images, const char *reference,
                      const struct auth_credentials *auth, images_pull_cb cb, void *data,
                      struct error *err);

/*
 * Finds an image by id ("sha256:<hex>" or the 64 hex digits), unique id prefix, repo tag or
 * repo digest, in any form reference.h parses ("busybox" finds docker.io/library/busybox:
 * latest). Returns 0 with *out filled (clear it with image_record_clear), or -1 with
 * ERROR_NOT_FOUND when no image matches.
 */
int images_status(struct images *images, const char *ref_or_id, struct image_record *out,
                  struct error *err);

/* Reads all images. *records (count in *count) is freed with image_records_free. */
int images_list(struct images *images, struct image_record **records, size_t *count,
                struct error *err);

/*
 * Removes an image, found as images_status finds it. A repo tag of an image that has other
 * tags is only untagged. Otherwise the whole image goes (after asking the in-use hook: an
 * image a container uses fails with ERROR_FAILED_PRECONDITION naming the container), and the
 * blobs and layers no other image uses are deleted by a garbage collection on the thread
 * pool. Removing an unknown image succeeds. Returns 0 or -1.
 */
int images_remove(struct images *images, const char *ref_or_id, struct error *err);

/*
 * Tells whether a container uses image_id. Returns true and stores the container id in
 * *container_id (malloc'ed; the caller frees it) when one does.
 */
typedef bool (*images_in_use_cb)(void *data, const char *image_id, char **container_id);

/* Sets the hook that images_remove calls (the runtime registers it); NULL removes it. */
void images_set_in_use_hook(struct images *images, images_in_use_cb cb, void *data);

/* Asks the in-use hook; false when none is set. *container_id as for images_in_use_cb. */
bool images_is_in_use(struct images *images, const char *image_id, char **container_id);

/* Disk use of the image store, for ImageFsInfo. */
struct images_fs_usage {
    const char *mountpoint; /* the root directory; valid while the subsystem is open */
    int64_t timestamp_ns;   /* when it was measured, nanoseconds since the epoch */
    uint64_t used_bytes;    /* blocks used by blobs, layers and the database */
    uint64_t inodes_used;
};

typedef void (*images_fs_info_cb)(const struct images_fs_usage *usage, const struct error *err,
                                  void *data);

/*
 * Measures the disk use of the content store, the layers and the database on the thread
 * pool. Returns 0 and runs cb exactly once later (usage is valid during the call only), or -1.
 */
int images_fs_info_start(struct images *images, images_fs_info_cb cb, void *data,
                         struct error *err);

/* The parts of an image that CreateContainer uses. */
struct images_resolved {
    char *id;                   /* "sha256:<hex>" */
    char *repo_tag;             /* first repo tag, or NULL */
    char *repo_digest;          /* first repo digest, or NULL */
    struct image_config config; /* Entrypoint, Cmd, Env, WorkingDir, User, StopSignal, ... */
    /*
     * Unpacked layer directories, NULL-terminated, base layer first (the order they apply).
     * overlayfs lists lower directories top first: join them in reverse for "lowerdir=".
     * For a Windows image each holds the content of its layer's Files/ folder, with whiteouts
     * left as empty ".wh.*" files: use images_flatten_start for a container's root there.
     */
    char **layer_dirs;
    size_t layer_count;
};

/*
 * Finds the image as images_status does and fills *out (clear it with
 * images_resolved_clear). Returns 0, or -1 with ERROR_NOT_FOUND when there is no such image
 * and ERROR_DATA_LOSS when one of its layer directories is missing.
 */
int images_resolve(struct images *images, const char *ref_or_id, struct images_resolved *out,
                   struct error *err);

/* Frees everything in resolved and zeroes it. Safe on NULL. */
void images_resolved_clear(struct images_resolved *resolved);

typedef void (*images_flatten_cb)(const struct error *err, void *data);

/*
 * Builds one flattened copy of the image's file system at target_dir (which must not exist
 * yet), applying its layer blobs in order on the thread pool, for hosts without overlayfs
 * (Windows among them). For a Windows image (config os "windows") target_dir receives the
 * merged content of the layers' Files/ folders, so it is the container's root; Hives/ is left
 * out.
 * Returns 0 and runs cb exactly once later, or -1 with ERROR_NOT_FOUND (no such image).
 * A layer whose own blob is not stored (it was shared with a concurrent pull of another
 * image) is applied from the blob of the same diff ID in another image.
 */
int images_flatten_start(struct images *images, const char *image_id, const char *target_dir,
                         images_flatten_cb cb, void *data, struct error *err);

/* Number of pulls in progress (shared pulls count once). */
size_t images_active_pulls(const struct images *images);

#endif
