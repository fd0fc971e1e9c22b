/* The pod and container configs of pod_config.h. */
#include "pod_config.h"

#include <stdio.h>

void pod_config_init(struct pod_config *pod, const char *name, const char *test_dir,
                     bool host_process)
{
    runtime__v1__pod_sandbox_config__init(&pod->config);
    runtime__v1__pod_sandbox_metadata__init(&pod->metadata);
    runtime__v1__windows_pod_sandbox_config__init(&pod->windows);
    runtime__v1__windows_sandbox_security_context__init(&pod->security_context);
    pod->metadata.name = (char *)name;
    pod->metadata.namespace_ = "wine-e2e";
    pod->metadata.uid = (char *)name;
    pod->config.metadata = &pod->metadata;
    snprintf(pod->log_directory, sizeof(pod->log_directory), "%s\\logs\\%s", test_dir, name);
    pod->config.log_directory = pod->log_directory;
    pod->security_context.host_process = host_process;
    pod->windows.security_context = &pod->security_context;
    pod->config.windows = &pod->windows;
}

void container_config_init(struct container_config *c, const char *name, const char *image,
                           char **command, size_t n_command)
{
    runtime__v1__container_config__init(&c->config);
    runtime__v1__container_metadata__init(&c->metadata);
    runtime__v1__image_spec__init(&c->image);
    runtime__v1__windows_container_config__init(&c->windows);
    runtime__v1__windows_container_security_context__init(&c->security_context);
    c->metadata.name = (char *)name;
    c->image.image = (char *)image;
    c->config.metadata = &c->metadata;
    c->config.image = &c->image;
    c->config.command = command;
    c->config.n_command = n_command;
    snprintf(c->log_path, sizeof(c->log_path), "%s\\0.log", name);
    c->config.log_path = c->log_path;
    c->security_context.host_process = true;
    c->windows.security_context = &c->security_context;
    c->config.windows = &c->windows;
}
