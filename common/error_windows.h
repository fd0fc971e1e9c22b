#ifndef HOSTCRI_COMMON_ERROR_WINDOWS_H
#define HOSTCRI_COMMON_ERROR_WINDOWS_H

/* Errors from Windows API calls (GetLastError codes). Windows builds only. */

#include <stddef.h>

#include "common/error.h"

/*
 * Writes the system message for a GetLastError code into buffer (size bytes, NUL included),
 * without the trailing line break, and returns buffer. A code without a message gives
 * "Windows error <code>".
 */
const char *windows_error_string(unsigned long windows_error, char *buffer, size_t size);

/*
 * Like error_set, with ": <system message> (Windows error <code>)" appended to the formatted
 * message. Returns -1.
 */
int error_set_windows(struct error *err, enum error_code code, unsigned long windows_error,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
