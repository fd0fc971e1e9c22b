/*
 * The WebSocket checks of streaming_client: Exec (v5.channel.k8s.io), Attach, and PortForward
 * as SPDY/3.1 tunnelled in binary messages, against hostcri.exe, as crictl --transport
 * websocket connects. The client side of the frames is the daemon's own WebSocket session in
 * client mode (cri/streaming/websocket.c), which masks what it sends.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winsock2.h>

#include "api/api.pb-c.h"
#include "checks.h"
#include "common/strbuf.h"
#include "cri/streaming/spdy.h"
#include "cri/streaming/websocket.h"
#include "streaming_client.h"
#include "streaming_common.h"

#define CHANNEL_COUNT 8
#define CHANNEL_STDIN 0
#define CHANNEL_STDOUT 1
#define CHANNEL_STDERR 2
#define CHANNEL_ERROR 3
/* The v5 close signal: channel 255, then the channel that ends. */
#define CLOSE_SIGNAL_CHANNEL 255
/* The example key of RFC 6455 section 1.3 and its accept value: checks the daemon's SHA-1. */
#define SAMPLE_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define SAMPLE_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="

/* One WebSocket connection and what came back on it. */
struct ws_conn {
    SOCKET sock;
    struct websocket_session *session;
    struct strbuf channels[CHANNEL_COUNT];
    char status_line[128];
    char accept[64];
    char protocol[64];
    char error[256]; /* a protocol error in the server's frames */
    bool upgraded;
    bool closed; /* the server's close frame arrived */
    uint16_t close_code;
};

static const char *text(const struct strbuf *buffer)
{
    return buffer->data ? buffer->data : "";
}

static void on_message(void *data, unsigned channel, const uint8_t *payload, size_t length)
{
    struct ws_conn *conn = data;

    if (channel < CHANNEL_COUNT)
        strbuf_append(&conn->channels[channel], payload, length);
}

static void on_close(void *data, uint16_t code)
{
    struct ws_conn *conn = data;

    conn->closed = true;
    conn->close_code = code;
}

static const struct websocket_callbacks ws_callbacks = {
    .on_message = on_message,
    .on_close = on_close,
};

/* Copies the value of header name in the NUL-terminated response head into out. */
static void header_value(const char *head, const char *name, char *out, size_t size)
{
    size_t name_length = strlen(name);

    out[0] = '\0';
    for (const char *line = strstr(head, "\r\n"); line != NULL; line = strstr(line, "\r\n")) {
        line += 2;
        if (_strnicmp(line, name, name_length) == 0 && line[name_length] == ':') {
            const char *value = line + name_length + 1;

            while (*value == ' ')
                value++;
            snprintf(out, size, "%.*s", (int)strcspn(value, "\r\n"), value);
            return;
        }
    }
}

/* Sends what the session queued: messages, pongs and the close reply. */
static void ws_flush(struct ws_conn *conn)
{
    struct strbuf out = STRBUF_INIT;

    websocket_session_flush(conn->session, &out);
    if (out.length > 0)
        streaming_send_all(conn->sock, out.data, out.length);
    strbuf_free(&out);
}

/* Feeds received bytes to the session. Returns false on a protocol error, kept in conn->error. */
static bool ws_feed(struct ws_conn *conn, const char *data, size_t length)
{
    struct error err = ERROR_INIT;
    bool ok = websocket_session_feed(conn->session, data, length, &err) == 0;

    if (!ok)
        snprintf(conn->error, sizeof(conn->error), "%s", err.message);
    error_clear(&err);
    ws_flush(conn);
    return ok;
}

/* Reads once from the socket. Returns false at the end of the connection, a receive timeout or
 * a protocol error. */
static bool ws_read(struct ws_conn *conn)
{
    char buffer[16384];
    int n = recv(conn->sock, buffer, sizeof(buffer), 0);

    return n > 0 && ws_feed(conn, buffer, (size_t)n);
}

static void ws_send(struct ws_conn *conn, unsigned channel, const void *data, size_t length)
{
    websocket_session_send(conn->session, channel, data, length);
    ws_flush(conn);
}

/* Reads until the server's close frame or the end of the connection. */
static void ws_finish(struct ws_conn *conn)
{
    while (!conn->closed && ws_read(conn))
        ;
}

/* Upgrades a connection to url with protocol. Returns whether the server responded with 101. */
static bool ws_open(struct ws_conn *conn, const char *url, const char *protocol)
{
    struct websocket_protocol_info info;
    struct strbuf head = STRBUF_INIT;
    const char *path;
    size_t head_length;

    memset(conn, 0, sizeof(*conn));
    snprintf(conn->status_line, sizeof(conn->status_line), "cannot connect to %s", url);
    conn->sock = streaming_connect_url(url, "http", &path);
    if (conn->sock == INVALID_SOCKET || websocket_protocol_info(protocol, &info) < 0)
        return false;
    conn->session = websocket_session_new(false, &info, 1 << 24, &ws_callbacks, conn);
    strbuf_appendf(&head,
                   "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
                   "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                   "Sec-WebSocket-Key: " SAMPLE_KEY "\r\nSec-WebSocket-Protocol: %s\r\n\r\n",
                   path, protocol);
    streaming_send_all(conn->sock, head.data, head.length);
    strbuf_reset(&head);

    head_length = streaming_read_head(conn->sock, &head);
    if (head_length == 0) {
        snprintf(conn->status_line, sizeof(conn->status_line), "no response head");
    } else {
        /* End the head's text after its last header line; the frames after it stay intact. */
        head.data[head_length - 2] = '\0';
        snprintf(conn->status_line, sizeof(conn->status_line), "%.*s",
                 (int)strcspn(head.data, "\r\n"), head.data);
        header_value(head.data, "Sec-WebSocket-Accept", conn->accept, sizeof(conn->accept));
        header_value(head.data, "Sec-WebSocket-Protocol", conn->protocol, sizeof(conn->protocol));
        conn->upgraded = strncmp(head.data, "HTTP/1.1 101", 12) == 0;
    }
    /* The server's first messages may have come with the head. */
    if (conn->upgraded && head.length > head_length)
        ws_feed(conn, head.data + head_length, head.length - head_length);
    strbuf_free(&head);
    return conn->upgraded;
}

static void ws_conn_free(struct ws_conn *conn)
{
    if (conn->sock != INVALID_SOCKET)
        closesocket(conn->sock);
    websocket_session_free(conn->session);
    for (size_t i = 0; i < CHANNEL_COUNT; i++)
        strbuf_free(&conn->channels[i]);
}

/* Issues an Exec URL for command with stdout, and stdin and stderr when asked. Returns the
 * response (free with streaming_free_message), or NULL after a FAIL line. */
static Runtime__V1__ExecResponse *issue_exec(const char *container_id, char **command, size_t count,
                                             bool with_stdin)
{
    char error[512];
    Runtime__V1__ExecResponse *response = streaming_request_exec(
        container_id, command, count, false, with_stdin, error, sizeof(error));

    if (!check(response != NULL, "Exec issues a URL for a WebSocket exec", "%s", error))
        return NULL;
    return response;
}

/* cmd /c echo hello over v5: the handshake, stdout, the status and the closing handshake. */
static void test_exec_hello(const char *container_id)
{
    char *command[] = {"cmd", "/c", "echo hello"};
    Runtime__V1__ExecResponse *response = issue_exec(container_id, command, 3, false);
    struct ws_conn conn;

    if (response == NULL)
        return;
    bool upgraded = ws_open(&conn, response->url, WEBSOCKET_PROTOCOL_V5);
    check(upgraded && strcmp(conn.protocol, WEBSOCKET_PROTOCOL_V5) == 0,
          "the exec URL upgrades to WebSocket with v5.channel.k8s.io", "%s, protocol \"%s\"",
          conn.status_line, conn.protocol);
    if (upgraded) {
        check(strcmp(conn.accept, SAMPLE_ACCEPT) == 0,
              "Sec-WebSocket-Accept is the SHA-1 value of RFC 6455's example",
              "Sec-WebSocket-Accept \"%s\"", conn.accept);
        ws_finish(&conn);
        const char *out = text(&conn.channels[CHANNEL_STDOUT]);
        const char *status = text(&conn.channels[CHANNEL_ERROR]);
        check(strcmp(out, "hello\r\n") == 0 || strcmp(out, "hello\n") == 0,
              "WebSocket exec cmd /c echo hello writes hello on stdout", "stdout \"%s\", %s", out,
              conn.error);
        check(strstr(status, "\"Success\"") != NULL,
              "WebSocket exec cmd /c echo hello reports Success", "status \"%s\"", status);
        check(conn.closed && conn.close_code == WEBSOCKET_CLOSE_NORMAL,
              "the server ends a WebSocket exec with close 1000", "closed %d, code %u", conn.closed,
              conn.close_code);
    }
    ws_conn_free(&conn);
    streaming_free_message(response);
}

/* stdin to a command that copies it to stdout, then the v5 close signal for stdin: the command
 * reads to the end of its input, writes to stderr and exits with status 3. */
static void test_exec_stdin(const char *container_id)
{
    static const char input[] = "line over websocket\n";
    static const uint8_t end_stdin[] = {CHANNEL_STDIN};
    char *command[] = {streaming_self_path, "stdin-echo"};
    Runtime__V1__ExecResponse *response = issue_exec(container_id, command, 2, true);
    struct ws_conn conn;

    if (response == NULL)
        return;
    if (check(ws_open(&conn, response->url, WEBSOCKET_PROTOCOL_V5),
              "the exec URL with stdin upgrades to WebSocket", "%s", conn.status_line)) {
        ws_send(&conn, CHANNEL_STDIN, input, strlen(input));
        ws_send(&conn, CLOSE_SIGNAL_CHANNEL, end_stdin, sizeof(end_stdin));
        ws_finish(&conn);
        const char *out = text(&conn.channels[CHANNEL_STDOUT]);
        const char *errors = text(&conn.channels[CHANNEL_STDERR]);
        const char *status = text(&conn.channels[CHANNEL_ERROR]);
        check(strstr(out, "line over websocket") != NULL,
              "WebSocket exec copies stdin to the command", "stdout \"%s\", %s", out, conn.error);
        check(strstr(errors, "stdin closed") != NULL,
              "the v5 close signal ends the command's stdin", "stderr \"%s\"", errors);
        check(strstr(status, "\"ExitCode\"") && strstr(status, "\"3\""),
              "WebSocket exec reports exit code 3", "status \"%s\"", status);
    }
    ws_conn_free(&conn);
    streaming_free_message(response);
}

void streaming_ws_test_exec(const char *container_id)
{
    test_exec_hello(container_id);
    test_exec_stdin(container_id);
}

void streaming_ws_test_attach(const char *container_id)
{
    struct ws_conn conn;
    char error[512];
    Runtime__V1__AttachResponse *response =
        streaming_request_attach(container_id, error, sizeof(error));

    if (!check(response != NULL, "Attach issues a URL for a WebSocket attach", "%s", error))
        return;
    if (check(ws_open(&conn, response->url, WEBSOCKET_PROTOCOL_V5),
              "the attach URL upgrades to WebSocket", "%s", conn.status_line)) {
        while (strstr(text(&conn.channels[CHANNEL_STDOUT]), "sleeping") == NULL && !conn.closed &&
               ws_read(&conn))
            ;
        check(strstr(text(&conn.channels[CHANNEL_STDOUT]), "sleeping") != NULL,
              "WebSocket attach relays the container's output", "stdout \"%s\", %s",
              text(&conn.channels[CHANNEL_STDOUT]), conn.error);
        /* The client leaves with close 1000; the server echoes it and the container lives on. */
        websocket_session_close(conn.session, WEBSOCKET_CLOSE_NORMAL, NULL);
        ws_flush(&conn);
        ws_finish(&conn);
        check(conn.closed && conn.close_code == WEBSOCKET_CLOSE_NORMAL,
              "the server echoes the client's close 1000", "closed %d, code %u", conn.closed,
              conn.close_code);
    }
    ws_conn_free(&conn);
    streaming_free_message(response);
}

/* Reads tunnelled SPDY frames until the data stream (3) has "pong ping" or the connection
 * ends, and collects the data of each stream in streams. */
static void read_tunnel(struct ws_conn *conn, struct strbuf streams[STREAMING_SPDY_STREAMS])
{
    struct spdy_parser parser;
    size_t parsed = 0;

    spdy_parser_init(&parser, NULL);
    do {
        struct strbuf *received = &conn->channels[0];

        spdy_parser_feed(&parser, text(received) + parsed, received->length - parsed);
        parsed = received->length;
        streaming_collect_spdy_data(&parser, streams);
    } while (strstr(text(&streams[3]), "pong ping") == NULL && !conn->closed && ws_read(conn));
    spdy_parser_free(&parser);
}

void streaming_ws_test_port_forward(const char *pod_id)
{
    Runtime__V1__PortForwardResponse *response = NULL;
    struct strbuf frames = STRBUF_INIT, end = STRBUF_INIT;
    struct strbuf streams[STREAMING_SPDY_STREAMS] = {0};
    struct ws_conn conn = {.sock = INVALID_SOCKET};
    struct streaming_pong pong;
    char error[512];
    int32_t port = streaming_pong_start(&pong);

    if (!check(port != 0, "a TCP listener on 127.0.0.1 for the WebSocket port-forward",
               "WSA error %d", WSAGetLastError()))
        goto out;
    response = streaming_request_port_forward(pod_id, &port, error, sizeof(error));
    if (!check(response != NULL, "PortForward issues a URL for a WebSocket port-forward", "%s",
               error))
        goto out;
    if (!check(ws_open(&conn, response->url, WEBSOCKET_PROTOCOL_SPDY_TUNNEL) &&
                   strcmp(conn.protocol, WEBSOCKET_PROTOCOL_SPDY_TUNNEL) == 0,
               "the port-forward URL upgrades to WebSocket with SPDY/3.1+portforward.k8s.io",
               "%s, protocol \"%s\"", conn.status_line, conn.protocol))
        goto out;
    streaming_append_port_forward_streams(port, &frames);
    ws_send(&conn, 0, frames.data, frames.length);
    read_tunnel(&conn, streams);
    check(strcmp(text(&streams[3]), "pong ping") == 0,
          "port-forward through SPDY in WebSocket carries data both ways", "data stream \"%s\", %s",
          text(&streams[3]), conn.error);
    spdy_write_goaway(&end, 0, SPDY_GOAWAY_OK);
    ws_send(&conn, 0, end.data, end.length);
    ws_finish(&conn);
out:
    ws_conn_free(&conn);
    streaming_free_message(response);
    strbuf_free(&frames);
    strbuf_free(&end);
    for (size_t i = 0; i < STREAMING_SPDY_STREAMS; i++)
        strbuf_free(&streams[i]);
    streaming_pong_stop(&pong);
}
