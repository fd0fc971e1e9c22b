/*
 * cri_pipe_client: the gRPC client of the Windows tests. It connects to hostcri's named pipe,
 * sends CRI calls over HTTP/2 (nghttp2 on a blocking pipe handle), checks the responses and the
 * pipe's security descriptor, and prints one "PASS <check>" or "FAIL <check>: <detail>" line
 * per check. The exit status is the number of failed checks.
 *
 * Usage: cri_pipe_client.exe \\.\pipe\NAME [version | goaway]
 *   version: only the Version call;
 *   goaway: a Version call, then "WAITING for the stop" and, on the same open connection, the
 *   GOAWAY that hostcri sends when it stops and the end of the connection.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>

#include <aclapi.h>
#include <nghttp2/nghttp2.h>

#include "checks.h"
#include "api/api.pb-c.h"

/* gRPC status codes the checks expect. */
#define GRPC_OK 0
#define GRPC_UNIMPLEMENTED 12

/* Connections opened at once by the instance check: more than hostcri keeps waiting (4). */
#define PARALLEL_CONNECTIONS 6

/* One unary call: the framed request, and what came back. */
struct grpc_call {
    const char *path;
    uint8_t *request; /* 5-byte gRPC prefix and the message */
    size_t request_length;
    size_t request_sent;
    int32_t stream_id;
    int http_status;
    int grpc_status; /* -1 until the trailers arrive */
    char grpc_message[256];
    uint8_t *response; /* the DATA bytes, prefix included */
    size_t response_length;
    bool closed;
};

struct h2_client {
    HANDLE pipe;
    nghttp2_session *session;
    bool goaway_received;
};

static void call_init(struct grpc_call *call, const char *path, const ProtobufCMessage *message)
{
    size_t length = message ? protobuf_c_message_get_packed_size(message) : 0;

    memset(call, 0, sizeof(*call));
    call->path = path;
    call->grpc_status = -1;
    call->request_length = 5 + length;
    call->request = calloc(1, call->request_length);
    call->request[1] = (uint8_t)(length >> 24);
    call->request[2] = (uint8_t)(length >> 16);
    call->request[3] = (uint8_t)(length >> 8);
    call->request[4] = (uint8_t)length;
    if (message)
        protobuf_c_message_pack(message, call->request + 5);
}

static void call_free(struct grpc_call *call)
{
    free(call->request);
    free(call->response);
}

/* The response message bytes after the 5-byte prefix, or NULL when there is none. */
static const uint8_t *call_message(const struct grpc_call *call, size_t *length)
{
    size_t announced;

    if (call->response_length < 5 || call->response[0] != 0)
        return NULL;
    announced = ((size_t)call->response[1] << 24) | ((size_t)call->response[2] << 16) |
                ((size_t)call->response[3] << 8) | call->response[4];
    if (announced != call->response_length - 5)
        return NULL;
    *length = announced;
    return call->response + 5;
}

static int on_header_cb(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
                        size_t name_length, const uint8_t *value, size_t value_length,
                        uint8_t flags, void *user_data)
{
    struct grpc_call *call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    char text[256];

    (void)flags;
    (void)user_data;
    if (call == NULL)
        return 0;
    snprintf(text, sizeof(text), "%.*s", (int)value_length, (const char *)value);
    if (name_length == 7 && memcmp(name, ":status", 7) == 0)
        call->http_status = atoi(text);
    else if (name_length == 11 && memcmp(name, "grpc-status", 11) == 0)
        call->grpc_status = atoi(text);
    else if (name_length == 12 && memcmp(name, "grpc-message", 12) == 0)
        snprintf(call->grpc_message, sizeof(call->grpc_message), "%s", text);
    return 0;
}

static int on_data_chunk_cb(nghttp2_session *session, uint8_t flags, int32_t stream_id,
                            const uint8_t *data, size_t length, void *user_data)
{
    struct grpc_call *call = nghttp2_session_get_stream_user_data(session, stream_id);

    (void)flags;
    (void)user_data;
    if (call == NULL)
        return 0;
    call->response = realloc(call->response, call->response_length + length);
    memcpy(call->response + call->response_length, data, length);
    call->response_length += length;
    return 0;
}

static int on_stream_close_cb(nghttp2_session *session, int32_t stream_id, uint32_t error_code,
                              void *user_data)
{
    struct grpc_call *call = nghttp2_session_get_stream_user_data(session, stream_id);

    (void)error_code;
    (void)user_data;
    if (call)
        call->closed = true;
    return 0;
}

static int on_frame_recv_cb(nghttp2_session *session, const nghttp2_frame *frame, void *user_data)
{
    struct h2_client *client = user_data;

    (void)session;
    if (frame->hd.type == NGHTTP2_GOAWAY)
        client->goaway_received = true;
    return 0;
}

static ssize_t read_request_cb(nghttp2_session *session, int32_t stream_id, uint8_t *buffer,
                               size_t length, uint32_t *data_flags, nghttp2_data_source *source,
                               void *user_data)
{
    struct grpc_call *call = source->ptr;
    size_t left = call->request_length - call->request_sent;
    size_t n = left < length ? left : length;

    (void)session;
    (void)stream_id;
    (void)user_data;
    memcpy(buffer, call->request + call->request_sent, n);
    call->request_sent += n;
    if (call->request_sent == call->request_length)
        *data_flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

/* Opens the pipe, retrying while hostcri is still starting (up to about a minute). */
static HANDLE pipe_connect(const char *name, DWORD *last_error)
{
    for (int attempt = 0; attempt < 300; attempt++) {
        HANDLE pipe = CreateFileA(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                                  SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION, NULL);

        if (pipe != INVALID_HANDLE_VALUE)
            return pipe;
        *last_error = GetLastError();
        if (*last_error == ERROR_PIPE_BUSY)
            WaitNamedPipeA(name, 200);
        else
            Sleep(200);
    }
    return INVALID_HANDLE_VALUE;
}

static bool client_open(struct h2_client *client, const char *name)
{
    nghttp2_session_callbacks *callbacks;
    DWORD error = 0;

    memset(client, 0, sizeof(*client));
    client->pipe = pipe_connect(name, &error);
    if (client->pipe == INVALID_HANDLE_VALUE) {
        check(false, "connect to the pipe", "%s: Windows error %lu", name, (unsigned long)error);
        return false;
    }
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header_cb);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data_chunk_cb);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_stream_close_cb);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame_recv_cb);
    nghttp2_session_client_new(&client->session, callbacks, client);
    nghttp2_session_callbacks_del(callbacks);
    nghttp2_submit_settings(client->session, NGHTTP2_FLAG_NONE, NULL, 0);
    return true;
}

static void client_close(struct h2_client *client)
{
    if (client->session)
        nghttp2_session_del(client->session);
    if (client->pipe != INVALID_HANDLE_VALUE && client->pipe != NULL)
        CloseHandle(client->pipe);
    memset(client, 0, sizeof(*client));
}

static bool client_flush(struct h2_client *client)
{
    for (;;) {
        const uint8_t *data;
        ssize_t length = nghttp2_session_mem_send(client->session, &data);
        DWORD written;

        if (length < 0)
            return false;
        if (length == 0)
            return true;
        if (!WriteFile(client->pipe, data, (DWORD)length, &written, NULL) ||
            written != (DWORD)length)
            return false;
    }
}

static void client_submit(struct h2_client *client, struct grpc_call *call)
{
    const nghttp2_nv headers[] = {
#define HEADER(name, value)                                                                        \
    {(uint8_t *)(name), (uint8_t *)(value), strlen(name), strlen(value), NGHTTP2_NV_FLAG_NONE}
        HEADER(":method", "POST"),
        HEADER(":scheme", "http"),
        HEADER(":path", call->path),
        HEADER(":authority", "localhost"),
        HEADER("content-type", "application/grpc"),
        HEADER("te", "trailers"),
#undef HEADER
    };
    nghttp2_data_provider provider = {.source.ptr = call, .read_callback = read_request_cb};

    call->stream_id = nghttp2_submit_request(client->session, NULL, headers,
                                             sizeof(headers) / sizeof(headers[0]), &provider, call);
}

/* Sends the submitted calls and reads until each of them has closed. */
static bool client_run(struct h2_client *client, struct grpc_call **calls, size_t count)
{
    uint8_t buffer[16384];

    for (;;) {
        bool all_closed = true;
        DWORD received;

        for (size_t i = 0; i < count; i++)
            all_closed = all_closed && calls[i]->closed;
        if (all_closed)
            return true;
        if (!client_flush(client))
            return false;
        if (!ReadFile(client->pipe, buffer, sizeof(buffer), &received, NULL) || received == 0)
            return false;
        if (nghttp2_session_mem_recv(client->session, buffer, received) < 0)
            return false;
    }
}

/* Runs one call on its own connection. */
static bool call_once(const char *pipe_name, struct grpc_call *call)
{
    struct h2_client client;
    bool ok;

    if (!client_open(&client, pipe_name))
        return false;
    client_submit(&client, call);
    ok = client_run(&client, &call, 1);
    client_close(&client);
    return ok;
}

static void check_version(const struct grpc_call *call)
{
    Runtime__V1__VersionResponse *response = NULL;
    const uint8_t *message;
    size_t length = 0;

    check(call->closed && call->http_status == 200 && call->grpc_status == GRPC_OK,
          "Version succeeds", "http %d, grpc-status %d %s", call->http_status, call->grpc_status,
          call->grpc_message);
    message = call_message(call, &length);
    if (message)
        response = runtime__v1__version_response__unpack(NULL, length, message);
    check(response != NULL, "Version response decodes", "%zu response bytes",
          call->response_length);
    if (response == NULL)
        return;
    check(strcmp(response->runtime_name, "hostcri") == 0, "Version runtime_name", "got \"%s\"",
          response->runtime_name);
    check(strcmp(response->version, "0.1.0") == 0, "Version version", "got \"%s\"",
          response->version);
    check(strcmp(response->runtime_api_version, "v1") == 0, "Version runtime_api_version",
          "got \"%s\"", response->runtime_api_version);
    check(response->runtime_version[0] != '\0', "Version runtime_version", "empty");
    runtime__v1__version_response__free_unpacked(response, NULL);
}

static const Runtime__V1__RuntimeCondition *find_condition(const Runtime__V1__StatusResponse *r,
                                                           const char *type)
{
    if (r->status == NULL)
        return NULL;
    for (size_t i = 0; i < r->status->n_conditions; i++) {
        if (strcmp(r->status->conditions[i]->type, type) == 0)
            return r->status->conditions[i];
    }
    return NULL;
}

static void check_status(const struct grpc_call *call)
{
    Runtime__V1__StatusResponse *response = NULL;
    const Runtime__V1__RuntimeCondition *runtime_ready;
    const Runtime__V1__RuntimeCondition *network_ready;
    const uint8_t *message;
    size_t length = 0;

    check(call->closed && call->grpc_status == GRPC_OK, "Status succeeds", "grpc-status %d %s",
          call->grpc_status, call->grpc_message);
    message = call_message(call, &length);
    if (message)
        response = runtime__v1__status_response__unpack(NULL, length, message);
    check(response != NULL, "Status response decodes", "%zu response bytes", call->response_length);
    if (response == NULL)
        return;
    runtime_ready = find_condition(response, "RuntimeReady");
    network_ready = find_condition(response, "NetworkReady");
    check(runtime_ready != NULL, "Status has RuntimeReady", "condition missing");
    check(network_ready != NULL, "Status has NetworkReady", "condition missing");
    if (runtime_ready)
        check(runtime_ready->status, "Status RuntimeReady is true", "status false: %s",
              runtime_ready->message);
    if (network_ready)
        check(network_ready->status, "Status NetworkReady is true", "status false");
    runtime__v1__status_response__free_unpacked(response, NULL);
}

static void check_grpc_status(const struct grpc_call *call, int expected, const char *name)
{
    check(call->closed && call->grpc_status == expected, name,
          "expected grpc-status %d, got %d (%s)", expected, call->grpc_status, call->grpc_message);
}

/* Version and Status multiplexed on one connection. */
static void test_runtime_info(const char *pipe_name)
{
    Runtime__V1__VersionRequest version_request = RUNTIME__V1__VERSION_REQUEST__INIT;
    Runtime__V1__StatusRequest status_request = RUNTIME__V1__STATUS_REQUEST__INIT;
    struct grpc_call version;
    struct grpc_call status;
    struct grpc_call *calls[] = {&version, &status};
    struct h2_client client;
    bool ok;

    version_request.version = "0.1.0";
    call_init(&version, "/runtime.v1.RuntimeService/Version", &version_request.base);
    call_init(&status, "/runtime.v1.RuntimeService/Status", &status_request.base);
    if (client_open(&client, pipe_name)) {
        check(true, "connect to the pipe", "%s", "");
        client_submit(&client, &version);
        client_submit(&client, &status);
        ok = client_run(&client, calls, 2);
        check(ok, "two calls on one connection", "connection failed before both calls closed");
        client_close(&client);
        check_version(&version);
        check_status(&status);
    }
    call_free(&version);
    call_free(&status);
}

static void test_other_calls(const char *pipe_name)
{
    Runtime__V1__RuntimeConfigRequest config_request = RUNTIME__V1__RUNTIME_CONFIG_REQUEST__INIT;
    Runtime__V1__UpdateRuntimeConfigRequest update =
        RUNTIME__V1__UPDATE_RUNTIME_CONFIG_REQUEST__INIT;
    Runtime__V1__RuntimeConfig runtime_config = RUNTIME__V1__RUNTIME_CONFIG__INIT;
    Runtime__V1__NetworkConfig network_config = RUNTIME__V1__NETWORK_CONFIG__INIT;
    Runtime__V1__ListPodSandboxRequest list_request = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
    struct grpc_call call;

    call_init(&call, "/runtime.v1.RuntimeService/RuntimeConfig", &config_request.base);
    call_once(pipe_name, &call);
    check_grpc_status(&call, GRPC_OK, "RuntimeConfig succeeds");
    call_free(&call);

    network_config.pod_cidr = "10.88.0.0/16";
    runtime_config.network_config = &network_config;
    update.runtime_config = &runtime_config;
    call_init(&call, "/runtime.v1.RuntimeService/UpdateRuntimeConfig", &update.base);
    call_once(pipe_name, &call);
    check_grpc_status(&call, GRPC_OK, "UpdateRuntimeConfig succeeds");
    call_free(&call);

    call_init(&call, "/runtime.v1.RuntimeService/ListPodSandbox", &list_request.base);
    call_once(pipe_name, &call);
    check_grpc_status(&call, GRPC_OK, "ListPodSandbox succeeds");
    call_free(&call);

    call_init(&call, "/runtime.v1.RuntimeService/NoSuchMethod", NULL);
    call_once(pipe_name, &call);
    check_grpc_status(&call, GRPC_UNIMPLEMENTED, "unknown method is UNIMPLEMENTED");
    call_free(&call);
}

/* More connections open at once than hostcri keeps instances waiting: each gets a response. */
static void test_parallel_connections(const char *pipe_name)
{
    Runtime__V1__VersionRequest request = RUNTIME__V1__VERSION_REQUEST__INIT;
    struct h2_client clients[PARALLEL_CONNECTIONS];
    struct grpc_call calls[PARALLEL_CONNECTIONS];
    int opened = 0;
    int answered = 0;

    for (int i = 0; i < PARALLEL_CONNECTIONS; i++) {
        call_init(&calls[i], "/runtime.v1.RuntimeService/Version", &request.base);
        if (client_open(&clients[i], pipe_name))
            opened++;
    }
    for (int i = 0; i < opened; i++) {
        struct grpc_call *call = &calls[i];

        client_submit(&clients[i], call);
        if (client_run(&clients[i], &call, 1) && call->grpc_status == GRPC_OK)
            answered++;
    }
    check(opened == PARALLEL_CONNECTIONS && answered == PARALLEL_CONNECTIONS,
          "six connections open at once", "%d opened, %d answered", opened, answered);
    for (int i = 0; i < PARALLEL_CONNECTIONS; i++) {
        client_close(&clients[i]);
        call_free(&calls[i]);
    }
}

static bool ace_is_allowed_for(PACL dacl, DWORD index, WELL_KNOWN_SID_TYPE type)
{
    BYTE sid[SECURITY_MAX_SID_SIZE];
    DWORD sid_size = sizeof(sid);
    ACCESS_ALLOWED_ACE *ace;

    if (!GetAce(dacl, index, (void **)&ace) || ace->Header.AceType != ACCESS_ALLOWED_ACE_TYPE)
        return false;
    if (!CreateWellKnownSid(type, NULL, sid, &sid_size))
        return false;
    return EqualSid((PSID)&ace->SidStart, sid);
}

/* The pipe's DACL lists exactly Administrators and SYSTEM, and inherits nothing. */
static void test_pipe_security(const char *pipe_name)
{
    PSECURITY_DESCRIPTOR descriptor = NULL;
    SECURITY_DESCRIPTOR_CONTROL control = 0;
    PACL dacl = NULL;
    DWORD revision;
    DWORD error = 0;
    HANDLE pipe = pipe_connect(pipe_name, &error);
    DWORD rc;

    if (pipe == INVALID_HANDLE_VALUE) {
        check(false, "pipe DACL", "connect: Windows error %lu", (unsigned long)error);
        return;
    }
    rc = GetSecurityInfo(pipe, SE_KERNEL_OBJECT, DACL_SECURITY_INFORMATION, NULL, NULL, &dacl, NULL,
                         &descriptor);
    if (rc != ERROR_SUCCESS || dacl == NULL) {
        check(false, "pipe DACL", "GetSecurityInfo: Windows error %lu", (unsigned long)rc);
    } else {
        GetSecurityDescriptorControl(descriptor, &control, &revision);
        check(dacl->AceCount == 2, "pipe DACL has two entries", "%u entries", dacl->AceCount);
        check(ace_is_allowed_for(dacl, 0, WinBuiltinAdministratorsSid) &&
                  ace_is_allowed_for(dacl, 1, WinLocalSystemSid),
              "pipe DACL allows Administrators and SYSTEM", "other entries");
        check(control & SE_DACL_PROTECTED, "pipe DACL is protected", "control 0x%x", control);
    }
    if (descriptor)
        LocalFree(descriptor);
    CloseHandle(pipe);
}

/* One Version call on its own connection. */
static void test_version(const char *pipe_name)
{
    Runtime__V1__VersionRequest request = RUNTIME__V1__VERSION_REQUEST__INIT;
    struct grpc_call call;

    call_init(&call, "/runtime.v1.RuntimeService/Version", &request.base);
    if (call_once(pipe_name, &call))
        check_version(&call);
    else
        check(false, "Version succeeds", "the connection failed");
    call_free(&call);
}

/* Reads from the connection until GOAWAY arrives or the connection ends. */
static void read_until_goaway(struct h2_client *client)
{
    uint8_t buffer[16384];
    DWORD received;

    while (!client->goaway_received) {
        if (!client_flush(client))
            return;
        if (!ReadFile(client->pipe, buffer, sizeof(buffer), &received, NULL) || received == 0)
            return;
        if (nghttp2_session_mem_recv(client->session, buffer, received) < 0)
            return;
    }
}

/* Returns true when the server closes the connection; data before the end is read and ignored. */
static bool wait_for_close(struct h2_client *client)
{
    uint8_t buffer[16384];
    DWORD received;

    for (;;) {
        if (!ReadFile(client->pipe, buffer, sizeof(buffer), &received, NULL) || received == 0)
            return true;
        if (nghttp2_session_mem_recv(client->session, buffer, received) < 0)
            return false;
    }
}

/* Keeps a connection open while hostcri stops: it must send GOAWAY, then close it. */
static void test_goaway_on_stop(const char *pipe_name)
{
    Runtime__V1__VersionRequest request = RUNTIME__V1__VERSION_REQUEST__INIT;
    struct grpc_call call;
    struct grpc_call *calls[] = {&call};
    struct h2_client client;

    if (!client_open(&client, pipe_name))
        return;
    call_init(&call, "/runtime.v1.RuntimeService/Version", &request.base);
    client_submit(&client, &call);
    check(client_run(&client, calls, 1) && call.grpc_status == GRPC_OK,
          "Version on the connection kept open", "grpc-status %d", call.grpc_status);
    printf("WAITING for the stop\n");
    read_until_goaway(&client);
    check(client.goaway_received, "GOAWAY on the open connection when hostcri stops",
          "the connection ended without GOAWAY");
    check(wait_for_close(&client), "hostcri closes the connection after GOAWAY",
          "invalid HTTP/2 data after GOAWAY");
    client_close(&client);
    call_free(&call);
}

int main(int argc, char **argv)
{
    if (argc != 2 &&
        !(argc == 3 && (strcmp(argv[2], "version") == 0 || strcmp(argv[2], "goaway") == 0))) {
        fprintf(stderr, "usage: %s \\\\.\\pipe\\NAME [version | goaway]\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 3 && strcmp(argv[2], "version") == 0) {
        test_version(argv[1]);
    } else if (argc == 3) {
        test_goaway_on_stop(argv[1]);
    } else {
        test_runtime_info(argv[1]);
        test_other_calls(argv[1]);
        test_parallel_connections(argv[1]);
        test_pipe_security(argv[1]);
    }
    return checks_finish();
}
