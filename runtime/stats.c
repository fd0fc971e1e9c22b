/*
 * ContainerStats, ListContainerStats, PodSandboxStats and ListPodSandboxStats from the jobs'
 * accounting. A sandbox has no process of its own, so its usage is the sum over its running
 * containers.
 */

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/cpu_sampler.h"
#include "runtime/filter.h"
#include "runtime/message.h"
#include "runtime/runtime_internal.h"

/* The CPU time and usage of a container or a pod at one instant. */
struct usage {
    int64_t timestamp_ns;
    uint64_t cpu_ns;
    uint64_t nano_cores;
    bool has_nano_cores;
    struct job_stats job;
};

static Runtime__V1__UInt64Value *uint64_value(uint64_t value)
{
    Runtime__V1__UInt64Value *message = message_new(&runtime__v1__uint64_value__descriptor);

    message->value = value;
    return message;
}

static Runtime__V1__CpuUsage *cpu_usage(const struct usage *usage)
{
    Runtime__V1__CpuUsage *cpu = message_new(&runtime__v1__cpu_usage__descriptor);

    cpu->timestamp = usage->timestamp_ns;
    cpu->usage_core_nano_seconds = uint64_value(usage->cpu_ns);
    if (usage->has_nano_cores)
        cpu->usage_nano_cores = uint64_value(usage->nano_cores);
    return cpu;
}

static Runtime__V1__MemoryUsage *memory_usage(const struct usage *usage)
{
    Runtime__V1__MemoryUsage *memory;

    if (!usage->job.has_memory)
        return NULL;
    memory = message_new(&runtime__v1__memory_usage__descriptor);
    memory->timestamp = usage->timestamp_ns;
    memory->working_set_bytes = uint64_value(usage->job.memory_working_set_bytes);
    memory->usage_bytes = uint64_value(usage->job.memory_usage_bytes);
    memory->rss_bytes = uint64_value(usage->job.memory_rss_bytes);
    memory->page_faults = uint64_value(usage->job.page_faults);
    memory->major_page_faults = uint64_value(usage->job.major_page_faults);
    return memory;
}

/*
 * Reads a running container's usage and takes its CPU rate from the CPU sampler. Returns false,
 * after logging why, when the job cannot be read.
 */
static bool read_usage(struct container *container, struct usage *usage)
{
    _cleanup_error_ struct error err = ERROR_INIT;

    memset(usage, 0, sizeof(*usage));
    if (container->job == NULL ||
        container->record.state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
        return false;
    if (job_container_stats(container->job, &usage->job, &err) < 0) {
        log_debug_id("container", container->record.id, "reading statistics failed: %s",
                     err.message);
        return false;
    }
    usage->timestamp_ns = usage->job.timestamp_ns ? usage->job.timestamp_ns : time_now_ns();
    usage->cpu_ns = usage->job.cpu_usage_ns;
    usage->has_nano_cores = runtime_cpu_sampler_container_rate(
        container->runtime, container->record.id, &usage->nano_cores);
    return true;
}

static Runtime__V1__ContainerAttributes *container_attributes(const struct container *container)
{
    const Runtime__V1__ContainerConfig *config = container->record.config;
    Runtime__V1__ContainerAttributes *attributes =
        message_new(&runtime__v1__container_attributes__descriptor);

    attributes->id = xstrdup(container->record.id);
    attributes->metadata = message_copy(&config->metadata->base);
    attributes->n_labels = config->n_labels;
    attributes->labels = (Runtime__V1__ContainerAttributes__LabelsEntry **)filter_map_copy(
        FILTER_MAP(config->labels), config->n_labels,
        &runtime__v1__container_attributes__labels_entry__descriptor);
    attributes->n_annotations = config->n_annotations;
    attributes->annotations =
        (Runtime__V1__ContainerAttributes__AnnotationsEntry **)filter_map_copy(
            FILTER_MAP(config->annotations), config->n_annotations,
            &runtime__v1__container_attributes__annotations_entry__descriptor);
    return attributes;
}

static Runtime__V1__FilesystemUsage *writable_layer(struct container *container)
{
    Runtime__V1__FilesystemUsage *layer = message_new(&runtime__v1__filesystem_usage__descriptor);

    container_measure_layer(container);
    layer->fs_id = message_new(&runtime__v1__filesystem_identifier__descriptor);
    layer->fs_id->mountpoint = container_dir(container);
    /* Until the first measurement ends, the usage is left unset. */
    if (container->layer_measured_ns > 0) {
        layer->timestamp = container->layer_measured_ns;
        layer->used_bytes = uint64_value(container->layer_bytes);
        layer->inodes_used = uint64_value(container->layer_inodes);
    }
    return layer;
}

/* Builds the stats of one container; usage may be NULL for a container that does not run. */
static Runtime__V1__ContainerStats *container_stats(struct container *container,
                                                    const struct usage *usage)
{
    Runtime__V1__ContainerStats *stats = message_new(&runtime__v1__container_stats__descriptor);

    stats->attributes = container_attributes(container);
    if (usage) {
        stats->cpu = cpu_usage(usage);
        stats->memory = memory_usage(usage);
        stats->writable_layer = writable_layer(container);
    }
    return stats;
}

int runtime_container_stats(struct runtime *runtime, const char *id,
                            Runtime__V1__ContainerStatsResponse **out, struct error *err)
{
    struct container *container = runtime_find_container(runtime, id, err);
    Runtime__V1__ContainerStatsResponse *response;
    struct usage usage;

    if (container == NULL)
        return -1;
    response = message_new(&runtime__v1__container_stats_response__descriptor);
    response->stats = container_stats(container, read_usage(container, &usage) ? &usage : NULL);
    *out = response;
    return 0;
}

static bool container_stats_match(const struct container *container,
                                  const Runtime__V1__ContainerStatsFilter *f)
{
    const Runtime__V1__ContainerConfig *config = container->record.config;

    if (f == NULL)
        return true;
    return filter_id_has_prefix(container->record.id, f->id) &&
           filter_id_has_prefix(container->record.sandbox_id, f->pod_sandbox_id) &&
           filter_labels_match(FILTER_MAP(config->labels), config->n_labels,
                               FILTER_MAP(f->label_selector), f->n_label_selector);
}

int runtime_container_stats_list(struct runtime *runtime,
                                 const Runtime__V1__ContainerStatsFilter *filter,
                                 Runtime__V1__ListContainerStatsResponse **out, struct error *err)
{
    Runtime__V1__ListContainerStatsResponse *response =
        message_new(&runtime__v1__list_container_stats_response__descriptor);

    response->stats = xcalloc(runtime->n_containers, sizeof(*response->stats));
    for (size_t i = 0; i < runtime->n_containers; i++) {
        struct container *container = runtime->containers[i];
        struct usage usage;

        if (!container_stats_match(container, filter) || !read_usage(container, &usage))
            continue;
        response->stats[response->n_stats++] = container_stats(container, &usage);
    }
    *out = response;
    return 0;
}

static Runtime__V1__PodSandboxAttributes *sandbox_attributes(const struct sandbox *sandbox)
{
    const Runtime__V1__PodSandboxConfig *config = sandbox->record.config;
    Runtime__V1__PodSandboxAttributes *attributes =
        message_new(&runtime__v1__pod_sandbox_attributes__descriptor);

    attributes->id = xstrdup(sandbox->record.id);
    attributes->metadata = message_copy(&config->metadata->base);
    attributes->n_labels = config->n_labels;
    attributes->labels = (Runtime__V1__PodSandboxAttributes__LabelsEntry **)filter_map_copy(
        FILTER_MAP(config->labels), config->n_labels,
        &runtime__v1__pod_sandbox_attributes__labels_entry__descriptor);
    attributes->n_annotations = config->n_annotations;
    attributes->annotations =
        (Runtime__V1__PodSandboxAttributes__AnnotationsEntry **)filter_map_copy(
            FILTER_MAP(config->annotations), config->n_annotations,
            &runtime__v1__pod_sandbox_attributes__annotations_entry__descriptor);
    return attributes;
}

/* Adds a container's usage to the pod's total. The rates' sum is kept only while every
 * container added has a rate: a sum that leaves some out would understate the pod. */
static void add_usage(struct usage *total, const struct usage *usage, bool first)
{
    total->timestamp_ns =
        usage->timestamp_ns > total->timestamp_ns ? usage->timestamp_ns : total->timestamp_ns;
    total->cpu_ns += usage->cpu_ns;
    total->nano_cores += usage->nano_cores;
    total->has_nano_cores = usage->has_nano_cores && (first || total->has_nano_cores);
    total->job.has_memory |= usage->job.has_memory;
    total->job.memory_usage_bytes += usage->job.memory_usage_bytes;
    total->job.memory_working_set_bytes += usage->job.memory_working_set_bytes;
    total->job.memory_rss_bytes += usage->job.memory_rss_bytes;
    total->job.page_faults += usage->job.page_faults;
    total->job.major_page_faults += usage->job.major_page_faults;
    total->job.pids += usage->job.pids;
}

/*
 * Replaces the containers' sum with the pod job's own counters where the backend has them: the
 * pod's CPU time must never go back when one of its containers exits. The rate is the sampler's
 * rate of the pod job, which counts containers that exited between the samples too.
 */
static void read_pod_usage(struct runtime *runtime, const struct sandbox *sandbox,
                           struct usage *total)
{
    _cleanup_error_ struct error err = ERROR_INIT;
    struct job_stats pod = {0};

    if (sandbox->pod == NULL || job_pod_stats(sandbox->pod, &pod, &err) < 0) {
        if (sandbox->pod != NULL)
            log_debug_id("sandbox", sandbox->record.id, "reading pod statistics failed: %s",
                         err.message);
        return;
    }
    total->cpu_ns = pod.cpu_usage_ns;
    total->has_nano_cores =
        runtime_cpu_sampler_pod_rate(runtime, sandbox->record.id, &total->nano_cores);
    if (pod.has_memory)
        total->job = pod;
    else
        total->job.pids = pod.pids;
    if (pod.timestamp_ns)
        total->timestamp_ns = pod.timestamp_ns;
}

static Runtime__V1__PodSandboxStats *sandbox_stats(struct runtime *runtime,
                                                   const struct sandbox *sandbox)
{
    Runtime__V1__PodSandboxStats *stats = message_new(&runtime__v1__pod_sandbox_stats__descriptor);
    Runtime__V1__LinuxPodSandboxStats *linux_stats =
        message_new(&runtime__v1__linux_pod_sandbox_stats__descriptor);
    struct usage total = {.timestamp_ns = time_now_ns()};

    linux_stats->containers = xcalloc(runtime->n_containers, sizeof(*linux_stats->containers));
    for (size_t i = 0; i < runtime->n_containers; i++) {
        struct container *container = runtime->containers[i];
        struct usage usage;

        if (strcmp(container->record.sandbox_id, sandbox->record.id) != 0 ||
            !read_usage(container, &usage))
            continue;
        add_usage(&total, &usage, linux_stats->n_containers == 0);
        linux_stats->containers[linux_stats->n_containers++] = container_stats(container, &usage);
    }
    read_pod_usage(runtime, sandbox, &total);
    linux_stats->cpu = cpu_usage(&total);
    linux_stats->memory = memory_usage(&total);
    linux_stats->process = message_new(&runtime__v1__process_usage__descriptor);
    linux_stats->process->timestamp = total.timestamp_ns;
    linux_stats->process->process_count = uint64_value(total.job.pids);
    stats->attributes = sandbox_attributes(sandbox);
    stats->linux = linux_stats;
    return stats;
}

int runtime_sandbox_stats(struct runtime *runtime, const char *id,
                          Runtime__V1__PodSandboxStatsResponse **out, struct error *err)
{
    struct sandbox *sandbox = runtime_find_sandbox(runtime, id, err);
    Runtime__V1__PodSandboxStatsResponse *response;

    if (sandbox == NULL)
        return -1;
    if (sandbox->record.state != RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
        return error_set(err, ERROR_UNAVAILABLE, "sandbox %s is not ready, so it has no statistics",
                         sandbox->record.id);
    response = message_new(&runtime__v1__pod_sandbox_stats_response__descriptor);
    response->stats = sandbox_stats(runtime, sandbox);
    *out = response;
    return 0;
}

int runtime_sandbox_stats_list(struct runtime *runtime,
                               const Runtime__V1__PodSandboxStatsFilter *filter,
                               Runtime__V1__ListPodSandboxStatsResponse **out, struct error *err)
{
    Runtime__V1__ListPodSandboxStatsResponse *response =
        message_new(&runtime__v1__list_pod_sandbox_stats_response__descriptor);

    response->stats = xcalloc(runtime->n_sandboxes, sizeof(*response->stats));
    for (size_t i = 0; i < runtime->n_sandboxes; i++) {
        const struct sandbox *sandbox = runtime->sandboxes[i];
        const Runtime__V1__PodSandboxConfig *config = sandbox->record.config;

        if (sandbox->record.state != RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
            continue;
        if (filter &&
            (!filter_id_has_prefix(sandbox->record.id, filter->id) ||
             !filter_labels_match(FILTER_MAP(config->labels), config->n_labels,
                                  FILTER_MAP(filter->label_selector), filter->n_label_selector)))
            continue;
        response->stats[response->n_stats++] = sandbox_stats(runtime, sandbox);
    }
    *out = response;
    return 0;
}
