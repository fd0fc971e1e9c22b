/*
 * POSIX pieces that mingw-w64 lacks or hides, for the code shared between Linux and Windows.
 * The Windows build passes this header to the compiler with -include (common/CMakeLists.txt),
 * so shared files keep their POSIX calls unchanged. Linux builds never see it.
 */
#ifndef HOSTCRI_COMMON_POSIX_WINDOWS_H
#define HOSTCRI_COMMON_POSIX_WINDOWS_H

#ifdef _WIN32

/* Makes mingw-w64's <time.h> declare gmtime_r and localtime_r. */
#ifndef _POSIX_THREAD_SAFE_FUNCTIONS
#define _POSIX_THREAD_SAFE_FUNCTIONS 200112L
#endif

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * mingw-w64's <stdio.h> defines stdin, stdout and stderr as function calls, which breaks the
 * fields of those names in the generated CRI messages (ExecRequest.stdin, ...). The three
 * names become variables instead, as in glibc; posix_windows.c sets them before main runs.
 */
#undef stdin
#undef stdout
#undef stderr
extern FILE *posix_windows_stdin;
extern FILE *posix_windows_stdout;
extern FILE *posix_windows_stderr;
#define stdin posix_windows_stdin
#define stdout posix_windows_stdout
#define stderr posix_windows_stderr

/*
 * <winerror.h> defines ERROR_CANCELLED, ERROR_NOT_FOUND and ERROR_ALREADY_EXISTS as macros,
 * which would replace those names of enum error_code (common/error.h) in every file that also
 * includes a Windows header, as <uv.h> does. So the Windows headers come first, their three
 * values stay available under WIN32_ names, and the macros go. winsock2.h must precede
 * windows.h, which would otherwise pull in the older winsock.h.
 */
#include <winsock2.h>
#include <windows.h>
#define WIN32_ERROR_ALREADY_EXISTS 183L
#define WIN32_ERROR_NOT_FOUND 1168L
#define WIN32_ERROR_CANCELLED 1223L
#undef ERROR_ALREADY_EXISTS
#undef ERROR_NOT_FOUND
#undef ERROR_CANCELLED

/*
 * GCC for mingw-w64 checks format(printf) attributes against the Microsoft C runtime's printf,
 * which lacks %zu and %lld. The program runs mingw-w64's C99 printf family instead, because
 * _GNU_SOURCE turns on __USE_MINGW_ANSI_STDIO, so those checks report false errors here. The
 * Linux build checks every format string.
 */
#pragma GCC diagnostic ignored "-Wformat"
#pragma GCC diagnostic ignored "-Wformat-extra-args"

/*
 * _O_NOINHERIT keeps the descriptor out of child processes as O_CLOEXEC does. _O_BINARY
 * turns off the C runtime's CRLF translation, which no caller of open() in hostcri wants.
 */
#ifndef O_CLOEXEC
#define O_CLOEXEC (_O_NOINHERIT | _O_BINARY)
#endif

/* Copies at most n bytes of s and a NUL into new memory. Returns NULL when out of memory. */
static inline char *posix_windows_strndup(const char *s, size_t n)
{
    size_t length = strnlen(s, n);
    char *copy = malloc(length + 1);

    if (copy == NULL)
        return NULL;
    memcpy(copy, s, length);
    copy[length] = '\0';
    return copy;
}
#define strndup posix_windows_strndup

#endif /* _WIN32 */

#endif
