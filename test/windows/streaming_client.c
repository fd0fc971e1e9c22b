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
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winsock2.h>
#include <ws2tcpip.h>

#include "checks.h"
#include "api/api.pb-c.h"
#include "cri/streaming/spdy.h"
#include "pipe_grpc.h"
#include "streaming_client.h"

#define RUNTIME "/runtime.v1.RuntimeService/"
#define IMAGES "/runtime.v1.ImageService/"
#define GRPC_OK 0
#define RECEIVE_TIMEOUT_MS 30000

static const char *pipe_name;
static const char *image;
static const char *test_dir;
char streaming_self_path[MAX_PATH];

/* ---- Calls over the pipe ----------------------------------------------------------------- */

void *streaming_call(const char *method, const ProtobufCMessage *request,
                     const ProtobufCMessageDescriptor *descriptor, char *error, size_t error_size)
{
    struct pipe_grpc_call grpc;
    const uint8_t *message;
    size_t length = 0;
    void *response = NULL;

    error[0] = '\0';
    pipe_grpc_call_init(&grpc, method, request);
    if (!pipe_grpc_call_once(pipe_name, &grpc, error, error_size)) {
        pipe_grpc_call_free(&grpc);
        return NULL;
    }
    if (grpc.grpc_status != GRPC_OK) {
        snprintf(error, error_size, "grpc-status %d: %s", grpc.grpc_status, grpc.grpc_message);
    } else {
        message = pipe_grpc_call_message(&grpc, &length);
        response = protobuf_c_message_unpack(descriptor, NULL, message ? length : 0, message);
        if (response == NULL)
            snprintf(error, error_size, "an undecodable response");
    }
    pipe_grpc_call_free(&grpc);
    return response;
}

void streaming_free_message(void *message)
{
    if (message)
        protobuf_c_message_free_unpacked(message, NULL);
}

/* ---- One SPDY/3.1 connection -------------------------------------------------------------- */

/* What came back on a connection: the data of each stream, up to stream 15. */
struct spdy_result {
    struct strbuf data[16];
    bool upgraded;
    char status_line[128];
};

static void spdy_result_free(struct spdy_result *result)
{
    for (size_t i = 0; i < 16; i++)
        strbuf_free(&result->data[i]);
}

SOCKET streaming_connect_url(const char *url, const char **path)
{
    struct sockaddr_in address = {.sin_family = AF_INET};
    char host[64];
    unsigned port;
    DWORD timeout = RECEIVE_TIMEOUT_MS;
    SOCKET sock;

    if (sscanf(url, "http://%63[^:]:%u", host, &port) != 2 ||
        (*path = strchr(url + 7, '/')) == NULL)
        return INVALID_SOCKET;
    address.sin_port = htons((u_short)port);
    if (inet_pton(AF_INET, host, &address.sin_addr) != 1)
        return INVALID_SOCKET;
    sock = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (sock == INVALID_SOCKET)
        return sock;
    setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, (const char *)&timeout, sizeof(timeout));
    if (connect(sock, (struct sockaddr *)&address, sizeof(address)) != 0) {
        closesocket(sock);
        return INVALID_SOCKET;
    }
    return sock;
}

void streaming_send_all(SOCKET sock, const void *data, size_t length)
{
    const char *bytes = data;

    while (length > 0) {
        int n = send(sock, bytes, (int)length, 0);

        if (n <= 0)
            return;
        bytes += n;
        length -= (size_t)n;
    }
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
    SOCKET sock = streaming_connect_url(url, &path);
    struct strbuf head = STRBUF_INIT;
    struct spdy_parser parser;
    struct spdy_frame frame = {0};
    struct error err = ERROR_INIT;
    char buffer[16384];
    char *end_of_head;
    int n;

    memset(result, 0, sizeof(*result));
    if (sock == INVALID_SOCKET) {
        snprintf(result->status_line, sizeof(result->status_line), "cannot connect to %s", url);
        return;
    }
    strbuf_appendf(&head,
                   "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
                   "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: %s\r\n\r\n",
                   path, protocol);
    streaming_send_all(sock, head.data, head.length);
    strbuf_reset(&head);
    while ((end_of_head = strstr(head.data ? head.data : "", "\r\n\r\n")) == NULL &&
           (n = recv(sock, buffer, sizeof(buffer), 0)) > 0)
        strbuf_append(&head, buffer, (size_t)n);
    if (end_of_head == NULL) {
        snprintf(result->status_line, sizeof(result->status_line), "no response head");
        goto out;
    }
    snprintf(result->status_line, sizeof(result->status_line), "%.*s",
             (int)strcspn(head.data, "\r\n"), head.data);
    result->upgraded = strncmp(head.data, "HTTP/1.1 101", 12) == 0;
    if (!result->upgraded)
        goto out;
    spdy_parser_init(&parser, NULL);
    spdy_parser_feed(&parser, end_of_head + 4, head.length - (size_t)(end_of_head + 4 - head.data));
    streaming_send_all(sock, frames->data, frames->length);
    for (bool ended = false;;) {
        while (spdy_parser_next(&parser, &frame, &err) == 1) {
            if (frame.type == SPDY_DATA && frame.stream_id < 16)
                strbuf_append(&result->data[frame.stream_id], frame.data, frame.data_length);
        }
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
    spdy_frame_clear(&frame);
    spdy_parser_free(&parser);
    error_clear(&err);
out:
    strbuf_free(&head);
    closesocket(sock);
}

/* Runs an exec of command over SPDY (v4.channel.k8s.io) and fills *result: stream 3 is stdout,
 * stream 1 the v4 status. */
static bool exec_over_spdy(const char *container_id, char **command, size_t count, bool tty,
                           struct spdy_result *result)
{
    Runtime__V1__ExecRequest request = RUNTIME__V1__EXEC_REQUEST__INIT;
    Runtime__V1__ExecResponse *response;
    struct spdy_header error_headers[] = {{"streamtype", "error", 5}};
    struct spdy_header stdout_headers[] = {{"streamtype", "stdout", 6}};
    struct spdy_writer writer;
    struct strbuf frames = STRBUF_INIT;
    char error[512];

    request.container_id = (char *)container_id;
    request.cmd = command;
    request.n_cmd = count;
    request.tty = tty;
    request.stdout = true;
    response = streaming_call(RUNTIME "Exec", &request.base,
                              &runtime__v1__exec_response__descriptor, error, sizeof(error));
    if (!check(response && strncmp(response->url, "http://127.0.0.1:", 17) == 0,
               "Exec issues a URL of the streaming server on 127.0.0.1", "%s %s", error,
               response ? response->url : "")) {
        streaming_free_message(response);
        return false;
    }
    spdy_writer_init(&writer);
    spdy_write_syn_stream(&writer, &frames, 1, 0, 0, 0, error_headers, 1);
    spdy_write_data(&frames, 1, SPDY_FLAG_FIN, NULL, 0);
    spdy_write_syn_stream(&writer, &frames, 3, 0, 0, 0, stdout_headers, 1);
    spdy_exchange(response->url, "v4.channel.k8s.io", &frames, 0, NULL, NULL, result);
    spdy_writer_free(&writer);
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
    Runtime__V1__AttachRequest request = RUNTIME__V1__ATTACH_REQUEST__INIT;
    Runtime__V1__AttachResponse *response;
    struct spdy_header error_headers[] = {{"streamtype", "error", 5}};
    struct spdy_header stdout_headers[] = {{"streamtype", "stdout", 6}};
    struct spdy_writer writer;
    struct strbuf frames = STRBUF_INIT;
    struct spdy_result result;
    char error[512];

    request.container_id = (char *)container_id;
    request.stdout = true;
    response = streaming_call(RUNTIME "Attach", &request.base,
                              &runtime__v1__attach_response__descriptor, error, sizeof(error));
    if (check(response && strncmp(response->url, "http://127.0.0.1:", 17) == 0,
              "Attach issues a URL of the streaming server", "%s", error)) {
        spdy_writer_init(&writer);
        spdy_write_syn_stream(&writer, &frames, 1, 0, 0, 0, error_headers, 1);
        spdy_write_data(&frames, 1, SPDY_FLAG_FIN, NULL, 0);
        spdy_write_syn_stream(&writer, &frames, 3, 0, 0, 0, stdout_headers, 1);
        spdy_exchange(response->url, "v4.channel.k8s.io", &frames, 3, "sleeping", NULL, &result);
        spdy_writer_free(&writer);
        check(result.data[3].data && strstr(result.data[3].data, "sleeping"),
              "attach relays the container's output", "%s: stdout \"%s\", error stream \"%s\"",
              result.status_line, result.data[3].data ? result.data[3].data : "",
              result.data[1].data ? result.data[1].data : "");
        spdy_result_free(&result);
    }
    strbuf_free(&frames);
    streaming_free_message(response);
}

/* The pod's listener: answers "pong <what it read>" to one connection. */
static DWORD WINAPI pong_thread(LPVOID data)
{
    SOCKET listener = (SOCKET)(uintptr_t)data;
    SOCKET peer = accept(listener, NULL, NULL);
    char buffer[64] = "pong ";
    int n;

    if (peer == INVALID_SOCKET)
        return 1;
    n = recv(peer, buffer + 5, sizeof(buffer) - 6, 0);
    if (n > 0)
        streaming_send_all(peer, buffer, 5 + (size_t)n);
    shutdown(peer, SD_SEND);
    closesocket(peer);
    return 0;
}

static void test_port_forward(const char *pod_id)
{
    struct sockaddr_in address = {.sin_family = AF_INET};
    int length = sizeof(address);
    SOCKET listener = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    Runtime__V1__PortForwardRequest request = RUNTIME__V1__PORT_FORWARD_REQUEST__INIT;
    Runtime__V1__PortForwardResponse *response;
    struct spdy_writer writer;
    struct strbuf frames = STRBUF_INIT, end = STRBUF_INIT;
    struct spdy_result result;
    HANDLE thread;
    char error[512], port_text[16];
    int32_t port;

    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (!check(listener != INVALID_SOCKET &&
                   bind(listener, (struct sockaddr *)&address, sizeof(address)) == 0 &&
                   listen(listener, 1) == 0 &&
                   getsockname(listener, (struct sockaddr *)&address, &length) == 0,
               "a TCP listener on 127.0.0.1 for the port-forward", "WSA error %d",
               WSAGetLastError()))
        return;
    port = ntohs(address.sin_port);
    snprintf(port_text, sizeof(port_text), "%d", (int)port);
    thread = CreateThread(NULL, 0, pong_thread, (LPVOID)(uintptr_t)listener, 0, NULL);

    request.pod_sandbox_id = (char *)pod_id;
    request.port = &port;
    request.n_port = 1;
    response =
        streaming_call(RUNTIME "PortForward", &request.base,
                       &runtime__v1__port_forward_response__descriptor, error, sizeof(error));
    if (check(response && strncmp(response->url, "http://127.0.0.1:", 17) == 0,
              "PortForward issues a URL of the streaming server", "%s", error)) {
        struct spdy_header error_headers[] = {{"streamtype", "error", 5},
                                              {"port", port_text, strlen(port_text)},
                                              {"requestid", "0", 1}};
        struct spdy_header data_headers[] = {{"streamtype", "data", 4},
                                             {"port", port_text, strlen(port_text)},
                                             {"requestid", "0", 1}};

        spdy_writer_init(&writer);
        spdy_write_syn_stream(&writer, &frames, 1, 0, 0, 0, error_headers, 3);
        spdy_write_data(&frames, 1, SPDY_FLAG_FIN, NULL, 0);
        spdy_write_syn_stream(&writer, &frames, 3, 0, 0, 0, data_headers, 3);
        spdy_write_data(&frames, 3, SPDY_FLAG_FIN, "ping", 4);
        spdy_write_goaway(&end, 0, SPDY_GOAWAY_OK);
        spdy_exchange(response->url, "portforward.k8s.io", &frames, 3, "pong ping", &end, &result);
        spdy_writer_free(&writer);
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
    closesocket(listener);
    if (thread) {
        WaitForSingleObject(thread, 5000);
        CloseHandle(thread);
    }
}

/* ---- The pod and its container ------------------------------------------------------------ */

static bool call_ok(const char *method, const ProtobufCMessage *request,
                    const ProtobufCMessageDescriptor *descriptor, const char *name)
{
    char error[512];
    void *response = streaming_call(method, request, descriptor, error, sizeof(error));
    bool ok = check(response != NULL, name, "%s", error);

    streaming_free_message(response);
    return ok;
}

static void run_all(void)
{
    Runtime__V1__PullImageRequest pull = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
    Runtime__V1__ImageSpec image_spec = RUNTIME__V1__IMAGE_SPEC__INIT;
    Runtime__V1__PodSandboxConfig pod = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
    Runtime__V1__PodSandboxMetadata pod_metadata = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
    Runtime__V1__WindowsPodSandboxConfig pod_windows =
        RUNTIME__V1__WINDOWS_POD_SANDBOX_CONFIG__INIT;
    Runtime__V1__WindowsSandboxSecurityContext pod_security =
        RUNTIME__V1__WINDOWS_SANDBOX_SECURITY_CONTEXT__INIT;
    Runtime__V1__RunPodSandboxRequest run = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
    Runtime__V1__RunPodSandboxResponse *run_response;
    Runtime__V1__ContainerConfig container = RUNTIME__V1__CONTAINER_CONFIG__INIT;
    Runtime__V1__ContainerMetadata container_metadata = RUNTIME__V1__CONTAINER_METADATA__INIT;
    Runtime__V1__WindowsContainerConfig container_windows =
        RUNTIME__V1__WINDOWS_CONTAINER_CONFIG__INIT;
    Runtime__V1__WindowsContainerSecurityContext container_security =
        RUNTIME__V1__WINDOWS_CONTAINER_SECURITY_CONTEXT__INIT;
    Runtime__V1__CreateContainerRequest create = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
    Runtime__V1__CreateContainerResponse *create_response;
    Runtime__V1__StartContainerRequest start = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;
    Runtime__V1__StopPodSandboxRequest stop = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
    Runtime__V1__RemovePodSandboxRequest remove = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
    char *command[] = {streaming_self_path, "sleep"};
    char log_directory[MAX_PATH], error[512];

    image_spec.image = (char *)image;
    pull.image = &image_spec;
    if (!call_ok(IMAGES "PullImage", &pull.base, &runtime__v1__pull_image_response__descriptor,
                 "PullImage of the Windows image"))
        return;
    pod_metadata.name = "streaming";
    pod_metadata.namespace_ = "wine-e2e";
    pod_metadata.uid = "streaming";
    pod.metadata = &pod_metadata;
    snprintf(log_directory, sizeof(log_directory), "%s\\logs\\streaming", test_dir);
    pod.log_directory = log_directory;
    pod_security.host_process = true;
    pod_windows.security_context = &pod_security;
    pod.windows = &pod_windows;
    run.config = &pod;
    run_response =
        streaming_call(RUNTIME "RunPodSandbox", &run.base,
                       &runtime__v1__run_pod_sandbox_response__descriptor, error, sizeof(error));
    if (!check(run_response != NULL, "RunPodSandbox of the streaming pod", "%s", error))
        return;

    container_metadata.name = "sleeper";
    container.metadata = &container_metadata;
    container.image = &image_spec;
    container.command = command;
    container.n_command = 2;
    container.log_path = "sleeper\\0.log";
    container_security.host_process = true;
    container_windows.security_context = &container_security;
    container.windows = &container_windows;
    create.pod_sandbox_id = run_response->pod_sandbox_id;
    create.config = &container;
    create.sandbox_config = &pod;
    create_response =
        streaming_call(RUNTIME "CreateContainer", &create.base,
                       &runtime__v1__create_container_response__descriptor, error, sizeof(error));
    if (check(create_response != NULL, "CreateContainer of the sleeping container", "%s", error)) {
        start.container_id = create_response->container_id;
        if (call_ok(RUNTIME "StartContainer", &start.base,
                    &runtime__v1__start_container_response__descriptor,
                    "StartContainer of the sleeping container")) {
            test_exec_hello(create_response->container_id);
            test_exec_exit_code(create_response->container_id);
            test_exec_tty(create_response->container_id);
            test_attach(create_response->container_id);
            streaming_ws_test_exec(create_response->container_id);
            streaming_ws_test_attach(create_response->container_id);
        }
    }
    test_port_forward(run_response->pod_sandbox_id);
    streaming_ws_test_port_forward(run_response->pod_sandbox_id);

    /* StopPodSandbox stops the container; RemovePodSandbox removes it. */
    stop.pod_sandbox_id = run_response->pod_sandbox_id;
    remove.pod_sandbox_id = run_response->pod_sandbox_id;
    call_ok(RUNTIME "StopPodSandbox", &stop.base,
            &runtime__v1__stop_pod_sandbox_response__descriptor, "StopPodSandbox");
    call_ok(RUNTIME "RemovePodSandbox", &remove.base,
            &runtime__v1__remove_pod_sandbox_response__descriptor, "RemovePodSandbox");
    streaming_free_message(create_response);
    streaming_free_message(run_response);
}

int main(int argc, char **argv)
{
    WSADATA wsa;

    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 2 && strcmp(argv[1], "sleep") == 0)
        run_sleep();
    if (argc == 2 && strcmp(argv[1], "stdin-echo") == 0)
        run_stdin_echo();
    if (argc != 5 || strcmp(argv[1], "run") != 0) {
        fprintf(stderr, "usage: %s run \\\\.\\pipe\\NAME IMAGE TEST_DIR\n", argv[0]);
        return 2;
    }
    pipe_name = argv[2];
    image = argv[3];
    test_dir = argv[4];
    GetModuleFileNameA(NULL, streaming_self_path, sizeof(streaming_self_path));
    WSAStartup(MAKEWORD(2, 2), &wsa);
    run_all();
    WSACleanup();
    return checks_finish();
}
