#include "cri/runtime_service.h"

/* Placeholders until the handlers are built: each answers UNIMPLEMENTED naming its RPC. */

void runtime_service_run_pod_sandbox(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void runtime_service_stop_pod_sandbox(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void runtime_service_remove_pod_sandbox(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void runtime_service_pod_sandbox_status(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void runtime_service_list_pod_sandbox(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void runtime_service_create_container(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void runtime_service_start_container(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void runtime_service_stop_container(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void runtime_service_remove_container(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void runtime_service_list_containers(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void runtime_service_container_status(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void runtime_service_update_container_resources(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void runtime_service_reopen_container_log(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void runtime_service_exec_sync(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void runtime_service_exec(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void runtime_service_attach(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void runtime_service_port_forward(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void runtime_service_container_stats(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void runtime_service_list_container_stats(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void runtime_service_pod_sandbox_stats(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void runtime_service_list_pod_sandbox_stats(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void runtime_service_checkpoint_container(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void runtime_service_get_container_events(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void runtime_service_list_metric_descriptors(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void runtime_service_list_pod_sandbox_metrics(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}
