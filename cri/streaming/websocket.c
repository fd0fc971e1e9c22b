/*
 * WebSocket handshake helpers and the channel session on top of websocket_frame.h. The session
 * keeps one queue of outgoing frames, so every frame (pongs and close frames included) goes out
 * in the order it was queued.
 */
#include "cri/streaming/websocket.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/base64.h"
#include "common/sha1.h"
#include "common/util.h"
#include "cri/streaming/random.h"
#include "cri/streaming/websocket_frame.h"

#define WEBSOCKET_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define CLOSE_SIGNAL_CHANNEL 255

struct websocket_session {
    bool server; /* receives masked frames and sends unmasked ones */
    struct websocket_protocol_info info;
    struct websocket_callbacks callbacks;
    void *data;
    struct websocket_parser *parser;
    struct strbuf queue; /* frames not yet flushed */

    bool close_sent; /* a close frame is queued or flushed; nothing may follow it */
    bool close_received;
    bool failed;
    char *error_message;
};

int websocket_accept_key(const char *key, char out[WEBSOCKET_ACCEPT_LENGTH + 1], struct error *err)
{
    _cleanup_free_ unsigned char *decoded = NULL;
    size_t decoded_length = 0;
    uint8_t digest[SHA1_DIGEST_LENGTH];

    /* The key is 16 random bytes in base64: 24 characters ending with "==". */
    if (key == NULL || strlen(key) != 24 || base64_decode(key, 24, &decoded, &decoded_length) < 0 ||
        decoded_length != 16)
        return error_set(err, ERROR_INVALID_ARGUMENT, "invalid Sec-WebSocket-Key \"%s\"",
                         key ? key : "");

    _cleanup_free_ char *joined = xasprintf("%s%s", key, WEBSOCKET_GUID);
    sha1_buffer(joined, strlen(joined), digest);
    _cleanup_free_ char *encoded = base64_encode(digest, sizeof(digest));
    snprintf(out, WEBSOCKET_ACCEPT_LENGTH + 1, "%s", encoded);
    return 0;
}

static bool is_supported(const char *protocol, size_t length, const char *const *supported,
                         const char **chosen)
{
    for (size_t i = 0; supported[i] != NULL; i++) {
        if (strlen(supported[i]) == length && strncmp(supported[i], protocol, length) == 0) {
            *chosen = supported[i];
            return true;
        }
    }
    return false;
}

const char *websocket_select_protocol(const char *offered, const char *const *supported)
{
    const char *chosen = NULL;
    bool any = false;

    for (const char *p = offered ? offered : ""; *p != '\0';) {
        const char *end = strchr(p, ',');
        const char *next = end ? end + 1 : p + strlen(p);

        if (end == NULL)
            end = next;
        while (p < end && (*p == ' ' || *p == '\t'))
            p++;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        if (end > p) {
            any = true;
            if (is_supported(p, (size_t)(end - p), supported, &chosen))
                return chosen;
        }
        p = next;
    }
    if (!any && is_supported("", 0, supported, &chosen))
        return chosen;
    return NULL;
}

int websocket_protocol_info(const char *protocol, struct websocket_protocol_info *info)
{
    static const struct {
        const char *name;
        struct websocket_protocol_info info;
    } table[] = {
        {WEBSOCKET_PROTOCOL_V5, {WEBSOCKET_FRAMING_BINARY, 5, true}},
        {WEBSOCKET_PROTOCOL_V4, {WEBSOCKET_FRAMING_BINARY, 4, false}},
        {WEBSOCKET_PROTOCOL_V4_BASE64, {WEBSOCKET_FRAMING_BASE64, 4, false}},
        {WEBSOCKET_PROTOCOL_BASE64, {WEBSOCKET_FRAMING_BASE64, 1, false}},
        {WEBSOCKET_PROTOCOL_V1, {WEBSOCKET_FRAMING_BINARY, 1, false}},
        {"", {WEBSOCKET_FRAMING_BINARY, 1, false}},
        {WEBSOCKET_PROTOCOL_SPDY_TUNNEL, {WEBSOCKET_FRAMING_RAW, 0, false}},
    };

    for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
        if (strcmp(table[i].name, protocol) == 0) {
            *info = table[i].info;
            return 0;
        }
    }
    return -1;
}

/* The masking key of a client frame, or NULL for a server frame. */
static const uint8_t *frame_mask(struct websocket_session *session, uint8_t key[4])
{
    struct error err = ERROR_INIT;

    if (session->server)
        return NULL;
    /* Only the tests and the Windows test client use client sessions, so there is no error path. */
    if (streaming_random_bytes(key, WEBSOCKET_MASK_LENGTH, &err) < 0) {
        fprintf(stderr, "hostcri: no random bytes for a WebSocket masking key: %s\n", err.message);
        abort();
    }
    return key;
}

/* Queues one frame whose payload is prefix followed by payload. Dropped after a close frame. */
static void queue_frame(struct websocket_session *session, uint8_t opcode, const void *prefix,
                        size_t prefix_length, const void *payload, size_t length)
{
    uint8_t key[WEBSOCKET_MASK_LENGTH];
    const uint8_t *mask;

    if (session->close_sent)
        return;
    mask = frame_mask(session, key);
    websocket_frame_write_header(&session->queue, true, opcode, prefix_length + length, mask);
    websocket_frame_write_payload(&session->queue, prefix, prefix_length, mask, 0);
    websocket_frame_write_payload(&session->queue, payload, length, mask, prefix_length);
}

/* Queues a close frame; code 0 sends one without a status code. Nothing is queued after it. */
static void queue_close(struct websocket_session *session, uint16_t code, const char *reason)
{
    uint8_t status[2] = {(uint8_t)(code >> 8), (uint8_t)code};
    size_t reason_length = reason ? strlen(reason) : 0;

    /* The status code and the reason share the 125 bytes of a control frame. */
    if (reason_length > WEBSOCKET_MAX_CONTROL_PAYLOAD - 2)
        reason_length = WEBSOCKET_MAX_CONTROL_PAYLOAD - 2;
    if (code == 0)
        queue_frame(session, WEBSOCKET_OPCODE_CLOSE, NULL, 0, NULL, 0);
    else
        queue_frame(session, WEBSOCKET_OPCODE_CLOSE, status, 2, reason, reason_length);
    session->close_sent = true;
}

/* Records a protocol error and queues close 1002; returns false to stop the parser. */
static bool protocol_error(struct websocket_session *session, const char *message)
{
    if (!session->failed) {
        session->failed = true;
        session->error_message = xstrdup(message);
    }
    queue_close(session, WEBSOCKET_CLOSE_PROTOCOL_ERROR, NULL);
    return false;
}

/* Decodes a base64 text message ('0' + channel, then base64) and passes it on. */
static bool deliver_base64(struct websocket_session *session, const uint8_t *msg, size_t length)
{
    _cleanup_free_ unsigned char *decoded = NULL;
    size_t decoded_length = 0;

    if (length < 1 || msg[0] < '0' || msg[0] > '9')
        return protocol_error(session, "invalid base64 channel message");
    if (base64_decode((const char *)msg + 1, length - 1, &decoded, &decoded_length) < 0)
        return protocol_error(session, "invalid base64 in a channel message");
    session->callbacks.on_message(session->data, (unsigned)(msg[0] - '0'), decoded, decoded_length);
    return true;
}

static bool deliver_binary(struct websocket_session *session, const uint8_t *msg, size_t length)
{
    if (session->info.framing == WEBSOCKET_FRAMING_RAW) {
        session->callbacks.on_message(session->data, 0, msg, length);
        return true;
    }
    /* An empty message carries no channel; the Go servers skip it too. */
    if (length == 0)
        return true;
    if (session->info.close_signal && msg[0] == CLOSE_SIGNAL_CHANNEL) {
        if (length != 2)
            return protocol_error(session, "invalid close signal: expected 2 bytes");
        if (session->callbacks.on_close_signal)
            session->callbacks.on_close_signal(session->data, msg[1]);
        return true;
    }
    session->callbacks.on_message(session->data, msg[0], msg + 1, length - 1);
    return true;
}

static bool on_message_cb(void *data, uint8_t opcode, const uint8_t *payload, size_t length)
{
    struct websocket_session *session = data;

    /* Text messages carry base64 in the base64 framings and raw bytes in the others. */
    if (opcode == WEBSOCKET_OPCODE_TEXT && session->info.framing == WEBSOCKET_FRAMING_BASE64)
        return deliver_base64(session, payload, length);
    return deliver_binary(session, payload, length);
}

/* Status codes a peer may send (RFC 6455 section 7.4): 1000-1003, 1007-1014, 3000-4999. */
static bool is_valid_close_code(uint16_t code)
{
    if (code >= 3000 && code <= 4999)
        return true;
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014);
}

/* A received close frame: echoes its status code once, and stops reading. */
static bool receive_close(struct websocket_session *session, const uint8_t *payload, size_t length)
{
    uint16_t code = 0;

    if (length == 1)
        return protocol_error(session, "close frame with a 1-byte payload");
    if (length >= 2) {
        code = (uint16_t)(payload[0] << 8 | payload[1]);
        if (!is_valid_close_code(code))
            return protocol_error(session, "close frame with an invalid status code");
    }
    session->close_received = true;
    if (!session->close_sent)
        queue_close(session, code, NULL);
    if (session->callbacks.on_close)
        session->callbacks.on_close(session->data,
                                    code ? code : WEBSOCKET_CLOSE_NO_STATUS_RECEIVED);
    return false;
}

static bool on_control_cb(void *data, uint8_t opcode, const uint8_t *payload, size_t length)
{
    struct websocket_session *session = data;

    switch (opcode) {
    case WEBSOCKET_OPCODE_PING:
        queue_frame(session, WEBSOCKET_OPCODE_PONG, NULL, 0, payload, length);
        return true;
    case WEBSOCKET_OPCODE_CLOSE:
        return receive_close(session, payload, length);
    default:
        return true; /* a pong needs no action */
    }
}

static void on_frame_cb(void *data, bool fin, uint8_t opcode, uint64_t payload_length)
{
    struct websocket_session *session = data;

    if (session->callbacks.on_frame)
        session->callbacks.on_frame(session->data, fin, opcode, payload_length);
}

struct websocket_session *
websocket_session_new(bool server, const struct websocket_protocol_info *info, size_t max_message,
                      const struct websocket_callbacks *callbacks, void *data)
{
    static const struct websocket_frame_callbacks frame_callbacks = {
        .on_frame = on_frame_cb,
        .on_message = on_message_cb,
        .on_control = on_control_cb,
    };
    struct websocket_session *session = xcalloc(1, sizeof(*session));

    session->server = server;
    session->info = *info;
    session->callbacks = *callbacks;
    session->data = data;
    session->parser = websocket_parser_new(server, max_message, &frame_callbacks, session);
    return session;
}

void websocket_session_free(struct websocket_session *session)
{
    if (session == NULL)
        return;
    websocket_parser_free(session->parser);
    strbuf_free(&session->queue);
    free(session->error_message);
    free(session);
}

int websocket_session_feed(struct websocket_session *session, const void *data, size_t length,
                           struct error *err)
{
    struct error parse_err = ERROR_INIT;

    if (!session->failed && !session->close_received &&
        websocket_parser_feed(session->parser, data, length, &parse_err) < 0) {
        session->failed = true;
        session->error_message = xstrdup(parse_err.message);
        queue_close(session, websocket_parser_close_code(session->parser), NULL);
        error_clear(&parse_err);
    }
    if (session->failed)
        return error_set(err, ERROR_INVALID_ARGUMENT, "WebSocket protocol error: %s",
                         session->error_message);
    return 0;
}

void websocket_session_send(struct websocket_session *session, unsigned channel, const void *data,
                            size_t length)
{
    uint8_t prefix = (uint8_t)channel;

    switch (session->info.framing) {
    case WEBSOCKET_FRAMING_RAW:
        queue_frame(session, WEBSOCKET_OPCODE_BINARY, NULL, 0, data, length);
        return;
    case WEBSOCKET_FRAMING_BINARY:
        queue_frame(session, WEBSOCKET_OPCODE_BINARY, &prefix, 1, data, length);
        return;
    case WEBSOCKET_FRAMING_BASE64: {
        _cleanup_free_ char *encoded = base64_encode(data, length);

        prefix = (uint8_t)('0' + channel);
        queue_frame(session, WEBSOCKET_OPCODE_TEXT, &prefix, 1, encoded, strlen(encoded));
        return;
    }
    }
}

void websocket_session_close(struct websocket_session *session, uint16_t code, const char *reason)
{
    if (!session->close_sent)
        queue_close(session, code, reason);
}

void websocket_session_flush(struct websocket_session *session, struct strbuf *out)
{
    if (session->queue.length == 0)
        return;
    if (out->length == 0) {
        /* Hand the queue's buffer over instead of copying it. */
        struct strbuf swap = *out;

        *out = session->queue;
        session->queue = swap;
        return;
    }
    strbuf_append(out, session->queue.data, session->queue.length);
    strbuf_reset(&session->queue);
}

bool websocket_session_closing(const struct websocket_session *session)
{
    return session->close_sent || session->close_received;
}

bool websocket_session_close_received(const struct websocket_session *session)
{
    return session->close_received;
}
