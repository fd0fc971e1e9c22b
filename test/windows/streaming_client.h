#ifndef HOSTCRI_TEST_WINDOWS_STREAMING_CLIENT_H
#define HOSTCRI_TEST_WINDOWS_STREAMING_CLIENT_H

/* What streaming_client.c shares with streaming_ws.c, its WebSocket checks. */

#include <stddef.h>

#include <winsock2.h>

#include <protobuf-c/protobuf-c.h>

#define STREAMING_RUNTIME "/runtime.v1.RuntimeService/"

/* The path of the running program, which the container and the exec checks run. */
extern char streaming_self_path[];

/* Calls method over the daemon's pipe and unpacks the response with descriptor. Returns the
 * response (free with streaming_free_message), or NULL with the reason in error. */
void *streaming_call(const char *method, const ProtobufCMessage *request,
                     const ProtobufCMessageDescriptor *descriptor, char *error, size_t error_size);

/* Frees a response of streaming_call. Safe on NULL. */
void streaming_free_message(void *message);

/* Connects to the host and port of url ("http://127.0.0.1:PORT/...") with a 30 s receive
 * timeout, and sets *path to the path in url. Returns INVALID_SOCKET on failure. */
SOCKET streaming_connect_url(const char *url, const char **path);

/* Sends all length bytes, or stops at the first failure. */
void streaming_send_all(SOCKET sock, const void *data, size_t length);

/* The WebSocket checks of streaming_ws.c. */
void streaming_ws_test_exec(const char *container_id);
void streaming_ws_test_attach(const char *container_id);
void streaming_ws_test_port_forward(const char *pod_id);

#endif
