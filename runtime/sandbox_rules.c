#include "runtime/sandbox_rules.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "runtime/message.h"

bool sandbox_rules_is_host_process(const Runtime__V1__PodSandboxConfig *config)
{
    const Runtime__V1__WindowsPodSandboxConfig *windows = config->windows;
    const Runtime__V1__LinuxPodSandboxConfig *linux_config = config->linux;

    if (windows && windows->security_context && windows->security_context->host_process)
        return true;
    return linux_config && linux_config->security_context &&
           linux_config->security_context->namespace_options &&
           linux_config->security_context->namespace_options->network ==
               RUNTIME__V1__NAMESPACE_MODE__NODE;
}

int sandbox_rules_check_host_process(const Runtime__V1__PodSandboxConfig *config,
                                     bool accept_others, struct error *err)
{
    const Runtime__V1__PodSandboxMetadata *md = config->metadata;

    if (accept_others || sandbox_rules_is_host_process(config))
        return 0;
    return error_set(
        err, ERROR_FAILED_PRECONDITION,
        "pod %s/%s is not a host-process pod: hostcri runs every pod on the host, so "
        "set hostNetwork: true in the pod spec (or "
        "securityContext.windowsOptions.hostProcess: true on Windows), or start hostcri "
        "with --accept-non-host-network-pods=true to run such pods on the host "
        "network",
        md && md->namespace_ ? md->namespace_ : "", md && md->name ? md->name : "");
}

int sandbox_rules_check_windows_host_process(const Runtime__V1__PodSandboxConfig *config,
                                             struct error *err)
{
    const Runtime__V1__PodSandboxMetadata *md = config->metadata;
    const Runtime__V1__WindowsPodSandboxConfig *windows = config->windows;

    if (windows && windows->security_context && windows->security_context->host_process)
        return 0;
    return error_set(err, ERROR_FAILED_PRECONDITION,
                     "pod %s/%s is not a HostProcess pod: hostcri runs only HostProcess pods on "
                     "Windows, so set securityContext.windowsOptions.hostProcess: true and "
                     "hostNetwork: true in the pod spec (windows.security_context.host_process "
                     "in the CRI config)",
                     md && md->namespace_ ? md->namespace_ : "", md && md->name ? md->name : "");
}

int sandbox_rules_check_config(const Runtime__V1__PodSandboxConfig *config, struct error *err)
{
    const Runtime__V1__PodSandboxMetadata *md = config ? config->metadata : NULL;

    if (config == NULL)
        return error_set(err, ERROR_INVALID_ARGUMENT, "config is missing");
    if (md == NULL)
        return error_set(err, ERROR_INVALID_ARGUMENT, "config.metadata is missing");
    if (str_empty(md->name))
        return error_set(err, ERROR_INVALID_ARGUMENT, "config.metadata.name is empty");
    if (str_empty(md->namespace_))
        return error_set(err, ERROR_INVALID_ARGUMENT, "config.metadata.namespace is empty");
    if (str_empty(md->uid))
        return error_set(err, ERROR_INVALID_ARGUMENT, "config.metadata.uid is empty");
    return 0;
}

static bool same_string(const char *a, const char *b)
{
    return strcmp(a ? a : "", b ? b : "") == 0;
}

bool sandbox_rules_same_name(const Runtime__V1__PodSandboxMetadata *a,
                             const Runtime__V1__PodSandboxMetadata *b)
{
    return a && b && same_string(a->name, b->name) && same_string(a->namespace_, b->namespace_) &&
           same_string(a->uid, b->uid) && a->attempt == b->attempt;
}

Runtime__V1__PodSandboxConfig *
sandbox_rules_copy_config(const Runtime__V1__PodSandboxConfig *config)
{
    return message_copy(&config->base);
}
