#include "runtime/defer.h"

#include <stdlib.h>

#include "common/util.h"

struct deferred {
    uv_timer_t timer;
    runtime_defer_cb cb;
    void *data;
};

static void deferred_close_cb(uv_handle_t *handle)
{
    free(handle->data);
}

static void deferred_timer_cb(uv_timer_t *timer)
{
    struct deferred *deferred = timer->data;

    deferred->cb(deferred->data);
    uv_close((uv_handle_t *)timer, deferred_close_cb);
}

int runtime_defer(uv_loop_t *loop, runtime_defer_cb cb, void *data, struct error *err)
{
    struct deferred *deferred = xcalloc(1, sizeof(*deferred));
    int rc;

    deferred->cb = cb;
    deferred->data = data;
    uv_timer_init(loop, &deferred->timer);
    deferred->timer.data = deferred;
    rc = uv_timer_start(&deferred->timer, deferred_timer_cb, 0, 0);
    if (rc < 0) {
        uv_close((uv_handle_t *)&deferred->timer, deferred_close_cb);
        return error_set(err, ERROR_INTERNAL, "schedule a callback: %s", uv_strerror(rc));
    }
    return 0;
}
