#include "cri/methods.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.pb-c.h"
#include "common/util.h"
#include "cri/image_service.h"
#include "cri/runtime_info.h"
#include "cri/runtime_service.h"

struct handler_entry {
    const char *service; /* short service name */
    const char *method;
    rpc_handler handler;
};

static const struct handler_entry handlers[] = {
    {"RuntimeService", "Version", runtime_info_version},
    {"RuntimeService", "Status", runtime_info_status},
    {"RuntimeService", "RuntimeConfig", runtime_info_runtime_config},
    {"RuntimeService", "UpdateRuntimeConfig", runtime_info_update_runtime_config},
    {"RuntimeService", "RunPodSandbox", runtime_service_run_pod_sandbox},
    {"RuntimeService", "StopPodSandbox", runtime_service_stop_pod_sandbox},
    {"RuntimeService", "RemovePodSandbox", runtime_service_remove_pod_sandbox},
    {"RuntimeService", "PodSandboxStatus", runtime_service_pod_sandbox_status},
    {"RuntimeService", "ListPodSandbox", runtime_service_list_pod_sandbox},
    {"RuntimeService", "CreateContainer", runtime_service_create_container},
    {"RuntimeService", "StartContainer", runtime_service_start_container},
    {"RuntimeService", "StopContainer", runtime_service_stop_container},
    {"RuntimeService", "RemoveContainer", runtime_service_remove_container},
    {"RuntimeService", "ListContainers", runtime_service_list_containers},
    {"RuntimeService", "ContainerStatus", runtime_service_container_status},
    {"RuntimeService", "UpdateContainerResources", runtime_service_update_container_resources},
    {"RuntimeService", "ReopenContainerLog", runtime_service_reopen_container_log},
    {"RuntimeService", "ExecSync", runtime_service_exec_sync},
    {"RuntimeService", "Exec", runtime_service_exec},
    {"RuntimeService", "Attach", runtime_service_attach},
    {"RuntimeService", "PortForward", runtime_service_port_forward},
    {"RuntimeService", "ContainerStats", runtime_service_container_stats},
    {"RuntimeService", "ListContainerStats", runtime_service_list_container_stats},
    {"RuntimeService", "PodSandboxStats", runtime_service_pod_sandbox_stats},
    {"RuntimeService", "ListPodSandboxStats", runtime_service_list_pod_sandbox_stats},
    {"RuntimeService", "CheckpointContainer", runtime_service_checkpoint_container},
    {"RuntimeService", "GetContainerEvents", runtime_service_get_container_events},
    {"RuntimeService", "ListMetricDescriptors", runtime_service_list_metric_descriptors},
    {"RuntimeService", "ListPodSandboxMetrics", runtime_service_list_pod_sandbox_metrics},
    {"ImageService", "ListImages", image_service_list_images},
    {"ImageService", "ImageStatus", image_service_image_status},
    {"ImageService", "PullImage", image_service_pull_image},
    {"ImageService", "RemoveImage", image_service_remove_image},
    {"ImageService", "ImageFsInfo", image_service_image_fs_info},
};

/* Methods whose responses are a stream; the generated descriptors do not record this. */
static const char *const streaming_methods[] = {
    "GetContainerEvents",    "StreamPodSandboxes",      "StreamContainers", "StreamContainerStats",
    "StreamPodSandboxStats", "StreamPodSandboxMetrics", "StreamImages",
};

static rpc_handler find_handler(const char *service, const char *method)
{
    for (size_t i = 0; i < ARRAY_SIZE(handlers); i++) {
        if (strcmp(handlers[i].service, service) == 0 && strcmp(handlers[i].method, method) == 0)
            return handlers[i].handler;
    }
    return NULL;
}

static enum rpc_kind method_kind(const char *method)
{
    for (size_t i = 0; i < ARRAY_SIZE(streaming_methods); i++) {
        if (strcmp(streaming_methods[i], method) == 0)
            return RPC_SERVER_STREAMING;
    }
    return RPC_UNARY;
}

static void add_service(const ProtobufCServiceDescriptor *service, struct rpc_method *table,
                        size_t *count)
{
    for (unsigned i = 0; i < service->n_methods; i++) {
        const ProtobufCMethodDescriptor *method = &service->methods[i];
        struct rpc_method *row = &table[(*count)++];

        row->path = xasprintf("/%s/%s", service->name, method->name);
        row->kind = method_kind(method->name);
        row->request_descriptor = method->input;
        row->response_descriptor = method->output;
        row->handler = find_handler(service->short_name, method->name);
    }
}

/* A handler row naming an RPC the definition lacks is a programming error: stop at start-up. */
static void check_handlers(const struct rpc_method *table, size_t count)
{
    for (size_t i = 0; i < ARRAY_SIZE(handlers); i++) {
        char path[128];
        int found = 0;

        snprintf(path, sizeof(path), "/runtime.v1.%s/%s", handlers[i].service, handlers[i].method);
        for (size_t j = 0; j < count && !found; j++)
            found = strcmp(table[j].path, path) == 0;
        if (!found) {
            fprintf(stderr, "hostcri: handler for %s has no RPC in api/api.proto\n", path);
            abort();
        }
    }
}

const struct rpc_method *cri_methods(size_t *count)
{
    static struct rpc_method *table;
    static size_t table_count;
    const ProtobufCServiceDescriptor *runtime = &runtime__v1__runtime_service__descriptor;
    const ProtobufCServiceDescriptor *image = &runtime__v1__image_service__descriptor;

    if (table == NULL) {
        table = xcalloc(runtime->n_methods + image->n_methods, sizeof(*table));
        add_service(runtime, table, &table_count);
        add_service(image, table, &table_count);
        check_handlers(table, table_count);
    }
    *count = table_count;
    return table;
}
