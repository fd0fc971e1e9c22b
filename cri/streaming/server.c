/*
 * The streaming server: the listener, issued URLs, and the HTTP/1.1 phase of each connection
 * up to the protocol switch (routing, token check, protocol negotiation, 101 response). The
 * upgraded connection then belongs to the SPDY or WebSocket handler.
 */
#include "cri/streaming/server.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "cri/streaming/conn.h"
#include "cri/streaming/http.h"
#include "cri/streaming/request.h"
#include "cri/streaming/spdy_handler.h"
#include "cri/streaming/tls.h"
#include "cri/streaming/token.h"
#include "cri/streaming/websocket.h"
#include "cri/streaming/ws_handler.h"

#define NS_PER_MS 1000000ull

/* One accepted connection, from accept until it is freed; its HTTP phase is the handler. */
struct http_conn {
    struct http_conn *prev;
    struct http_conn *next;
    struct streaming_server *server;
    struct conn *conn;
    struct strbuf head;
    bool upgraded;
};

struct streaming_server {
    uv_loop_t *loop;
    uv_tcp_t listener;
    bool listener_open; /* initialized, not yet closed */
    bool listener_closed;
    struct streaming_config config;
    struct streaming_backend backend;
    void *backend_data;
    struct tls_server *tls; /* NULL without TLS */
    char *base_url;
    struct token_cache tokens;
    struct http_conn *conns;
    size_t conn_count;
    bool stopping;
};

static const char *const spdy_remote_command_protocols[] = {
    "v4.channel.k8s.io", "v3.channel.k8s.io", "v2.channel.k8s.io", "channel.k8s.io", NULL};
static const char *const spdy_port_forward_protocols[] = {"portforward.k8s.io", NULL};
static const char *const ws_remote_command_protocols[] = {WEBSOCKET_PROTOCOL_V5,
                                                          WEBSOCKET_PROTOCOL_V4,
                                                          WEBSOCKET_PROTOCOL_V4_BASE64,
                                                          WEBSOCKET_PROTOCOL_BASE64,
                                                          WEBSOCKET_PROTOCOL_V1,
                                                          "",
                                                          NULL};
static const char *const ws_port_forward_protocols[] = {
    WEBSOCKET_PROTOCOL_SPDY_TUNNEL, WEBSOCKET_PROTOCOL_V4, WEBSOCKET_PROTOCOL_V4_BASE64, "", NULL};

void streaming_config_init(struct streaming_config *config)
{
    memset(config, 0, sizeof(*config));
    config->address = "127.0.0.1";
    config->token_ttl_ms = 60 * 1000;
    config->max_pending_requests = 1000;
    config->max_connections = 256;
    config->request_timeout_ms = 30 * 1000;
    config->stream_creation_timeout_ms = 30 * 1000;
    config->idle_timeout_ms = 4 * 60 * 60 * 1000ull;
}

static void maybe_free_server(struct streaming_server *server)
{
    if (!server->stopping || !server->listener_closed || server->conns != NULL)
        return;
    token_cache_free(&server->tokens);
    tls_server_free(server->tls);
    free(server->base_url);
    free((char *)server->config.address);
    free((char *)server->config.tls_cert_file);
    free((char *)server->config.tls_key_file);
    free(server);
}

/* Writes a complete response and closes the connection after it. */
static void respond(struct http_conn *http, int status, const char *const *headers,
                    const char *body)
{
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;

    http_write_response(&out, status, headers, body);
    conn_write(http->conn, out.data, out.length);
    conn_close(http->conn);
}

static void respond_not_found(struct http_conn *http)
{
    respond(http, 404, NULL, "404 page not found\n");
}

/* Splits "/<kind>/<token>". Returns false for any other path. */
static bool parse_path(const char *path, enum streaming_kind *kind, const char **token)
{
    static const enum streaming_kind kinds[] = {STREAMING_EXEC, STREAMING_ATTACH,
                                                STREAMING_PORT_FORWARD};

    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        const char *name = streaming_kind_path(kinds[i]);
        size_t length = strlen(name);

        if (path[0] == '/' && strncmp(path + 1, name, length) == 0 && path[1 + length] == '/') {
            *token = path + 2 + length;
            *kind = kinds[i];
            return **token != '\0' && strchr(*token, '/') == NULL;
        }
    }
    return false;
}

static void join_list(struct strbuf *out, const char *const *items)
{
    for (size_t i = 0; items[i] != NULL; i++)
        strbuf_appendf(out, "%s%s", i ? " " : "", items[i]);
}

/* Chooses the first client protocol (client order) that the server supports. */
static const char *negotiate(char **offered, const char *const *supported)
{
    for (size_t i = 0; offered[i] != NULL; i++) {
        for (size_t j = 0; supported[j] != NULL; j++) {
            if (strcmp(offered[i], supported[j]) == 0)
                return supported[j];
        }
    }
    return NULL;
}

static void reject_spdy_protocol(struct http_conn *http, char **offered,
                                 const char *const *supported)
{
    _cleanup_strbuf_ struct strbuf body = STRBUF_INIT;
    const char *headers[8] = {NULL};
    _cleanup_strv_ char **lines = xcalloc(ARRAY_SIZE(headers), sizeof(*lines));

    for (size_t i = 0; supported[i] != NULL && i + 1 < ARRAY_SIZE(headers); i++) {
        lines[i] = xasprintf("X-Accepted-Stream-Protocol-Versions: %s", supported[i]);
        headers[i] = lines[i];
    }
    strbuf_append_str(&body, "unable to upgrade: unable to negotiate protocol: client supports [");
    join_list(&body, (const char *const *)offered);
    strbuf_append_str(&body, "], server accepts [");
    join_list(&body, supported);
    strbuf_append_str(&body, "]\n");
    respond(http, 403, headers, body.data);
}

/* Takes over the connection for an upgraded protocol and hands it the bytes already read. */
static void switch_handler(struct http_conn *http, const struct streaming_handler_ops *ops,
                           void *handler, size_t head_length)
{
    struct streaming_server *server = http->server;
    _cleanup_strbuf_ struct strbuf rest = STRBUF_INIT;

    http->upgraded = true;
    strbuf_append(&rest, http->head.data + head_length, http->head.length - head_length);
    strbuf_free(&http->head);
    conn_set_timeout(http->conn, server->config.idle_timeout_ms, true);
    conn_set_handler(http->conn, ops, handler);
    if (rest.length > 0)
        ops->read(handler, rest.data, rest.length);
}

static void upgrade_spdy(struct http_conn *http, const struct http_request *request,
                         struct streaming_request *stream_request, size_t head_length)
{
    struct streaming_server *server = http->server;
    bool port_forward = stream_request->kind == STREAMING_PORT_FORWARD;
    const char *const *supported =
        port_forward ? spdy_port_forward_protocols : spdy_remote_command_protocols;
    _cleanup_strv_ char **offered =
        http_request_header_values(request, "X-Stream-Protocol-Version");

    if (offered[0] == NULL) {
        streaming_request_free(stream_request);
        respond(http, 400, NULL, "unable to upgrade: X-Stream-Protocol-Version is required\n");
        return;
    }
    const char *protocol = negotiate(offered, supported);
    if (protocol == NULL) {
        streaming_request_free(stream_request);
        reject_spdy_protocol(http, offered, supported);
        return;
    }
    if (!http_request_header_contains(request, "Connection", "upgrade") ||
        !http_request_header_contains(request, "Upgrade", "spdy/3.1")) {
        streaming_request_free(stream_request);
        respond(http, 400, NULL,
                "unable to upgrade: missing upgrade headers in request: Connection and "
                "Upgrade: SPDY/3.1 are required\n");
        return;
    }

    _cleanup_free_ char *response = xasprintf("HTTP/1.1 101 Switching Protocols\r\n"
                                              "Connection: Upgrade\r\n"
                                              "Upgrade: SPDY/3.1\r\n"
                                              "X-Stream-Protocol-Version: %s\r\n\r\n",
                                              protocol);
    conn_write(http->conn, response, strlen(response));

    struct spdy_handler_config config = {
        .loop = server->loop,
        .backend = &server->backend,
        .backend_data = server->backend_data,
        .version = strcmp(protocol, "channel.k8s.io") == 0 ? 1 : protocol[1] - '0',
        .stream_creation_timeout_ms = server->config.stream_creation_timeout_ms,
    };
    struct spdy_handler *handler = spdy_handler_new(&config, conn_link(http->conn), stream_request);
    switch_handler(http, &spdy_handler_ops, handler, head_length);
}

/* Checks the WebSocket handshake; responds and returns NULL on failure, else the protocol. */
static const char *check_websocket(struct http_conn *http, const struct http_request *request,
                                   const struct streaming_request *stream_request,
                                   char accept[WEBSOCKET_ACCEPT_LENGTH + 1])
{
    static const char *const version_header[] = {"Sec-WebSocket-Version: 13", NULL};
    const char *version = http_request_header(request, "Sec-WebSocket-Version");
    struct error err = ERROR_INIT;

    if (strcmp(request->method, "GET") != 0) {
        respond(http, 405, NULL, "405 method not allowed\n");
        return NULL;
    }
    if (version == NULL || strcmp(version, "13") != 0) {
        respond(http, 400, version_header, "unsupported Sec-WebSocket-Version\n");
        return NULL;
    }
    if (websocket_accept_key(http_request_header(request, "Sec-WebSocket-Key"), accept, &err) < 0) {
        respond(http, 400, NULL, "missing or invalid Sec-WebSocket-Key\n");
        error_clear(&err);
        return NULL;
    }

    _cleanup_strv_ char **offered = http_request_header_values(request, "Sec-WebSocket-Protocol");
    _cleanup_strbuf_ struct strbuf joined = STRBUF_INIT;
    for (size_t i = 0; offered[i] != NULL; i++)
        strbuf_appendf(&joined, "%s%s", i ? "," : "", offered[i]);
    bool port_forward = stream_request->kind == STREAMING_PORT_FORWARD;
    const char *protocol = websocket_select_protocol(
        joined.data, port_forward ? ws_port_forward_protocols : ws_remote_command_protocols);
    if (protocol == NULL) {
        /* As the reference server: 403, no body, and the connection closes. */
        static const char forbidden[] = "HTTP/1.1 403 Forbidden\r\n\r\n";

        conn_write(http->conn, forbidden, sizeof(forbidden) - 1);
        conn_close(http->conn);
        return NULL;
    }
    if (port_forward && strcmp(protocol, WEBSOCKET_PROTOCOL_SPDY_TUNNEL) != 0 &&
        stream_request->port_count == 0) {
        respond(http, 400, NULL, "at least one port must be specified\n");
        return NULL;
    }
    return protocol;
}

static void upgrade_websocket(struct http_conn *http, const struct http_request *request,
                              struct streaming_request *stream_request, size_t head_length)
{
    struct streaming_server *server = http->server;
    char accept[WEBSOCKET_ACCEPT_LENGTH + 1];
    const char *protocol = check_websocket(http, request, stream_request, accept);

    if (protocol == NULL) {
        streaming_request_free(stream_request);
        return;
    }

    _cleanup_strbuf_ struct strbuf response = STRBUF_INIT;
    strbuf_appendf(&response,
                   "HTTP/1.1 101 Switching Protocols\r\n"
                   "Upgrade: websocket\r\n"
                   "Connection: Upgrade\r\n"
                   "Sec-WebSocket-Accept: %s\r\n",
                   accept);
    if (protocol[0] != '\0')
        strbuf_appendf(&response, "Sec-WebSocket-Protocol: %s\r\n", protocol);
    strbuf_append_str(&response, "\r\n");
    conn_write(http->conn, response.data, response.length);

    struct ws_handler_config config = {
        .loop = server->loop,
        .backend = &server->backend,
        .backend_data = server->backend_data,
        .protocol = protocol,
        .stream_creation_timeout_ms = server->config.stream_creation_timeout_ms,
        .max_message = 1024 * 1024,
    };
    /* The handler sends its first messages at once, behind the 101 response. */
    struct ws_handler *handler = ws_handler_new(&config, conn_link(http->conn), stream_request);
    switch_handler(http, &ws_handler_ops, handler, head_length);
}

static void log_request(struct http_conn *http, const struct streaming_request *request,
                        bool websocket)
{
    const char *transport = websocket ? "WebSocket" : "SPDY";

    if (request->kind == STREAMING_PORT_FORWARD)
        log_info_id("sandbox", request->pod_sandbox_id, "streaming: port-forward (%s) from %s",
                    transport, conn_peer(http->conn));
    else
        log_info_id("container", request->container_id, "streaming: %s (%s) from %s",
                    streaming_kind_path(request->kind), transport, conn_peer(http->conn));
}

static void route(struct http_conn *http, const struct http_request *request, size_t head_length)
{
    struct streaming_server *server = http->server;
    enum streaming_kind kind;
    const char *token;

    if ((strcmp(request->method, "GET") != 0 && strcmp(request->method, "POST") != 0) ||
        !parse_path(request->path, &kind, &token)) {
        respond_not_found(http);
        return;
    }
    bool websocket = http_request_header_has_token(request, "Upgrade", "websocket") &&
                     http_request_header_contains(request, "Connection", "upgrade");
    /* The token is spent by this request, whatever happens next. */
    struct streaming_request *stream_request =
        token_cache_consume(&server->tokens, token, uv_hrtime());
    if (stream_request == NULL || stream_request->kind != kind) {
        log_info("streaming: unknown, used or expired token from %s", conn_peer(http->conn));
        streaming_request_free(stream_request);
        respond_not_found(http);
        return;
    }

    log_request(http, stream_request, websocket);
    if (websocket) {
        upgrade_websocket(http, request, stream_request, head_length);
        return;
    }
    upgrade_spdy(http, request, stream_request, head_length);
}

static void http_read(void *data, const char *bytes, size_t length)
{
    struct http_conn *http = data;
    struct http_request request;
    struct error err = ERROR_INIT;

    if (http->upgraded)
        return;
    strbuf_append(&http->head, bytes, length);
    size_t head_length = http_head_length(http->head.data, http->head.length);
    if (head_length == 0) {
        if (http->head.length > HTTP_MAX_HEAD)
            respond(http, 431, NULL, "431 Request Header Fields Too Large\n");
        return;
    }
    if (head_length > HTTP_MAX_HEAD) {
        respond(http, 431, NULL, "431 Request Header Fields Too Large\n");
        return;
    }

    http->upgraded = true; /* no more HTTP parsing on this connection */
    if (http_request_parse(http->head.data, head_length, &request, &err) < 0) {
        log_info("streaming: bad request from %s: %s", conn_peer(http->conn), err.message);
        error_clear(&err);
        http_request_free(&request);
        respond(http, 400, NULL, "400 Bad Request\n");
        return;
    }
    route(http, &request, head_length);
    http_request_free(&request);
}

static void http_eof(void *data)
{
    struct http_conn *http = data;

    conn_close(http->conn);
}

static void http_drain(void *data)
{
}

static void http_closed(void *data)
{
}

static const struct streaming_handler_ops http_ops = {
    .read = http_read,
    .eof = http_eof,
    .drain = http_drain,
    .closed = http_closed,
};

static void connection_freed_cb(void *owner, struct conn *conn)
{
    struct streaming_server *server = owner;

    for (struct http_conn *http = server->conns; http != NULL; http = http->next) {
        if (http->conn != conn)
            continue;
        if (http->prev)
            http->prev->next = http->next;
        else
            server->conns = http->next;
        if (http->next)
            http->next->prev = http->prev;
        server->conn_count--;
        strbuf_free(&http->head);
        free(http);
        break;
    }
    maybe_free_server(server);
}

static void connection_cb(uv_stream_t *listener, int status)
{
    struct streaming_server *server = listener->data;

    if (status < 0) {
        log_warn("streaming: accept failed: %s", uv_strerror(status));
        return;
    }
    struct conn *conn = conn_accept(listener, server->tls, connection_freed_cb, server);
    if (conn == NULL)
        return;

    struct http_conn *http = xcalloc(1, sizeof(*http));
    http->server = server;
    http->conn = conn;
    http->next = server->conns;
    if (server->conns)
        server->conns->prev = http;
    server->conns = http;
    server->conn_count++;
    if (server->conn_count > server->config.max_connections) {
        log_warn("streaming: rejected a connection from %s: %zu connections are open",
                 conn_peer(conn), server->conn_count - 1);
        conn_set_handler(conn, &http_ops, http);
        http->upgraded = true;
        respond(http, 503, NULL, "too many streaming connections\n");
        return;
    }
    conn_set_timeout(conn, server->config.request_timeout_ms, false);
    conn_set_handler(conn, &http_ops, http);
}

static int load_tls(struct streaming_server *server, struct error *err)
{
    const struct streaming_config *config = &server->config;

    if (config->tls_cert_file == NULL && config->tls_key_file == NULL)
        return 0;
    if (config->tls_cert_file == NULL || config->tls_key_file == NULL)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "streaming TLS needs both a certificate and a key file");
    return tls_server_new(config->tls_cert_file, config->tls_key_file, &server->tls, err);
}

/* Binds and listens; fills the base URL with the real port. */
static int listen_on(struct streaming_server *server, struct error *err)
{
    const char *address = server->config.address;
    struct sockaddr_storage storage;
    int length = sizeof(storage);
    bool ipv6 = strchr(address, ':') != NULL;
    int rc;

    if (ipv6)
        rc = uv_ip6_addr(address, server->config.port, (struct sockaddr_in6 *)&storage);
    else
        rc = uv_ip4_addr(address, server->config.port, (struct sockaddr_in *)&storage);
    if (rc < 0)
        return error_set(err, ERROR_INVALID_ARGUMENT, "invalid streaming address \"%s\"", address);

    uv_tcp_init(server->loop, &server->listener);
    server->listener.data = server;
    server->listener_open = true;
    rc = uv_tcp_bind(&server->listener, (struct sockaddr *)&storage, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&server->listener, 128, connection_cb);
    if (rc == 0)
        rc = uv_tcp_getsockname(&server->listener, (struct sockaddr *)&storage, &length);
    if (rc < 0)
        return error_set(err, ERROR_UNAVAILABLE, "listen on %s port %u: %s", address,
                         server->config.port, uv_strerror(rc));

    uint16_t port = ntohs(ipv6 ? ((struct sockaddr_in6 *)&storage)->sin6_port
                               : ((struct sockaddr_in *)&storage)->sin_port);
    /* Clients need a concrete host: an unspecified address is advertised as loopback. */
    const char *host = address;
    if (strcmp(address, "0.0.0.0") == 0)
        host = "127.0.0.1";
    else if (strcmp(address, "::") == 0)
        host = "::1";
    server->base_url = xasprintf("%s://%s%s%s:%u", server->tls ? "https" : "http", ipv6 ? "[" : "",
                                 host, ipv6 ? "]" : "", port);
    return 0;
}

static void listener_closed_cb(uv_handle_t *handle)
{
    struct streaming_server *server = handle->data;

    server->listener_closed = true;
    maybe_free_server(server);
}

int streaming_server_start(uv_loop_t *loop, const struct streaming_config *config,
                           const struct streaming_backend *backend, void *backend_data,
                           struct streaming_server **out, struct error *err)
{
    struct streaming_server *server = xcalloc(1, sizeof(*server));

    server->loop = loop;
    server->config = *config;
    server->config.address = xstrdup(str_empty(config->address) ? "127.0.0.1" : config->address);
    server->config.tls_cert_file = xstrdup_or_null(config->tls_cert_file);
    server->config.tls_key_file = xstrdup_or_null(config->tls_key_file);
    server->backend = *backend;
    server->backend_data = backend_data;
    token_cache_init(&server->tokens, config->max_pending_requests,
                     config->token_ttl_ms * NS_PER_MS);

    if (load_tls(server, err) < 0 || listen_on(server, err) < 0) {
        /* The server is freed once the listener is closed, or at once without one. */
        server->stopping = true;
        if (server->listener_open) {
            uv_close((uv_handle_t *)&server->listener, listener_closed_cb);
        } else {
            server->listener_closed = true;
            maybe_free_server(server);
        }
        return error_prefix(err, "start the streaming server");
    }
    log_info("streaming: serving on %s", server->base_url);
    *out = server;
    return 0;
}

int streaming_server_issue_url(struct streaming_server *server,
                               const struct streaming_request *request, char **url_out,
                               struct error *err)
{
    char token[TOKEN_LENGTH + 1];

    if (server->stopping)
        return error_set(err, ERROR_UNAVAILABLE, "the streaming server is stopping");
    if (token_cache_insert(&server->tokens, streaming_request_copy(request), uv_hrtime(), token,
                           err) < 0)
        return -1;
    *url_out = xasprintf("%s/%s/%s", server->base_url, streaming_kind_path(request->kind), token);
    return 0;
}

const char *streaming_server_base_url(const struct streaming_server *server)
{
    return server->base_url;
}

void streaming_server_stop(struct streaming_server *server)
{
    if (server == NULL || server->stopping)
        return;
    server->stopping = true;
    log_info("streaming: stopping, %zu connections open", server->conn_count);
    uv_close((uv_handle_t *)&server->listener, listener_closed_cb);
    for (struct http_conn *http = server->conns; http != NULL; http = http->next)
        conn_abort(http->conn);
}
