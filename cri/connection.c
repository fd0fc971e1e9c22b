/*
 * One client connection: an nghttp2 server session on a libuv stream. Reads feed
 * nghttp2_session_mem_recv; output is pulled with nghttp2_session_mem_send and written in
 * batches. nghttp2 must not be asked to send from inside its own callbacks, so output queued
 * while a read is being processed is flushed when the read is done.
 */
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "cri/server_internal.h"

/* Stop pulling output from nghttp2 while this much is waiting to be written. */
#define WRITE_QUEUE_HIGH_WATER (4u * 1024 * 1024)
/* Largest single write handed to libuv. */
#define WRITE_BATCH_MAX (256u * 1024)

struct connection_write {
    uv_write_t request;
    struct cri_connection *connection;
    size_t length;
    char *data;
};

static struct cri_connection *connection_of(nghttp2_session *session, void *user_data)
{
    (void)session;
    return user_data;
}

static int on_begin_headers_cb(nghttp2_session *session, const nghttp2_frame *frame,
                               void *user_data)
{
    struct cri_connection *connection = connection_of(session, user_data);
    struct rpc_call *call;

    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0;
    call = call_new(connection, frame->hd.stream_id);
    nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, call);
    return 0;
}

static int on_header_cb(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                        size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                        void *user_data)
{
    struct rpc_call *call;

    if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
        return 0; /* trailers from a client carry nothing hostcri uses */
    call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (call == NULL)
        return 0;
    if (call_on_header(call, name, namelen, value, valuelen) < 0)
        return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
    return 0;
}

static int on_frame_recv_cb(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct rpc_call *call;

    if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
        return 0;
    call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (call == NULL)
        return 0;
    if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST)
        call_on_headers_complete(call);
    if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)
        call_on_request_end(call);
    return 0;
}

static int on_data_chunk_recv_cb(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                                 const uint8_t *data, size_t length, void *user_data)
{
    struct rpc_call *call = nghttp2_session_get_stream_user_data(session, stream_id);

    if (call != NULL)
        call_on_data(call, data, length);
    return 0;
}

static int on_frame_send_cb(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct cri_connection *connection = connection_of(session, user_data);
    int32_t stream_id = frame->hd.stream_id;

    /* nghttp2 ends a connection that breaks the protocol with a GOAWAY of its own. */
    if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR &&
        !connection->protocol_error_logged)
        log_warn("connection %u: closing after an HTTP/2 protocol error: %s%s%.*s", connection->id,
                 nghttp2_http2_strerror(frame->goaway.error_code),
                 frame->goaway.opaque_data_len ? ": " : "", (int)frame->goaway.opaque_data_len,
                 (const char *)frame->goaway.opaque_data);

    /*
     * Once the response has ended (trailers sent), a client still sending its request is told
     * to stop with RST_STREAM(NO_ERROR). It must follow the trailers, never precede them, or
     * grpc clients report INTERNAL instead of the status.
     */
    if (frame->hd.type == NGHTTP2_HEADERS && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
        nghttp2_session_get_stream_remote_close(session, stream_id) == 0)
        nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_NO_ERROR);
    return 0;
}

static int on_stream_close_cb(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                              void *user_data)
{
    struct cri_connection *connection = connection_of(session, user_data);
    struct rpc_call *call = nghttp2_session_get_stream_user_data(session, stream_id);

    if (call != NULL) {
        nghttp2_session_set_stream_user_data(session, stream_id, NULL);
        call_on_stream_closed(call, error_code);
    }
    connection_maybe_finish(connection);
    return 0;
}

static int on_invalid_frame_recv_cb(nghttp2_session *session, const nghttp2_frame *frame,
                                    int lib_error_code, void *user_data)
{
    struct cri_connection *connection = connection_of(session, user_data);

    log_debug("connection %u: invalid frame of type %u on stream %d: %s", connection->id,
              frame->hd.type, frame->hd.stream_id, nghttp2_strerror(lib_error_code));
    return 0;
}

nghttp2_session_callbacks *connection_callbacks_new(void)
{
    nghttp2_session_callbacks *callbacks;

    if (nghttp2_session_callbacks_new(&callbacks) != 0)
        abort();
    nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks, on_begin_headers_cb);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk_recv_cb);
    nghttp2_session_callbacks_set_on_frame_send_callback(callbacks, on_frame_send_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close_cb);
    nghttp2_session_callbacks_set_on_invalid_frame_recv_callback(callbacks,
                                                                 on_invalid_frame_recv_cb);
    return callbacks;
}

static void alloc_cb(uv_handle_t *handle, size_t suggested_size, uv_buf_t *buf)
{
    struct cri_connection *connection = handle->data;
    struct cri_server *server = connection->server;

    (void)suggested_size;
    buf->base = server->read_buffer;
    buf->len = sizeof(server->read_buffer);
}

void connection_receive(struct cri_connection *connection, const uint8_t *data, size_t length)
{
    ssize_t consumed;

    connection->in_recv = true;
    consumed = nghttp2_session_mem_recv(connection->session, data, length);
    connection->in_recv = false;
    if (consumed < 0) {
        /* A protocol error ends this connection only; nghttp2 queues a GOAWAY if it can. */
        log_warn("connection %u: closing after an HTTP/2 protocol error: %s", connection->id,
                 nghttp2_strerror((int)consumed));
        connection->protocol_error_logged = true;
        uv_read_stop((uv_stream_t *)&connection->pipe);
        nghttp2_session_terminate_session(connection->session, NGHTTP2_PROTOCOL_ERROR);
    }
    connection_flush(connection);
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct cri_connection *connection = stream->data;

    if (nread == 0)
        return;
    if (nread < 0) {
        if (nread != UV_EOF)
            log_debug("connection %u: read failed: %s", connection->id, uv_strerror((int)nread));
        connection_close(connection);
        return;
    }
    connection_receive(connection, (const uint8_t *)buf->base, (size_t)nread);
}

static void write_cb(uv_write_t *request, int status)
{
    struct connection_write *write = container_of(request, struct connection_write, request);
    struct cri_connection *connection = write->connection;

    connection->write_queue_bytes -= write->length;
    free(write->data);
    free(write);
    if (connection->closing)
        return;
    if (status < 0) {
        log_debug("connection %u: write failed: %s", connection->id, uv_strerror(status));
        connection_close(connection);
        return;
    }
    connection_flush(connection);
}

/*
 * Takes up to WRITE_BATCH_MAX bytes of output from nghttp2 and starts writing them.
 * Returns 1 when a write started, 0 when there was nothing to send, -1 after closing.
 */
static int write_batch(struct cri_connection *connection)
{
    struct strbuf batch = STRBUF_INIT;
    struct connection_write *write;
    ssize_t length = 0;
    uv_buf_t buf;
    int rc;

    connection->in_send = true;
    while (batch.length < WRITE_BATCH_MAX) {
        const uint8_t *data;

        length = nghttp2_session_mem_send(connection->session, &data);
        if (length <= 0)
            break;
        strbuf_append(&batch, data, (size_t)length);
    }
    connection->in_send = false;
    if (length < 0) {
        log_warn("connection %u: HTTP/2 send failed: %s", connection->id,
                 nghttp2_strerror((int)length));
        strbuf_free(&batch);
        connection_close(connection);
        return -1;
    }
    if (batch.length == 0) {
        strbuf_free(&batch);
        return 0;
    }

    write = xmalloc(sizeof(*write));
    write->connection = connection;
    write->length = batch.length;
    write->data = strbuf_steal(&batch);
    buf = uv_buf_init(write->data, (unsigned)write->length);
    connection->write_queue_bytes += write->length;
    rc = uv_write(&write->request, (uv_stream_t *)&connection->pipe, &buf, 1, write_cb);
    if (rc < 0) {
        connection->write_queue_bytes -= write->length;
        free(write->data);
        free(write);
        log_debug("connection %u: write failed: %s", connection->id, uv_strerror(rc));
        connection_close(connection);
        return -1;
    }
    return 1;
}

void connection_flush(struct cri_connection *connection)
{
    if (connection->closing)
        return;
    if (connection->in_recv || connection->in_send) {
        /* nghttp2 is running: sending now would re-enter it. The running call flushes. */
        connection->flush_pending = true;
        return;
    }
    do {
        connection->flush_pending = false;
        while (!connection->closing && connection->write_queue_bytes < WRITE_QUEUE_HIGH_WATER) {
            if (write_batch(connection) <= 0)
                break;
        }
    } while (connection->flush_pending && !connection->closing);
    if (connection->closing)
        return;
    if (connection->write_queue_bytes == 0 && !nghttp2_session_want_read(connection->session) &&
        !nghttp2_session_want_write(connection->session))
        connection_close(connection);
}

static void close_cb(uv_handle_t *handle)
{
    struct cri_connection *connection = handle->data;
    struct cri_server *server = connection->server;

    free(connection);
    server_connection_closed(server);
}

void connection_close(struct cri_connection *connection)
{
    if (connection->closing)
        return;
    connection->closing = true;
    log_debug("connection %u: closed", connection->id);
    uv_read_stop((uv_stream_t *)&connection->pipe);

    while (!list_is_empty(&connection->calls)) {
        struct rpc_call *call =
            container_of(connection->calls.next, struct rpc_call, connection_node);

        call_on_stream_closed(call, NGHTTP2_CANCEL);
    }
    if (connection->session)
        nghttp2_session_del(connection->session);
    connection->session = NULL;
    list_remove(&connection->node);
    uv_close((uv_handle_t *)&connection->pipe, close_cb);
}

void connection_start_shutdown(struct cri_connection *connection)
{
    int32_t last_stream_id;

    if (connection->closing || connection->goaway_sent)
        return;
    connection->goaway_sent = true;
    last_stream_id = nghttp2_session_get_last_proc_stream_id(connection->session);
    nghttp2_submit_goaway(connection->session, NGHTTP2_FLAG_NONE, last_stream_id, NGHTTP2_NO_ERROR,
                          NULL, 0);
    connection_flush(connection);
    connection_maybe_finish(connection);
}

void connection_maybe_finish(struct cri_connection *connection)
{
    if (connection->closing || !connection->goaway_sent || !list_is_empty(&connection->calls))
        return;
    /* Every call is done: end the session once its last frames are written. */
    nghttp2_session_terminate_session(connection->session, NGHTTP2_NO_ERROR);
    connection_flush(connection);
}

int connection_setup(struct cri_server *server, struct cri_connection *connection)
{
    static unsigned next_id = 1;
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, server->options.max_concurrent_streams},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1024 * 1024},
        {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE, 64 * 1024},
    };
    int rc;

    connection->server = server;
    connection->id = next_id++;
    connection->pipe.data = connection;
    list_init(&connection->calls);
    rc = nghttp2_session_server_new2(&connection->session, server->callbacks, connection,
                                     server->session_options);
    if (rc != 0)
        return UV_ENOMEM;
    nghttp2_submit_settings(connection->session, NGHTTP2_FLAG_NONE, settings, ARRAY_SIZE(settings));
    /* A larger connection window lets a large request arrive without waiting for updates. */
    nghttp2_session_set_local_window_size(connection->session, NGHTTP2_FLAG_NONE, 0,
                                          16 * 1024 * 1024);
    rc = uv_read_start((uv_stream_t *)&connection->pipe, alloc_cb, read_cb);
    if (rc < 0)
        return rc;
    connection_flush(connection);
    return 0;
}
