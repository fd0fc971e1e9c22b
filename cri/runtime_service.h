#ifndef HOSTCRI_CRI_RUNTIME_SERVICE_H
#define HOSTCRI_CRI_RUNTIME_SERVICE_H

#include "cri/rpc.h"

/* RPC handlers (see cri/rpc.h for the contract); request is the decoded request message. */
void runtime_service_run_pod_sandbox(struct rpc_call *call, const void *request);
void runtime_service_stop_pod_sandbox(struct rpc_call *call, const void *request);
void runtime_service_remove_pod_sandbox(struct rpc_call *call, const void *request);
void runtime_service_pod_sandbox_status(struct rpc_call *call, const void *request);
void runtime_service_list_pod_sandbox(struct rpc_call *call, const void *request);
void runtime_service_create_container(struct rpc_call *call, const void *request);
void runtime_service_start_container(struct rpc_call *call, const void *request);
void runtime_service_stop_container(struct rpc_call *call, const void *request);
void runtime_service_remove_container(struct rpc_call *call, const void *request);
void runtime_service_list_containers(struct rpc_call *call, const void *request);
void runtime_service_container_status(struct rpc_call *call, const void *request);
void runtime_service_update_container_resources(struct rpc_call *call, const void *request);
void runtime_service_reopen_container_log(struct rpc_call *call, const void *request);
void runtime_service_exec_sync(struct rpc_call *call, const void *request);
void runtime_service_exec(struct rpc_call *call, const void *request);
void runtime_service_attach(struct rpc_call *call, const void *request);
void runtime_service_port_forward(struct rpc_call *call, const void *request);
void runtime_service_container_stats(struct rpc_call *call, const void *request);
void runtime_service_list_container_stats(struct rpc_call *call, const void *request);
void runtime_service_pod_sandbox_stats(struct rpc_call *call, const void *request);
void runtime_service_list_pod_sandbox_stats(struct rpc_call *call, const void *request);
void runtime_service_checkpoint_container(struct rpc_call *call, const void *request);
void runtime_service_get_container_events(struct rpc_call *call, const void *request);
void runtime_service_list_metric_descriptors(struct rpc_call *call, const void *request);
void runtime_service_list_pod_sandbox_metrics(struct rpc_call *call, const void *request);

struct streaming_backend;

/*
 * The streaming server's backend (cri/streaming/server.h) for Exec: starts the command in the
 * container's job through runtime_container_exec, and for Attach: relays the container's
 * streams through runtime_container_attach. Pass it to streaming_server_start with the struct
 * runtime as backend_data. NULL where it is not built.
 */
const struct streaming_backend *runtime_service_streaming_backend(void);

#endif
