#ifndef HOSTCRI_COMMON_BASE64_H
#define HOSTCRI_COMMON_BASE64_H

#include <stddef.h>

/* Base64 with the standard alphabet and "=" padding (RFC 4648 section 4), without line breaks. */

/* Encodes length bytes of data into a new NUL-terminated string (free). */
char *base64_encode(const void *data, size_t length);

/*
 * Decodes the length characters of text, which must be padded to a multiple of four and hold
 * only the alphabet with at most two "=" at the end. On success returns 0 and stores a new
 * buffer in *out (free) of *out_length bytes plus a NUL after them. Returns -1 on bad input.
 */
int base64_decode(const char *text, size_t length, unsigned char **out, size_t *out_length);

/* Overwrites length bytes at data with zeros in a way the compiler does not remove. */
void base64_wipe(void *data, size_t length);

#endif
