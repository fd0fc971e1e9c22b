/* runtime/job_cpu.h for the fake job backend, which keeps no CPU accounting. */

#include "runtime/job_cpu.h"

int job_container_cpu_usage(const struct job_container *container, uint64_t *usage_ns,
                            struct error *err)
{
    return error_set(err, ERROR_UNIMPLEMENTED, "the fake job backend has no CPU accounting");
}

int job_pod_cpu_usage(const struct job_pod *pod, uint64_t *usage_ns, struct error *err)
{
    return error_set(err, ERROR_UNIMPLEMENTED, "the fake job backend has no CPU accounting");
}
