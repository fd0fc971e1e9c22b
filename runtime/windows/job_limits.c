/* Resource values to job object limits (portable; applied by job_windows_resources.c). */
#include "runtime/windows/job_limits.h"

#include <inttypes.h>
#include <string.h>

#include "common/strbuf.h"

#define RATE_MAX 10000

/* Names the CPU fields that are set, "cpu_count=2 and cpu_maximum=5000"; returns the count. */
static int set_cpu_fields(const struct job_resources *resources, struct strbuf *names)
{
    const struct {
        const char *name;
        int64_t value;
    } fields[] = {
        {"cpu_count", resources->cpu_count},
        {"cpu_maximum", resources->cpu_maximum},
        {"cpu_shares", resources->cpu_shares},
    };
    int count = 0;

    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        if (fields[i].value == 0)
            continue;
        strbuf_appendf(names, "%s%s=%" PRId64, count > 0 ? " and " : "", fields[i].name,
                       fields[i].value);
        count++;
    }
    return count;
}

static int cpu_from_count(int64_t count, int host_cpus, struct job_limits *limits,
                          struct error *err)
{
    int64_t rate;

    if (count < 0)
        return error_set(err, ERROR_INVALID_ARGUMENT, "invalid cpu_count %" PRId64, count);
    if (count > host_cpus)
        count = host_cpus;
    rate = count * RATE_MAX / host_cpus;
    limits->cpu_rate = rate < 1 ? 1 : (uint32_t)rate;
    return 0;
}

/* A CFS quota over a period, as a share of the whole host. */
static void cpu_from_quota(const struct job_resources *resources, int host_cpus,
                           struct job_limits *limits)
{
    int64_t rate;

    if (resources->cpu_quota_us < 0) {
        limits->set_cpu = true; /* -1: no limit */
        return;
    }
    if (resources->cpu_quota_us == 0 || resources->cpu_period_us <= 0)
        return;
    rate = resources->cpu_quota_us * RATE_MAX / (resources->cpu_period_us * host_cpus);
    limits->set_cpu = true;
    limits->cpu_rate = rate < 1 ? 1 : rate > RATE_MAX ? RATE_MAX : (uint32_t)rate;
}

static int cpu_limits(const struct job_resources *resources, int host_cpus,
                      struct job_limits *limits, struct error *err)
{
    _cleanup_strbuf_ struct strbuf names = STRBUF_INIT;
    int n_set = set_cpu_fields(resources, &names);

    if (n_set > 1)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "cpu_count, cpu_maximum and cpu_shares are mutually exclusive, but %s "
                         "are set",
                         names.data);
    if (n_set == 0) {
        cpu_from_quota(resources, host_cpus, limits);
        return 0;
    }
    limits->set_cpu = true;
    if (resources->cpu_count != 0)
        return cpu_from_count(resources->cpu_count, host_cpus, limits, err);
    if (resources->cpu_maximum != 0) {
        if (resources->cpu_maximum < 1 || resources->cpu_maximum > RATE_MAX)
            return error_set(err, ERROR_INVALID_ARGUMENT,
                             "invalid cpu_maximum %" PRId64 ": the range is 1 to 10000",
                             resources->cpu_maximum);
        limits->cpu_rate = (uint32_t)resources->cpu_maximum;
        return 0;
    }
    if (resources->cpu_shares < 1 || resources->cpu_shares > RATE_MAX)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid cpu_shares %" PRId64 ": the range is 1 to 10000 on Windows",
                         resources->cpu_shares);
    limits->cpu_weight = (uint32_t)(1 + 8 * resources->cpu_shares / RATE_MAX);
    return 0;
}

static int memory_limits(const struct job_resources *resources, struct job_limits *limits,
                         struct error *err)
{
    int64_t bytes = resources->memory_limit_bytes;

    if (bytes == 0)
        return 0;
    limits->set_memory = true;
    if (bytes < 0) {
        limits->memory_bytes = 0;
        return 0;
    }
    if ((uint64_t)bytes < JOB_LIMITS_MIB)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid memory limit %" PRId64 " bytes: job objects take whole MiB, so "
                         "the minimum is 1048576",
                         bytes);
    limits->memory_bytes = (uint64_t)bytes / JOB_LIMITS_MIB * JOB_LIMITS_MIB;
    return 0;
}

int job_limits_from_resources(const struct job_resources *resources, int host_cpus,
                              struct job_limits *limits, struct error *err)
{
    memset(limits, 0, sizeof(*limits));
    if (host_cpus < 1)
        host_cpus = 1;
    if (cpu_limits(resources, host_cpus, limits, err) < 0 ||
        memory_limits(resources, limits, err) < 0)
        return -1;
    return 0;
}
