/*
 * hostcri-monitor.exe: the process that watches one Windows container.
 *
 *     hostcri-monitor.exe <container state dir> <report pipe handle>
 *
 * The daemon starts it detached (a process group and a console of its own, without a window)
 * with the write end of the start report pipe inherited. It reads the spec file in the state
 * directory, opens the container's job object (which the daemon created with its limits and
 * kill-on-job-close), attaches the job to its own completion port, logs on the user and starts
 * the init process suspended inside the job, nested in the pod's job, sharing its console.
 * Then it reports "OK <pid>" or "ERR <code> <message>" and closes the pipe.
 *
 * While init runs it copies init's stdout and stderr into the CRI log and answers the control
 * pipe (signal, kill, reopen). When init exits, the processes left get CTRL_BREAK_EVENT and a
 * grace period, then the job is terminated. Once the job is empty and the output drained, the
 * monitor writes the exit file, deletes a temporary user and exits. It holds a handle of the
 * job, so the container outlives the daemon.
 *
 *     hostcri-monitor.exe --ctrl-break <pid>
 *
 * sends CTRL_BREAK_EVENT to the process group of pid, an exec's process (job_exec_signal), and
 * exits with 0 or the Windows error code.
 */
#include "runtime/windows/monitor_windows.h"

#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error_windows.h"
#include "common/log.h"
#include "common/text_windows.h"
#include "common/util.h"
#include "runtime/windows/process_windows.h"
#include "runtime/windows/winmon_files.h"
#include "runtime/windows/winuser_windows.h"

/* Sends the one-line start report to the daemon and closes the pipe. */
static void send_report(struct monitor *monitor, const char *line)
{
    DWORD written = 0;

    if (monitor->report == NULL)
        return;
    WriteFile(monitor->report, line, (DWORD)strlen(line), &written, NULL);
    CloseHandle(monitor->report);
    monitor->report = NULL;
}

void monitor_user_ops(struct monitor *monitor, struct winuser_ops *ops)
{
    if (monitor->user_record_path == NULL)
        monitor->user_record_path = winmon_path(monitor->state_dir, WINMON_USER_FILE);
    winuser_windows_ops(ops, monitor->user_record_path);
}

void monitor_delete_user(struct monitor *monitor)
{
    struct winuser_ops ops;
    struct error err = ERROR_INIT;

    if (monitor->logon.temporary_user == NULL)
        return;
    monitor_user_ops(monitor, &ops);
    if (winuser_delete_temporary(&ops, monitor->logon.temporary_user, &err) < 0) {
        log_error("container %s: %s", monitor->spec.id, err.message);
        error_clear(&err);
    }
    winuser_logon_clear(&ops, &monitor->logon);
}

/* Records a start failure in the exit file, then reports it to the daemon. */
static void fail_start(struct monitor *monitor, struct error *err)
{
    struct job_exit_status status = {.exit_code = 128,
                                     .finished_at_ns = time_now_ns(),
                                     .reason = JOB_EXIT_START_ERROR,
                                     .message = err->message};
    _cleanup_free_ char *line = winmon_error_line(err);

    log_error("start container %s: %s", monitor->spec.id ? monitor->spec.id : "?", err->message);
    monitor_delete_user(monitor);
    if (monitor->exit_path != NULL)
        winmon_exit_file_write(monitor->exit_path, &status, NULL);
    send_report(monitor, line);
}

static int read_spec(struct monitor *monitor, struct error *err)
{
    _cleanup_free_ char *path = winmon_path(monitor->state_dir, WINMON_SPEC_FILE);
    _cleanup_strbuf_ struct strbuf buf = STRBUF_INIT;

    if (winmon_read_file(path, &buf, err) < 0 ||
        winmon_spec_decode(buf.data ? buf.data : "", buf.length, &monitor->spec, err) < 0)
        return -1;
    if (monitor->spec.exit_file != NULL) {
        free(monitor->exit_path);
        monitor->exit_path = xstrdup(monitor->spec.exit_file);
    }
    return 0;
}

static HANDLE open_job(const char *name, struct error *err)
{
    _cleanup_free_ wchar_t *wide = text_windows_utf8_to_wide(name);
    HANDLE job = wide ? OpenJobObjectW(JOB_OBJECT_ALL_ACCESS, FALSE, wide) : NULL;

    if (job == NULL)
        error_set_windows(err, ERROR_INTERNAL, wide ? GetLastError() : ERROR_INVALID_NAME,
                          "open job object %s", name);
    return job;
}

/* Opens the jobs and sends their messages to the monitor's port. */
static int open_jobs(struct monitor *monitor, struct error *err)
{
    JOBOBJECT_ASSOCIATE_COMPLETION_PORT association = {
        .CompletionKey = (PVOID)(uintptr_t)MONITOR_KEY_JOB,
    };

    monitor->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    if (monitor->port == NULL)
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "create a completion port");
    monitor->job = open_job(monitor->spec.job_name, err);
    if (monitor->job == NULL)
        return -1;
    if (monitor->spec.pod_job_name != NULL) {
        monitor->pod_job = open_job(monitor->spec.pod_job_name, NULL);
        if (monitor->pod_job == NULL)
            log_warn("container %s: pod job %s not found; the container job is not nested",
                     monitor->spec.id, monitor->spec.pod_job_name);
    }
    association.CompletionPort = monitor->port;
    if (!SetInformationJobObject(monitor->job, JobObjectAssociateCompletionPortInformation,
                                 &association, sizeof(association)))
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(),
                                 "attach job object %s to the monitor's completion port",
                                 monitor->spec.job_name);
    return 0;
}

/* Creates the parent directories of the log file, then opens it. */
static int open_log(struct monitor *monitor, struct error *err)
{
    const char *path = monitor->spec.log_path;
    _cleanup_free_ char *dir = path ? xstrdup(path) : NULL;
    char *slash = dir ? strrchr(dir, '\\') : NULL;
    char *forward = dir ? strrchr(dir, '/') : NULL;
    int fd;

    /* The writer's own open lacks FILE_SHARE_DELETE, so it starts discarding and gets the file. */
    if (crilog_open(&monitor->log, NULL, 0, err) < 0 || path == NULL)
        return path == NULL ? 0 : -1;
    if (forward > slash)
        slash = forward;
    if (slash != NULL && slash != dir) {
        *slash = '\0';
        if (winmon_make_dirs(dir, err) < 0)
            return error_prefix(err, "create the log directory");
    }
    fd = winmon_open_log(path, err);
    if (fd < 0)
        return -1;
    monitor->log.fd = fd;
    monitor->log.path = xstrdup(path);
    return 0;
}

/*
 * Creates an overlapped pipe for one of init's standard streams (key): the monitor keeps *own,
 * whose completions go to the port with key, and init inherits *child. Anonymous pipes cannot
 * do overlapped I/O, so it is a named pipe with a name of its own.
 */
static int open_pipe(struct monitor *monitor, enum monitor_key key, HANDLE *own, HANDLE *child,
                     struct error *err)
{
    SECURITY_ATTRIBUTES inheritable = {.nLength = sizeof(inheritable), .bInheritHandle = TRUE};
    _cleanup_free_ char *name = xasprintf("%s%s-%lu-%d", WINMON_PIPE_PREFIX, monitor->spec.id,
                                          (unsigned long)GetCurrentProcessId(), (int)key);
    _cleanup_free_ wchar_t *wide = text_windows_utf8_to_wide(name);
    bool input = key == MONITOR_KEY_STDIN;

    *own = CreateNamedPipeW(wide,
                            (input ? PIPE_ACCESS_OUTBOUND : PIPE_ACCESS_INBOUND) |
                                FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
                            PIPE_TYPE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS, 1,
                            MONITOR_READ_CHUNK, MONITOR_READ_CHUNK, 0, NULL);
    if (*own == INVALID_HANDLE_VALUE) {
        *own = NULL;
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "create pipe %s", name);
    }
    *child = CreateFileW(wide, input ? GENERIC_READ : GENERIC_WRITE, 0, &inheritable, OPEN_EXISTING,
                         0, NULL);
    if (*child == INVALID_HANDLE_VALUE) {
        *child = NULL;
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "open pipe %s", name);
    }
    if (CreateIoCompletionPort(*own, monitor->port, (ULONG_PTR)key, 0) == NULL)
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(),
                                 "attach pipe %s to the completion port", name);
    return 0;
}

static int log_on(struct monitor *monitor, struct error *err)
{
    struct winuser_ops ops;

    if (monitor->spec.username == NULL)
        return 0;
    monitor_user_ops(monitor, &ops);
    return winuser_logon(&ops, monitor->spec.username, monitor->spec.id, &monitor->logon, err);
}

/* With a tty, init runs on a pseudo console whose output is the stdout stream and whose input
 * is the stdin pipe, so there is no stderr. */
static int open_tty(struct monitor *monitor, HANDLE *child_stdin, HANDLE *child_stdout,
                    struct error *err)
{
    const struct process_windows_conpty *conpty = process_windows_conpty();
    COORD size = {.X = 80, .Y = 25};
    HRESULT result;

    if (conpty == NULL)
        return error_set(err, ERROR_UNIMPLEMENTED,
                         "a tty needs a pseudo console, which Windows offers from version 10 1809 "
                         "on");
    if (open_pipe(monitor, MONITOR_KEY_STDOUT, &monitor->streams[0].pipe, child_stdout, err) < 0 ||
        open_pipe(monitor, MONITOR_KEY_STDIN, &monitor->stdin_pipe, child_stdin, err) < 0)
        return -1;
    result = conpty->create(size, *child_stdin, *child_stdout, 0, &monitor->pseudo_console);
    if (FAILED(result)) {
        monitor->pseudo_console = NULL;
        return error_set(err, ERROR_INTERNAL, "create a pseudo console: HRESULT 0x%lx",
                         (unsigned long)result);
    }
    return 0;
}

static int start_init(struct monitor *monitor, struct error *err)
{
    HANDLE child_stdin = NULL;
    HANDLE child_stdout = NULL;
    HANDLE child_stderr = NULL;
    struct process_windows_spec process = {
        .argv = (const char *const *)monitor->spec.argv,
        .env = (const char *const *)monitor->spec.env,
        .user_environment = true,
        .working_dir = monitor->spec.cwd,
        .job = monitor->job,
        .parent_job = monitor->pod_job,
        .token = monitor->logon.token,
        .share_console = true,
    };
    _cleanup_free_ char *init_pid_path = winmon_path(monitor->state_dir, WINMON_INIT_PID_FILE);
    int rc;

    monitor->streams[0].stream = CRILOG_STDOUT;
    monitor->streams[1].stream = CRILOG_STDERR;
    if (monitor->spec.tty) {
        rc = open_tty(monitor, &child_stdin, &child_stdout, err);
        process.pseudo_console = monitor->pseudo_console;
        if (rc == 0)
            rc = process_windows_start(&process, &monitor->init_process, &monitor->init_pid, err);
    } else if (open_pipe(monitor, MONITOR_KEY_STDOUT, &monitor->streams[0].pipe, &child_stdout,
                         err) < 0 ||
               open_pipe(monitor, MONITOR_KEY_STDERR, &monitor->streams[1].pipe, &child_stderr,
                         err) < 0 ||
               (monitor->spec.stdin_open &&
                open_pipe(monitor, MONITOR_KEY_STDIN, &monitor->stdin_pipe, &child_stdin, err) < 0))
        rc = -1;
    else {
        process.stdin_handle = child_stdin;
        process.stdout_handle = child_stdout;
        process.stderr_handle = child_stderr;
        rc = process_windows_start(&process, &monitor->init_process, &monitor->init_pid, err);
    }
    /* Only the init process keeps the child ends, so end of file arrives when it is gone. */
    if (child_stdin)
        CloseHandle(child_stdin);
    if (child_stdout)
        CloseHandle(child_stdout);
    if (child_stderr)
        CloseHandle(child_stderr);
    if (rc < 0)
        return -1;
    monitor->started_at_ns = time_now_ns();
    return winmon_pid_file_write(init_pid_path, monitor->init_process, err);
}

static int set_up(struct monitor *monitor, struct error *err)
{
    char line[64];

    if (read_spec(monitor, err) < 0 || open_jobs(monitor, err) < 0 || open_log(monitor, err) < 0 ||
        log_on(monitor, err) < 0 || start_init(monitor, err) < 0)
        return -1;
    /* Listening before the report, so that a command right after the start finds the pipe. */
    monitor_control_listen(monitor);
    snprintf(line, sizeof(line), "OK %lu\n", (unsigned long)monitor->init_pid);
    send_report(monitor, line);
    log_info("container %s: started init process %lu in job object %s", monitor->spec.id,
             (unsigned long)monitor->init_pid, monitor->spec.job_name);
    return 0;
}

/* Points stderr, where the log lines go, at monitor.log in the state directory. */
static void redirect_own_log(const char *state_dir)
{
    _cleanup_free_ char *path = winmon_path(state_dir, WINMON_LOG_FILE);
    _cleanup_free_ wchar_t *wide = text_windows_utf8_to_wide(path);

    if (wide != NULL)
        _wfreopen(wide, L"a", stderr);
}

/* The monitor ignores console control events: they are meant for the container. */
static BOOL WINAPI ignore_control_event(DWORD event)
{
    (void)event;
    return TRUE;
}

/*
 * Sends CTRL_BREAK_EVENT to the process group that pid leads, from pid's own console: the event
 * reaches only processes on the sender's console. The daemon starts this mode without a console
 * and in a process group of its own, so the event never reaches this process. Returns 0, or the
 * Windows error code of the step that failed.
 */
static int send_ctrl_break(const char *pid_text)
{
    char *end;
    unsigned long pid = strtoul(pid_text, &end, 10);

    if (pid == 0 || *end != '\0')
        return ERROR_INVALID_PARAMETER;
    FreeConsole();
    if (!AttachConsole((DWORD)pid) || !GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, (DWORD)pid))
        return (int)GetLastError();
    return 0;
}

int main(int argc, char **argv)
{
    struct monitor monitor;
    struct error err = ERROR_INIT;
    _cleanup_free_ char *pid_path = NULL;

    if (argc == 3 && strcmp(argv[1], WINMON_CTRL_BREAK_OPTION) == 0)
        return send_ctrl_break(argv[2]);
    if (argc != 3) {
        fprintf(stderr, "usage: hostcri-monitor.exe <container state dir> <report pipe handle>\n"
                        "       hostcri-monitor.exe " WINMON_CTRL_BREAK_OPTION " <pid>\n");
        return 2;
    }
    memset(&monitor, 0, sizeof(monitor));
    monitor.state_dir = argv[1];
    monitor.report = (HANDLE)(uintptr_t)strtoull(argv[2], NULL, 10);
    monitor.exit_path = winmon_path(monitor.state_dir, WINMON_EXIT_FILE);
    monitor.log.fd = -1;
    redirect_own_log(monitor.state_dir);
    SetConsoleCtrlHandler(ignore_control_event, TRUE);
    SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX);

    pid_path = winmon_path(monitor.state_dir, WINMON_PID_FILE);
    if (winmon_pid_file_write(pid_path, GetCurrentProcess(), &err) < 0 ||
        set_up(&monitor, &err) < 0) {
        fail_start(&monitor, &err);
        return 1;
    }
    monitor_run(&monitor);
    return 0;
}
