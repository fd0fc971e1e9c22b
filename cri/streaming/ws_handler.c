/*
 * WebSocket connections of the streaming server. Channels: 0 stdin, 1 stdout, 2 stderr,
 * 3 error, 4 resize for exec and attach; 2i data and 2i+1 error for the i-th port of a
 * port-forward. The server always ends with close code 1000, which the Go clients need to see
 * a normal end.
 */
#include "cri/streaming/ws_handler.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "cri/streaming/remotecommand.h"
#include "cri/streaming/request.h"
#include "cri/streaming/spdy_handler.h"
#include "cri/streaming/tcp_forward.h"
#include "cri/streaming/websocket.h"

enum {
    CHANNEL_STDIN = 0,
    CHANNEL_STDOUT = 1,
    CHANNEL_STDERR = 2,
    CHANNEL_ERROR = 3,
    CHANNEL_RESIZE = 4,
};

struct ws_port {
    struct ws_handler *handler;
    unsigned index;
    uint16_t port;
    struct tcp_forward *tcp;
    bool done;
};

struct ws_handler {
    struct ws_handler_config config;
    struct streaming_link link;
    struct streaming_request *request;
    struct websocket_session *ws;
    struct websocket_protocol_info info;
    struct strbuf out;
    bool closing;
    bool link_gone;

    struct rc_session *rc;

    struct ws_port *ports;
    size_t port_count;
    bool forwards_paused;
    int full_forwards; /* ports whose pod side is not taking bytes fast enough */

    const struct streaming_handler_ops *tunnel_ops;
    void *tunnel;
};

static void flush(struct ws_handler *handler)
{
    websocket_session_flush(handler->ws, &handler->out);
    if (handler->out.length > 0 && !handler->link_gone)
        link_write(&handler->link, handler->out.data, handler->out.length);
    strbuf_reset(&handler->out);
}

static void send_channel(struct ws_handler *handler, unsigned channel, const void *data,
                         size_t length)
{
    if (handler->closing || handler->link_gone)
        return;
    websocket_session_send(handler->ws, channel, data, length);
    flush(handler);
}

/* Sends close 1000 (after everything queued) and closes the link. */
static void close_normally(struct ws_handler *handler)
{
    if (handler->closing || handler->link_gone)
        return;
    handler->closing = true;
    websocket_session_close(handler->ws, WEBSOCKET_CLOSE_NORMAL, NULL);
    flush(handler);
    handler->link.ops->close(handler->link.data);
}

static size_t backlog(struct ws_handler *handler)
{
    return handler->link_gone ? 0 : handler->link.ops->backlog(handler->link.data);
}

/* Remote command transport. */

static void rc_send(void *transport, enum rc_stream stream, const void *data, size_t length)
{
    static const unsigned channels[] = {
        [RC_STREAM_ERROR] = CHANNEL_ERROR,   [RC_STREAM_STDIN] = CHANNEL_STDIN,
        [RC_STREAM_STDOUT] = CHANNEL_STDOUT, [RC_STREAM_STDERR] = CHANNEL_STDERR,
        [RC_STREAM_RESIZE] = CHANNEL_RESIZE,
    };

    send_channel(transport, channels[stream], data, length);
}

static void rc_close_stream(void *transport, enum rc_stream stream)
{
    /* WebSocket channels have no half-close toward the client. */
}

static void rc_finish(void *transport)
{
    close_normally(transport);
}

static size_t rc_backlog(void *transport)
{
    return backlog(transport);
}

static void rc_pause_input(void *transport, bool pause)
{
    struct ws_handler *handler = transport;

    if (!handler->link_gone)
        handler->link.ops->pause_read(handler->link.data, pause);
}

static const struct rc_transport_ops ws_rc_ops = {
    .send = rc_send,
    .close_stream = rc_close_stream,
    .finish = rc_finish,
    .backlog = rc_backlog,
    .pause_input = rc_pause_input,
};

static void start_remote_command(struct ws_handler *handler)
{
    const struct streaming_request *request = handler->request;
    struct rc_options options = {.version = handler->info.version};
    unsigned ready = CHANNEL_ERROR;

    /* The ready signal: an empty message on the lowest requested output channel. */
    if (request->streams & STREAMING_STDOUT)
        ready = CHANNEL_STDOUT;
    else if (request->streams & STREAMING_STDERR)
        ready = CHANNEL_STDERR;
    send_channel(handler, ready, NULL, 0);

    handler->rc =
        rc_session_new(handler->config.loop, handler->config.backend, handler->config.backend_data,
                       handler->request, &options, &ws_rc_ops, handler);
    rc_session_start(handler->rc);
}

/* Port-forward over channels. */

static void set_full(struct ws_handler *handler, bool full);

static void port_done(struct ws_port *port)
{
    struct ws_handler *handler = port->handler;

    if (port->done)
        return;
    port->done = true;
    if (port->tcp != NULL) {
        if (tcp_forward_is_full(port->tcp))
            set_full(handler, false);
        tcp_forward_close(port->tcp);
        port->tcp = NULL;
    }
    for (size_t i = 0; i < handler->port_count; i++) {
        if (!handler->ports[i].done)
            return;
    }
    close_normally(handler);
}

static void port_error(struct ws_port *port, const char *what, int status)
{
    struct ws_handler *handler = port->handler;
    _cleanup_free_ char *text =
        xasprintf("error forwarding port %u to pod %s, uid : %s: %s", port->port,
                  handler->request->pod_sandbox_id, what, uv_strerror(status));

    log_info("streaming: %s", text);
    send_channel(handler, 2 * port->index + 1, text, strlen(text));
}

static void port_connected(void *data, int status)
{
    struct ws_port *port = data;

    if (status == 0)
        return;
    port_error(port, "failed to connect", status);
    port_done(port);
}

static void port_data(void *data, const char *bytes, size_t length)
{
    struct ws_port *port = data;
    struct ws_handler *handler = port->handler;

    send_channel(handler, 2 * port->index, bytes, length);
    if (!handler->forwards_paused && backlog(handler) > LINK_BACKLOG_HIGH) {
        handler->forwards_paused = true;
        for (size_t i = 0; i < handler->port_count; i++) {
            if (handler->ports[i].tcp != NULL)
                tcp_forward_pause(handler->ports[i].tcp, true);
        }
    }
}

static void port_ended(void *data, int status)
{
    struct ws_port *port = data;

    if (status < 0 && status != UV_ECONNRESET && status != UV_EPIPE)
        port_error(port, "read from port", status);
    port_done(port);
}

/* Pauses reading the client while any pod connection is full. */
static void set_full(struct ws_handler *handler, bool full)
{
    tcp_forward_count_full(&handler->full_forwards, full,
                           handler->link_gone ? NULL : &handler->link);
}

static void port_full(void *data, bool full)
{
    struct ws_port *port = data;

    set_full(port->handler, full);
}

static const struct tcp_forward_callbacks port_callbacks = {
    .connected = port_connected,
    .data = port_data,
    .ended = port_ended,
    .full = port_full,
};

static void start_port_forward(struct ws_handler *handler)
{
    const struct streaming_request *request = handler->request;

    handler->port_count = request->port_count;
    handler->ports =
        xcalloc(request->port_count ? request->port_count : 1, sizeof(*handler->ports));
    /* Each channel starts with its port number, 2 bytes little-endian. */
    for (size_t i = 0; i < request->port_count; i++) {
        struct ws_port *port = &handler->ports[i];
        uint8_t prefix[2] = {request->ports[i] & 0xff, (request->ports[i] >> 8) & 0xff};

        port->handler = handler;
        port->index = (unsigned)i;
        port->port = (uint16_t)request->ports[i];
        send_channel(handler, 2 * port->index, prefix, sizeof(prefix));
        send_channel(handler, 2 * port->index + 1, prefix, sizeof(prefix));
    }
    for (size_t i = 0; i < request->port_count; i++) {
        struct ws_port *port = &handler->ports[i];

        if (request->ports[i] < 1 || request->ports[i] > 65535) {
            port_error(port, "invalid port", UV_EINVAL);
            port_done(port);
            continue;
        }
        port->tcp = tcp_forward_open(handler->config.loop, port->port, &port_callbacks, port);
    }
    if (request->port_count == 0)
        close_normally(handler);
}

/* SPDY tunnel: the tunnelled handler writes through this link into binary messages. */

static void tunnel_write(void *data, const void *bytes, size_t length)
{
    send_channel(data, 0, bytes, length);
}

static void tunnel_close(void *data)
{
    close_normally(data);
}

static size_t tunnel_backlog(void *data)
{
    return backlog(data);
}

static void tunnel_pause(void *data, bool pause)
{
    struct ws_handler *handler = data;

    if (!handler->link_gone)
        handler->link.ops->pause_read(handler->link.data, pause);
}

static const struct streaming_link_ops tunnel_link_ops = {
    .write = tunnel_write,
    .close = tunnel_close,
    .backlog = tunnel_backlog,
    .pause_read = tunnel_pause,
};

static void start_tunnel(struct ws_handler *handler)
{
    struct spdy_handler_config config = {
        .loop = handler->config.loop,
        .backend = handler->config.backend,
        .backend_data = handler->config.backend_data,
        .stream_creation_timeout_ms = handler->config.stream_creation_timeout_ms,
    };

    handler->tunnel_ops = &spdy_handler_ops;
    handler->tunnel = spdy_handler_new(&config, (struct streaming_link){&tunnel_link_ops, handler},
                                       handler->request);
    handler->request = NULL; /* owned by the tunnelled handler */
}

/* WebSocket events. */

static void on_message(void *data, unsigned channel, const uint8_t *payload, size_t length)
{
    struct ws_handler *handler = data;

    if (handler->tunnel != NULL) {
        handler->tunnel_ops->read(handler->tunnel, (const char *)payload, length);
    } else if (handler->rc != NULL) {
        if (channel == CHANNEL_STDIN)
            rc_session_stdin(handler->rc, payload, length);
        else if (channel == CHANNEL_RESIZE)
            rc_session_resize(handler->rc, payload, length);
    } else if (channel % 2 == 0 && channel / 2 < handler->port_count) {
        struct ws_port *port = &handler->ports[channel / 2];

        if (!port->done && port->tcp != NULL)
            tcp_forward_write(port->tcp, payload, length);
    }
}

static void on_close_signal(void *data, unsigned channel)
{
    struct ws_handler *handler = data;

    if (handler->rc != NULL && channel == CHANNEL_STDIN)
        rc_session_stdin_close(handler->rc);
}

static void on_close(void *data, uint16_t code)
{
    struct ws_handler *handler = data;

    log_debug("streaming: WebSocket client closed with code %u", code);
    if (handler->tunnel != NULL)
        handler->tunnel_ops->eof(handler->tunnel);
    /* The session queued the close reply; send it and end the connection. */
    handler->closing = true;
    websocket_session_flush(handler->ws, &handler->out);
    if (handler->out.length > 0 && !handler->link_gone)
        link_write(&handler->link, handler->out.data, handler->out.length);
    strbuf_reset(&handler->out);
    if (!handler->link_gone)
        handler->link.ops->close(handler->link.data);
}

static const struct websocket_callbacks ws_callbacks = {
    .on_message = on_message,
    .on_close_signal = on_close_signal,
    .on_close = on_close,
};

static void handler_read(void *data, const char *bytes, size_t length)
{
    struct ws_handler *handler = data;
    struct error err = ERROR_INIT;

    if (websocket_session_close_received(handler->ws))
        return;
    if (websocket_session_feed(handler->ws, bytes, length, &err) < 0) {
        log_warn("streaming: closing WebSocket connection: %s", err.message);
        error_clear(&err);
        handler->closing = true;
        flush(handler);
        if (!handler->link_gone)
            handler->link.ops->close(handler->link.data);
        return;
    }
    /* Pongs and other replies that the session queued while reading. */
    flush(handler);
}

static void handler_eof(void *data)
{
    struct ws_handler *handler = data;

    if (handler->tunnel != NULL)
        handler->tunnel_ops->eof(handler->tunnel);
    handler->closing = true;
    if (!handler->link_gone)
        handler->link.ops->close(handler->link.data);
}

static void handler_drain(void *data)
{
    struct ws_handler *handler = data;

    if (handler->tunnel != NULL) {
        handler->tunnel_ops->drain(handler->tunnel);
    } else if (handler->rc != NULL) {
        rc_session_drain(handler->rc);
    } else if (handler->forwards_paused) {
        handler->forwards_paused = false;
        for (size_t i = 0; i < handler->port_count; i++) {
            if (handler->ports[i].tcp != NULL)
                tcp_forward_pause(handler->ports[i].tcp, false);
        }
    }
}

static void handler_closed(void *data)
{
    struct ws_handler *handler = data;

    handler->link_gone = true;
    handler->closing = true;
    if (handler->tunnel != NULL)
        handler->tunnel_ops->closed(handler->tunnel);
    if (handler->rc != NULL)
        rc_session_detach(handler->rc); /* the session frees the request */
    else
        streaming_request_free(handler->request);
    for (size_t i = 0; i < handler->port_count; i++) {
        if (handler->ports[i].tcp != NULL)
            tcp_forward_close(handler->ports[i].tcp);
    }
    free(handler->ports);
    websocket_session_free(handler->ws);
    strbuf_free(&handler->out);
    free(handler);
}

const struct streaming_handler_ops ws_handler_ops = {
    .read = handler_read,
    .eof = handler_eof,
    .drain = handler_drain,
    .closed = handler_closed,
};

struct ws_handler *ws_handler_new(const struct ws_handler_config *config,
                                  struct streaming_link link, struct streaming_request *request)
{
    struct ws_handler *handler = xcalloc(1, sizeof(*handler));

    handler->config = *config;
    handler->link = link;
    handler->request = request;
    if (websocket_protocol_info(config->protocol, &handler->info) < 0)
        abort(); /* the server negotiates only protocols listed in websocket_protocol_info */
    handler->ws =
        websocket_session_new(true, &handler->info, config->max_message, &ws_callbacks, handler);

    if (handler->info.framing == WEBSOCKET_FRAMING_RAW)
        start_tunnel(handler);
    else if (request->kind == STREAMING_PORT_FORWARD)
        start_port_forward(handler);
    else
        start_remote_command(handler);
    return handler;
}
