#ifndef HOSTCRI_TEST_WINDOWS_PIPE_GRPC_H
#define HOSTCRI_TEST_WINDOWS_PIPE_GRPC_H

/*
 * A small blocking gRPC client over a Windows named pipe (HTTP/2 through nghttp2), for the Windows
 * test programs: one unary call per connection.
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

#endif
