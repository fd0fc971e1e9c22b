#ifndef HOSTCRI_CRI_RUNTIME_INFO_H
#define HOSTCRI_CRI_RUNTIME_INFO_H

#include "cri/rpc.h"

/* Handlers of the RuntimeService RPCs that describe the runtime itself (see cri/rpc.h). */
void runtime_info_version(struct rpc_call *call, const void *request);
void runtime_info_status(struct rpc_call *call, const void *request);
void runtime_info_runtime_config(struct rpc_call *call, const void *request);
void runtime_info_update_runtime_config(struct rpc_call *call, const void *request);

/* The runtime_name that Version returns. */
#define HOSTCRI_RUNTIME_NAME "hostcri"
/* The CRI version hostcri serves. */
#define HOSTCRI_RUNTIME_API_VERSION "v1"

#endif
