/*
 * Fuzz target for the streaming server's HTTP request-head parser and header helpers.
 */
#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "cri/streaming/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct http_request request;
    struct error err = ERROR_INIT;
    size_t length = http_head_length((const char *)data, size);

    if (length == 0)
        return 0;
    if (http_request_parse((const char *)data, length, &request, &err) == 0) {
        char **values = http_request_header_values(&request, "X-Stream-Protocol-Version");

        strv_free(values);
        (void)http_request_header_has_token(&request, "Upgrade", "websocket");
        (void)http_request_header_contains(&request, "Connection", "upgrade");
    }
    error_clear(&err);
    http_request_free(&request);
    return 0;
}
