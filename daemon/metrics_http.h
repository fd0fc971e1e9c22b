#ifndef HOSTCRI_DAEMON_METRICS_HTTP_H
#define HOSTCRI_DAEMON_METRICS_HTTP_H

#include <uv.h>

#include "common/error.h"

struct metrics_http;

/*
 * Serves GET /metrics (Prometheus text format) on address, "127.0.0.1:9464" or
 * "[::1]:9464", and enables metric recording. Other paths get 404. Returns 0, or -1 with err
 * set for an invalid or busy address. Loop thread only.
 */
int metrics_http_start(uv_loop_t *loop, const char *address, struct metrics_http **out,
                       struct error *err);

/* Closes the listener and every open connection; the memory is freed from the loop. */
void metrics_http_stop(struct metrics_http *server);

#endif
