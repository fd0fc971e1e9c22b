/*
 * Limits and statistics of job objects: CPU rate control and the job memory limit, job
 * accounting for CPU time and process counts, and the memory counters of the member processes.
 */
#include "runtime/windows/job_windows.h"

#include <psapi.h>
#include <stdlib.h>
#include <string.h>

#include "common/error_windows.h"
#include "common/log.h"
#include "common/util.h"

/* ---- Limits ---------------------------------------------------------------------------------- */

static int apply_cpu(HANDLE job, const char *name, const struct job_limits *limits,
                     struct error *err)
{
    JOBOBJECT_CPU_RATE_CONTROL_INFORMATION cpu = {0};

    if (limits->cpu_rate != 0) {
        cpu.ControlFlags =
            JOB_OBJECT_CPU_RATE_CONTROL_ENABLE | JOB_OBJECT_CPU_RATE_CONTROL_HARD_CAP;
        cpu.CpuRate = limits->cpu_rate;
    } else if (limits->cpu_weight != 0) {
        cpu.ControlFlags =
            JOB_OBJECT_CPU_RATE_CONTROL_ENABLE | JOB_OBJECT_CPU_RATE_CONTROL_WEIGHT_BASED;
        cpu.Weight = limits->cpu_weight;
    }
    if (!SetInformationJobObject(job, JobObjectCpuRateControlInformation, &cpu, sizeof(cpu)))
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(),
                                 "set the CPU rate control of job object %s", name);
    return 0;
}

int job_windows_apply_limits(HANDLE job, const char *name, const struct job_limits *limits,
                             struct error *err)
{
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION extended = {0};

    if (limits->set_cpu && apply_cpu(job, name, limits, err) < 0)
        return -1;
    /* Reading the current limits keeps a memory limit that this call does not change. */
    if (!QueryInformationJobObject(job, JobObjectExtendedLimitInformation, &extended,
                                   sizeof(extended), NULL))
        memset(&extended, 0, sizeof(extended));
    extended.BasicLimitInformation.LimitFlags |= JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    extended.BasicLimitInformation.LimitFlags &= ~(DWORD)JOB_OBJECT_LIMIT_BREAKAWAY_OK;
    if (limits->set_memory && limits->memory_bytes > 0) {
        extended.BasicLimitInformation.LimitFlags |= JOB_OBJECT_LIMIT_JOB_MEMORY;
        extended.JobMemoryLimit = (SIZE_T)limits->memory_bytes;
    } else if (limits->set_memory) {
        extended.BasicLimitInformation.LimitFlags &= ~(DWORD)JOB_OBJECT_LIMIT_JOB_MEMORY;
        extended.JobMemoryLimit = 0;
    }
    if (!SetInformationJobObject(job, JobObjectExtendedLimitInformation, &extended,
                                 sizeof(extended)))
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(),
                                 "set the limits of job object %s", name);
    return 0;
}

int job_container_update(struct job_container *container, const struct job_resources *resources,
                         struct error *err)
{
    struct job_limits limits;

    if (container->job == NULL)
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "update container %s: its job object is gone", container->id);
    if (job_limits_from_resources(resources, container->runtime->host_cpus, &limits, err) < 0 ||
        job_windows_apply_limits(container->job, container->name, &limits, err) < 0)
        return error_prefix(err, "update container %s", container->id);
    log_info_id("container", container->id, "limits: CPU rate %u, weight %u, memory %llu bytes",
                limits.cpu_rate, limits.cpu_weight, (unsigned long long)limits.memory_bytes);
    return 0;
}

/* ---- Processes ------------------------------------------------------------------------------- */

int job_windows_pids(HANDLE job, const char *name, int **pids, size_t *n_pids, struct error *err)
{
    DWORD capacity = 64;

    *pids = NULL;
    *n_pids = 0;
    if (job == NULL) {
        *pids = xcalloc(1, sizeof(**pids));
        return 0;
    }
    for (;;) {
        size_t size = sizeof(JOBOBJECT_BASIC_PROCESS_ID_LIST) + capacity * sizeof(ULONG_PTR);
        _cleanup_free_ JOBOBJECT_BASIC_PROCESS_ID_LIST *list = xcalloc(1, size);

        if (!QueryInformationJobObject(job, JobObjectBasicProcessIdList, list, (DWORD)size, NULL) &&
            GetLastError() != ERROR_MORE_DATA)
            return error_set_windows(err, ERROR_INTERNAL, GetLastError(),
                                     "list the processes of job object %s", name);
        if (list->NumberOfAssignedProcesses > list->NumberOfProcessIdsInList) {
            capacity = list->NumberOfAssignedProcesses + 16;
            continue;
        }
        *n_pids = list->NumberOfProcessIdsInList;
        *pids = xcalloc(*n_pids + 1, sizeof(**pids));
        for (size_t i = 0; i < *n_pids; i++)
            (*pids)[i] = (int)list->ProcessIdList[i];
        return 0;
    }
}

int job_container_pids(const struct job_container *container, int **pids, size_t *n_pids,
                       struct error *err)
{
    return job_windows_pids(container->job, container->name, pids, n_pids, err);
}

/* ---- Statistics ------------------------------------------------------------------------------ */

/* PROCESS_MEMORY_COUNTERS_EX2 of Windows 10 1809, which the mingw-w64 headers lack. */
struct memory_counters_ex2 {
    PROCESS_MEMORY_COUNTERS_EX ex;
    SIZE_T private_working_set;
    ULONG64 shared_commit;
};

/*
 * Adds the memory counters of one member process. The process is checked to be in job, so a
 * pid reused since the list was read is skipped. Where the check itself fails (Wine 8 does
 * not implement it), the process is counted. The private working set needs
 * PROCESS_MEMORY_COUNTERS_EX2 (Windows 10 1809); older systems report the whole working set.
 */
static void add_process_memory(HANDLE job, DWORD pid, struct job_stats *stats)
{
    HANDLE process = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
    struct memory_counters_ex2 all = {.ex.cb = sizeof(all)};
    PROCESS_MEMORY_COUNTERS_EX *counters = &all.ex;
    BOOL in_job = FALSE;

    if (process == NULL)
        return;
    if (IsProcessInJob(process, job, &in_job) && !in_job) {
        CloseHandle(process);
        return;
    }
    if (GetProcessMemoryInfo(process, (PROCESS_MEMORY_COUNTERS *)counters, sizeof(all))) {
        /* A system that fills only the older fields leaves the private working set 0. */
        stats->memory_working_set_bytes +=
            all.private_working_set ? all.private_working_set : counters->WorkingSetSize;
    } else {
        counters->cb = sizeof(*counters);
        if (!GetProcessMemoryInfo(process, (PROCESS_MEMORY_COUNTERS *)counters,
                                  sizeof(*counters))) {
            CloseHandle(process);
            return;
        }
        stats->memory_working_set_bytes += counters->WorkingSetSize;
    }
    /* The commit charge is the usage; the whole working set includes shared pages. */
    stats->memory_usage_bytes += counters->PrivateUsage;
    stats->memory_rss_bytes += counters->WorkingSetSize;
    stats->page_faults += counters->PageFaultCount;
    CloseHandle(process);
}

int job_windows_read_stats(HANDLE job, const char *name, struct job_stats *stats, struct error *err)
{
    JOBOBJECT_BASIC_AND_IO_ACCOUNTING_INFORMATION accounting;
    _cleanup_free_ int *pids = NULL;
    size_t n_pids = 0;

    memset(stats, 0, sizeof(*stats));
    stats->timestamp_ns = time_now_ns();
    if (job == NULL)
        return 0;
    if (!QueryInformationJobObject(job, JobObjectBasicAndIoAccountingInformation, &accounting,
                                   sizeof(accounting), NULL) &&
        !QueryInformationJobObject(job, JobObjectBasicAccountingInformation, &accounting.BasicInfo,
                                   sizeof(accounting.BasicInfo), NULL))
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(),
                                 "read the accounting of job object %s", name);
    /* Cumulative, exited processes included, in 100-nanosecond units. */
    stats->cpu_usage_ns = (uint64_t)(accounting.BasicInfo.TotalUserTime.QuadPart +
                                     accounting.BasicInfo.TotalKernelTime.QuadPart) *
                          100;
    stats->has_pids = true;
    stats->pids = accounting.BasicInfo.ActiveProcesses;
    if (job_windows_pids(job, name, &pids, &n_pids, err) < 0)
        return -1;
    stats->has_memory = true;
    for (size_t i = 0; i < n_pids; i++)
        add_process_memory(job, (DWORD)pids[i], stats);
    return 0;
}

int job_container_stats(const struct job_container *container, struct job_stats *stats,
                        struct error *err)
{
    if (job_windows_read_stats(container->job, container->name, stats, err) < 0)
        return error_prefix(err, "container %s", container->id);
    return 0;
}
