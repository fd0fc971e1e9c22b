/* The runtime's CPU sampler: see cpu_sampler.h. */

#include "runtime/cpu_sampler.h"

#include <stdlib.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/cpu_rate.h"
#include "runtime/job_cpu.h"
#include "runtime/runtime_internal.h"

struct cpu_sampler {
    uv_timer_t timer;
    struct runtime *runtime;
    struct cpu_table containers;
    struct cpu_table pods;
    uint64_t pass; /* counts the passes, so that a sweep finds what the last pass missed */
};

static void sample_containers(struct cpu_sampler *sampler, size_t *sampled)
{
    struct runtime *runtime = sampler->runtime;

    for (size_t i = 0; i < runtime->n_containers; i++) {
        const struct container *container = runtime->containers[i];
        _cleanup_error_ struct error err = ERROR_INIT;
        uint64_t usage_ns;

        if (container->job == NULL ||
            container->record.state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
            continue;
        if (job_container_cpu_usage(container->job, &usage_ns, &err) < 0) {
            log_debug_id("container", container->record.id, "reading the CPU time failed: %s",
                         err.message);
            continue;
        }
        cpu_history_add(cpu_table_update(&sampler->containers, container->record.id, sampler->pass),
                        (int64_t)uv_hrtime(), usage_ns);
        (*sampled)++;
    }
    cpu_table_sweep(&sampler->containers, sampler->pass);
}

static void sample_pods(struct cpu_sampler *sampler, size_t *sampled)
{
    struct runtime *runtime = sampler->runtime;

    for (size_t i = 0; i < runtime->n_sandboxes; i++) {
        const struct sandbox *sandbox = runtime->sandboxes[i];
        _cleanup_error_ struct error err = ERROR_INIT;
        uint64_t usage_ns;

        if (sandbox->pod == NULL ||
            sandbox->record.state != RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
            continue;
        /* A backend without pod accounting fails every time: stats.c then sums the containers. */
        if (job_pod_cpu_usage(sandbox->pod, &usage_ns, &err) < 0) {
            if (err.code != ERROR_UNIMPLEMENTED)
                log_debug_id("sandbox", sandbox->record.id, "reading the pod CPU time failed: %s",
                             err.message);
            continue;
        }
        cpu_history_add(cpu_table_update(&sampler->pods, sandbox->record.id, sampler->pass),
                        (int64_t)uv_hrtime(), usage_ns);
        (*sampled)++;
    }
    cpu_table_sweep(&sampler->pods, sampler->pass);
}

static void sample_cb(uv_timer_t *timer)
{
    struct cpu_sampler *sampler = timer->data;
    uint64_t start = uv_hrtime();
    size_t containers = 0;
    size_t pods = 0;

    sampler->pass++;
    sample_containers(sampler, &containers);
    sample_pods(sampler, &pods);
    log_debug("sampled the CPU time of %zu containers and %zu pods in %llu us", containers, pods,
              (unsigned long long)((uv_hrtime() - start) / 1000));
}

void runtime_cpu_sampler_start(struct runtime *runtime, int64_t interval_ms)
{
    struct cpu_sampler *sampler = xcalloc(1, sizeof(*sampler));
    uint64_t interval = interval_ms > 0 ? (uint64_t)interval_ms : CPU_SAMPLER_DEFAULT_INTERVAL_MS;

    sampler->runtime = runtime;
    uv_timer_init(runtime->loop, &sampler->timer);
    sampler->timer.data = sampler;
    uv_timer_start(&sampler->timer, sample_cb, 0, interval);
    /* Statistics are no reason to keep running: the daemon's loop ends when its work does. */
    uv_unref((uv_handle_t *)&sampler->timer);
    runtime->cpu_sampler = sampler;
    log_info("sampling the CPU time of containers and pods every %llu ms",
             (unsigned long long)interval);
}

static void sampler_close_cb(uv_handle_t *handle)
{
    struct cpu_sampler *sampler = handle->data;

    cpu_table_free(&sampler->containers);
    cpu_table_free(&sampler->pods);
    free(sampler);
}

void runtime_cpu_sampler_stop(struct runtime *runtime)
{
    struct cpu_sampler *sampler = runtime->cpu_sampler;

    if (sampler == NULL)
        return;
    runtime->cpu_sampler = NULL;
    sampler->runtime = NULL;
    uv_timer_stop(&sampler->timer);
    uv_close((uv_handle_t *)&sampler->timer, sampler_close_cb);
}

static bool table_rate(const struct cpu_table *table, const char *id, uint64_t *nano_cores)
{
    const struct cpu_history *history = cpu_table_find(table, id);

    return history != NULL && cpu_history_rate(history, nano_cores);
}

bool runtime_cpu_sampler_container_rate(struct runtime *runtime, const char *container_id,
                                        uint64_t *nano_cores)
{
    return runtime->cpu_sampler != NULL &&
           table_rate(&runtime->cpu_sampler->containers, container_id, nano_cores);
}

bool runtime_cpu_sampler_pod_rate(struct runtime *runtime, const char *sandbox_id,
                                  uint64_t *nano_cores)
{
    return runtime->cpu_sampler != NULL &&
           table_rate(&runtime->cpu_sampler->pods, sandbox_id, nano_cores);
}
