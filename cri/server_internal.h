#ifndef HOSTCRI_CRI_SERVER_INTERNAL_H
#define HOSTCRI_CRI_SERVER_INTERNAL_H

/* Structures shared by server.c, connection.c and call.c; nothing outside cri/ includes this. */

#include <stdbool.h>
#include <stdint.h>

#include <nghttp2/nghttp2.h>
#include <uv.h>

#include "common/strbuf.h"
#include "cri/grpc_wire.h"
#include "cri/server.h"

/* Circular doubly linked list node, embedded in its owner. */
struct list_node {
    struct list_node *prev;
    struct list_node *next;
};

static inline void list_init(struct list_node *head)
{
    head->prev = head;
    head->next = head;
}

static inline void list_insert_tail(struct list_node *head, struct list_node *node)
{
    node->prev = head->prev;
    node->next = head;
    head->prev->next = node;
    head->prev = node;
}

static inline void list_remove(struct list_node *node)
{
    node->prev->next = node->next;
    node->next->prev = node->prev;
    node->prev = node;
    node->next = node;
}

static inline bool list_is_empty(const struct list_node *head)
{
    return head->next == head;
}

#define container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

struct cri_server {
    uv_loop_t *loop;
    uv_pipe_t listener;
    bool listening;
    char *socket_path; /* unix socket file to remove at stop; NULL for a named pipe */
    struct cri_server_options options;
    const struct rpc_method *methods; /* sorted by path */
    size_t method_count;
    struct cri_services *services;
    struct list_node connections;
    size_t connection_count;
    size_t call_count;
    nghttp2_session_callbacks *callbacks;
    nghttp2_option *session_options;
    /* One read buffer for every connection: nghttp2 consumes each read before the next. */
    char read_buffer[64 * 1024];
    bool read_buffer_in_use;

    bool stopping;
    uv_timer_t grace_timer;
    bool grace_timer_open;
    cri_server_stopped_cb stopped_cb;
    void *stopped_data;
};

struct cri_connection {
    uv_pipe_t pipe; /* first member: the handle's data points back here too */
    struct cri_server *server;
    struct list_node node; /* in server->connections */
    nghttp2_session *session;
    struct list_node calls; /* rpc_call.connection_node */
    unsigned id;            /* for logs */
    bool closing;
    bool in_recv;       /* inside nghttp2_session_mem_recv: no sending now */
    bool in_send;       /* inside nghttp2_session_mem_send */
    bool flush_pending; /* output was queued while sending was not allowed */
    bool goaway_sent;
    bool protocol_error_logged; /* the reason for a protocol-error GOAWAY is in the log */
    size_t write_queue_bytes;
};

enum call_state {
    CALL_RECEIVING,  /* headers arrived, the request body is still coming */
    CALL_DISPATCHED, /* the handler owns the call */
    CALL_COMPLETED,  /* the handler completed it (or never got it) */
};

struct rpc_call {
    struct cri_server *server;
    struct cri_connection *connection; /* NULL once the stream or connection is gone */
    struct list_node connection_node;
    int32_t stream_id;
    unsigned refs;
    enum call_state state;
    const struct rpc_method *method;
    char *path; /* :path as received, for unknown methods */

    /* request */
    struct grpc_reader reader;
    void *request;         /* ProtobufCMessage, unpacked at dispatch */
    bool request_rejected; /* an error was already sent while receiving */
    bool has_method_header;
    bool is_post;
    bool content_type_ok;
    bool remote_closed;
    bool bad_timeout;
    uint64_t started_ns; /* CLOCK_MONOTONIC, for the log */

    /* deadline */
    uint64_t deadline_ns; /* CLOCK_MONOTONIC; 0 = none */
    uv_timer_t deadline_timer;
    bool timer_open;

    /* response */
    bool headers_submitted; /* response HEADERS queued */
    bool trailers_queued;   /* the status is decided: nothing more is sent */
    bool end_of_data;       /* data provider reached the end; trailers go next */
    struct strbuf response; /* framed messages not yet taken by nghttp2 */
    size_t response_offset;
    int status;
    char *status_message;

    /* cancellation */
    bool cancelled;
    rpc_cancel_cb cancel_cb;
    void *cancel_data;
};

/* call.c */
struct rpc_call *call_new(struct cri_connection *connection, int32_t stream_id);
void call_unref(struct rpc_call *call);
int call_on_header(struct rpc_call *call, const uint8_t *name, size_t namelen, const uint8_t *value,
                   size_t valuelen);
void call_on_headers_complete(struct rpc_call *call);
void call_on_data(struct rpc_call *call, const uint8_t *data, size_t length);
void call_on_request_end(struct rpc_call *call);
void call_on_stream_closed(struct rpc_call *call, uint32_t error_code);
void call_cancel_for_shutdown(struct rpc_call *call);
void call_fail_with_status(struct rpc_call *call, enum error_code code, const char *message);

/* connection.c */
int connection_setup(struct cri_server *server, struct cri_connection *connection);
nghttp2_session_callbacks *connection_callbacks_new(void);
void connection_flush(struct cri_connection *connection);
/* Feeds bytes read from the client to the session (read_cb, and the fuzz target). */
void connection_receive(struct cri_connection *connection, const uint8_t *data, size_t length);
/* Accepts an already connected stream handle as a new connection (server.c). */
int server_adopt_connection(struct cri_server *server, struct cri_connection *connection);
void connection_close(struct cri_connection *connection);
void connection_start_shutdown(struct cri_connection *connection);
void connection_maybe_finish(struct cri_connection *connection);

/* server.c */
const struct rpc_method *server_find_method(const struct cri_server *server, const char *path);
void server_connection_closed(struct cri_server *server);

#endif
