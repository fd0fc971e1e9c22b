/*
 * RuntimeService handlers for sandboxes and containers: each validates its request, makes one
 * call into runtime/ and replies. Version, Status and the runtime config RPCs live in
 * runtime_info.c.
 */

#include "cri/runtime_service.h"

#include <stdbool.h>
#include <stdlib.h>
#ifdef _WIN32
#include <io.h> /* close of the exec's C runtime descriptors */
#else
#include <unistd.h>
#endif

#include "api/api.pb-c.h"
#include "common/log.h"
#include "common/util.h"
#include "cri/services.h"
#include "cri/streaming/server.h"
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

/* Sends response (freed here) when rc is 0, or err when rc is -1. */
static void reply_result(struct rpc_call *call, int rc, void *response, const struct error *err)
{
    if (rc < 0) {
        rpc_call_fail(call, err);
        return;
    }
    rpc_call_reply(call, response);
    runtime_message_free(response);
}

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
    int rc;

    if (runtime == NULL || require_id(call, req->pod_sandbox_id, "pod_sandbox_id") < 0)
        return;
    rc = runtime_sandbox_status(runtime, req->pod_sandbox_id, req->verbose, &response, &err);
    reply_result(call, rc, response, &err);
}

void runtime_service_list_pod_sandbox(struct rpc_call *call, const void *request)
{
    const Runtime__V1__ListPodSandboxRequest *req = request;
    struct runtime *runtime = runtime_of(call);
    _cleanup_error_ struct error err = ERROR_INIT;
    Runtime__V1__ListPodSandboxResponse *response = NULL;
    int rc;

    if (runtime == NULL)
        return;
    rc = runtime_sandbox_list(runtime, req->filter, &response, &err);
    reply_result(call, rc, response, &err);
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
    struct runtime *runtime = runtime_of(call);
    _cleanup_error_ struct error err = ERROR_INIT;
    struct empty_reply *reply;

    if (runtime == NULL || require_id(call, req->container_id, "container_id") < 0)
        return;
    reply = empty_reply_new(call, &runtime__v1__start_container_response__descriptor);
    if (runtime_container_start(runtime, req->container_id, reply_empty_cb, reply, &err) < 0)
        fail_empty_reply(reply, &err);
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

    if (runtime == NULL)
        return;
    runtime_container_list_pack(runtime, req->filter, rpc_call_response_buffer(call));
    rpc_call_reply_appended(call);
}

void runtime_service_container_status(struct rpc_call *call, const void *request)
{
    const Runtime__V1__ContainerStatusRequest *req = request;
    struct runtime *runtime = runtime_of(call);
    _cleanup_error_ struct error err = ERROR_INIT;
    Runtime__V1__ContainerStatusResponse *response = NULL;
    int rc;

    if (runtime == NULL || require_id(call, req->container_id, "container_id") < 0)
        return;
    rc = runtime_container_status(runtime, req->container_id, req->verbose, &response, &err);
    reply_result(call, rc, response, &err);
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
    int rc;

    if (runtime == NULL || require_id(call, req->container_id, "container_id") < 0)
        return;
    rc = runtime_container_stats(runtime, req->container_id, &response, &err);
    reply_result(call, rc, response, &err);
}

void runtime_service_list_container_stats(struct rpc_call *call, const void *request)
{
    const Runtime__V1__ListContainerStatsRequest *req = request;
    struct runtime *runtime = runtime_of(call);
    _cleanup_error_ struct error err = ERROR_INIT;
    Runtime__V1__ListContainerStatsResponse *response = NULL;
    int rc;

    if (runtime == NULL)
        return;
    rc = runtime_container_stats_list(runtime, req->filter, &response, &err);
    reply_result(call, rc, response, &err);
}

void runtime_service_pod_sandbox_stats(struct rpc_call *call, const void *request)
{
    const Runtime__V1__PodSandboxStatsRequest *req = request;
    struct runtime *runtime = runtime_of(call);
    _cleanup_error_ struct error err = ERROR_INIT;
    Runtime__V1__PodSandboxStatsResponse *response = NULL;
    int rc;

    if (runtime == NULL || require_id(call, req->pod_sandbox_id, "pod_sandbox_id") < 0)
        return;
    rc = runtime_sandbox_stats(runtime, req->pod_sandbox_id, &response, &err);
    reply_result(call, rc, response, &err);
}

void runtime_service_list_pod_sandbox_stats(struct rpc_call *call, const void *request)
{
    const Runtime__V1__ListPodSandboxStatsRequest *req = request;
    struct runtime *runtime = runtime_of(call);
    _cleanup_error_ struct error err = ERROR_INIT;
    Runtime__V1__ListPodSandboxStatsResponse *response = NULL;
    int rc;

    if (runtime == NULL)
        return;
    rc = runtime_sandbox_stats_list(runtime, req->filter, &response, &err);
    reply_result(call, rc, response, &err);
}

/* ---- Exec, Attach and PortForward: URLs of the streaming server ------------------------- */

static struct streaming_server *streaming_of(struct rpc_call *call)
{
    struct streaming_server *server = rpc_call_services(call)->streaming;

    if (server == NULL)
        rpc_call_failf(call, ERROR_UNAVAILABLE, "%s: the streaming server is not running",
                       rpc_call_method(call)->path);
    return server;
}

/* Fails the call with FAILED_PRECONDITION unless the container exists and runs. */
static int require_running(struct rpc_call *call, struct runtime *runtime, const char *id)
{
    _cleanup_error_ struct error err = ERROR_INIT;
    Runtime__V1__ContainerState state;
    const char *full_id = NULL;

    if (runtime_container_lookup(runtime, id, &full_id, &state, &err) < 0) {
        rpc_call_fail(call, &err);
        return -1;
    }
    if (state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING) {
        rpc_call_failf(call, ERROR_FAILED_PRECONDITION, "container %s is not running", full_id);
        return -1;
    }
    return 0;
}

static unsigned streams_of(bool in, bool out, bool err)
{
    return (in ? STREAMING_STDIN : 0) | (out ? STREAMING_STDOUT : 0) | (err ? STREAMING_STDERR : 0);
}

/* Issues the URL for request and replies with a response whose url field is at url_field. */
static void reply_url(struct rpc_call *call, struct streaming_server *server,
                      const struct streaming_request *request, ProtobufCMessage *response,
                      char **url_field)
{
    _cleanup_error_ struct error err = ERROR_INIT;
    _cleanup_free_ char *url = NULL;

    if (streaming_server_issue_url(server, request, &url, &err) < 0) {
        rpc_call_fail(call, &err);
        return;
    }
    *url_field = url;
    rpc_call_reply(call, response);
}

void runtime_service_exec(struct rpc_call *call, const void *request)
{
    const Runtime__V1__ExecRequest *req = request;
    Runtime__V1__ExecResponse response = RUNTIME__V1__EXEC_RESPONSE__INIT;
    struct runtime *runtime = runtime_of(call);
    struct streaming_server *server;
    _cleanup_error_ struct error err = ERROR_INIT;
    struct streaming_request stream = {
        .kind = STREAMING_EXEC,
        .container_id = req->container_id,
        .cmd = (const char *const *)req->cmd,
        .cmd_count = req->n_cmd,
        .tty = req->tty,
        .streams = streams_of(req->stdin, req->stdout, req->stderr),
    };

    if (runtime == NULL)
        return;
    if (streaming_validate_exec_request(req->container_id, req->n_cmd, req->tty, stream.streams,
                                        &err) < 0) {
        rpc_call_fail(call, &err);
        return;
    }
    if (require_running(call, runtime, req->container_id) < 0 ||
        (server = streaming_of(call)) == NULL)
        return;
    reply_url(call, server, &stream, &response.base, &response.url);
}

void runtime_service_attach(struct rpc_call *call, const void *request)
{
    const Runtime__V1__AttachRequest *req = request;
    Runtime__V1__AttachResponse response = RUNTIME__V1__ATTACH_RESPONSE__INIT;
    struct runtime *runtime = runtime_of(call);
    struct streaming_server *server;
    _cleanup_error_ struct error err = ERROR_INIT;
    struct streaming_request stream = {
        .kind = STREAMING_ATTACH,
        .container_id = req->container_id,
        .tty = req->tty,
        .streams = streams_of(req->stdin, req->stdout, req->stderr),
    };

    if (runtime == NULL)
        return;
    if (streaming_validate_attach_request(req->container_id, req->tty, stream.streams, &err) < 0) {
        rpc_call_fail(call, &err);
        return;
    }
    if (require_running(call, runtime, req->container_id) < 0 ||
        (server = streaming_of(call)) == NULL)
        return;
    reply_url(call, server, &stream, &response.base, &response.url);
}

void runtime_service_port_forward(struct rpc_call *call, const void *request)
{
    const Runtime__V1__PortForwardRequest *req = request;
    Runtime__V1__PortForwardResponse response = RUNTIME__V1__PORT_FORWARD_RESPONSE__INIT;
    struct runtime *runtime = runtime_of(call);
    struct streaming_server *server;
    _cleanup_error_ struct error err = ERROR_INIT;
    Runtime__V1__PodSandboxStatusResponse *status = NULL;
    struct streaming_request stream = {
        .kind = STREAMING_PORT_FORWARD,
        .pod_sandbox_id = req->pod_sandbox_id,
        .ports = req->port,
        .port_count = req->n_port,
    };

    if (runtime == NULL)
        return;
    if (streaming_validate_port_forward_request(req->pod_sandbox_id, req->port, req->n_port, &err) <
        0) {
        rpc_call_fail(call, &err);
        return;
    }
    if (runtime_sandbox_status(runtime, req->pod_sandbox_id, false, &status, &err) < 0) {
        rpc_call_fail(call, &err);
        return;
    }
    /* Every pod uses the host network, so the forward goes to the host's loopback ports. */
    stream.pod_sandbox_id = status->status->id;
    if ((server = streaming_of(call)) != NULL)
        reply_url(call, server, &stream, &response.base, &response.url);
    runtime_message_free(status);
}

/* ---- GetContainerEvents: a server-streaming call per subscriber ------------------------- */

/* One GetContainerEvents call, freed when the call is finished. */
struct events_call {
    struct rpc_call *call;
    struct runtime_event_subscription *subscription;
};

static void events_finish(struct events_call *events, enum error_code code, const char *why)
{
    struct error err = ERROR_INIT;

    runtime_events_unsubscribe(events->subscription);
    if (code != ERROR_OK)
        error_set(&err, code, "%s", why);
    rpc_call_finish(events->call, &err);
    error_clear(&err);
    free(events);
}

static void event_cb(const Runtime__V1__ContainerEventResponse *event, void *data)
{
    struct events_call *events = data;

    if (event == NULL) {
        events_finish(events, ERROR_UNAVAILABLE, "the container runtime is shutting down");
        return;
    }
    /* A failed send means the client is gone or too slow; the call is cancelled then. */
    if (rpc_call_send(events->call, event) < 0)
        events_finish(events, ERROR_CANCELLED, "the client stopped receiving events");
}

static void events_cancel_cb(struct rpc_call *call, void *data)
{
    events_finish(data, ERROR_CANCELLED, "the client cancelled the call");
}

void runtime_service_get_container_events(struct rpc_call *call, const void *request)
{
    struct runtime *runtime = rpc_call_services(call)->runtime;
    struct events_call *events;

    if (runtime == NULL) {
        struct error err = {ERROR_UNAVAILABLE, (char *)"the container runtime is not available"};

        rpc_call_finish(call, &err);
        return;
    }
    events = xcalloc(1, sizeof(*events));
    events->call = call;
    events->subscription = runtime_events_subscribe(runtime, event_cb, events);
    rpc_call_on_cancel(call, events_cancel_cb, events);
}

/* ---- RPCs with nothing to serve ------------------------------------------------------- */

void runtime_service_checkpoint_container(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED,
                   "CheckpointContainer is not supported: hostcri runs containers as host "
                   "processes, which cannot be checkpointed");
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

/* ---- The streaming server's backend: exec processes through the runtime ------------------ */

/*
 * A reader that drops what an exec writes to an output its client did not request. containerd
 * does the same: execInternal (internal/cri/server/container_execsync.go) gives an exec without
 * a stdout or stderr writer cio.NewDiscardLogger(), a writer that drops its input. Closing the
 * pipe instead kills the process with SIGPIPE (exit code 141) on its first write there.
 */
struct discard_sink {
    uv_pipe_t pipe;
};

/* One exec or attach session of the streaming server. */
struct stream_exec {
    struct job_exec *exec;            /* exec */
    struct runtime_attach *attach;    /* attach */
    struct discard_sink *discards[2]; /* exec: unrequested stdout and stderr, or NULL */
    streaming_exit_cb exit_cb;
    void *exit_data;
};

static void discard_alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    static char buffer[65536];

    /* The loop reads one stream at a time, so one buffer serves every sink. */
    *buf = uv_buf_init(buffer, sizeof(buffer));
}

static void discard_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    /* End of file (every writer closed the pipe) or an error: nothing more to drop. */
    if (nread < 0)
        uv_read_stop(stream);
}

static void discard_closed_cb(uv_handle_t *handle)
{
    free(handle->data);
}

/* Starts dropping what arrives on fd, which it owns. Returns the sink, or NULL on failure, when
 * the pipe is closed and the process's writes to it fail. */
static struct discard_sink *discard_start(uv_loop_t *loop, int fd)
{
    struct discard_sink *sink = xcalloc(1, sizeof(*sink));
    int rc;

    sink->pipe.data = sink;
    rc = uv_pipe_init(loop, &sink->pipe, 0);
    if (rc < 0) {
        close(fd);
        free(sink);
    } else if ((rc = uv_pipe_open(&sink->pipe, fd)) < 0) {
        close(fd);
        uv_close((uv_handle_t *)&sink->pipe, discard_closed_cb);
    } else if ((rc = uv_read_start((uv_stream_t *)&sink->pipe, discard_alloc_cb, discard_read_cb)) <
               0) {
        uv_close((uv_handle_t *)&sink->pipe, discard_closed_cb);
    }
    if (rc < 0) {
        log_warn("exec: discard an unrequested output stream: %s", uv_strerror(rc));
        return NULL;
    }
    return sink;
}

static void discard_stop(struct discard_sink *sink)
{
    if (sink != NULL)
        uv_close((uv_handle_t *)&sink->pipe, discard_closed_cb);
}

static void stream_exec_exit_cb(struct job_exec *exec, int exit_code, int signal, void *data)
{
    struct stream_exec *session = data;

    session->exit_cb(session->exit_data, exit_code, NULL);
}

#ifdef _WIN32
#define NO_OS_FD INVALID_HANDLE_VALUE
/* The streaming server takes C runtime descriptors; the Windows job backend hands out handles.
 * Returns -1 for no handle, and closes a handle that cannot become a descriptor. */
static int fd_of(uv_os_fd_t handle)
{
    int fd;

    if (handle == INVALID_HANDLE_VALUE || handle == NULL)
        return -1;
    fd = _open_osfhandle((intptr_t)handle, 0);
    if (fd < 0)
        CloseHandle(handle);
    return fd;
}
#else
#define NO_OS_FD (-1)
static int fd_of(int fd)
{
    return fd;
}
#endif

static void close_unless(int fd, bool keep)
{
    if (fd >= 0 && !keep)
        close(fd);
}

/*
 * Hands the descriptors that the client asked for to the streaming server and the outputs it
 * did not ask for to discard sinks of session. Without stdin the backend gives the process the
 * null device, which reads end of file at once.
 */
static void give_io(uv_loop_t *loop, const struct job_exec_io *from, bool tty, unsigned streams,
                    struct stream_exec *session, struct streaming_io *to)
{
    int in = fd_of(from->stdin_fd), out = fd_of(from->stdout_fd), err = fd_of(from->stderr_fd);

    *to = (struct streaming_io){-1, -1, -1, -1};
    if (tty) {
        to->tty_fd = out;
        close_unless(err, false);
#ifdef _WIN32
        /* A pseudo console reads its input from a pipe of its own. */
        to->stdin_fd = in;
#else
        /* The terminal's one descriptor carries input and output. */
        close_unless(in, false);
#endif
        return;
    }
    close_unless(in, streams & STREAMING_STDIN);
    to->stdin_fd = (streams & STREAMING_STDIN) ? in : -1;
    to->stdout_fd = (streams & STREAMING_STDOUT) ? out : -1;
    to->stderr_fd = (streams & STREAMING_STDERR) ? err : -1;
    if (!(streams & STREAMING_STDOUT) && out >= 0)
        session->discards[0] = discard_start(loop, out);
    if (!(streams & STREAMING_STDERR) && err >= 0)
        session->discards[1] = discard_start(loop, err);
}

static int backend_exec(void *backend_data, const struct streaming_request *request,
                        const struct streaming_window_size *size, streaming_exit_cb exit_cb,
                        void *exit_data, void **handle, struct streaming_io *io, struct error *err)
{
    struct stream_exec *session = xcalloc(1, sizeof(*session));
    _cleanup_free_ const char **argv = xcalloc(request->cmd_count + 1, sizeof(*argv));
    struct job_exec_io job_io = {NO_OS_FD, NO_OS_FD, NO_OS_FD};
    struct job_exec_spec spec = {
        .argv = argv,
        .tty = request->tty,
        .stdin_open = (request->streams & STREAMING_STDIN) != 0,
        .rows = size ? size->height : 0,
        .cols = size ? size->width : 0,
    };

    for (size_t i = 0; i < request->cmd_count; i++)
        argv[i] = request->cmd[i];
    session->exit_cb = exit_cb;
    session->exit_data = exit_data;
    if (runtime_container_exec(backend_data, request->container_id, &spec, stream_exec_exit_cb,
                               session, &session->exec, &job_io, err) < 0) {
        free(session);
        return -1;
    }
    give_io(runtime_loop(backend_data), &job_io, request->tty, request->streams, session, io);
    *handle = session;
    return 0;
}

static void stream_attach_end_cb(void *data)
{
    struct stream_exec *session = data;

    session->exit_cb(session->exit_data, 0, NULL);
}

static int backend_attach(void *backend_data, const struct streaming_request *request,
                          streaming_exit_cb exit_cb, void *exit_data, void **handle,
                          struct streaming_io *io, struct error *err)
{
    struct stream_exec *session = xcalloc(1, sizeof(*session));
    struct runtime_attach_io attach_io;
    struct runtime_attach_request attach_request = {
        .tty = request->tty,
        .in = (request->streams & STREAMING_STDIN) != 0,
        .out = (request->streams & STREAMING_STDOUT) != 0,
        .err = (request->streams & STREAMING_STDERR) != 0,
    };

    session->exit_cb = exit_cb;
    session->exit_data = exit_data;
    if (runtime_container_attach(backend_data, request->container_id, &attach_request,
                                 stream_attach_end_cb, session, &session->attach, &attach_io,
                                 err) < 0) {
        free(session);
        return -1;
    }
    *io = (struct streaming_io){attach_io.stdin_fd, attach_io.stdout_fd, attach_io.stderr_fd,
                                attach_io.tty_fd};
    *handle = session;
    return 0;
}

static int backend_resize(void *backend_data, void *handle,
                          const struct streaming_window_size *size, struct error *err)
{
    struct stream_exec *session = handle;

    if (session->attach)
        return runtime_attach_resize(session->attach, size->height, size->width, err);
    return job_exec_resize(session->exec, size->height, size->width, err);
}

static void backend_detach(void *backend_data, void *handle, bool kill)
{
    struct stream_exec *session = handle;
    _cleanup_error_ struct error err = ERROR_INIT;

    if (session->attach) {
        /* Detaching never stops the container. */
        runtime_attach_close(session->attach);
        free(session);
        return;
    }

    /* SIGKILL: the client left, and nothing reads the process's output any more. */
    if (kill && job_exec_signal(session->exec, 9, &err) < 0 && err.code != ERROR_NOT_FOUND)
        log_warn("killing an exec whose client left failed: %s", err.message);
    discard_stop(session->discards[0]);
    discard_stop(session->discards[1]);
    job_exec_release(session->exec);
    free(session);
}

static const struct streaming_backend runtime_streaming_backend = {
    .exec = backend_exec,
    .attach = backend_attach,
    .resize = backend_resize,
    .detach = backend_detach,
};

const struct streaming_backend *runtime_service_streaming_backend(void)
{
    return &runtime_streaming_backend;
}
