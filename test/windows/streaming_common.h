#ifndef HOSTCRI_TEST_WINDOWS_STREAMING_COMMON_H
#define HOSTCRI_TEST_WINDOWS_STREAMING_COMMON_H

/*
 * The client code that the streaming test programs share: streaming_client.c with streaming_ws.c,
 * and streaming_tls_check.c. It makes CRI calls over the daemon's pipe, runs a HostProcess pod
 * with one sleeping container and connects to the streaming URLs. It also writes the HTTP
 * upgrade requests and SPDY/3.1 frames, and decodes the frames that come back.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <winsock2.h>

#include <protobuf-c/protobuf-c.h>

#include "api/api.pb-c.h"
#include "common/strbuf.h"
#include "cri/streaming/spdy.h"
#include "pod_config.h"

#define STREAMING_RUNTIME "/runtime.v1.RuntimeService/"
#define STREAMING_IMAGES "/runtime.v1.ImageService/"

/* The SPDY streams whose data the checks collect: ids 0 to 15. */
#define STREAMING_SPDY_STREAMS 16

/* The path of the running program, which the container and the exec checks run. */
extern char streaming_self_path[];

/* Sets the daemon's pipe for streaming_call, fills streaming_self_path and starts Winsock. The
 * caller ends Winsock with WSACleanup. */
void streaming_init(const char *pipe_name);

/* Calls method over the daemon's pipe and unpacks the response with descriptor. Returns the
 * response (free with streaming_free_message), or NULL with the reason in error. */
void *streaming_call(const char *method, const ProtobufCMessage *request,
                     const ProtobufCMessageDescriptor *descriptor, char *error, size_t error_size);

/* Frees a response of streaming_call. Safe on NULL. */
void streaming_free_message(void *message);

/* Calls method and checks under name that it succeeds. Returns whether it did. */
bool streaming_call_ok(const char *method, const ProtobufCMessage *request,
                       const ProtobufCMessageDescriptor *descriptor, const char *name);

/*
 * Requests an Exec of command in the container with stdout, and with a terminal when tty, and
 * stdin and stderr when with_stdin. Returns the response with the URL (free with
 * streaming_free_message), or NULL with the reason in error.
 */
Runtime__V1__ExecResponse *streaming_request_exec(const char *container_id, char **command,
                                                  size_t count, bool tty, bool with_stdin,
                                                  char *error, size_t error_size);

/* Requests an Attach to the container's stdout. Returns the response with the URL (free with
 * streaming_free_message), or NULL with the reason in error. */
Runtime__V1__AttachResponse *streaming_request_attach(const char *container_id, char *error,
                                                      size_t error_size);

/* Requests a PortForward to *port of the pod. *port must outlive the call. Returns the response
 * with the URL (free with streaming_free_message), or NULL with the reason in error. */
Runtime__V1__PortForwardResponse *streaming_request_port_forward(const char *pod_id, int32_t *port,
                                                                 char *error, size_t error_size);

/* A HostProcess pod and the image of its containers. It must not be copied. */
struct streaming_pod {
    struct pod_config sandbox;
    Runtime__V1__ImageSpec image;
    char *id; /* set by streaming_pod_run */
};

/*
 * Pulls image and runs the pod name with its logs in <test_dir>\logs\<name>. Prints the checks
 * "PullImage of the Windows image" and run_check for RunPodSandbox. Returns whether the pod
 * runs; only then does it need streaming_pod_remove.
 */
bool streaming_pod_run(struct streaming_pod *pod, const char *image, const char *name,
                       const char *test_dir, const char *run_check);

/*
 * Creates the container name in pod with the command "<this program> sleep" and starts it,
 * checking both calls. Returns the container's id (free it), or NULL when a call failed.
 */
char *streaming_pod_start_sleeper(struct streaming_pod *pod, const char *name);

/* Stops and removes the pod with its containers, checking both calls, and frees pod->id. */
void streaming_pod_remove(struct streaming_pod *pod);

/*
 * Connects to the host and port of url ("<scheme>://127.0.0.1:PORT/...") with a 30 s receive
 * timeout, and sets *path to the path in url. Returns INVALID_SOCKET on failure, or when url has
 * another scheme.
 */
SOCKET streaming_connect_url(const char *url, const char *scheme, const char **path);

/* Sends all length bytes. Returns false at the first failure. */
bool streaming_send_all(SOCKET sock, const void *data, size_t length);

/* Reads once from sock and appends what arrived to buffer. Returns false at the end of the
 * stream or on a receive timeout. */
bool streaming_receive(SOCKET sock, struct strbuf *buffer);

/*
 * Reads from sock into head until it contains the end of an HTTP response head. Returns the
 * length of the head with its blank line, or 0 when the connection ended or timed out first.
 * Bytes that arrived after the head stay in head.
 */
size_t streaming_read_head(SOCKET sock, struct strbuf *head);

/* Appends the HTTP request that upgrades path to SPDY/3.1 with the stream protocol protocol
 * ("v4.channel.k8s.io", "portforward.k8s.io"). */
void streaming_append_spdy_upgrade(struct strbuf *out, const char *path, const char *protocol);

/* Appends the frames that open the streams of an exec or attach with only stdout: 1 for the
 * error stream (half-closed at once) and 3 for stdout. */
void streaming_append_exec_streams(struct strbuf *frames);

/* Appends the frames of a port-forward of port: the error stream 1 (half-closed at once) and
 * the data stream 3 with "ping", also half-closed. */
void streaming_append_port_forward_streams(int32_t port, struct strbuf *frames);

/* Decodes the frames that parser has whole and appends the bytes of each DATA frame to
 * data[stream id]. Drops the DATA of streams from STREAMING_SPDY_STREAMS on. */
void streaming_collect_spdy_data(struct spdy_parser *parser,
                                 struct strbuf data[STREAMING_SPDY_STREAMS]);

/* The port-forward target: a TCP listener on 127.0.0.1 whose thread accepts one connection and
 * sends back "pong " followed by the bytes it read. */
struct streaming_pong {
    SOCKET listener;
    HANDLE thread;
};

/* Opens the listener and starts its thread. Returns the port, or 0 with the cause in
 * WSAGetLastError. Call streaming_pong_stop in both cases. */
int32_t streaming_pong_start(struct streaming_pong *pong);

/* Closes the listener and waits up to 5 s for the thread to end. */
void streaming_pong_stop(struct streaming_pong *pong);

#endif
