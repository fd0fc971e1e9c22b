/*
 * Disk use of the containers' writable layers, for the writable_layer field of the statistics.
 * Walking a layer's tree is slow, so it runs on the libuv thread pool and the statistics report
 * the last measurement.
 */

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/runtime_internal.h"

/* The age at which a statistics request starts a new measurement of a writable layer. */
#define LAYER_USAGE_REFRESH_NS (10LL * 1000 * 1000 * 1000)

struct layer_measurement {
    uv_work_t work;
    struct runtime *runtime; /* NULL once the runtime has closed */
    char *container_id;
    char *dir;
    uint64_t bytes;
    uint64_t inodes;
    struct layer_measurement *next;
};

/* Adds the blocks and entries under path to *bytes and *inodes; skips what it cannot read. */
static void measure_tree(const char *path, uint64_t *bytes, uint64_t *inodes)
{
    uv_fs_t req;
    uv_dirent_t entry;

    if (uv_fs_lstat(NULL, &req, path, NULL) < 0) {
        uv_fs_req_cleanup(&req);
        return;
    }
    *bytes += req.statbuf.st_blocks * 512;
    *inodes += 1;
    if ((req.statbuf.st_mode & S_IFMT) != S_IFDIR) {
        uv_fs_req_cleanup(&req);
        return;
    }
    uv_fs_req_cleanup(&req);
    if (uv_fs_scandir(NULL, &req, path, 0, NULL) < 0) {
        uv_fs_req_cleanup(&req);
        return;
    }
    while (uv_fs_scandir_next(&req, &entry) != UV_EOF) {
        _cleanup_free_ char *child = xasprintf("%s/%s", path, entry.name);

        measure_tree(child, bytes, inodes);
    }
    uv_fs_req_cleanup(&req);
}

static void measure_work_cb(uv_work_t *work)
{
    struct layer_measurement *m = work->data;

    measure_tree(m->dir, &m->bytes, &m->inodes);
}

static void unlink_measurement(struct runtime *runtime, struct layer_measurement *m)
{
    for (struct layer_measurement **link = &runtime->measurements; *link; link = &(*link)->next) {
        if (*link == m) {
            *link = m->next;
            return;
        }
    }
}

static void measure_done_cb(uv_work_t *work, int status)
{
    struct layer_measurement *m = work->data;
    struct container *container = NULL;

    if (m->runtime) {
        unlink_measurement(m->runtime, m);
        container = runtime_find_container(m->runtime, m->container_id, NULL);
    }
    if (container && status == 0) {
        container->layer_bytes = m->bytes;
        container->layer_inodes = m->inodes;
        container->layer_measured_ns = time_now_ns();
    }
    if (container)
        container->layer_measuring = false;
    free(m->container_id);
    free(m->dir);
    free(m);
}

void container_measure_layer(struct container *container)
{
    struct runtime *runtime = container->runtime;
    struct layer_measurement *m;
    int rc;

    if (container->layer_measuring ||
        time_now_ns() - container->layer_measured_ns < LAYER_USAGE_REFRESH_NS)
        return;
    m = xcalloc(1, sizeof(*m));
    m->work.data = m;
    m->runtime = runtime;
    m->container_id = xstrdup(container->record.id);
    m->dir = container_dir(container);
    rc = uv_queue_work(runtime->loop, &m->work, measure_work_cb, measure_done_cb);
    if (rc < 0) {
        log_warn_id("container", container->record.id, "measuring the writable layer failed: %s",
                    uv_strerror(rc));
        free(m->container_id);
        free(m->dir);
        free(m);
        return;
    }
    container->layer_measuring = true;
    m->next = runtime->measurements;
    runtime->measurements = m;
}

void runtime_forget_measurements(struct runtime *runtime)
{
    /* The thread pool still finishes them; their completions then find no runtime. */
    for (struct layer_measurement *m = runtime->measurements; m; m = m->next)
        m->runtime = NULL;
    runtime->measurements = NULL;
}
