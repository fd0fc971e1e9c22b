/*
 * cri_pipe_client: the gRPC client of the Windows tests. It connects to hostcri's named pipe,
 * sends CRI calls over HTTP/2 (pipe_grpc.c), checks the responses and the pipe's security
 * descriptor, and prints one "PASS <check>" or "FAIL <check>: <detail>" line per check. The exit
 * status is the number of failed checks.
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

#include "checks.h"
#include "api/api.pb-c.h"
#include "pipe_grpc.h"

/* gRPC status codes the checks expect. */
#define GRPC_OK 0
#define GRPC_UNIMPLEMENTED 12

/* Connections opened at once by the instance check: more than hostcri keeps waiting (4). */
#define PARALLEL_CONNECTIONS 6

/* Connects to the pipe. A failure prints the FAIL line "connect to the pipe". */
static struct pipe_grpc_connection *connect_or_fail(const char *pipe_name)
{
    char error[256];
    struct pipe_grpc_connection *connection = pipe_grpc_connect(pipe_name, error, sizeof(error));

    if (connection == NULL)
        check(false, "connect to the pipe", "%s", error);
    return connection;
}

/* Runs one call on its own connection. */
static bool call_once(const char *pipe_name, struct pipe_grpc_call *call)
{
    struct pipe_grpc_connection *connection = connect_or_fail(pipe_name);
    bool ok;

    if (connection == NULL)
        return false;
    pipe_grpc_submit(connection, call);
    ok = pipe_grpc_run(connection, &call, 1);
    pipe_grpc_close(connection);
    return ok;
}

static void check_version(const struct pipe_grpc_call *call)
{
    Runtime__V1__VersionResponse *response = NULL;
    const uint8_t *message;
    size_t length = 0;

    check(call->closed && call->http_status == 200 && call->grpc_status == GRPC_OK,
          "Version succeeds", "http %d, grpc-status %d %s", call->http_status, call->grpc_status,
          call->grpc_message);
    message = pipe_grpc_call_message(call, &length);
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

static void check_status(const struct pipe_grpc_call *call)
{
    Runtime__V1__StatusResponse *response = NULL;
    const Runtime__V1__RuntimeCondition *runtime_ready;
    const Runtime__V1__RuntimeCondition *network_ready;
    const uint8_t *message;
    size_t length = 0;

    check(call->closed && call->grpc_status == GRPC_OK, "Status succeeds", "grpc-status %d %s",
          call->grpc_status, call->grpc_message);
    message = pipe_grpc_call_message(call, &length);
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

static void check_grpc_status(const struct pipe_grpc_call *call, int expected, const char *name)
{
    check(call->closed && call->grpc_status == expected, name,
          "expected grpc-status %d, got %d (%s)", expected, call->grpc_status, call->grpc_message);
}

/* Version and Status multiplexed on one connection. */
static void test_runtime_info(const char *pipe_name)
{
    Runtime__V1__VersionRequest version_request = RUNTIME__V1__VERSION_REQUEST__INIT;
    Runtime__V1__StatusRequest status_request = RUNTIME__V1__STATUS_REQUEST__INIT;
    struct pipe_grpc_call version;
    struct pipe_grpc_call status;
    struct pipe_grpc_call *calls[] = {&version, &status};
    struct pipe_grpc_connection *connection;
    bool ok;

    version_request.version = "0.1.0";
    pipe_grpc_call_init(&version, "/runtime.v1.RuntimeService/Version", &version_request.base);
    pipe_grpc_call_init(&status, "/runtime.v1.RuntimeService/Status", &status_request.base);
    connection = connect_or_fail(pipe_name);
    if (connection) {
        check(true, "connect to the pipe", "%s", "");
        pipe_grpc_submit(connection, &version);
        pipe_grpc_submit(connection, &status);
        ok = pipe_grpc_run(connection, calls, 2);
        check(ok, "two calls on one connection", "connection failed before both calls closed");
        pipe_grpc_close(connection);
        check_version(&version);
        check_status(&status);
    }
    pipe_grpc_call_free(&version);
    pipe_grpc_call_free(&status);
}

static void test_other_calls(const char *pipe_name)
{
    Runtime__V1__RuntimeConfigRequest config_request = RUNTIME__V1__RUNTIME_CONFIG_REQUEST__INIT;
    Runtime__V1__UpdateRuntimeConfigRequest update =
        RUNTIME__V1__UPDATE_RUNTIME_CONFIG_REQUEST__INIT;
    Runtime__V1__RuntimeConfig runtime_config = RUNTIME__V1__RUNTIME_CONFIG__INIT;
    Runtime__V1__NetworkConfig network_config = RUNTIME__V1__NETWORK_CONFIG__INIT;
    Runtime__V1__ListPodSandboxRequest list_request = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
    struct pipe_grpc_call call;

    pipe_grpc_call_init(&call, "/runtime.v1.RuntimeService/RuntimeConfig", &config_request.base);
    call_once(pipe_name, &call);
    check_grpc_status(&call, GRPC_OK, "RuntimeConfig succeeds");
    pipe_grpc_call_free(&call);

    network_config.pod_cidr = "10.88.0.0/16";
    runtime_config.network_config = &network_config;
    update.runtime_config = &runtime_config;
    pipe_grpc_call_init(&call, "/runtime.v1.RuntimeService/UpdateRuntimeConfig", &update.base);
    call_once(pipe_name, &call);
    check_grpc_status(&call, GRPC_OK, "UpdateRuntimeConfig succeeds");
    pipe_grpc_call_free(&call);

    pipe_grpc_call_init(&call, "/runtime.v1.RuntimeService/ListPodSandbox", &list_request.base);
    call_once(pipe_name, &call);
    check_grpc_status(&call, GRPC_OK, "ListPodSandbox succeeds");
    pipe_grpc_call_free(&call);

    pipe_grpc_call_init(&call, "/runtime.v1.RuntimeService/NoSuchMethod", NULL);
    call_once(pipe_name, &call);
    check_grpc_status(&call, GRPC_UNIMPLEMENTED, "unknown method is UNIMPLEMENTED");
    pipe_grpc_call_free(&call);
}

/* More connections open at once than hostcri keeps instances waiting: each gets a response. */
static void test_parallel_connections(const char *pipe_name)
{
    Runtime__V1__VersionRequest request = RUNTIME__V1__VERSION_REQUEST__INIT;
    struct pipe_grpc_connection *connections[PARALLEL_CONNECTIONS];
    struct pipe_grpc_call calls[PARALLEL_CONNECTIONS];
    int opened = 0;
    int answered = 0;

    for (int i = 0; i < PARALLEL_CONNECTIONS; i++) {
        pipe_grpc_call_init(&calls[i], "/runtime.v1.RuntimeService/Version", &request.base);
        connections[i] = connect_or_fail(pipe_name);
        if (connections[i])
            opened++;
    }
    for (int i = 0; i < PARALLEL_CONNECTIONS; i++) {
        struct pipe_grpc_call *call = &calls[i];

        if (connections[i] == NULL)
            continue;
        pipe_grpc_submit(connections[i], call);
        if (pipe_grpc_run(connections[i], &call, 1) && call->grpc_status == GRPC_OK)
            answered++;
    }
    check(opened == PARALLEL_CONNECTIONS && answered == PARALLEL_CONNECTIONS,
          "six connections open at once", "%d opened, %d answered", opened, answered);
    for (int i = 0; i < PARALLEL_CONNECTIONS; i++) {
        pipe_grpc_close(connections[i]);
        pipe_grpc_call_free(&calls[i]);
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
    unsigned long error = 0;
    HANDLE pipe = pipe_grpc_open_pipe(pipe_name, &error);
    DWORD rc;

    if (pipe == INVALID_HANDLE_VALUE) {
        check(false, "pipe DACL", "connect: Windows error %lu", error);
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
    struct pipe_grpc_call call;

    pipe_grpc_call_init(&call, "/runtime.v1.RuntimeService/Version", &request.base);
    if (call_once(pipe_name, &call))
        check_version(&call);
    else
        check(false, "Version succeeds", "the connection failed");
    pipe_grpc_call_free(&call);
}

/* Keeps a connection open while hostcri stops: it must send GOAWAY, then close it. */
static void test_goaway_on_stop(const char *pipe_name)
{
    Runtime__V1__VersionRequest request = RUNTIME__V1__VERSION_REQUEST__INIT;
    struct pipe_grpc_call call;
    struct pipe_grpc_call *calls[] = {&call};
    struct pipe_grpc_connection *connection = connect_or_fail(pipe_name);

    if (connection == NULL)
        return;
    pipe_grpc_call_init(&call, "/runtime.v1.RuntimeService/Version", &request.base);
    pipe_grpc_submit(connection, &call);
    check(pipe_grpc_run(connection, calls, 1) && call.grpc_status == GRPC_OK,
          "Version on the connection kept open", "grpc-status %d", call.grpc_status);
    printf("WAITING for the stop\n");
    check(pipe_grpc_wait_for_goaway(connection), "GOAWAY on the open connection when hostcri stops",
          "the connection ended without GOAWAY");
    check(pipe_grpc_wait_for_close(connection), "hostcri closes the connection after GOAWAY",
          "invalid HTTP/2 data after GOAWAY");
    pipe_grpc_close(connection);
    pipe_grpc_call_free(&call);
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
