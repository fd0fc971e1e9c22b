/* The named-pipe gRPC client of pipe_grpc.h. */
#include "pipe_grpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>

#include <nghttp2/nghttp2.h>

struct pipe_grpc_connection {
    HANDLE pipe;
    nghttp2_session *session;
    bool goaway_received;
};

void pipe_grpc_call_init(struct pipe_grpc_call *call, const char *path,
                         const ProtobufCMessage *message)
{
    size_t length = message ? protobuf_c_message_get_packed_size(message) : 0;

    memset(call, 0, sizeof(*call));
    call->path = path;
    call->grpc_status = -1;
    call->request_length = 5 + length;
    call->request = calloc(1, call->request_length);
    call->request[1] = (uint8_t)(length >> 24);
    call->request[2] = (uint8_t)(length >> 16);
    call->request[3] = (uint8_t)(length >> 8);
    call->request[4] = (uint8_t)length;
    if (message)
        protobuf_c_message_pack(message, call->request + 5);
}

void pipe_grpc_call_free(struct pipe_grpc_call *call)
{
    free(call->request);
    free(call->response);
    memset(call, 0, sizeof(*call));
}

const uint8_t *pipe_grpc_call_message(const struct pipe_grpc_call *call, size_t *length)
{
    size_t announced;

    if (call->response_length < 5 || call->response[0] != 0)
        return NULL;
    announced = ((size_t)call->response[1] << 24) | ((size_t)call->response[2] << 16) |
                ((size_t)call->response[3] << 8) | call->response[4];
    if (announced != call->response_length - 5)
        return NULL;
    *length = announced;
    return call->response + 5;
}

static int on_header_cb(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                        size_t name_length, const uint8_t *value, size_t value_length,
                        uint8_t flags, void *user_data)
{
    struct pipe_grpc_call *call =
        nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    char text[256];

    (void)flags;
    (void)user_data;
    if (call == NULL)
        return 0;
    snprintf(text, sizeof(text), "%.*s", (int)value_length, (const char *)value);
    if (name_length == 7 && memcmp(name, ":status", 7) == 0)
        call->http_status = atoi(text);
    else if (name_length == 11 && memcmp(name, "grpc-status", 11) == 0)
        call->grpc_status = atoi(text);
    else if (name_length == 12 && memcmp(name, "grpc-message", 12) == 0)
        snprintf(call->grpc_message, sizeof(call->grpc_message), "%s", text);
    return 0;
}

static int on_data_chunk_cb(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                            const uint8_t *data, size_t length, void *user_data)
{
    struct pipe_grpc_call *call = nghttp2_session_get_stream_user_data(session, stream_id);

    (void)flags;
    (void)user_data;
    if (call == NULL)
        return 0;
    call->response = realloc(call->response, call->response_length + length);
    memcpy(call->response + call->response_length, data, length);
    call->response_length += length;
    return 0;
}

static int on_stream_close_cb(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                              void *user_data)
{
    struct pipe_grpc_call *call = nghttp2_session_get_stream_user_data(session, stream_id);

    (void)error_code;
    (void)user_data;
    if (call)
        call->closed = true;
    return 0;
}

static int on_frame_recv_cb(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct pipe_grpc_connection *connection = user_data;

    (void)session;
    if (frame->hd.type == NGHTTP2_GOAWAY)
        connection->goaway_received = true;
    return 0;
}

static ssize_t read_request_cb(nghttp2_session *session, int32_t stream_id, uint8_t *buffer,
                               size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                               void *user_data)
{
    struct pipe_grpc_call *call = source->ptr;
    size_t left = call->request_length - call->request_sent;
    size_t n = left < length ? left : length;

    (void)session;
    (void)stream_id;
    (void)user_data;
    memcpy(buffer, call->request + call->request_sent, n);
    call->request_sent += n;
    if (call->request_sent == call->request_length)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

void *pipe_grpc_open_pipe(const char *pipe_name, unsigned long *last_error)
{
    for (int attempt = 0; attempt < 300; attempt++) {
        HANDLE pipe = CreateFileA(pipe_name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                                  SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION, NULL);

        if (pipe != INVALID_HANDLE_VALUE)
            return pipe;
        *last_error = GetLastError();
        if (*last_error == ERROR_PIPE_BUSY)
            WaitNamedPipeA(pipe_name, 200);
        else
            Sleep(200);
    }
    return INVALID_HANDLE_VALUE;
}

struct pipe_grpc_connection *pipe_grpc_connect(const char *pipe_name, char *error,
                                               size_t error_size)
{
    struct pipe_grpc_connection *connection;
    nghttp2_session_callbacks *callbacks;
    unsigned long last_error = 0;
    HANDLE pipe = pipe_grpc_open_pipe(pipe_name, &last_error);

    if (pipe == INVALID_HANDLE_VALUE) {
        snprintf(error, error_size, "connect to %s: Windows error %lu", pipe_name, last_error);
        return NULL;
    }
    connection = calloc(1, sizeof(*connection));
    connection->pipe = pipe;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv_cb);
    nghttp2_session_client_new(&connection->session, callbacks, connection);
    nghttp2_session_callbacks_del(callbacks);
    nghttp2_submit_settings(connection->session, NGHTTP2_FLAG_NONE, NULL, 0);
    return connection;
}

void pipe_grpc_close(struct pipe_grpc_connection *connection)
{
    if (connection == NULL)
        return;
    nghttp2_session_del(connection->session);
    CloseHandle(connection->pipe);
    free(connection);
}

/* Writes what the session has queued to the pipe. */
static bool flush(struct pipe_grpc_connection *connection)
{
    for (;;) {
        const uint8_t *data;
        ssize_t length = nghttp2_session_mem_send(connection->session, &data);
        DWORD written;

        if (length < 0)
            return false;
        if (length == 0)
            return true;
        if (!WriteFile(connection->pipe, data, (DWORD)length, &written, NULL) ||
            written != (DWORD)length)
            return false;
    }
}

/* Reads once from the pipe into the session. Returns false at the end of the connection or on
 * invalid HTTP/2. */
static bool receive(struct pipe_grpc_connection *connection)
{
    uint8_t buffer[16384];
    DWORD received;

    if (!ReadFile(connection->pipe, buffer, sizeof(buffer), &received, NULL) || received == 0)
        return false;
    return nghttp2_session_mem_recv(connection->session, buffer, received) >= 0;
}

void pipe_grpc_submit(struct pipe_grpc_connection *connection, struct pipe_grpc_call *call)
{
    const nghttp2_nv headers[] = {
#define HEADER(name, value)                                                                        \
    {(uint8_t *)(name), (uint8_t *)(value), strlen(name), strlen(value), NGHTTP2_NV_FLAG_NONE}
        HEADER(":method", "POST"),
        HEADER(":scheme", "http"),
        HEADER(":path", call->path),
        HEADER(":authority", "localhost"),
        HEADER("content-type", "application/grpc"),
        HEADER("te", "trailers"),
#undef HEADER
    };
    nghttp2_data_provider provider = {.source.ptr = call, .read_callback = read_request_cb};

    call->stream_id = nghttp2_submit_request(connection->session, NULL, headers,
                                             sizeof(headers) / sizeof(headers[0]), &provider, call);
}

static bool all_closed(struct pipe_grpc_call **calls, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        if (!calls[i]->closed)
            return false;
    }
    return true;
}

bool pipe_grpc_run(struct pipe_grpc_connection *connection, struct pipe_grpc_call **calls,
                   size_t count)
{
    while (!all_closed(calls, count)) {
        if (!flush(connection) || !receive(connection))
            return false;
    }
    return true;
}

bool pipe_grpc_wait_for_goaway(struct pipe_grpc_connection *connection)
{
    while (!connection->goaway_received) {
        if (!flush(connection) || !receive(connection))
            break;
    }
    return connection->goaway_received;
}

bool pipe_grpc_wait_for_close(struct pipe_grpc_connection *connection)
{
    uint8_t buffer[16384];
    DWORD received;

    for (;;) {
        if (!ReadFile(connection->pipe, buffer, sizeof(buffer), &received, NULL) || received == 0)
            return true;
        if (nghttp2_session_mem_recv(connection->session, buffer, received) < 0)
            return false;
    }
}

bool pipe_grpc_call_once(const char *pipe_name, struct pipe_grpc_call *call, char *error,
                         size_t error_size)
{
    struct pipe_grpc_connection *connection = pipe_grpc_connect(pipe_name, error, error_size);
    bool ok;

    if (connection == NULL)
        return false;
    pipe_grpc_submit(connection, call);
    ok = pipe_grpc_run(connection, &call, 1);
    if (!ok)
        snprintf(error, error_size, "the HTTP/2 exchange of %s failed", call->path);
    pipe_grpc_close(connection);
    return ok;
}
