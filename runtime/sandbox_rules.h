#ifndef HOSTCRI_RUNTIME_SANDBOX_RULES_H
#define HOSTCRI_RUNTIME_SANDBOX_RULES_H

#include <stdbool.h>

#include "api/api.pb-c.h"
#include "common/error.h"

/* Pure checks and copies of pod sandbox configs, shared by the sandbox code and its tests. */

/*
 * Returns true when config describes a host-process pod: windows.security_context.host_process
 * is set, or the Linux network namespace mode is NODE (hostNetwork: true).
 */
bool sandbox_rules_is_host_process(const Runtime__V1__PodSandboxConfig *config);

/*
 * Applies the host-process rule. Returns 0 for a host-process pod, and for any pod when
 * accept_others is set. Otherwise returns -1 with FAILED_PRECONDITION naming what to set.
 */
int sandbox_rules_check_host_process(const Runtime__V1__PodSandboxConfig *config,
                                     bool accept_others, struct error *err);

/*
 * Applies the Windows rule, where a pod runs only as a HostProcess pod: returns 0 when
 * windows.security_context.host_process is set, else -1 with FAILED_PRECONDITION naming what to
 * set. hostNetwork alone does not make a Windows pod a HostProcess pod.
 */
int sandbox_rules_check_windows_host_process(const Runtime__V1__PodSandboxConfig *config,
                                             struct error *err);

/* Checks that config has metadata with a name, a namespace and a uid (INVALID_ARGUMENT). */
int sandbox_rules_check_config(const Runtime__V1__PodSandboxConfig *config, struct error *err);

/* Returns true when two sandboxes have the same name, namespace, uid and attempt. */
bool sandbox_rules_same_name(const Runtime__V1__PodSandboxMetadata *a,
                             const Runtime__V1__PodSandboxMetadata *b);

/* Returns a deep heap copy of config (protobuf_c_message_free_unpacked frees it). */
Runtime__V1__PodSandboxConfig *
sandbox_rules_copy_config(const Runtime__V1__PodSandboxConfig *config);

#endif
