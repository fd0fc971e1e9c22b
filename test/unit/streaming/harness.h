#ifndef HOSTCRI_TEST_STREAMING_HARNESS_H
#define HOSTCRI_TEST_STREAMING_HARNESS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "common/strbuf.h"
#include "cri/streaming/server.h"
#include "host_backend.h"
#include "wire_corpus.h"

/*
 * Server tests: the streaming server runs in its own loop thread with the host backend, and
 * the test talks to it over blocking loopback sockets, as a client would. URLs are issued while
 * the loop thread is stopped, because libuv objects belong to one thread.
 */

struct harness {
    uv_loop_t loop;
    uv_async_t stop_async;
    pthread_t thread;
    bool running;
    struct streaming_server *server;
    struct host_backend backend;
    uint16_t port;
};

/* Starts a server with config (NULL for the defaults); the loop thread is not running. */
void harness_init(struct harness *harness, const struct streaming_config *config);

/* Issues a URL for request; the loop thread must be stopped. The caller frees the URL. */
char *harness_issue(struct harness *harness, const struct streaming_request *request);

/* Runs the loop in its thread until harness_pause. */
void harness_resume(struct harness *harness);
void harness_pause(struct harness *harness);

/* Stops the server, waits for its handles and the test processes, and closes the loop. */
void harness_free(struct harness *harness);

/* Connects to the server; reads time out after a few seconds. */
int harness_connect(const struct harness *harness);

/* Sends all bytes (ignores a peer that is already gone). */
void harness_send(int fd, const void *data, size_t length);

/*
 * Returns the recorded request head with its path token and Host header replaced for url
 * (path "/<kind>/<token>" taken from url).
 */
char *harness_rewrite_head(const char *head, size_t length, const char *url);

/* Reads until the HTTP response head is complete; the bytes after it stay in *rest. */
char *harness_read_response_head(int fd, struct strbuf *rest);

/* Reads what the server sends until it closes the connection (or a timeout fails the test). */
void harness_read_to_eof(int fd, struct strbuf *out);

/*
 * Connects and sends head, then reads the response head and returns it (the caller frees it).
 * *fd receives the connection, and rest the bytes that followed the head.
 */
char *harness_handshake(const struct harness *harness, const char *head, int *fd,
                        struct strbuf *rest);

/*
 * Returns the recorded client request head of case name (conn NULL for single-connection cases)
 * rewritten for url, and the caller frees it. With bytes not NULL, *bytes receives all the
 * recorded client bytes, for the frames after the head, and the caller frees them with
 * wire_bytes_free.
 */
char *harness_recorded_head(const char *name, const char *conn, const char *url,
                            struct wire_bytes *bytes);

/* Returns an exec request for the container id "c0ffee" that the server tests use. */
struct streaming_request harness_exec_request(const char *const *cmd, size_t count, bool tty,
                                              unsigned streams);

/*
 * Compares a received Kubernetes Status (JSON) with the recorded one: the same status, and the
 * same reason and details where the recording has them. Fails the test on a difference.
 */
void harness_check_status(const struct strbuf *received, const struct strbuf *recorded);

/* One frame the client received. */
struct received_frame {
    int kind;           /* spdy_frame_type, or the WebSocket opcode for WebSocket sessions */
    uint32_t stream;    /* SPDY stream id, or the WebSocket channel */
    uint8_t flags;      /* SPDY flags; WebSocket: 1 when fin */
    uint32_t value;     /* RST/GOAWAY status, PING id, close code */
    struct strbuf data; /* payload (DATA, channel data) */
};

struct replay {
    const char *name; /* corpus case */
    const struct streaming_request *request;
    const char *conn;       /* NULL for single-connection cases */
    uint16_t port_override; /* port-forward: replace the recorded "port" headers */
    bool websocket;
    bool tunnel; /* WebSocket carrying SPDY: the recorded SPDY case replayed inside messages */
    const char *head_name; /* tunnel: the case whose request head is sent (WebSocket upgrade) */

    /* Results */
    char *response_head;
    struct received_frame *frames;
    size_t frame_count;
    json_t *timeline;
};

/*
 * Replays the client side of a recorded session against the server: the request head with a
 * fresh token, then each client frame once the server frames recorded before it have arrived.
 * Collects every frame the server sends until it closes the connection.
 */
void harness_replay(struct harness *harness, struct replay *replay);

void replay_free(struct replay *replay);

/* Concatenated payload of the frames on stream (or channel) of kind. */
void replay_stream_data(const struct replay *replay, int kind, uint32_t stream, struct strbuf *out);

#endif

/* The answer of the test pod server to every request. */
#define POD_RESPONSE "HTTP/1.0 200 OK\r\nContent-Length: 15\r\n\r\nhello-from-pod\n"

struct pod_server {
    int listen_fd;
    uint16_t port;
    int connections; /* to serve before the thread ends */
    pthread_t thread;
};

/*
 * Starts a stand-in for a web server in a host-network pod: it listens on a free loopback port
 * and answers connections with POD_RESPONSE once their request head is complete.
 */
void pod_server_start(struct pod_server *pod, int connections);

/* Waits until the pod server has served its connections. */
void pod_server_join(struct pod_server *pod);

/*
 * Starts a pod server for one connection that reads slowly until EOF, then answers
 * "got <byte count>\n" and closes: a pod that cannot keep up with its client.
 */
void pod_sink_start(struct pod_server *pod);

/* Returns a loopback port where nothing listens (bound once, then released). */
uint16_t unused_port(void);
