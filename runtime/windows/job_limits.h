#ifndef HOSTCRI_RUNTIME_WINDOWS_JOB_LIMITS_H
#define HOSTCRI_RUNTIME_WINDOWS_JOB_LIMITS_H

/*
 * Converts runtime/job.h resources into job object limits. Portable C, unit-tested on Linux;
 * job_windows_resources.c applies the result with SetInformationJobObject.
 *
 * The Windows fields of struct job_resources mean what the CRI's WindowsContainerResources
 * means: cpu_count is a number of CPUs, cpu_maximum a hard cap in hundredths of a percent of
 * the host (1..10000), cpu_shares a relative weight 0..10000. At most one of the three may be
 * set. When none is, a CFS quota and period (the Linux fields) become a hard cap instead.
 */

#include <stdbool.h>
#include <stdint.h>

#include "common/error.h"
#include "runtime/job.h"

#define JOB_LIMITS_MIB (UINT64_C(1) << 20)

struct job_limits {
    bool set_cpu;          /* a CPU field was given: rate or weight replaces the current one */
    uint32_t cpu_rate;     /* hard cap in 1/10000 of the host's CPU time, or 0 for none */
    uint32_t cpu_weight;   /* weight 1..9, or 0 for none */
    bool set_memory;       /* memory_limit_bytes was given */
    uint64_t memory_bytes; /* job memory limit, whole MiB; 0 removes the limit */
};

/*
 * Fills *limits from resources for a host with host_cpus logical processors:
 * - cpu_count is clamped to host_cpus and becomes the rate count * 10000 / host_cpus (at
 *   least 1);
 * - cpu_maximum is the rate itself and must be 1..10000;
 * - cpu_shares 1..10000 becomes the weight 1 + 8 * shares / 10000;
 * - memory_limit_bytes is rounded down to whole MiB and must be at least 1 MiB; -1 removes
 *   the limit.
 * ERROR_INVALID_ARGUMENT, naming the fields, when more than one CPU field is set or a value is
 * out of range.
 */
int job_limits_from_resources(const struct job_resources *resources, int host_cpus,
                              struct job_limits *limits, struct error *err);

#endif
