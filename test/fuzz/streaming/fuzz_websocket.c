/*
 * Fuzz target for the WebSocket channel session and its frame codec (websocket_frame.c):
 * arbitrary bytes split into pieces of 1 to 64 bytes, fed to a server session (masked frames
 * expected) or a client session (unmasked frames expected) in every framing the server
 * negotiates, with the replies it queues flushed. The first input byte selects the framing and
 * the side, the second the piece size and a small or large maximum message length.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/strbuf.h"
#include "cri/streaming/websocket.h"

static void on_message(void *data, unsigned channel, const uint8_t *payload, size_t length)
{
    size_t *total = data;

    *total += length + channel;
}

static void on_close_signal(void *data, unsigned channel)
{
}

static void on_close(void *data, uint16_t code)
{
}

static void on_frame(void *data, bool fin, uint8_t opcode, uint64_t payload_length)
{
    size_t *total = data;

    *total += opcode;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const protocols[] = {
        "v5.channel.k8s.io",     "v4.channel.k8s.io",           "v4.base64.channel.k8s.io",
        "base64.channel.k8s.io", "SPDY/3.1+portforward.k8s.io",
    };
    struct websocket_callbacks callbacks = {on_message, on_close_signal, on_close, on_frame};
    struct websocket_protocol_info info;
    struct strbuf out = STRBUF_INIT;
    struct error err = ERROR_INIT;
    size_t total = 0;

    if (size < 2)
        return 0;
    websocket_protocol_info(protocols[data[0] % 5], &info);
    bool server = (data[0] / 5) % 2 == 0;
    size_t piece = (size_t)data[1] % 64 + 1;
    size_t max_message = data[1] & 0x80 ? 65536 : 200;
    data += 2;
    size -= 2;

    struct websocket_session *session =
        websocket_session_new(server, &info, max_message, &callbacks, &total);
    for (size_t offset = 0; offset < size; offset += piece) {
        size_t n = size - offset < piece ? size - offset : piece;

        if (websocket_session_feed(session, data + offset, n, &err) < 0) {
            error_clear(&err);
            break;
        }
        websocket_session_send(session, 1, data + offset, n);
        websocket_session_flush(session, &out);
        strbuf_reset(&out);
    }
    websocket_session_close(session, WEBSOCKET_CLOSE_NORMAL, NULL);
    websocket_session_flush(session, &out);
    strbuf_free(&out);
    websocket_session_free(session);
    return 0;
}
