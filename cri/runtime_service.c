/*
 * RuntimeService handlers for sandboxes and containers: each validates its request, makes one
 * call into runtime/ and replies. Version, Status and the runtime config RPCs live in
 * runtime_info.c.
 */

#include "cri/runtime_service.h"

#include <stdbool.h>
#include <stdlib.h>

#include "api/api.pb-c.h"
#include "common/util.h"
#include "cri/services.h"
#include "runtime/runtime.h"

/* Returns the runtime, or fails the call with UNAVAILABLE and returns NULL. */
static struct runtime *runtime_of(struct rpc_call *call)
{
    struct runtime *runtime = rpc_call_services(call)->runtime;

    if (runtime == NULL)
        rpc_call_failf(call, ERROR_UNAVAILABLE, "the container runtime is not available");
    return runtime;
}

/* Fails the call with INVALID_ARGUMENT naming field when value is empty; returns -1 then. */
static int require_id(struct rpc_call *call, const char *value, const char *field)
{
    if (!str_empty(value))
        return 0;
    rpc_call_failf(call, ERROR_INVALID_ARGUMENT, "%s is empty", field);
    return -1;
}

/* Completes a call made asynchronous by the runtime with an empty response. */
struct empty_reply {
    struct rpc_call *call;
    ProtobufCMessage response;
};

static void reply_empty_cb(const struct error *err, void *data)
{
    struct empty_reply *reply = data;

    if (err)
        rpc_call_fail(reply->call, err);
    else
        rpc_call_reply(reply->call, &reply->response);
    free(reply);
}

static struct empty_reply *empty_reply_new(struct rpc_call *call,
                                           const ProtobufCMessageDescriptor *descriptor)
{
    struct empty_reply *reply = xcalloc(1, sizeof(*reply));

    reply->call = call;
    protobuf_c_message_init(descriptor, &reply->response);
    return reply;
}

/* Sends err and frees reply after a synchronous failure of an asynchronous runtime call. */
static void fail_empty_reply(struct empty_reply *reply, struct error *err)
{
    rpc_call_fail(reply->call, err);
    free(reply);
}

void runtime_service_run_pod_sandbox(struct rpc_call *call, const void *request)
{
    const Runtime__V1__RunPodSandboxRequest *req = request;
    Runtime__V1__RunPodSandboxResponse response = RUNTIME__V1__RUN_POD_SANDBOX_RESPONSE__INIT;
    struct runtime *runtime = runtime_of(call);
    _cleanup_error_ struct error err = ERROR_INIT;
    _cleanup_free_ char *id = NULL;

    if (runtime == NULL)
        return;
    if (runtime_sandbox_run(runtime, req->config, req->runtime_handler, &id, &err) < 0) {
        rpc_call_fail(call, &err);
        return;
    }
    response.pod_sandbox_id = id;
    rpc_call_reply(call, &response);
}

void runtime_service_stop_pod_sandbox(struct rpc_call *call, const void *request)
{
    const Runtime__V1__StopPodSandboxRequest *req = request;
    struct runtime *runtime = runtime_of(call);
    _cleanup_error_ struct error err = ERROR_INIT;
    struct empty_reply *reply;

    if (runtime == NULL || require_id(call, req->pod_sandbox_id, "pod_sandbox_id") < 0)
        return;
    reply = empty_reply_new(call, &runtime__v1__stop_pod_sandbox_response__descriptor);
    if (runtime_sandbox_stop(runtime, req->pod_sandbox_id, reply_empty_cb, reply, &err) < 0)
        fail_empty_reply(reply, &err);
}

void runtime_service_remove_pod_sandbox(struct rpc_call *call, const void *request)
{
    const Runtime__V1__RemovePodSandboxRequest *req = request;
    struct runtime *runtime = runtime_of(call);
    _cleanup_error_ struct error err = ERROR_INIT;
    struct empty_reply *reply;

    if (runtime == NULL || require_id(call, req->pod_sandbox_id, "pod_sandbox_id") < 0)
        return;
    reply = empty_reply_new(call, &runtime__v1__remove_pod_sandbox_response__descriptor);
    if (runtime_sandbox_remove(runtime, req->pod_sandbox_id, reply_empty_cb, reply, &err) < 0)
        fail_empty_reply(reply, &err);
}

void runtime_service_pod_sandbox_status(struct rpc_call *call, const void *request)
{
    const Runtime__V1__PodSandboxStatusRequest *req = request;
    struct runtime *runtime = runtime_of(call);
    _cleanup_error_ struct error err = ERROR_INIT;
    Runtime__V1__PodSandboxStatusResponse *response = NULL;

    if (runtime == NULL || require_id(call, req->pod_sandbox_id, "pod_sandbox_id") < 0)
        return;
    if (runtime_sandbox_status(runtime, req->pod_sandbox_id, req->verbose, &response, &err) < 0) {
        rpc_call_fail(call, &err);
        return;
    }
    rpc_call_reply(call, response);
    runtime_message_free(response);
}

void runtime_service_list_pod_sandbox(struct rpc_call *call, const void *request)
{
    const Runtime__V1__ListPodSandboxRequest *req = request;
    struct runtime *runtime = runtime_of(call);
    _cleanup_error_ struct error err = ERROR_INIT;
    Runtime__V1__ListPodSandboxResponse *response = NULL;

    if (runtime == NULL)
        return;
    if (runtime_sandbox_list(runtime, req->filter, &response, &err) < 0) {
        rpc_call_fail(call, &err);
        return;
    }
    rpc_call_reply(call, response);
    runtime_message_free(response);
}

/* Checks the parts of a CreateContainer request that the runtime relies on. */
static int check_create_request(struct rpc_call *call,
                                const Runtime__V1__CreateContainerRequest *req)
{
    const Runtime__V1__ContainerConfig *config = req->config;

    if (require_id(call, req->pod_sandbox_id, "pod_sandbox_id") < 0)
        return -1;
    if (config == NULL) {
        rpc_call_failf(call, ERROR_INVALID_ARGUMENT, "config is missing");
        return -1;
    }
    if (config->metadata == NULL) {
        rpc_call_failf(call, ERROR_INVALID_ARGUMENT, "config.metadata is missing");
        return -1;
    }
    if (require_id(call, config->metadata->name, "config.metadata.name") < 0)
        return -1;
    if (config->image == NULL || str_empty(config->image->image)) {
        rpc_call_failf(call, ERROR_INVALID_ARGUMENT, "config.image.image is empty");
        return -1;
    }
    return 0;
}

void runtime_service_create_container(struct rpc_call *call, const void *request)
{
    const Runtime__V1__CreateContainerRequest *req = request;
    Runtime__V1__CreateContainerResponse response = RUNTIME__V1__CREATE_CONTAINER_RESPONSE__INIT;
    struct runtime *runtime = runtime_of(call);
    _cleanup_error_ struct error err = ERROR_INIT;
    _cleanup_free_ char *id = NULL;

    if (runtime == NULL || check_create_request(call, req) < 0)
        return;
    if (runtime_container_create(runtime, req->pod_sandbox_id, req->config, req->sandbox_config,
                                 &id, &err) < 0) {
        rpc_call_fail(call, &err);
        return;
    }
    response.container_id = id;
    rpc_call_reply(call, &response);
}

void runtime_service_start_container(struct rpc_call *call, const void *request)
{
    const Runtime__V1__StartContainerRequest *req = request;
    Runtime__V1__StartContainerResponse response = RUNTIME__V1__START_CONTAINER_RESPONSE__INIT;
    struct runtime *runtime = runtime_of(call);
    _cleanup_error_ struct error err = ERROR_INIT;

    if (runtime == NULL || require_id(call, req->container_id, "container_id") < 0)
        return;
    if (runtime_container_start(runtime, req->container_id, &err) < 0) {
        rpc_call_fail(call, &err);
        return;
    }
    rpc_call_reply(call, &response);
}

void runtime_service_stop_container(struct rpc_call *call, const void *request)
{
    const Runtime__V1__StopContainerRequest *req = request;
    struct runtime *runtime = runtime_of(call);
    _cleanup_error_ struct error err = ERROR_INIT;
    struct empty_reply *reply;

    if (runtime == NULL || require_id(call, req->container_id, "container_id") < 0)
        return;
    reply = empty_reply_new(call, &runtime__v1__stop_container_response__descriptor);
    if (runtime_container_stop(runtime, req->container_id, req->timeout, reply_empty_cb, reply,
                               &err) < 0)
        fail_empty_reply(reply, &err);
}

void runtime_service_remove_container(struct rpc_call *call, const void *request)
{
    const Runtime__V1__RemoveContainerRequest *req = request;
    struct runtime *runtime = runtime_of(call);
    _cleanup_error_ struct error err = ERROR_INIT;
    struct empty_reply *reply;

    if (runtime == NULL || require_id(call, req->container_id, "container_id") < 0)
        return;
    reply = empty_reply_new(call, &runtime__v1__remove_container_response__descriptor);
    if (runtime_container_remove(runtime, req->container_id, reply_empty_cb, reply, &err) < 0)
        fail_empty_reply(reply, &err);
}

void runtime_service_list_containers(struct rpc_call *call, const void *request)
{
    const Runtime__V1__ListContainersRequest *req = request;
    struct runtime *runtime = runtime_of(call);
    _cleanup_error_ struct error err = ERROR_INIT;
    Runtime__V1__ListContainersResponse *response = NULL;

    if (runtime == NULL)
        return;
    if (runtime_container_list(runtime, req->filter, &response, &err) < 0) {
        rpc_call_fail(call, &err);
        return;
    }
    rpc_call_reply(call, response);
    runtime_message_free(response);
}

void runtime_service_container_status(struct rpc_call *call, const void *request)
{
    const Runtime__V1__ContainerStatusRequest *req = request;
    struct runtime *runtime = runtime_of(call);
    _cleanup_error_ struct error err = ERROR_INIT;
    Runtime__V1__ContainerStatusResponse *response = NULL;

    if (runtime == NULL || require_id(call, req->container_id, "container_id") < 0)
        return;
    if (runtime_container_status(runtime, req->container_id, req->verbose, &response, &err) < 0) {
        rpc_call_fail(call, &err);
        return;
    }
    rpc_call_reply(call, response);
    runtime_message_free(response);
}

void runtime_service_update_container_resources(struct rpc_call *call, const void *request)
{
    const Runtime__V1__UpdateContainerResourcesRequest *req = request;
    Runtime__V1__UpdateContainerResourcesResponse response =
        RUNTIME__V1__UPDATE_CONTAINER_RESOURCES_RESPONSE__INIT;
    struct runtime *runtime = runtime_of(call);
    _cleanup_error_ struct error err = ERROR_INIT;

    if (runtime == NULL || require_id(call, req->container_id, "container_id") < 0)
        return;
    if (runtime_container_update_resources(runtime, req->container_id, req->linux, &err) < 0) {
        rpc_call_fail(call, &err);
        return;
    }
    rpc_call_reply(call, &response);
}

void runtime_service_reopen_container_log(struct rpc_call *call, const void *request)
{
    const Runtime__V1__ReopenContainerLogRequest *req = request;
    Runtime__V1__ReopenContainerLogResponse response =
        RUNTIME__V1__REOPEN_CONTAINER_LOG_RESPONSE__INIT;
    struct runtime *runtime = runtime_of(call);
    _cleanup_error_ struct error err = ERROR_INIT;

    if (runtime == NULL || require_id(call, req->container_id, "container_id") < 0)
        return;
    if (runtime_container_reopen_log(runtime, req->container_id, &err) < 0) {
        rpc_call_fail(call, &err);
        return;
    }
    rpc_call_reply(call, &response);
}

static void exec_sync_done_cb(const struct runtime_exec_result *result, const struct error *err,
                              void *data)
{
    struct rpc_call *call = data;
    Runtime__V1__ExecSyncResponse response = RUNTIME__V1__EXEC_SYNC_RESPONSE__INIT;

    if (err) {
        rpc_call_fail(call, err);
        return;
    }
    response.stdout.data = (uint8_t *)result->stdout_data;
    response.stdout.len = result->stdout_length;
    response.stderr.data = (uint8_t *)result->stderr_data;
    response.stderr.len = result->stderr_length;
    response.exit_code = result->exit_code;
    rpc_call_reply(call, &response);
}

void runtime_service_exec_sync(struct rpc_call *call, const void *request)
{
    const Runtime__V1__ExecSyncRequest *req = request;
    struct runtime *runtime = runtime_of(call);
    _cleanup_error_ struct error err = ERROR_INIT;
    _cleanup_free_ const char **argv = NULL;

    if (runtime == NULL || require_id(call, req->container_id, "container_id") < 0)
        return;
    if (req->n_cmd == 0 || str_empty(req->cmd[0])) {
        rpc_call_failf(call, ERROR_INVALID_ARGUMENT, "cmd is empty");
        return;
    }
    argv = xcalloc(req->n_cmd + 1, sizeof(*argv));
    for (size_t i = 0; i < req->n_cmd; i++)
        argv[i] = req->cmd[i];
    /* The runtime reads argv only during the call; the request owns the strings. */
    if (runtime_container_exec_sync(runtime, req->container_id, argv, req->timeout,
                                    exec_sync_done_cb, call, &err) < 0)
        rpc_call_fail(call, &err);
}

void runtime_service_container_stats(struct rpc_call *call, const void *request)
{
    const Runtime__V1__ContainerStatsRequest *req = request;
    struct runtime *runtime = runtime_of(call);
    _cleanup_error_ struct error err = ERROR_INIT;
    Runtime__V1__ContainerStatsResponse *response = NULL;

    if (runtime == NULL || require_id(call, req->container_id, "container_id") < 0)
        return;
    if (runtime_container_stats(runtime, req->container_id, &response, &err) < 0) {
        rpc_call_fail(call, &err);
        return;
    }
    rpc_call_reply(call, response);
    runtime_message_free(response);
}

void runtime_service_list_container_stats(struct rpc_call *call, const void *request)
{
    const Runtime__V1__ListContainerStatsRequest *req = request;
    struct runtime *runtime = runtime_of(call);
    _cleanup_error_ struct error err = ERROR_INIT;
    Runtime__V1__ListContainerStatsResponse *response = NULL;

    if (runtime == NULL)
        return;
    if (runtime_container_stats_list(runtime, req->filter, &response, &err) < 0) {
        rpc_call_fail(call, &err);
        return;
    }
    rpc_call_reply(call, response);
    runtime_message_free(response);
}

void runtime_service_pod_sandbox_stats(struct rpc_call *call, const void *request)
{
    const Runtime__V1__PodSandboxStatsRequest *req = request;
    struct runtime *runtime = runtime_of(call);
    _cleanup_error_ struct error err = ERROR_INIT;
    Runtime__V1__PodSandboxStatsResponse *response = NULL;

    if (runtime == NULL || require_id(call, req->pod_sandbox_id, "pod_sandbox_id") < 0)
        return;
    if (runtime_sandbox_stats(runtime, req->pod_sandbox_id, &response, &err) < 0) {
        rpc_call_fail(call, &err);
        return;
    }
    rpc_call_reply(call, response);
    runtime_message_free(response);
}

void runtime_service_list_pod_sandbox_stats(struct rpc_call *call, const void *request)
{
    const Runtime__V1__ListPodSandboxStatsRequest *req = request;
    struct runtime *runtime = runtime_of(call);
    _cleanup_error_ struct error err = ERROR_INIT;
    Runtime__V1__ListPodSandboxStatsResponse *response = NULL;

    if (runtime == NULL)
        return;
    if (runtime_sandbox_stats_list(runtime, req->filter, &response, &err) < 0) {
        rpc_call_fail(call, &err);
        return;
    }
    rpc_call_reply(call, response);
    runtime_message_free(response);
}

/* ---- RPCs that other parts of hostcri will serve ------------------------------------------ */

static void fail_not_built(struct rpc_call *call, const char *what)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s: %s is not implemented in this hostcri build",
                   rpc_call_method(call)->path, what);
}

void runtime_service_exec(struct rpc_call *call, const void *request)
{
    fail_not_built(call, "streaming exec");
}

void runtime_service_attach(struct rpc_call *call, const void *request)
{
    fail_not_built(call, "attach");
}

void runtime_service_port_forward(struct rpc_call *call, const void *request)
{
    fail_not_built(call, "port forwarding");
}

void runtime_service_checkpoint_container(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED,
                   "CheckpointContainer is not supported: hostcri runs containers as host "
                   "processes, which cannot be checkpointed");
}

void runtime_service_get_container_events(struct rpc_call *call, const void *request)
{
    struct error err = ERROR_INIT;

    /* A server-streaming call ends through rpc_call_finish. */
    error_set(&err, ERROR_UNIMPLEMENTED,
              "%s: container events are not implemented in this "
              "hostcri build",
              rpc_call_method(call)->path);
    rpc_call_finish(call, &err);
    error_clear(&err);
}

void runtime_service_list_metric_descriptors(struct rpc_call *call, const void *request)
{
    Runtime__V1__ListMetricDescriptorsResponse response =
        RUNTIME__V1__LIST_METRIC_DESCRIPTORS_RESPONSE__INIT;

    rpc_call_reply(call, &response);
}

void runtime_service_list_pod_sandbox_metrics(struct rpc_call *call, const void *request)
{
    Runtime__V1__ListPodSandboxMetricsResponse response =
        RUNTIME__V1__LIST_POD_SANDBOX_METRICS_RESPONSE__INIT;

    rpc_call_reply(call, &response);
}
