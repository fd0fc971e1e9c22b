#ifndef HOSTCRI_CRI_STREAMING_CONN_H
#define HOSTCRI_CRI_STREAMING_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

/*
 * Byte links and the client connection of the streaming server.
 *
 * A link is where a protocol handler writes its bytes: the TCP (or TLS) connection itself, or
 * a WebSocket tunnel that wraps them in messages. A handler receives what the link reads
 * through its streaming_handler_ops. Both run on the loop thread.
 */

struct streaming_link_ops {
    /* Queues bytes for the peer; dropped once the link is closing. */
    void (*write)(void *link, const void *data, size_t length);
    /* Sends what is queued, then closes. The handler still gets its closed callback. */
    void (*close)(void *link);
    /* Bytes queued and not yet handed to the kernel. */
    size_t (*backlog)(void *link);
    /* Stops or resumes reading from the peer (backpressure toward a slow process). */
    void (*pause_read)(void *link, bool pause);
};

struct streaming_link {
    const struct streaming_link_ops *ops;
    void *data;
};

struct streaming_handler_ops {
    void (*read)(void *handler, const char *data, size_t length);
    /* The peer closed its side or the read failed. */
    void (*eof)(void *handler);
    /* The backlog went from above LINK_BACKLOG_HIGH to below LINK_BACKLOG_LOW. */
    void (*drain)(void *handler);
    /* The link is gone: called once, last; the handler must not use the link after it. */
    void (*closed)(void *handler);
};

/* Producers stop reading their sources above the high mark and resume below the low one. */
#define LINK_BACKLOG_HIGH (1024 * 1024)
#define LINK_BACKLOG_LOW (256 * 1024)

static inline void link_write(const struct streaming_link *link, const void *data, size_t length)
{
    link->ops->write(link->data, data, length);
}

struct conn;
struct tls_server;

/* Called when a connection is freed, so that its owner can forget it. */
typedef void (*conn_freed_cb)(void *owner, struct conn *conn);

/*
 * Accepts a pending connection from listener. With tls not NULL the connection speaks TLS (a
 * tls_session between the socket and the handler). tls must outlive the connection. Returns
 * NULL when accept fails.
 */
struct conn *conn_accept(uv_stream_t *listener, struct tls_server *tls, conn_freed_cb freed,
                         void *owner);

/* Sets the handler that receives what the connection reads, and starts reading. */
void conn_set_handler(struct conn *conn, const struct streaming_handler_ops *ops, void *handler);

/* The link of the connection, for a handler. */
struct streaming_link conn_link(struct conn *conn);

/*
 * Closes the connection after timeout_ms without traffic (reset_on_traffic) or after
 * timeout_ms in any case. 0 turns the timer off.
 */
void conn_set_timeout(struct conn *conn, uint64_t timeout_ms, bool reset_on_traffic);

void conn_write(struct conn *conn, const void *data, size_t length);

/* Flushes queued bytes, then closes; see streaming_link_ops.close. */
void conn_close(struct conn *conn);

/* Closes at once, dropping queued bytes. */
void conn_abort(struct conn *conn);

/* The peer's address as text, for logs. */
const char *conn_peer(const struct conn *conn);

#endif
