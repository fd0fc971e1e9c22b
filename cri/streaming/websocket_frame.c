/*
 * The WebSocket frame parser and writers, from RFC 6455 section 5. A frame header is 2 bytes,
 * then a 16-bit or 64-bit extended length when the 7-bit length is 126 or 127, then the 4-byte
 * masking key when the mask bit is set. The parser collects the header byte by byte, then copies
 * (and unmasks) the payload into the message or control buffer, so input may be split anywhere.
 */
#include "cri/streaming/websocket_frame.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "cri/streaming/websocket.h"

#define HEADER_MAX_LENGTH 14 /* 2 + 8-byte length + 4-byte key */
#define FIN_BIT 0x80
#define RESERVED_BITS 0x70
#define OPCODE_BITS 0x0f
#define MASK_BIT 0x80
#define LENGTH_BITS 0x7f
#define LENGTH_16 126
#define LENGTH_64 127

enum parser_state {
    PARSER_HEADER,
    PARSER_PAYLOAD,
    PARSER_STOPPED, /* a callback stopped it; input is ignored */
    PARSER_FAILED,
};

struct websocket_parser {
    bool expect_masked;
    size_t max_message;
    struct websocket_frame_callbacks callbacks;
    void *data;
    enum parser_state state;

    uint8_t header[HEADER_MAX_LENGTH];
    size_t header_received;
    size_t header_length; /* 2 until the first 2 bytes tell the whole length */

    /* The frame whose payload is arriving. */
    bool fin;
    uint8_t opcode;
    bool masked;
    uint8_t mask[WEBSOCKET_MASK_LENGTH];
    uint64_t payload_length;
    uint64_t payload_received;

    /* The data message being reassembled: message_opcode is 0 between messages. */
    uint8_t message_opcode;
    struct strbuf message;
    uint8_t control[WEBSOCKET_MAX_CONTROL_PAYLOAD];

    uint16_t close_code;
    char *error_message;
};

struct websocket_parser *websocket_parser_new(bool expect_masked, size_t max_message,
                                              const struct websocket_frame_callbacks *callbacks,
                                              void *data)
{
    struct websocket_parser *parser = xcalloc(1, sizeof(*parser));

    parser->expect_masked = expect_masked;
    parser->max_message = max_message;
    parser->callbacks = *callbacks;
    parser->data = data;
    parser->state = PARSER_HEADER;
    parser->header_length = 2;
    return parser;
}

void websocket_parser_free(struct websocket_parser *parser)
{
    if (parser == NULL)
        return;
    strbuf_free(&parser->message);
    free(parser->error_message);
    free(parser);
}

uint16_t websocket_parser_close_code(const struct websocket_parser *parser)
{
    return parser->close_code;
}

static int fail(struct websocket_parser *parser, uint16_t close_code, const char *message,
                struct error *err)
{
    parser->state = PARSER_FAILED;
    parser->close_code = close_code;
    parser->error_message = xstrdup(message);
    strbuf_free(&parser->message);
    return error_set(err, ERROR_INVALID_ARGUMENT, "%s", message);
}

static bool is_control(uint8_t opcode)
{
    return (opcode & 0x08) != 0;
}

static bool is_known_opcode(uint8_t opcode)
{
    switch (opcode) {
    case WEBSOCKET_OPCODE_CONTINUATION:
    case WEBSOCKET_OPCODE_TEXT:
    case WEBSOCKET_OPCODE_BINARY:
    case WEBSOCKET_OPCODE_CLOSE:
    case WEBSOCKET_OPCODE_PING:
    case WEBSOCKET_OPCODE_PONG:
        return true;
    default:
        return false;
    }
}

/* Checks the first 2 header bytes and sets the full header length. */
static int check_first_bytes(struct websocket_parser *parser, struct error *err)
{
    uint8_t first = parser->header[0];
    uint8_t second = parser->header[1];
    uint8_t opcode = first & OPCODE_BITS;
    uint8_t length7 = second & LENGTH_BITS;
    bool masked = (second & MASK_BIT) != 0;

    if ((first & RESERVED_BITS) != 0)
        return fail(parser, WEBSOCKET_CLOSE_PROTOCOL_ERROR,
                    "reserved bits set without a negotiated extension", err);
    if (!is_known_opcode(opcode))
        return fail(parser, WEBSOCKET_CLOSE_PROTOCOL_ERROR, "unknown opcode", err);
    if (masked != parser->expect_masked)
        return fail(parser, WEBSOCKET_CLOSE_PROTOCOL_ERROR,
                    parser->expect_masked ? "unmasked frame from a client"
                                          : "masked frame from a server",
                    err);
    if (is_control(opcode) && (first & FIN_BIT) == 0)
        return fail(parser, WEBSOCKET_CLOSE_PROTOCOL_ERROR, "fragmented control frame", err);
    if (is_control(opcode) && length7 > WEBSOCKET_MAX_CONTROL_PAYLOAD)
        return fail(parser, WEBSOCKET_CLOSE_PROTOCOL_ERROR, "control frame payload over 125 bytes",
                    err);
    if (opcode == WEBSOCKET_OPCODE_CONTINUATION && parser->message_opcode == 0)
        return fail(parser, WEBSOCKET_CLOSE_PROTOCOL_ERROR, "continuation frame without a message",
                    err);
    if ((opcode == WEBSOCKET_OPCODE_TEXT || opcode == WEBSOCKET_OPCODE_BINARY) &&
        parser->message_opcode != 0)
        return fail(parser, WEBSOCKET_CLOSE_PROTOCOL_ERROR,
                    "new message inside a fragmented message", err);

    parser->header_length = 2 + (masked ? WEBSOCKET_MASK_LENGTH : 0);
    if (length7 == LENGTH_16)
        parser->header_length += 2;
    else if (length7 == LENGTH_64)
        parser->header_length += 8;
    return 0;
}

/* Decodes the complete header into the frame fields and checks the lengths. */
static int decode_header(struct websocket_parser *parser, struct error *err)
{
    const uint8_t *h = parser->header;
    uint8_t length7 = h[1] & LENGTH_BITS;
    size_t pos = 2;

    parser->fin = (h[0] & FIN_BIT) != 0;
    parser->opcode = h[0] & OPCODE_BITS;
    parser->masked = (h[1] & MASK_BIT) != 0;
    parser->payload_length = length7;
    if (length7 == LENGTH_16) {
        parser->payload_length = (uint64_t)h[2] << 8 | h[3];
        pos = 4;
    } else if (length7 == LENGTH_64) {
        parser->payload_length = 0;
        for (size_t i = 0; i < 8; i++)
            parser->payload_length = parser->payload_length << 8 | h[2 + i];
        pos = 10;
        if (parser->payload_length >> 63)
            return fail(parser, WEBSOCKET_CLOSE_PROTOCOL_ERROR,
                        "payload length with the most significant bit set", err);
    }
    if (parser->masked)
        memcpy(parser->mask, h + pos, WEBSOCKET_MASK_LENGTH);

    if (!is_control(parser->opcode) &&
        parser->payload_length > parser->max_message - parser->message.length)
        return fail(parser, WEBSOCKET_CLOSE_TOO_BIG, "message longer than the maximum", err);
    if (parser->opcode == WEBSOCKET_OPCODE_TEXT || parser->opcode == WEBSOCKET_OPCODE_BINARY)
        parser->message_opcode = parser->opcode;
    parser->payload_received = 0;
    return 0;
}

/* Runs the callback for a completed frame. Returns false when the callback stopped parsing. */
static bool finish_frame(struct websocket_parser *parser)
{
    const struct websocket_frame_callbacks *cb = &parser->callbacks;
    bool keep_going = true;

    if (is_control(parser->opcode)) {
        if (cb->on_control)
            keep_going = cb->on_control(parser->data, parser->opcode, parser->control,
                                        (size_t)parser->payload_length);
    } else if (parser->fin) {
        uint8_t opcode = parser->message_opcode;
        const char *payload = parser->message.data ? parser->message.data : "";

        parser->message_opcode = 0;
        if (cb->on_message)
            keep_going = cb->on_message(parser->data, opcode, (const uint8_t *)payload,
                                        parser->message.length);
        strbuf_reset(&parser->message);
    }
    parser->state = keep_going ? PARSER_HEADER : PARSER_STOPPED;
    parser->header_received = 0;
    parser->header_length = 2;
    return keep_going;
}

/* Consumes header bytes; returns the number used, or -1 on a protocol error. */
static ssize_t feed_header(struct websocket_parser *parser, const uint8_t *data, size_t length,
                           struct error *err)
{
    size_t used = 0;

    while (used < length && parser->header_received < parser->header_length) {
        parser->header[parser->header_received++] = data[used++];
        if (parser->header_received == 2 && check_first_bytes(parser, err) < 0)
            return -1;
    }
    if (parser->header_received < parser->header_length)
        return (ssize_t)used;
    if (decode_header(parser, err) < 0)
        return -1;
    if (parser->callbacks.on_frame)
        parser->callbacks.on_frame(parser->data, parser->fin, parser->opcode,
                                   parser->payload_length);
    parser->state = PARSER_PAYLOAD;
    return (ssize_t)used;
}

/* Copies payload bytes into the message or control buffer, unmasking them. */
static size_t feed_payload(struct websocket_parser *parser, const uint8_t *data, size_t length)
{
    uint64_t remaining = parser->payload_length - parser->payload_received;
    size_t n = remaining < length ? (size_t)remaining : length;
    uint8_t *target;

    if (is_control(parser->opcode)) {
        target = parser->control + parser->payload_received;
    } else {
        strbuf_reserve(&parser->message, n);
        target = (uint8_t *)parser->message.data + parser->message.length;
        parser->message.length += n;
        parser->message.data[parser->message.length] = '\0';
    }
    if (parser->masked) {
        for (size_t i = 0; i < n; i++)
            target[i] = data[i] ^ parser->mask[(parser->payload_received + i) & 3];
    } else if (n > 0) {
        memcpy(target, data, n);
    }
    parser->payload_received += n;
    return n;
}

int websocket_parser_feed(struct websocket_parser *parser, const uint8_t *data, size_t length,
                          struct error *err)
{
    size_t pos = 0;

    if (parser->state == PARSER_FAILED)
        return error_set(err, ERROR_INVALID_ARGUMENT, "%s", parser->error_message);
    while (parser->state != PARSER_STOPPED) {
        if (parser->state == PARSER_HEADER) {
            if (pos == length)
                break;
            ssize_t used = feed_header(parser, data + pos, length - pos, err);
            if (used < 0)
                return -1;
            pos += (size_t)used;
            continue;
        }
        pos += feed_payload(parser, data + pos, length - pos);
        if (parser->payload_received < parser->payload_length)
            break;
        finish_frame(parser);
    }
    return 0;
}

void websocket_frame_write_header(struct strbuf *out, bool fin, uint8_t opcode,
                                  uint64_t payload_length, const uint8_t *mask)
{
    uint8_t header[HEADER_MAX_LENGTH];
    size_t pos = 2;

    header[0] = (uint8_t)((fin ? FIN_BIT : 0) | (opcode & OPCODE_BITS));
    header[1] = mask ? MASK_BIT : 0;
    if (payload_length < LENGTH_16) {
        header[1] |= (uint8_t)payload_length;
    } else if (payload_length <= 0xffff) {
        header[1] |= LENGTH_16;
        header[2] = (uint8_t)(payload_length >> 8);
        header[3] = (uint8_t)payload_length;
        pos = 4;
    } else {
        header[1] |= LENGTH_64;
        for (size_t i = 0; i < 8; i++)
            header[2 + i] = (uint8_t)(payload_length >> (56 - 8 * i));
        pos = 10;
    }
    if (mask) {
        memcpy(header + pos, mask, WEBSOCKET_MASK_LENGTH);
        pos += WEBSOCKET_MASK_LENGTH;
    }
    strbuf_append(out, header, pos);
}

void websocket_frame_write_payload(struct strbuf *out, const void *data, size_t length,
                                   const uint8_t *mask, uint64_t offset)
{
    const uint8_t *bytes = data;

    if (length == 0)
        return;
    if (mask == NULL) {
        strbuf_append(out, data, length);
        return;
    }
    strbuf_reserve(out, length);
    uint8_t *target = (uint8_t *)out->data + out->length;
    for (size_t i = 0; i < length; i++)
        target[i] = bytes[i] ^ mask[(offset + i) & 3];
    out->length += length;
    out->data[out->length] = '\0';
}

void websocket_frame_write(struct strbuf *out, bool fin, uint8_t opcode, const void *payload,
                           size_t length, const uint8_t *mask)
{
    websocket_frame_write_header(out, fin, opcode, length, mask);
    websocket_frame_write_payload(out, payload, length, mask, 0);
}
