#include "cri/runtime_info.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/api.pb-c.h"
#include "common/log.h"
#include "common/util.h"
#include "cri/services.h"
#include "runtime/runtime.h"

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

/*
 * The features of the Status response, and how the kubelet uses them (kubelet 1.30 to 1.32:
 * toKubeRuntimeStatus in pkg/kubelet/kuberuntime, GenerateRunContainerOptions in
 * pkg/kubelet/kubelet_pods.go):
 * - runtime_handlers[].features.recursive_read_only_mounts: the kubelet copies each handler to
 *   node.status.runtimeHandlers, and sends Mount.recursive_read_only for a volume with
 *   recursiveReadOnly: Enabled or IfPossible only when the pod's handler reports it. Enabled on
 *   a handler without it fails the container, and IfPossible falls back to a read-only mount.
 * - runtime_handlers[].features.user_namespaces: the kubelet runs a pod with hostUsers: false
 *   only on a handler that reports it. hostcri runs host-process pods in the host's user
 *   namespace, so it is false for every handler.
 * - features.supplemental_groups_policy: the kubelet (SupplementalGroupsPolicy feature gate,
 *   alpha in 1.31) copies it to node.status.features.supplementalGroupsPolicy, which pods with
 *   supplementalGroupsPolicy: Strict need. It also promises ContainerStatus.user.
 * CRI-O 1.31 (server/runtime_status.go) reports the same three fields and lists the default
 * handler once more under the name "", which hostcri lists first.
 */
struct status_features {
    Runtime__V1__RuntimeHandlerFeatures handler_features;
    Runtime__V1__RuntimeHandler *handlers;
    Runtime__V1__RuntimeHandler **handler_list;
    size_t n_handlers;
    Runtime__V1__RuntimeFeatures features;
    json_t *config; /* owns the handler names */
};

/* Fills features from the runtime's probes and the handler names of the effective
 * configuration (key "runtime.runtime_handlers"). */
static void status_features_init(struct status_features *features,
                                 const struct cri_services *services)
{
    const char *config_json = services->config_json;
    struct runtime_features supported;
    json_t *names;
    size_t n_names;

    memset(features, 0, sizeof(*features));
    runtime_features(services->runtime, &supported);
    runtime__v1__runtime_handler_features__init(&features->handler_features);
    features->handler_features.recursive_read_only_mounts = supported.recursive_readonly_mounts;
    features->handler_features.user_namespaces = false;
    runtime__v1__runtime_features__init(&features->features);
    features->features.supplemental_groups_policy = supported.supplemental_groups_policy;

    features->config = config_json ? json_loads(config_json, 0, NULL) : NULL;
    names = json_object_get(features->config, "runtime.runtime_handlers");
    n_names = json_is_array(names) ? json_array_size(names) : 0;
    features->handlers = xcalloc(n_names + 1, sizeof(*features->handlers));
    features->handler_list = xcalloc(n_names + 1, sizeof(*features->handler_list));
    for (size_t i = 0; i <= n_names; i++) {
        const char *name = i == 0 ? "" : json_string_value(json_array_get(names, i - 1));
        Runtime__V1__RuntimeHandler *handler = &features->handlers[features->n_handlers];

        if (name == NULL || (i > 0 && name[0] == '\0'))
            continue;
        runtime__v1__runtime_handler__init(handler);
        handler->name = (char *)name;
        handler->features = &features->handler_features;
        features->handler_list[features->n_handlers++] = handler;
    }
}

static void status_features_clear(struct status_features *features)
{
    free(features->handlers);
    free(features->handler_list);
    json_decref(features->config);
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
    struct status_features features;

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
    status_features_init(&features, services);
    response.n_runtime_handlers = features.n_handlers;
    response.runtime_handlers = features.handler_list;
    response.features = &features.features;
    if (status_request->verbose) {
        config_entry.key = "config";
        config_entry.value = (char *)(services->config_json ? services->config_json : "{}");
        response.n_info = ARRAY_SIZE(info);
        response.info = info;
    }
    rpc_call_reply(call, &response);
    status_features_clear(&features);
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
