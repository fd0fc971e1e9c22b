#ifndef HOSTCRI_CRI_STREAMING_RANDOM_H
#define HOSTCRI_CRI_STREAMING_RANDOM_H

#include <stddef.h>

#include "common/error.h"

/*
 * Fills buffer with length bytes from the system's cryptographic random generator (OpenSSL's
 * RAND_bytes on Linux, BCryptGenRandom on Windows). Returns 0, or -1 with err set.
 */
int streaming_random_bytes(void *buffer, size_t length, struct error *err);

#endif
