/*
 * Port-forward connections to the loopback interface.
 */
#include "cri/streaming/tcp_forward.h"

#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"
#include "common/util.h"

struct tcp_forward {
    uv_loop_t *loop;
    uv_tcp_t tcp;
    uv_connect_t connect;
    uint16_t port;
    bool tried_ipv6;
    bool connected;
    bool closed; /* by the owner: no more callbacks */
    bool ended;
    bool paused;
    bool shutdown_wanted;
    bool shutdown_started;
    int connect_error;     /* uv_tcp_connect failed at once; reported from the close callback */
    bool handle_closed;    /* after a failed uv_tcp_connect: nothing left to close */
    struct strbuf pending; /* written before the connection was up */
    size_t backlog;
    bool full;
    const struct tcp_forward_callbacks *callbacks;
    void *data;
};

struct forward_write {
    uv_write_t req;
    struct tcp_forward *forward;
    size_t length;
    char data[];
};

static void start_connect(struct tcp_forward *forward);

static void free_cb(uv_handle_t *handle)
{
    struct tcp_forward *forward = handle->data;

    strbuf_free(&forward->pending);
    free(forward);
}

/* Reopens the socket for the IPv6 attempt: a failed connect leaves it unusable. */
static void retry_closed_cb(uv_handle_t *handle)
{
    struct tcp_forward *forward = handle->data;

    if (forward->closed) {
        free_cb(handle);
        return;
    }
    if (forward->connect_error < 0) {
        forward->handle_closed = true;
        forward->ended = true;
        forward->callbacks->connected(forward->data, forward->connect_error);
        return;
    }
    start_connect(forward);
}

static void end(struct tcp_forward *forward, int status)
{
    if (forward->ended || forward->closed)
        return;
    forward->ended = true;
    forward->callbacks->ended(forward->data, status);
}

static void alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    buf->base = xmalloc(32768);
    buf->len = 32768;
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct tcp_forward *forward = stream->data;

    if (nread > 0 && !forward->closed)
        forward->callbacks->data(forward->data, buf->base, (size_t)nread);
    else if (nread < 0) {
        uv_read_stop(stream);
        end(forward, nread == UV_EOF ? 0 : (int)nread);
    }
    free(buf->base);
}

static void update_full(struct tcp_forward *forward)
{
    size_t queued = forward->backlog + forward->pending.length;
    bool full = forward->full ? queued > TCP_FORWARD_LOW : queued > TCP_FORWARD_HIGH;

    if (full == forward->full || forward->closed)
        return;
    forward->full = full;
    if (forward->callbacks->full)
        forward->callbacks->full(forward->data, full);
}

static void write_cb(uv_write_t *req, int status)
{
    struct forward_write *write = (struct forward_write *)req;
    struct tcp_forward *forward = write->forward;

    forward->backlog -= write->length;
    free(write);
    update_full(forward);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
    free(req);
}

static void maybe_shutdown(struct tcp_forward *forward)
{
    if (!forward->shutdown_wanted || forward->shutdown_started || !forward->connected ||
        forward->closed)
        return;
    forward->shutdown_started = true;

    uv_shutdown_t *req = xcalloc(1, sizeof(*req));
    if (uv_shutdown(req, (uv_stream_t *)&forward->tcp, shutdown_cb) < 0)
        free(req);
}

static void send_bytes(struct tcp_forward *forward, const void *data, size_t length)
{
    struct forward_write *write = xmalloc(sizeof(*write) + length);

    write->forward = forward;
    write->length = length;
    memcpy(write->data, data, length);
    uv_buf_t buf = uv_buf_init(write->data, (unsigned int)length);
    if (uv_write(&write->req, (uv_stream_t *)&forward->tcp, &buf, 1, write_cb) < 0) {
        free(write);
        return;
    }
    forward->backlog += length;
}

static void connect_cb(uv_connect_t *req, int status)
{
    struct tcp_forward *forward = req->data;

    if (forward->closed)
        return;
    if (status == UV_ECONNREFUSED && !forward->tried_ipv6) {
        forward->tried_ipv6 = true;
        uv_close((uv_handle_t *)&forward->tcp, retry_closed_cb);
        return;
    }
    if (status < 0) {
        forward->ended = true;
        forward->callbacks->connected(forward->data, status);
        return;
    }
    forward->connected = true;
    forward->callbacks->connected(forward->data, 0);
    if (forward->closed)
        return;
    if (forward->pending.length > 0)
        send_bytes(forward, forward->pending.data, forward->pending.length);
    strbuf_free(&forward->pending);
    maybe_shutdown(forward);
    if (!forward->paused)
        uv_read_start((uv_stream_t *)&forward->tcp, alloc_cb, read_cb);
}

static void start_connect(struct tcp_forward *forward)
{
    struct sockaddr_storage address;

    if (forward->tried_ipv6)
        uv_ip6_addr("::1", forward->port, (struct sockaddr_in6 *)&address);
    else
        uv_ip4_addr("127.0.0.1", forward->port, (struct sockaddr_in *)&address);
    uv_tcp_init(forward->loop, &forward->tcp);
    forward->tcp.data = forward;
    forward->connect.data = forward;
    int rc =
        uv_tcp_connect(&forward->connect, &forward->tcp, (struct sockaddr *)&address, connect_cb);
    if (rc < 0) {
        /* Report from the loop, as the callback contract promises. */
        forward->connect_error = rc;
        uv_close((uv_handle_t *)&forward->tcp, retry_closed_cb);
    }
}

struct tcp_forward *tcp_forward_open(uv_loop_t *loop, uint16_t port,
                                     const struct tcp_forward_callbacks *callbacks, void *data)
{
    struct tcp_forward *forward = xcalloc(1, sizeof(*forward));

    forward->loop = loop;
    forward->port = port;
    forward->callbacks = callbacks;
    forward->data = data;
    start_connect(forward);
    return forward;
}

void tcp_forward_write(struct tcp_forward *forward, const void *data, size_t length)
{
    if (forward->closed || length == 0 || forward->shutdown_wanted)
        return;
    if (!forward->connected)
        strbuf_append(&forward->pending, data, length);
    else
        send_bytes(forward, data, length);
    update_full(forward);
}

void tcp_forward_shutdown(struct tcp_forward *forward)
{
    forward->shutdown_wanted = true;
    maybe_shutdown(forward);
}

bool tcp_forward_is_full(const struct tcp_forward *forward)
{
    return forward->full;
}

size_t tcp_forward_backlog(const struct tcp_forward *forward)
{
    return forward->backlog + forward->pending.length;
}

void tcp_forward_pause(struct tcp_forward *forward, bool pause)
{
    if (forward->paused == pause || forward->closed)
        return;
    forward->paused = pause;
    if (!forward->connected || forward->ended)
        return;
    if (pause)
        uv_read_stop((uv_stream_t *)&forward->tcp);
    else
        uv_read_start((uv_stream_t *)&forward->tcp, alloc_cb, read_cb);
}

void tcp_forward_close(struct tcp_forward *forward)
{
    if (forward->closed)
        return;
    forward->closed = true;
    if (forward->handle_closed)
        free_cb((uv_handle_t *)&forward->tcp);
    else if (!uv_is_closing((uv_handle_t *)&forward->tcp))
        uv_close((uv_handle_t *)&forward->tcp, free_cb);
}

void tcp_forward_count_full(int *full_count, bool full, const struct streaming_link *link)
{
    int before = *full_count;

    *full_count += full ? 1 : -1;
    if (link == NULL)
        return;
    if (before == 0 && *full_count > 0)
        link->ops->pause_read(link->data, true);
    else if (before > 0 && *full_count == 0)
        link->ops->pause_read(link->data, false);
}
