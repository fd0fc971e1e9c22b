/*
 * SPDY/3.1 connections for exec, attach and port-forward. The client opens every stream; the
 * server replies to each SYN_STREAM at once (client-go waits for each reply before opening the
 * next stream), echoes PINGs, ignores SETTINGS, WINDOW_UPDATE and HEADERS (there is no flow
 * control), and ends with RST_STREAM for unfinished streams, GOAWAY, and a close.
 */
#include "cri/streaming/spdy_handler.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "cri/streaming/remotecommand.h"
#include "cri/streaming/request.h"
#include "cri/streaming/spdy.h"
#include "cri/streaming/spdy_handler_internal.h"

#define SPDY_MAX_COMMAND_STREAMS 16
#define SPDY_MAX_FORWARD_STREAMS 512

static struct spdy_stream *find_stream(struct spdy_handler *handler, uint32_t id)
{
    for (struct spdy_stream *stream = handler->streams; stream; stream = stream->next) {
        if (stream->id == id)
            return stream;
    }
    return NULL;
}

void spdy_handler_flush(struct spdy_handler *handler)
{
    if (handler->out.length == 0)
        return;
    if (!handler->link_gone)
        link_write(&handler->link, handler->out.data, handler->out.length);
    strbuf_reset(&handler->out);
}

void spdy_handler_send(struct spdy_handler *handler, struct spdy_stream *stream, const void *data,
                       size_t length, bool fin)
{
    if (stream == NULL || stream->local_closed || stream->reset || handler->closing)
        return;
    if (length > 0 || fin)
        spdy_write_data(&handler->out, stream->id, fin ? SPDY_FLAG_FIN : 0, data, length);
    if (fin)
        stream->local_closed = true;
    spdy_handler_flush(handler);
}

void spdy_handler_reset(struct spdy_handler *handler, struct spdy_stream *stream, uint32_t status)
{
    if (stream == NULL || stream->reset || handler->closing)
        return;
    stream->reset = true;
    spdy_write_rst_stream(&handler->out, stream->id, status);
    spdy_handler_flush(handler);
}

/* Ends the connection: GOAWAY, then close once the link has sent everything. */
void spdy_handler_close(struct spdy_handler *handler, uint32_t goaway_status)
{
    if (handler->closing || handler->link_gone)
        return;
    spdy_write_goaway(&handler->out, handler->last_stream_id, goaway_status);
    spdy_handler_flush(handler);
    handler->closing = true;
    uv_timer_stop(&handler->timer);
    handler->link.ops->close(handler->link.data);
}

size_t spdy_handler_backlog(struct spdy_handler *handler)
{
    return handler->link_gone ? 0 : handler->link.ops->backlog(handler->link.data);
}

static enum rc_stream rc_stream_of(const char *type, bool *known)
{
    static const struct {
        const char *name;
        enum rc_stream stream;
    } types[] = {
        {"error", RC_STREAM_ERROR},   {"stdin", RC_STREAM_STDIN},   {"stdout", RC_STREAM_STDOUT},
        {"stderr", RC_STREAM_STDERR}, {"resize", RC_STREAM_RESIZE},
    };

    for (size_t i = 0; type && i < ARRAY_SIZE(types); i++) {
        if (strcasecmp(type, types[i].name) == 0) {
            *known = true;
            return types[i].stream;
        }
    }
    *known = false;
    return RC_STREAM_ERROR;
}

/* The streams the client opens for this request and protocol version. */
static int expected_stream_count(const struct spdy_handler *handler)
{
    const struct streaming_request *request = handler->request;
    int count = 1; /* error */

    count += (request->streams & STREAMING_STDIN) != 0;
    count += (request->streams & STREAMING_STDOUT) != 0;
    count += (request->streams & STREAMING_STDERR) != 0 && !request->tty;
    count += request->tty && handler->config.version >= 3;
    return count;
}

static void rc_send(void *transport, enum rc_stream stream, const void *data, size_t length)
{
    struct spdy_handler *handler = transport;

    spdy_handler_send(handler, handler->rc_streams[stream], data, length, false);
}

static void rc_close_stream(void *transport, enum rc_stream stream)
{
    struct spdy_handler *handler = transport;

    spdy_handler_send(handler, handler->rc_streams[stream], NULL, 0, true);
}

/*
 * After the status: reset the streams that neither side has closed (error, resize, and stdin
 * unless the client ended it), as the reference server does, then GOAWAY.
 */
static void rc_finish(void *transport)
{
    struct spdy_handler *handler = transport;

    for (struct spdy_stream *stream = handler->streams; stream; stream = stream->next) {
        if (!stream->local_closed && !stream->remote_closed)
            spdy_handler_reset(handler, stream, SPDY_RST_CANCEL);
    }
    spdy_handler_close(handler, SPDY_GOAWAY_OK);
}

static size_t rc_backlog(void *transport)
{
    return spdy_handler_backlog(transport);
}

static void rc_pause_input(void *transport, bool pause)
{
    struct spdy_handler *handler = transport;

    if (!handler->link_gone)
        handler->link.ops->pause_read(handler->link.data, pause);
}

static const struct rc_transport_ops spdy_rc_ops = {
    .send = rc_send,
    .close_stream = rc_close_stream,
    .finish = rc_finish,
    .backlog = rc_backlog,
    .pause_input = rc_pause_input,
};

static void creation_timeout_cb(uv_timer_t *timer)
{
    struct spdy_handler *handler = timer->data;

    if (handler->request->kind == STREAMING_PORT_FORWARD) {
        spdy_portforward_check_timeouts(handler);
        spdy_portforward_prune(handler);
        return;
    }
    log_warn_id("container", handler->request->container_id,
                "streaming: timed out waiting for client to create streams");
    spdy_handler_close(handler, SPDY_GOAWAY_OK);
}

/* Registers a remote command stream and starts the session when all are there. */
static void accept_rc_stream(struct spdy_handler *handler, struct spdy_stream *stream,
                             const char *type)
{
    bool known;
    enum rc_stream kind = rc_stream_of(type, &known);

    if (!known || handler->rc_streams[kind] != NULL) {
        log_debug("streaming: ignoring SPDY stream %u of type \"%s\"", stream->id,
                  type ? type : "");
        return;
    }
    handler->rc_streams[kind] = stream;
    stream->rc_stream = kind;
    stream->is_rc = true;
    if (++handler->rc_stream_count == expected_stream_count(handler)) {
        uv_timer_stop(&handler->timer);
        rc_session_start(handler->rc);
    }
}

static size_t count_streams(const struct spdy_handler *handler)
{
    size_t count = 0;

    for (const struct spdy_stream *stream = handler->streams; stream; stream = stream->next)
        count++;
    return count;
}

/* A remote command uses at most 5 streams; a port-forward 2 per open local connection. */
static size_t max_streams(const struct spdy_handler *handler)
{
    return handler->request->kind == STREAMING_PORT_FORWARD ? SPDY_MAX_FORWARD_STREAMS
                                                            : SPDY_MAX_COMMAND_STREAMS;
}

static void on_syn_stream(struct spdy_handler *handler, const struct spdy_frame *frame)
{
    const char *type = spdy_headers_get(&frame->headers, "streamtype");

    if (frame->stream_id == 0 || frame->stream_id % 2 == 0 ||
        frame->stream_id <= handler->last_stream_id) {
        spdy_write_rst_stream(&handler->out, frame->stream_id, SPDY_RST_PROTOCOL_ERROR);
        spdy_handler_flush(handler);
        return;
    }
    handler->last_stream_id = frame->stream_id;
    if (count_streams(handler) >= max_streams(handler)) {
        log_warn("streaming: rejected SPDY stream %u: %zu streams are already open",
                 frame->stream_id, max_streams(handler));
        spdy_write_rst_stream(&handler->out, frame->stream_id, SPDY_RST_REFUSED_STREAM);
        spdy_handler_flush(handler);
        return;
    }
    if (handler->request->kind == STREAMING_PORT_FORWARD &&
        !spdy_portforward_check_stream(handler, frame))
        return;

    struct spdy_stream *stream = xcalloc(1, sizeof(*stream));
    stream->id = frame->stream_id;
    stream->next = handler->streams;
    handler->streams = stream;
    spdy_write_syn_reply(&handler->writer, &handler->out, stream->id, 0, NULL, 0);
    spdy_handler_flush(handler);

    if (handler->request->kind == STREAMING_PORT_FORWARD)
        spdy_portforward_add_stream(handler, stream, frame);
    else
        accept_rc_stream(handler, stream, type);
    if (frame->flags & SPDY_FLAG_FIN)
        spdy_handler_remote_fin(handler, stream);
}

void spdy_handler_remote_fin(struct spdy_handler *handler, struct spdy_stream *stream)
{
    if (stream->remote_closed)
        return;
    stream->remote_closed = true;
    if (stream->pair != NULL)
        spdy_portforward_remote_fin(handler, stream);
    else if (stream->is_rc && stream->rc_stream == RC_STREAM_STDIN)
        rc_session_stdin_close(handler->rc);
}

static void on_data(struct spdy_handler *handler, const struct spdy_frame *frame)
{
    struct spdy_stream *stream = find_stream(handler, frame->stream_id);

    if (stream == NULL || stream->remote_closed || stream->reset)
        return;
    if (frame->data_length > 0) {
        if (stream->pair != NULL)
            spdy_portforward_data(handler, stream, frame->data, frame->data_length);
        else if (stream->is_rc && stream->rc_stream == RC_STREAM_STDIN)
            rc_session_stdin(handler->rc, frame->data, frame->data_length);
        else if (stream->is_rc && stream->rc_stream == RC_STREAM_RESIZE)
            rc_session_resize(handler->rc, frame->data, frame->data_length);
    }
    if (frame->flags & SPDY_FLAG_FIN)
        spdy_handler_remote_fin(handler, stream);
}

static void on_rst_stream(struct spdy_handler *handler, const struct spdy_frame *frame)
{
    struct spdy_stream *stream = find_stream(handler, frame->stream_id);

    if (stream == NULL || stream->reset)
        return;
    stream->reset = true;
    stream->remote_closed = true;
    if (stream->pair != NULL)
        spdy_portforward_reset(handler, stream);
    else if (stream->is_rc && stream->rc_stream == RC_STREAM_STDIN)
        rc_session_stdin_close(handler->rc);
}

static void on_frame(struct spdy_handler *handler, const struct spdy_frame *frame)
{
    switch (frame->type) {
    case SPDY_SYN_STREAM:
        if (!handler->goaway_received)
            on_syn_stream(handler, frame);
        break;
    case SPDY_DATA:
        on_data(handler, frame);
        break;
    case SPDY_RST_STREAM:
        on_rst_stream(handler, frame);
        break;
    case SPDY_PING:
        /* Client pings have odd ids; the server sends none, so even ids are stray replies. */
        if (frame->ping_id % 2 == 1) {
            spdy_write_ping(&handler->out, frame->ping_id);
            spdy_handler_flush(handler);
        }
        break;
    case SPDY_GOAWAY:
        handler->goaway_received = true;
        if (handler->request->kind == STREAMING_PORT_FORWARD)
            spdy_portforward_maybe_done(handler);
        break;
    case SPDY_SYN_REPLY:
    case SPDY_SETTINGS:
    case SPDY_HEADERS:
    case SPDY_WINDOW_UPDATE:
        break;
    }
}

static void handler_read(void *data, const char *bytes, size_t length)
{
    struct spdy_handler *handler = data;
    struct spdy_frame frame = {0};
    struct error err = ERROR_INIT;
    int rc = 0;

    if (handler->closing)
        return;
    spdy_parser_feed(&handler->parser, bytes, length);
    while (!handler->closing && (rc = spdy_parser_next(&handler->parser, &frame, &err)) == 1)
        on_frame(handler, &frame);
    spdy_frame_clear(&frame);
    if (handler->request->kind == STREAMING_PORT_FORWARD)
        spdy_portforward_prune(handler);
    if (rc < 0 && !handler->closing) {
        log_warn("streaming: closing SPDY connection: %s", err.message);
        error_clear(&err);
        spdy_handler_close(handler, SPDY_GOAWAY_PROTOCOL_ERROR);
    }
}

/* The client closed the connection: a running exec is killed, forwards are closed. */
static void handler_eof(void *data)
{
    struct spdy_handler *handler = data;

    if (handler->rc != NULL && !rc_session_finished(handler->rc))
        log_info_id("container", handler->request->container_id,
                    "streaming: client closed the connection before the end");
    if (!handler->closing) {
        handler->closing = true;
        uv_timer_stop(&handler->timer);
        handler->link.ops->close(handler->link.data);
    }
}

static void handler_drain(void *data)
{
    struct spdy_handler *handler = data;

    if (handler->rc != NULL)
        rc_session_drain(handler->rc);
    else
        spdy_portforward_drain(handler);
}

static void timer_closed_cb(uv_handle_t *timer)
{
    struct spdy_handler *handler = timer->data;

    spdy_parser_free(&handler->parser);
    spdy_writer_free(&handler->writer);
    strbuf_free(&handler->out);
    while (handler->streams != NULL) {
        struct spdy_stream *stream = handler->streams;

        handler->streams = stream->next;
        free(stream);
    }
    /* A remote command session owns the request from its creation. */
    if (handler->rc == NULL)
        streaming_request_free(handler->request);
    free(handler);
}

static void handler_closed(void *data)
{
    struct spdy_handler *handler = data;

    handler->link_gone = true;
    handler->closing = true;
    if (handler->rc != NULL)
        rc_session_detach(handler->rc);
    else
        spdy_portforward_close_all(handler);
    uv_close((uv_handle_t *)&handler->timer, timer_closed_cb);
}

const struct streaming_handler_ops spdy_handler_ops = {
    .read = handler_read,
    .eof = handler_eof,
    .drain = handler_drain,
    .closed = handler_closed,
};

struct spdy_handler *spdy_handler_new(const struct spdy_handler_config *config,
                                      struct streaming_link link, struct streaming_request *request)
{
    struct spdy_handler *handler = xcalloc(1, sizeof(*handler));

    handler->config = *config;
    handler->link = link;
    handler->request = request;
    spdy_parser_init(&handler->parser, NULL);
    spdy_writer_init(&handler->writer);
    uv_timer_init(config->loop, &handler->timer);
    handler->timer.data = handler;

    if (request->kind == STREAMING_PORT_FORWARD) {
        uv_timer_start(&handler->timer, creation_timeout_cb, 1000, 1000);
        return handler;
    }

    struct rc_options options = {
        .version = config->version,
        .close_stdin_at_start = config->version == 1,
    };
    handler->rc = rc_session_new(config->loop, config->backend, config->backend_data, request,
                                 &options, &spdy_rc_ops, handler);
    if (config->stream_creation_timeout_ms > 0)
        uv_timer_start(&handler->timer, creation_timeout_cb, config->stream_creation_timeout_ms, 0);
    return handler;
}
