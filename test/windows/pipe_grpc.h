#ifndef HOSTCRI_TEST_WINDOWS_PIPE_GRPC_H
#define HOSTCRI_TEST_WINDOWS_PIPE_GRPC_H

/*
 * A small blocking gRPC client over a Windows named pipe (HTTP/2 through nghttp2), for the Windows
 * test programs: unary calls, one per connection (pipe_grpc_call_once) or several on one
 * connection (pipe_grpc_connect, pipe_grpc_submit, pipe_grpc_run), and the server's GOAWAY.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* One unary call: the framed request, and what came back. */
struct pipe_grpc_call {
    const char *path;
    uint8_t *request; /* 5-byte gRPC prefix and the message */
    size_t request_length;
    size_t request_sent;
    int32_t stream_id;
    int http_status;
    int grpc_status; /* -1 until the trailers arrive */
    char grpc_message[256];
    uint8_t *response; /* the DATA bytes, prefix included */
    size_t response_length;
    bool closed;
};

/* Prepares a call of the method path ("/runtime.v1.ImageService/PullImage") with message. */
void pipe_grpc_call_init(struct pipe_grpc_call *call, const char *path,
                         const ProtobufCMessage *message);

void pipe_grpc_call_free(struct pipe_grpc_call *call);

/* The response message bytes after the 5-byte prefix, or NULL when there is none. */
const uint8_t *pipe_grpc_call_message(const struct pipe_grpc_call *call, size_t *length);

/*
 * Connects to the pipe (retrying for about a minute while the server starts), runs the call
 * and closes the connection. Returns false, with a reason in error, when the connection or the
 * HTTP/2 exchange failed; the gRPC status is in call->grpc_status.
 */
bool pipe_grpc_call_once(const char *pipe_name, struct pipe_grpc_call *call, char *error,
                         size_t error_size);

/* An open HTTP/2 connection to a pipe, for several calls. */
struct pipe_grpc_connection;

/*
 * Opens the pipe (retrying for about a minute while the server starts) and returns its handle,
 * or INVALID_HANDLE_VALUE with the last Windows error in *last_error. The caller closes the
 * handle with CloseHandle.
 */
void *pipe_grpc_open_pipe(const char *pipe_name, unsigned long *last_error);

/*
 * Connects to the pipe as pipe_grpc_open_pipe does and starts an HTTP/2 session on it. Returns
 * the connection (close with pipe_grpc_close), or NULL with the reason in error.
 */
struct pipe_grpc_connection *pipe_grpc_connect(const char *pipe_name, char *error,
                                               size_t error_size);

/* Closes the connection and frees it. Safe on NULL. */
void pipe_grpc_close(struct pipe_grpc_connection *connection);

/* Queues call on the connection, and pipe_grpc_run sends it. call must outlive the exchange. */
void pipe_grpc_submit(struct pipe_grpc_connection *connection, struct pipe_grpc_call *call);

/*
 * Sends what is queued and reads until each of the count calls has closed. Returns false when
 * the connection failed or ended first.
 */
bool pipe_grpc_run(struct pipe_grpc_connection *connection, struct pipe_grpc_call **calls,
                   size_t count);

/*
 * Reads until the server's GOAWAY frame arrives. Returns whether it arrived, so false when the
 * connection failed or ended first.
 */
bool pipe_grpc_wait_for_goaway(struct pipe_grpc_connection *connection);

/*
 * Reads and ignores what arrives until the server closes the connection. Returns true at that
 * end, false when the bytes are invalid HTTP/2.
 */
bool pipe_grpc_wait_for_close(struct pipe_grpc_connection *connection);

#endif
