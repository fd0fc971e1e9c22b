/*
 * WebSocket handshake helpers and the channel session on top of libwslay's event API. wslay
 * reads through a callback, so feeding bytes sets them as the pending input and runs
 * wslay_event_recv until that callback reports WOULDBLOCK.
 */
#include "cri/streaming/websocket.h"

/* A build without libwslay (the Windows prefix for now) has no WebSocket transport. */
#ifdef HOSTCRI_STREAMING_WEBSOCKET

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/sha.h>
#include <wslay/wslay.h>

#include "common/util.h"
#include "cri/streaming/random.h"

#define WEBSOCKET_GUID "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
#define CLOSE_SIGNAL_CHANNEL 255

struct websocket_session {
    wslay_event_context_ptr ctx;
    struct websocket_protocol_info info;
    struct websocket_callbacks callbacks;
    void *data;

    const uint8_t *input; /* bytes of the current feed call */
    size_t input_length;
    struct strbuf *output; /* target of the current flush call */

    bool close_queued;
    /* A close requested by websocket_session_close goes to wslay only after the data that was
     * queued before it, because wslay sends control frames ahead of queued messages. */
    bool close_pending;
    uint16_t close_code;
    char *close_reason;
    bool protocol_error;
    char *error_message;
};

int websocket_accept_key(const char *key, char out[WEBSOCKET_ACCEPT_LENGTH + 1], struct error *err)
{
    unsigned char decoded[32];
    unsigned char digest[SHA_DIGEST_LENGTH];
    size_t key_length = key ? strlen(key) : 0;

    /* 16 random bytes in base64 are 24 characters ending with "==". */
    if (key_length != 24 || key[22] != '=' || key[23] != '=' ||
        EVP_DecodeBlock(decoded, (const unsigned char *)key, 24) != 18)
        return error_set(err, ERROR_INVALID_ARGUMENT, "invalid Sec-WebSocket-Key \"%s\"",
                         key ? key : "");

    _cleanup_free_ char *joined = xasprintf("%s%s", key, WEBSOCKET_GUID);
    SHA1((const unsigned char *)joined, strlen(joined), digest);
    EVP_EncodeBlock((unsigned char *)out, digest, sizeof(digest));
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

static ssize_t recv_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags,
                       void *user_data)
{
    struct websocket_session *session = user_data;
    size_t n = len < session->input_length ? len : session->input_length;

    if (n == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    memcpy(buf, session->input, n);
    session->input += n;
    session->input_length -= n;
    return (ssize_t)n;
}

static ssize_t send_cb(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user_data)
{
    struct websocket_session *session = user_data;

    if (session->output == NULL) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    strbuf_append(session->output, data, len);
    return (ssize_t)len;
}

static int genmask_cb(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user_data)
{
    struct error err = ERROR_INIT;

    if (streaming_random_bytes(buf, len, &err) < 0) {
        error_clear(&err);
        return -1;
    }
    return 0;
}

static void frame_start_cb(wslay_event_context_ptr ctx,
                           const struct wslay_event_on_frame_recv_start_arg *arg, void *user_data)
{
    struct websocket_session *session = user_data;

    if (session->callbacks.on_frame)
        session->callbacks.on_frame(session->data, arg->fin, arg->opcode, arg->payload_length);
}

/* Marks a protocol error; the close frame goes out with the next flush. */
static void protocol_error(struct websocket_session *session, const char *message)
{
    if (!session->protocol_error) {
        session->protocol_error = true;
        session->error_message = xstrdup(message);
    }
    wslay_event_queue_close(session->ctx, WEBSOCKET_CLOSE_PROTOCOL_ERROR, NULL, 0);
    wslay_event_shutdown_read(session->ctx);
    session->close_queued = true;
}

/* Decodes a base64 text message ('0' + channel, then base64) and passes it on. */
static void deliver_base64(struct websocket_session *session, const uint8_t *msg, size_t length)
{
    if (length < 1 || msg[0] < '0' || msg[0] > '9' || (length - 1) % 4 != 0) {
        protocol_error(session, "invalid base64 channel message");
        return;
    }

    size_t text_length = length - 1;
    _cleanup_free_ uint8_t *decoded = xmalloc(text_length / 4 * 3 + 1);
    int n = EVP_DecodeBlock(decoded, msg + 1, (int)text_length);
    if (n < 0) {
        protocol_error(session, "invalid base64 in a channel message");
        return;
    }
    /* EVP_DecodeBlock counts padding characters as zero bytes. */
    for (size_t i = text_length; i > 0 && msg[i] == '='; i--)
        n--;
    session->callbacks.on_message(session->data, (unsigned)(msg[0] - '0'), decoded, (size_t)n);
}

static void deliver_binary(struct websocket_session *session, const uint8_t *msg, size_t length)
{
    if (session->info.framing == WEBSOCKET_FRAMING_RAW) {
        session->callbacks.on_message(session->data, 0, msg, length);
        return;
    }
    /* An empty message carries no channel; the Go servers skip it too. */
    if (length == 0)
        return;
    if (session->info.close_signal && msg[0] == CLOSE_SIGNAL_CHANNEL) {
        if (length != 2) {
            protocol_error(session, "invalid close signal: expected 2 bytes");
            return;
        }
        if (session->callbacks.on_close_signal)
            session->callbacks.on_close_signal(session->data, msg[1]);
        return;
    }
    session->callbacks.on_message(session->data, msg[0], msg + 1, length - 1);
}

static void msg_recv_cb(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *arg,
                        void *user_data)
{
    struct websocket_session *session = user_data;

    if (session->protocol_error)
        return;
    switch (arg->opcode) {
    case WSLAY_TEXT_FRAME:
        if (session->info.framing == WEBSOCKET_FRAMING_BASE64)
            deliver_base64(session, arg->msg, arg->msg_length);
        else
            deliver_binary(session, arg->msg, arg->msg_length);
        break;
    case WSLAY_BINARY_FRAME:
        deliver_binary(session, arg->msg, arg->msg_length);
        break;
    case WSLAY_CONNECTION_CLOSE:
        if (session->callbacks.on_close)
            session->callbacks.on_close(session->data, arg->status_code);
        break;
    default:
        /* wslay replies to pings itself; pongs need no action. */
        break;
    }
}

struct websocket_session *
websocket_session_new(bool server, const struct websocket_protocol_info *info, size_t max_message,
                      const struct websocket_callbacks *callbacks, void *data)
{
    static const struct wslay_event_callbacks wslay_callbacks = {
        .recv_callback = recv_cb,
        .send_callback = send_cb,
        .genmask_callback = genmask_cb,
        .on_frame_recv_start_callback = frame_start_cb,
        .on_msg_recv_callback = msg_recv_cb,
    };
    struct websocket_session *session = xcalloc(1, sizeof(*session));
    int rc;

    session->info = *info;
    session->callbacks = *callbacks;
    session->data = data;
    if (server)
        rc = wslay_event_context_server_init(&session->ctx, &wslay_callbacks, session);
    else
        rc = wslay_event_context_client_init(&session->ctx, &wslay_callbacks, session);
    if (rc != 0)
        abort(); /* WSLAY_ERR_NOMEM is the only failure */
    wslay_event_config_set_max_recv_msg_length(session->ctx, max_message);
    return session;
}

void websocket_session_free(struct websocket_session *session)
{
    if (session == NULL)
        return;
    wslay_event_context_free(session->ctx);
    free(session->error_message);
    free(session->close_reason);
    free(session);
}

int websocket_session_feed(struct websocket_session *session, const void *data, size_t length,
                           struct error *err)
{
    session->input = data;
    session->input_length = length;
    while (session->input_length > 0 && wslay_event_get_read_enabled(session->ctx) &&
           !session->protocol_error) {
        if (wslay_event_recv(session->ctx) != 0) {
            protocol_error(session, "WebSocket read failed");
            break;
        }
    }
    session->input = NULL;
    session->input_length = 0;

    if (session->protocol_error)
        return error_set(err, ERROR_INVALID_ARGUMENT, "WebSocket protocol error: %s",
                         session->error_message);
    /* wslay stops reading after a protocol violation (unmasked frame, oversized message). */
    if (!wslay_event_get_read_enabled(session->ctx) &&
        !wslay_event_get_close_received(session->ctx)) {
        uint16_t code = wslay_event_get_status_code_sent(session->ctx);

        return error_set(err, ERROR_INVALID_ARGUMENT, "WebSocket protocol error (close code %u)",
                         code);
    }
    return 0;
}

static void queue(struct websocket_session *session, uint8_t opcode, const uint8_t *msg,
                  size_t length)
{
    struct wslay_event_msg arg = {.opcode = opcode, .msg = msg, .msg_length = length};

    /* Fails only after the close frame was queued; later output is dropped on purpose. */
    if (!session->close_queued)
        (void)wslay_event_queue_msg(session->ctx, &arg);
}

void websocket_session_send(struct websocket_session *session, unsigned channel, const void *data,
                            size_t length)
{
    _cleanup_free_ uint8_t *message = NULL;

    switch (session->info.framing) {
    case WEBSOCKET_FRAMING_RAW:
        queue(session, WSLAY_BINARY_FRAME, data, length);
        return;
    case WEBSOCKET_FRAMING_BINARY:
        message = xmalloc(length + 1);
        message[0] = (uint8_t)channel;
        if (length > 0)
            memcpy(message + 1, data, length);
        queue(session, WSLAY_BINARY_FRAME, message, length + 1);
        return;
    case WEBSOCKET_FRAMING_BASE64:
        message = xmalloc(2 + (length + 2) / 3 * 4);
        message[0] = (uint8_t)('0' + channel);
        int n = length > 0 ? EVP_EncodeBlock(message + 1, data, (int)length) : 0;
        queue(session, WSLAY_TEXT_FRAME, message, (size_t)n + 1);
        return;
    }
}

void websocket_session_close(struct websocket_session *session, uint16_t code, const char *reason)
{
    if (session->close_queued)
        return;
    session->close_queued = true;
    session->close_pending = true;
    session->close_code = code;
    session->close_reason = xstrdup(reason ? reason : "");
}

void websocket_session_flush(struct websocket_session *session, struct strbuf *out)
{
    session->output = out;
    while (wslay_event_want_write(session->ctx)) {
        if (wslay_event_send(session->ctx) != 0)
            break;
    }
    if (session->close_pending) {
        session->close_pending = false;
        (void)wslay_event_queue_close(session->ctx, session->close_code,
                                      (const uint8_t *)session->close_reason,
                                      strlen(session->close_reason));
        while (wslay_event_want_write(session->ctx)) {
            if (wslay_event_send(session->ctx) != 0)
                break;
        }
    }
    session->output = NULL;
}

bool websocket_session_closing(const struct websocket_session *session)
{
    return session->close_queued || wslay_event_get_close_received(session->ctx) ||
           wslay_event_get_close_sent(session->ctx);
}

bool websocket_session_close_received(const struct websocket_session *session)
{
    return wslay_event_get_close_received(session->ctx);
}

#endif
