#ifndef HOSTCRI_COMMON_TEXT_WINDOWS_H
#define HOSTCRI_COMMON_TEXT_WINDOWS_H

/* UTF-8 and the UTF-16 of the Windows API (Windows builds only). */

#include <wchar.h>

/*
 * Converts NUL-terminated UTF-8 to a new NUL-terminated UTF-16 string (free). Returns NULL
 * when text is not valid UTF-8.
 */
wchar_t *text_windows_utf8_to_wide(const char *text);

/* Converts NUL-terminated UTF-16 to a new UTF-8 string (free), or NULL for invalid UTF-16. */
char *text_windows_wide_to_utf8(const wchar_t *text);

#endif
