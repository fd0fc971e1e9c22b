#include "common/strbuf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

void strbuf_reserve(struct strbuf *buf, size_t extra)
{
    size_t needed = buf->length + extra + 1;
    size_t capacity = buf->capacity ? buf->capacity : 64;

    if (needed <= buf->capacity)
        return;
    while (capacity < needed)
        capacity *= 2;
    buf->data = xrealloc(buf->data, capacity);
    buf->capacity = capacity;
}

void strbuf_append(struct strbuf *buf, const void *data, size_t length)
{
    strbuf_reserve(buf, length);
    if (length > 0)
        memcpy(buf->data + buf->length, data, length);
    buf->length += length;
    buf->data[buf->length] = '\0';
}

void strbuf_append_str(struct strbuf *buf, const char *s)
{
    strbuf_append(buf, s, strlen(s));
}

void strbuf_append_char(struct strbuf *buf, char c)
{
    strbuf_append(buf, &c, 1);
}

void strbuf_appendv(struct strbuf *buf, const char *fmt, va_list args)
{
    va_list copy;
    int length;

    va_copy(copy, args);
    length = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (length < 0)
        abort();
    strbuf_reserve(buf, (size_t)length);
    vsnprintf(buf->data + buf->length, (size_t)length + 1, fmt, args);
    buf->length += (size_t)length;
}

void strbuf_appendf(struct strbuf *buf, const char *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    strbuf_appendv(buf, fmt, args);
    va_end(args);
}

void strbuf_consume(struct strbuf *buf, size_t count)
{
    if (count >= buf->length) {
        strbuf_reset(buf);
        return;
    }
    memmove(buf->data, buf->data + count, buf->length - count);
    buf->length -= count;
    buf->data[buf->length] = '\0';
}

void strbuf_reset(struct strbuf *buf)
{
    buf->length = 0;
    if (buf->data)
        buf->data[0] = '\0';
}

char *strbuf_steal(struct strbuf *buf)
{
    char *data = buf->data ? buf->data : xstrdup("");

    buf->data = NULL;
    buf->length = 0;
    buf->capacity = 0;
    return data;
}

void strbuf_free(struct strbuf *buf)
{
    free(buf->data);
    buf->data = NULL;
    buf->length = 0;
    buf->capacity = 0;
}
