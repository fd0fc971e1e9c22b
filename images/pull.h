#ifndef HOSTCRI_IMAGES_PULL_H
#define HOSTCRI_IMAGES_PULL_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "common/error.h"
#include "images/auth.h"
#include "images/content_store.h"
#include "images/image_store.h"
#include "images/platform.h"
#include "images/reference.h"
#include "images/registry.h"

/*
 * The pull engine behind images_pull_start: tag resolution with HEAD (a stored manifest is
 * not fetched again), manifest (and index) fetch, platform choice, config, layer downloads
 * into the content store (at most max_parallel_downloads at a time, each verified by digest
 * and size while it streams), layer unpacking on the thread pool into chain-ID directories,
 * and the image record. Blobs and layers already present are skipped.
 * Concurrent pulls of the same reference and credentials share one pull, and concurrent pulls
 * of different images wait for each other's common layers instead of fetching them twice.
 *
 * Nothing is recorded before every layer is in place, so a failed pull leaves the image
 * store as it was; blobs it committed stay until a garbage collection removes them.
 */

/* Dependencies of a pull, owned by the images subsystem, which outlives the manager. */
struct pull_context {
    uv_loop_t *loop;
    const char *root_dir;
    struct content_store *content;
    struct registry_client *registry;
    struct image_store *store;
    const struct platform *platform;
    unsigned max_parallel_downloads;
    char *const *pinned_names; /* normalized references whose images are pinned, or NULL */
};

struct pull_manager;

/* Runs once per waiter; image_id is NULL exactly when err is set. */
typedef void (*pull_done_cb)(const char *image_id, const struct error *err, void *data);

/* Runs when the last pull has finished (for a deferred garbage collection). */
typedef void (*pull_idle_cb)(void *data);

/*
 * Creates the pull manager; context is copied (the objects it points to are borrowed).
 * idle_cb (may be NULL) runs each time the last running pull completes.
 */
struct pull_manager *pull_manager_new(const struct pull_context *context, pull_idle_cb idle_cb,
                                      void *idle_data);

/*
 * Fails every pull with ERROR_CANCELLED (their callbacks run now), frees the manager once the
 * thread pool jobs and handles of its pulls are finished, and then runs closed_cb (which may
 * be NULL), possibly before this returns.
 */
void pull_manager_close(struct pull_manager *manager, void (*closed_cb)(void *data), void *data);

/* Number of pulls in progress. */
size_t pull_manager_active(const struct pull_manager *manager);

/*
 * Starts pulling ref (normalized; copied), or joins a running pull of the same reference and
 * credentials. text is the reference as the user wrote it, for messages. creds may be NULL.
 * Returns 0 and runs cb exactly once later from the loop, or -1 with ERROR_CANCELLED once the
 * manager is closing, without running cb.
 */
int pull_start(struct pull_manager *manager, const char *text, const struct image_reference *ref,
               const struct auth_credentials *creds, pull_done_cb cb, void *data,
               struct error *err);

#endif
