/*
 * The gRPC server: the listener, the method table lookup and the graceful stop. Connections
 * live in connection.c and calls in call.c.
 */
#include <stdlib.h>
#include <string.h>
#ifndef _WIN32
#include <unistd.h>
#endif

#include "common/log.h"
#include "common/util.h"
#include "cri/endpoint.h"
#include "cri/server_internal.h"

static int compare_method_paths(const void *a, const void *b)
{
    const struct rpc_method *left = a;
    const struct rpc_method *right = b;

    return strcmp(left->path, right->path);
}

const struct rpc_method *server_find_method(const struct cri_server *server, const char *path)
{
    struct rpc_method key = {.path = path};

    return bsearch(&key, server->methods, server->method_count, sizeof(key), compare_method_paths);
}

int server_adopt_connection(struct cri_server *server, struct cri_connection *connection)
{
    int rc;

    list_insert_tail(&server->connections, &connection->node);
    server->connection_count++;
    rc = connection_setup(server, connection);
    if (rc < 0) {
        log_warn("setting up a connection failed: %s", uv_strerror(rc));
        connection_close(connection);
        return rc;
    }
    log_debug("connection %u: accepted", connection->id);
    return 0;
}

static void connection_cb(uv_stream_t *listener, int status)
{
    struct cri_server *server = listener->data;
    struct cri_connection *connection;
    int rc;

    if (status < 0) {
        log_warn("accepting a connection failed: %s", uv_strerror(status));
        return;
    }
    connection = xcalloc(1, sizeof(*connection));
    uv_pipe_init(server->loop, &connection->pipe, 0);
    connection->pipe.data = connection;
    rc = uv_accept(listener, (uv_stream_t *)&connection->pipe);
    if (rc < 0) {
        log_warn("accepting a connection failed: %s", uv_strerror(rc));
        uv_close((uv_handle_t *)&connection->pipe, (uv_close_cb)free);
        return;
    }
    server_adopt_connection(server, connection);
}

int cri_server_start(uv_loop_t *loop, const struct cri_server_options *options,
                     const struct rpc_method *methods, size_t method_count,
                     struct cri_services *services, struct cri_server **out, struct error *err)
{
    struct cri_server *server = xcalloc(1, sizeof(*server));
    struct rpc_method *sorted;
    _cleanup_free_ char *name = NULL;
    int is_unix_socket = 0;

    name = endpoint_pipe_name(options->endpoint, &is_unix_socket, err);
    if (name == NULL) {
        free(server);
        return -1;
    }

    server->loop = loop;
    server->options = *options;
    server->services = services;
    sorted = xmalloc(method_count * sizeof(*sorted));
    memcpy(sorted, methods, method_count * sizeof(*sorted));
    qsort(sorted, method_count, sizeof(*sorted), compare_method_paths);
    server->methods = sorted;
    server->method_count = method_count;
    list_init(&server->connections);
    server->callbacks = connection_callbacks_new();
    nghttp2_option_new(&server->session_options);
    /*
     * grpc-go clients (kubelet, crictl) send a socket path as :authority, which nghttp2's HTTP
     * checks reject; hostcri checks the pseudo-headers it needs itself (call.c).
     */
    nghttp2_option_set_no_http_messaging(server->session_options, 1);

    uv_pipe_init(loop, &server->listener, 0);
    server->listener.data = server;
    if (endpoint_listen(&server->listener, name, is_unix_socket, connection_cb, err) < 0) {
        uv_close((uv_handle_t *)&server->listener, NULL);
        /* The handle closes on the next loop turn; the server is freed with it. */
        server->listening = false;
        uv_run(loop, UV_RUN_NOWAIT);
        cri_server_free(server);
        return -1;
    }
    server->listening = true;
    if (is_unix_socket)
        server->socket_path = steal_pointer(&name);
    log_info("serving CRI v1 on %s", options->endpoint);
    *out = server;
    return 0;
}

static void finish_stop_if_idle(struct cri_server *server)
{
    cri_server_stopped_cb cb;

    if (!server->stopping || server->listening || server->connection_count > 0 ||
        server->grace_timer_open || server->stopped_cb == NULL)
        return;
    cb = server->stopped_cb;
    server->stopped_cb = NULL;
    cb(server, server->stopped_data);
}

static void grace_timer_close_cb(uv_handle_t *handle)
{
    struct cri_server *server = handle->data;

    server->grace_timer_open = false;
    finish_stop_if_idle(server);
}

static void close_grace_timer(struct cri_server *server)
{
    if (server->grace_timer_open && !uv_is_closing((uv_handle_t *)&server->grace_timer))
        uv_close((uv_handle_t *)&server->grace_timer, grace_timer_close_cb);
}

void server_connection_closed(struct cri_server *server)
{
    server->connection_count--;
    if (server->stopping && server->connection_count == 0)
        close_grace_timer(server);
    finish_stop_if_idle(server);
}

static void grace_expired_cb(uv_timer_t *timer)
{
    struct cri_server *server = timer->data;
    struct list_node *node = server->connections.next;

    log_warn("grace period over: cancelling the calls still running");
    while (node != &server->connections) {
        struct cri_connection *connection = container_of(node, struct cri_connection, node);
        struct list_node *call_node = connection->calls.next;

        node = node->next;
        while (call_node != &connection->calls) {
            struct rpc_call *call = container_of(call_node, struct rpc_call, connection_node);

            call_node = call_node->next;
            call_cancel_for_shutdown(call);
        }
        connection_flush(connection);
    }
    /* Whatever is still open now gets closed, written or not. */
    node = server->connections.next;
    while (node != &server->connections) {
        struct cri_connection *connection = container_of(node, struct cri_connection, node);

        node = node->next;
        connection_close(connection);
    }
    close_grace_timer(server);
}

static void listener_close_cb(uv_handle_t *handle)
{
    struct cri_server *server = handle->data;

    server->listening = false;
    finish_stop_if_idle(server);
}

void cri_server_stop(struct cri_server *server, uint64_t grace_ms, cri_server_stopped_cb cb,
                     void *data)
{
    struct list_node *node;

    if (server->stopping)
        return;
    server->stopping = true;
    server->stopped_cb = cb;
    server->stopped_data = data;
    log_info("stopping the CRI server: %zu connections, %zu calls in flight, grace period %lu ms",
             server->connection_count, server->call_count, (unsigned long)grace_ms);

    uv_close((uv_handle_t *)&server->listener, listener_close_cb);
#ifndef _WIN32
    if (server->socket_path)
        unlink(server->socket_path);
#endif
    uv_timer_init(server->loop, &server->grace_timer);
    server->grace_timer.data = server;
    server->grace_timer_open = true;
    uv_timer_start(&server->grace_timer, grace_expired_cb, grace_ms, 0);

    node = server->connections.next;
    while (node != &server->connections) {
        struct cri_connection *connection = container_of(node, struct cri_connection, node);

        node = node->next;
        connection_start_shutdown(connection);
    }
    if (server->connection_count == 0)
        close_grace_timer(server);
}

void cri_server_free(struct cri_server *server)
{
    if (server == NULL)
        return;
    nghttp2_session_callbacks_del(server->callbacks);
    nghttp2_option_del(server->session_options);
    free((void *)server->methods);
    free(server->socket_path);
    free(server);
}

size_t cri_server_connection_count(const struct cri_server *server)
{
    return server->connection_count;
}

size_t cri_server_call_count(const struct cri_server *server)
{
    return server->call_count;
}
