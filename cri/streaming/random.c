/*
 * Random bytes for streaming tokens and WebSocket masks, from the generator of each system.
 */
#include "cri/streaming/random.h"

#ifdef _WIN32
#include <bcrypt.h>
#else
#include <openssl/rand.h>
#endif

int streaming_random_bytes(void *buffer, size_t length, struct error *err)
{
#ifdef _WIN32
    NTSTATUS status = BCryptGenRandom(NULL, buffer, (ULONG)length, BCRYPT_USE_SYSTEM_PREFERRED_RNG);

    if (!BCRYPT_SUCCESS(status))
        return error_set(err, ERROR_INTERNAL, "BCryptGenRandom failed: status 0x%lx",
                         (unsigned long)status);
#else
    if (RAND_bytes(buffer, (int)length) != 1)
        return error_set(err, ERROR_INTERNAL, "RAND_bytes failed");
#endif
    return 0;
}
