/*
 * Exec in Windows containers: the daemon starts the process itself, suspended inside the
 * container's job object. It runs as the container's user, because the monitor duplicates its
 * logon token into the daemon. Its environment is that user's default one followed by the
 * container's variables (or the exec's own); its working directory is the container's unless
 * the exec sets one. A wait registered on the process posts its end to the runtime's port.
 *
 * A tty exec gets a pseudo console (ConPTY, Windows 10 1809 and later): its output pipe is
 * the caller's stdout, its input pipe the caller's stdin, and resize changes its size.
 *
 * SIGTERM sends CTRL_BREAK_EVENT to a non-tty exec, which leads a process group on a hidden
 * console of its own. The event only reaches processes on the sender's console, and the daemon
 * and the container's monitor are on other consoles, so "hostcri-monitor.exe --ctrl-break"
 * attaches to the exec's console to send it. Where that fails, and for a tty exec, SIGTERM ends
 * the process like SIGKILL.
 */
#include "runtime/windows/job_windows.h"

#include <stdlib.h>
#include <string.h>

#include "common/error_windows.h"
#include "common/log.h"
#include "common/text_windows.h"
#include "common/util.h"
#include "runtime/windows/process_windows.h"
#include "runtime/windows/winenv.h"
#include "runtime/windows/winmon_files.h"

#define TERMINATE_EXIT_CODE 1
#define SIGKILL_NUMBER 9
#define SIGTERM_NUMBER 15
#define DEFAULT_COLUMNS 80
#define DEFAULT_ROWS 25
/* How long job_exec_signal waits for the CTRL_BREAK_EVENT helper, in milliseconds. */
#define CTRL_BREAK_WAIT_MS 5000

struct job_exec {
    uintptr_t key; /* first, for the runtime's lookup */
    struct job_runtime *runtime;
    char *container_id;
    HANDLE process;
    DWORD pid;
    HANDLE wait;
    struct job_windows_watch watch;
    int signal;           /* the signal job_exec_signal sent, or 0 */
    void *pseudo_console; /* a tty exec's console until the process ends, else NULL */
    HANDLE pty_input;     /* the pseudo console's input when the caller has no stdin */
    job_exec_exit_cb exit_cb;
    void *data;
    bool in_callback;
    bool released;
};

static DWORD WINAPI close_console_thread(LPVOID console)
{
    process_windows_conpty()->close(console);
    return 0;
}

/*
 * Closes the pseudo console, which ends the caller's stdout. ClosePseudoConsole waits until the
 * caller has read the last output, so it runs on a thread of its own.
 */
static void close_pseudo_console(struct job_exec *exec)
{
    void *console = exec->pseudo_console;
    HANDLE thread;

    if (exec->pty_input != NULL)
        CloseHandle(exec->pty_input);
    exec->pty_input = NULL;
    if (console == NULL)
        return;
    exec->pseudo_console = NULL;
    thread = CreateThread(NULL, 0, close_console_thread, console, 0, NULL);
    if (thread != NULL)
        CloseHandle(thread);
    else
        process_windows_conpty()->close(console);
}

static void exec_free(struct job_exec *exec)
{
    close_pseudo_console(exec);
    if (exec->wait != NULL)
        UnregisterWaitEx(exec->wait, INVALID_HANDLE_VALUE);
    if (exec->process != NULL)
        CloseHandle(exec->process);
    free(exec->container_id);
    free(exec);
}

void job_windows_exec_message(struct job_exec *exec)
{
    job_exec_exit_cb callback = exec->exit_cb;
    DWORD code = 0;
    int exit_code;

    exec->exit_cb = NULL;
    close_pseudo_console(exec);
    if (callback == NULL)
        return;
    GetExitCodeProcess(exec->process, &code);
    exit_code = (int)code;
    log_debug_id("container", exec->container_id, "exec process %lu exited with code %d",
                 (unsigned long)exec->pid, exit_code);
    exec->in_callback = true;
    callback(exec, exit_code, exec->signal != 0 && code == TERMINATE_EXIT_CODE ? exec->signal : 0,
             exec->data);
    exec->in_callback = false;
    if (exec->released)
        exec_free(exec);
}

static VOID CALLBACK exec_ended_cb(PVOID parameter, BOOLEAN timed_out)
{
    struct job_windows_watch *watch = parameter;

    (void)timed_out;
    job_windows_post(watch->port, watch->key, JOB_WINDOWS_MSG_EXEC_EXITED);
}

/* ---- Pipes and token ------------------------------------------------------------------------- */

/*
 * Creates a pipe whose caller's end (*caller, overlapped, for libuv) is a named pipe server
 * and whose child's end (*child, inheritable) reads when input is set, else writes.
 */
static int make_pipe(const char *container_id, const char *what, bool input, HANDLE *caller,
                     HANDLE *child, struct error *err)
{
    static LONG counter;
    SECURITY_ATTRIBUTES inheritable = {.nLength = sizeof(inheritable), .bInheritHandle = TRUE};
    _cleanup_free_ char *name =
        xasprintf("\\\\.\\pipe\\hostcri-exec-%lu-%ld-%s", (unsigned long)GetCurrentProcessId(),
                  (long)InterlockedIncrement(&counter), what);
    _cleanup_free_ wchar_t *wide = text_windows_utf8_to_wide(name);

    *caller = CreateNamedPipeW(wide,
                               (input ? PIPE_ACCESS_OUTBOUND : PIPE_ACCESS_INBOUND) |
                                   FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
                               PIPE_TYPE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS, 1, 65536,
                               65536, 0, NULL);
    if (*caller == INVALID_HANDLE_VALUE)
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(),
                                 "create the %s pipe of an exec in container %s", what,
                                 container_id);
    *child = CreateFileW(wide, input ? GENERIC_READ : GENERIC_WRITE, 0, &inheritable, OPEN_EXISTING,
                         0, NULL);
    if (*child == INVALID_HANDLE_VALUE) {
        DWORD error = GetLastError();

        CloseHandle(*caller);
        *caller = INVALID_HANDLE_VALUE;
        return error_set_windows(err, ERROR_INTERNAL, error,
                                 "open the %s pipe of an exec in container %s", what, container_id);
    }
    return 0;
}

/* Asks the monitor for the container's token; *token stays NULL for the monitor's own user. */
static int container_token(struct job_container *container, HANDLE *token, struct error *err)
{
    _cleanup_free_ char *command = xasprintf("token %lu", (unsigned long)GetCurrentProcessId());
    _cleanup_free_ char *reply = NULL;

    *token = NULL;
    if (winmon_control(container->id, command, NULL, &reply, err) < 0 ||
        winmon_reply_parse(reply, err) < 0)
        return error_prefix(err, "get the user of container %s", container->id);
    *token = (HANDLE)(uintptr_t)strtoull(reply + 2, NULL, 10);
    return 0;
}

/* ---- Start ----------------------------------------------------------------------------------- */

struct exec_handles {
    HANDLE token;
    HANDLE child[3];
};

static void close_exec_handles(struct exec_handles *handles)
{
    if (handles->token != NULL)
        CloseHandle(handles->token);
    for (int i = 0; i < 3; i++) {
        if (handles->child[i] != NULL)
            CloseHandle(handles->child[i]);
    }
}

static void close_caller_ends(struct job_exec_io *io)
{
    uv_os_fd_t *ends[] = {&io->stdin_fd, &io->stdout_fd, &io->stderr_fd};

    for (size_t i = 0; i < ARRAY_SIZE(ends); i++) {
        if (*ends[i] != INVALID_HANDLE_VALUE)
            CloseHandle(*ends[i]);
        *ends[i] = INVALID_HANDLE_VALUE;
    }
}

/* Creates the pseudo console of a tty exec on two pipes; the caller gets their other ends. */
static int open_pseudo_console(struct job_container *container, const struct job_exec_spec *spec,
                               struct job_exec_io *io, struct exec_handles *handles,
                               struct job_exec *exec, struct error *err)
{
    COORD size = {.X = (SHORT)(spec->cols ? spec->cols : DEFAULT_COLUMNS),
                  .Y = (SHORT)(spec->rows ? spec->rows : DEFAULT_ROWS)};
    HANDLE input = INVALID_HANDLE_VALUE;
    HRESULT result;

    if (make_pipe(container->id, "tty-in", true, &input, &handles->child[0], err) < 0 ||
        make_pipe(container->id, "tty-out", false, &io->stdout_fd, &handles->child[1], err) < 0) {
        if (input != INVALID_HANDLE_VALUE)
            CloseHandle(input);
        return -1;
    }
    /* Without stdin the input stays open but unused: a closed input ends the console. */
    if (spec->stdin_open)
        io->stdin_fd = input;
    else
        exec->pty_input = input;
    result = process_windows_conpty()->create(size, handles->child[0], handles->child[1], 0,
                                              &exec->pseudo_console);
    if (FAILED(result)) {
        exec->pseudo_console = NULL;
        return error_set(err, ERROR_INTERNAL,
                         "create a pseudo console for an exec in container %s: HRESULT 0x%lx",
                         container->id, (unsigned long)result);
    }
    return 0;
}

static int open_streams(struct job_container *container, const struct job_exec_spec *spec,
                        struct job_exec_io *io, struct exec_handles *handles, struct job_exec *exec,
                        struct error *err)
{
    if (spec->tty)
        return open_pseudo_console(container, spec, io, handles, exec, err);
    if (spec->stdin_open &&
        make_pipe(container->id, "stdin", true, &io->stdin_fd, &handles->child[0], err) < 0)
        return -1;
    if (make_pipe(container->id, "stdout", false, &io->stdout_fd, &handles->child[1], err) < 0 ||
        make_pipe(container->id, "stderr", false, &io->stderr_fd, &handles->child[2], err) < 0)
        return -1;
    return 0;
}

static int start_process(struct job_container *container, const struct job_exec_spec *spec,
                         struct exec_handles *handles, struct job_exec *exec, struct error *err)
{
    struct winmon_spec container_spec = {0};
    struct process_windows_spec process = {
        .argv = spec->argv,
        .job = container->job,
        .token = handles->token,
        .pseudo_console = exec->pseudo_console,
        .user_environment = true,
    };
    _cleanup_strv_ char **env = NULL;
    int rc;

    if (exec->pseudo_console == NULL) {
        process.stdin_handle = handles->child[0];
        process.stdout_handle = handles->child[1];
        process.stderr_handle = handles->child[2];
    }
    if (job_windows_read_spec(container, &container_spec, err) < 0)
        return error_prefix(err, "read the spec of container %s", container->id);
    /* The same user's default environment as the init process, then the exec's variables. */
    env =
        winenv_exec_env(spec->env ? spec->env : (const char *const *)container_spec.env, spec->tty);
    process.env = (const char *const *)env;
    process.working_dir = spec->working_dir ? spec->working_dir : container_spec.cwd;
    rc = process_windows_start(&process, &exec->process, &exec->pid, err);
    winmon_spec_clear(&container_spec);
    return rc;
}

int job_exec_start(struct job_container *container, const struct job_exec_spec *spec,
                   job_exec_exit_cb exit_cb, void *data, struct job_exec **out,
                   struct job_exec_io *io, struct error *err)
{
    struct exec_handles handles = {0};
    struct job_exec *exec;

    *io = (struct job_exec_io){INVALID_HANDLE_VALUE, INVALID_HANDLE_VALUE, INVALID_HANDLE_VALUE};
    if (container->init_pid == 0 || container->monitor == NULL || container->job == NULL)
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "container %s must be running to start an exec", container->id);
    if (spec->tty && process_windows_conpty() == NULL)
        return error_set(err, ERROR_UNIMPLEMENTED,
                         "container %s: a tty exec needs a pseudo console, which Windows offers "
                         "from version 10 1809 on",
                         container->id);
    exec = xcalloc(1, sizeof(*exec));
    exec->runtime = container->runtime;
    exec->container_id = xstrdup(container->id);
    if (container_token(container, &handles.token, err) < 0 ||
        open_streams(container, spec, io, &handles, exec, err) < 0 ||
        start_process(container, spec, &handles, exec, err) < 0) {
        close_exec_handles(&handles);
        close_caller_ends(io);
        exec_free(exec);
        return error_prefix(err, "exec in container %s", container->id);
    }
    close_exec_handles(&handles);
    job_windows_add_exec(container->runtime, exec, &exec->key);
    exec->watch = (struct job_windows_watch){.port = container->runtime->port, .key = exec->key};
    exec->exit_cb = exit_cb;
    exec->data = data;
    if (!RegisterWaitForSingleObject(&exec->wait, exec->process, exec_ended_cb, &exec->watch,
                                     INFINITE, WT_EXECUTEONLYONCE | WT_EXECUTEINWAITTHREAD)) {
        error_set_windows(err, ERROR_INTERNAL, GetLastError(), "wait for exec process %lu",
                          (unsigned long)exec->pid);
        TerminateProcess(exec->process, TERMINATE_EXIT_CODE);
        job_windows_remove_exec(container->runtime, exec);
        close_caller_ends(io);
        exec->wait = NULL;
        exec_free(exec);
        return -1;
    }
    log_debug_id("container", container->id, "started exec process %lu", (unsigned long)exec->pid);
    *out = exec;
    return 0;
}

/* ---- Control --------------------------------------------------------------------------------- */

int job_exec_pid(const struct job_exec *exec)
{
    return (int)exec->pid;
}

/*
 * Runs "hostcri-monitor.exe --ctrl-break <pid>" without a console, in a process group of its
 * own, and waits for it. Returns 0 when it delivered CTRL_BREAK_EVENT to the exec.
 * NOTE: the wait blocks the loop thread, for at most CTRL_BREAK_WAIT_MS.
 */
static int send_ctrl_break(struct job_exec *exec, struct error *err)
{
    _cleanup_free_ char *pid_text = xasprintf("%lu", (unsigned long)exec->pid);
    const char *argv[] = {exec->runtime->monitor_path, WINMON_CTRL_BREAK_OPTION, pid_text, NULL};
    _cleanup_free_ wchar_t *command_line = process_windows_command_line(argv);
    _cleanup_free_ wchar_t *program = text_windows_utf8_to_wide(exec->runtime->monitor_path);
    STARTUPINFOW startup = {.cb = sizeof(startup)};
    PROCESS_INFORMATION info;
    DWORD code = 0;
    DWORD waited;

    if (command_line == NULL || program == NULL)
        return error_set(err, ERROR_INVALID_ARGUMENT, "monitor path %s is not UTF-8",
                         exec->runtime->monitor_path);
    if (!CreateProcessW(program, command_line, NULL, NULL, FALSE,
                        DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP, NULL, NULL, &startup, &info))
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "run %s %s",
                                 exec->runtime->monitor_path, WINMON_CTRL_BREAK_OPTION);
    CloseHandle(info.hThread);
    waited = WaitForSingleObject(info.hProcess, CTRL_BREAK_WAIT_MS);
    if (waited != WAIT_OBJECT_0)
        TerminateProcess(info.hProcess, 1);
    else
        GetExitCodeProcess(info.hProcess, &code);
    CloseHandle(info.hProcess);
    if (waited != WAIT_OBJECT_0)
        return error_set(err, ERROR_DEADLINE_EXCEEDED, "%s %s did not end within %d ms",
                         exec->runtime->monitor_path, WINMON_CTRL_BREAK_OPTION, CTRL_BREAK_WAIT_MS);
    if (code != 0)
        return error_set_windows(err, ERROR_INTERNAL, code,
                                 "send CTRL_BREAK_EVENT to exec process %lu",
                                 (unsigned long)exec->pid);
    return 0;
}

int job_exec_signal(struct job_exec *exec, int signal, struct error *err)
{
    _cleanup_error_ struct error break_err = ERROR_INIT;

    if (signal != SIGKILL_NUMBER && signal != SIGTERM_NUMBER)
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "invalid signal %d for a Windows exec: only SIGTERM (15) and SIGKILL (9) "
                         "exist",
                         signal);
    if (WaitForSingleObject(exec->process, 0) == WAIT_OBJECT_0)
        return error_set(err, ERROR_NOT_FOUND, "exec process %lu has exited",
                         (unsigned long)exec->pid);
    exec->signal = signal;
    if (signal == SIGTERM_NUMBER && exec->pseudo_console == NULL) {
        if (send_ctrl_break(exec, &break_err) == 0) {
            log_debug_id("container", exec->container_id,
                         "sent CTRL_BREAK_EVENT to exec process %lu", (unsigned long)exec->pid);
            return 0;
        }
        log_warn_id("container", exec->container_id, "%s; terminating the process instead",
                    break_err.message);
    }
    if (!TerminateProcess(exec->process, TERMINATE_EXIT_CODE))
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "terminate exec process %lu",
                                 (unsigned long)exec->pid);
    return 0;
}

int job_exec_resize(struct job_exec *exec, uint16_t rows, uint16_t cols, struct error *err)
{
    COORD size = {.X = (SHORT)cols, .Y = (SHORT)rows};
    HRESULT result;

    if (exec->pseudo_console == NULL)
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "exec process %lu has no terminal to resize", (unsigned long)exec->pid);
    result = process_windows_conpty()->resize(exec->pseudo_console, size);
    if (FAILED(result))
        return error_set(err, ERROR_INTERNAL,
                         "resize the terminal of exec process %lu: HRESULT 0x%lx",
                         (unsigned long)exec->pid, (unsigned long)result);
    return 0;
}

void job_exec_release(struct job_exec *exec)
{
    if (exec == NULL)
        return;
    job_windows_remove_exec(exec->runtime, exec);
    exec->exit_cb = NULL;
    exec->released = true;
    if (!exec->in_callback)
        exec_free(exec);
}
