#ifndef HOSTCRI_CRI_STREAMING_WS_HANDLER_H
#define HOSTCRI_CRI_STREAMING_WS_HANDLER_H

#include <stdint.h>

#include <uv.h>

#include "cri/streaming/conn.h"
#include "cri/streaming/server.h"

/*
 * The server side of an upgraded WebSocket connection: exec and attach over the channel
 * protocols (v5, v4, base64, channel.k8s.io), port-forward over v4 channels, and port-forward
 * as SPDY tunnelled in binary messages (SPDY/3.1+portforward.k8s.io).
 */

struct ws_handler_config {
    uv_loop_t *loop;
    const struct streaming_backend *backend;
    void *backend_data;
    const char *protocol; /* the negotiated subprotocol, "" when the client offered none */
    uint64_t stream_creation_timeout_ms;
    size_t max_message;
};

struct ws_handler;

/*
 * Creates the handler for request (ownership passes to it) writing to link, and sends what the
 * protocol sends first (the ready message or the port prefixes). It frees itself after its
 * closed callback.
 */
struct ws_handler *ws_handler_new(const struct ws_handler_config *config,
                                  struct streaming_link link, struct streaming_request *request);

extern const struct streaming_handler_ops ws_handler_ops;

#endif
