/*
 * Container jobs of the job-object backend: one job object per container with
 * kill-on-job-close and no breakaway, the init process started inside it, exit detection from
 * the job's completion-port messages, TerminateJobObject for kills.
 *
 * NOTE: there is no monitor process on Windows yet. The daemon starts the init process
 * itself and has the only handle of the job object, so a container does not survive the
 * daemon (kill-on-job-close ends its processes), its output is discarded instead of written
 * to the CRI log, and spec's user, rootfs and mounts are not applied.
 */
#include "runtime/windows/job_windows.h"

#include <psapi.h>
#include <stdlib.h>
#include <string.h>

#include "common/error_windows.h"
#include "common/log.h"
#include "common/text_windows.h"
#include "common/util.h"
#include "runtime/windows/process_windows.h"

void job_exit_status_clear(struct job_exit_status *status)
{
    free(status->message);
    status->message = NULL;
}

static int configure_job(struct job_container *container, struct error *err)
{
    JOBOBJECT_EXTENDED_LIMIT_INFORMATION limits = {0};
    JOBOBJECT_ASSOCIATE_COMPLETION_PORT port = {
        .CompletionKey = (PVOID)container->key,
        .CompletionPort = container->runtime->port,
    };

    /* Without JOB_OBJECT_LIMIT_BREAKAWAY_OK no process can leave the job. */
    limits.BasicLimitInformation.LimitFlags = JOB_OBJECT_LIMIT_KILL_ON_JOB_CLOSE;
    if (!SetInformationJobObject(container->job, JobObjectExtendedLimitInformation, &limits,
                                 sizeof(limits)))
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(),
                                 "set the limits of job object %s", container->name);
    if (!SetInformationJobObject(container->job, JobObjectAssociateCompletionPortInformation, &port,
                                 sizeof(port)))
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(),
                                 "attach job object %s to the completion port", container->name);
    return 0;
}

int job_container_create(struct job_pod *pod, const char *container_id, struct job_container **out,
                         struct error *err)
{
    struct job_container *container;
    _cleanup_free_ wchar_t *name = NULL;

    if (str_empty(container_id))
        return error_set(err, ERROR_INVALID_ARGUMENT, "create a container job: empty id");
    container = xcalloc(1, sizeof(*container));
    container->runtime = pod->runtime;
    container->id = xstrdup(container_id);
    container->sandbox_id = xstrdup(pod->sandbox_id);
    container->name = xasprintf("hostcri-%s", container_id);
    container->job_empty = true;
    name = text_windows_utf8_to_wide(container->name);
    container->job = name ? CreateJobObjectW(NULL, name) : NULL;
    if (container->job == NULL) {
        error_set_windows(err, ERROR_INTERNAL, name ? GetLastError() : ERROR_INVALID_NAME,
                          "create job object %s", container->name);
    } else if (GetLastError() == WIN32_ERROR_ALREADY_EXISTS) {
        error_set(err, ERROR_ALREADY_EXISTS, "job object %s already exists", container->name);
    } else if (!DuplicateHandle(GetCurrentProcess(), pod->job, GetCurrentProcess(),
                                &container->pod_job, 0, FALSE, DUPLICATE_SAME_ACCESS)) {
        error_set_windows(err, ERROR_INTERNAL, GetLastError(), "duplicate the handle of %s",
                          pod->name);
    } else {
        job_windows_add_container(pod->runtime, container);
        if (configure_job(container, err) == 0) {
            *out = container;
            return 0;
        }
        job_windows_remove_container(pod->runtime, container);
    }
    if (container->job)
        CloseHandle(container->job);
    if (container->pod_job)
        CloseHandle(container->pod_job);
    free(container->id);
    free(container->sandbox_id);
    free(container->name);
    free(container);
    return -1;
}

static void report_exit(struct job_container *container)
{
    struct job_exit_status status = {.reason = JOB_EXIT_COMPLETED};
    DWORD code = 0;
    job_exit_cb cb = container->exit_cb;

    if (container->start_cb != NULL) {
        /* The start callback has not run yet: the exit follows it. */
        container->exit_deferred = true;
        return;
    }
    if (cb == NULL)
        return;
    container->exit_cb = NULL;
    GetExitCodeProcess(container->init_process, &code);
    status.exit_code = (int)code;
    if (container->killed_signal != 0 && status.exit_code == 128 + container->killed_signal)
        status.signal = container->killed_signal;
    status.started_at_ns = container->started_at_ns;
    status.finished_at_ns = time_now_ns();
    log_info_id("container", container->id, "init process %lu exited with code %d",
                (unsigned long)container->init_pid, status.exit_code);
    cb(container, &status, container->exit_data);
}

static void leftover_timer_cb(uv_timer_t *timer)
{
    struct job_container *container = timer->data;

    if (container->job_empty)
        return;
    log_warn_id("container", container->id,
                "processes still run %d ms after the init process exited: terminating the job",
                container->runtime->leftover_grace_ms);
    TerminateJobObject(container->job, JOB_WINDOWS_KILL_EXIT_CODE);
}

static void init_exited(struct job_container *container)
{
    container->init_exited = true;
    if (container->job_empty) {
        report_exit(container);
        return;
    }
    if (!container->leftover_timer_open) {
        uv_timer_init(container->runtime->loop, &container->leftover_timer);
        container->leftover_timer.data = container;
        container->leftover_timer_open = true;
        container->open_handles++;
    }
    uv_timer_start(&container->leftover_timer, leftover_timer_cb,
                   (uint64_t)container->runtime->leftover_grace_ms, 0);
}

void job_windows_container_message(struct job_container *container,
                                   const struct job_windows_message *message)
{
    switch (message->message) {
    case JOB_OBJECT_MSG_NEW_PROCESS:
        container->job_empty = false;
        break;
    case JOB_OBJECT_MSG_EXIT_PROCESS:
    case JOB_OBJECT_MSG_ABNORMAL_EXIT_PROCESS:
        if (message->pid == container->init_pid && !container->init_exited)
            init_exited(container);
        break;
    case JOB_OBJECT_MSG_ACTIVE_PROCESS_ZERO:
        container->job_empty = true;
        if (container->leftover_timer_open)
            uv_timer_stop(&container->leftover_timer);
        /* The init process's own exit message may come after this one. */
        if (!container->init_exited && container->init_process &&
            WaitForSingleObject(container->init_process, 0) == WAIT_OBJECT_0)
            container->init_exited = true;
        if (container->init_exited)
            report_exit(container);
        break;
    default:
        break;
    }
}

static void start_timer_cb(uv_timer_t *timer)
{
    struct job_container *container = timer->data;
    job_start_cb cb = container->start_cb;

    container->start_cb = NULL;
    container->exit_cb = container->pending_exit_cb;
    container->pending_exit_cb = NULL;
    cb(container, (int)container->init_pid, NULL, container->exit_data);
    /* The callback may have released the container, whose memory lives until the timer closes. */
    if (!container->released && container->exit_deferred) {
        container->exit_deferred = false;
        report_exit(container);
    }
}

int job_container_start(struct job_container *container, const struct job_container_spec *spec,
                        job_start_cb start_cb, job_exit_cb exit_cb, void *data, struct error *err)
{
    struct process_windows_spec process = {
        .argv = spec->argv,
        .env = spec->env,
        .working_dir = spec->working_dir,
        .job = container->job,
        .parent_job = container->pod_job,
    };

    if (container->init_process != NULL)
        return error_set(err, ERROR_FAILED_PRECONDITION, "container %s was already started",
                         container->id);
    if (process_windows_start(&process, &container->init_process, &container->init_pid, err) < 0)
        return error_prefix(err, "start container %s", container->id);
    container->started_at_ns = time_now_ns();
    container->job_empty = false;
    container->start_cb = start_cb;
    container->pending_exit_cb = exit_cb;
    container->exit_data = data;
    if (!container->start_timer_open) {
        uv_timer_init(container->runtime->loop, &container->start_timer);
        container->start_timer.data = container;
        container->start_timer_open = true;
        container->open_handles++;
    }
    uv_timer_start(&container->start_timer, start_timer_cb, 0, 0);
    log_info_id("container", container->id, "started init process %lu in job object %s",
                (unsigned long)container->init_pid, container->name);
    return 0;
}

int job_container_open(struct job_runtime *runtime, const char *container_id, job_exit_cb exit_cb,
                       void *data, struct job_container **out, bool *running,
                       struct job_exit_status *exited, struct error *err)
{
    (void)runtime;
    (void)exit_cb;
    (void)data;
    (void)out;
    (void)running;
    (void)exited;
    return error_set(err, ERROR_NOT_FOUND,
                     "container %s not found: Windows containers are not recorded yet",
                     container_id);
}

int job_container_init_pid(const struct job_container *container)
{
    if (container->init_process == NULL || container->init_exited)
        return 0;
    return (int)container->init_pid;
}

const char *job_container_cgroup(const struct job_container *container)
{
    return container->name;
}

int job_container_signal(struct job_container *container, int signal, struct error *err)
{
    if (container->init_process == NULL || container->init_exited ||
        WaitForSingleObject(container->init_process, 0) == WAIT_OBJECT_0)
        return error_set(err, ERROR_NOT_FOUND, "container %s: the init process has exited",
                         container->id);
    /* TODO: deliver SIGTERM as CTRL_BREAK_EVENT once processes get a console. */
    container->killed_signal = signal;
    if (!TerminateProcess(container->init_process, (UINT)(128 + signal)))
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(),
                                 "terminate the init process of container %s", container->id);
    return 0;
}

int job_container_kill_all(struct job_container *container, struct error *err)
{
    if (container->killed_signal == 0)
        container->killed_signal = JOB_WINDOWS_KILL_EXIT_CODE - 128;
    if (!TerminateJobObject(container->job, JOB_WINDOWS_KILL_EXIT_CODE))
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "terminate job object %s",
                                 container->name);
    return 0;
}

int job_container_attach(struct job_container *container, uv_os_fd_t *fd, struct error *err)
{
    (void)fd;
    return error_set(err, ERROR_UNIMPLEMENTED,
                     "container %s: attach needs the monitor, which is not ported to Windows yet",
                     container->id);
}

int job_container_reopen_log(struct job_container *container, struct error *err)
{
    return error_set(err, ERROR_UNIMPLEMENTED,
                     "container %s: CRI logs are not written on Windows yet", container->id);
}

/*
 * Adds up the memory counters of the job's processes. A process that exits meanwhile is
 * skipped, so the sum is a snapshot.
 */
static void add_memory_stats(const struct job_container *container, struct job_stats *stats)
{
    _cleanup_free_ int *pids = NULL;
    size_t n_pids = 0;

    if (job_container_pids(container, &pids, &n_pids, NULL) < 0)
        return;
    stats->has_memory = true;
    for (size_t i = 0; i < n_pids; i++) {
        HANDLE process = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)pids[i]);
        PROCESS_MEMORY_COUNTERS_EX counters = {.cb = sizeof(counters)};

        if (process == NULL)
            continue;
        if (GetProcessMemoryInfo(process, (PROCESS_MEMORY_COUNTERS *)&counters, sizeof(counters))) {
            /* Commit charge is the usage; the working set includes shared pages. */
            stats->memory_usage_bytes += counters.PrivateUsage;
            stats->memory_working_set_bytes += counters.WorkingSetSize;
            stats->memory_rss_bytes += counters.WorkingSetSize;
            stats->page_faults += counters.PageFaultCount;
        }
        CloseHandle(process);
    }
}

int job_container_stats(const struct job_container *container, struct job_stats *stats,
                        struct error *err)
{
    JOBOBJECT_BASIC_ACCOUNTING_INFORMATION accounting;

    memset(stats, 0, sizeof(*stats));
    if (!QueryInformationJobObject(container->job, JobObjectBasicAccountingInformation, &accounting,
                                   sizeof(accounting), NULL))
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(),
                                 "read the accounting of job object %s", container->name);
    stats->timestamp_ns = time_now_ns();
    /* The job's times are in 100-nanosecond units. */
    stats->cpu_usage_ns =
        (uint64_t)(accounting.TotalUserTime.QuadPart + accounting.TotalKernelTime.QuadPart) * 100;
    stats->has_pids = true;
    stats->pids = accounting.ActiveProcesses;
    add_memory_stats(container, stats);
    return 0;
}

int job_container_update(struct job_container *container, const struct job_resources *resources,
                         struct error *err)
{
    (void)resources;
    return error_set(err, ERROR_UNIMPLEMENTED,
                     "container %s: resource limits are not applied on Windows yet", container->id);
}

int job_container_pids(const struct job_container *container, int **pids, size_t *n_pids,
                       struct error *err)
{
    DWORD capacity = 64;

    for (;;) {
        size_t size = sizeof(JOBOBJECT_BASIC_PROCESS_ID_LIST) + capacity * sizeof(ULONG_PTR);
        _cleanup_free_ JOBOBJECT_BASIC_PROCESS_ID_LIST *list = xcalloc(1, size);

        if (!QueryInformationJobObject(container->job, JobObjectBasicProcessIdList, list,
                                       (DWORD)size, NULL) &&
            GetLastError() != ERROR_MORE_DATA)
            return error_set_windows(err, ERROR_INTERNAL, GetLastError(),
                                     "list the processes of job object %s", container->name);
        if (list->NumberOfAssignedProcesses > list->NumberOfProcessIdsInList) {
            capacity = list->NumberOfAssignedProcesses + 16;
            continue;
        }
        *n_pids = list->NumberOfProcessIdsInList;
        *pids = xcalloc(*n_pids, sizeof(**pids));
        for (size_t i = 0; i < *n_pids; i++)
            (*pids)[i] = (int)list->ProcessIdList[i];
        return 0;
    }
}

int job_container_remove(struct job_container *container, struct error *err)
{
    JOBOBJECT_BASIC_ACCOUNTING_INFORMATION accounting;

    if (QueryInformationJobObject(container->job, JobObjectBasicAccountingInformation, &accounting,
                                  sizeof(accounting), NULL) &&
        accounting.ActiveProcesses > 0)
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "remove container %s: %lu processes still run in its job", container->id,
                         (unsigned long)accounting.ActiveProcesses);
    return 0;
}

static void container_free_cb(uv_handle_t *handle)
{
    struct job_container *container = handle->data;

    if (--container->open_handles == 0)
        free(container);
}

void job_container_release(struct job_container *container)
{
    if (container == NULL)
        return;
    job_windows_remove_container(container->runtime, container);
    /* Kill-on-job-close: closing the last handle ends the processes still in the job. */
    CloseHandle(container->job);
    CloseHandle(container->pod_job);
    if (container->init_process)
        CloseHandle(container->init_process);
    free(container->id);
    free(container->sandbox_id);
    free(container->name);
    container->released = true;
    container->start_cb = NULL;
    container->exit_cb = NULL;
    if (container->open_handles == 0) {
        free(container);
        return;
    }
    if (container->leftover_timer_open)
        uv_close((uv_handle_t *)&container->leftover_timer, container_free_cb);
    if (container->start_timer_open)
        uv_close((uv_handle_t *)&container->start_timer, container_free_cb);
}

/* ---- Exec ----------------------------------------------------------------------------------- */

int job_exec_start(struct job_container *container, const struct job_exec_spec *spec,
                   job_exec_exit_cb exit_cb, void *data, struct job_exec **out,
                   struct job_exec_io *io, struct error *err)
{
    (void)spec;
    (void)exit_cb;
    (void)data;
    (void)out;
    (void)io;
    return error_set(err, ERROR_UNIMPLEMENTED, "container %s: exec is not ported to Windows yet",
                     container->id);
}

int job_exec_pid(const struct job_exec *exec)
{
    (void)exec;
    return 0;
}

int job_exec_signal(struct job_exec *exec, int signal, struct error *err)
{
    (void)exec;
    (void)signal;
    return error_set(err, ERROR_UNIMPLEMENTED, "exec is not ported to Windows yet");
}

int job_exec_resize(struct job_exec *exec, uint16_t rows, uint16_t cols, struct error *err)
{
    (void)exec;
    (void)rows;
    (void)cols;
    return error_set(err, ERROR_UNIMPLEMENTED, "exec is not ported to Windows yet");
}

void job_exec_release(struct job_exec *exec)
{
    (void)exec;
}
