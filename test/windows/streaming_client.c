/*
 * streaming_client: the Wine test of hostcri.exe's streaming server. Over the daemon's named
 * pipe it runs a HostProcess pod with one container that prints a line every half second, asks
 * for Exec, Attach and PortForward URLs, and speaks SPDY/3.1 to them over a plain TCP socket,
 * as kubectl does through the kubelet: the HTTP upgrade, SYN_STREAM frames for the streams, and
 * the frames that come back (cri/streaming/spdy.c writes and parses them). streaming_ws.c runs
 * the same requests over WebSocket. Prints one "PASS", "FAIL" or "XFAIL" line per check and a
 * summary.
 *
 * Usage:
 *   streaming_client.exe run \\.\pipe\NAME IMAGE TEST_DIR
 *   streaming_client.exe sleep        (the container's command)
 *   streaming_client.exe stdin-echo   (an exec's command: copies stdin to stdout, then exits 3)
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winsock2.h>

#include "checks.h"
#include "api/api.pb-c.h"
#include "cri/streaming/spdy.h"
#include "streaming_client.h"
#include "streaming_common.h"

/* ---- One SPDY/3.1 connection -------------------------------------------------------------- */

/* What came back on a connection: the data of each stream, up to stream 15. */
struct spdy_result {
    struct strbuf data[STREAMING_SPDY_STREAMS];
    bool upgraded;
    char status_line[128];
};

static void spdy_result_free(struct spdy_result *result)
{
    for (size_t i = 0; i < STREAMING_SPDY_STREAMS; i++)
        strbuf_free(&result->data[i]);
}

/*
 * Upgrades a connection to url with protocol, sends frames, then reads frames until the server
 * closes, the read times out, or stop_stream has its text stop_text (then sends end, or leaves
 * when end is NULL). Fills *result.
 */
static void spdy_exchange(const char *url, const char *protocol, const struct strbuf *frames,
                          int stop_stream, const char *stop_text, const struct strbuf *end,
                          struct spdy_result *result)
{
    const char *path;
    SOCKET sock = streaming_connect_url(url, "http", &path);
    struct strbuf head = STRBUF_INIT;
    struct spdy_parser parser;
    size_t head_length;
    char buffer[16384];
    int n;

    memset(result, 0, sizeof(*result));
    if (sock == INVALID_SOCKET) {
        snprintf(result->status_line, sizeof(result->status_line), "cannot connect to %s", url);
        return;
    }
    streaming_append_spdy_upgrade(&head, path, protocol);
    streaming_send_all(sock, head.data, head.length);
    strbuf_reset(&head);
    head_length = streaming_read_head(sock, &head);
    if (head_length == 0) {
        snprintf(result->status_line, sizeof(result->status_line), "no response head");
        goto out;
    }
    snprintf(result->status_line, sizeof(result->status_line), "%.*s",
             (int)strcspn(head.data, "\r\n"), head.data);
    result->upgraded = strncmp(head.data, "HTTP/1.1 101", 12) == 0;
    if (!result->upgraded)
        goto out;
    spdy_parser_init(&parser, NULL);
    spdy_parser_feed(&parser, head.data + head_length, head.length - head_length);
    streaming_send_all(sock, frames->data, frames->length);
    for (bool ended = false;;) {
        streaming_collect_spdy_data(&parser, result->data);
        if (!ended && stop_text && result->data[stop_stream].data &&
            strstr(result->data[stop_stream].data, stop_text)) {
            if (end == NULL)
                break; /* the client leaves, as a detaching kubectl attach does */
            streaming_send_all(sock, end->data, end->length);
            ended = true;
        }
        if ((n = recv(sock, buffer, sizeof(buffer), 0)) <= 0)
            break;
        spdy_parser_feed(&parser, buffer, (size_t)n);
    }
    spdy_parser_free(&parser);
out:
    strbuf_free(&head);
    closesocket(sock);
}

/* Runs an exec of command over SPDY (v4.channel.k8s.io) and fills *result: stream 3 is stdout,
 * stream 1 the v4 status. */
static bool exec_over_spdy(const char *container_id, char **command, size_t count, bool tty,
                           struct spdy_result *result)
{
    struct strbuf frames = STRBUF_INIT;
    char error[512];
    Runtime__V1__ExecResponse *response =
        streaming_request_exec(container_id, command, count, tty, false, error, sizeof(error));

    if (!check(response && strncmp(response->url, "http://127.0.0.1:", 17) == 0,
               "Exec issues a URL of the streaming server on 127.0.0.1", "%s %s", error,
               response ? response->url : "")) {
        streaming_free_message(response);
        return false;
    }
    streaming_append_exec_streams(&frames);
    spdy_exchange(response->url, "v4.channel.k8s.io", &frames, 0, NULL, NULL, result);
    strbuf_free(&frames);
    streaming_free_message(response);
    return check(result->upgraded, "the exec URL upgrades to SPDY/3.1", "%s", result->status_line);
}

/* The container's command: writes a line every half second, for the attach. */
static __attribute__((noreturn)) void run_sleep(void)
{
    for (;;) {
        printf("sleeping\n");
        fflush(stdout);
        Sleep(500);
    }
}

/* An exec's command for the WebSocket checks: copies stdin to stdout until end of file, writes
 * "stdin closed" to stderr, and exits with status 3. */
static __attribute__((noreturn)) void run_stdin_echo(void)
{
    char buffer[4096];
    size_t n;

    while ((n = fread(buffer, 1, sizeof(buffer), stdin)) > 0)
        fwrite(buffer, 1, n, stdout);
    fflush(stdout);
    fprintf(stderr, "stdin closed\n");
    fflush(stderr);
    exit(3);
}

/* ---- The checks ----------------------------------------------------------------------------- */

static void test_exec_hello(const char *container_id)
{
    char *command[] = {"cmd", "/c", "echo hello"};
    struct spdy_result result;

    if (exec_over_spdy(container_id, command, 3, false, &result)) {
        const char *out = result.data[3].data ? result.data[3].data : "";
        const char *status = result.data[1].data ? result.data[1].data : "";

        check(strcmp(out, "hello\r\n") == 0 || strcmp(out, "hello\n") == 0,
              "exec cmd /c echo hello writes hello on stdout", "stdout \"%s\"", out);
        check(strstr(status, "\"Success\"") != NULL, "exec cmd /c echo hello reports Success",
              "status \"%s\"", status);
    }
    spdy_result_free(&result);
}

static void test_exec_exit_code(const char *container_id)
{
    char *command[] = {"cmd", "/c", "exit 3"};
    struct spdy_result result;

    if (exec_over_spdy(container_id, command, 3, false, &result)) {
        const char *status = result.data[1].data ? result.data[1].data : "";

        check(strstr(status, "\"ExitCode\"") && strstr(status, "\"3\""),
              "exec cmd /c exit 3 reports exit code 3", "status \"%s\"", status);
    }
    spdy_result_free(&result);
}

static void test_exec_tty(const char *container_id)
{
    char *command[] = {"cmd", "/c", "echo hello"};
    struct spdy_result result;

    if (exec_over_spdy(container_id, command, 3, true, &result)) {
        const char *out = result.data[3].data ? result.data[3].data : "";
        bool ok = strstr(out, "hello") != NULL;

        if (!ok && checks_under_wine())
            expected_failure("tty exec cmd /c echo hello writes hello on the terminal",
                             "Wine's pseudo console produces no output");
        else
            check(ok, "tty exec cmd /c echo hello writes hello on the terminal",
                  "terminal output \"%s\"", out);
    }
    spdy_result_free(&result);
}

static void test_attach(const char *container_id)
{
    struct strbuf frames = STRBUF_INIT;
    struct spdy_result result;
    char error[512];
    Runtime__V1__AttachResponse *response =
        streaming_request_attach(container_id, error, sizeof(error));

    if (check(response && strncmp(response->url, "http://127.0.0.1:", 17) == 0,
              "Attach issues a URL of the streaming server", "%s", error)) {
        streaming_append_exec_streams(&frames);
        spdy_exchange(response->url, "v4.channel.k8s.io", &frames, 3, "sleeping", NULL, &result);
        check(result.data[3].data && strstr(result.data[3].data, "sleeping"),
              "attach relays the container's output", "%s: stdout \"%s\", error stream \"%s\"",
              result.status_line, result.data[3].data ? result.data[3].data : "",
              result.data[1].data ? result.data[1].data : "");
        spdy_result_free(&result);
    }
    strbuf_free(&frames);
    streaming_free_message(response);
}

static void test_port_forward(const char *pod_id)
{
    Runtime__V1__PortForwardResponse *response;
    struct strbuf frames = STRBUF_INIT, end = STRBUF_INIT;
    struct spdy_result result;
    struct streaming_pong pong;
    char error[512];
    int32_t port = streaming_pong_start(&pong);

    if (!check(port != 0, "a TCP listener on 127.0.0.1 for the port-forward", "WSA error %d",
               WSAGetLastError())) {
        streaming_pong_stop(&pong);
        return;
    }
    response = streaming_request_port_forward(pod_id, &port, error, sizeof(error));
    if (check(response && strncmp(response->url, "http://127.0.0.1:", 17) == 0,
              "PortForward issues a URL of the streaming server", "%s", error)) {
        streaming_append_port_forward_streams(port, &frames);
        spdy_write_goaway(&end, 0, SPDY_GOAWAY_OK);
        spdy_exchange(response->url, "portforward.k8s.io", &frames, 3, "pong ping", &end, &result);
        check(result.upgraded, "the port-forward URL upgrades to SPDY/3.1", "%s",
              result.status_line);
        check(result.data[3].data && strcmp(result.data[3].data, "pong ping") == 0,
              "port-forward carries data both ways to a listener on 127.0.0.1",
              "data stream \"%s\", error stream \"%s\"",
              result.data[3].data ? result.data[3].data : "",
              result.data[1].data ? result.data[1].data : "");
        spdy_result_free(&result);
    }
    streaming_free_message(response);
    strbuf_free(&frames);
    strbuf_free(&end);
    streaming_pong_stop(&pong);
}

/* ---- The pod and its container ------------------------------------------------------------ */

static void run_all(const char *image, const char *test_dir)
{
    struct streaming_pod pod;
    char *container_id;

    if (!streaming_pod_run(&pod, image, "streaming", test_dir,
                           "RunPodSandbox of the streaming pod"))
        return;
    container_id = streaming_pod_start_sleeper(&pod, "sleeper");
    if (container_id) {
        test_exec_hello(container_id);
        test_exec_exit_code(container_id);
        test_exec_tty(container_id);
        test_attach(container_id);
        streaming_ws_test_exec(container_id);
        streaming_ws_test_attach(container_id);
    }
    test_port_forward(pod.id);
    streaming_ws_test_port_forward(pod.id);
    streaming_pod_remove(&pod);
    free(container_id);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 2 && strcmp(argv[1], "sleep") == 0)
        run_sleep();
    if (argc == 2 && strcmp(argv[1], "stdin-echo") == 0)
        run_stdin_echo();
    if (argc != 5 || strcmp(argv[1], "run") != 0) {
        fprintf(stderr, "usage: %s run \\\\.\\pipe\\NAME IMAGE TEST_DIR\n", argv[0]);
        return 2;
    }
    streaming_init(argv[2]);
    run_all(argv[3], argv[4]);
    WSACleanup();
    return checks_finish();
}
