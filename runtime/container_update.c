/* UpdateContainerResources: new limits for a container's job and record. */

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/message.h"
#include "runtime/process.h"
#include "runtime/runtime_internal.h"
#include "runtime/state.h"

static struct job_resources job_resources_of(const Runtime__V1__LinuxContainerResources *r)
{
    return (struct job_resources){
        .cpu_period_us = r->cpu_period,
        .cpu_quota_us = r->cpu_quota,
        .cpu_shares = r->cpu_shares,
        .memory_limit_bytes = r->memory_limit_in_bytes,
        .cpuset_cpus = str_empty(r->cpuset_cpus) ? NULL : r->cpuset_cpus,
        .cpuset_mems = str_empty(r->cpuset_mems) ? NULL : r->cpuset_mems,
    };
}

/* Stores resources in the container's config and resolved process, so a start or a restart
 * applies them. */
static int record_resources(struct container *container,
                            const Runtime__V1__LinuxContainerResources *resources,
                            struct error *err)
{
    Runtime__V1__ContainerConfig *config = container->record.config;
    struct container_process process;

    if (process_from_json(container->record.process, &process, err) < 0)
        return error_prefix(err, "container %s", container->record.id);
    process.resources.cpu_period_us = resources->cpu_period;
    process.resources.cpu_quota_us = resources->cpu_quota;
    process.resources.cpu_shares = resources->cpu_shares;
    process.resources.memory_limit_bytes = resources->memory_limit_in_bytes;
    free(process.resources.cpuset_cpus);
    free(process.resources.cpuset_mems);
    process.resources.cpuset_cpus = xstrdup_or_null(job_resources_of(resources).cpuset_cpus);
    process.resources.cpuset_mems = xstrdup_or_null(job_resources_of(resources).cpuset_mems);
    free(container->record.process);
    container->record.process = process_to_json(&process);
    process_clear(&process);

    if (config->linux == NULL)
        config->linux = message_new(&runtime__v1__linux_container_config__descriptor);
    if (config->linux->resources)
        protobuf_c_message_free_unpacked(&config->linux->resources->base, NULL);
    config->linux->resources = message_copy(&resources->base);
    return container_save(container, err);
}

int runtime_container_update_resources(struct runtime *runtime, const char *id,
                                       const Runtime__V1__LinuxContainerResources *resources,
                                       struct error *err)
{
    struct container *container = runtime_find_container(runtime, id, err);
    Runtime__V1__ContainerState state;
    struct job_resources limits;

    if (container == NULL)
        return -1;
    state = container->record.state;
    if (state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED &&
        state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "container %s is in state %s: only a created or running container's "
                         "resources can change",
                         container->record.id, container_state_name(state));
    if (resources == NULL)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "linux resources are missing: hostcri changes only Linux limits");

    limits = job_resources_of(resources);
    if ((state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING || container->starting) &&
        container->job && job_container_update(container->job, &limits, err) < 0)
        return error_prefix(err, "update the resources of container %s", container->record.id);
    if (record_resources(container, resources, err) < 0)
        return -1;
    log_info_id("container", container->record.id,
                "updated resources: cpu quota %lld/%lld us, shares %lld, memory %lld bytes",
                (long long)resources->cpu_quota, (long long)resources->cpu_period,
                (long long)resources->cpu_shares, (long long)resources->memory_limit_in_bytes);
    return 0;
}
