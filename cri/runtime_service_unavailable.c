/*
 * The RuntimeService handlers of a Windows build whose runtime/ is not ported yet
 * (HOSTCRI_WINDOWS_RUNTIME_SERVICE_PORTED off in runtime/CMakeLists.txt): each call fails with
 * UNAVAILABLE. The runtime-info calls (Version, Status, RuntimeConfig, UpdateRuntimeConfig) come
 * from runtime_info.c as on Linux. Once the runtime is ported, cri/CMakeLists.txt builds
 * runtime_service.c instead of this file.
 */
#ifdef _WIN32

#include "cri/rpc_unavailable.h"
#include "cri/runtime_service.h"

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

/* No backend: the streaming server is not built either (streaming_windows.c). */
const struct streaming_backend *runtime_service_streaming_backend(void)
{
    return NULL;
}

#endif
