/* sha1_buffer of common/sha1.h on OpenSSL's EVP interface (Linux). */
#ifndef _WIN32

#include "common/sha1.h"

#include <stdio.h>
#include <stdlib.h>

#include <openssl/evp.h>

void sha1_buffer(const void *data, size_t length, uint8_t out[SHA1_DIGEST_LENGTH])
{
    unsigned int out_length = 0;

    /* EVP_Digest on the built-in SHA-1 fails only when memory runs out. */
    if (!EVP_Digest(data, length, out, &out_length, EVP_sha1(), NULL) ||
        out_length != SHA1_DIGEST_LENGTH) {
        fprintf(stderr, "hostcri: OpenSSL SHA-1 failed\n");
        abort();
    }
}

#endif
