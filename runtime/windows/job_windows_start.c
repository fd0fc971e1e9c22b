/*
 * Starting a container without blocking the loop: the daemon writes the spec, applies the
 * limits and starts hostcri-monitor.exe with the write end of a report pipe. A thread reads
 * the one-line report and posts it to the runtime's port, and the loop runs the start
 * callback. Then a wait registered on the monitor process posts its end, and the loop reads
 * the exit file and runs the exit callback.
 */
#include "runtime/windows/job_windows.h"

#include <stdlib.h>
#include <string.h>

#include "common/error_windows.h"
#include "common/log.h"
#include "common/text_windows.h"
#include "common/util.h"
#include "runtime/monitor_format.h"
#include "runtime/windows/process_windows.h"
#include "runtime/windows/winmon_files.h"
#include "runtime/windows/winmon_spec.h"

/* Logging on and creating a process take milliseconds, so this only bounds a stuck monitor. */
#define START_REPORT_TIMEOUT_MS 60000
#define REPORT_MAX 4096

/* Shared by the container (until it finishes or is cancelled) and the report thread. */
struct job_windows_start {
    LONG references;
    /* The runtime's port. NOTE: a thread still blocked on a hung monitor when the runtime is
     * freed posts to a closed handle. That fails harmlessly unless the value was reused. */
    HANDLE port;
    uintptr_t key;
    HANDLE report; /* read end of the report pipe */
    HANDLE monitor;
    HANDLE thread;
    job_start_cb start_cb;
    job_exit_cb exit_cb;
    void *data;
    size_t length;
    char line[REPORT_MAX];
};

static void start_unref(struct job_windows_start *start)
{
    if (InterlockedDecrement(&start->references) > 0)
        return;
    if (start->report)
        CloseHandle(start->report);
    if (start->monitor)
        CloseHandle(start->monitor);
    if (start->thread)
        CloseHandle(start->thread);
    free(start);
}

/* Reads the report up to its newline or the end of the pipe, then posts it. */
static DWORD WINAPI report_thread_main(LPVOID parameter)
{
    struct job_windows_start *start = parameter;

    while (start->length < REPORT_MAX - 1) {
        DWORD n = 0;

        if (!ReadFile(start->report, start->line + start->length,
                      (DWORD)(REPORT_MAX - 1 - start->length), &n, NULL) ||
            n == 0)
            break;
        start->length += n;
        if (memchr(start->line, '\n', start->length) != NULL)
            break;
    }
    start->line[start->length] = '\0';
    job_windows_post(start->port, start->key, JOB_WINDOWS_MSG_REPORT);
    start_unref(start);
    return 0;
}

/* ---- Finishing ------------------------------------------------------------------------------- */

/* Ends the start with its report, or with err, and runs the start callback. */
static void finish(struct job_container *container, struct error *err)
{
    struct job_windows_start *start = container->start;
    _cleanup_error_ struct error report_err = ERROR_INIT;
    uint32_t pid = 0;

    container->start = NULL;
    uv_timer_stop(&container->timer);
    if (err == NULL && winmon_report_parse(start->line, &pid, &report_err) == 0) {
        HANDLE monitor = steal_pointer(&start->monitor);

        container->exit_cb = start->exit_cb;
        container->data = start->data;
        container->init_pid = pid;
        if (job_windows_watch_monitor(container, monitor, &report_err) < 0) {
            container->exit_cb = NULL;
            container->init_pid = 0;
            pid = 0;
        } else {
            log_info_id("container", container->id, "started init process %lu in job object %s",
                        (unsigned long)pid, container->name);
        }
    } else if (err == NULL && start->length == 0) {
        error_set(&report_err, ERROR_INTERNAL,
                  "the monitor of container %s exited without a start report; see %s\\%s",
                  container->id, container->dir, WINMON_LOG_FILE);
    }
    if (err == NULL && report_err.code != ERROR_OK)
        err = &report_err;
    start->start_cb(container, err ? 0 : (int)pid, err, start->data);
    start_unref(start);
}

static void report_timeout_cb(uv_timer_t *timer)
{
    struct job_container *container = timer->data;
    struct error err = ERROR_INIT;

    if (container->start == NULL)
        return;
    error_set(&err, ERROR_DEADLINE_EXCEEDED,
              "the monitor of container %s sent no start report within %d s", container->id,
              START_REPORT_TIMEOUT_MS / 1000);
    finish(container, &err);
    error_clear(&err);
}

void job_windows_start_cancel(struct job_windows_start *start)
{
    start_unref(start);
}

/* ---- Exit ------------------------------------------------------------------------------------ */

int job_windows_read_spec(const struct job_container *container, struct winmon_spec *spec,
                          struct error *err)
{
    _cleanup_free_ char *spec_path = winmon_path(container->dir, WINMON_SPEC_FILE);
    _cleanup_strbuf_ struct strbuf buf = STRBUF_INIT;

    memset(spec, 0, sizeof(*spec));
    if (winmon_read_file(spec_path, &buf, err) < 0)
        return -1;
    return winmon_spec_decode(buf.data ? buf.data : "", buf.length, spec, err);
}

char *job_windows_exit_path(const struct job_container *container)
{
    struct winmon_spec spec = {0};
    char *path = NULL;

    if (job_windows_read_spec(container, &spec, NULL) == 0)
        path = steal_pointer(&spec.exit_file);
    winmon_spec_clear(&spec);
    return path ? path : winmon_path(container->dir, WINMON_EXIT_FILE);
}

void job_windows_read_exit(const struct job_container *container, struct job_exit_status *status)
{
    _cleanup_free_ char *path = job_windows_exit_path(container);
    struct error err = ERROR_INIT;

    if (winmon_exit_file_read(path, status, &err) == 0)
        return;
    monitor_format_exit_missing(status, container->id, err.message);
    error_clear(&err);
}

static void deliver_exit(struct job_container *container)
{
    struct job_exit_status status;
    job_exit_cb callback = container->exit_cb;

    container->exit_cb = NULL;
    container->init_pid = 0;
    if (container->monitor_wait != NULL)
        UnregisterWaitEx(steal_pointer(&container->monitor_wait), INVALID_HANDLE_VALUE);
    if (container->monitor != NULL)
        CloseHandle(steal_pointer(&container->monitor));
    if (callback == NULL)
        return;
    job_windows_read_exit(container, &status);
    log_info_id("container", container->id, "exited with code %d", status.exit_code);
    callback(container, &status, container->data);
    job_exit_status_clear(&status);
}

static VOID CALLBACK monitor_ended_cb(PVOID parameter, BOOLEAN timed_out)
{
    struct job_windows_watch *watch = parameter;

    (void)timed_out;
    job_windows_post(watch->port, watch->key, JOB_WINDOWS_MSG_MONITOR_EXITED);
}

int job_windows_watch_monitor(struct job_container *container, HANDLE monitor, struct error *err)
{
    container->monitor = monitor;
    container->watch = xcalloc(1, sizeof(*container->watch));
    container->watch->port = container->runtime->port;
    container->watch->key = container->key;
    if (!RegisterWaitForSingleObject(&container->monitor_wait, monitor, monitor_ended_cb,
                                     container->watch, INFINITE,
                                     WT_EXECUTEONLYONCE | WT_EXECUTEINWAITTHREAD))
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(),
                                 "wait for the monitor of container %s", container->id);
    return 0;
}

void job_windows_container_message(struct job_container *container,
                                   const struct job_windows_message *message)
{
    if (message->message == JOB_WINDOWS_MSG_REPORT && container->start != NULL)
        finish(container, NULL);
    else if (message->message == JOB_WINDOWS_MSG_MONITOR_EXITED)
        deliver_exit(container);
}

/* ---- Start ----------------------------------------------------------------------------------- */

static int write_spec(const struct job_container *container, const struct job_container_spec *spec,
                      struct error *err)
{
    _cleanup_free_ char *path = winmon_path(container->dir, WINMON_SPEC_FILE);
    _cleanup_free_ char *pod_job = job_windows_pod_job_name(container->sandbox_id);
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    struct winmon_spec monitor_spec = {
        .id = container->id,
        .job_name = container->name,
        .pod_job_name = pod_job,
        .argv = (char **)spec->argv,
        .env = (char **)spec->env,
        .cwd = (char *)spec->working_dir,
        .username = (char *)(str_empty(spec->user.username) ? NULL : spec->user.username),
        .log_path = (char *)spec->log_path,
        .exit_file = (char *)spec->exit_file,
        .grace_ms = container->runtime->grace_ms,
        .tty = spec->tty,
        .stdin_open = spec->stdin_open,
        .stdin_once = spec->stdin_once,
    };

    winmon_spec_encode(&monitor_spec, &out);
    return winmon_write_atomic(path, out.data ? out.data : "", out.length, err);
}

/* Starts the monitor detached: a process group and a console of its own (no window), outside
 * the daemon's job where that is allowed, inheriting only the report pipe's write end. */
static int spawn_monitor(struct job_container *container, HANDLE report_write, HANDLE *monitor,
                         struct error *err)
{
    struct job_runtime *runtime = container->runtime;
    _cleanup_free_ char *handle_text =
        xasprintf("%llu", (unsigned long long)(uintptr_t)report_write);
    const char *argv[] = {runtime->monitor_path, container->dir, handle_text, NULL};
    _cleanup_free_ wchar_t *command_line = process_windows_command_line(argv);
    _cleanup_free_ wchar_t *program = text_windows_utf8_to_wide(runtime->monitor_path);
    STARTUPINFOEXW startup = {.StartupInfo.cb = sizeof(startup)};
    PROCESS_INFORMATION info;
    SIZE_T size = 0;
    DWORD flags = EXTENDED_STARTUPINFO_PRESENT | CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW;
    BOOL created;

    if (command_line == NULL || program == NULL)
        return error_set(err, ERROR_INVALID_ARGUMENT, "monitor path %s is not UTF-8",
                         runtime->monitor_path);
    InitializeProcThreadAttributeList(NULL, 1, 0, &size);
    startup.lpAttributeList = xmalloc(size);
    InitializeProcThreadAttributeList(startup.lpAttributeList, 1, 0, &size);
    UpdateProcThreadAttribute(startup.lpAttributeList, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST,
                              &report_write, sizeof(report_write), NULL, NULL);
    created =
        CreateProcessW(program, command_line, NULL, NULL, TRUE, flags | CREATE_BREAKAWAY_FROM_JOB,
                       NULL, NULL, &startup.StartupInfo, &info);
    /* A daemon in a job that forbids breakaway keeps its monitors in that job. */
    if (!created && GetLastError() == ERROR_ACCESS_DENIED)
        created = CreateProcessW(program, command_line, NULL, NULL, TRUE, flags, NULL, NULL,
                                 &startup.StartupInfo, &info);
    DeleteProcThreadAttributeList(startup.lpAttributeList);
    free(startup.lpAttributeList);
    if (!created)
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "run the monitor %s",
                                 runtime->monitor_path);
    CloseHandle(info.hThread);
    *monitor = info.hProcess;
    return 0;
}

static int apply_resources(struct job_container *container, const struct job_resources *resources,
                           struct error *err)
{
    struct job_limits limits;

    if (job_limits_from_resources(resources, container->runtime->host_cpus, &limits, err) < 0)
        return -1;
    return job_windows_apply_limits(container->job, container->name, &limits, err);
}

/* Runs the monitor with a report pipe and a thread that reads it. */
static int launch(struct job_container *container, struct job_windows_start *start,
                  struct error *err)
{
    SECURITY_ATTRIBUTES inheritable = {.nLength = sizeof(inheritable), .bInheritHandle = TRUE};
    HANDLE report_write = NULL;
    int rc;

    if (!CreatePipe(&start->report, &report_write, &inheritable, 0))
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(),
                                 "create the start report pipe");
    SetHandleInformation(start->report, HANDLE_FLAG_INHERIT, 0);
    rc = spawn_monitor(container, report_write, &start->monitor, err);
    /* Only the monitor keeps the write end, so the read ends when the monitor is gone. */
    CloseHandle(report_write);
    if (rc < 0)
        return -1;
    InterlockedIncrement(&start->references);
    start->thread = CreateThread(NULL, 0, report_thread_main, start, 0, NULL);
    if (start->thread == NULL) {
        InterlockedDecrement(&start->references);
        TerminateProcess(start->monitor, 1);
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "start the report thread");
    }
    return 0;
}

int job_container_start(struct job_container *container, const struct job_container_spec *spec,
                        job_start_cb start_cb, job_exit_cb exit_cb, void *data, struct error *err)
{
    struct job_windows_start *start;
    _cleanup_free_ char *exit_path = NULL;

    if (container->start != NULL || container->exit_cb != NULL || container->monitor != NULL)
        return error_set(err, ERROR_FAILED_PRECONDITION, "container %s is already %s",
                         container->id, container->start ? "starting" : "running");
    if (spec->argv == NULL || spec->argv[0] == NULL)
        return error_set(err, ERROR_INVALID_ARGUMENT, "start container %s: empty command",
                         container->id);
    if (container->job == NULL)
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "start container %s: its job object is gone", container->id);
    if (apply_resources(container, &spec->resources, err) < 0 ||
        write_spec(container, spec, err) < 0)
        return error_prefix(err, "start container %s", container->id);
    exit_path = job_windows_exit_path(container);
    winmon_delete(exit_path);

    start = xcalloc(1, sizeof(*start));
    start->references = 1;
    start->key = container->key;
    start->start_cb = start_cb;
    start->exit_cb = exit_cb;
    start->data = data;
    start->port = container->runtime->port;
    if (launch(container, start, err) < 0) {
        start_unref(start);
        return error_prefix(err, "start container %s", container->id);
    }
    container->start = start;
    uv_timer_start(&container->timer, report_timeout_cb, START_REPORT_TIMEOUT_MS, 0);
    return 0;
}
