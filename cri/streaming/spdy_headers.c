/*
 * SPDY/3 header blocks: the uncompressed layout (32-bit counts and lengths) and the zlib
 * streams with the preset SPDY/3 dictionary. Each direction of a connection has one deflate
 * or inflate stream for its whole life; every block ends with a sync flush.
 */
#include "cri/streaming/spdy_headers.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "cri/streaming/spdy_dictionary.h"

void spdy_headers_clear(struct spdy_headers *headers)
{
    for (size_t i = 0; i < headers->count; i++) {
        free(headers->items[i].name);
        free(headers->items[i].value);
    }
    free(headers->items);
    headers->items = NULL;
    headers->count = 0;
}

const char *spdy_headers_get(const struct spdy_headers *headers, const char *name)
{
    for (size_t i = 0; i < headers->count; i++) {
        if (strcasecmp(headers->items[i].name, name) == 0)
            return headers->items[i].value;
    }
    return NULL;
}

static uint32_t read_u32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void append_u32(struct strbuf *out, uint32_t value)
{
    uint8_t bytes[4] = {value >> 24, value >> 16, value >> 8, value};

    strbuf_append(out, bytes, sizeof(bytes));
}

/* Inflates one compressed block into raw, which is reset first. */
static int inflate_block(struct spdy_parser *parser, const uint8_t *block, size_t length,
                         struct strbuf *raw, struct error *err)
{
    z_stream *z = &parser->inflate;

    if (!parser->inflate_ready) {
        memset(z, 0, sizeof(*z));
        if (inflateInit2(z, 15) != Z_OK)
            abort(); /* only Z_MEM_ERROR is possible here */
        parser->inflate_ready = true;
    }

    strbuf_reset(raw);
    z->next_in = (Bytef *)block;
    z->avail_in = (uInt)length;
    for (;;) {
        strbuf_reserve(raw, 4096);
        size_t room = raw->capacity - raw->length - 1;

        z->next_out = (Bytef *)raw->data + raw->length;
        z->avail_out = (uInt)room;
        int rc = inflate(z, Z_SYNC_FLUSH);
        if (rc == Z_NEED_DICT) {
            if (inflateSetDictionary(z, spdy_dictionary, SPDY_DICTIONARY_LENGTH) != Z_OK)
                return error_set(err, ERROR_INVALID_ARGUMENT,
                                 "SPDY header block asks for an unknown zlib dictionary");
            rc = inflate(z, Z_SYNC_FLUSH);
        }
        raw->length += room - z->avail_out;
        raw->data[raw->length] = '\0';
        if (rc == Z_STREAM_END)
            return error_set(err, ERROR_INVALID_ARGUMENT, "SPDY header stream ended by the peer");
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return error_set(err, ERROR_INVALID_ARGUMENT, "invalid SPDY header block: zlib: %s",
                             z->msg ? z->msg : "error");
        if (raw->length > parser->limits.max_header_block)
            return error_set(err, ERROR_RESOURCE_EXHAUSTED,
                             "SPDY header block inflates to more than %zu bytes",
                             parser->limits.max_header_block);
        if (z->avail_in == 0 && z->avail_out != 0)
            return 0;
        if (rc == Z_BUF_ERROR && z->avail_out != 0)
            return error_set(err, ERROR_INVALID_ARGUMENT, "truncated SPDY header block");
    }
}

/* Reads one length-prefixed string of a raw block at *pos. */
static int read_string(const struct strbuf *raw, size_t *pos, char **out, size_t *out_length,
                       struct error *err)
{
    if (raw->length - *pos < 4)
        return error_set(err, ERROR_INVALID_ARGUMENT, "SPDY header block is truncated");
    uint32_t length = read_u32((const uint8_t *)raw->data + *pos);
    *pos += 4;
    if (length > raw->length - *pos)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "SPDY header string of %u bytes overruns its block", length);
    *out = xmemdup(raw->data + *pos, (size_t)length + 1);
    (*out)[length] = '\0';
    *out_length = length;
    *pos += length;
    return 0;
}

/* Rejects what spdystream rejects: empty, non-lowercase and repeated names. */
static int check_name(const struct spdy_headers *headers, size_t index, size_t length,
                      struct error *err)
{
    const char *name = headers->items[index].name;

    if (length == 0 || strlen(name) != length)
        return error_set(err, ERROR_INVALID_ARGUMENT, "invalid SPDY header name");
    for (size_t i = 0; i < length; i++) {
        if (name[i] >= 'A' && name[i] <= 'Z')
            return error_set(err, ERROR_INVALID_ARGUMENT,
                             "SPDY header name \"%s\" is not lowercase", name);
    }
    for (size_t i = 0; i < index; i++) {
        if (strcmp(headers->items[i].name, name) == 0)
            return error_set(err, ERROR_INVALID_ARGUMENT, "duplicate SPDY header \"%s\"", name);
    }
    return 0;
}

static int parse_block(const struct spdy_parser *parser, const struct strbuf *raw,
                       struct spdy_headers *headers, struct error *err)
{
    size_t pos = 4;

    if (raw->length < 4)
        return error_set(err, ERROR_INVALID_ARGUMENT, "SPDY header block is truncated");
    uint32_t count = read_u32((const uint8_t *)raw->data);
    if (count > parser->limits.max_header_count)
        return error_set(err, ERROR_RESOURCE_EXHAUSTED,
                         "SPDY header block has %u pairs, more than the limit of %zu", count,
                         parser->limits.max_header_count);

    headers->items = xcalloc(count ? count : 1, sizeof(*headers->items));
    for (uint32_t i = 0; i < count; i++) {
        struct spdy_header *item = &headers->items[i];
        size_t name_length;

        /* Counted before it is complete, so that spdy_headers_clear frees a partial pair. */
        headers->count = i + 1;
        if (read_string(raw, &pos, &item->name, &name_length, err) < 0 ||
            read_string(raw, &pos, &item->value, &item->value_length, err) < 0 ||
            check_name(headers, i, name_length, err) < 0)
            return -1;
    }
    if (pos != raw->length)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "SPDY header block has %zu bytes after its last pair", raw->length - pos);
    return 0;
}

int spdy_headers_decode(struct spdy_parser *parser, const uint8_t *block, size_t length,
                        struct spdy_headers *headers, size_t *raw_length, struct error *err)
{
    if (inflate_block(parser, block, length, &parser->block, err) < 0)
        return -1;
    *raw_length = parser->block.length;
    return parse_block(parser, &parser->block, headers, err);
}

void spdy_headers_encode(struct spdy_writer *writer, struct strbuf *out,
                         const struct spdy_header *headers, size_t count)
{
    _cleanup_strbuf_ struct strbuf raw = STRBUF_INIT;
    z_stream *z = &writer->deflate;

    append_u32(&raw, (uint32_t)count);
    for (size_t i = 0; i < count; i++) {
        size_t name_length = strlen(headers[i].name);

        append_u32(&raw, (uint32_t)name_length);
        strbuf_append(&raw, headers[i].name, name_length);
        append_u32(&raw, (uint32_t)headers[i].value_length);
        strbuf_append(&raw, headers[i].value, headers[i].value_length);
    }

    if (!writer->deflate_ready) {
        memset(z, 0, sizeof(*z));
        if (deflateInit2(z, 9, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY) != Z_OK ||
            deflateSetDictionary(z, spdy_dictionary, SPDY_DICTIONARY_LENGTH) != Z_OK)
            abort(); /* only Z_MEM_ERROR is possible with these constant arguments */
        writer->deflate_ready = true;
    }

    z->next_in = (Bytef *)raw.data;
    z->avail_in = (uInt)raw.length;
    do {
        strbuf_reserve(out, deflateBound(z, raw.length) + 16);
        size_t room = out->capacity - out->length - 1;

        z->next_out = (Bytef *)out->data + out->length;
        z->avail_out = (uInt)room;
        int rc = deflate(z, Z_SYNC_FLUSH);
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            abort(); /* deflate fails only on a corrupted stream state */
        out->length += room - z->avail_out;
        out->data[out->length] = '\0';
    } while (z->avail_out == 0);
}

void spdy_headers_free_streams(struct spdy_parser *parser, struct spdy_writer *writer)
{
    if (parser && parser->inflate_ready) {
        inflateEnd(&parser->inflate);
        parser->inflate_ready = false;
    }
    if (writer && writer->deflate_ready) {
        deflateEnd(&writer->deflate);
        writer->deflate_ready = false;
    }
}
