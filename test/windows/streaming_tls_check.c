/*
 * streaming_tls_check: the Windows test of the streaming server with TLS. hostcri.exe runs with
 * a streaming certificate (made by the test script for 127.0.0.1). Over the daemon's named
 * pipe this program runs a HostProcess pod with one container, requests an Exec URL, and runs
 * the exec over SPDY/3.1 inside TLS, with Schannel as the client: the handshake, the server's
 * certificate, the HTTP upgrade, and the frames that come back (cri/streaming/spdy.c writes and
 * parses them). A client that speaks plain HTTP to the TLS port must get no HTTP response.
 * Prints one "PASS", "FAIL" or "XFAIL" line per check and a summary.
 *
 * Usage:
 *   streaming_tls_check.exe run \\.\pipe\NAME IMAGE TEST_DIR CERT_FILE
 *   streaming_tls_check.exe sleep     (the container's command)
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <winsock2.h>
#include <ws2tcpip.h>

#define SECURITY_WIN32
#include <schannel.h>
#include <security.h>
#include <wincrypt.h>

#include "checks.h"
#include "api/api.pb-c.h"
#include "cri/streaming/spdy.h"
#include "pipe_grpc.h"

#define RUNTIME "/runtime.v1.RuntimeService/"
#define IMAGES "/runtime.v1.ImageService/"
#define GRPC_OK 0
#define RECEIVE_TIMEOUT_MS 30000

/* What Wine 8.0 lacks: its schannel has no AcceptSecurityContext, so no TLS server. */
#define WINE_NO_TLS_SERVER                                                                         \
    "Wine 8.0's schannel implements only the client side of TLS: AcceptSecurityContext "           \
    "returns SEC_E_UNSUPPORTED_FUNCTION"

static const char *pipe_name;
static const char *image;
static const char *test_dir;
static const char *cert_file;
static char self_path[MAX_PATH];

/* ---- Calls over the pipe ----------------------------------------------------------------- */

/* Calls method and unpacks the response with descriptor. NULL on failure, with the reason in
 * error. */
static void *call(const char *method, const ProtobufCMessage *request,
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

static void free_message(void *message)
{
    if (message)
        protobuf_c_message_free_unpacked(message, NULL);
}

static bool call_ok(const char *method, const ProtobufCMessage *request,
                    const ProtobufCMessageDescriptor *descriptor, const char *name)
{
    char error[512];
    void *response = call(method, request, descriptor, error, sizeof(error));
    bool ok = check(response != NULL, name, "%s", error);

    free_message(response);
    return ok;
}

/* ---- TCP ---------------------------------------------------------------------------------- */

/* Connects to the host and port of url ("https://127.0.0.1:PORT/..."), and sets *path. */
static SOCKET connect_url(const char *url, const char **path)
{
    struct sockaddr_in address = {.sin_family = AF_INET};
    char host[64];
    unsigned port;
    DWORD timeout = RECEIVE_TIMEOUT_MS;
    SOCKET sock;

    if (sscanf(url, "https://%63[^:]:%u", host, &port) != 2 ||
        (*path = strchr(url + 8, '/')) == NULL)
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

static bool send_all(SOCKET sock, const void *data, size_t length)
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

/* Reads more bytes into buffer. Returns false at the end of the stream or on a timeout. */
static bool receive_more(SOCKET sock, struct strbuf *buffer)
{
    char chunk[16384];
    int n = recv(sock, chunk, sizeof(chunk), 0);

    if (n <= 0)
        return false;
    strbuf_append(buffer, chunk, (size_t)n);
    return true;
}

/* ---- A Schannel client -------------------------------------------------------------------- */

struct tls_client {
    SOCKET sock;
    CredHandle credentials;
    bool credentials_valid;
    CtxtHandle context;
    bool context_valid;
    SecPkgContext_StreamSizes sizes;
    struct strbuf input; /* ciphertext not yet decrypted */
};

static void tls_client_free(struct tls_client *client)
{
    if (client->context_valid)
        DeleteSecurityContext(&client->context);
    if (client->credentials_valid)
        FreeCredentialsHandle(&client->credentials);
    if (client->sock != INVALID_SOCKET)
        closesocket(client->sock);
    strbuf_free(&client->input);
}

/* Keeps the last extra bytes of the input, which belong to the next record. */
static void keep_extra(struct strbuf *input, const SecBuffer *buffer)
{
    size_t extra = buffer->BufferType == SECBUFFER_EXTRA ? buffer->cbBuffer : 0;

    strbuf_consume(input, input->length - extra);
}

/*
 * Runs the client side of the handshake on client->sock. The server's certificate is checked
 * by the caller (SCH_CRED_MANUAL_CRED_VALIDATION), because Wine 8's Schannel does not match
 * IP address entries. Returns false with the reason in error.
 */
static bool tls_handshake(struct tls_client *client, char *error, size_t error_size)
{
    SCHANNEL_CRED credentials = {
        .dwVersion = SCHANNEL_CRED_VERSION,
        .dwFlags = SCH_CRED_MANUAL_CRED_VALIDATION | SCH_CRED_NO_DEFAULT_CREDS,
        /* TLS 1.2 only: a TLS 1.3 server's session tickets would need renegotiation handling
         * (SEC_I_RENEGOTIATE) in tls_receive. */
        .grbitEnabledProtocols = SP_PROT_TLS1_2_CLIENT,
    };
    ULONG flags = ISC_REQ_SEQUENCE_DETECT | ISC_REQ_REPLAY_DETECT | ISC_REQ_CONFIDENTIALITY |
                  ISC_REQ_ALLOCATE_MEMORY | ISC_REQ_STREAM | ISC_REQ_MANUAL_CRED_VALIDATION;
    ULONG attributes;
    SECURITY_STATUS status;

    status = AcquireCredentialsHandleW(NULL, (SEC_WCHAR *)UNISP_NAME_W, SECPKG_CRED_OUTBOUND, NULL,
                                       &credentials, NULL, NULL, &client->credentials, NULL);
    if (status != SEC_E_OK) {
        snprintf(error, error_size, "AcquireCredentialsHandle: 0x%08lx", (unsigned long)status);
        return false;
    }
    client->credentials_valid = true;
    for (int round = 0; round < 20; round++) {
        SecBuffer input[2] = {{(ULONG)client->input.length, SECBUFFER_TOKEN, client->input.data},
                              {0, SECBUFFER_EMPTY, NULL}};
        SecBuffer output[1] = {{0, SECBUFFER_TOKEN, NULL}};
        SecBufferDesc input_desc = {SECBUFFER_VERSION, 2, input};
        SecBufferDesc output_desc = {SECBUFFER_VERSION, 1, output};

        status = InitializeSecurityContextW(
            &client->credentials, client->context_valid ? &client->context : NULL, L"127.0.0.1",
            flags, 0, 0, client->context_valid ? &input_desc : NULL, 0, &client->context,
            &output_desc, &attributes, NULL);
        client->context_valid = true;
        if (output[0].pvBuffer != NULL) {
            bool sent = send_all(client->sock, output[0].pvBuffer, output[0].cbBuffer);

            FreeContextBuffer(output[0].pvBuffer);
            if (!sent) {
                snprintf(error, error_size, "sending the handshake failed");
                return false;
            }
        }
        if (status == SEC_E_OK) {
            keep_extra(&client->input, &input[1]);
            QueryContextAttributesW(&client->context, SECPKG_ATTR_STREAM_SIZES, &client->sizes);
            return true;
        }
        if (status == SEC_I_CONTINUE_NEEDED)
            keep_extra(&client->input, &input[1]);
        else if (status != SEC_E_INCOMPLETE_MESSAGE) {
            snprintf(error, error_size, "InitializeSecurityContext: 0x%08lx",
                     (unsigned long)status);
            return false;
        }
        if ((status == SEC_E_INCOMPLETE_MESSAGE || client->input.length == 0) &&
            !receive_more(client->sock, &client->input)) {
            snprintf(error, error_size,
                     "the server closed the connection during the handshake (see the "
                     "daemon's log)");
            return false;
        }
    }
    snprintf(error, error_size, "the handshake did not end after 20 rounds");
    return false;
}

static bool tls_send(struct tls_client *client, const void *data, size_t length)
{
    const SecPkgContext_StreamSizes *sizes = &client->sizes;
    const char *bytes = data;

    while (length > 0) {
        size_t chunk = length < sizes->cbMaximumMessage ? length : sizes->cbMaximumMessage;
        char *record = malloc(sizes->cbHeader + chunk + sizes->cbTrailer);
        SecBuffer buffers[4] = {
            {sizes->cbHeader, SECBUFFER_STREAM_HEADER, record},
            {(ULONG)chunk, SECBUFFER_DATA, record + sizes->cbHeader},
            {sizes->cbTrailer, SECBUFFER_STREAM_TRAILER, record + sizes->cbHeader + chunk},
            {0, SECBUFFER_EMPTY, NULL},
        };
        SecBufferDesc desc = {SECBUFFER_VERSION, 4, buffers};

        memcpy(record + sizes->cbHeader, bytes, chunk);
        bool ok = EncryptMessage(&client->context, 0, &desc, 0) == SEC_E_OK &&
                  send_all(client->sock, record,
                           buffers[0].cbBuffer + buffers[1].cbBuffer + buffers[2].cbBuffer);
        free(record);
        if (!ok)
            return false;
        bytes += chunk;
        length -= chunk;
    }
    return true;
}

/* Decrypts what arrives into plain until the server closes or a read times out. */
static void tls_receive(struct tls_client *client, struct strbuf *plain)
{
    for (;;) {
        SecBuffer buffers[4] = {
            {(ULONG)client->input.length, SECBUFFER_DATA, client->input.data},
            {0, SECBUFFER_EMPTY, NULL},
            {0, SECBUFFER_EMPTY, NULL},
            {0, SECBUFFER_EMPTY, NULL},
        };
        SecBufferDesc desc = {SECBUFFER_VERSION, 4, buffers};
        SECURITY_STATUS status = client->input.length > 0
                                     ? DecryptMessage(&client->context, &desc, 0, NULL)
                                     : SEC_E_INCOMPLETE_MESSAGE;

        if (status == SEC_E_INCOMPLETE_MESSAGE) {
            if (!receive_more(client->sock, &client->input))
                return;
            continue;
        }
        if (status != SEC_E_OK && status != SEC_I_CONTEXT_EXPIRED)
            return;
        for (int i = 1; i < 4; i++) {
            if (buffers[i].BufferType == SECBUFFER_DATA)
                strbuf_append(plain, buffers[i].pvBuffer, buffers[i].cbBuffer);
        }
        SecBuffer *extra = NULL;
        for (int i = 1; i < 4; i++) {
            if (buffers[i].BufferType == SECBUFFER_EXTRA)
                extra = &buffers[i];
        }
        strbuf_consume(&client->input, client->input.length - (extra ? extra->cbBuffer : 0));
        if (status == SEC_I_CONTEXT_EXPIRED)
            return;
    }
}

/* Checks that the server sent the certificate of cert_file. */
static void check_server_certificate(struct tls_client *client)
{
    const CERT_CONTEXT *remote = NULL;
    char text[16384];
    BYTE der[8192];
    DWORD der_length = sizeof(der);
    FILE *file = fopen(cert_file, "rb");
    size_t n = file ? fread(text, 1, sizeof(text) - 1, file) : 0;

    if (file)
        fclose(file);
    text[n] = '\0';
    bool decoded =
        CryptStringToBinaryA(text, 0, CRYPT_STRING_BASE64HEADER, der, &der_length, NULL, NULL);
    SECURITY_STATUS status =
        QueryContextAttributesW(&client->context, SECPKG_ATTR_REMOTE_CERT_CONTEXT, &remote);
    check(decoded && status == SEC_E_OK && remote != NULL && remote->cbCertEncoded == der_length &&
              memcmp(remote->pbCertEncoded, der, der_length) == 0,
          "the server presents the configured certificate", "decoded %d, status 0x%08lx", decoded,
          (unsigned long)status);
    if (remote)
        CertFreeCertificateContext(remote);

    SecPkgContext_ConnectionInfo info = {0};
    QueryContextAttributesW(&client->context, SECPKG_ATTR_CONNECTION_INFO, &info);
    check((info.dwProtocol & (SP_PROT_TLS1_2_CLIENT | SP_PROT_TLS1_3_CLIENT)) != 0,
          "the connection uses TLS 1.2 or later", "protocol 0x%lx", (unsigned long)info.dwProtocol);
}

/* ---- The checks ----------------------------------------------------------------------------- */

/* Requests an exec of cmd /c echo hello and returns its URL (free), or NULL. */
static char *exec_url(const char *container_id)
{
    Runtime__V1__ExecRequest request = RUNTIME__V1__EXEC_REQUEST__INIT;
    Runtime__V1__ExecResponse *response;
    char *command[] = {"cmd", "/c", "echo hello"};
    char error[512];
    char *url = NULL;

    request.container_id = (char *)container_id;
    request.cmd = command;
    request.n_cmd = 3;
    request.stdout = true;
    response = call(RUNTIME "Exec", &request.base, &runtime__v1__exec_response__descriptor, error,
                    sizeof(error));
    if (check(response && strncmp(response->url, "https://127.0.0.1:", 18) == 0,
              "Exec issues an https URL of the streaming server", "%s %s", error,
              response ? response->url : ""))
        url = strdup(response->url);
    free_message(response);
    return url;
}

/* Reads the SPDY frames after the 101 response in plain into stdout_data and status. */
static void parse_exec_frames(const struct strbuf *plain, struct strbuf *stdout_data,
                              struct strbuf *status)
{
    const char *frames = strstr(plain->data, "\r\n\r\n") + 4;
    struct spdy_parser parser;
    struct spdy_frame frame = {0};
    struct error err = ERROR_INIT;

    spdy_parser_init(&parser, NULL);
    spdy_parser_feed(&parser, frames, plain->length - (size_t)(frames - plain->data));
    while (spdy_parser_next(&parser, &frame, &err) == 1) {
        if (frame.type == SPDY_DATA && frame.stream_id == 3)
            strbuf_append(stdout_data, frame.data, frame.data_length);
        if (frame.type == SPDY_DATA && frame.stream_id == 1)
            strbuf_append(status, frame.data, frame.data_length);
    }
    spdy_frame_clear(&frame);
    spdy_parser_free(&parser);
    error_clear(&err);
}

/* Runs the exec of url over SPDY/3.1 (v4.channel.k8s.io) inside TLS. */
static void test_exec_over_tls(const char *url)
{
    struct tls_client client = {.sock = INVALID_SOCKET};
    struct spdy_header error_headers[] = {{"streamtype", "error", 5}};
    struct spdy_header stdout_headers[] = {{"streamtype", "stdout", 6}};
    struct strbuf request = STRBUF_INIT, plain = STRBUF_INIT;
    struct strbuf stdout_data = STRBUF_INIT, status = STRBUF_INIT;
    struct spdy_writer writer;
    const char *path;
    char error[256] = "cannot connect";

    client.sock = connect_url(url, &path);
    bool connected = client.sock != INVALID_SOCKET && tls_handshake(&client, error, sizeof(error));
    if (!check_api(connected, "TLS handshake with the streaming server", WINE_NO_TLS_SERVER, "%s",
                   error))
        goto out;
    check_server_certificate(&client);

    strbuf_appendf(&request,
                   "POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: Upgrade\r\n"
                   "Upgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: v4.channel.k8s.io\r\n\r\n",
                   path);
    spdy_writer_init(&writer);
    spdy_write_syn_stream(&writer, &request, 1, 0, 0, 0, error_headers, 1);
    spdy_write_data(&request, 1, SPDY_FLAG_FIN, NULL, 0);
    spdy_write_syn_stream(&writer, &request, 3, 0, 0, 0, stdout_headers, 1);
    spdy_writer_free(&writer);
    check(tls_send(&client, request.data, request.length), "send the upgrade and SPDY frames",
          "EncryptMessage or send failed");
    tls_receive(&client, &plain);
    if (!check(plain.data && strncmp(plain.data, "HTTP/1.1 101", 12) == 0,
               "the exec URL upgrades to SPDY/3.1 inside TLS", "%.60s",
               plain.data ? plain.data : "(nothing)"))
        goto out;
    parse_exec_frames(&plain, &stdout_data, &status);
    const char *out_text = stdout_data.data ? stdout_data.data : "";
    check(strcmp(out_text, "hello\r\n") == 0 || strcmp(out_text, "hello\n") == 0,
          "exec over TLS writes hello on stdout", "stdout \"%s\"", out_text);
    check(status.data && strstr(status.data, "\"Success\"") != NULL,
          "exec over TLS reports Success", "status \"%s\"", status.data ? status.data : "");
out:
    tls_client_free(&client);
    strbuf_free(&request);
    strbuf_free(&plain);
    strbuf_free(&stdout_data);
    strbuf_free(&status);
}

/* A client that sends plain HTTP to the TLS port gets no HTTP response. */
static void test_plain_http_rejected(const char *url)
{
    const char *path;
    SOCKET sock = connect_url(url, &path);
    struct strbuf answer = STRBUF_INIT;
    static const char request[] = "POST /exec/abcdefgh HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";

    if (!check(sock != INVALID_SOCKET, "connect to the TLS port", "%s", url))
        return;
    send_all(sock, request, strlen(request));
    while (receive_more(sock, &answer)) {
    }
    closesocket(sock);
    check(answer.length < 5 || memcmp(answer.data, "HTTP/", 5) != 0,
          "plain HTTP to the TLS port gets no HTTP response", "%.40s", answer.data);
    strbuf_free(&answer);
}

/* The container's command: sleeps until it is stopped. */
static __attribute__((noreturn)) void run_sleep(void)
{
    for (;;)
        Sleep(1000);
}

/* Creates and starts the sleeping container in pod. Returns its id (free), or NULL. */
static char *start_container(const char *pod_id, Runtime__V1__PodSandboxConfig *pod,
                             Runtime__V1__ImageSpec *image_spec)
{
    Runtime__V1__ContainerConfig container = RUNTIME__V1__CONTAINER_CONFIG__INIT;
    Runtime__V1__ContainerMetadata metadata = RUNTIME__V1__CONTAINER_METADATA__INIT;
    Runtime__V1__WindowsContainerConfig windows = RUNTIME__V1__WINDOWS_CONTAINER_CONFIG__INIT;
    Runtime__V1__WindowsContainerSecurityContext security =
        RUNTIME__V1__WINDOWS_CONTAINER_SECURITY_CONTEXT__INIT;
    Runtime__V1__CreateContainerRequest create = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
    Runtime__V1__CreateContainerResponse *response;
    Runtime__V1__StartContainerRequest start = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;
    char *command[] = {self_path, "sleep"};
    char error[512];
    char *id = NULL;

    metadata.name = "tls-sleeper";
    container.metadata = &metadata;
    container.image = image_spec;
    container.command = command;
    container.n_command = 2;
    container.log_path = "tls-sleeper\\0.log";
    security.host_process = true;
    windows.security_context = &security;
    container.windows = &windows;
    create.pod_sandbox_id = (char *)pod_id;
    create.config = &container;
    create.sandbox_config = pod;
    response = call(RUNTIME "CreateContainer", &create.base,
                    &runtime__v1__create_container_response__descriptor, error, sizeof(error));
    if (!check(response != NULL, "CreateContainer of the sleeping container", "%s", error))
        return NULL;
    start.container_id = response->container_id;
    if (call_ok(RUNTIME "StartContainer", &start.base,
                &runtime__v1__start_container_response__descriptor,
                "StartContainer of the sleeping container"))
        id = strdup(response->container_id);
    free_message(response);
    return id;
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
    Runtime__V1__StopPodSandboxRequest stop = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
    Runtime__V1__RemovePodSandboxRequest remove = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
    char log_directory[MAX_PATH], error[512];

    image_spec.image = (char *)image;
    pull.image = &image_spec;
    if (!call_ok(IMAGES "PullImage", &pull.base, &runtime__v1__pull_image_response__descriptor,
                 "PullImage of the Windows image"))
        return;
    pod_metadata.name = "streaming-tls";
    pod_metadata.namespace_ = "wine-e2e";
    pod_metadata.uid = "streaming-tls";
    pod.metadata = &pod_metadata;
    snprintf(log_directory, sizeof(log_directory), "%s\\logs\\streaming-tls", test_dir);
    pod.log_directory = log_directory;
    pod_security.host_process = true;
    pod_windows.security_context = &pod_security;
    pod.windows = &pod_windows;
    run.config = &pod;
    run_response = call(RUNTIME "RunPodSandbox", &run.base,
                        &runtime__v1__run_pod_sandbox_response__descriptor, error, sizeof(error));
    if (!check(run_response != NULL, "RunPodSandbox of the TLS pod", "%s", error))
        return;

    char *container_id = start_container(run_response->pod_sandbox_id, &pod, &image_spec);
    if (container_id != NULL) {
        char *url = exec_url(container_id);

        if (url != NULL) {
            test_exec_over_tls(url);
            free(url);
        }
        url = exec_url(container_id);
        if (url != NULL) {
            test_plain_http_rejected(url);
            free(url);
        }
        free(container_id);
    }

    stop.pod_sandbox_id = run_response->pod_sandbox_id;
    remove.pod_sandbox_id = run_response->pod_sandbox_id;
    call_ok(RUNTIME "StopPodSandbox", &stop.base,
            &runtime__v1__stop_pod_sandbox_response__descriptor, "StopPodSandbox");
    call_ok(RUNTIME "RemovePodSandbox", &remove.base,
            &runtime__v1__remove_pod_sandbox_response__descriptor, "RemovePodSandbox");
    free_message(run_response);
}

int main(int argc, char **argv)
{
    WSADATA wsa;

    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 2 && strcmp(argv[1], "sleep") == 0)
        run_sleep();
    if (argc != 6 || strcmp(argv[1], "run") != 0) {
        fprintf(stderr, "usage: %s run \\\\.\\pipe\\NAME IMAGE TEST_DIR CERT_FILE\n", argv[0]);
        return 2;
    }
    pipe_name = argv[2];
    image = argv[3];
    test_dir = argv[4];
    cert_file = argv[5];
    GetModuleFileNameA(NULL, self_path, sizeof(self_path));
    WSAStartup(MAKEWORD(2, 2), &wsa);
    run_all();
    WSACleanup();
    return checks_finish();
}
