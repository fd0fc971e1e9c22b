#ifndef HOSTCRI_TEST_STREAMING_WIRE_CORPUS_H
#define HOSTCRI_TEST_STREAMING_WIRE_CORPUS_H

#include <stddef.h>

#include <jansson.h>

/*
 * Access to the recorded sessions in test/data/streaming-wire: the raw bytes of one direction
 * and the decoded timeline (frames.jsonl) that the recorder wrote for them.
 */

struct wire_bytes {
    unsigned char *data;
    size_t length;
};

/* Full path of a corpus file; the caller frees it. */
char *wire_path(const char *file);

/* Reads CASE[.CONN].DIR.bin (conn NULL for single-connection cases); fails the test if absent. */
void wire_read(const char *name, const char *conn, const char *dir, struct wire_bytes *out);

/* Frees the bytes. */
void wire_bytes_free(struct wire_bytes *bytes);

/* Loads CASE.frames.jsonl as a JSON array of objects, in file order. */
json_t *wire_timeline(const char *name);

/* Returns the length of the HTTP head at the start of bytes, "\r\n\r\n" included, or 0. */
size_t wire_head_length(const struct wire_bytes *bytes);

/* Decodes the "data" of a timeline entry (utf-8 or base64) into a malloc'ed buffer. */
unsigned char *wire_entry_data(json_t *entry, size_t *length);

/* True when the entry's string field key equals value. */
int wire_entry_is(json_t *entry, const char *key, const char *value);

#endif
