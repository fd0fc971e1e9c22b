#ifndef HOSTCRI_TEST_WINDOWS_POD_CONFIG_H
#define HOSTCRI_TEST_WINDOWS_POD_CONFIG_H

/*
 * The CRI configs of the HostProcess pods and containers that the Windows test programs run
 * through hostcri.exe. Each struct contains the messages that its config points to, so it must not
 * be copied.
 */

#include <stdbool.h>
#include <stddef.h>

#include <windows.h>

#include "api/api.pb-c.h"

/* A pod sandbox config in namespace wine-e2e. */
struct pod_config {
    Runtime__V1__PodSandboxConfig config;
    Runtime__V1__PodSandboxMetadata metadata;
    Runtime__V1__WindowsPodSandboxConfig windows;
    Runtime__V1__WindowsSandboxSecurityContext security_context;
    char log_directory[MAX_PATH];
};

/* A container config with host_process set, as a HostProcess pod requires. */
struct container_config {
    Runtime__V1__ContainerConfig config;
    Runtime__V1__ContainerMetadata metadata;
    Runtime__V1__ImageSpec image;
    Runtime__V1__WindowsContainerConfig windows;
    Runtime__V1__WindowsContainerSecurityContext security_context;
    char log_path[64];
};

/*
 * Fills pod for the pod name, whose uid is its name too and whose logs go to
 * <test_dir>\logs\<name>. The strings must outlive pod.
 */
void pod_config_init(struct pod_config *pod, const char *name, const char *test_dir,
                     bool host_process);

/*
 * Fills c for the container name of image, running the n_command words of command, with its log
 * at <name>\0.log in the pod's log directory. The strings must outlive c.
 */
void container_config_init(struct container_config *c, const char *name, const char *image,
                           char **command, size_t n_command);

#endif
