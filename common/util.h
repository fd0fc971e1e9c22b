#ifndef HOSTCRI_COMMON_UTIL_H
#define HOSTCRI_COMMON_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/*
 * Allocation wrappers. Allocation failure aborts the process (there is no useful recovery
 * in a daemon that cannot allocate), so callers never check for NULL.
 */
void *xmalloc(size_t size);
void *xcalloc(size_t count, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xmemdup(const void *data, size_t size);
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list args) __attribute__((format(printf, 1, 0)));

/* xstrdup that maps NULL to NULL. */
char *xstrdup_or_null(const char *s);

/* True when s is NULL or "". */
static inline int str_empty(const char *s)
{
    return s == NULL || s[0] == '\0';
}

/* True when s begins with prefix. */
int str_has_prefix(const char *s, const char *prefix);

/* Nanoseconds since the Unix epoch (wall clock), as the CRI's timestamps are. */
int64_t time_now_ns(void);

/* Frees every string of a NULL-terminated array and the array itself. */
void strv_free(char **strv);

/* Number of strings in a NULL-terminated array (0 for NULL). */
size_t strv_length(char *const *strv);

/* Copies a NULL-terminated array and its strings; NULL gives an empty array, never NULL. */
char **strv_copy(char *const *strv);

void free_ptr(void *ptr);
void strv_free_ptr(void *ptr);
void close_ptr(int *fd);

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Cleanup attributes for locals; hand a value to someone else with steal_pointer/steal_fd. */
#define _cleanup_free_ __attribute__((cleanup(free_ptr)))
#define _cleanup_strv_ __attribute__((cleanup(strv_free_ptr)))
#define _cleanup_close_ __attribute__((cleanup(close_ptr)))

static inline void *steal_pointer_impl(void *pp)
{
    void **slot = pp;
    void *value = *slot;

    *slot = NULL;
    return value;
}
#define steal_pointer(pp) ((__typeof__(*(pp)))steal_pointer_impl(pp))

static inline int steal_fd(int *fd)
{
    int value = *fd;

    *fd = -1;
    return value;
}

#endif
