/* The event loop of hostcri-monitor.exe: one completion port for the job, output and control. */
#include "runtime/windows/monitor_windows.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sddl.h>

#include "common/error_windows.h"
#include "common/log.h"
#include "common/text_windows.h"
#include "common/util.h"
#include "runtime/windows/winmon_files.h"

#define DEFAULT_GRACE_MS 5000
/* How long output may keep flowing after the job is empty (a writer outside the job). */
#define DRAIN_MS 1000
#define POLL_MS 100
/* The exit code of processes ended by a kill or by the end of the grace period, as the
 * reference runtime gives them. */
#define TERMINATE_EXIT_CODE 1
#define SIGKILL_NUMBER 9
#define SIGINT_NUMBER 2
#define SIGTERM_NUMBER 15
/* Administrators and SYSTEM, and the pipe's owner (the monitor runs as the daemon's user). */
#define CONTROL_PIPE_SDDL L"D:P(A;;GA;;;SY)(A;;GA;;;BA)(A;;GA;;;OW)"

/* ---- Output ---------------------------------------------------------------------------------- */

static void close_stream(struct monitor *monitor, struct monitor_stream *stream)
{
    crilog_end_stream(&monitor->log, stream->stream, time_now_ns());
    CloseHandle(stream->pipe);
    stream->pipe = NULL;
}

void monitor_stream_read(struct monitor *monitor, struct monitor_stream *stream)
{
    if (stream->pipe == NULL)
        return;
    memset(&stream->overlapped, 0, sizeof(stream->overlapped));
    /* A completion is queued to the port both when this finishes at once and when it pends. */
    if (!ReadFile(stream->pipe, stream->buffer, sizeof(stream->buffer), NULL,
                  &stream->overlapped) &&
        GetLastError() != ERROR_IO_PENDING)
        close_stream(monitor, stream);
}

static void stream_done(struct monitor *monitor, struct monitor_stream *stream, BOOL ok,
                        DWORD bytes)
{
    if (!ok || bytes == 0) {
        close_stream(monitor, stream);
        return;
    }
    crilog_append(&monitor->log, stream->stream, stream->buffer, bytes, time_now_ns());
    monitor_attach_send(monitor, stream->stream, stream->buffer, bytes);
    monitor_stream_read(monitor, stream);
}

static int reopen_log(struct monitor *monitor, struct error *err)
{
    int fd;

    if (monitor->log.path == NULL)
        return 0;
    crilog_flush(&monitor->log, NULL);
    fd = winmon_open_log(monitor->log.path, err);
    if (fd < 0)
        return -1;
    if (monitor->log.fd >= 0)
        close(monitor->log.fd);
    monitor->log.fd = fd;
    log_info("container %s: reopened log %s", monitor->spec.id, monitor->log.path);
    return 0;
}

/* ---- Stop ------------------------------------------------------------------------------------ */

/* The user32 functions for WM_CLOSE, loaded at the first stop so that the monitor does not
 * map user32 (and its per-process window state) while the container just runs. */
struct user32_api {
    BOOL(WINAPI *enum_windows)(WNDENUMPROC, LPARAM);
    DWORD(WINAPI *get_window_thread_process_id)(HWND, LPDWORD);
    BOOL(WINAPI *post_message)(HWND, UINT, WPARAM, LPARAM);
};

struct window_search {
    const struct user32_api *user32;
    HANDLE job;
    int closed;
};

static BOOL CALLBACK close_window_cb(HWND window, LPARAM parameter)
{
    struct window_search *search = (struct window_search *)parameter;
    DWORD pid = 0;
    HANDLE process;
    BOOL in_job = FALSE;

    search->user32->get_window_thread_process_id(window, &pid);
    process = OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, pid);
    if (process == NULL)
        return TRUE;
    if (IsProcessInJob(process, search->job, &in_job) && in_job &&
        search->user32->post_message(window, WM_CLOSE, 0, 0))
        search->closed++;
    CloseHandle(process);
    return TRUE;
}

#define LOAD_USER32(module, name) ((void *)(void (*)(void))GetProcAddress(module, name))

/* Posts WM_CLOSE to the top-level windows of the job's processes; returns how many. */
static int close_windows(struct monitor *monitor)
{
    static struct user32_api user32;
    struct window_search search = {.user32 = &user32, .job = monitor->job};

    if (user32.enum_windows == NULL) {
        HMODULE module = LoadLibraryW(L"user32.dll");

        if (module == NULL)
            return 0;
        user32.get_window_thread_process_id = LOAD_USER32(module, "GetWindowThreadProcessId");
        user32.post_message = LOAD_USER32(module, "PostMessageW");
        if (user32.get_window_thread_process_id == NULL || user32.post_message == NULL)
            return 0;
        user32.enum_windows = LOAD_USER32(module, "EnumWindows");
        if (user32.enum_windows == NULL)
            return 0;
    }
    user32.enum_windows(close_window_cb, (LPARAM)&search);
    return search.closed;
}

int monitor_send_stop(struct monitor *monitor, struct error *err)
{
    /* The init process leads a process group of its own on the monitor's console, or with a
     * tty reads a pseudo console, where Ctrl-C on the input raises CTRL_C_EVENT. */
    BOOL sent = monitor->pseudo_console == NULL &&
                GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, monitor->init_pid);
    DWORD error = GetLastError();
    int windows = close_windows(monitor);

    if (monitor->pseudo_console != NULL && monitor->stdin_pipe != NULL) {
        monitor_write_stdin(monitor, "\x03", 1);
        sent = TRUE;
    }

    log_info("container %s: sent a stop request (CTRL_BREAK_EVENT %s, WM_CLOSE to %d windows)",
             monitor->spec.id, sent ? "delivered" : "failed", windows);
    if (!sent && windows == 0)
        return error_set_windows(err, ERROR_INTERNAL, error,
                                 "send CTRL_BREAK_EVENT to process group %lu",
                                 (unsigned long)monitor->init_pid);
    return 0;
}

static int kill_job(struct monitor *monitor, struct error *err)
{
    monitor->killed_signal = SIGKILL_NUMBER;
    if (!TerminateJobObject(monitor->job, TERMINATE_EXIT_CODE))
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "terminate job object %s",
                                 monitor->spec.job_name);
    log_info("container %s: terminated every process of the job", monitor->spec.id);
    return 0;
}

static int send_signal(struct monitor *monitor, int signal, struct error *err)
{
    if (monitor->init_exited)
        return error_set(err, ERROR_NOT_FOUND, "the init process of container %s has exited",
                         monitor->spec.id);
    if (signal == SIGKILL_NUMBER) {
        monitor->killed_signal = SIGKILL_NUMBER;
        if (!TerminateProcess(monitor->init_process, TERMINATE_EXIT_CODE))
            return error_set_windows(err, ERROR_INTERNAL, GetLastError(),
                                     "terminate init process %lu",
                                     (unsigned long)monitor->init_pid);
        return 0;
    }
    if (signal == SIGTERM_NUMBER || signal == SIGINT_NUMBER)
        return monitor_send_stop(monitor, err);
    return error_set(err, ERROR_FAILED_PRECONDITION,
                     "invalid signal %d for a Windows container: only SIGTERM (15), SIGINT (2) and "
                     "SIGKILL (9) exist",
                     signal);
}

/* ---- Control pipe ---------------------------------------------------------------------------- */

static void control_accept(struct monitor *monitor);

static void control_reply(struct monitor *monitor, const char *line)
{
    struct monitor_control *control = &monitor->control;
    /* The low bit of hEvent keeps this write's completion off the port: it is waited for here. */
    OVERLAPPED overlapped = {.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL)};
    DWORD written = 0;

    if (overlapped.hEvent == NULL)
        return;
    overlapped.hEvent = (HANDLE)((uintptr_t)overlapped.hEvent | 1);
    if (WriteFile(control->pipe, line, (DWORD)strlen(line), NULL, &overlapped) ||
        GetLastError() == ERROR_IO_PENDING)
        GetOverlappedResult(control->pipe, &overlapped, &written, TRUE);
    CloseHandle((HANDLE)((uintptr_t)overlapped.hEvent & ~(uintptr_t)1));
}

/* Hands the connected control client over to attach after replying "OK". Returns 0, or -1
 * with err set when every attach slot is taken. */
static int start_attach(struct monitor *monitor, struct error *err)
{
    struct monitor_control *control = &monitor->control;

    if (monitor_attach_add(monitor, control->pipe) < 0)
        return error_set(err, ERROR_RESOURCE_EXHAUSTED,
                         "container %s already has %d attach clients", monitor->spec.id,
                         MONITOR_MAX_ATTACH);
    control_reply(monitor, "OK\n");
    for (size_t i = 0; i < MONITOR_MAX_ATTACH; i++) {
        if (monitor->clients[i].pipe == control->pipe)
            monitor_attach_read(monitor, &monitor->clients[i]);
    }
    /* The connection is the client's now: a new instance takes the next control client. */
    control->pipe = NULL;
    control->connected = false;
    monitor_control_listen(monitor);
    return 0;
}

/* Duplicates the container's logon token into process pid (the daemon, for an exec) and
 * formats the reply "OK <handle>", with 0 when the container runs as the monitor's user. */
static int send_token(struct monitor *monitor, unsigned long pid, char **reply, struct error *err)
{
    HANDLE target;
    HANDLE copy = NULL;

    if (monitor->logon.token == NULL) {
        *reply = xstrdup("OK 0\n");
        return 0;
    }
    target = OpenProcess(PROCESS_DUP_HANDLE, FALSE, (DWORD)pid);
    if (target == NULL)
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "open process %lu", pid);
    if (!DuplicateHandle(GetCurrentProcess(), monitor->logon.token, target, &copy, 0, FALSE,
                         DUPLICATE_SAME_ACCESS)) {
        DWORD error = GetLastError();

        CloseHandle(target);
        return error_set_windows(err, ERROR_INTERNAL, error,
                                 "duplicate the container's token into process %lu", pid);
    }
    CloseHandle(target);
    *reply = xasprintf("OK %llu\n", (unsigned long long)(uintptr_t)copy);
    return 0;
}

/* Runs one command and replies. Returns true when the connection became an attach client. */
static bool control_command(struct monitor *monitor, const char *command)
{
    struct error err = ERROR_INIT;
    _cleanup_free_ char *reply = NULL;
    int signal = 0;
    unsigned long pid = 0;
    int rc;

    if (strcmp(command, "attach") == 0) {
        if (start_attach(monitor, &err) == 0)
            return true;
        rc = -1;
    } else if (sscanf(command, "signal %d", &signal) == 1)
        rc = send_signal(monitor, signal, &err);
    else if (strcmp(command, "kill") == 0)
        rc = kill_job(monitor, &err);
    else if (strcmp(command, "reopen") == 0)
        rc = reopen_log(monitor, &err);
    else if (sscanf(command, "token %lu", &pid) == 1)
        rc = send_token(monitor, pid, &reply, &err);
    else
        rc = error_set(&err, ERROR_INVALID_ARGUMENT, "unknown monitor command \"%.40s\"", command);
    if (rc < 0)
        log_warn("container %s: command \"%s\" failed: %s", monitor->spec.id, command, err.message);
    if (rc < 0) {
        free(reply);
        reply = winmon_error_line(&err);
    } else if (reply == NULL) {
        reply = xstrdup("OK\n");
    }
    control_reply(monitor, reply);
    error_clear(&err);
    return false;
}

static void control_read(struct monitor *monitor)
{
    struct monitor_control *control = &monitor->control;

    memset(&control->overlapped, 0, sizeof(control->overlapped));
    if (!ReadFile(control->pipe, control->line + control->length,
                  (DWORD)(sizeof(control->line) - 1 - control->length), NULL,
                  &control->overlapped) &&
        GetLastError() != ERROR_IO_PENDING)
        control_accept(monitor);
}

/* Ends the current client and waits for the next. */
static void control_accept(struct monitor *monitor)
{
    struct monitor_control *control = &monitor->control;

    if (control->connected)
        DisconnectNamedPipe(control->pipe);
    control->connected = false;
    control->replied = false;
    control->length = 0;
    memset(&control->overlapped, 0, sizeof(control->overlapped));
    if (ConnectNamedPipe(control->pipe, &control->overlapped))
        return;
    if (GetLastError() == ERROR_PIPE_CONNECTED) {
        /* The client came first: no completion is queued, so read now. */
        control->connected = true;
        control_read(monitor);
    } else if (GetLastError() != ERROR_IO_PENDING) {
        log_error("container %s: the control pipe stopped accepting (Windows error %lu)",
                  monitor->spec.id, (unsigned long)GetLastError());
    }
}

/*
 * Handles a completed connect or read. After its reply a client gets nothing more, and the
 * next read ends when it closes its end: disconnecting earlier would drop the unread reply.
 */
static void control_done(struct monitor *monitor, BOOL ok, DWORD bytes)
{
    struct monitor_control *control = &monitor->control;
    char *newline;

    if (!control->connected) {
        control->connected = true;
        if (ok) {
            control_read(monitor);
            return;
        }
    }
    if (!ok || bytes == 0) {
        control_accept(monitor);
        return;
    }
    if (control->replied) {
        /* Bytes after the command are ignored; wait for the client to close. */
        control->length = 0;
        control_read(monitor);
        return;
    }
    control->length += bytes;
    control->line[control->length] = '\0';
    newline = strchr(control->line, '\n');
    if (newline == NULL && control->length < sizeof(control->line) - 1) {
        control_read(monitor);
        return;
    }
    if (newline != NULL)
        *newline = '\0';
    control->line[strcspn(control->line, "\r")] = '\0';
    if (control_command(monitor, control->line))
        return;
    control->replied = true;
    control->length = 0;
    control_read(monitor);
}

void monitor_control_listen(struct monitor *monitor)
{
    struct monitor_control *control = &monitor->control;
    _cleanup_free_ char *name = xasprintf("%s%s", WINMON_PIPE_PREFIX, monitor->spec.id);
    _cleanup_free_ wchar_t *wide = text_windows_utf8_to_wide(name);
    SECURITY_ATTRIBUTES attributes = {.nLength = sizeof(attributes)};

    ConvertStringSecurityDescriptorToSecurityDescriptorW(CONTROL_PIPE_SDDL, SDDL_REVISION_1,
                                                         &attributes.lpSecurityDescriptor, NULL);
    /* Only the first instance claims the name; later ones serve beside the attach clients. */
    control->pipe = CreateNamedPipeW(wide,
                                     PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED |
                                         (control->listened ? 0 : FILE_FLAG_FIRST_PIPE_INSTANCE),
                                     PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT |
                                         PIPE_REJECT_REMOTE_CLIENTS,
                                     MONITOR_MAX_ATTACH + 1, 65536, 65536, 0, &attributes);
    control->listened = true;
    LocalFree(attributes.lpSecurityDescriptor);
    if (control->pipe == INVALID_HANDLE_VALUE ||
        CreateIoCompletionPort(control->pipe, monitor->port, MONITOR_KEY_CONTROL, 0) == NULL) {
        log_error("container %s: no control pipe %s (Windows error %lu): stop, kill and log "
                  "reopen requests will fail",
                  monitor->spec.id, name, (unsigned long)GetLastError());
        if (control->pipe != INVALID_HANDLE_VALUE)
            CloseHandle(control->pipe);
        control->pipe = NULL;
        return;
    }
    control_accept(monitor);
}

/* ---- Job ------------------------------------------------------------------------------------- */

static bool job_has_processes(struct monitor *monitor)
{
    JOBOBJECT_BASIC_ACCOUNTING_INFORMATION accounting;

    if (!QueryInformationJobObject(monitor->job, JobObjectBasicAccountingInformation, &accounting,
                                   sizeof(accounting), NULL))
        return !monitor->job_empty;
    return accounting.ActiveProcesses > 0;
}

static void init_exited(struct monitor *monitor)
{
    int grace_ms = monitor->spec.grace_ms > 0 ? monitor->spec.grace_ms : DEFAULT_GRACE_MS;

    monitor->init_exited = true;
    monitor->finished_at_ns = time_now_ns();
    GetExitCodeProcess(monitor->init_process, &monitor->init_code);
    log_info("container %s: init process %lu exited with code %ld", monitor->spec.id,
             (unsigned long)monitor->init_pid, (long)(int)monitor->init_code);
    if (monitor->job_empty || !job_has_processes(monitor))
        return;
    /* The processes left get the same stop request as a container stop, then the grace period. */
    log_info("container %s: stopping the processes left in the job", monitor->spec.id);
    GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, monitor->init_pid);
    close_windows(monitor);
    monitor->terminate_at_ns = time_now_ns() + (int64_t)grace_ms * 1000000;
}

static void job_message(struct monitor *monitor, DWORD message)
{
    switch (message) {
    case JOB_OBJECT_MSG_ACTIVE_PROCESS_ZERO:
        monitor->job_empty = true;
        break;
    case JOB_OBJECT_MSG_NEW_PROCESS:
        monitor->job_empty = false;
        break;
    case JOB_OBJECT_MSG_JOB_MEMORY_LIMIT:
    case JOB_OBJECT_MSG_PROCESS_MEMORY_LIMIT:
        monitor->memory_limit_hit = true;
        break;
    default:
        break;
    }
}

/* Checks init and the job after every event: messages may arrive in any order. */
static void advance(struct monitor *monitor)
{
    if (!monitor->init_exited && WaitForSingleObject(monitor->init_process, 0) == WAIT_OBJECT_0)
        init_exited(monitor);
    if (!monitor->init_exited)
        return;
    if (!monitor->job_empty && !job_has_processes(monitor))
        monitor->job_empty = true;
    if (monitor->job_empty) {
        if (monitor->drain_until_ns == 0)
            monitor->drain_until_ns = time_now_ns() + (int64_t)DRAIN_MS * 1000000;
        /* The pseudo console holds the output pipe open until it is closed. */
        monitor_close_pseudo_console(monitor);
        return;
    }
    if (monitor->terminate_at_ns != 0 && time_now_ns() >= monitor->terminate_at_ns) {
        log_info("container %s: grace period over; terminating the job", monitor->spec.id);
        TerminateJobObject(monitor->job, TERMINATE_EXIT_CODE);
        monitor->terminate_at_ns = 0;
    }
}

static bool finished(const struct monitor *monitor)
{
    if (!monitor->init_exited || !monitor->job_empty)
        return false;
    if (monitor->streams[0].pipe == NULL && monitor->streams[1].pipe == NULL)
        return true;
    return time_now_ns() >= monitor->drain_until_ns;
}

static void handle_completion(struct monitor *monitor, BOOL ok, DWORD bytes, ULONG_PTR key,
                              OVERLAPPED *overlapped)
{
    switch (key) {
    case MONITOR_KEY_JOB:
        job_message(monitor, bytes);
        break;
    case MONITOR_KEY_STDOUT:
        stream_done(monitor, &monitor->streams[0], ok, bytes);
        break;
    case MONITOR_KEY_STDERR:
        stream_done(monitor, &monitor->streams[1], ok, bytes);
        break;
    case MONITOR_KEY_CONTROL:
        if (overlapped == &monitor->control.overlapped)
            control_done(monitor, ok, bytes);
        else
            monitor_attach_done(monitor, overlapped, ok, bytes);
        break;
    case MONITOR_KEY_STDIN:
        monitor_attach_done(monitor, overlapped, ok, bytes);
        break;
    default:
        break;
    }
}

static void write_exit_file(struct monitor *monitor)
{
    struct job_exit_status status = {.exit_code = (int)monitor->init_code,
                                     .started_at_ns = monitor->started_at_ns,
                                     .finished_at_ns = monitor->finished_at_ns,
                                     .reason = JOB_EXIT_COMPLETED};
    struct error err = ERROR_INIT;

    if (monitor->killed_signal != 0 && monitor->init_code == TERMINATE_EXIT_CODE)
        status.signal = monitor->killed_signal;
    if (monitor->memory_limit_hit && status.exit_code != 0)
        status.reason = JOB_EXIT_OOM_KILLED;
    if (winmon_exit_file_write(monitor->exit_path, &status, &err) < 0) {
        log_error("container %s: %s", monitor->spec.id, err.message);
        error_clear(&err);
    }
    log_info("container %s: exit code %d%s", monitor->spec.id, status.exit_code,
             status.reason == JOB_EXIT_OOM_KILLED ? " (memory limit reached)" : "");
}

void monitor_run(struct monitor *monitor)
{
    monitor_stream_read(monitor, &monitor->streams[0]);
    monitor_stream_read(monitor, &monitor->streams[1]);
    advance(monitor);
    while (!finished(monitor)) {
        DWORD bytes = 0;
        ULONG_PTR key = 0;
        OVERLAPPED *overlapped = NULL;
        BOOL ok = GetQueuedCompletionStatus(monitor->port, &bytes, &key, &overlapped,
                                            monitor->init_exited ? POLL_MS : INFINITE);

        if (ok || overlapped != NULL)
            handle_completion(monitor, ok, bytes, key, overlapped);
        crilog_flush_or_log(&monitor->log, monitor->spec.id);
        advance(monitor);
    }
    monitor_close_pseudo_console(monitor);
    monitor_close_stdin(monitor);
    crilog_close(&monitor->log, time_now_ns());
    write_exit_file(monitor);
    monitor_delete_user(monitor);
}
