#include "wire_corpus.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>

#include "common/util.h"

char *wire_path(const char *file)
{
    const char *root = getenv("HOSTCRI_SOURCE_DIR");

    if (root == NULL)
        return xasprintf("../../data/streaming-wire/%s", file);
    return xasprintf("%s/test/data/streaming-wire/%s", root, file);
}

void wire_read(const char *name, const char *conn, const char *dir, struct wire_bytes *out)
{
    _cleanup_free_ char *file =
        conn ? xasprintf("%s.%s.%s.bin", name, conn, dir) : xasprintf("%s.%s.bin", name, dir);
    _cleanup_free_ char *path = wire_path(file);
    FILE *f = fopen(path, "rb");

    if (f == NULL)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    out->data = xmalloc((size_t)size + 1);
    out->length = fread(out->data, 1, (size_t)size, f);
    fclose(f);
    assert_int_equal(out->length, (size_t)size);
}

void wire_bytes_free(struct wire_bytes *bytes)
{
    free(bytes->data);
    bytes->data = NULL;
    bytes->length = 0;
}

json_t *wire_timeline(const char *name)
{
    _cleanup_free_ char *file = xasprintf("%s.frames.jsonl", name);
    _cleanup_free_ char *path = wire_path(file);
    FILE *f = fopen(path, "r");
    json_t *entries = json_array();
    char *line = NULL;
    size_t capacity = 0;

    if (f == NULL)
        fail_msg("cannot open %s", path);
    while (getline(&line, &capacity, f) > 0) {
        json_error_t error;
        json_t *entry = json_loads(line, JSON_ALLOW_NUL, &error);

        if (entry == NULL)
            fail_msg("%s: invalid JSON line: %s", path, error.text);
        json_array_append_new(entries, entry);
    }
    free(line);
    fclose(f);
    return entries;
}

size_t wire_head_length(const struct wire_bytes *bytes)
{
    for (size_t i = 0; i + 4 <= bytes->length; i++) {
        if (memcmp(bytes->data + i, "\r\n\r\n", 4) == 0)
            return i + 4;
    }
    return 0;
}

unsigned char *wire_entry_data(json_t *entry, size_t *length)
{
    json_t *data = json_object_get(entry, "data");
    const char *encoding = json_string_value(json_object_get(entry, "data_encoding"));
    const char *text = json_string_value(data);
    size_t text_length = json_string_length(data);

    assert_non_null(text);
    if (encoding != NULL && strcmp(encoding, "base64") == 0) {
        unsigned char *out = xmalloc(text_length + 1);
        int n = EVP_DecodeBlock(out, (const unsigned char *)text, (int)text_length);

        assert_true(n >= 0);
        /* EVP_DecodeBlock counts the padding as zero bytes. */
        while (text_length > 0 && text[text_length - 1] == '=') {
            n--;
            text_length--;
        }
        *length = (size_t)n;
        return out;
    }
    *length = text_length;
    return xmemdup(text, text_length + 1);
}

int wire_entry_is(json_t *entry, const char *key, const char *value)
{
    const char *actual = json_string_value(json_object_get(entry, key));

    return actual != NULL && strcmp(actual, value) == 0;
}
