/* UTF-8 and UTF-16 conversion; the Linux build compiles this file to nothing. */
#ifdef _WIN32

#include "common/text_windows.h"

#include <stdlib.h>

#include <windows.h>

#include "common/util.h"

wchar_t *text_windows_utf8_to_wide(const char *text)
{
    int length = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, text, -1, NULL, 0);
    wchar_t *wide;

    if (length <= 0)
        return NULL;
    wide = xcalloc((size_t)length, sizeof(*wide));
    if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, text, -1, wide, length) != length) {
        free(wide);
        return NULL;
    }
    return wide;
}

char *text_windows_wide_to_utf8(const wchar_t *text)
{
    int length = WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, text, -1, NULL, 0, NULL, NULL);
    char *utf8;

    if (length <= 0)
        return NULL;
    utf8 = xmalloc((size_t)length);
    if (WideCharToMultiByte(CP_UTF8, WC_ERR_INVALID_CHARS, text, -1, utf8, length, NULL, NULL) !=
        length) {
        free(utf8);
        return NULL;
    }
    return utf8;
}

#endif
