/*
 * SPDY/3.1 frame parser and writer. The parser buffers received bytes and decodes whole frames,
 * because Go peers write each frame field with its own system call and frames arrive split at
 * any byte.
 */
#include "cri/streaming/spdy.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "cri/streaming/spdy_headers.h"

const struct spdy_limits spdy_default_limits = {
    .max_data_length = 1024 * 1024,
    .max_control_length = 1024 * 1024,
    .max_header_block = 64 * 1024,
    .max_header_count = 64,
};

void spdy_frame_clear(struct spdy_frame *frame)
{
    spdy_headers_clear(&frame->headers);
    memset(frame, 0, sizeof(*frame));
}

const char *spdy_frame_type_name(enum spdy_frame_type type)
{
    switch (type) {
    case SPDY_DATA:
        return "DATA";
    case SPDY_SYN_STREAM:
        return "SYN_STREAM";
    case SPDY_SYN_REPLY:
        return "SYN_REPLY";
    case SPDY_RST_STREAM:
        return "RST_STREAM";
    case SPDY_SETTINGS:
        return "SETTINGS";
    case SPDY_PING:
        return "PING";
    case SPDY_GOAWAY:
        return "GOAWAY";
    case SPDY_HEADERS:
        return "HEADERS";
    case SPDY_WINDOW_UPDATE:
        return "WINDOW_UPDATE";
    }
    return "UNKNOWN";
}

const char *spdy_rst_status_name(uint32_t status)
{
    static const char *const names[] = {
        [SPDY_RST_PROTOCOL_ERROR] = "PROTOCOL_ERROR",
        [SPDY_RST_INVALID_STREAM] = "INVALID_STREAM",
        [SPDY_RST_REFUSED_STREAM] = "REFUSED_STREAM",
        [SPDY_RST_UNSUPPORTED_VERSION] = "UNSUPPORTED_VERSION",
        [SPDY_RST_CANCEL] = "CANCEL",
        [SPDY_RST_INTERNAL_ERROR] = "INTERNAL_ERROR",
        [SPDY_RST_FLOW_CONTROL_ERROR] = "FLOW_CONTROL_ERROR",
        [SPDY_RST_STREAM_IN_USE] = "STREAM_IN_USE",
        [SPDY_RST_STREAM_ALREADY_CLOSED] = "STREAM_ALREADY_CLOSED",
        [SPDY_RST_INVALID_CREDENTIALS] = "INVALID_CREDENTIALS",
        [SPDY_RST_FRAME_TOO_LARGE] = "FRAME_TOO_LARGE",
    };

    if (status < ARRAY_SIZE(names) && names[status] != NULL)
        return names[status];
    return "UNKNOWN";
}

const char *spdy_goaway_status_name(uint32_t status)
{
    static const char *const names[] = {"OK", "PROTOCOL_ERROR", "INTERNAL_ERROR"};

    return status < ARRAY_SIZE(names) ? names[status] : "UNKNOWN";
}

static uint32_t read_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t read_u24(const uint8_t *p)
{
    return (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
}

void spdy_parser_init(struct spdy_parser *parser, const struct spdy_limits *limits)
{
    memset(parser, 0, sizeof(*parser));
    parser->limits = limits ? *limits : spdy_default_limits;
}

void spdy_parser_free(struct spdy_parser *parser)
{
    spdy_headers_free_streams(parser, NULL);
    strbuf_free(&parser->input);
    strbuf_free(&parser->block);
}

void spdy_parser_feed(struct spdy_parser *parser, const void *data, size_t length)
{
    /* Drop consumed bytes before growing, so the buffer stays about one frame long. */
    if (parser->offset > 0 && parser->offset >= parser->input.length / 2) {
        strbuf_consume(&parser->input, parser->offset);
        parser->offset = 0;
    }
    strbuf_append(&parser->input, data, length);
}

size_t spdy_parser_pending(const struct spdy_parser *parser)
{
    return parser->input.length - parser->offset;
}

static int fail(struct spdy_parser *parser, struct error *err)
{
    parser->failed = true;
    return -1;
}

static int expect_length(const struct spdy_frame *frame, uint32_t expected, struct error *err)
{
    if (frame->length != expected)
        return error_set(err, ERROR_INVALID_ARGUMENT, "SPDY %s frame has length %u, expected %u",
                         spdy_frame_type_name(frame->type), frame->length, expected);
    return 0;
}

static int expect_min_length(const struct spdy_frame *frame, uint32_t minimum, struct error *err)
{
    if (frame->length < minimum)
        return error_set(err, ERROR_INVALID_ARGUMENT, "SPDY %s frame has length %u, less than %u",
                         spdy_frame_type_name(frame->type), frame->length, minimum);
    return 0;
}

static int decode_block(struct spdy_parser *parser, struct spdy_frame *frame, const uint8_t *block,
                        size_t length, struct error *err)
{
    frame->compressed_length = length;
    if (spdy_headers_decode(parser, block, length, &frame->headers, &frame->headers_raw_length,
                            err) < 0)
        return error_prefix(err, "SPDY %s stream %u", spdy_frame_type_name(frame->type),
                            frame->stream_id);
    return 0;
}

static int decode_settings(struct spdy_frame *frame, const uint8_t *p, struct error *err)
{
    if (expect_min_length(frame, 4, err) < 0)
        return -1;
    frame->settings_count = read_u32(p);
    if (frame->settings_count > SPDY_MAX_SETTINGS)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "SPDY SETTINGS frame has %u entries, more than the limit of %d",
                         frame->settings_count, SPDY_MAX_SETTINGS);
    if (expect_length(frame, 4 + 8 * frame->settings_count, err) < 0)
        return -1;
    for (uint32_t i = 0; i < frame->settings_count; i++) {
        const uint8_t *entry = p + 4 + 8 * i;

        frame->settings[i].flags = entry[0];
        frame->settings[i].id = read_u24(entry + 1);
        frame->settings[i].value = read_u32(entry + 4);
    }
    return 0;
}

/* Decodes the payload p of a control frame whose header is already in frame. */
static int decode_control(struct spdy_parser *parser, struct spdy_frame *frame, const uint8_t *p,
                          struct error *err)
{
    switch (frame->type) {
    case SPDY_SYN_STREAM:
        if (expect_min_length(frame, 10, err) < 0)
            return -1;
        frame->stream_id = read_u32(p) & 0x7fffffff;
        frame->associated_stream_id = read_u32(p + 4) & 0x7fffffff;
        frame->priority = p[8] >> 5;
        frame->slot = p[9];
        return decode_block(parser, frame, p + 10, frame->length - 10, err);
    case SPDY_SYN_REPLY:
    case SPDY_HEADERS:
        if (expect_min_length(frame, 4, err) < 0)
            return -1;
        frame->stream_id = read_u32(p) & 0x7fffffff;
        return decode_block(parser, frame, p + 4, frame->length - 4, err);
    case SPDY_RST_STREAM:
        if (expect_length(frame, 8, err) < 0)
            return -1;
        frame->stream_id = read_u32(p) & 0x7fffffff;
        frame->status = read_u32(p + 4);
        return 0;
    case SPDY_SETTINGS:
        return decode_settings(frame, p, err);
    case SPDY_PING:
        if (expect_length(frame, 4, err) < 0)
            return -1;
        frame->ping_id = read_u32(p);
        return 0;
    case SPDY_GOAWAY:
        if (expect_length(frame, 8, err) < 0)
            return -1;
        frame->last_good_stream_id = read_u32(p) & 0x7fffffff;
        frame->status = read_u32(p + 4);
        return 0;
    case SPDY_WINDOW_UPDATE:
        if (expect_length(frame, 8, err) < 0)
            return -1;
        frame->stream_id = read_u32(p) & 0x7fffffff;
        frame->delta = read_u32(p + 4) & 0x7fffffff;
        return 0;
    case SPDY_DATA:
        break;
    }
    return error_set(err, ERROR_INVALID_ARGUMENT, "unsupported SPDY control frame type %u",
                     (unsigned)frame->type);
}

static bool is_known_control_type(uint16_t type)
{
    return type == SPDY_SYN_STREAM || type == SPDY_SYN_REPLY || type == SPDY_RST_STREAM ||
           type == SPDY_SETTINGS || type == SPDY_PING || type == SPDY_GOAWAY ||
           type == SPDY_HEADERS || type == SPDY_WINDOW_UPDATE;
}

/* Fills the fixed header fields and checks the length against the limits. */
static int decode_frame_header(const struct spdy_parser *parser, const uint8_t *p,
                               struct spdy_frame *frame, struct error *err)
{
    frame->flags = p[4];
    frame->length = read_u24(p + 5);
    if (!(p[0] & 0x80)) {
        frame->type = SPDY_DATA;
        frame->stream_id = read_u32(p) & 0x7fffffff;
        if (frame->length > parser->limits.max_data_length)
            return error_set(err, ERROR_RESOURCE_EXHAUSTED,
                             "SPDY DATA frame of %u bytes on stream %u is over the limit of %zu",
                             frame->length, frame->stream_id, parser->limits.max_data_length);
        return 0;
    }

    uint16_t type = (uint16_t)(p[2] << 8 | p[3]);
    frame->version = (uint16_t)((p[0] & 0x7f) << 8 | p[1]);
    if (!is_known_control_type(type))
        return error_set(err, ERROR_INVALID_ARGUMENT, "unsupported SPDY control frame type %u",
                         type);
    frame->type = (enum spdy_frame_type)type;
    if (frame->length > parser->limits.max_control_length)
        return error_set(
            err, ERROR_RESOURCE_EXHAUSTED, "SPDY %s frame of %u bytes is over the limit of %zu",
            spdy_frame_type_name(frame->type), frame->length, parser->limits.max_control_length);
    return 0;
}

int spdy_parser_next(struct spdy_parser *parser, struct spdy_frame *frame, struct error *err)
{
    spdy_frame_clear(frame);
    if (parser->failed)
        return error_set(err, ERROR_INVALID_ARGUMENT, "SPDY connection already failed");
    if (spdy_parser_pending(parser) < SPDY_FRAME_HEADER_LENGTH)
        return 0;

    const uint8_t *p = (const uint8_t *)parser->input.data + parser->offset;
    if (decode_frame_header(parser, p, frame, err) < 0)
        return fail(parser, err);
    if (spdy_parser_pending(parser) < SPDY_FRAME_HEADER_LENGTH + (size_t)frame->length) {
        spdy_frame_clear(frame);
        return 0;
    }

    const uint8_t *payload = p + SPDY_FRAME_HEADER_LENGTH;
    parser->offset += SPDY_FRAME_HEADER_LENGTH + (size_t)frame->length;
    if (frame->type == SPDY_DATA) {
        frame->data = payload;
        frame->data_length = frame->length;
        return 1;
    }
    if (decode_control(parser, frame, payload, err) < 0) {
        spdy_frame_clear(frame);
        return fail(parser, err);
    }
    return 1;
}

static void append_u32(struct strbuf *out, uint32_t value)
{
    uint8_t bytes[4] = {value >> 24, value >> 16, value >> 8, value};

    strbuf_append(out, bytes, sizeof(bytes));
}

static void append_control_header(struct strbuf *out, enum spdy_frame_type type, uint8_t flags,
                                  uint32_t length)
{
    uint8_t bytes[8] = {0x80,  SPDY_VERSION, 0,           (uint8_t)type,
                        flags, length >> 16, length >> 8, length};

    strbuf_append(out, bytes, sizeof(bytes));
}

/* Writes the 24-bit length of the control frame that starts at start. */
static void patch_length(struct strbuf *out, size_t start)
{
    size_t length = out->length - start - SPDY_FRAME_HEADER_LENGTH;
    uint8_t *p = (uint8_t *)out->data + start;

    /* A header block of a few pairs cannot come near 16 MiB. */
    if (length > SPDY_MAX_FRAME_LENGTH)
        abort();
    p[5] = (uint8_t)(length >> 16);
    p[6] = (uint8_t)(length >> 8);
    p[7] = (uint8_t)length;
}

void spdy_writer_init(struct spdy_writer *writer)
{
    memset(writer, 0, sizeof(*writer));
}

void spdy_writer_free(struct spdy_writer *writer)
{
    spdy_headers_free_streams(NULL, writer);
}

void spdy_write_data(struct strbuf *out, uint32_t stream_id, uint8_t flags, const void *data,
                     size_t length)
{
    const uint8_t *p = data;

    do {
        size_t chunk = length < SPDY_DATA_CHUNK ? length : SPDY_DATA_CHUNK;
        uint8_t chunk_flags = chunk == length ? flags : 0;

        append_u32(out, stream_id & 0x7fffffff);
        uint8_t tail[4] = {chunk_flags, chunk >> 16, chunk >> 8, chunk};
        strbuf_append(out, tail, sizeof(tail));
        strbuf_append(out, p, chunk);
        p += chunk;
        length -= chunk;
    } while (length > 0);
}

void spdy_write_syn_stream(struct spdy_writer *writer, struct strbuf *out, uint32_t stream_id,
                           uint32_t associated_stream_id, uint8_t priority, uint8_t flags,
                           const struct spdy_header *headers, size_t count)
{
    size_t start = out->length;
    uint8_t priority_slot[2] = {(uint8_t)(priority << 5), 0};

    append_control_header(out, SPDY_SYN_STREAM, flags, 0);
    append_u32(out, stream_id & 0x7fffffff);
    append_u32(out, associated_stream_id & 0x7fffffff);
    strbuf_append(out, priority_slot, sizeof(priority_slot));
    spdy_headers_encode(writer, out, headers, count);
    patch_length(out, start);
}

static void write_block_frame(struct spdy_writer *writer, struct strbuf *out,
                              enum spdy_frame_type type, uint32_t stream_id, uint8_t flags,
                              const struct spdy_header *headers, size_t count)
{
    size_t start = out->length;

    append_control_header(out, type, flags, 0);
    append_u32(out, stream_id & 0x7fffffff);
    spdy_headers_encode(writer, out, headers, count);
    patch_length(out, start);
}

void spdy_write_syn_reply(struct spdy_writer *writer, struct strbuf *out, uint32_t stream_id,
                          uint8_t flags, const struct spdy_header *headers, size_t count)
{
    write_block_frame(writer, out, SPDY_SYN_REPLY, stream_id, flags, headers, count);
}

void spdy_write_headers(struct spdy_writer *writer, struct strbuf *out, uint32_t stream_id,
                        uint8_t flags, const struct spdy_header *headers, size_t count)
{
    write_block_frame(writer, out, SPDY_HEADERS, stream_id, flags, headers, count);
}

void spdy_write_rst_stream(struct strbuf *out, uint32_t stream_id, uint32_t status)
{
    append_control_header(out, SPDY_RST_STREAM, 0, 8);
    append_u32(out, stream_id & 0x7fffffff);
    append_u32(out, status);
}

void spdy_write_settings(struct strbuf *out, uint8_t flags, const struct spdy_setting *settings,
                         size_t count)
{
    append_control_header(out, SPDY_SETTINGS, flags, (uint32_t)(4 + 8 * count));
    append_u32(out, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        uint32_t id = settings[i].id;
        uint8_t entry[4] = {settings[i].flags, id >> 16, id >> 8, id};

        strbuf_append(out, entry, sizeof(entry));
        append_u32(out, settings[i].value);
    }
}

void spdy_write_ping(struct strbuf *out, uint32_t ping_id)
{
    append_control_header(out, SPDY_PING, 0, 4);
    append_u32(out, ping_id);
}

void spdy_write_goaway(struct strbuf *out, uint32_t last_good_stream_id, uint32_t status)
{
    append_control_header(out, SPDY_GOAWAY, 0, 8);
    append_u32(out, last_good_stream_id & 0x7fffffff);
    append_u32(out, status);
}

void spdy_write_window_update(struct strbuf *out, uint32_t stream_id, uint32_t delta)
{
    append_control_header(out, SPDY_WINDOW_UPDATE, 0, 8);
    append_u32(out, stream_id & 0x7fffffff);
    append_u32(out, delta & 0x7fffffff);
}
