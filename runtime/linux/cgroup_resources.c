#include "runtime/linux/cgroup.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/util.h"

#define DEFAULT_CPU_PERIOD_US 100000

/* The directory of path in the hierarchy that has controller, or NULL. */
static char *controller_dir(const struct cgroup_env *env, enum cgroup_v1_controller v1)
{
    if (env->layout == CGROUP_LAYOUT_V2)
        return xstrdup(env->unified);
    if (env->v1[v1] != NULL)
        return xstrdup(env->v1[v1]);
    return NULL;
}

static char *path_dir(const struct cgroup_env *env, enum cgroup_v1_controller v1, const char *path)
{
    _cleanup_free_ char *hierarchy = controller_dir(env, v1);

    return hierarchy ? cgroup_dir(hierarchy, path) : NULL;
}

/* Reads a file that holds one number. */
static int read_number(const char *dir, const char *name, uint64_t *value, struct error *err)
{
    _cleanup_free_ char *text = NULL;

    if (cgroup_read_file(dir, name, &text, err) < 0)
        return -1;
    *value = strtoull(text, NULL, 10);
    return 0;
}

static int read_keyed(const char *dir, const char *name, const char *key, uint64_t *value,
                      struct error *err)
{
    _cleanup_free_ char *text = NULL;

    if (cgroup_read_file(dir, name, &text, err) < 0)
        return -1;
    if (cgroup_parse_keyed(text, key, value) < 0)
        return error_set(err, ERROR_INTERNAL, "no %s key in %s/%s", key, dir, name);
    return 0;
}

static int read_cpu(const struct cgroup_env *env, const char *path, struct job_stats *stats,
                    struct error *err)
{
    _cleanup_free_ char *dir = NULL;
    uint64_t usec = 0;

    /* cpu.stat usage_usec exists on every v2 cgroup, controllers enabled or not. */
    if (env->unified != NULL) {
        dir = cgroup_dir(env->unified, path);
        if (read_keyed(dir, "cpu.stat", "usage_usec", &usec, err) < 0)
            return -1;
        stats->cpu_usage_ns = usec * 1000;
        return 0;
    }
    dir = path_dir(env, CGROUP_V1_CPUACCT, path);
    if (dir == NULL)
        return 0;
    return read_number(dir, "cpuacct.usage", &stats->cpu_usage_ns, err);
}

static int read_memory(const struct cgroup_env *env, const char *path, struct job_stats *stats,
                       struct error *err)
{
    _cleanup_free_ char *dir = path_dir(env, CGROUP_V1_MEMORY, path);
    _cleanup_free_ char *text = NULL;
    bool v2 = env->layout == CGROUP_LAYOUT_V2;
    uint64_t inactive_file = 0;

    if (dir == NULL)
        return 0;
    /* On v2 the memory files exist only where the parent enabled the controller. */
    if (v2 && cgroup_read_file(dir, "memory.current", &text, NULL) < 0)
        return 0;
    free(steal_pointer(&text));
    if (read_number(dir, v2 ? "memory.current" : "memory.usage_in_bytes",
                    &stats->memory_usage_bytes, err) < 0)
        return -1;
    if (cgroup_read_file(dir, "memory.stat", &text, err) < 0)
        return -1;
    cgroup_parse_keyed(text, v2 ? "anon" : "total_rss", &stats->memory_rss_bytes);
    cgroup_parse_keyed(text, v2 ? "inactive_file" : "total_inactive_file", &inactive_file);
    cgroup_parse_keyed(text, v2 ? "pgfault" : "total_pgfault", &stats->page_faults);
    cgroup_parse_keyed(text, v2 ? "pgmajfault" : "total_pgmajfault", &stats->major_page_faults);
    stats->memory_working_set_bytes =
        stats->memory_usage_bytes > inactive_file ? stats->memory_usage_bytes - inactive_file : 0;
    stats->has_memory = true;
    return 0;
}

static int read_pids_count(const struct cgroup_env *env, const char *path, struct job_stats *stats,
                           struct error *err)
{
    _cleanup_free_ char *dir = path_dir(env, CGROUP_V1_PIDS, path);
    _cleanup_free_ int *pids = NULL;
    size_t n_pids = 0;

    if (dir != NULL && read_number(dir, "pids.current", &stats->pids, NULL) == 0) {
        stats->has_pids = true;
        return 0;
    }
    if (cgroup_read_pids(env, path, &pids, &n_pids, err) < 0)
        return -1;
    stats->pids = n_pids;
    stats->has_pids = true;
    return 0;
}

int cgroup_read_stats(const struct cgroup_env *env, const char *path, struct job_stats *stats,
                      struct error *err)
{
    struct timespec now;

    memset(stats, 0, sizeof(*stats));
    clock_gettime(CLOCK_REALTIME, &now);
    stats->timestamp_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    if (read_cpu(env, path, stats, err) < 0 || read_memory(env, path, stats, err) < 0 ||
        read_pids_count(env, path, stats, err) < 0)
        return error_prefix(err, "read statistics of cgroup %s", path);
    return 0;
}

int cgroup_read_oom_kills(const struct cgroup_env *env, const char *path, uint64_t *count,
                          struct error *err)
{
    _cleanup_free_ char *dir = path_dir(env, CGROUP_V1_MEMORY, path);
    _cleanup_free_ char *text = NULL;
    bool v2 = env->layout == CGROUP_LAYOUT_V2;

    *count = 0;
    if (dir == NULL)
        return 0;
    if (cgroup_read_file(dir, v2 ? "memory.events" : "memory.oom_control", &text, err) < 0)
        return -1;
    /* Kernels before 4.13 have no oom_kill counter in v1; the count then stays 0. */
    cgroup_parse_keyed(text, "oom_kill", count);
    return 0;
}

uint64_t cgroup_shares_to_weight(uint64_t shares)
{
    if (shares == 0)
        return 0;
    if (shares < 2)
        shares = 2;
    if (shares > 262144)
        shares = 262144;
    return 1 + ((shares - 2) * 9999) / 262142;
}

/* The CFS quota and period that resources ask for; *quota 0 means unset, -1 unlimited. */
static void cpu_quota(const struct job_resources *resources, int host_cpus, int64_t *quota,
                      int64_t *period)
{
    *period = resources->cpu_period_us;
    *quota = resources->cpu_quota_us;
    if (*quota == 0 && (resources->cpu_maximum > 0 || resources->cpu_count > 0)) {
        int64_t base = *period > 0 ? *period : DEFAULT_CPU_PERIOD_US;

        if (resources->cpu_count > 0)
            *quota = resources->cpu_count * base;
        else
            *quota = resources->cpu_maximum * (host_cpus > 0 ? host_cpus : 1) * base / 10000;
        if (*quota < 1000)
            *quota = 1000;
        *period = base;
    }
}

static int write_number(const struct cgroup_env *env, const char *dir, const char *name,
                        int64_t value, struct error *err)
{
    char text[32];

    snprintf(text, sizeof(text), "%" PRId64, value);
    return cgroup_write_file(env, dir, name, text, err);
}

static int apply_cpuset(const struct cgroup_env *env, const char *path,
                        const struct job_resources *resources, struct error *err)
{
    _cleanup_free_ char *dir = NULL;

    if (str_empty(resources->cpuset_cpus) && str_empty(resources->cpuset_mems))
        return 0;
    dir = path_dir(env, CGROUP_V1_CPUSET, path);
    if (dir == NULL)
        return error_set(err, ERROR_FAILED_PRECONDITION, "no cpuset controller for %s", path);
    if (!str_empty(resources->cpuset_cpus) &&
        cgroup_write_file(env, dir, "cpuset.cpus", resources->cpuset_cpus, err) < 0)
        return -1;
    if (!str_empty(resources->cpuset_mems) &&
        cgroup_write_file(env, dir, "cpuset.mems", resources->cpuset_mems, err) < 0)
        return -1;
    return 0;
}

static int apply_v2(const struct cgroup_env *env, const char *path,
                    const struct job_resources *resources, int64_t quota, int64_t period,
                    struct error *err)
{
    _cleanup_free_ char *dir = cgroup_dir(env->unified, path);
    char text[48];

    if (quota != 0 || period > 0) {
        int64_t used_period = period > 0 ? period : DEFAULT_CPU_PERIOD_US;

        if (quota > 0)
            snprintf(text, sizeof(text), "%" PRId64 " %" PRId64, quota, used_period);
        else
            snprintf(text, sizeof(text), "max %" PRId64, used_period);
        if (cgroup_write_file(env, dir, "cpu.max", text, err) < 0)
            return -1;
    }
    if (resources->cpu_shares > 0 &&
        write_number(env, dir, "cpu.weight",
                     (int64_t)cgroup_shares_to_weight((uint64_t)resources->cpu_shares), err) < 0)
        return -1;
    if (resources->memory_limit_bytes > 0 &&
        write_number(env, dir, "memory.max", resources->memory_limit_bytes, err) < 0)
        return -1;
    if (resources->memory_limit_bytes < 0 &&
        cgroup_write_file(env, dir, "memory.max", "max", err) < 0)
        return -1;
    return 0;
}

static int apply_v1(const struct cgroup_env *env, const char *path,
                    const struct job_resources *resources, int64_t quota, int64_t period,
                    struct error *err)
{
    _cleanup_free_ char *cpu = path_dir(env, CGROUP_V1_CPU, path);
    _cleanup_free_ char *memory = path_dir(env, CGROUP_V1_MEMORY, path);
    bool wants_cpu = quota != 0 || period > 0 || resources->cpu_shares > 0;

    if (wants_cpu && cpu == NULL)
        return error_set(err, ERROR_FAILED_PRECONDITION, "no cpu controller for %s", path);
    if (period > 0 && write_number(env, cpu, "cpu.cfs_period_us", period, err) < 0)
        return -1;
    if (quota != 0 && write_number(env, cpu, "cpu.cfs_quota_us", quota > 0 ? quota : -1, err) < 0)
        return -1;
    if (resources->cpu_shares > 0 &&
        write_number(env, cpu, "cpu.shares", resources->cpu_shares, err) < 0)
        return -1;
    if (resources->memory_limit_bytes == 0)
        return 0;
    if (memory == NULL)
        return error_set(err, ERROR_FAILED_PRECONDITION, "no memory controller for %s", path);
    return write_number(env, memory, "memory.limit_in_bytes",
                        resources->memory_limit_bytes > 0 ? resources->memory_limit_bytes : -1,
                        err);
}

/*
 * Rejects a memory limit below the cgroup's current usage before anything is written, so that
 * a rejected update changes no limit at all. The kernel would fail the write with EBUSY.
 */
static int check_memory_limit(const struct cgroup_env *env, const char *path,
                              const struct job_resources *resources, struct error *err)
{
    struct job_stats stats = {0};

    if (resources->memory_limit_bytes <= 0 || read_memory(env, path, &stats, NULL) < 0 ||
        !stats.has_memory)
        return 0;
    if ((uint64_t)resources->memory_limit_bytes < stats.memory_usage_bytes)
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "memory limit of %lld bytes is below the current memory usage of %llu "
                         "bytes of cgroup %s: set a higher limit",
                         (long long)resources->memory_limit_bytes,
                         (unsigned long long)stats.memory_usage_bytes, path);
    return 0;
}

int cgroup_apply_resources(const struct cgroup_env *env, const char *path,
                           const struct job_resources *resources, int host_cpus, struct error *err)
{
    int64_t quota;
    int64_t period;
    int result;

    if (check_memory_limit(env, path, resources, err) < 0)
        return -1;
    cpu_quota(resources, host_cpus, &quota, &period);
    if (env->layout == CGROUP_LAYOUT_V2)
        result = apply_v2(env, path, resources, quota, period, err);
    else
        result = apply_v1(env, path, resources, quota, period, err);
    if (result == 0)
        result = apply_cpuset(env, path, resources, err);
    if (result < 0)
        return error_prefix(err, "set limits of cgroup %s", path);
    return 0;
}
