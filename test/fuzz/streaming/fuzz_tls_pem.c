/*
 * Fuzz target for the PEM and private key parsers of the streaming server's Schannel TLS
 * (cri/streaming/tls_pem.c). The input is read once as PEM text, and once as the DER of each
 * private key block, because random base64 seldom decodes to DER that gets past the first tag.
 */
#include <stddef.h>
#include <stdint.h>

#include "cri/streaming/tls_pem.h"

static void convert(const struct tls_pem_block *blocks, size_t count)
{
    struct tls_private_key key;
    struct error err = ERROR_INIT;

    if (tls_private_key_from_pem(blocks, count, &key, &err) == 0)
        tls_private_key_clear(&key);
    error_clear(&err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char *labels[] = {"PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"};
    struct tls_pem_block *blocks = NULL;
    size_t count = 0;
    struct error err = ERROR_INIT;

    if (tls_pem_parse((const char *)data, size, &blocks, &count, &err) == 0) {
        convert(blocks, count);
        tls_pem_blocks_free(blocks, count);
    }
    error_clear(&err);

    for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
        struct tls_pem_block block = {labels[i], (unsigned char *)data, size};

        convert(&block, 1);
    }
    return 0;
}
