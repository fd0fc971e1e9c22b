#ifndef HOSTCRI_RUNTIME_DEFER_H
#define HOSTCRI_RUNTIME_DEFER_H

#include <uv.h>

#include "common/error.h"

typedef void (*runtime_defer_cb)(void *data);

/*
 * Runs cb(data) once on a later iteration of loop, never from inside this call, so that an
 * asynchronous function can complete "at once" and still keep the libuv callback rule.
 * Returns 0, or -1 with ERROR_INTERNAL when the timer cannot start (cb then never runs).
 */
int runtime_defer(uv_loop_t *loop, runtime_defer_cb cb, void *data, struct error *err);

#endif
