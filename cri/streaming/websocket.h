#ifndef HOSTCRI_CRI_STREAMING_WEBSOCKET_H
#define HOSTCRI_CRI_STREAMING_WEBSOCKET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/strbuf.h"

/*
 * WebSocket (RFC 6455) for the Kubernetes streaming protocols: the accept key and subprotocol
 * choice of the HTTP upgrade, and a session on top of the frame codec of websocket_frame.h. The
 * session carries channel messages (byte 0 is the channel) in binary or base64 text form, or raw
 * binary messages for a tunnel. It replies to pings and to the peer's close frame by itself.
 */

/* Exec and attach subprotocols. v5 adds the close signal [255, channel] (stdin EOF). */
#define WEBSOCKET_PROTOCOL_V5 "v5.channel.k8s.io"
#define WEBSOCKET_PROTOCOL_V4 "v4.channel.k8s.io"
#define WEBSOCKET_PROTOCOL_V4_BASE64 "v4.base64.channel.k8s.io"
#define WEBSOCKET_PROTOCOL_BASE64 "base64.channel.k8s.io"
#define WEBSOCKET_PROTOCOL_V1 "channel.k8s.io"
/* Port-forward: SPDY/3.1 carried inside binary messages, as kubectl and crictl use it. */
#define WEBSOCKET_PROTOCOL_SPDY_TUNNEL "SPDY/3.1+portforward.k8s.io"

/* Length of a Sec-WebSocket-Accept value: base64 of a 20-byte SHA-1. */
#define WEBSOCKET_ACCEPT_LENGTH 28

/*
 * Computes the Sec-WebSocket-Accept value for a Sec-WebSocket-Key into out (NUL-terminated).
 * Returns 0, or -1 when key is not the base64 form of 16 bytes.
 */
int websocket_accept_key(const char *key, char out[WEBSOCKET_ACCEPT_LENGTH + 1], struct error *err);

/*
 * Chooses the subprotocol: the first of the comma-separated offered list (client order) that is
 * in the NULL-terminated supported list. offered NULL or empty selects "" when "" is supported.
 * Returns the chosen entry of supported, or NULL when nothing matches.
 */
const char *websocket_select_protocol(const char *offered, const char *const *supported);

enum websocket_framing {
    WEBSOCKET_FRAMING_BINARY, /* binary messages: channel byte, then data */
    WEBSOCKET_FRAMING_BASE64, /* text messages: '0' + channel, then base64 of the data */
    WEBSOCKET_FRAMING_RAW,    /* binary messages without a channel byte (SPDY tunnel) */
};

/* The channel framing and features of a negotiated subprotocol. */
struct websocket_protocol_info {
    enum websocket_framing framing;
    int version;       /* 1, 4 or 5: the remote command protocol version it implies */
    bool close_signal; /* v5: [255, channel] half-closes a channel */
};

/* Fills *info for one of the WEBSOCKET_PROTOCOL_* names or "". Returns 0, or -1 if unknown. */
int websocket_protocol_info(const char *protocol, struct websocket_protocol_info *info);

#define WEBSOCKET_CLOSE_NORMAL 1000
#define WEBSOCKET_CLOSE_PROTOCOL_ERROR 1002
/* Reported to on_close for a close frame without a status code; never sent. */
#define WEBSOCKET_CLOSE_NO_STATUS_RECEIVED 1005
#define WEBSOCKET_CLOSE_TOO_BIG 1009
#define WEBSOCKET_CLOSE_INTERNAL_ERROR 1011

struct websocket_callbacks {
    /* A whole message on channel (0 in raw framing), base64 already decoded. */
    void (*on_message)(void *data, unsigned channel, const uint8_t *payload, size_t length);
    /* v5 close signal for channel. */
    void (*on_close_signal)(void *data, unsigned channel);
    /* The peer sent a close frame (code 1005 when it had no status code). The reply, a close
     * frame with the same code, is already queued unless the session sent its close first. */
    void (*on_close)(void *data, uint16_t code);
    /* Optional: the start of every frame, control frames included (tests and logs). */
    void (*on_frame)(void *data, bool fin, uint8_t opcode, uint64_t payload_length);
};

struct websocket_session;

/*
 * Creates a session. server true expects masked frames from the peer and sends unmasked ones.
 * A client session does the opposite and masks each frame with a random key; it aborts when the
 * system has no random bytes. Messages longer than max_message are rejected with close 1009.
 * Callbacks run from websocket_session_feed. Never returns NULL.
 */
struct websocket_session *
websocket_session_new(bool server, const struct websocket_protocol_info *info, size_t max_message,
                      const struct websocket_callbacks *callbacks, void *data);

/* Frees the session and the frames it has not flushed. Safe on NULL. */
void websocket_session_free(struct websocket_session *session);

/*
 * Processes received bytes, which may split frames anywhere: runs the callbacks for each
 * complete message and queues pongs (with the ping's payload) and the close reply. Bytes after
 * the peer's close frame are ignored. Returns 0, or -1 on a protocol error: the frame errors of
 * websocket_parser_feed, a bad close signal, invalid base64 or an invalid close frame. A close
 * frame with code 1002 or 1009 is then queued and every later call fails too. The caller should
 * flush and close the connection.
 */
int websocket_session_feed(struct websocket_session *session, const void *data, size_t length,
                           struct error *err);

/*
 * Queues one message on channel as a single frame (channel ignored in raw framing, where data
 * goes as it is). Dropped once a close frame is queued.
 */
void websocket_session_send(struct websocket_session *session, unsigned channel, const void *data,
                            size_t length);

/*
 * Queues a close frame with code and an optional reason (cut to 123 bytes) behind the frames
 * already queued. Later sends, pongs and closes are dropped.
 */
void websocket_session_close(struct websocket_session *session, uint16_t code, const char *reason);

/* Moves every queued frame, in queue order, to the end of out. */
void websocket_session_flush(struct websocket_session *session, struct strbuf *out);

/* True once the session has queued its close frame (by itself or in reply to the peer). */
bool websocket_session_closing(const struct websocket_session *session);

/* True once the peer's close frame arrived. */
bool websocket_session_close_received(const struct websocket_session *session);

#endif
