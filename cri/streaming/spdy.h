#ifndef HOSTCRI_CRI_STREAMING_SPDY_H
#define HOSTCRI_CRI_STREAMING_SPDY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <zlib.h>

#include "common/error.h"
#include "common/strbuf.h"

/*
 * SPDY/3.1 framing as the Kubernetes clients speak it (moby/spdystream): an incremental frame
 * parser, a frame writer, and the zlib header-block compression with the SPDY/3 dictionary.
 * All integers on the wire are big-endian; every frame starts with an 8-byte header.
 */

#define SPDY_VERSION 3
#define SPDY_FRAME_HEADER_LENGTH 8
/* The 24-bit length field limits every frame to this many bytes after its header. */
#define SPDY_MAX_FRAME_LENGTH 0xffffffu

enum spdy_frame_type {
    SPDY_DATA = 0,
    SPDY_SYN_STREAM = 1,
    SPDY_SYN_REPLY = 2,
    SPDY_RST_STREAM = 3,
    SPDY_SETTINGS = 4,
    SPDY_PING = 6,
    SPDY_GOAWAY = 7,
    SPDY_HEADERS = 8,
    SPDY_WINDOW_UPDATE = 9,
};

#define SPDY_FLAG_FIN 0x01
#define SPDY_FLAG_UNIDIRECTIONAL 0x02 /* SYN_STREAM only */
#define SPDY_FLAG_SETTINGS_CLEAR 0x01 /* SETTINGS only */

enum spdy_rst_status {
    SPDY_RST_PROTOCOL_ERROR = 1,
    SPDY_RST_INVALID_STREAM = 2,
    SPDY_RST_REFUSED_STREAM = 3,
    SPDY_RST_UNSUPPORTED_VERSION = 4,
    SPDY_RST_CANCEL = 5,
    SPDY_RST_INTERNAL_ERROR = 6,
    SPDY_RST_FLOW_CONTROL_ERROR = 7,
    SPDY_RST_STREAM_IN_USE = 8,
    SPDY_RST_STREAM_ALREADY_CLOSED = 9,
    SPDY_RST_INVALID_CREDENTIALS = 10,
    SPDY_RST_FRAME_TOO_LARGE = 11,
};

enum spdy_goaway_status {
    SPDY_GOAWAY_OK = 0,
    SPDY_GOAWAY_PROTOCOL_ERROR = 1,
    SPDY_GOAWAY_INTERNAL_ERROR = 2,
};

/*
 * One name/value pair of a header block. Names are lowercase ASCII; a value may hold several
 * values separated by NUL bytes, so it carries its length (value is also NUL-terminated).
 */
struct spdy_header {
    char *name;
    char *value;
    size_t value_length;
};

struct spdy_headers {
    struct spdy_header *items;
    size_t count;
};

/* Frees every pair and resets headers to empty. */
void spdy_headers_clear(struct spdy_headers *headers);

/*
 * Returns the value of the header named name (compared case-insensitively), or NULL. The
 * pointer stays owned by headers. With several NUL-separated values, the C string is the first.
 */
const char *spdy_headers_get(const struct spdy_headers *headers, const char *name);

struct spdy_setting {
    uint8_t flags;
    uint32_t id; /* 24 bits */
    uint32_t value;
};

#define SPDY_MAX_SETTINGS 32

/*
 * A decoded frame. Only the fields of its type are set; the others are zero. data points into
 * the parser's buffer and stays valid until the next call on the parser; headers are owned by
 * the frame (spdy_frame_clear).
 */
struct spdy_frame {
    enum spdy_frame_type type;
    uint16_t version; /* control frames; read but not checked, as spdystream does */
    uint8_t flags;
    uint32_t length; /* bytes after the 8-byte header */

    uint32_t stream_id; /* DATA, SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS, WINDOW_UPDATE */
    uint32_t associated_stream_id; /* SYN_STREAM */
    uint8_t priority;              /* SYN_STREAM, 3 bits */
    uint8_t slot;                  /* SYN_STREAM */
    uint32_t status;               /* RST_STREAM, GOAWAY */
    uint32_t ping_id;              /* PING */
    uint32_t last_good_stream_id;  /* GOAWAY */
    uint32_t delta;                /* WINDOW_UPDATE, 31 bits */

    uint32_t settings_count; /* SETTINGS */
    struct spdy_setting settings[SPDY_MAX_SETTINGS];

    const uint8_t *data; /* DATA payload */
    size_t data_length;

    struct spdy_headers headers; /* SYN_STREAM, SYN_REPLY, HEADERS */
    size_t compressed_length;    /* size of the header block on the wire */
    size_t headers_raw_length;   /* size of the header block after inflating */
};

/* Frees what the frame owns and zeroes it. */
void spdy_frame_clear(struct spdy_frame *frame);

/* Returns the name of a frame type ("SYN_STREAM"), or "UNKNOWN". */
const char *spdy_frame_type_name(enum spdy_frame_type type);

/* Returns the name of an RST_STREAM status ("CANCEL"), or "UNKNOWN". */
const char *spdy_rst_status_name(uint32_t status);

/* Returns the name of a GOAWAY status ("OK"), or "UNKNOWN". */
const char *spdy_goaway_status_name(uint32_t status);

/* Limits the parser enforces; a frame over a limit is a connection error. */
struct spdy_limits {
    size_t max_data_length;    /* payload of one DATA frame */
    size_t max_control_length; /* payload of one control frame, compressed block included */
    size_t max_header_block;   /* inflated size of one header block */
    size_t max_header_count;   /* pairs in one header block */
};

/* 1 MiB frames (client-go writes at most 32 KiB at a time), 64 KiB header blocks, 64 pairs. */
extern const struct spdy_limits spdy_default_limits;

/*
 * Incremental parser for one direction of one connection. It owns the inflate stream of that
 * direction, which SYN_STREAM, SYN_REPLY and HEADERS share for the whole connection.
 */
struct spdy_parser {
    struct spdy_limits limits;
    struct strbuf input;
    size_t offset; /* start of the first unparsed byte in input */
    z_stream inflate;
    bool inflate_ready;
    bool failed;
    struct strbuf block; /* inflated header block, reused */
};

/* Initializes a parser; limits NULL means spdy_default_limits. */
void spdy_parser_init(struct spdy_parser *parser, const struct spdy_limits *limits);

void spdy_parser_free(struct spdy_parser *parser);

/* Appends received bytes; frames may arrive split at any byte. */
void spdy_parser_feed(struct spdy_parser *parser, const void *data, size_t length);

/*
 * Decodes the next complete frame into *frame (cleared first). Returns 1 with a frame, 0 when
 * more bytes are needed, or -1 with err set on a protocol error (unknown control type, frame
 * over a limit, malformed or undecompressible header block). After -1 the connection is
 * unusable and every later call returns -1.
 */
int spdy_parser_next(struct spdy_parser *parser, struct spdy_frame *frame, struct error *err);

/* Number of received bytes that do not yet form a whole frame. */
size_t spdy_parser_pending(const struct spdy_parser *parser);

/*
 * The sending side of one direction: the deflate stream that every header block written on the
 * connection shares. The spdy_write_* functions append whole frames to out.
 */
struct spdy_writer {
    z_stream deflate;
    bool deflate_ready;
};

void spdy_writer_init(struct spdy_writer *writer);
void spdy_writer_free(struct spdy_writer *writer);

/*
 * Appends DATA frames carrying length bytes on stream_id. Payloads longer than
 * SPDY_DATA_CHUNK are split over several frames; flags (FIN) go on the last one only.
 */
void spdy_write_data(struct strbuf *out, uint32_t stream_id, uint8_t flags, const void *data,
                     size_t length);

#define SPDY_DATA_CHUNK 65536

void spdy_write_syn_stream(struct spdy_writer *writer, struct strbuf *out, uint32_t stream_id,
                           uint32_t associated_stream_id, uint8_t priority, uint8_t flags,
                           const struct spdy_header *headers, size_t count);
void spdy_write_syn_reply(struct spdy_writer *writer, struct strbuf *out, uint32_t stream_id,
                          uint8_t flags, const struct spdy_header *headers, size_t count);
void spdy_write_headers(struct spdy_writer *writer, struct strbuf *out, uint32_t stream_id,
                        uint8_t flags, const struct spdy_header *headers, size_t count);
void spdy_write_rst_stream(struct strbuf *out, uint32_t stream_id, uint32_t status);
void spdy_write_settings(struct strbuf *out, uint8_t flags, const struct spdy_setting *settings,
                         size_t count);
void spdy_write_ping(struct strbuf *out, uint32_t ping_id);
void spdy_write_goaway(struct strbuf *out, uint32_t last_good_stream_id, uint32_t status);
void spdy_write_window_update(struct strbuf *out, uint32_t stream_id, uint32_t delta);

#endif
