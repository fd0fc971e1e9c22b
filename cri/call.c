/*
 * The life of one RPC on one HTTP/2 stream: header checks, request body, dispatch to the
 * handler, deadline, response messages, status trailers and cancellation.
 *
 * A call is reference-counted. The stream holds one reference until nghttp2 closes it (or
 * the connection goes away), the handler holds one from dispatch until it completes the call,
 * and the deadline timer holds one while its handle is open. The last unref frees the call.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"
#include "cri/server_internal.h"

/* A header of the response; name is a string literal, value is not NUL-terminated. */
#define NV(n, v, vlen)                                                                             \
    (nghttp2_nv)                                                                                   \
    {                                                                                              \
        (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, (vlen), NGHTTP2_NV_FLAG_NONE                \
    }

/* A streaming call whose client has this much unread is disconnected (slow subscriber). */
#define STREAM_QUEUE_LIMIT (8u * 1024 * 1024)

static uint64_t monotonic_ns(void)
{
    return uv_hrtime();
}

struct rpc_call *call_new(struct cri_connection *connection, int32_t stream_id)
{
    struct rpc_call *call = xcalloc(1, sizeof(*call));

    call->server = connection->server;
    call->connection = connection;
    call->stream_id = stream_id;
    call->refs = 1;
    call->state = CALL_RECEIVING;
    call->started_ns = monotonic_ns();
    grpc_reader_init(&call->reader, connection->server->options.max_recv_message_size);
    list_insert_tail(&connection->calls, &call->connection_node);
    connection->server->call_count++;
    return call;
}

static void call_free(struct rpc_call *call)
{
    call->server->call_count--;
    grpc_reader_free(&call->reader);
    if (call->request)
        protobuf_c_message_free_unpacked(call->request, NULL);
    strbuf_free(&call->response);
    free(call->status_message);
    free(call->path);
    free(call);
}

void call_unref(struct rpc_call *call)
{
    if (--call->refs == 0)
        call_free(call);
}

static void timer_close_cb(uv_handle_t *handle)
{
    call_unref(handle->data);
}

static void stop_deadline_timer(struct rpc_call *call)
{
    if (!call->timer_open)
        return;
    call->timer_open = false;
    uv_close((uv_handle_t *)&call->deadline_timer, timer_close_cb);
}

static bool header_is(const uint8_t *name, size_t namelen, const char *expected)
{
    return namelen == strlen(expected) && memcmp(name, expected, namelen) == 0;
}

int call_on_header(struct rpc_call *call, const uint8_t *name, size_t namelen, const uint8_t *value,
                   size_t valuelen)
{
    if (header_is(name, namelen, ":method")) {
        call->has_method_header = true;
        call->is_post = valuelen == 4 && memcmp(value, "POST", 4) == 0;
    } else if (header_is(name, namelen, ":path")) {
        free(call->path);
        call->path = xstrndup((const char *)value, valuelen);
    } else if (header_is(name, namelen, "content-type")) {
        call->content_type_ok = grpc_content_type_is_valid((const char *)value, valuelen);
    } else if (header_is(name, namelen, "grpc-timeout")) {
        uint64_t timeout_ns;

        if (grpc_timeout_parse((const char *)value, valuelen, &timeout_ns) < 0) {
            call->bad_timeout = true;
        } else {
            uint64_t now = monotonic_ns();

            call->deadline_ns = timeout_ns > UINT64_MAX - now ? UINT64_MAX : now + timeout_ns;
        }
    }
    return 0;
}

/* Queues a response HEADERS frame; with_data attaches the data provider for messages. */
static void submit_response_headers(struct rpc_call *call, bool with_data);

static void submit_trailers_only(struct rpc_call *call, int http_status)
{
    struct cri_connection *connection = call->connection;
    char status_text[16];
    char http_text[8];
    struct strbuf message = STRBUF_INIT;
    nghttp2_nv headers[4];
    size_t count = 0;

    snprintf(http_text, sizeof(http_text), "%d", http_status);
    snprintf(status_text, sizeof(status_text), "%d", call->status);
    headers[count++] = NV(":status", http_text, strlen(http_text));
    headers[count++] = NV("content-type", "application/grpc", 16);
    headers[count++] = NV("grpc-status", status_text, strlen(status_text));
    if (!str_empty(call->status_message)) {
        grpc_percent_encode(&message, call->status_message);
        headers[count++] = NV("grpc-message", message.data, message.length);
    }
    nghttp2_submit_response(connection->session, call->stream_id, headers, count, NULL);
    strbuf_free(&message);
    call->headers_submitted = true;
}

/* Logs the call's outcome and counts it in the RPC metrics. */
static void record_completion(struct rpc_call *call)
{
    const char *path = "?";
    uint64_t elapsed_ns = monotonic_ns() - call->started_ns;
    unsigned long elapsed_us = (unsigned long)(elapsed_ns / 1000);

    if (call->method)
        path = call->method->path;
    else if (call->path)
        path = call->path;
    if (call->status == ERROR_UNKNOWN || call->status == ERROR_INTERNAL)
        log_warn("%s failed after %lu us: %s: %s", path, elapsed_us, error_code_name(call->status),
                 call->status_message ? call->status_message : "");
    else
        log_debug("%s: %s after %lu us%s%s", path, error_code_name(call->status), elapsed_us,
                  call->status_message ? ": " : "",
                  call->status_message ? call->status_message : "");

    if (metrics_enabled()) {
        struct strbuf labels = STRBUF_INIT;

        /* Unknown paths share one label value, so a client cannot grow the series at will. */
        strbuf_appendf(&labels, "method=\"%s\",code=\"%s\"",
                       call->method ? call->method->path : "unknown",
                       error_code_name(call->status));
        metrics_counter_add("hostcri_grpc_requests_total",
                            "gRPC calls completed, by method and "
                            "status code",
                            labels.data, 1);
        metrics_histogram_observe("hostcri_grpc_request_duration_seconds",
                                  "Time from request headers to status, in seconds", labels.data,
                                  (double)elapsed_ns / 1e9);
        strbuf_free(&labels);
    }
}

/*
 * Decides the call's status and queues it: as trailers after the response messages, or as a
 * trailers-only response when no HEADERS went out yet. Later statuses are ignored.
 */
static void queue_status(struct rpc_call *call, enum error_code code, const char *message)
{
    if (call->trailers_queued)
        return;
    call->trailers_queued = true;
    call->status = code;
    call->status_message = xstrdup_or_null(message);
    record_completion(call);
    stop_deadline_timer(call);
    if (call->connection == NULL)
        return;
    if (!call->headers_submitted)
        submit_trailers_only(call, 200);
    else
        nghttp2_session_resume_data(call->connection->session, call->stream_id);
    connection_flush(call->connection);
}

void call_fail_with_status(struct rpc_call *call, enum error_code code, const char *message)
{
    queue_status(call, code, message);
}

static void send_http_error(struct rpc_call *call, int http_status, const char *message)
{
    call->state = CALL_COMPLETED;
    call->trailers_queued = true;
    call->status = ERROR_INTERNAL;
    call->status_message = xstrdup(message);
    log_debug("%s: HTTP %d: %s", call->path ? call->path : "?", http_status, message);
    submit_trailers_only(call, http_status);
    connection_flush(call->connection);
}

static void cancel_call(struct rpc_call *call)
{
    if (call->cancelled)
        return;
    call->cancelled = true;
    if (call->cancel_cb) {
        call->refs++;
        call->cancel_cb(call, call->cancel_data);
        call_unref(call);
    }
}

static void deadline_cb(uv_timer_t *timer)
{
    struct rpc_call *call = timer->data;

    call->refs++;
    if (call->state == CALL_RECEIVING)
        call->state = CALL_COMPLETED;
    queue_status(call, ERROR_DEADLINE_EXCEEDED, "deadline exceeded");
    if (call->state == CALL_DISPATCHED)
        cancel_call(call);
    call_unref(call);
}

static void start_deadline_timer(struct rpc_call *call)
{
    uint64_t now = monotonic_ns();
    uint64_t remaining_ms;

    if (call->deadline_ns == 0)
        return;
    remaining_ms = call->deadline_ns > now ? (call->deadline_ns - now + 999999) / 1000000 : 0;
    uv_timer_init(call->server->loop, &call->deadline_timer);
    call->deadline_timer.data = call;
    call->timer_open = true;
    call->refs++;
    uv_timer_start(&call->deadline_timer, deadline_cb, remaining_ms, 0);
}

void call_on_headers_complete(struct rpc_call *call)
{
    char message[512];

    if (!call->has_method_header || !call->is_post) {
        send_http_error(call, 405, "gRPC requests must use the POST method");
        return;
    }
    if (!call->content_type_ok) {
        send_http_error(call, 415,
                        "unsupported content-type: gRPC requests must use "
                        "application/grpc");
        return;
    }
    call->method = call->path ? server_find_method(call->server, call->path) : NULL;
    if (call->method == NULL) {
        call->state = CALL_COMPLETED;
        snprintf(message, sizeof(message),
                 "unknown method %s: hostcri serves runtime.v1.RuntimeService and "
                 "runtime.v1.ImageService",
                 call->path ? call->path : "(no :path)");
        queue_status(call, ERROR_UNIMPLEMENTED, message);
        return;
    }
    if (call->bad_timeout) {
        call->state = CALL_COMPLETED;
        queue_status(call, ERROR_INTERNAL, "malformed grpc-timeout header");
        return;
    }
    start_deadline_timer(call);
}

void call_on_data(struct rpc_call *call, const uint8_t *data, size_t length)
{
    struct error err = ERROR_INIT;

    if (call->state != CALL_RECEIVING)
        return;
    if (grpc_reader_feed(&call->reader, data, length, &err) < 0) {
        call->state = CALL_COMPLETED;
        queue_status(call, err.code, err.message);
        error_clear(&err);
    }
}

/* Checks the received body and unpacks its one message. Returns 0, or -1 after failing the call. */
static int unpack_request(struct rpc_call *call)
{
    const ProtobufCMessageDescriptor *descriptor = call->method->request_descriptor;
    struct grpc_reader *reader = &call->reader;
    char message[256];

    if (grpc_reader_has_partial(reader) || reader->messages != 1) {
        if (grpc_reader_has_partial(reader))
            snprintf(message, sizeof(message), "request ended in the middle of a message");
        else
            snprintf(message, sizeof(message), "request has %u messages; %s takes exactly one",
                     reader->messages, call->method->path);
        queue_status(call, ERROR_INTERNAL, message);
        return -1;
    }
    call->request = protobuf_c_message_unpack(descriptor, NULL, reader->first.length,
                                              (const uint8_t *)reader->first.data);
    if (call->request == NULL) {
        snprintf(message, sizeof(message), "invalid request: %zu bytes do not decode as %s",
                 reader->first.length, descriptor->name);
        queue_status(call, ERROR_INVALID_ARGUMENT, message);
        return -1;
    }
    strbuf_free(&reader->first);
    return 0;
}

void call_on_request_end(struct rpc_call *call)
{
    call->remote_closed = true;
    if (call->state != CALL_RECEIVING)
        return;
    call->state = CALL_COMPLETED;
    /* A deadline that passed while the request arrived fails the call before the handler. */
    if (call->deadline_ns != 0 && monotonic_ns() >= call->deadline_ns) {
        queue_status(call, ERROR_DEADLINE_EXCEEDED,
                     "deadline exceeded before the request "
                     "arrived completely");
        return;
    }
    if (unpack_request(call) < 0)
        return;
    if (call->method->handler == NULL) {
        char message[256];

        snprintf(message, sizeof(message), "%s is not implemented by hostcri", call->method->path);
        queue_status(call, ERROR_UNIMPLEMENTED, message);
        return;
    }
    call->state = CALL_DISPATCHED;
    call->refs++; /* the handler's reference, dropped when it completes the call */
    call->method->handler(call, call->request);
}

void call_on_stream_closed(struct rpc_call *call, uint32_t error_code)
{
    if (call->connection != NULL) {
        list_remove(&call->connection_node);
        connection_maybe_finish(call->connection);
        call->connection = NULL;
    }
    if (!call->trailers_queued)
        log_debug("%s: stream closed by the client (HTTP/2 error %u)",
                  call->method ? call->method->path : "?", error_code);
    stop_deadline_timer(call);
    call->refs++;
    if (call->state == CALL_RECEIVING)
        call->state = CALL_COMPLETED;
    else if (call->state == CALL_DISPATCHED)
        cancel_call(call);
    call_unref(call);
    call_unref(call); /* the stream's reference */
}

void call_cancel_for_shutdown(struct rpc_call *call)
{
    call->refs++;
    if (call->state == CALL_RECEIVING)
        call->state = CALL_COMPLETED;
    queue_status(call, ERROR_UNAVAILABLE, "hostcri is shutting down");
    if (call->state == CALL_DISPATCHED)
        cancel_call(call);
    call_unref(call);
}

static ssize_t read_response_cb(nghttp2_session *session, int32_t stream_id, uint8_t *buf,
                                size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                                void *user_data)
{
    struct rpc_call *call = source->ptr;
    size_t available = call->response.length - call->response_offset;
    size_t take = available < length ? available : length;

    if (take > 0) {
        memcpy(buf, call->response.data + call->response_offset, take);
        call->response_offset += take;
        if (call->response_offset == call->response.length) {
            strbuf_reset(&call->response);
            call->response_offset = 0;
        }
        return (ssize_t)take;
    }
    if (!call->trailers_queued)
        return NGHTTP2_ERR_DEFERRED;

    /* All messages are out: end the data and send the status as trailers. */
    char status_text[16];
    struct strbuf message = STRBUF_INIT;
    nghttp2_nv trailers[2];
    size_t count = 0;

    *data_flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
    snprintf(status_text, sizeof(status_text), "%d", call->status);
    trailers[count++] = NV("grpc-status", status_text, strlen(status_text));
    if (!str_empty(call->status_message)) {
        grpc_percent_encode(&message, call->status_message);
        trailers[count++] = NV("grpc-message", message.data, message.length);
    }
    nghttp2_submit_trailer(session, stream_id, trailers, count);
    strbuf_free(&message);
    return 0;
}

static void submit_response_headers(struct rpc_call *call, bool with_data)
{
    nghttp2_nv headers[] = {
        NV(":status", "200", 3),
        NV("content-type", "application/grpc", 16),
        NV("grpc-accept-encoding", "identity", 8),
    };
    nghttp2_data_provider provider = {.source.ptr = call, .read_callback = read_response_cb};

    nghttp2_submit_response(call->connection->session, call->stream_id, headers,
                            ARRAY_SIZE(headers), with_data ? &provider : NULL);
    call->headers_submitted = true;
}

/* Serializes message into the response queue. Returns 0, or -1 if it is over the limit. */
static int check_send_size(const struct rpc_call *call, size_t size, struct error *err)
{
    if (size > call->server->options.max_send_message_size)
        return error_set(err, ERROR_RESOURCE_EXHAUSTED,
                         "response of %s is larger than max (%zu vs. %zu bytes)",
                         call->method->path, size, call->server->options.max_send_message_size);
    return 0;
}

static int append_message(struct rpc_call *call, const void *message, struct error *err)
{
    size_t size = protobuf_c_message_get_packed_size(message);
    uint8_t prefix[GRPC_PREFIX_SIZE];

    if (check_send_size(call, size, err) < 0)
        return -1;
    grpc_write_prefix(prefix, (uint32_t)size);
    strbuf_append(&call->response, prefix, sizeof(prefix));
    strbuf_reserve(&call->response, size);
    protobuf_c_message_pack(message, (uint8_t *)call->response.data + call->response.length);
    call->response.length += size;
    call->response.data[call->response.length] = '\0';
    return 0;
}

static bool call_can_send(const struct rpc_call *call)
{
    return call->connection != NULL && !call->cancelled && !call->trailers_queued;
}

static void complete_call(struct rpc_call *call)
{
    if (call->state != CALL_DISPATCHED) {
        log_error("%s: the handler completed a call twice", call->method->path);
        abort();
    }
    call->state = CALL_COMPLETED;
    call_unref(call);
}

/* With rc 0, queues the response headers, the message in call->response and an OK status.
 * With rc -1, drops the message and queues err's status instead. */
static void finish_reply(struct rpc_call *call, int rc, struct error *err)
{
    if (rc < 0) {
        strbuf_reset(&call->response);
        queue_status(call, err->code, err->message);
        error_clear(err);
    } else {
        submit_response_headers(call, true);
        queue_status(call, ERROR_OK, NULL);
    }
}

void rpc_call_reply(struct rpc_call *call, const void *response)
{
    struct error err = ERROR_INIT;

    if (call_can_send(call))
        finish_reply(call, append_message(call, response, &err), &err);
    complete_call(call);
}

struct strbuf *rpc_call_response_buffer(struct rpc_call *call)
{
    static const uint8_t prefix_placeholder[GRPC_PREFIX_SIZE];

    /* The length prefix is filled in by rpc_call_reply_appended. */
    strbuf_reset(&call->response);
    strbuf_append(&call->response, prefix_placeholder, sizeof(prefix_placeholder));
    return &call->response;
}

void rpc_call_reply_appended(struct rpc_call *call)
{
    struct error err = ERROR_INIT;
    size_t size = call->response.length - GRPC_PREFIX_SIZE;
    int rc;

    if (call_can_send(call)) {
        rc = check_send_size(call, size, &err);
        if (rc == 0)
            grpc_write_prefix((uint8_t *)call->response.data, (uint32_t)size);
        finish_reply(call, rc, &err);
    }
    complete_call(call);
}

void rpc_call_fail(struct rpc_call *call, const struct error *err)
{
    if (call_can_send(call)) {
        enum error_code code = err && err->code != ERROR_OK ? err->code : ERROR_UNKNOWN;

        queue_status(call, code, err && err->message ? err->message : "unknown error");
    }
    complete_call(call);
}

void rpc_call_failf(struct rpc_call *call, enum error_code code, const char *fmt, ...)
{
    struct error err = ERROR_INIT;
    va_list args;

    va_start(args, fmt);
    error_setv(&err, code, fmt, args);
    va_end(args);
    rpc_call_fail(call, &err);
    error_clear(&err);
}

int rpc_call_send(struct rpc_call *call, const void *message)
{
    struct error err = ERROR_INIT;

    if (!call_can_send(call))
        return -1;
    if (call->response.length - call->response_offset > STREAM_QUEUE_LIMIT) {
        log_warn("%s: client is not reading; disconnecting it after %zu queued bytes",
                 call->method->path, call->response.length - call->response_offset);
        /*
         * The caller learns of the cancellation from the -1 and finishes the call, so the
         * cancel callback must not run too. The flush can close the stream and drop its
         * reference: hold one until this function is done with the call.
         */
        call->cancelled = true;
        call->refs++;
        nghttp2_submit_rst_stream(call->connection->session, NGHTTP2_FLAG_NONE, call->stream_id,
                                  NGHTTP2_CANCEL);
        connection_flush(call->connection);
        call_unref(call);
        return -1;
    }
    if (append_message(call, message, &err) < 0) {
        queue_status(call, err.code, err.message);
        error_clear(&err);
        return -1;
    }
    if (!call->headers_submitted)
        submit_response_headers(call, true);
    else
        nghttp2_session_resume_data(call->connection->session, call->stream_id);
    connection_flush(call->connection);
    return 0;
}

void rpc_call_finish(struct rpc_call *call, const struct error *err)
{
    if (call_can_send(call)) {
        if (err == NULL || err->code == ERROR_OK) {
            if (!call->headers_submitted)
                submit_response_headers(call, true);
            queue_status(call, ERROR_OK, NULL);
        } else {
            queue_status(call, err->code, err->message);
        }
    }
    complete_call(call);
}

void rpc_call_on_cancel(struct rpc_call *call, rpc_cancel_cb cb, void *data)
{
    call->cancel_cb = cb;
    call->cancel_data = data;
}

int rpc_call_is_cancelled(const struct rpc_call *call)
{
    return call->cancelled;
}

uint64_t rpc_call_deadline(const struct rpc_call *call)
{
    return call->deadline_ns;
}

struct cri_services *rpc_call_services(const struct rpc_call *call)
{
    return call->server->services;
}

const struct rpc_method *rpc_call_method(const struct rpc_call *call)
{
    return call->method;
}
