#ifndef HOSTCRI_CRI_STREAMING_SPDY_HANDLER_INTERNAL_H
#define HOSTCRI_CRI_STREAMING_SPDY_HANDLER_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "common/strbuf.h"
#include "cri/streaming/remotecommand.h"
#include "cri/streaming/spdy.h"
#include "cri/streaming/spdy_handler.h"

/*
 * Shared between spdy_handler.c (connection, streams, remote command) and spdy_portforward.c
 * (port-forward stream pairs). Not for other files.
 */

struct pf_pair;

struct spdy_stream {
    struct spdy_stream *next;
    uint32_t id;
    bool remote_closed; /* client FIN or reset */
    bool local_closed;  /* server FIN */
    bool reset;
    bool is_rc;
    enum rc_stream rc_stream;
    struct pf_pair *pair; /* port-forward */
    bool is_data;         /* port-forward: data (else error) stream of its pair */
};

struct spdy_handler {
    struct spdy_handler_config config;
    struct streaming_link link;
    struct streaming_request *request;
    struct spdy_parser parser;
    struct spdy_writer writer;
    struct strbuf out;
    uv_timer_t timer; /* stream creation timeout */
    struct spdy_stream *streams;
    uint32_t last_stream_id;
    bool goaway_received;
    bool closing;
    bool link_gone;

    /* Remote command */
    struct rc_session *rc;
    struct spdy_stream *rc_streams[RC_STREAM_RESIZE + 1];
    int rc_stream_count;

    /* Port-forward */
    struct pf_pair *pairs;
    bool forwards_paused;
    int full_forwards; /* pairs whose pod side is not taking bytes fast enough */
};

/* Sends data (and FIN) on stream unless it is closed on the server side or reset. */
void spdy_handler_send(struct spdy_handler *handler, struct spdy_stream *stream, const void *data,
                       size_t length, bool fin);

/* Sends RST_STREAM with status for stream, once. */
void spdy_handler_reset(struct spdy_handler *handler, struct spdy_stream *stream, uint32_t status);

/* Sends GOAWAY with status and closes the link after it. */
void spdy_handler_close(struct spdy_handler *handler, uint32_t goaway_status);

/* Writes the frames built in handler->out to the link. */
void spdy_handler_flush(struct spdy_handler *handler);

/* Bytes the link has not sent yet. */
size_t spdy_handler_backlog(struct spdy_handler *handler);

/* Handles the client's half-close of stream (DATA or SYN_STREAM with FIN). */
void spdy_handler_remote_fin(struct spdy_handler *handler, struct spdy_stream *stream);

/*
 * Port-forward. check_stream validates the port and streamtype headers of a SYN_STREAM and
 * resets the stream when they are invalid (returns false); add_stream pairs an accepted stream.
 */
bool spdy_portforward_check_stream(struct spdy_handler *handler, const struct spdy_frame *frame);
void spdy_portforward_add_stream(struct spdy_handler *handler, struct spdy_stream *stream,
                                 const struct spdy_frame *frame);
void spdy_portforward_data(struct spdy_handler *handler, struct spdy_stream *stream,
                           const uint8_t *data, size_t length);
void spdy_portforward_remote_fin(struct spdy_handler *handler, struct spdy_stream *stream);
void spdy_portforward_reset(struct spdy_handler *handler, struct spdy_stream *stream);
/* Runs every second: reports pairs that did not complete within the creation timeout. */
void spdy_portforward_check_timeouts(struct spdy_handler *handler);
/* Closes the connection after the client's GOAWAY once no pair is active. */
void spdy_portforward_maybe_done(struct spdy_handler *handler);
void spdy_portforward_drain(struct spdy_handler *handler);
/* Frees finished pairs and their streams; call only where no stream pointer is held. */
void spdy_portforward_prune(struct spdy_handler *handler);
/* The link is gone: closes every TCP connection and frees the pairs. */
void spdy_portforward_close_all(struct spdy_handler *handler);

#endif
