#ifndef HOSTCRI_RUNTIME_JOB_CPU_H
#define HOSTCRI_RUNTIME_JOB_CPU_H

/*
 * The CPU time of a job alone, for the runtime's CPU sampler (cpu_sampler.c), which reads it for
 * every running container and ready pod at each interval. It reads one file on Linux, where
 * job_container_stats also reads the memory and pids files. Each backend provides these.
 */

#include <stdint.h>

#include "common/error.h"
#include "runtime/job.h"

/* Reads the cumulative CPU time of the container's job, in nanoseconds. Any thread. */
int job_container_cpu_usage(const struct job_container *container, uint64_t *usage_ns,
                            struct error *err);

/*
 * Reads the cumulative CPU time of the whole pod job, including containers that have exited, in
 * nanoseconds. ERROR_UNIMPLEMENTED where the backend has no pod accounting. Any thread.
 */
int job_pod_cpu_usage(const struct job_pod *pod, uint64_t *usage_ns, struct error *err);

#endif
