#include "common/util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static void *check_allocation(void *ptr)
{
    if (ptr == NULL) {
        fputs("hostcri: out of memory\n", stderr);
        abort();
    }
    return ptr;
}

void *xmalloc(size_t size)
{
    return check_allocation(malloc(size ? size : 1));
}

void *xcalloc(size_t count, size_t size)
{
    return check_allocation(calloc(count ? count : 1, size ? size : 1));
}

void *xrealloc(void *ptr, size_t size)
{
    return check_allocation(realloc(ptr, size ? size : 1));
}

char *xstrdup(const char *s)
{
    return check_allocation(strdup(s));
}

char *xstrdup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

char *xstrndup(const char *s, size_t n)
{
    return check_allocation(strndup(s, n));
}

void *xmemdup(const void *data, size_t size)
{
    void *copy = xmalloc(size);

    if (size > 0)
        memcpy(copy, data, size);
    return copy;
}

char *xvasprintf(const char *fmt, va_list args)
{
    va_list copy;
    int length;
    char *buffer;

    va_copy(copy, args);
    length = vsnprintf(NULL, 0, fmt, copy);
    va_end(copy);
    if (length < 0)
        abort();
    buffer = xmalloc((size_t)length + 1);
    vsnprintf(buffer, (size_t)length + 1, fmt, args);
    return buffer;
}

char *xasprintf(const char *fmt, ...)
{
    va_list args;
    char *result;

    va_start(args, fmt);
    result = xvasprintf(fmt, args);
    va_end(args);
    return result;
}

int str_has_prefix(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int64_t time_now_ns(void)
{
    struct timespec now;

    clock_gettime(CLOCK_REALTIME, &now);
    return (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
}

void strv_free(char **strv)
{
    if (strv == NULL)
        return;
    for (char **s = strv; *s; s++)
        free(*s);
    free(strv);
}

size_t strv_length(char *const *strv)
{
    size_t n = 0;

    while (strv && strv[n])
        n++;
    return n;
}

char **strv_copy(char *const *strv)
{
    size_t n = strv_length(strv);
    char **copy = xcalloc(n + 1, sizeof(char *));

    for (size_t i = 0; i < n; i++)
        copy[i] = xstrdup(strv[i]);
    return copy;
}

void free_ptr(void *ptr)
{
    free(*(void **)ptr);
}

void strv_free_ptr(void *ptr)
{
    strv_free(*(char ***)ptr);
}

void close_ptr(int *fd)
{
    if (*fd >= 0)
        close(*fd);
}
