#ifndef HOSTCRI_COMMON_STRBUF_H
#define HOSTCRI_COMMON_STRBUF_H

#include <stdarg.h>
#include <stddef.h>

/*
 * A growable byte buffer that keeps a terminating NUL after its data, so that text built in
 * it can be used as a C string. Initialize with STRBUF_INIT, free with strbuf_free.
 */
struct strbuf {
    char *data;
    size_t length;
    size_t capacity;
};

#define STRBUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0                                                                                 \
    }

void strbuf_append(struct strbuf *buf, const void *data, size_t length);
void strbuf_append_str(struct strbuf *buf, const char *s);
void strbuf_append_char(struct strbuf *buf, char c);
void strbuf_appendf(struct strbuf *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void strbuf_appendv(struct strbuf *buf, const char *fmt, va_list args)
    __attribute__((format(printf, 2, 0)));

/* Makes room for at least extra more bytes without changing the length. */
void strbuf_reserve(struct strbuf *buf, size_t extra);

/* Removes the first count bytes. */
void strbuf_consume(struct strbuf *buf, size_t count);

void strbuf_reset(struct strbuf *buf);

/* Returns the data (never NULL, "" when empty) and leaves the buffer empty; the caller frees it. */
char *strbuf_steal(struct strbuf *buf);

void strbuf_free(struct strbuf *buf);

#define _cleanup_strbuf_ __attribute__((cleanup(strbuf_free)))

#endif
