/* Messages for Windows API errors; the Linux build compiles this file to nothing. */
#ifdef _WIN32

#include "common/error_windows.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include <windows.h>

#include "common/util.h"

const char *windows_error_string(unsigned long windows_error, char *buffer, size_t size)
{
    DWORD length = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
                                  (DWORD)windows_error, 0, buffer, (DWORD)size, NULL);

    while (length > 0 && (buffer[length - 1] == '\n' || buffer[length - 1] == '\r' ||
                          buffer[length - 1] == ' ' || buffer[length - 1] == '.'))
        buffer[--length] = '\0';
    if (length == 0)
        snprintf(buffer, size, "Windows error %lu", windows_error);
    return buffer;
}

int error_set_windows(struct error *err, enum error_code code, unsigned long windows_error,
                      const char *fmt, ...)
{
    char system_message[256];
    va_list args;
    char *context;

    if (err == NULL)
        return -1;
    va_start(args, fmt);
    context = xvasprintf(fmt, args);
    va_end(args);
    windows_error_string(windows_error, system_message, sizeof(system_message));
    error_set(err, code, "%s: %s (Windows error %lu)", context, system_message, windows_error);
    free(context);
    return -1;
}

#endif
