/*
 * Container jobs of the job-object backend: the job object and state directory, reopening a
 * container after a daemon restart, and the requests that go to its monitor over the control
 * pipe (signal, kill, log reopen, attach). Starting is in job_windows_start.c.
 */
#include "runtime/windows/job_windows.h"

#include <stdlib.h>
#include <string.h>

#include "common/error_windows.h"
#include "common/log.h"
#include "common/text_windows.h"
#include "common/util.h"
#include "runtime/windows/winmon_files.h"
#include "runtime/windows/winmon_spec.h"
#include "runtime/windows/winuser_windows.h"

void job_exit_status_clear(struct job_exit_status *status)
{
    free(status->message);
    status->message = NULL;
}

static struct job_container *container_new(struct job_runtime *runtime, const char *id)
{
    struct job_container *container = xcalloc(1, sizeof(*container));

    container->runtime = runtime;
    container->id = xstrdup(id);
    container->dir = xasprintf("%s\\containers\\%s", runtime->state_dir, id);
    container->name = xasprintf("hostcri-%s", id);
    uv_timer_init(runtime->loop, &container->timer);
    container->timer.data = container;
    job_windows_add_container(runtime, container);
    return container;
}

/* Opens the container's job object by name, or creates it with kill-on-job-close. */
static int open_job(struct job_container *container, bool create, struct error *err)
{
    _cleanup_free_ wchar_t *name = text_windows_utf8_to_wide(container->name);
    struct job_limits none = {0};

    if (name == NULL)
        return error_set(err, ERROR_INVALID_ARGUMENT, "container id %s is not UTF-8",
                         container->id);
    if (!create) {
        container->job = OpenJobObjectW(JOB_OBJECT_ALL_ACCESS, FALSE, name);
        return 0;
    }
    container->job = CreateJobObjectW(NULL, name);
    if (container->job == NULL)
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "create job object %s",
                                 container->name);
    if (GetLastError() == WIN32_ERROR_ALREADY_EXISTS)
        return error_set(err, ERROR_ALREADY_EXISTS, "job object %s already exists",
                         container->name);
    /* Without JOB_OBJECT_LIMIT_BREAKAWAY_OK no process can leave the job. */
    return job_windows_apply_limits(container->job, container->name, &none, err);
}

int job_container_create(struct job_pod *pod, const char *container_id, struct job_container **out,
                         struct error *err)
{
    struct job_container *container;
    _cleanup_free_ char *record = NULL;

    if (str_empty(container_id))
        return error_set(err, ERROR_INVALID_ARGUMENT, "create a container job: empty id");
    container = container_new(pod->runtime, container_id);
    container->sandbox_id = xstrdup(pod->sandbox_id);
    record = winmon_path(container->dir, WINMON_SANDBOX_FILE);
    if (winmon_exists(container->dir)) {
        error_set(err, ERROR_ALREADY_EXISTS, "container %s already has state in %s", container_id,
                  container->dir);
        job_container_release(container);
        return -1;
    }
    if (winmon_make_dirs(container->dir, err) < 0 ||
        winmon_write_atomic(record, pod->sandbox_id, strlen(pod->sandbox_id), err) < 0 ||
        open_job(container, true, err) < 0) {
        winmon_delete_dir(container->dir);
        job_container_release(container);
        return error_prefix(err, "create the job of container %s", container_id);
    }
    *out = container;
    return 0;
}

/* ---- Reopen after a restart ------------------------------------------------------------------ */

static int read_sandbox(struct job_container *container, struct error *err)
{
    _cleanup_free_ char *record = winmon_path(container->dir, WINMON_SANDBOX_FILE);
    _cleanup_strbuf_ struct strbuf buf = STRBUF_INIT;

    if (winmon_read_file(record, &buf, err) < 0)
        return -1;
    container->sandbox_id = xstrdup(buf.data ? buf.data : "");
    return 0;
}

int job_container_open(struct job_runtime *runtime, const char *container_id, job_exit_cb exit_cb,
                       void *data, struct job_container **out, bool *running,
                       struct job_exit_status *exited, struct error *err)
{
    struct job_container *container = container_new(runtime, container_id);
    _cleanup_free_ char *pid_path = winmon_path(container->dir, WINMON_PID_FILE);
    _cleanup_free_ char *init_path = winmon_path(container->dir, WINMON_INIT_PID_FILE);
    _cleanup_free_ char *exit_path = NULL;
    HANDLE monitor = NULL;
    HANDLE init = NULL;
    DWORD pid = 0;

    if (read_sandbox(container, err) < 0) {
        job_container_release(container);
        return error_prefix(err, "open the job of container %s", container_id);
    }
    open_job(container, false, NULL);
    *running = false;
    memset(exited, 0, sizeof(*exited));
    exit_path = job_windows_exit_path(container);
    winmon_pid_file_open(pid_path, 0, &pid, &monitor, NULL);
    if (monitor != NULL) {
        container->exit_cb = exit_cb;
        container->data = data;
        winmon_pid_file_open(init_path, 0, &container->init_pid, &init, NULL);
        if (init != NULL)
            CloseHandle(init);
        else
            container->init_pid = 0;
        if (job_windows_watch_monitor(container, monitor, err) < 0) {
            job_container_release(container);
            return -1;
        }
        *running = true;
    } else if (!winmon_exists(pid_path) && !winmon_exists(exit_path)) {
        exited->reason = JOB_EXIT_NOT_STARTED;
        exited->message = xstrdup("the container was created but never started");
        /* The job object went with the daemon's handle: make it again for the start. */
        if (container->job == NULL && open_job(container, true, err) < 0) {
            job_container_release(container);
            return -1;
        }
    } else {
        job_windows_read_exit(container, exited);
    }
    *out = container;
    return 0;
}

/* ---- Control --------------------------------------------------------------------------------- */

int job_container_init_pid(const struct job_container *container)
{
    return (int)container->init_pid;
}

int job_container_init_user(const struct job_container *container, struct job_process_user *user,
                            struct error *err)
{
    (void)container;
    (void)user;
    return error_set(err, ERROR_UNIMPLEMENTED,
                     "Windows processes have no POSIX uid, gid or supplemental groups");
}

const char *job_container_cgroup(const struct job_container *container)
{
    return container->name;
}

/* Sends command to the monitor; an "ERR" reply becomes err with the monitor's code. */
static int control(struct job_container *container, const char *command, HANDLE *pipe,
                   struct error *err)
{
    _cleanup_free_ char *reply = NULL;

    if (winmon_control(container->id, command, pipe, &reply, err) < 0)
        return -1;
    if (winmon_reply_parse(reply, err) < 0) {
        if (pipe != NULL) {
            CloseHandle(*pipe);
            *pipe = NULL;
        }
        return -1;
    }
    return 0;
}

int job_container_signal(struct job_container *container, int signal, struct error *err)
{
    _cleanup_free_ char *command = xasprintf("signal %d", signal);

    if (container->init_pid == 0 || container->monitor == NULL)
        return error_set(err, ERROR_NOT_FOUND, "the init process of container %s is not running",
                         container->id);
    if (control(container, command, NULL, err) < 0)
        return error_prefix(err, "send signal %d to container %s", signal, container->id);
    log_info_id("container", container->id, "sent signal %d to init process %lu", signal,
                (unsigned long)container->init_pid);
    return 0;
}

int job_container_kill_all(struct job_container *container, struct error *err)
{
    _cleanup_error_ struct error control_err = ERROR_INIT;

    /* Through the monitor, so that the exit status records the kill. */
    if (container->monitor != NULL && control(container, "kill", NULL, &control_err) == 0)
        return 0;
    if (container->job != NULL && !TerminateJobObject(container->job, 1))
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "terminate job object %s",
                                 container->name);
    if (control_err.code != ERROR_OK)
        log_warn_id("container", container->id, "terminated the job without its monitor: %s",
                    control_err.message);
    log_info_id("container", container->id, "terminated every process in job object %s",
                container->name);
    return 0;
}

int job_container_reopen_log(struct job_container *container, struct error *err)
{
    if (container->monitor == NULL)
        return error_set(err, ERROR_FAILED_PRECONDITION, "container %s is not running",
                         container->id);
    if (control(container, "reopen", NULL, err) < 0)
        return error_prefix(err, "reopen the log of container %s", container->id);
    return 0;
}

int job_container_attach(struct job_container *container, uv_os_fd_t *fd, struct error *err)
{
    HANDLE pipe = NULL;

    if (container->monitor == NULL)
        return error_set(err, ERROR_FAILED_PRECONDITION, "container %s is not running",
                         container->id);
    if (control(container, "attach", &pipe, err) < 0)
        return error_prefix(err, "attach to container %s", container->id);
    *fd = pipe;
    return 0;
}

/* ---- Remove and release ---------------------------------------------------------------------- */

int job_container_remove(struct job_container *container, struct error *err)
{
    _cleanup_free_ char *user_record = winmon_path(container->dir, WINMON_USER_FILE);
    JOBOBJECT_BASIC_ACCOUNTING_INFORMATION accounting;

    if (container->job != NULL &&
        QueryInformationJobObject(container->job, JobObjectBasicAccountingInformation, &accounting,
                                  sizeof(accounting), NULL) &&
        accounting.ActiveProcesses > 0)
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "remove container %s: %lu processes still run in its job", container->id,
                         (unsigned long)accounting.ActiveProcesses);
    if (winuser_windows_delete_recorded(user_record, err) < 0)
        return error_prefix(err, "remove container %s", container->id);
    winmon_delete_dir(container->dir);
    log_info_id("container", container->id, "removed job object %s and state %s", container->name,
                container->dir);
    return 0;
}

static void container_free_cb(uv_handle_t *handle)
{
    struct job_container *container = handle->data;

    free(container->id);
    free(container->sandbox_id);
    free(container->dir);
    free(container->name);
    free(container);
}

void job_container_release(struct job_container *container)
{
    if (container == NULL)
        return;
    job_windows_remove_container(container->runtime, container);
    container->released = true;
    container->exit_cb = NULL;
    if (container->start != NULL)
        job_windows_start_cancel(steal_pointer(&container->start));
    /* Waits for a callback in progress, so nothing posts for this container afterwards. */
    if (container->monitor_wait != NULL)
        UnregisterWaitEx(container->monitor_wait, INVALID_HANDLE_VALUE);
    free(container->watch);
    if (container->monitor != NULL)
        CloseHandle(container->monitor);
    /* The monitor has its own handle of the job, so its processes keep running. */
    if (container->job != NULL)
        CloseHandle(container->job);
    uv_close((uv_handle_t *)&container->timer, container_free_cb);
}
