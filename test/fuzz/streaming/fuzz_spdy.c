/*
 * Fuzz target for the SPDY/3.1 frame parser: arbitrary bytes, fed in pieces whose sizes come
 * from the input, must decode or fail cleanly, with the zlib header streams shared by every
 * frame of the connection.
 */
#include <stddef.h>
#include <stdint.h>

#include "cri/streaming/spdy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct spdy_parser parser;
    struct spdy_frame frame = {0};
    struct error err = ERROR_INIT;
    struct spdy_limits limits = spdy_default_limits;
    size_t offset = 0;

    if (size < 1)
        return 0;
    /* Small limits reach the limit checks with short inputs. */
    limits.max_header_block = 4096;
    limits.max_data_length = 8192;
    size_t piece = (size_t)data[0] % 32 + 1;
    data++;
    size--;

    spdy_parser_init(&parser, &limits);
    while (offset < size) {
        size_t n = size - offset < piece ? size - offset : piece;
        int rc;

        spdy_parser_feed(&parser, data + offset, n);
        offset += n;
        while ((rc = spdy_parser_next(&parser, &frame, &err)) == 1)
            (void)spdy_headers_get(&frame.headers, "streamtype");
        error_clear(&err);
        if (rc < 0)
            break;
    }
    spdy_frame_clear(&frame);
    spdy_parser_free(&parser);
    return 0;
}
