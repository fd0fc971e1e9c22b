#ifndef HOSTCRI_CRI_STREAMING_SPDY_HEADERS_H
#define HOSTCRI_CRI_STREAMING_SPDY_HEADERS_H

#include "cri/streaming/spdy.h"

/*
 * Header-block coding for spdy.c. Not for other callers: use the frame parser and writer.
 */

/*
 * Inflates one compressed block with the parser's inflate stream and decodes its pairs into
 * *headers (empty on entry; partly filled on error, the caller clears it). Returns 0 or -1.
 */
int spdy_headers_decode(struct spdy_parser *parser, const uint8_t *block, size_t length,
                        struct spdy_headers *headers, size_t *raw_length, struct error *err);

/* Appends the compressed block of count pairs to out, using the writer's deflate stream. */
void spdy_headers_encode(struct spdy_writer *writer, struct strbuf *out,
                         const struct spdy_header *headers, size_t count);

/* Ends the zlib streams of parser and writer (either may be NULL). */
void spdy_headers_free_streams(struct spdy_parser *parser, struct spdy_writer *writer);

#endif
