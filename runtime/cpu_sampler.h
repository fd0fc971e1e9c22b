#ifndef HOSTCRI_RUNTIME_CPU_SAMPLER_H
#define HOSTCRI_RUNTIME_CPU_SAMPLER_H

/*
 * The runtime's CPU sampler: a timer on the runtime's loop that reads the cumulative CPU time of
 * every running container and every ready pod at a fixed interval. It keeps the last two samples
 * of each, from which the statistics report usage_nano_cores. A container or pod that no longer
 * runs (stopped or removed) is forgotten at the next pass. Loop thread only.
 */

#include <stdbool.h>
#include <stdint.h>

struct runtime;

/* The interval when the configuration sets none: the kubelet's cAdvisor housekeeping interval
 * (defaultHousekeepingInterval in kubernetes pkg/kubelet/cadvisor/cadvisor_linux.go). */
#define CPU_SAMPLER_DEFAULT_INTERVAL_MS 10000

/*
 * Starts sampling every interval_ms milliseconds (0 or less means the default); the first pass
 * runs at the next loop iteration. The timer does not keep the loop alive. Stores the sampler
 * in runtime->cpu_sampler.
 */
void runtime_cpu_sampler_start(struct runtime *runtime, int64_t interval_ms);

/*
 * Stops the sampler and clears runtime->cpu_sampler. Its timer closes through the loop, which
 * frees the sampler; it no longer uses the runtime. Does nothing when no sampler runs.
 */
void runtime_cpu_sampler_stop(struct runtime *runtime);

/*
 * Stores the container's CPU rate between the sampler's last two samples in *nano_cores and
 * returns true; returns false until two samples of the container exist.
 */
bool runtime_cpu_sampler_container_rate(struct runtime *runtime, const char *container_id,
                                        uint64_t *nano_cores);

/* The same for a pod, from the pod job's CPU time. */
bool runtime_cpu_sampler_pod_rate(struct runtime *runtime, const char *sandbox_id,
                                  uint64_t *nano_cores);

#endif
