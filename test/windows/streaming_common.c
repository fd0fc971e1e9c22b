/* The shared client code of the streaming test programs (streaming_common.h). */
#include "streaming_common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ws2tcpip.h>

#include "checks.h"
#include "pipe_grpc.h"

#define GRPC_OK 0
#define RECEIVE_TIMEOUT_MS 30000

static const char *daemon_pipe;
char streaming_self_path[MAX_PATH];

void streaming_init(const char *pipe_name)
{
    WSADATA wsa;

    daemon_pipe = pipe_name;
    GetModuleFileNameA(NULL, streaming_self_path, sizeof(streaming_self_path));
    WSAStartup(MAKEWORD(2, 2), &wsa);
}

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
    if (!pipe_grpc_call_once(daemon_pipe, &grpc, error, error_size)) {
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

bool streaming_call_ok(const char *method, const ProtobufCMessage *request,
                       const ProtobufCMessageDescriptor *descriptor, const char *name)
{
    char error[512];
    void *response = streaming_call(method, request, descriptor, error, sizeof(error));
    bool ok = check(response != NULL, name, "%s", error);

    streaming_free_message(response);
    return ok;
}

Runtime__V1__ExecResponse *streaming_request_exec(const char *container_id, char **command,
                                                  size_t count, bool tty, bool with_stdin,
                                                  char *error, size_t error_size)
{
    Runtime__V1__ExecRequest request = RUNTIME__V1__EXEC_REQUEST__INIT;

    request.container_id = (char *)container_id;
    request.cmd = command;
    request.n_cmd = count;
    request.tty = tty;
    request.stdin = with_stdin;
    request.stdout = true;
    request.stderr = with_stdin;
    return streaming_call(STREAMING_RUNTIME "Exec", &request.base,
                          &runtime__v1__exec_response__descriptor, error, error_size);
}

Runtime__V1__AttachResponse *streaming_request_attach(const char *container_id, char *error,
                                                      size_t error_size)
{
    Runtime__V1__AttachRequest request = RUNTIME__V1__ATTACH_REQUEST__INIT;

    request.container_id = (char *)container_id;
    request.stdout = true;
    return streaming_call(STREAMING_RUNTIME "Attach", &request.base,
                          &runtime__v1__attach_response__descriptor, error, error_size);
}

Runtime__V1__PortForwardResponse *streaming_request_port_forward(const char *pod_id, int32_t *port,
                                                                 char *error, size_t error_size)
{
    Runtime__V1__PortForwardRequest request = RUNTIME__V1__PORT_FORWARD_REQUEST__INIT;

    request.pod_sandbox_id = (char *)pod_id;
    request.port = port;
    request.n_port = 1;
    return streaming_call(STREAMING_RUNTIME "PortForward", &request.base,
                          &runtime__v1__port_forward_response__descriptor, error, error_size);
}

/* ---- The pod and its container ------------------------------------------------------------ */

bool streaming_pod_run(struct streaming_pod *pod, const char *image, const char *name,
                       const char *test_dir, const char *run_check)
{
    Runtime__V1__PullImageRequest pull = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
    Runtime__V1__RunPodSandboxRequest run = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
    Runtime__V1__RunPodSandboxResponse *response;
    char error[512];

    runtime__v1__image_spec__init(&pod->image);
    pod->id = NULL;

    pod->image.image = (char *)image;
    pull.image = &pod->image;
    if (!streaming_call_ok(STREAMING_IMAGES "PullImage", &pull.base,
                           &runtime__v1__pull_image_response__descriptor,
                           "PullImage of the Windows image"))
        return false;

    pod_config_init(&pod->sandbox, name, test_dir, true);
    run.config = &pod->sandbox.config;
    response =
        streaming_call(STREAMING_RUNTIME "RunPodSandbox", &run.base,
                       &runtime__v1__run_pod_sandbox_response__descriptor, error, sizeof(error));
    if (!check(response != NULL, run_check, "%s", error))
        return false;
    pod->id = strdup(response->pod_sandbox_id);
    streaming_free_message(response);
    return true;
}

char *streaming_pod_start_sleeper(struct streaming_pod *pod, const char *name)
{
    struct container_config container;
    Runtime__V1__CreateContainerRequest create = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
    Runtime__V1__CreateContainerResponse *response;
    Runtime__V1__StartContainerRequest start = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;
    char *command[] = {streaming_self_path, "sleep"};
    char error[512];
    char *id = NULL;

    container_config_init(&container, name, pod->image.image, command, 2);
    create.pod_sandbox_id = pod->id;
    create.config = &container.config;
    create.sandbox_config = &pod->sandbox.config;
    response =
        streaming_call(STREAMING_RUNTIME "CreateContainer", &create.base,
                       &runtime__v1__create_container_response__descriptor, error, sizeof(error));
    if (!check(response != NULL, "CreateContainer of the sleeping container", "%s", error))
        return NULL;
    start.container_id = response->container_id;
    if (streaming_call_ok(STREAMING_RUNTIME "StartContainer", &start.base,
                          &runtime__v1__start_container_response__descriptor,
                          "StartContainer of the sleeping container"))
        id = strdup(response->container_id);
    streaming_free_message(response);
    return id;
}

void streaming_pod_remove(struct streaming_pod *pod)
{
    Runtime__V1__StopPodSandboxRequest stop = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
    Runtime__V1__RemovePodSandboxRequest remove = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;

    /* StopPodSandbox stops the containers, and RemovePodSandbox removes them. */
    stop.pod_sandbox_id = pod->id;
    remove.pod_sandbox_id = pod->id;
    streaming_call_ok(STREAMING_RUNTIME "StopPodSandbox", &stop.base,
                      &runtime__v1__stop_pod_sandbox_response__descriptor, "StopPodSandbox");
    streaming_call_ok(STREAMING_RUNTIME "RemovePodSandbox", &remove.base,
                      &runtime__v1__remove_pod_sandbox_response__descriptor, "RemovePodSandbox");
    free(pod->id);
    pod->id = NULL;
}

/* ---- TCP ---------------------------------------------------------------------------------- */

SOCKET streaming_connect_url(const char *url, const char *scheme, const char **path)
{
    struct sockaddr_in address = {.sin_family = AF_INET};
    size_t scheme_length = strlen(scheme);
    const char *authority = url + scheme_length + 3;
    char host[64];
    unsigned port;
    DWORD timeout = RECEIVE_TIMEOUT_MS;
    SOCKET sock;

    if (strncmp(url, scheme, scheme_length) != 0 || strncmp(url + scheme_length, "://", 3) != 0 ||
        sscanf(authority, "%63[^:]:%u", host, &port) != 2 ||
        (*path = strchr(authority, '/')) == NULL)
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

bool streaming_send_all(SOCKET sock, const void *data, size_t length)
{
    const char *bytes = data;

    while (length > 0) {
        int n = send(sock, bytes, (int)length, 0);

        if (n <= 0)
            return false;
        bytes += n;
        length -= (size_t)n;
    }
    return true;
}

bool streaming_receive(SOCKET sock, struct strbuf *buffer)
{
    char chunk[16384];
    int n = recv(sock, chunk, sizeof(chunk), 0);

    if (n <= 0)
        return false;
    strbuf_append(buffer, chunk, (size_t)n);
    return true;
}

size_t streaming_read_head(SOCKET sock, struct strbuf *head)
{
    const char *end;

    while ((end = strstr(head->data ? head->data : "", "\r\n\r\n")) == NULL) {
        if (!streaming_receive(sock, head))
            return 0;
    }
    return (size_t)(end + 4 - head->data);
}

/* ---- HTTP and SPDY/3.1 ---------------------------------------------------------------------- */

void streaming_append_spdy_upgrade(struct strbuf *out, const char *path, const char *protocol)
{
    strbuf_appendf(out,
                   "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
                   "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: %s\r\n\r\n",
                   path, protocol);
}

void streaming_append_exec_streams(struct strbuf *frames)
{
    struct spdy_header error_headers[] = {{"streamtype", "error", 5}};
    struct spdy_header stdout_headers[] = {{"streamtype", "stdout", 6}};
    struct spdy_writer writer;

    spdy_writer_init(&writer);
    spdy_write_syn_stream(&writer, frames, 1, 0, 0, 0, error_headers, 1);
    spdy_write_data(frames, 1, SPDY_FLAG_FIN, NULL, 0);
    spdy_write_syn_stream(&writer, frames, 3, 0, 0, 0, stdout_headers, 1);
    spdy_writer_free(&writer);
}

void streaming_append_port_forward_streams(int32_t port, struct strbuf *frames)
{
    char port_text[16];
    struct spdy_writer writer;

    snprintf(port_text, sizeof(port_text), "%d", (int)port);
    struct spdy_header error_headers[] = {
        {"streamtype", "error", 5}, {"port", port_text, strlen(port_text)}, {"requestid", "0", 1}};
    struct spdy_header data_headers[] = {
        {"streamtype", "data", 4}, {"port", port_text, strlen(port_text)}, {"requestid", "0", 1}};
    spdy_writer_init(&writer);
    spdy_write_syn_stream(&writer, frames, 1, 0, 0, 0, error_headers, 3);
    spdy_write_data(frames, 1, SPDY_FLAG_FIN, NULL, 0);
    spdy_write_syn_stream(&writer, frames, 3, 0, 0, 0, data_headers, 3);
    spdy_write_data(frames, 3, SPDY_FLAG_FIN, "ping", 4);
    spdy_writer_free(&writer);
}

void streaming_collect_spdy_data(struct spdy_parser *parser,
                                 struct strbuf data[STREAMING_SPDY_STREAMS])
{
    struct spdy_frame frame = {0};
    struct error err = ERROR_INIT;

    while (spdy_parser_next(parser, &frame, &err) == 1) {
        if (frame.type == SPDY_DATA && frame.stream_id < STREAMING_SPDY_STREAMS)
            strbuf_append(&data[frame.stream_id], frame.data, frame.data_length);
    }
    spdy_frame_clear(&frame);
    error_clear(&err);
}

/* ---- The port-forward target -------------------------------------------------------------- */

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

int32_t streaming_pong_start(struct streaming_pong *pong)
{
    struct sockaddr_in address = {.sin_family = AF_INET};
    int length = sizeof(address);

    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    pong->thread = NULL;
    pong->listener = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    if (pong->listener == INVALID_SOCKET ||
        bind(pong->listener, (struct sockaddr *)&address, sizeof(address)) != 0 ||
        listen(pong->listener, 1) != 0 ||
        getsockname(pong->listener, (struct sockaddr *)&address, &length) != 0)
        return 0;
    pong->thread = CreateThread(NULL, 0, pong_thread, (LPVOID)(uintptr_t)pong->listener, 0, NULL);
    return ntohs(address.sin_port);
}

void streaming_pong_stop(struct streaming_pong *pong)
{
    if (pong->listener != INVALID_SOCKET)
        closesocket(pong->listener);
    if (pong->thread) {
        WaitForSingleObject(pong->thread, 5000);
        CloseHandle(pong->thread);
    }
}
