/* The CPU time of a container or pod job from its cgroup, for the runtime's CPU sampler. */

#include "runtime/job_cpu.h"

#include <stdlib.h>

#include "common/util.h"
#include "runtime/linux/job_linux.h"

/* Reads path's CPU time the way cgroup_read_stats does, without the memory and pids files. */
static int read_cpu_usage(const struct cgroup_env *env, const char *path, uint64_t *usage_ns,
                          struct error *err)
{
    _cleanup_free_ char *dir = NULL;
    _cleanup_free_ char *text = NULL;
    uint64_t usec = 0;

    /* cpu.stat usage_usec exists on every v2 cgroup, controllers enabled or not. */
    if (env->unified != NULL) {
        dir = cgroup_dir(env->unified, path);
        if (cgroup_read_file(dir, "cpu.stat", &text, err) < 0)
            return -1;
        if (cgroup_parse_keyed(text, "usage_usec", &usec) < 0)
            return error_set(err, ERROR_INTERNAL, "no usage_usec key in %s/cpu.stat", dir);
        *usage_ns = usec * 1000;
        return 0;
    }
    if (env->v1[CGROUP_V1_CPUACCT] == NULL)
        return error_set(err, ERROR_UNIMPLEMENTED, "no cpuacct hierarchy for cgroup %s", path);
    dir = cgroup_dir(env->v1[CGROUP_V1_CPUACCT], path);
    if (cgroup_read_file(dir, "cpuacct.usage", &text, err) < 0)
        return -1;
    *usage_ns = strtoull(text, NULL, 10);
    return 0;
}

int job_container_cpu_usage(const struct job_container *container, uint64_t *usage_ns,
                            struct error *err)
{
    return read_cpu_usage(&container->runtime->cgroups, container->path, usage_ns, err);
}

int job_pod_cpu_usage(const struct job_pod *pod, uint64_t *usage_ns, struct error *err)
{
    return read_cpu_usage(&pod->runtime->cgroups, pod->path, usage_ns, err);
}
