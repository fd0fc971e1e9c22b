#ifndef HOSTCRI_CRI_STREAMING_SPDY_HANDLER_H
#define HOSTCRI_CRI_STREAMING_SPDY_HANDLER_H

#include <stdint.h>

#include <uv.h>

#include "cri/streaming/conn.h"
#include "cri/streaming/server.h"

/*
 * The server side of an upgraded SPDY/3.1 connection: exec and attach (the remote command
 * protocols v1-v4) or port-forward (portforward.k8s.io), over any byte link.
 */

struct spdy_handler_config {
    uv_loop_t *loop;
    const struct streaming_backend *backend;
    void *backend_data;
    /* Remote command protocol version from the negotiated name (1-4); unused for port-forward. */
    int version;
    uint64_t stream_creation_timeout_ms;
};

struct spdy_handler;

/*
 * Creates the handler for request (ownership passes to it) writing to link. Feed it through
 * spdy_handler_ops; it frees itself after its closed callback.
 */
struct spdy_handler *spdy_handler_new(const struct spdy_handler_config *config,
                                      struct streaming_link link,
                                      struct streaming_request *request);

extern const struct streaming_handler_ops spdy_handler_ops;

#endif
