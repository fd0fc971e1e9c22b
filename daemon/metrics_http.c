/*
 * A minimal HTTP/1.1 server for Prometheus scrapes: it reads one request per connection, sends
 * the response and closes the connection. Scrapes are small and few, so nothing here aims at
 * throughput.
 */
#include "daemon/metrics_http.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/net_address.h"
#include "common/strbuf.h"
#include "common/util.h"

/* Maximum size of a request head; a scrape's is a few hundred bytes. */
#define REQUEST_HEAD_MAX 8192
/* A client that has not sent its request head by then is disconnected. */
#define REQUEST_TIMEOUT_MS 10000
#define MAX_CONNECTIONS 64

struct metrics_connection;

struct metrics_http {
    uv_tcp_t listener;
    uv_loop_t *loop;
    struct metrics_connection *connections; /* doubly linked through next/prev */
    unsigned connection_count;
    bool stopping;
    bool listener_closed;
};

struct metrics_connection {
    struct metrics_connection *next;
    struct metrics_connection *prev;
    uv_tcp_t tcp;
    uv_timer_t timer;
    struct metrics_http *server;
    struct strbuf request;
    bool answered;
    int open_handles;
};

struct metrics_write {
    uv_write_t request;
    struct metrics_connection *connection;
    struct strbuf response;
};

/* Frees the server once it is stopped and its last handle has closed. */
static void free_if_done(struct metrics_http *server)
{
    if (server->stopping && server->listener_closed && server->connection_count == 0)
        free(server);
}

static void connection_handle_closed_cb(uv_handle_t *handle)
{
    struct metrics_connection *connection = handle->data;
    struct metrics_http *server = connection->server;

    if (--connection->open_handles > 0)
        return;
    if (connection->prev)
        connection->prev->next = connection->next;
    else
        server->connections = connection->next;
    if (connection->next)
        connection->next->prev = connection->prev;
    strbuf_free(&connection->request);
    free(connection);
    server->connection_count--;
    free_if_done(server);
}

static void close_connection(struct metrics_connection *connection)
{
    if (!uv_is_closing((uv_handle_t *)&connection->tcp))
        uv_close((uv_handle_t *)&connection->tcp, connection_handle_closed_cb);
    if (!uv_is_closing((uv_handle_t *)&connection->timer))
        uv_close((uv_handle_t *)&connection->timer, connection_handle_closed_cb);
}

static void write_cb(uv_write_t *request, int status)
{
    struct metrics_write *write = (struct metrics_write *)request;

    (void)status;
    close_connection(write->connection);
    strbuf_free(&write->response);
    free(write);
}

static void respond(struct metrics_connection *connection, int status, const char *reason,
                    const char *content_type, const struct strbuf *body)
{
    struct metrics_write *write = xcalloc(1, sizeof(*write));
    uv_buf_t buf;

    connection->answered = true;
    uv_read_stop((uv_stream_t *)&connection->tcp);
    write->connection = connection;
    strbuf_appendf(&write->response,
                   "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                   "Connection: close\r\n\r\n",
                   status, reason, content_type, body->length);
    strbuf_append(&write->response, body->data ? body->data : "", body->length);
    buf = uv_buf_init(write->response.data, (unsigned)write->response.length);
    if (uv_write(&write->request, (uv_stream_t *)&connection->tcp, &buf, 1, write_cb) < 0) {
        strbuf_free(&write->response);
        free(write);
        close_connection(connection);
    }
}

static void handle_request(struct metrics_connection *connection)
{
    const char *head = connection->request.data;
    struct strbuf body = STRBUF_INIT;

    if (str_has_prefix(head, "GET /metrics ") || str_has_prefix(head, "GET /metrics?")) {
        metrics_render(&body);
        respond(connection, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", &body);
    } else if (str_has_prefix(head, "GET ")) {
        strbuf_append_str(&body, "not found: hostcri serves /metrics\n");
        respond(connection, 404, "Not Found", "text/plain; charset=utf-8", &body);
    } else {
        strbuf_append_str(&body, "only GET /metrics is served\n");
        respond(connection, 405, "Method Not Allowed", "text/plain; charset=utf-8", &body);
    }
    strbuf_free(&body);
}

static void alloc_cb(uv_handle_t *handle, size_t suggested_size, uv_buf_t *buf)
{
    static char buffer[4096];

    (void)handle;
    (void)suggested_size;
    *buf = uv_buf_init(buffer, sizeof(buffer));
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct metrics_connection *connection = stream->data;

    if (nread < 0) {
        close_connection(connection);
        return;
    }
    if (connection->answered || nread == 0)
        return;
    strbuf_append(&connection->request, buf->base, (size_t)nread);
    if (strstr(connection->request.data, "\r\n\r\n") != NULL) {
        handle_request(connection);
    } else if (connection->request.length > REQUEST_HEAD_MAX) {
        struct strbuf body = STRBUF_INIT;

        strbuf_append_str(&body, "request head too large\n");
        respond(connection, 431, "Request Header Fields Too Large", "text/plain", &body);
        strbuf_free(&body);
    }
}

static void timeout_cb(uv_timer_t *timer)
{
    struct metrics_connection *connection = timer->data;

    if (!connection->answered)
        close_connection(connection);
}

static void connection_cb(uv_stream_t *listener, int status)
{
    struct metrics_http *server = listener->data;
    struct metrics_connection *connection;

    if (status < 0)
        return;
    connection = xcalloc(1, sizeof(*connection));
    connection->server = server;
    uv_tcp_init(server->loop, &connection->tcp);
    uv_timer_init(server->loop, &connection->timer);
    connection->tcp.data = connection;
    connection->timer.data = connection;
    connection->open_handles = 2;
    connection->next = server->connections;
    if (server->connections)
        server->connections->prev = connection;
    server->connections = connection;
    server->connection_count++;
    if (uv_accept(listener, (uv_stream_t *)&connection->tcp) < 0 ||
        server->connection_count > MAX_CONNECTIONS) {
        close_connection(connection);
        return;
    }
    uv_timer_start(&connection->timer, timeout_cb, REQUEST_TIMEOUT_MS, 0);
    uv_read_start((uv_stream_t *)&connection->tcp, alloc_cb, read_cb);
}

int metrics_http_start(uv_loop_t *loop, const char *address, struct metrics_http **out,
                       struct error *err)
{
    struct metrics_http *server;
    struct sockaddr_storage socket_address;
    int rc;

    if (net_address_parse(address, &socket_address) < 0)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid metrics address \"%s\": use IP:PORT, such as 127.0.0.1:9464",
                         address);
    server = xcalloc(1, sizeof(*server));
    server->loop = loop;
    uv_tcp_init(loop, &server->listener);
    server->listener.data = server;
    rc = uv_tcp_bind(&server->listener, (const struct sockaddr *)&socket_address, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&server->listener, 64, connection_cb);
    if (rc < 0) {
        uv_close((uv_handle_t *)&server->listener, (uv_close_cb)free);
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "listen for metrics on %s: %s: choose another address with "
                         "metrics.address or --metrics-address",
                         address, uv_strerror(rc));
    }
    if (!str_has_prefix(address, "127.") && strcmp(address, "[::1]") != 0 &&
        !str_has_prefix(address, "[::1]:"))
        log_warn("metrics are served on %s, which is not a loopback address", address);
    metrics_enable();
    log_info("serving Prometheus metrics on http://%s/metrics", address);
    *out = server;
    return 0;
}

static void listener_closed_cb(uv_handle_t *handle)
{
    struct metrics_http *server = handle->data;

    server->listener_closed = true;
    free_if_done(server);
}

void metrics_http_stop(struct metrics_http *server)
{
    if (server == NULL || server->stopping)
        return;
    server->stopping = true;
    for (struct metrics_connection *c = server->connections; c != NULL; c = c->next)
        close_connection(c);
    uv_close((uv_handle_t *)&server->listener, listener_closed_cb);
}
