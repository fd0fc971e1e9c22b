#include "harness.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include "common/util.h"
#include "cri/streaming/spdy.h"
#include "cri/streaming/websocket.h"

/* Upper bound for any single wait; a slower run fails instead of hanging. */
#define WAIT_LIMIT_MS 20000
/* Quiet time after a sync point, so that output caused by the last input is complete. */
#define SETTLE_MS 300
/* A sync point that the host process never produces (a host shell is not busybox) ends after
 * this much silence from the server. */
#define QUIET_MS 1000

static const char *const attach_argv[] = {"sh", NULL};

static void stop_cb(uv_async_t *async)
{
    uv_stop(async->loop);
}

static void *loop_thread(void *data)
{
    struct harness *harness = data;

    uv_run(&harness->loop, UV_RUN_DEFAULT);
    return NULL;
}

void harness_init(struct harness *harness, const struct streaming_config *config)
{
    struct streaming_config defaults;
    struct error err = ERROR_INIT;

    memset(harness, 0, sizeof(*harness));
    /* As in the daemon: a write to a connection the peer closed must fail, not kill. */
    signal(SIGPIPE, SIG_IGN);
    streaming_config_init(&defaults);
    assert_int_equal(uv_loop_init(&harness->loop), 0);
    uv_async_init(&harness->loop, &harness->stop_async, stop_cb);
    harness->backend.loop = &harness->loop;
    harness->backend.attach_argv = attach_argv;
    if (streaming_server_start(&harness->loop, config ? config : &defaults, &host_backend_ops,
                               &harness->backend, &harness->server, &err) < 0)
        fail_msg("start the server: %s", err.message);
    const char *url = streaming_server_base_url(harness->server);
    const char *colon = strrchr(url, ':');
    harness->port = (uint16_t)atoi(colon + 1);
}

char *harness_issue(struct harness *harness, const struct streaming_request *request)
{
    struct error err = ERROR_INIT;
    char *url = NULL;

    assert_false(harness->running);
    if (streaming_server_issue_url(harness->server, request, &url, &err) < 0)
        fail_msg("issue a URL: %s", err.message);
    return url;
}

void harness_resume(struct harness *harness)
{
    assert_false(harness->running);
    harness->running = true;
    assert_int_equal(pthread_create(&harness->thread, NULL, loop_thread, harness), 0);
}

void harness_pause(struct harness *harness)
{
    if (!harness->running)
        return;
    uv_async_send(&harness->stop_async);
    pthread_join(harness->thread, NULL);
    harness->running = false;
}

void harness_free(struct harness *harness)
{
    harness_pause(harness);
    streaming_server_stop(harness->server);
    uv_close((uv_handle_t *)&harness->stop_async, NULL);
    /* Runs until the server, its sessions and the test processes are all gone. */
    uv_run(&harness->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&harness->loop), 0);
}

int harness_connect(const struct harness *harness)
{
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons(harness->port)};
    struct timeval timeout = {.tv_sec = 5};
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&address, sizeof(address)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    return fd;
}

void harness_send(int fd, const void *data, size_t length)
{
    const char *p = data;

    while (length > 0) {
        ssize_t n = send(fd, p, length, MSG_NOSIGNAL);

        if (n <= 0)
            return; /* the server may already have closed, as in the recordings */
        p += n;
        length -= (size_t)n;
    }
}

char *harness_rewrite_head(const char *head, size_t length, const char *url)
{
    const char *host_start = strstr(url, "://") + 3;
    const char *path = strchr(host_start, '/');
    _cleanup_free_ char *host = xstrndup(host_start, (size_t)(path - host_start));
    struct strbuf out = STRBUF_INIT;
    const char *line = head, *end = head + length;

    while (line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end - line));
        size_t line_length = eol ? (size_t)(eol - line) + 1 : (size_t)(end - line);

        if (line == head) {
            const char *space = memchr(line, ' ', line_length);
            const char *version = strstr(line, " HTTP/1.");

            strbuf_append(&out, line, (size_t)(space - line) + 1);
            strbuf_append_str(&out, path);
            strbuf_append(&out, version, (size_t)(line + line_length - version));
        } else if (strncasecmp(line, "Host:", 5) == 0) {
            strbuf_appendf(&out, "Host: %s\r\n", host);
        } else {
            strbuf_append(&out, line, line_length);
        }
        line += line_length;
    }
    return strbuf_steal(&out);
}

static uint64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Reads what is available within timeout_ms. Returns bytes read, 0 on timeout, -1 at EOF. */
static ssize_t read_some(int fd, struct strbuf *out, int timeout_ms)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    char buffer[65536];

    if (poll(&pfd, 1, timeout_ms) <= 0)
        return 0;
    ssize_t n = recv(fd, buffer, sizeof(buffer), 0);
    if (n <= 0)
        return -1;
    strbuf_append(out, buffer, (size_t)n);
    return n;
}

char *harness_read_response_head(int fd, struct strbuf *rest)
{
    struct strbuf in = STRBUF_INIT;
    uint64_t deadline = now_ms() + WAIT_LIMIT_MS;

    for (;;) {
        char *end = in.data ? strstr(in.data, "\r\n\r\n") : NULL;

        if (end != NULL) {
            size_t head_length = (size_t)(end - in.data) + 4;
            char *head = xstrndup(in.data, head_length);

            strbuf_append(rest, in.data + head_length, in.length - head_length);
            strbuf_free(&in);
            return head;
        }
        if (read_some(fd, &in, 100) < 0 || now_ms() > deadline)
            fail_msg("no complete HTTP response head; received %zu bytes", in.length);
    }
}

void harness_read_to_eof(int fd, struct strbuf *out)
{
    uint64_t deadline = now_ms() + WAIT_LIMIT_MS;

    while (read_some(fd, out, 100) >= 0) {
        if (now_ms() > deadline)
            fail_msg("the server did not close the connection");
    }
}

char *harness_handshake(const struct harness *harness, const char *head, int *fd,
                        struct strbuf *rest)
{
    *fd = harness_connect(harness);
    harness_send(*fd, head, strlen(head));
    return harness_read_response_head(*fd, rest);
}

char *harness_recorded_head(const char *name, const char *conn, const char *url,
                            struct wire_bytes *bytes)
{
    struct wire_bytes recorded;

    wire_read(name, conn, "c2s", &recorded);
    size_t length = wire_head_length(&recorded);
    assert_true(length > 0);
    char *head = harness_rewrite_head((const char *)recorded.data, length, url);
    if (bytes != NULL)
        *bytes = recorded;
    else
        wire_bytes_free(&recorded);
    return head;
}

struct streaming_request harness_exec_request(const char *const *cmd, size_t count, bool tty,
                                              unsigned streams)
{
    return (struct streaming_request){
        .kind = STREAMING_EXEC,
        .container_id = "c0ffee",
        .cmd = cmd,
        .cmd_count = count,
        .tty = tty,
        .streams = streams,
    };
}

void harness_check_status(const struct strbuf *received, const struct strbuf *recorded)
{
    json_error_t error;
    json_t *ours = json_loadb(received->data, received->length, 0, &error);
    json_t *theirs = json_loadb(recorded->data, recorded->length, 0, &error);

    assert_non_null(ours);
    assert_non_null(theirs);
    assert_string_equal(json_string_value(json_object_get(ours, "status")),
                        json_string_value(json_object_get(theirs, "status")));
    assert_true(json_equal(json_object_get(ours, "reason"), json_object_get(theirs, "reason")) ||
                json_object_get(theirs, "reason") == NULL);
    assert_true(json_equal(json_object_get(ours, "details"), json_object_get(theirs, "details")) ||
                json_object_get(theirs, "details") == NULL);
    json_decref(ours);
    json_decref(theirs);
}

/* Decoding what the server sends. */

struct decoder {
    struct replay *replay;
    struct spdy_parser spdy;
    struct websocket_session *ws;
};

static struct received_frame *add_frame(struct replay *replay, int kind, uint32_t stream,
                                        uint8_t flags, uint32_t value)
{
    replay->frames = xrealloc(replay->frames, (replay->frame_count + 1) * sizeof(*replay->frames));
    struct received_frame *frame = &replay->frames[replay->frame_count++];
    memset(frame, 0, sizeof(*frame));
    frame->kind = kind;
    frame->stream = stream;
    frame->flags = flags;
    frame->value = value;
    return frame;
}

static void decode_spdy(struct decoder *decoder, const void *data, size_t length)
{
    struct spdy_frame frame = {0};
    struct error err = ERROR_INIT;
    int rc;

    spdy_parser_feed(&decoder->spdy, data, length);
    while ((rc = spdy_parser_next(&decoder->spdy, &frame, &err)) == 1) {
        uint32_t value = frame.type == SPDY_PING ? frame.ping_id : frame.status;
        uint32_t stream = frame.type == SPDY_GOAWAY ? frame.last_good_stream_id : frame.stream_id;
        struct received_frame *received =
            add_frame(decoder->replay, frame.type, stream, frame.flags, value);

        if (frame.type == SPDY_DATA)
            strbuf_append(&received->data, frame.data, frame.data_length);
    }
    spdy_frame_clear(&frame);
    if (rc < 0)
        fail_msg("server sent invalid SPDY: %s", err.message);
}

static void ws_message(void *data, unsigned channel, const uint8_t *payload, size_t length)
{
    struct decoder *decoder = data;

    if (decoder->replay->tunnel) {
        decode_spdy(decoder, payload, length);
        return;
    }
    struct received_frame *frame = add_frame(decoder->replay, 2, channel, 1, 0);
    strbuf_append(&frame->data, payload, length);
}

static void ws_close(void *data, uint16_t code)
{
    struct decoder *decoder = data;

    add_frame(decoder->replay, 8, 0, 1, code);
}

static const struct websocket_callbacks decoder_callbacks = {
    .on_message = ws_message,
    .on_close = ws_close,
};

static void decode(struct decoder *decoder, const void *data, size_t length)
{
    struct error err = ERROR_INIT;

    if (decoder->ws == NULL) {
        decode_spdy(decoder, data, length);
        return;
    }
    if (websocket_session_feed(decoder->ws, data, length, &err) < 0)
        fail_msg("server sent invalid WebSocket frames: %s", err.message);
}

/* Reads and decodes for up to timeout_ms. Returns -1 at EOF. */
static int pump(int fd, struct decoder *decoder, int timeout_ms)
{
    struct strbuf in = STRBUF_INIT;
    ssize_t n = read_some(fd, &in, timeout_ms);

    if (n > 0)
        decode(decoder, in.data, in.length);
    strbuf_free(&in);
    return n < 0 ? -1 : (int)n;
}

/* Timeline helpers. */

static bool is_frame_entry(json_t *entry)
{
    const char *kind = json_string_value(json_object_get(entry, "kind"));

    return json_object_get(entry, "offset") != NULL && strcmp(kind, "INCOMPLETE_FRAME") != 0 &&
           strcmp(kind, "HTTP_BODY") != 0;
}

static int entry_kind(json_t *entry)
{
    static const struct {
        const char *name;
        int kind;
    } kinds[] = {
        {"DATA", SPDY_DATA},
        {"SYN_STREAM", SPDY_SYN_STREAM},
        {"SYN_REPLY", SPDY_SYN_REPLY},
        {"RST_STREAM", SPDY_RST_STREAM},
        {"SETTINGS", SPDY_SETTINGS},
        {"PING", SPDY_PING},
        {"GOAWAY", SPDY_GOAWAY},
        {"HEADERS", SPDY_HEADERS},
        {"WINDOW_UPDATE", SPDY_WINDOW_UPDATE},
        {"WS_TEXT", 2}, /* base64 messages are decoded into channel messages too */
        {"WS_BINARY", 2},
        {"WS_CLOSE", 8},
    };
    const char *name = json_string_value(json_object_get(entry, "kind"));

    for (size_t i = 0; i < ARRAY_SIZE(kinds); i++) {
        if (strcmp(name, kinds[i].name) == 0)
            return kinds[i].kind;
    }
    return -1;
}

static uint32_t entry_stream(json_t *entry, bool websocket)
{
    json_t *value = json_object_get(entry, websocket ? "channel" : "stream");

    return (uint32_t)json_integer_value(value);
}

/* Length on the wire of the client frame at offset of bytes. */
static size_t client_frame_length(const struct wire_bytes *bytes, size_t offset, bool websocket)
{
    const uint8_t *p = bytes->data + offset;

    if (!websocket)
        return SPDY_FRAME_HEADER_LENGTH + ((size_t)p[5] << 16 | (size_t)p[6] << 8 | p[7]);

    size_t length = p[1] & 0x7f, header = 2;
    if (length == 126) {
        length = (size_t)p[2] << 8 | p[3];
        header = 4;
    } else if (length == 127) {
        length = 0;
        for (int i = 0; i < 8; i++)
            length = length << 8 | p[2 + i];
        header = 10;
    }
    return header + ((p[1] & 0x80) ? 4 : 0) + length;
}

/* The requirement before a client frame: server frames (kind, stream) recorded before it. */
struct requirement {
    int kind;
    uint32_t stream;
};

static bool requirement_met(const struct replay *replay, size_t since,
                            const struct requirement *requirements, size_t count)
{
    for (size_t r = 0; r < count; r++) {
        bool found = false;

        for (size_t i = since; i < replay->frame_count && !found; i++)
            found = replay->frames[i].kind == requirements[r].kind &&
                    replay->frames[i].stream == requirements[r].stream;
        if (!found)
            return false;
    }
    return true;
}

/* Waits until every requirement has arrived since frame index since, then for a quiet time. */
static void wait_for(int fd, struct decoder *decoder, size_t since,
                     const struct requirement *requirements, size_t count)
{
    uint64_t deadline = now_ms() + WAIT_LIMIT_MS;
    uint64_t last_activity = now_ms();

    while (!requirement_met(decoder->replay, since, requirements, count)) {
        int rc = pump(fd, decoder, 100);

        if (rc < 0 || now_ms() > deadline)
            return; /* the final checks report what is missing */
        if (rc > 0)
            last_activity = now_ms();
        else if (now_ms() - last_activity > QUIET_MS)
            return;
    }
    if (count == 0)
        return;
    for (int rc = 1; rc > 0;)
        rc = pump(fd, decoder, SETTLE_MS);
}

/* Re-encodes a recorded SPDY client frame with the port headers replaced. */
static void rewrite_spdy_frame(struct spdy_parser *parser, struct spdy_writer *writer,
                               const uint8_t *bytes, size_t length, uint16_t port,
                               struct strbuf *out)
{
    struct spdy_frame frame = {0};
    struct error err = ERROR_INIT;
    _cleanup_free_ char *port_text = xasprintf("%u", port);

    spdy_parser_feed(parser, bytes, length);
    if (spdy_parser_next(parser, &frame, &err) != 1)
        fail_msg("recorded client frame does not decode: %s", err.message);
    if (frame.type != SPDY_SYN_STREAM) {
        strbuf_append(out, bytes, length);
        spdy_frame_clear(&frame);
        return;
    }
    for (size_t i = 0; i < frame.headers.count; i++) {
        struct spdy_header *header = &frame.headers.items[i];

        if (strcmp(header->name, "port") == 0) {
            free(header->value);
            header->value = xstrdup(port_text);
            header->value_length = strlen(port_text);
        }
    }
    spdy_write_syn_stream(writer, out, frame.stream_id, frame.associated_stream_id, frame.priority,
                          frame.flags, frame.headers.items, frame.headers.count);
    spdy_frame_clear(&frame);
}

/* Masks one tunnel message as a client would. */
static void wrap_tunnel(const void *data, size_t length, struct strbuf *out)
{
    struct websocket_protocol_info info = {WEBSOCKET_FRAMING_RAW, 0, false};
    struct websocket_callbacks none = {0};
    struct websocket_session *client = websocket_session_new(false, &info, 1 << 20, &none, NULL);

    websocket_session_send(client, 0, data, length);
    websocket_session_flush(client, out);
    websocket_session_free(client);
}

static void send_client_frames(struct harness *harness, struct replay *replay, int fd,
                               struct decoder *decoder, const struct wire_bytes *bytes)
{
    bool websocket = replay->websocket && !replay->tunnel;
    struct requirement requirements[256];
    size_t count = 0, since = 0;
    struct spdy_parser rewrite_parser;
    struct spdy_writer rewrite_writer;

    spdy_parser_init(&rewrite_parser, NULL);
    spdy_writer_init(&rewrite_writer);
    for (size_t i = 0; i < json_array_size(replay->timeline); i++) {
        json_t *entry = json_array_get(replay->timeline, i);

        if (replay->conn && !wire_entry_is(entry, "conn", replay->conn))
            continue;
        if (!is_frame_entry(entry))
            continue;
        if (wire_entry_is(entry, "dir", "s2c")) {
            if (count < ARRAY_SIZE(requirements))
                requirements[count++] =
                    (struct requirement){entry_kind(entry), entry_stream(entry, websocket)};
            continue;
        }

        wait_for(fd, decoder, since, requirements, count);
        since = replay->frame_count;
        count = 0;

        size_t offset = (size_t)json_integer_value(json_object_get(entry, "offset"));
        size_t length = client_frame_length(bytes, offset, websocket);
        _cleanup_strbuf_ struct strbuf frame = STRBUF_INIT;
        assert_true(offset + length <= bytes->length);
        if (replay->port_override)
            rewrite_spdy_frame(&rewrite_parser, &rewrite_writer, bytes->data + offset, length,
                               replay->port_override, &frame);
        else
            strbuf_append(&frame, bytes->data + offset, length);
        if (replay->tunnel) {
            _cleanup_strbuf_ struct strbuf wrapped = STRBUF_INIT;

            wrap_tunnel(frame.data, frame.length, &wrapped);
            harness_send(fd, wrapped.data, wrapped.length);
        } else {
            harness_send(fd, frame.data, frame.length);
        }
    }
    spdy_parser_free(&rewrite_parser);
    spdy_writer_free(&rewrite_writer);
}

void harness_replay(struct harness *harness, struct replay *replay)
{
    struct wire_bytes bytes, head_bytes;
    struct decoder decoder = {.replay = replay};
    _cleanup_strbuf_ struct strbuf rest = STRBUF_INIT;

    replay->timeline = wire_timeline(replay->name);
    wire_read(replay->name, replay->conn, "c2s", &bytes);
    wire_read(replay->head_name ? replay->head_name : replay->name, replay->conn, "c2s",
              &head_bytes);
    size_t head_length = wire_head_length(&head_bytes);
    assert_true(head_length > 0);

    _cleanup_free_ char *url = harness_issue(harness, replay->request);
    _cleanup_free_ char *head =
        harness_rewrite_head((const char *)head_bytes.data, head_length, url);
    harness_resume(harness);
    int fd = harness_connect(harness);
    harness_send(fd, head, strlen(head));
    replay->response_head = harness_read_response_head(fd, &rest);

    if (strncmp(replay->response_head, "HTTP/1.1 101 ", 13) == 0) {
        spdy_parser_init(&decoder.spdy, NULL);
        if (replay->websocket) {
            struct websocket_protocol_info info;
            const char *protocol = strcasestr(replay->response_head, "Sec-WebSocket-Protocol: ");
            _cleanup_free_ char *name =
                protocol ? xstrndup(protocol + 24, strcspn(protocol + 24, "\r\n")) : xstrdup("");

            assert_int_equal(websocket_protocol_info(name, &info), 0);
            decoder.ws = websocket_session_new(false, &info, 1 << 24, &decoder_callbacks, &decoder);
        }
        if (rest.length > 0)
            decode(&decoder, rest.data, rest.length);
        send_client_frames(harness, replay, fd, &decoder, &bytes);
        uint64_t deadline = now_ms() + WAIT_LIMIT_MS;
        while (pump(fd, &decoder, 100) >= 0) {
            if (now_ms() > deadline)
                fail_msg("%s: the server did not close the connection", replay->name);
        }
        websocket_session_free(decoder.ws);
        spdy_parser_free(&decoder.spdy);
    } else {
        _cleanup_strbuf_ struct strbuf body = STRBUF_INIT;

        harness_read_to_eof(fd, &body);
    }
    close(fd);
    harness_pause(harness);
    wire_bytes_free(&bytes);
    wire_bytes_free(&head_bytes);
}

void replay_free(struct replay *replay)
{
    for (size_t i = 0; i < replay->frame_count; i++)
        strbuf_free(&replay->frames[i].data);
    free(replay->frames);
    free(replay->response_head);
    json_decref(replay->timeline);
    replay->frames = NULL;
    replay->frame_count = 0;
    replay->response_head = NULL;
    replay->timeline = NULL;
}

void replay_stream_data(const struct replay *replay, int kind, uint32_t stream, struct strbuf *out)
{
    for (size_t i = 0; i < replay->frame_count; i++) {
        if (replay->frames[i].kind == kind && replay->frames[i].stream == stream)
            strbuf_append(out, replay->frames[i].data.data, replay->frames[i].data.length);
    }
}

static void *pod_thread(void *data)
{
    struct pod_server *pod = data;

    for (int i = 0; i < pod->connections; i++) {
        int fd = accept(pod->listen_fd, NULL, NULL);
        struct strbuf request = STRBUF_INIT;

        if (fd < 0)
            break;
        while (request.data == NULL || strstr(request.data, "\r\n\r\n") == NULL) {
            if (read_some(fd, &request, 5000) <= 0)
                break;
        }
        harness_send(fd, POD_RESPONSE, strlen(POD_RESPONSE));
        strbuf_free(&request);
        close(fd);
    }
    return NULL;
}

static int listen_loopback(uint16_t *port)
{
    struct sockaddr_in address = {.sin_family = AF_INET};
    socklen_t length = sizeof(address);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    inet_pton(AF_INET, "127.0.0.1", &address.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&address, sizeof(address)), 0);
    assert_int_equal(listen(fd, 16), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&address, &length), 0);
    *port = ntohs(address.sin_port);
    return fd;
}

void pod_server_start(struct pod_server *pod, int connections)
{
    pod->connections = connections;
    pod->listen_fd = listen_loopback(&pod->port);
    assert_int_equal(pthread_create(&pod->thread, NULL, pod_thread, pod), 0);
}

void pod_server_join(struct pod_server *pod)
{
    pthread_join(pod->thread, NULL);
    close(pod->listen_fd);
}

uint16_t unused_port(void)
{
    uint16_t port;
    int fd = listen_loopback(&port);

    close(fd);
    return port;
}

static void *sink_thread(void *data)
{
    struct pod_server *pod = data;
    char buffer[65536];
    size_t total = 0;
    ssize_t n;
    int fd = accept(pod->listen_fd, NULL, NULL);

    if (fd < 0)
        return NULL;
    while ((n = recv(fd, buffer, sizeof(buffer), 0)) > 0) {
        total += (size_t)n;
        usleep(2000);
    }
    _cleanup_free_ char *answer = xasprintf("got %zu\n", total);
    harness_send(fd, answer, strlen(answer));
    close(fd);
    return NULL;
}

void pod_sink_start(struct pod_server *pod)
{
    pod->connections = 1;
    pod->listen_fd = listen_loopback(&pod->port);
    assert_int_equal(pthread_create(&pod->thread, NULL, sink_thread, pod), 0);
}
