#ifndef HOSTCRI_CRI_STREAMING_REMOTECOMMAND_H
#define HOSTCRI_CRI_STREAMING_REMOTECOMMAND_H

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "cri/streaming/server.h"

/*
 * One exec or attach session, independent of the transport: it starts the process through the
 * backend, pumps stdin, stdout and stderr, applies resize messages, and writes the result on
 * the error stream in the form the client's protocol version expects. The SPDY and WebSocket
 * handlers feed it what the client sends and carry what it sends back.
 */

enum rc_stream {
    RC_STREAM_ERROR,
    RC_STREAM_STDIN,
    RC_STREAM_STDOUT,
    RC_STREAM_STDERR,
    RC_STREAM_RESIZE,
};

struct rc_transport_ops {
    void (*send)(void *transport, enum rc_stream stream, const void *data, size_t length);
    /* Half-closes an output stream (SPDY FIN); WebSocket has no such signal. */
    void (*close_stream)(void *transport, enum rc_stream stream);
    /* The status is written: end the session (resets, GOAWAY or close frame, then close). */
    void (*finish)(void *transport);
    /* Bytes queued toward the client. */
    size_t (*backlog)(void *transport);
    /* Stops or resumes reading from the client while the process's stdin is full. */
    void (*pause_input)(void *transport, bool pause);
};

struct rc_options {
    /* Remote command protocol version: 1-3 write errors as text, 4 and 5 a JSON Status. */
    int version;
    /* SPDY channel.k8s.io (v1) closes the process's stdin as soon as the streams are set up. */
    bool close_stdin_at_start;
};

struct rc_session;

/*
 * Creates a session for request (ownership passes to the session). Nothing starts before
 * rc_session_start. The transport stays valid until rc_session_detach.
 */
struct rc_session *rc_session_new(uv_loop_t *loop, const struct streaming_backend *backend,
                                  void *backend_data, struct streaming_request *request,
                                  const struct rc_options *options,
                                  const struct rc_transport_ops *ops, void *transport);

/*
 * The client's streams are all there: starts the exec or attaches. A tty exec over protocol v3
 * or later first waits up to a second for the client's terminal size. Call once.
 */
void rc_session_start(struct rc_session *session);

/* Stdin from the client; kept until the process exists. */
void rc_session_stdin(struct rc_session *session, const void *data, size_t length);

/* The client's stdin ended: the process reads EOF (without a tty; a terminal ignores it). */
void rc_session_stdin_close(struct rc_session *session);

/* Bytes of the resize stream: concatenated {"Width":W,"Height":H} objects, in any chunks. */
void rc_session_resize(struct rc_session *session, const void *data, size_t length);

/* The transport's backlog fell: output reading resumes. */
void rc_session_drain(struct rc_session *session);

/*
 * The transport is gone. The session stops calling it, kills a running exec through the
 * backend (attach only detaches), and frees itself once its handles are closed.
 */
void rc_session_detach(struct rc_session *session);

/* True once the status was written and finish was called. */
bool rc_session_finished(const struct rc_session *session);

#endif
