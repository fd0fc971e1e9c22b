/*
 * The runtime entry points of the Windows build until the runtime core is ported: runtime_open
 * opens nothing, so Status reports RuntimeReady false and the container calls fail with
 * UNAVAILABLE. The job-object backend beside this file is what the port will build on.
 */
#include "runtime/runtime.h"

#include <string.h>

#include "common/log.h"

void runtime_config_init_defaults(struct runtime_config *config)
{
    memset(config, 0, sizeof(*config));
}

int runtime_open(uv_loop_t *loop, const struct runtime_config *config, struct images *images,
                 struct runtime **out, struct error *err)
{
    (void)loop;
    (void)config;
    (void)images;
    (void)err;
    log_warn("the container runtime is not ported to Windows yet: Status reports RuntimeReady "
             "false");
    *out = NULL;
    return 0;
}

void runtime_close(struct runtime *runtime)
{
    (void)runtime;
}

/* The daemon's list calls run only with an open runtime, which the Windows build never has. */
int runtime_sandbox_list(struct runtime *runtime, const Runtime__V1__PodSandboxFilter *filter,
                         Runtime__V1__ListPodSandboxResponse **out, struct error *err)
{
    (void)runtime;
    (void)filter;
    *out = NULL;
    return error_set(err, ERROR_UNAVAILABLE, "the container runtime is not ported to Windows yet");
}

int runtime_container_list(struct runtime *runtime, const Runtime__V1__ContainerFilter *filter,
                           Runtime__V1__ListContainersResponse **out, struct error *err)
{
    (void)runtime;
    (void)filter;
    *out = NULL;
    return error_set(err, ERROR_UNAVAILABLE, "the container runtime is not ported to Windows yet");
}

void runtime_message_free(void *message)
{
    if (message)
        protobuf_c_message_free_unpacked(message, NULL);
}
