#ifndef HOSTCRI_CRI_SERVER_H
#define HOSTCRI_CRI_SERVER_H

#include <stddef.h>

#include <uv.h>

#include "common/error.h"
#include "cri/rpc.h"
#include "cri/services.h"

struct cri_server;

struct cri_server_options {
    const char *endpoint;         /* "unix:///run/hostcri/hostcri.sock" or "npipe:////./pipe/x" */
    size_t max_recv_message_size; /* bytes; larger requests get RESOURCE_EXHAUSTED */
    size_t max_send_message_size; /* bytes; larger responses get RESOURCE_EXHAUSTED */
    unsigned max_concurrent_streams; /* per connection */
};

typedef void (*cri_server_stopped_cb)(struct cri_server *server, void *data);

/*
 * Binds the endpoint and starts serving the methods on loop. A stale unix socket file is
 * replaced; a live one (another daemon answers on it) is an error. The socket is created
 * with mode 0660. Returns 0 and the server in *out, or -1 with err set. Loop thread only.
 */
int cri_server_start(uv_loop_t *loop, const struct cri_server_options *options,
                     const struct rpc_method *methods, size_t method_count,
                     struct cri_services *services, struct cri_server **out, struct error *err);

/*
 * Starts a graceful stop: closes the listener, sends GOAWAY on every connection, lets the
 * calls in flight finish for up to grace_ms, then cancels what is left and closes every
 * connection. cb runs exactly once, later, from the loop, when nothing is left open; the
 * server may then be freed with cri_server_free. Calling it again does nothing.
 */
void cri_server_stop(struct cri_server *server, uint64_t grace_ms, cri_server_stopped_cb cb,
                     void *data);

/* Frees a stopped server (after the stop callback ran). */
void cri_server_free(struct cri_server *server);

/* Number of open connections and of calls in flight (tests and metrics). */
size_t cri_server_connection_count(const struct cri_server *server);
size_t cri_server_call_count(const struct cri_server *server);

#endif
