#include "common/base64.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *base64_encode(const void *data, size_t length)
{
    const unsigned char *in = data;
    char *out = xmalloc((length + 2) / 3 * 4 + 1);
    size_t o = 0;

    for (size_t i = 0; i < length; i += 3) {
        unsigned long group = (unsigned long)in[i] << 16;
        size_t left = length - i;

        if (left > 1)
            group |= (unsigned long)in[i + 1] << 8;
        if (left > 2)
            group |= in[i + 2];
        out[o++] = alphabet[(group >> 18) & 63];
        out[o++] = alphabet[(group >> 12) & 63];
        out[o++] = left > 1 ? alphabet[(group >> 6) & 63] : '=';
        out[o++] = left > 2 ? alphabet[group & 63] : '=';
    }
    out[o] = '\0';
    return out;
}

/* The 6-bit value of c, or -1 when c is not in the alphabet. */
static int sextet(char c)
{
    const char *p = c != '\0' ? strchr(alphabet, c) : NULL;

    return p ? (int)(p - alphabet) : -1;
}

int base64_decode(const char *text, size_t length, unsigned char **out, size_t *out_length)
{
    size_t padding = 0;
    unsigned char *buffer;
    size_t o = 0;

    if (length % 4 != 0)
        return -1;
    while (padding < 2 && padding < length && text[length - 1 - padding] == '=')
        padding++;
    buffer = xmalloc(length / 4 * 3 + 1);
    for (size_t i = 0; i < length; i += 4) {
        unsigned long group = 0;

        for (size_t j = 0; j < 4; j++) {
            bool pad = i + j >= length - padding;
            int value = pad ? 0 : sextet(text[i + j]);

            if (value < 0) {
                free(buffer);
                return -1;
            }
            group = group << 6 | (unsigned long)value;
        }
        buffer[o++] = (unsigned char)(group >> 16);
        buffer[o++] = (unsigned char)(group >> 8);
        buffer[o++] = (unsigned char)group;
    }
    o -= padding;
    buffer[o] = '\0';
    *out = buffer;
    *out_length = o;
    return 0;
}

void base64_wipe(void *data, size_t length)
{
    volatile unsigned char *p = data;

    while (length-- > 0)
        *p++ = 0;
}
