/*
 * Client connections of the streaming server: a libuv TCP stream, optionally TLS through a
 * tls_session on memory buffers, with write accounting for backpressure and a graceful close that
 * keeps reading (and discarding) until the peer closes, so that the kernel does not answer late
 * client frames with a reset that could destroy output the client has not read yet.
 */
#include "cri/streaming/conn.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "cri/streaming/tls.h"

/* How long a closing connection waits for the peer to close its side. */
#define CLOSE_LINGER_MS 2000
#define READ_CHUNK 65536
/* Idle seconds before the first TCP keepalive probe. */
#define KEEPALIVE_DELAY_S 60

enum conn_state {
    CONN_OPEN,
    CONN_CLOSING, /* flushing, then shut down and linger */
    CONN_CLOSED,  /* uv_close called */
};

struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    enum conn_state state;
    int handles_open;
    conn_freed_cb freed;
    void *owner;
    char peer[64];

    const struct streaming_handler_ops *ops;
    void *handler;
    bool handler_closed;

    size_t backlog; /* bytes in uv_write requests not completed */
    bool read_paused;
    bool eof_seen;

    uint64_t timeout_ms;
    bool reset_on_traffic;

    struct tls_session *tls; /* NULL without TLS */
};

struct write_request {
    uv_write_t req;
    struct conn *conn;
    size_t length;
    char data[];
};

static void start_close(struct conn *conn);

static void handle_closed_cb(uv_handle_t *handle)
{
    struct conn *conn = handle->data;

    if (--conn->handles_open > 0)
        return;
    tls_session_free(conn->tls);
    if (conn->freed)
        conn->freed(conn->owner, conn);
    free(conn);
}

static void notify_closed(struct conn *conn)
{
    if (conn->handler_closed || conn->ops == NULL)
        return;
    conn->handler_closed = true;
    conn->ops->closed(conn->handler);
}

/* Closes the handles now; the handler learns it once. */
static void close_handles(struct conn *conn)
{
    if (conn->state == CONN_CLOSED)
        return;
    conn->state = CONN_CLOSED;
    uv_close((uv_handle_t *)&conn->tcp, handle_closed_cb);
    uv_close((uv_handle_t *)&conn->timer, handle_closed_cb);
    notify_closed(conn);
}

static void timer_cb(uv_timer_t *timer)
{
    struct conn *conn = timer->data;

    if (conn->state == CONN_OPEN)
        log_info("streaming: connection from %s timed out after %llu ms", conn->peer,
                 (unsigned long long)conn->timeout_ms);
    close_handles(conn);
}

static void touch(struct conn *conn)
{
    if (conn->state == CONN_OPEN && conn->reset_on_traffic && conn->timeout_ms > 0)
        uv_timer_start(&conn->timer, timer_cb, conn->timeout_ms, 0);
}

static void write_cb(uv_write_t *req, int status)
{
    struct write_request *write = (struct write_request *)req;
    struct conn *conn = write->conn;
    size_t before = conn->backlog;

    conn->backlog -= write->length;
    free(write);
    if (status < 0 && status != UV_ECANCELED && conn->state == CONN_OPEN) {
        log_debug("streaming: write to %s failed: %s", conn->peer, uv_strerror(status));
        close_handles(conn);
        return;
    }
    if (conn->state == CONN_OPEN && before > LINK_BACKLOG_LOW &&
        conn->backlog <= LINK_BACKLOG_LOW && conn->ops && conn->ops->drain)
        conn->ops->drain(conn->handler);
}

/* Hands bytes to the socket. */
static void write_socket(struct conn *conn, const void *data, size_t length)
{
    if (length == 0 || conn->state == CONN_CLOSED)
        return;

    struct write_request *write = xmalloc(sizeof(*write) + length);
    write->conn = conn;
    write->length = length;
    memcpy(write->data, data, length);
    uv_buf_t buf = uv_buf_init(write->data, (unsigned int)length);
    int rc = uv_write(&write->req, (uv_stream_t *)&conn->tcp, &buf, 1, write_cb);
    if (rc < 0) {
        free(write);
        log_debug("streaming: write to %s failed: %s", conn->peer, uv_strerror(rc));
        close_handles(conn);
        return;
    }
    conn->backlog += length;
    touch(conn);
}

void conn_write(struct conn *conn, const void *data, size_t length)
{
    if (conn->state != CONN_OPEN || length == 0)
        return;
    if (conn->tls == NULL) {
        write_socket(conn, data, length);
        return;
    }

    _cleanup_strbuf_ struct strbuf records = STRBUF_INIT;
    _cleanup_error_ struct error err = ERROR_INIT;
    if (tls_session_write(conn->tls, data, length, &records, &err) < 0) {
        log_warn("streaming: TLS write to %s failed", conn->peer);
        log_debug("streaming: TLS write to %s: %s", conn->peer, err.message);
        close_handles(conn);
        return;
    }
    write_socket(conn, records.data, records.length);
}

static void alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    buf->base = xmalloc(READ_CHUNK);
    buf->len = READ_CHUNK;
}

static void deliver(struct conn *conn, const char *data, size_t length)
{
    if (conn->state == CONN_OPEN && conn->ops)
        conn->ops->read(conn->handler, data, length);
}

static void deliver_eof(struct conn *conn)
{
    if (conn->eof_seen)
        return;
    conn->eof_seen = true;
    if (conn->state == CONN_OPEN && conn->ops)
        conn->ops->eof(conn->handler);
}

/* Feeds ciphertext to the TLS session, sends the records it returns and delivers the plaintext. */
static void read_tls(struct conn *conn, const char *data, size_t length)
{
    _cleanup_strbuf_ struct strbuf plain = STRBUF_INIT;
    _cleanup_strbuf_ struct strbuf records = STRBUF_INIT;
    _cleanup_error_ struct error err = ERROR_INIT;
    int rc = tls_session_read(conn->tls, data, length, &plain, &records, &err);

    write_socket(conn, records.data, records.length);
    if (plain.length > 0) {
        deliver(conn, plain.data, plain.length);
        if (conn->state != CONN_OPEN)
            return; /* the handler closed the connection */
    }
    if (rc == 1) {
        deliver_eof(conn);
    } else if (rc < 0 && conn->state != CONN_CLOSED) {
        /* A failure after the handshake (a bad record) closes without a log line. */
        if (!tls_session_handshake_done(conn->tls))
            log_info("streaming: TLS handshake with %s failed: %s", conn->peer, err.message);
        close_handles(conn);
    }
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct conn *conn = stream->data;

    if (nread > 0 && conn->state == CONN_OPEN) {
        touch(conn);
        if (conn->tls)
            read_tls(conn, buf->base, (size_t)nread);
        else
            deliver(conn, buf->base, (size_t)nread);
    } else if (nread < 0) {
        uv_read_stop(stream);
        if (conn->state == CONN_CLOSING)
            close_handles(conn);
        else if (conn->state == CONN_OPEN)
            deliver_eof(conn);
    }
    free(buf->base);
}

static void start_reading(struct conn *conn)
{
    if (conn->state != CONN_CLOSED && !conn->read_paused && !conn->eof_seen)
        uv_read_start((uv_stream_t *)&conn->tcp, alloc_cb, read_cb);
}

struct conn *conn_accept(uv_stream_t *listener, struct tls_server *tls, conn_freed_cb freed,
                         void *owner)
{
    struct conn *conn = xcalloc(1, sizeof(*conn));
    struct sockaddr_storage address;
    int length = sizeof(address);

    uv_tcp_init(listener->loop, &conn->tcp);
    uv_timer_init(listener->loop, &conn->timer);
    conn->tcp.data = conn->timer.data = conn;
    conn->handles_open = 2;
    if (uv_accept(listener, (uv_stream_t *)&conn->tcp) < 0) {
        conn->state = CONN_CLOSED;
        uv_close((uv_handle_t *)&conn->tcp, handle_closed_cb);
        uv_close((uv_handle_t *)&conn->timer, handle_closed_cb);
        return NULL;
    }
    conn->freed = freed;
    conn->owner = owner;
    uv_tcp_nodelay(&conn->tcp, 1);
    /* A client that vanished without closing (a lost network) is noticed when the keepalive
     * probes fail, about 12 minutes with Linux's default 9 probes 75 s apart, not after the
     * idle timeout's hours. */
    uv_tcp_keepalive(&conn->tcp, 1, KEEPALIVE_DELAY_S);
    strcpy(conn->peer, "unknown");
    if (uv_tcp_getpeername(&conn->tcp, (struct sockaddr *)&address, &length) == 0) {
        if (address.ss_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)&address, conn->peer, sizeof(conn->peer));
        else
            uv_ip4_name((struct sockaddr_in *)&address, conn->peer, sizeof(conn->peer));
    }

    if (tls != NULL)
        conn->tls = tls_session_new(tls);
    return conn;
}

void conn_set_handler(struct conn *conn, const struct streaming_handler_ops *ops, void *handler)
{
    conn->ops = ops;
    conn->handler = handler;
    start_reading(conn);
}

void conn_set_timeout(struct conn *conn, uint64_t timeout_ms, bool reset_on_traffic)
{
    conn->timeout_ms = timeout_ms;
    conn->reset_on_traffic = reset_on_traffic;
    if (conn->state != CONN_OPEN)
        return;
    if (timeout_ms == 0)
        uv_timer_stop(&conn->timer);
    else
        uv_timer_start(&conn->timer, timer_cb, timeout_ms, 0);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
    struct conn *conn = req->data;

    free(req);
    if (status < 0 || conn->eof_seen) {
        close_handles(conn);
        return;
    }
    /* Wait a little for the peer's FIN; reading goes on and discards. */
    if (conn->state == CONN_CLOSING)
        uv_timer_start(&conn->timer, timer_cb, CLOSE_LINGER_MS, 0);
}

static void start_close(struct conn *conn)
{
    uv_shutdown_t *req = xcalloc(1, sizeof(*req));

    conn->state = CONN_CLOSING;
    uv_timer_stop(&conn->timer);
    if (conn->tls) {
        _cleanup_strbuf_ struct strbuf records = STRBUF_INIT;

        tls_session_shutdown(conn->tls, &records);
        write_socket(conn, records.data, records.length);
    }
    req->data = conn;
    if (uv_shutdown(req, (uv_stream_t *)&conn->tcp, shutdown_cb) < 0) {
        free(req);
        close_handles(conn);
        return;
    }
    /* Keep reading so that the peer's close is seen and late frames are discarded. */
    conn->read_paused = false;
    if (!conn->eof_seen)
        uv_read_start((uv_stream_t *)&conn->tcp, alloc_cb, read_cb);
}

void conn_close(struct conn *conn)
{
    if (conn->state != CONN_OPEN)
        return;
    start_close(conn);
}

void conn_abort(struct conn *conn)
{
    close_handles(conn);
}

const char *conn_peer(const struct conn *conn)
{
    return conn->peer;
}

static void link_write_cb(void *data, const void *bytes, size_t length)
{
    conn_write(data, bytes, length);
}

static void link_close_cb(void *data)
{
    conn_close(data);
}

static size_t link_backlog_cb(void *data)
{
    struct conn *conn = data;

    return conn->backlog;
}

static void link_pause_cb(void *data, bool pause)
{
    struct conn *conn = data;

    if (conn->state != CONN_OPEN || conn->read_paused == pause)
        return;
    conn->read_paused = pause;
    if (pause)
        uv_read_stop((uv_stream_t *)&conn->tcp);
    else
        start_reading(conn);
}

static const struct streaming_link_ops conn_link_ops = {
    .write = link_write_cb,
    .close = link_close_cb,
    .backlog = link_backlog_cb,
    .pause_read = link_pause_cb,
};

struct streaming_link conn_link(struct conn *conn)
{
    return (struct streaming_link){&conn_link_ops, conn};
}
