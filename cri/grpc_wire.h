#ifndef HOSTCRI_CRI_GRPC_WIRE_H
#define HOSTCRI_CRI_GRPC_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/strbuf.h"

/*
 * The gRPC-over-HTTP/2 wire rules that do not depend on a connection: message framing,
 * grpc-timeout values and grpc-message encoding. Pure functions, unit tested.
 */

/* Length of the prefix in front of every gRPC message: 1 flag byte, 4 length bytes. */
#define GRPC_PREFIX_SIZE 5

/* Longest grpc-timeout value that the protocol allows: 8 digits. */
#define GRPC_TIMEOUT_MAX_DIGITS 8

/*
 * Incremental reader of the length-prefixed messages of one request body. Feed it the DATA
 * bytes as they arrive; it rejects a message over the limit from its prefix, before buffering
 * the message, and a compressed message as soon as its flag byte arrives.
 */
struct grpc_reader {
    size_t max_message_size;
    uint8_t prefix[GRPC_PREFIX_SIZE];
    size_t prefix_length;  /* bytes of the current prefix received so far */
    size_t message_length; /* length from the current prefix */
    struct strbuf message; /* body of the message being received */
    unsigned messages;     /* complete messages received */
    struct strbuf first;   /* body of the first complete message */
};

void grpc_reader_init(struct grpc_reader *reader, size_t max_message_size);
void grpc_reader_free(struct grpc_reader *reader);

/*
 * Consumes length bytes of the request body. The first complete message is kept in
 * reader->first; later messages are counted and dropped (a unary call takes exactly one).
 * Returns 0, or -1 with RESOURCE_EXHAUSTED (message over the limit) or UNIMPLEMENTED
 * (compressed message) in err; after an error the reader accepts no more data.
 */
int grpc_reader_feed(struct grpc_reader *reader, const uint8_t *data, size_t length,
                     struct error *err);

/* True when the body ended in the middle of a message (a truncated request). */
int grpc_reader_has_partial(const struct grpc_reader *reader);

/* Writes the 5-byte prefix of an uncompressed message of the given length. */
void grpc_write_prefix(uint8_t prefix[GRPC_PREFIX_SIZE], uint32_t length);

/*
 * Parses a grpc-timeout value ("<1-8 digits><unit>", unit one of H M S m u n) into
 * nanoseconds, saturating at UINT64_MAX. Returns 0, or -1 for a malformed value.
 */
int grpc_timeout_parse(const char *value, size_t length, uint64_t *timeout_ns);

/*
 * Appends message percent-encoded as the grpc-message trailer requires: bytes outside
 * printable ASCII (0x20-0x7e) and '%' become %XX.
 */
void grpc_percent_encode(struct strbuf *out, const char *message);

/* Decodes a percent-encoded grpc-message (the inverse, lenient about malformed escapes). */
void grpc_percent_decode(struct strbuf *out, const char *value, size_t length);

/* True when a content-type header value names the gRPC protobuf encoding. */
int grpc_content_type_is_valid(const char *value, size_t length);

#endif
