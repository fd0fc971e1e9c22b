/*
 * Port-forward over SPDY (portforward.k8s.io). For each local connection the client opens an
 * error stream and a data stream with the same "requestid" and "port" headers; the server then
 * connects to that port on the loopback interface and copies bytes both ways. Text on the
 * error stream ends the client's whole port-forward session, so it is written only for real
 * failures (refused connection, timeout), never for a reset by one of the peers.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/log.h"
#include "common/util.h"
#include "cri/streaming/spdy_handler_internal.h"
#include "cri/streaming/tcp_forward.h"

struct pf_pair {
    struct pf_pair *next;
    struct spdy_handler *handler;
    char *key; /* requestid, or derived from the stream ids for clients that send none */
    uint16_t port;
    struct spdy_stream *error_stream;
    struct spdy_stream *data_stream;
    struct tcp_forward *tcp;
    uint64_t created_ms;
    bool done;
};

static bool parse_port(const char *text, uint16_t *port)
{
    char *end;
    long value;

    if (text == NULL || text[0] < '0' || text[0] > '9')
        return false;
    errno = 0;
    value = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || value < 1 || value > 65535)
        return false;
    *port = (uint16_t)value;
    return true;
}

bool spdy_portforward_check_stream(struct spdy_handler *handler, const struct spdy_frame *frame)
{
    const char *type = spdy_headers_get(&frame->headers, "streamtype");
    const char *port_text = spdy_headers_get(&frame->headers, "port");
    uint16_t port;

    if (!parse_port(port_text, &port) || type == NULL ||
        (strcasecmp(type, "error") != 0 && strcasecmp(type, "data") != 0)) {
        log_info("streaming: rejected port-forward stream %u: invalid port \"%s\" or type "
                 "\"%s\"",
                 frame->stream_id, port_text ? port_text : "", type ? type : "");
        spdy_write_rst_stream(&handler->out, frame->stream_id, SPDY_RST_CANCEL);
        spdy_handler_flush(handler);
        return false;
    }
    return true;
}

static void send_error(struct pf_pair *pair, const char *message)
{
    _cleanup_free_ char *text =
        xasprintf("error forwarding port %u to pod %s, uid : %s", pair->port,
                  pair->handler->request->pod_sandbox_id, message);

    log_info("streaming: %s", text);
    spdy_handler_send(pair->handler, pair->error_stream, text, strlen(text), false);
}

static void set_full(struct spdy_handler *handler, bool full);

/* Ends a pair: both streams get FIN, the TCP connection is closed. */
static void finish_pair(struct pf_pair *pair)
{
    struct spdy_handler *handler = pair->handler;

    if (pair->done)
        return;
    pair->done = true;
    spdy_handler_send(handler, pair->data_stream, NULL, 0, true);
    spdy_handler_send(handler, pair->error_stream, NULL, 0, true);
    if (pair->tcp != NULL) {
        if (tcp_forward_is_full(pair->tcp))
            set_full(handler, false);
        tcp_forward_close(pair->tcp);
        pair->tcp = NULL;
    }
    spdy_portforward_maybe_done(handler);
}

static void tcp_connected(void *data, int status)
{
    struct pf_pair *pair = data;

    if (status == 0)
        return;
    _cleanup_free_ char *message =
        xasprintf("failed to connect to localhost:%u: %s", pair->port, uv_strerror(status));
    send_error(pair, message);
    finish_pair(pair);
}

static void pause_forwards(struct spdy_handler *handler, bool pause)
{
    handler->forwards_paused = pause;
    for (struct pf_pair *pair = handler->pairs; pair; pair = pair->next) {
        if (pair->tcp != NULL)
            tcp_forward_pause(pair->tcp, pause);
    }
}

static void tcp_data(void *data, const char *bytes, size_t length)
{
    struct pf_pair *pair = data;
    struct spdy_handler *handler = pair->handler;

    spdy_handler_send(handler, pair->data_stream, bytes, length, false);
    if (!handler->forwards_paused && spdy_handler_backlog(handler) > LINK_BACKLOG_HIGH)
        pause_forwards(handler, true);
}

static void tcp_ended(void *data, int status)
{
    struct pf_pair *pair = data;

    /* A reset or broken pipe is the normal end of many connections: no error text. */
    if (status < 0 && status != UV_ECONNRESET && status != UV_EPIPE) {
        _cleanup_free_ char *message = xasprintf("read from port: %s", uv_strerror(status));
        send_error(pair, message);
    }
    finish_pair(pair);
}

/* Pauses reading the client while any pod connection is full, as spdystream blocks its reader. */
static void set_full(struct spdy_handler *handler, bool full)
{
    tcp_forward_count_full(&handler->full_forwards, full,
                           handler->link_gone ? NULL : &handler->link);
}

static void tcp_full(void *data, bool full)
{
    struct pf_pair *pair = data;

    set_full(pair->handler, full);
}

static const struct tcp_forward_callbacks pair_callbacks = {
    .connected = tcp_connected,
    .data = tcp_data,
    .ended = tcp_ended,
    .full = tcp_full,
};

static struct pf_pair *find_pair(struct spdy_handler *handler, const char *key)
{
    for (struct pf_pair *pair = handler->pairs; pair; pair = pair->next) {
        if (!pair->done && strcmp(pair->key, key) == 0)
            return pair;
    }
    return NULL;
}

void spdy_portforward_add_stream(struct spdy_handler *handler, struct spdy_stream *stream,
                                 const struct spdy_frame *frame)
{
    const char *type = spdy_headers_get(&frame->headers, "streamtype");
    const char *request_id = spdy_headers_get(&frame->headers, "requestid");
    bool is_data = strcasecmp(type, "data") == 0;
    _cleanup_free_ char *key = NULL;

    /* Clients older than requestid open the error stream first, then the data stream. */
    if (request_id != NULL)
        key = xstrdup(request_id);
    else
        key = xasprintf("stream-%u", is_data ? stream->id - 2 : stream->id);

    struct pf_pair *pair = find_pair(handler, key);
    if (pair == NULL) {
        pair = xcalloc(1, sizeof(*pair));
        pair->handler = handler;
        pair->key = steal_pointer(&key);
        parse_port(spdy_headers_get(&frame->headers, "port"), &pair->port);
        pair->created_ms = uv_now(handler->config.loop);
        pair->next = handler->pairs;
        handler->pairs = pair;
    }

    struct spdy_stream **slot = is_data ? &pair->data_stream : &pair->error_stream;
    if (*slot != NULL) {
        _cleanup_free_ char *message =
            xasprintf("duplicate %s stream for request %s", type, pair->key);
        send_error(pair, message);
        spdy_handler_reset(handler, stream, SPDY_RST_CANCEL);
        return;
    }
    *slot = stream;
    stream->pair = pair;
    stream->is_data = is_data;

    if (pair->error_stream != NULL && pair->data_stream != NULL) {
        pair->tcp = tcp_forward_open(handler->config.loop, pair->port, &pair_callbacks, pair);
        if (handler->forwards_paused)
            tcp_forward_pause(pair->tcp, true);
    }
}

void spdy_portforward_data(struct spdy_handler *handler, struct spdy_stream *stream,
                           const uint8_t *data, size_t length)
{
    struct pf_pair *pair = stream->pair;

    /* Bytes on the error stream mean nothing to the server. */
    if (!stream->is_data || pair->done)
        return;
    /* Over the limit the whole connection pauses (see set_full): SPDY has no flow control. */
    if (pair->tcp != NULL)
        tcp_forward_write(pair->tcp, data, length);
}

void spdy_portforward_remote_fin(struct spdy_handler *handler, struct spdy_stream *stream)
{
    struct pf_pair *pair = stream->pair;

    if (stream->is_data && !pair->done && pair->tcp != NULL)
        tcp_forward_shutdown(pair->tcp);
}

void spdy_portforward_reset(struct spdy_handler *handler, struct spdy_stream *stream)
{
    if (stream->is_data)
        finish_pair(stream->pair);
}

void spdy_portforward_check_timeouts(struct spdy_handler *handler)
{
    uint64_t now = uv_now(handler->config.loop);
    uint64_t limit = handler->config.stream_creation_timeout_ms;

    for (struct pf_pair *pair = handler->pairs; pair; pair = pair->next) {
        if (pair->done || pair->tcp != NULL || limit == 0 || now - pair->created_ms < limit)
            continue;
        send_error(pair, "timed out waiting for streams");
        spdy_handler_reset(handler, pair->data_stream, SPDY_RST_CANCEL);
        finish_pair(pair);
    }
}

void spdy_portforward_maybe_done(struct spdy_handler *handler)
{
    if (!handler->goaway_received || handler->closing)
        return;
    for (struct pf_pair *pair = handler->pairs; pair; pair = pair->next) {
        if (!pair->done)
            return;
    }
    spdy_handler_close(handler, SPDY_GOAWAY_OK);
}

void spdy_portforward_drain(struct spdy_handler *handler)
{
    if (handler->forwards_paused)
        pause_forwards(handler, false);
}

void spdy_portforward_close_all(struct spdy_handler *handler)
{
    while (handler->pairs != NULL) {
        struct pf_pair *pair = handler->pairs;

        handler->pairs = pair->next;
        if (pair->tcp != NULL)
            tcp_forward_close(pair->tcp);
        free(pair->key);
        free(pair);
    }
    for (struct spdy_stream *stream = handler->streams; stream; stream = stream->next)
        stream->pair = NULL;
}

void spdy_portforward_prune(struct spdy_handler *handler)
{
    struct spdy_stream **stream_link = &handler->streams;

    while (*stream_link != NULL) {
        struct spdy_stream *stream = *stream_link;

        if (stream->pair != NULL && stream->pair->done) {
            *stream_link = stream->next;
            free(stream);
        } else {
            stream_link = &stream->next;
        }
    }
    for (struct pf_pair **pair_link = &handler->pairs; *pair_link != NULL;) {
        struct pf_pair *pair = *pair_link;

        if (pair->done) {
            *pair_link = pair->next;
            free(pair->key);
            free(pair);
        } else {
            pair_link = &pair->next;
        }
    }
}
