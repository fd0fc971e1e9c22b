/*
 * job_cpu.h for a backend without a CPU-only read, through its job_container_stats and
 * job_pod_stats: the Windows backend for now.
 */

#ifdef _WIN32

#include "runtime/job_cpu.h"

int job_container_cpu_usage(const struct job_container *container, uint64_t *usage_ns,
                            struct error *err)
{
    struct job_stats stats;

    if (job_container_stats(container, &stats, err) < 0)
        return -1;
    *usage_ns = stats.cpu_usage_ns;
    return 0;
}

int job_pod_cpu_usage(const struct job_pod *pod, uint64_t *usage_ns, struct error *err)
{
    struct job_stats stats;

    if (job_pod_stats(pod, &stats, err) < 0)
        return -1;
    *usage_ns = stats.cpu_usage_ns;
    return 0;
}

#endif
