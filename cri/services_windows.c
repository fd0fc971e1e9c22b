/*
 * The RuntimeService and ImageService handlers of the Windows build, which does not have
 * runtime/ and images/ yet: each call fails with UNAVAILABLE. The runtime-info calls (Version,
 * Status, RuntimeConfig, UpdateRuntimeConfig) come from runtime_info.c as on Linux. The Linux
 * build compiles this file to nothing and uses runtime_service.c and image_service.c.
 */
#ifdef _WIN32

#include "cri/image_service.h"
#include "cri/runtime_service.h"

/* TODO: replace each handler with the shared one as runtime/ and images/ are ported. */
#define UNAVAILABLE_ON_WINDOWS(handler)                                                            \
    void handler(struct rpc_call *call, const void *request)                                       \
    {                                                                                              \
        (void)request;                                                                             \
        rpc_call_failf(call, ERROR_UNAVAILABLE, "%s is not available in the Windows build yet",    \
                       rpc_call_method(call)->path);                                               \
    }

UNAVAILABLE_ON_WINDOWS(runtime_service_run_pod_sandbox)
UNAVAILABLE_ON_WINDOWS(runtime_service_stop_pod_sandbox)
UNAVAILABLE_ON_WINDOWS(runtime_service_remove_pod_sandbox)
UNAVAILABLE_ON_WINDOWS(runtime_service_pod_sandbox_status)
UNAVAILABLE_ON_WINDOWS(runtime_service_list_pod_sandbox)
UNAVAILABLE_ON_WINDOWS(runtime_service_create_container)
UNAVAILABLE_ON_WINDOWS(runtime_service_start_container)
UNAVAILABLE_ON_WINDOWS(runtime_service_stop_container)
UNAVAILABLE_ON_WINDOWS(runtime_service_remove_container)
UNAVAILABLE_ON_WINDOWS(runtime_service_list_containers)
UNAVAILABLE_ON_WINDOWS(runtime_service_container_status)
UNAVAILABLE_ON_WINDOWS(runtime_service_update_container_resources)
UNAVAILABLE_ON_WINDOWS(runtime_service_reopen_container_log)
UNAVAILABLE_ON_WINDOWS(runtime_service_exec_sync)
UNAVAILABLE_ON_WINDOWS(runtime_service_exec)
UNAVAILABLE_ON_WINDOWS(runtime_service_attach)
UNAVAILABLE_ON_WINDOWS(runtime_service_port_forward)
UNAVAILABLE_ON_WINDOWS(runtime_service_container_stats)
UNAVAILABLE_ON_WINDOWS(runtime_service_list_container_stats)
UNAVAILABLE_ON_WINDOWS(runtime_service_pod_sandbox_stats)
UNAVAILABLE_ON_WINDOWS(runtime_service_list_pod_sandbox_stats)
UNAVAILABLE_ON_WINDOWS(runtime_service_checkpoint_container)
UNAVAILABLE_ON_WINDOWS(runtime_service_get_container_events)
UNAVAILABLE_ON_WINDOWS(runtime_service_list_metric_descriptors)
UNAVAILABLE_ON_WINDOWS(runtime_service_list_pod_sandbox_metrics)

UNAVAILABLE_ON_WINDOWS(image_service_list_images)
UNAVAILABLE_ON_WINDOWS(image_service_image_status)
UNAVAILABLE_ON_WINDOWS(image_service_pull_image)
UNAVAILABLE_ON_WINDOWS(image_service_remove_image)
UNAVAILABLE_ON_WINDOWS(image_service_image_fs_info)

/* No backend: the streaming server is not built either (streaming_windows.c). */
const struct streaming_backend *runtime_service_streaming_backend(void)
{
    return NULL;
}

#endif
