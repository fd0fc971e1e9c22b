#include "cri/runtime_info.h"

#include <stdlib.h>
#include <string.h>

#include "api/api.pb-c.h"
#include "common/log.h"
#include "common/util.h"
#include "cri/services.h"

/* The kubelet's condition types (k8s.io/cri-api: RuntimeReady, NetworkReady). */
#define CONDITION_RUNTIME_READY "RuntimeReady"
#define CONDITION_NETWORK_READY "NetworkReady"

void runtime_info_version(struct rpc_call *call, const void *request)
{
    Runtime__V1__VersionResponse response = RUNTIME__V1__VERSION_RESPONSE__INIT;

    (void)request;
    /* "version" is the version of the kubelet-runtime API, which the CRI fixes at 0.1.0. */
    response.version = "0.1.0";
    response.runtime_name = HOSTCRI_RUNTIME_NAME;
    response.runtime_version = HOSTCRI_VERSION;
    response.runtime_api_version = HOSTCRI_RUNTIME_API_VERSION;
    rpc_call_reply(call, &response);
}

void runtime_info_status(struct rpc_call *call, const void *request)
{
    const Runtime__V1__StatusRequest *status_request = request;
    struct cri_services *services = rpc_call_services(call);
    Runtime__V1__StatusResponse response = RUNTIME__V1__STATUS_RESPONSE__INIT;
    Runtime__V1__RuntimeStatus status = RUNTIME__V1__RUNTIME_STATUS__INIT;
    Runtime__V1__RuntimeCondition runtime_ready = RUNTIME__V1__RUNTIME_CONDITION__INIT;
    Runtime__V1__RuntimeCondition network_ready = RUNTIME__V1__RUNTIME_CONDITION__INIT;
    Runtime__V1__RuntimeCondition *conditions[] = {&runtime_ready, &network_ready};
    Runtime__V1__StatusResponse__InfoEntry config_entry =
        RUNTIME__V1__STATUS_RESPONSE__INFO_ENTRY__INIT;
    Runtime__V1__StatusResponse__InfoEntry *info[] = {&config_entry};

    runtime_ready.type = CONDITION_RUNTIME_READY;
    runtime_ready.status = services->runtime != NULL;
    if (!runtime_ready.status) {
        runtime_ready.reason = "RuntimeUnavailable";
        runtime_ready.message = "the container runtime of hostcri is not running: see the "
                                "daemon log for the error that stopped it";
    }
    /* Every pod uses the host's network, so no network plugin has to be ready. */
    network_ready.type = CONDITION_NETWORK_READY;
    network_ready.status = 1;

    status.n_conditions = ARRAY_SIZE(conditions);
    status.conditions = conditions;
    response.status = &status;
    if (status_request->verbose) {
        config_entry.key = "config";
        config_entry.value = (char *)(services->config_json ? services->config_json : "{}");
        response.n_info = ARRAY_SIZE(info);
        response.info = info;
    }
    rpc_call_reply(call, &response);
}

void runtime_info_runtime_config(struct rpc_call *call, const void *request)
{
    struct cri_services *services = rpc_call_services(call);
    Runtime__V1__RuntimeConfigResponse response = RUNTIME__V1__RUNTIME_CONFIG_RESPONSE__INIT;
    Runtime__V1__LinuxRuntimeConfiguration linux_config =
        RUNTIME__V1__LINUX_RUNTIME_CONFIGURATION__INIT;

    (void)request;
    linux_config.cgroup_driver = strcmp(services->cgroup_driver, "systemd") == 0
                                     ? RUNTIME__V1__CGROUP_DRIVER__SYSTEMD
                                     : RUNTIME__V1__CGROUP_DRIVER__CGROUPFS;
    response.linux = &linux_config;
    rpc_call_reply(call, &response);
}

void runtime_info_update_runtime_config(struct rpc_call *call, const void *request)
{
    const Runtime__V1__UpdateRuntimeConfigRequest *update = request;
    struct cri_services *services = rpc_call_services(call);
    Runtime__V1__UpdateRuntimeConfigResponse response =
        RUNTIME__V1__UPDATE_RUNTIME_CONFIG_RESPONSE__INIT;
    const char *pod_cidr = NULL;

    if (update->runtime_config && update->runtime_config->network_config)
        pod_cidr = update->runtime_config->network_config->pod_cidr;
    if (!str_empty(pod_cidr) &&
        (services->pod_cidr == NULL || strcmp(services->pod_cidr, pod_cidr) != 0)) {
        free(services->pod_cidr);
        services->pod_cidr = xstrdup(pod_cidr);
        /* Host-process pods use the node's addresses, so the CIDR is recorded, not applied. */
        log_info("pod CIDR set to %s", pod_cidr);
    }
    rpc_call_reply(call, &response);
}
