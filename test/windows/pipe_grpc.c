/* The named-pipe gRPC client of pipe_grpc.h. */
#include "pipe_grpc.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>

#include <nghttp2/nghttp2.h>

struct h2_client {
    HANDLE pipe;
    nghttp2_session *session;
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

/* Opens the pipe, retrying while the server is still starting (up to about a minute). */
static HANDLE pipe_connect(const char *name, DWORD *last_error)
{
    for (int attempt = 0; attempt < 300; attempt++) {
        HANDLE pipe = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                                  SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION, NULL);

        if (pipe != INVALID_HANDLE_VALUE)
            return pipe;
        *last_error = GetLastError();
        if (*last_error == ERROR_PIPE_BUSY)
            WaitNamedPipeA(name, 200);
        else
            Sleep(200);
    }
    return INVALID_HANDLE_VALUE;
}

static bool client_open(struct h2_client *client, const char *name, char *error, size_t size)
{
    nghttp2_session_callbacks *callbacks;
    DWORD last_error = 0;

    memset(client, 0, sizeof(*client));
    client->pipe = pipe_connect(name, &last_error);
    if (client->pipe == INVALID_HANDLE_VALUE) {
        snprintf(error, size, "connect to %s: Windows error %lu", name, (unsigned long)last_error);
        return false;
    }
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close_cb);
    nghttp2_session_client_new(&client->session, callbacks, client);
    nghttp2_session_callbacks_del(callbacks);
    nghttp2_submit_settings(client->session, NGHTTP2_FLAG_NONE, NULL, 0);
    return true;
}

static void client_close(struct h2_client *client)
{
    if (client->session)
        nghttp2_session_del(client->session);
    if (client->pipe != INVALID_HANDLE_VALUE && client->pipe != NULL)
        CloseHandle(client->pipe);
}

static bool client_flush(struct h2_client *client)
{
    for (;;) {
        const uint8_t *data;
        ssize_t length = nghttp2_session_mem_send(client->session, &data);
        DWORD written;

        if (length < 0)
            return false;
        if (length == 0)
            return true;
        if (!WriteFile(client->pipe, data, (DWORD)length, &written, NULL) ||
            written != (DWORD)length)
            return false;
    }
}

static void client_submit(struct h2_client *client, struct pipe_grpc_call *call)
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

    call->stream_id = nghttp2_submit_request(client->session, NULL, headers,
                                             sizeof(headers) / sizeof(headers[0]), &provider, call);
}

/* Sends the submitted call and reads until it has closed. */
static bool client_run(struct h2_client *client, struct pipe_grpc_call *call)
{
    uint8_t buffer[16384];

    while (!call->closed) {
        DWORD received;

        if (!client_flush(client))
            return false;
        if (!ReadFile(client->pipe, buffer, sizeof(buffer), &received, NULL) || received == 0)
            return false;
        if (nghttp2_session_mem_recv(client->session, buffer, received) < 0)
            return false;
    }
    return true;
}

bool pipe_grpc_call_once(const char *pipe_name, struct pipe_grpc_call *call, char *error,
                         size_t error_size)
{
    struct h2_client client;
    bool ok;

    if (!client_open(&client, pipe_name, error, error_size))
        return false;
    client_submit(&client, call);
    ok = client_run(&client, call);
    if (!ok)
        snprintf(error, error_size, "the HTTP/2 exchange of %s failed", call->path);
    client_close(&client);
    return ok;
}
