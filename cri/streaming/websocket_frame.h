#ifndef HOSTCRI_CRI_STREAMING_WEBSOCKET_FRAME_H
#define HOSTCRI_CRI_STREAMING_WEBSOCKET_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/strbuf.h"

/*
 * The WebSocket frame layer of RFC 6455 (section 5): an incremental parser that reassembles
 * fragmented messages, and frame writers. Extensions are not supported, so every reserved bit
 * must be 0. Text messages are not checked for valid UTF-8: the layers above treat their payload
 * as bytes (channel data or base64).
 */

#define WEBSOCKET_OPCODE_CONTINUATION 0x0
#define WEBSOCKET_OPCODE_TEXT 0x1
#define WEBSOCKET_OPCODE_BINARY 0x2
#define WEBSOCKET_OPCODE_CLOSE 0x8
#define WEBSOCKET_OPCODE_PING 0x9
#define WEBSOCKET_OPCODE_PONG 0xa

/* Maximum payload of a ping, pong or close frame. */
#define WEBSOCKET_MAX_CONTROL_PAYLOAD 125

/* Length of a masking key. */
#define WEBSOCKET_MASK_LENGTH 4

/* Callbacks of a parser. They run from websocket_parser_feed. */
struct websocket_frame_callbacks {
    /* Optional: the header of every frame, control frames and continuations included. */
    void (*on_frame)(void *data, bool fin, uint8_t opcode, uint64_t payload_length);
    /*
     * A whole text or binary message, its fragments joined; opcode is that of its first frame.
     * The payload is valid until the callback returns. Returning false stops the parser: it
     * then ignores all further input.
     */
    bool (*on_message)(void *data, uint8_t opcode, const uint8_t *payload, size_t length);
    /* A ping, pong or close frame, with the same contract as on_message. */
    bool (*on_control)(void *data, uint8_t opcode, const uint8_t *payload, size_t length);
};

struct websocket_parser;

/*
 * Creates a parser. expect_masked true is the server side: every received frame must be masked.
 * false is the client side: no received frame may be masked. A data message longer than
 * max_message bytes in total fails with close code 1009. The callbacks and data are kept.
 */
struct websocket_parser *websocket_parser_new(bool expect_masked, size_t max_message,
                                              const struct websocket_frame_callbacks *callbacks,
                                              void *data);

/* Frees the parser. Safe on NULL. */
void websocket_parser_free(struct websocket_parser *parser);

/*
 * Parses length bytes, which may end anywhere inside a frame, and runs the callbacks for what
 * they complete. Returns 0, also when a callback stopped the parser. Returns -1 with
 * ERROR_INVALID_ARGUMENT when the input breaks the protocol: a reserved bit or unknown opcode,
 * wrong masking, a fragmented or oversized control frame, a continuation without a message or a
 * new message inside a fragmented one (close code 1002), or a message over the maximum (1009).
 * After a failure every later call fails the same way.
 */
int websocket_parser_feed(struct websocket_parser *parser, const uint8_t *data, size_t length,
                          struct error *err);

/* The close code the peer should get for the failure of websocket_parser_feed: 1002 or 1009. */
uint16_t websocket_parser_close_code(const struct websocket_parser *parser);

/*
 * Appends a frame header to out. mask is NULL for an unmasked frame (server to client) or the 4
 * bytes of the masking key (client to server); the payload then follows through
 * websocket_frame_write_payload with the same key.
 */
void websocket_frame_write_header(struct strbuf *out, bool fin, uint8_t opcode,
                                  uint64_t payload_length, const uint8_t *mask);

/*
 * Appends length payload bytes to out, masked with mask unless it is NULL. offset is the
 * position of data within the frame's payload, which selects the key byte to start with.
 */
void websocket_frame_write_payload(struct strbuf *out, const void *data, size_t length,
                                   const uint8_t *mask, uint64_t offset);

/* Appends one whole frame: websocket_frame_write_header, then the payload. */
void websocket_frame_write(struct strbuf *out, bool fin, uint8_t opcode, const void *payload,
                           size_t length, const uint8_t *mask);

#endif
