/*
 * job_windows_test: tests of the job-object backend (runtime/windows/) and hostcri-monitor.exe,
 * which it finds beside itself. They start real processes with cmd.exe, ping.exe and this
 * program in child mode. Prints one "PASS <check>" or "FAIL <check>: <detail>" line per check,
 * and "XFAIL <check>: <reason>" for a check that fails under Wine because Wine lacks the API
 * (on Windows the same check is a PASS or a FAIL). The exit status is the number of failed
 * checks.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>

#include <shellapi.h>

#include "checks.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "runtime/job.h"
#include "runtime/windows/job_windows.h"
#include "runtime/windows/process_windows.h"
#include "runtime/windows/winmon_files.h"
#include "runtime/windows/winmon_spec.h"

#define WINE_NO_CONPTY_RESIZE "Wine 8's ResizePseudoConsole is not implemented"
#define WINE_NO_CONPTY_OUTPUT "Wine 8 gives the process no output through the pseudo console"

/* Bound on each wait for the backend, so that a broken backend fails instead of hanging. */
#define WAIT_LIMIT_MS 60000
/* Exit code of the child mode when it receives CTRL_BREAK_EVENT. */
#define BREAK_EXIT_CODE 42

static uv_loop_t loop;
static char state_dir[MAX_PATH];
static char self_path[MAX_PATH];

/* ---- Callbacks and waits --------------------------------------------------------------------- */

struct record {
    int starts;
    int start_pid;
    enum error_code start_code;
    char start_message[256];
    bool exit_before_start;
    int calls;
    int exit_code;
    int signal;
    enum job_exit_reason reason;
};

static void exit_cb(struct job_container *container, const struct job_exit_status *status,
                    void *data)
{
    struct record *record = data;

    (void)container;
    if (record->starts == 0)
        record->exit_before_start = true;
    record->calls++;
    record->exit_code = status->exit_code;
    record->signal = status->signal;
    record->reason = status->reason;
}

static void start_cb(struct job_container *container, int init_pid, const struct error *err,
                     void *data)
{
    struct record *record = data;

    (void)container;
    record->starts++;
    record->start_pid = init_pid;
    record->start_code = err ? err->code : ERROR_OK;
    snprintf(record->start_message, sizeof(record->start_message), "%s",
             err && err->message ? err->message : "");
}

static void limit_timer_cb(uv_timer_t *timer)
{
    *(bool *)timer->data = true;
}

static void poll_timer_cb(uv_timer_t *timer)
{
    (void)timer;
}

/*
 * Runs the loop until condition(data) is true or WAIT_LIMIT_MS passed; returns the condition.
 * A 50 ms timer wakes the loop, so conditions that poll files or the job are checked too.
 */
static bool run_until(bool (*condition)(void *data), void *data)
{
    uv_timer_t limit;
    uv_timer_t poll;
    bool expired = false;

    uv_timer_init(&loop, &limit);
    uv_timer_init(&loop, &poll);
    limit.data = &expired;
    uv_timer_start(&limit, limit_timer_cb, WAIT_LIMIT_MS, 0);
    uv_timer_start(&poll, poll_timer_cb, 50, 50);
    while (!condition(data) && !expired)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&limit, NULL);
    uv_close((uv_handle_t *)&poll, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return condition(data);
}

static bool start_reported(void *data)
{
    return ((struct record *)data)->starts > 0;
}

static bool exit_reported(void *data)
{
    return ((struct record *)data)->calls > 0;
}

struct pid_wait {
    struct job_container *container;
    size_t at_least;
    size_t count;
};

/* Polls the job's process list; the loop runs between polls. */
static bool has_enough_pids(void *data)
{
    struct pid_wait *wait = data;
    _cleanup_free_ int *pids = NULL;
    struct error err = ERROR_INIT;

    if (job_container_pids(wait->container, &pids, &wait->count, &err) < 0) {
        error_clear(&err);
        wait->count = 0;
    }
    if (wait->count < wait->at_least)
        Sleep(50);
    return wait->count >= wait->at_least;
}

struct file_wait {
    const char *path;
    const char *text;
};

/* Polls a file until it contains text. */
static bool file_contains(void *data)
{
    struct file_wait *wait = data;
    _cleanup_strbuf_ struct strbuf buf = STRBUF_INIT;
    bool found;

    winmon_read_file(wait->path, &buf, NULL);
    found = buf.data != NULL && strstr(buf.data, wait->text) != NULL;
    if (!found)
        Sleep(50);
    return found;
}

/* ---- Helpers --------------------------------------------------------------------------------- */

static char *log_path_of(const char *id)
{
    return xasprintf("%s\\logs\\%s\\0.log", state_dir, id);
}

static struct job_container *create_container(struct job_pod *pod, const char *id)
{
    struct job_container *container = NULL;
    struct error err = ERROR_INIT;

    if (job_container_create(pod, id, &container, &err) < 0) {
        check(false, "create container job", "%s: %s", id, err.message);
        error_clear(&err);
    }
    return container;
}

/* Creates and starts a container from spec and waits for its start callback. */
static struct job_container *start_spec(struct job_pod *pod, struct job_container_spec *spec,
                                        struct record *record)
{
    struct job_container *container = create_container(pod, spec->container_id);
    struct error err = ERROR_INIT;

    if (container == NULL)
        return NULL;
    if (job_container_start(container, spec, start_cb, exit_cb, record, &err) < 0) {
        check(false, "start container", "%s: %s", spec->container_id, err.message);
        error_clear(&err);
        job_container_release(container);
        return NULL;
    }
    check(record->starts == 0, "start callback runs later", "%d calls", record->starts);
    run_until(start_reported, record);
    return container;
}

static struct job_container *start_container(struct job_pod *pod, const char *id,
                                             const char *const *argv, struct record *record)
{
    _cleanup_free_ char *log_path = log_path_of(id);
    struct job_container_spec spec = {.container_id = id, .argv = argv, .log_path = log_path};
    struct job_container *container = start_spec(pod, &spec, record);

    if (container == NULL)
        return NULL;
    check(record->starts == 1 && record->start_pid > 0 &&
              job_container_init_pid(container) == record->start_pid,
          "start reports the init pid", "pid %d, init_pid %d: %s", record->start_pid,
          job_container_init_pid(container), record->start_message);
    return container;
}

static void remove_and_release(struct job_container *container)
{
    struct error err = ERROR_INIT;
    int rc = job_container_remove(container, &err);

    /* The call comes first: the order in which arguments are evaluated is unspecified. */
    check(rc == 0, "remove an exited container", "%s", err.message);
    error_clear(&err);
    job_container_release(container);
}

static bool process_alive(DWORD pid)
{
    HANDLE process = OpenProcess(SYNCHRONIZE, FALSE, pid);
    bool alive = process != NULL && WaitForSingleObject(process, 0) == WAIT_TIMEOUT;

    if (process != NULL)
        CloseHandle(process);
    return alive;
}

/* ---- Exit codes and process trees ------------------------------------------------------------ */

static void test_exit_code(struct job_pod *pod)
{
    const char *const argv[] = {"cmd.exe", "/c", "exit 3", NULL};
    struct record record = {0};
    struct job_container *container = start_container(pod, "exit-code", argv, &record);

    if (container == NULL)
        return;
    run_until(exit_reported, &record);
    check(record.calls == 1, "exit callback runs once", "%d calls", record.calls);
    check(!record.exit_before_start, "exit callback follows the start callback", "%d starts",
          record.starts);
    check(record.exit_code == 3 && record.signal == 0, "exit code of cmd /c exit 3",
          "code %d, signal %d", record.exit_code, record.signal);
    check(record.reason == JOB_EXIT_COMPLETED, "exit reason is completed", "reason %d",
          record.reason);
    check(job_container_init_pid(container) == 0, "init pid is 0 after the exit", "pid %d",
          job_container_init_pid(container));
    remove_and_release(container);
}

static void test_negative_exit_code(struct job_pod *pod)
{
    const char *const argv[] = {"cmd.exe", "/c", "exit -1", NULL};
    struct record record = {0};
    struct job_container *container = start_container(pod, "exit-negative", argv, &record);

    if (container == NULL)
        return;
    run_until(exit_reported, &record);
    check(record.calls == 1 && record.exit_code == -1, "exit code 0xFFFFFFFF is -1", "code %d",
          record.exit_code);
    remove_and_release(container);
}

static void test_missing_program(struct job_pod *pod)
{
    const char *const argv[] = {"hostcri-no-such-program.exe", NULL};
    struct job_container_spec spec = {.container_id = "missing", .argv = argv};
    struct record record = {0};
    struct job_container *container = start_spec(pod, &spec, &record);
    _cleanup_free_ char *dir = xasprintf("%s\\containers\\missing", state_dir);
    _cleanup_free_ char *exit_path = winmon_path(dir, WINMON_EXIT_FILE);
    struct job_exit_status status = {0};

    if (container == NULL)
        return;
    check(record.starts == 1 && record.start_code == ERROR_NOT_FOUND,
          "missing program fails the start with NOT_FOUND", "%d starts, code %d: %s", record.starts,
          record.start_code, record.start_message);
    check(strstr(record.start_message, "hostcri-no-such-program.exe") != NULL,
          "start error names the program", "%s", record.start_message);
    check(winmon_exit_file_read(exit_path, &status, NULL) == 0 &&
              status.reason == JOB_EXIT_START_ERROR,
          "exit file records the start error", "reason %d", status.reason);
    job_exit_status_clear(&status);
    uv_run(&loop, UV_RUN_NOWAIT);
    check(record.calls == 0, "failed start gets no exit callback", "%d calls", record.calls);
    remove_and_release(container);
}

/* cmd runs one ping in the background and one in the foreground: three processes. */
static void test_kill_tree(struct job_pod *pod)
{
    const char *const argv[] = {
        "cmd.exe", "/c", "start /b ping -n 600 127.0.0.1 >NUL & ping -n 600 127.0.0.1 >NUL", NULL};
    struct record record = {0};
    struct job_container *container = start_container(pod, "kill-tree", argv, &record);
    struct pid_wait wait = {.container = container, .at_least = 3};
    struct error err = ERROR_INIT;

    if (container == NULL)
        return;
    check(run_until(has_enough_pids, &wait), "job holds cmd and both pings", "%zu processes",
          wait.count);
    check(job_pod_remove(pod, &err) < 0 && err.code == ERROR_FAILED_PRECONDITION,
          "pod with running processes is not removed", "code %d", err.code);
    error_clear(&err);
    check(job_container_remove(container, &err) < 0 && err.code == ERROR_FAILED_PRECONDITION,
          "running container is not removed", "code %d", err.code);
    error_clear(&err);
    check(job_container_kill_all(container, &err) == 0, "kill_all succeeds", "%s", err.message);
    error_clear(&err);
    run_until(exit_reported, &record);
    check(record.calls == 1 && record.exit_code == 1 && record.signal == 9,
          "kill_all reports code 1 and signal 9", "%d calls, code %d, signal %d", record.calls,
          record.exit_code, record.signal);
    wait.at_least = 0;
    has_enough_pids(&wait);
    check(wait.count == 0, "kill_all empties the job", "%zu processes left", wait.count);
    check(job_container_kill_all(container, &err) == 0, "kill_all on an empty job succeeds", "%s",
          err.message);
    error_clear(&err);
    remove_and_release(container);
}

/* The init process exits while its background ping runs on: the monitor ends the ping. */
static void test_leftover_process(struct job_pod *pod)
{
    const char *const argv[] = {"cmd.exe", "/c", "start /b ping -n 600 127.0.0.1 >NUL & exit 5",
                                NULL};
    struct record record = {0};
    struct job_container *container = start_container(pod, "leftover", argv, &record);
    struct pid_wait wait = {.container = container};

    if (container == NULL)
        return;
    run_until(exit_reported, &record);
    check(record.calls == 1 && record.exit_code == 5, "init's code after leftovers end",
          "%d calls, code %d", record.calls, record.exit_code);
    has_enough_pids(&wait);
    check(wait.count == 0, "leftover process is gone", "%zu processes left", wait.count);
    remove_and_release(container);
}

/* ---- Stop ------------------------------------------------------------------------------------ */

/* This program in child mode waits for CTRL_BREAK_EVENT and exits with BREAK_EXIT_CODE. */
static void test_graceful_stop(struct job_pod *pod)
{
    const char *const argv[] = {self_path, "--wait-break", NULL};
    struct record record = {0};
    struct job_container *container = start_container(pod, "stop", argv, &record);
    _cleanup_free_ char *log_path = log_path_of("stop");
    struct file_wait ready = {.path = log_path, .text = "waiting"};
    struct error err = ERROR_INIT;
    int rc;

    if (container == NULL)
        return;
    run_until(file_contains, &ready);
    rc = job_container_signal(container, 15, &err);
    check_api(rc == 0, "SIGTERM is delivered",
              "Wine's GenerateConsoleCtrlEvent fails with an invalid handle in a monitor whose "
              "console has no window",
              "%s", err.message);
    error_clear(&err);
    check(job_container_signal(container, 1, &err) < 0 && err.code == ERROR_FAILED_PRECONDITION,
          "signal 1 is invalid", "code %d: %s", err.code, err.message);
    error_clear(&err);
    if (rc == 0)
        run_until(exit_reported, &record);
    check_api(record.calls == 1 && record.exit_code == BREAK_EXIT_CODE,
              "SIGTERM sends CTRL_BREAK_EVENT to init",
              "Wine's GenerateConsoleCtrlEvent fails with an invalid handle in a monitor whose "
              "console has no window",
              "%d calls, code %d", record.calls, record.exit_code);
    if (record.calls == 0) {
        job_container_signal(container, 9, NULL);
        run_until(exit_reported, &record);
    }
    check(job_container_signal(container, 15, &err) < 0 && err.code == ERROR_NOT_FOUND,
          "signal after the exit is NOT_FOUND", "code %d", err.code);
    error_clear(&err);
    remove_and_release(container);
}

static void test_sigkill(struct job_pod *pod)
{
    const char *const argv[] = {"ping.exe", "-n", "600", "127.0.0.1", NULL};
    struct record record = {0};
    struct job_container *container = start_container(pod, "sigkill", argv, &record);
    struct error err = ERROR_INIT;
    int rc;

    if (container == NULL)
        return;
    rc = job_container_signal(container, 9, &err);
    check(rc == 0, "SIGKILL is delivered", "%s", err.message);
    error_clear(&err);
    run_until(exit_reported, &record);
    check(record.calls == 1 && record.exit_code == 1 && record.signal == 9,
          "SIGKILL reports code 1 and signal 9", "%d calls, code %d, signal %d", record.calls,
          record.exit_code, record.signal);
    remove_and_release(container);
}

/* ---- Logs ------------------------------------------------------------------------------------ */

/* Checks that every line of the log is "<time> <stream> <P|F> <text>". */
static bool log_lines_valid(const char *text, char *detail, size_t size)
{
    while (*text != '\0') {
        size_t length = strcspn(text, "\n");
        char stamp[64], stream[16], tag[4];

        if (sscanf(text, "%63s %15s %3s", stamp, stream, tag) != 3 || strlen(stamp) != 30 ||
            stamp[29] != 'Z' || (strcmp(stream, "stdout") != 0 && strcmp(stream, "stderr") != 0) ||
            (strcmp(tag, "F") != 0 && strcmp(tag, "P") != 0) || memchr(text, '\r', length)) {
            snprintf(detail, size, "line \"%.*s\"", (int)length, text);
            return false;
        }
        text += length + (text[length] == '\n');
    }
    return true;
}

static void test_log(struct job_pod *pod)
{
    const char *const argv[] = {self_path, "--print", NULL};
    _cleanup_free_ char *log_path = log_path_of("log");
    _cleanup_strbuf_ struct strbuf text = STRBUF_INIT;
    struct record record = {0};
    struct job_container *container = start_container(pod, "log", argv, &record);
    char detail[256] = "";

    if (container == NULL)
        return;
    run_until(exit_reported, &record);
    winmon_read_file(log_path, &text, NULL);
    check(text.data != NULL && strstr(text.data, " stdout F hello\n") != NULL,
          "log has the stdout line without CR", "log: %s", text.data ? text.data : "(none)");
    check(text.data != NULL && strstr(text.data, " stderr F oops\n") != NULL,
          "log has the stderr line", "log: %s", text.data ? text.data : "(none)");
    check(text.data != NULL && log_lines_valid(text.data, detail, sizeof(detail)),
          "log lines are CRI records", "%s", detail);
    remove_and_release(container);
}

/* With a tty, init runs on a pseudo console and all its output is stdout. */
static void test_tty_log(struct job_pod *pod)
{
    const char *const argv[] = {"cmd.exe", "/c", "echo tty-init", NULL};
    _cleanup_free_ char *log_path = log_path_of("tty");
    struct job_container_spec spec = {
        .container_id = "tty", .argv = argv, .log_path = log_path, .tty = true};
    _cleanup_strbuf_ struct strbuf text = STRBUF_INIT;
    struct record record = {0};
    struct job_container *container = start_spec(pod, &spec, &record);

    if (container == NULL)
        return;
    check(record.start_pid > 0, "tty container starts", "%s", record.start_message);
    run_until(exit_reported, &record);
    check(record.calls == 1 && record.exit_code == 0, "tty container exits with code 0",
          "%d calls, code %d", record.calls, record.exit_code);
    winmon_read_file(log_path, &text, NULL);
    check_api(text.data != NULL && strstr(text.data, " stdout ") && strstr(text.data, "tty-init"),
              "tty output is logged as stdout", WINE_NO_CONPTY_OUTPUT, "log: %s",
              text.data ? text.data : "(none)");
    remove_and_release(container);
}

/* The log is renamed while the child writes a line every 200 ms; after reopen the new file
 * fills. */
static void test_reopen_log(struct job_pod *pod)
{
    const char *const argv[] = {self_path, "--tick", "25", NULL};
    _cleanup_free_ char *log_path = log_path_of("reopen");
    _cleanup_free_ char *rotated = xasprintf("%s.1", log_path);
    struct file_wait first = {.path = log_path, .text = "tick 1"};
    struct record record = {0};
    struct job_container *container = start_container(pod, "reopen", argv, &record);
    _cleanup_strbuf_ struct strbuf text = STRBUF_INIT;
    struct error err = ERROR_INIT;
    int rc;

    if (container == NULL)
        return;
    run_until(file_contains, &first);
    check(MoveFileExA(log_path, rotated, 0), "log can be renamed while open", "Windows error %lu",
          (unsigned long)GetLastError());
    rc = job_container_reopen_log(container, &err);
    check(rc == 0, "reopen_log succeeds", "%s", err.message);
    error_clear(&err);
    run_until(exit_reported, &record);
    winmon_read_file(log_path, &text, NULL);
    check(text.length > 0, "reopened log receives output", "new log is empty");
    check(job_container_reopen_log(container, &err) < 0 && err.code == ERROR_FAILED_PRECONDITION,
          "reopen_log after the exit is FAILED_PRECONDITION", "code %d", err.code);
    error_clear(&err);
    winmon_delete(rotated);
    remove_and_release(container);
}

/* ---- Attach ---------------------------------------------------------------------------------- */

/* Reads or writes on an overlapped pipe and waits for the end; returns the bytes moved, or 0
 * at the end of the stream or on an error. */
static DWORD transfer(HANDLE pipe, bool write, void *buffer, DWORD size)
{
    OVERLAPPED overlapped = {.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL)};
    DWORD n = 0;
    BOOL ok = write ? WriteFile(pipe, buffer, size, NULL, &overlapped)
                    : ReadFile(pipe, buffer, size, NULL, &overlapped);

    if ((ok || GetLastError() == ERROR_IO_PENDING) &&
        !GetOverlappedResult(pipe, &overlapped, &n, TRUE))
        n = 0;
    CloseHandle(overlapped.hEvent);
    return n;
}

/* Reads exactly size bytes; false at the end of the stream. */
static bool read_exactly(HANDLE pipe, void *buffer, size_t size)
{
    size_t done = 0;

    while (done < size) {
        DWORD n = transfer(pipe, false, (char *)buffer + done, (DWORD)(size - done));

        if (n == 0)
            return false;
        done += n;
    }
    return true;
}

static bool write_frame(HANDLE pipe, enum job_attach_frame type, const char *payload)
{
    size_t length = strlen(payload);
    unsigned char frame[64] = {type, 0, 0, (unsigned char)(length >> 8), (unsigned char)length};

    memcpy(frame + JOB_ATTACH_HEADER_SIZE, payload, length);
    return transfer(pipe, true, frame, (DWORD)(JOB_ATTACH_HEADER_SIZE + length)) ==
           JOB_ATTACH_HEADER_SIZE + length;
}

/* Reads frames until one of type contains text (appended to out); false at end of stream. */
static bool read_frames_until(HANDLE pipe, enum job_attach_frame type, const char *text,
                              struct strbuf *out)
{
    for (;;) {
        unsigned char header[JOB_ATTACH_HEADER_SIZE];
        char payload[JOB_ATTACH_MAX_PAYLOAD];
        size_t length;

        if (!read_exactly(pipe, header, sizeof(header)))
            return false;
        length = ((size_t)header[3] << 8) | header[4];
        if (header[1] != 0 || header[2] != 0 || !read_exactly(pipe, payload, length))
            return false;
        if (header[0] == type)
            strbuf_append(out, payload, length);
        if (out->data != NULL && strstr(out->data, text) != NULL)
            return true;
    }
}

/* The child echoes stdin to stdout; attach sends it a line and reads the echo back. */
static void test_attach(struct job_pod *pod)
{
    const char *const argv[] = {self_path, "--echo", NULL};
    _cleanup_free_ char *log_path = log_path_of("attach");
    struct job_container_spec spec = {
        .container_id = "attach", .argv = argv, .log_path = log_path, .stdin_open = true};
    struct record record = {0};
    struct job_container *container = start_spec(pod, &spec, &record);
    _cleanup_strbuf_ struct strbuf echoed = STRBUF_INIT;
    struct error err = ERROR_INIT;
    uv_os_fd_t pipe = NULL;
    int rc;

    if (container == NULL)
        return;
    rc = job_container_attach(container, &pipe, &err);
    if (!check(rc == 0, "attach connects to the monitor", "%s", err.message)) {
        error_clear(&err);
        job_container_kill_all(container, NULL);
    } else {
        check(write_frame(pipe, JOB_ATTACH_STDIN, "ping from attach\n"), "attach sends stdin",
              "Windows error %lu", (unsigned long)GetLastError());
        check(read_frames_until(pipe, JOB_ATTACH_STDOUT, "echo: ping from attach", &echoed),
              "attach receives the echoed output", "received \"%s\"",
              echoed.data ? echoed.data : "");
        check(write_frame(pipe, JOB_ATTACH_CLOSE_STDIN, ""), "attach closes stdin",
              "Windows error %lu", (unsigned long)GetLastError());
    }
    run_until(exit_reported, &record);
    check(record.calls == 1 && record.exit_code == 0, "closed stdin ends the echo child",
          "%d calls, code %d", record.calls, record.exit_code);
    if (pipe != NULL)
        CloseHandle(pipe);
    check(job_container_attach(container, &pipe, &err) < 0 && err.code == ERROR_FAILED_PRECONDITION,
          "attach after the exit is FAILED_PRECONDITION", "code %d", err.code);
    error_clear(&err);
    remove_and_release(container);
}

/* ---- Exec ------------------------------------------------------------------------------------ */

struct exec_record {
    int calls;
    int exit_code;
};

static void exec_exit_cb(struct job_exec *exec, int exit_code, int signal, void *data)
{
    struct exec_record *record = data;

    (void)exec;
    (void)signal;
    record->calls++;
    record->exit_code = exit_code;
}

static bool exec_exited(void *data)
{
    return ((struct exec_record *)data)->calls > 0;
}

/* Reads a pipe end until the writer closes it. */
static void read_all(HANDLE pipe, struct strbuf *out)
{
    OVERLAPPED overlapped = {.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL)};
    char buffer[4096];
    DWORD n = 0;

    for (;;) {
        if (!ReadFile(pipe, buffer, sizeof(buffer), NULL, &overlapped) &&
            GetLastError() != ERROR_IO_PENDING)
            break;
        if (!GetOverlappedResult(pipe, &overlapped, &n, TRUE) || n == 0)
            break;
        strbuf_append(out, buffer, n);
    }
    CloseHandle(overlapped.hEvent);
}

/* A tty exec: the output comes through the pseudo console and ends when the process does. */
static void test_tty_exec(struct job_container *container)
{
    const char *const argv[] = {"cmd.exe", "/c", "echo tty-hello", NULL};
    struct job_exec_spec spec = {.argv = argv, .tty = true, .rows = 30, .cols = 100};
    struct exec_record record = {0};
    _cleanup_strbuf_ struct strbuf output = STRBUF_INIT;
    struct job_exec_io io;
    struct job_exec *exec = NULL;
    struct error err = ERROR_INIT;
    int rc = job_exec_start(container, &spec, exec_exit_cb, &record, &exec, &io, &err);

    if (!check(rc == 0, "tty exec starts", "%s", err.message)) {
        error_clear(&err);
        return;
    }
    check(io.stderr_fd == INVALID_HANDLE_VALUE && io.stdin_fd == INVALID_HANDLE_VALUE,
          "tty exec has only stdout", "stdin %p, stderr %p", io.stdin_fd, io.stderr_fd);
    rc = job_exec_resize(exec, 40, 120, &err);
    check_api(rc == 0, "tty exec resizes", WINE_NO_CONPTY_RESIZE, "%s", err.message);
    error_clear(&err);
    run_until(exec_exited, &record);
    read_all(io.stdout_fd, &output);
    check_api(output.data != NULL && strstr(output.data, "tty-hello") != NULL,
              "tty exec output comes through the console", WINE_NO_CONPTY_OUTPUT, "output \"%s\"",
              output.data ? output.data : "");
    check(record.calls == 1 && record.exit_code == 0, "tty exec reports its exit",
          "%d calls, code %d", record.calls, record.exit_code);
    CloseHandle(io.stdout_fd);
    job_exec_release(exec);
}

/* Reads what the pipe holds, waiting up to WAIT_LIMIT_MS for the first bytes. */
static void read_some(HANDLE pipe, char *buffer, size_t size)
{
    OVERLAPPED overlapped = {.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL)};
    DWORD n = 0;

    buffer[0] = '\0';
    if ((ReadFile(pipe, buffer, (DWORD)size - 1, NULL, &overlapped) ||
         GetLastError() == ERROR_IO_PENDING) &&
        WaitForSingleObject(overlapped.hEvent, WAIT_LIMIT_MS) == WAIT_OBJECT_0 &&
        GetOverlappedResult(pipe, &overlapped, &n, FALSE))
        buffer[n] = '\0';
    else
        CancelIo(pipe);
    CloseHandle(overlapped.hEvent);
}

/*
 * SIGTERM reaches a non-tty exec as CTRL_BREAK_EVENT, which this program's "--wait-break" mode
 * turns into BREAK_EXIT_CODE. Where the event cannot be sent, SIGTERM ends the exec like
 * SIGKILL.
 */
static void test_exec_sigterm(struct job_container *container)
{
    const char *const argv[] = {self_path, "--wait-break", NULL};
    struct job_exec_spec spec = {.argv = argv};
    struct exec_record record = {0};
    struct job_exec_io io;
    struct job_exec *exec = NULL;
    struct error err = ERROR_INIT;
    char ready[64];
    int rc = job_exec_start(container, &spec, exec_exit_cb, &record, &exec, &io, &err);

    if (!check(rc == 0, "exec waiting for CTRL_BREAK_EVENT starts", "%s", err.message)) {
        error_clear(&err);
        return;
    }
    read_some(io.stdout_fd, ready, sizeof(ready));
    check(strstr(ready, "waiting") != NULL, "exec installs its CTRL_BREAK_EVENT handler",
          "output \"%s\"", ready);
    rc = job_exec_signal(exec, 15, &err);
    check(rc == 0, "SIGTERM to an exec succeeds", "%s", err.message);
    error_clear(&err);
    run_until(exec_exited, &record);
    check(record.calls == 1, "SIGTERM ends the exec", "%d calls", record.calls);
    check_api(record.exit_code == BREAK_EXIT_CODE, "SIGTERM sends CTRL_BREAK_EVENT to an exec",
              "Wine 8's GenerateConsoleCtrlEvent fails with an invalid handle on a console "
              "that has no window, so the exec is terminated instead",
              "exit code %d", record.exit_code);
    CloseHandle(io.stdout_fd);
    CloseHandle(io.stderr_fd);
    job_exec_release(exec);
}

static void test_exec(struct job_pod *pod)
{
    const char *const argv[] = {"ping.exe", "-n", "600", "127.0.0.1", NULL};
    const char *const exec_argv[] = {"cmd.exe", "/c", "echo hello&exit 4", NULL};
    struct job_exec_spec spec = {.argv = exec_argv};
    struct record record = {0};
    struct exec_record exec_record = {0};
    struct job_container *container = start_container(pod, "exec", argv, &record);
    _cleanup_strbuf_ struct strbuf output = STRBUF_INIT;
    struct job_exec_io io;
    struct job_exec *exec = NULL;
    struct error err = ERROR_INIT;
    int rc;

    if (container == NULL)
        return;
    rc = job_exec_start(container, &spec, exec_exit_cb, &exec_record, &exec, &io, &err);
    if (check(rc == 0, "exec starts in a running container", "%s", err.message)) {
        check(job_exec_pid(exec) > 0, "exec reports its pid", "pid %d", job_exec_pid(exec));
        read_all(io.stdout_fd, &output);
        check(output.data != NULL && strcmp(output.data, "hello\r\n") == 0,
              "exec output is raw bytes", "output \"%s\"", output.data ? output.data : "");
        run_until(exec_exited, &exec_record);
        check(exec_record.calls == 1 && exec_record.exit_code == 4, "exec reports its exit code",
              "%d calls, code %d", exec_record.calls, exec_record.exit_code);
        CloseHandle(io.stdout_fd);
        CloseHandle(io.stderr_fd);
        job_exec_release(exec);
    }
    error_clear(&err);
    test_exec_sigterm(container);
    test_tty_exec(container);
    job_container_kill_all(container, NULL);
    run_until(exit_reported, &record);
    spec.tty = false;
    check(job_exec_start(container, &spec, exec_exit_cb, &exec_record, &exec, &io, &err) < 0 &&
              err.code == ERROR_FAILED_PRECONDITION,
          "exec after the exit is FAILED_PRECONDITION", "code %d", err.code);
    error_clear(&err);
    remove_and_release(container);
}

/* ---- Restart --------------------------------------------------------------------------------- */

static void open_container(struct job_runtime *runtime, const char *id, struct record *record,
                           struct job_container **container, bool *running,
                           struct job_exit_status *exited)
{
    struct error err = ERROR_INIT;

    *container = NULL;
    if (job_container_open(runtime, id, exit_cb, record, container, running, exited, &err) < 0) {
        check(false, "open container", "%s: %s", id, err.message);
        error_clear(&err);
    }
}

/* The daemon's handle goes (as in a restart) while the container runs on in its monitor. */
static void test_restart(struct job_runtime *runtime, struct job_pod *pod)
{
    const char *const argv[] = {"ping.exe", "-n", "600", "127.0.0.1", NULL};
    struct record record = {0};
    struct record reopened = {.starts = 1};
    struct job_container *container = start_container(pod, "survivor", argv, &record);
    struct job_exit_status exited = {0};
    struct error err = ERROR_INIT;
    bool running = false;
    int pid;

    if (container == NULL)
        return;
    pid = record.start_pid;
    job_container_release(container);
    uv_run(&loop, UV_RUN_NOWAIT);
    check(process_alive((DWORD)pid), "container outlives its released handle", "pid %d ended", pid);
    open_container(runtime, "survivor", &reopened, &container, &running, &exited);
    if (container == NULL)
        return;
    check(running && job_container_init_pid(container) == pid, "open finds the running monitor",
          "running %d, init pid %d of %d", running, job_container_init_pid(container), pid);
    check(job_container_kill_all(container, &err) == 0, "kill_all after reopen", "%s", err.message);
    error_clear(&err);
    run_until(exit_reported, &reopened);
    check(reopened.calls == 1 && reopened.exit_code == 1 && reopened.signal == 9,
          "reopened container reports its exit", "%d calls, code %d, signal %d", reopened.calls,
          reopened.exit_code, reopened.signal);
    job_container_release(container);

    open_container(runtime, "survivor", &reopened, &container, &running, &exited);
    if (container == NULL)
        return;
    check(!running && exited.exit_code == 1 && exited.signal == 9 &&
              exited.reason == JOB_EXIT_COMPLETED,
          "open reads the exit file", "running %d, code %d, signal %d, reason %d", running,
          exited.exit_code, exited.signal, exited.reason);
    job_exit_status_clear(&exited);
    remove_and_release(container);
}

static void test_open_states(struct job_runtime *runtime, struct job_pod *pod)
{
    const char *const argv[] = {"cmd.exe", "/c", "exit 0", NULL};
    struct record record = {0};
    struct job_container *container = create_container(pod, "never-started");
    struct job_exit_status exited = {0};
    _cleanup_free_ char *exit_path = xasprintf("%s\\containers\\gone\\exit", state_dir);
    struct error err = ERROR_INIT;
    bool running = true;
    bool listed;
    char **ids = NULL;

    job_container_release(container);
    open_container(runtime, "never-started", &record, &container, &running, &exited);
    if (container == NULL)
        return;
    check(!running && exited.reason == JOB_EXIT_NOT_STARTED, "open of a created container",
          "running %d, reason %d", running, exited.reason);
    job_exit_status_clear(&exited);
    remove_and_release(container);

    /* A monitor that left no exit file (a crash, or a reboot that cleared it). */
    container = start_container(pod, "gone", argv, &record);
    if (container == NULL)
        return;
    run_until(exit_reported, &record);
    job_runtime_list_containers(runtime, &ids, &err);
    listed = false;
    for (size_t i = 0; ids != NULL && ids[i] != NULL; i++)
        listed = listed || strcmp(ids[i], "gone") == 0;
    check(listed, "list_containers finds the state directory", "%zu ids, gone missing",
          strv_length(ids));
    strv_free(ids);
    job_container_release(container);
    winmon_delete(exit_path);
    open_container(runtime, "gone", &record, &container, &running, &exited);
    if (container == NULL)
        return;
    check(!running && exited.reason == JOB_EXIT_UNKNOWN, "open without monitor or exit file",
          "running %d, reason %d", running, exited.reason);
    job_exit_status_clear(&exited);
    remove_and_release(container);

    check(job_container_open(runtime, "no-such-container", exit_cb, &record, &container, &running,
                             &exited, &err) < 0 &&
              err.code == ERROR_NOT_FOUND,
          "open of an unknown container is NOT_FOUND", "code %d", err.code);
    error_clear(&err);
}

/* ---- Resources and statistics ---------------------------------------------------------------- */

#define WINE_NO_CPU_RATE "Wine's SetInformationJobObject rejects JobObjectCpuRateControlInformation"

static void test_resources(struct job_pod *pod)
{
    const char *const argv[] = {"ping.exe", "-n", "600", "127.0.0.1", NULL};
    _cleanup_free_ char *log_path = log_path_of("limits");
    struct job_container_spec spec = {.container_id = "limits",
                                      .argv = argv,
                                      .log_path = log_path,
                                      .resources = {.cpu_count = 1, .cpu_maximum = 5000}};
    struct job_resources update = {.cpu_maximum = 2500, .memory_limit_bytes = 256 << 20};
    struct job_container *container = create_container(pod, "limits");
    struct record record = {0};
    struct job_stats stats;
    struct error err = ERROR_INIT;
    int rc;

    if (container == NULL)
        return;
    rc = job_container_start(container, &spec, start_cb, exit_cb, &record, &err);
    check(rc < 0 && err.code == ERROR_INVALID_ARGUMENT && strstr(err.message, "cpu_count=1") &&
              strstr(err.message, "cpu_maximum=5000"),
          "two CPU limits fail the start, named", "code %d: %s", err.code, err.message);
    error_clear(&err);
    spec.resources = (struct job_resources){.cpu_maximum = 5000, .memory_limit_bytes = 512 << 20};
    rc = job_container_start(container, &spec, start_cb, exit_cb, &record, &err);
    check_api(rc == 0, "start with CPU and memory limits", WINE_NO_CPU_RATE, "%s", err.message);
    error_clear(&err);
    if (record.starts == 0 &&
        job_container_start(container,
                            &(struct job_container_spec){
                                .container_id = "limits", .argv = argv, .log_path = log_path},
                            start_cb, exit_cb, &record, &err) < 0) {
        check(false, "start without limits", "%s", err.message);
        error_clear(&err);
        job_container_release(container);
        return;
    }
    run_until(start_reported, &record);
    rc = job_container_update(container, &update, &err);
    check_api(rc == 0, "update CPU and memory limits", WINE_NO_CPU_RATE, "%s", err.message);
    error_clear(&err);
    update = (struct job_resources){.cpu_shares = 5000, .cpu_count = 2};
    check(job_container_update(container, &update, &err) < 0 && err.code == ERROR_INVALID_ARGUMENT,
          "update with two CPU limits is rejected", "code %d", err.code);
    error_clear(&err);

    Sleep(200);
    check(job_container_stats(container, &stats, &err) == 0 && stats.has_pids && stats.pids >= 1,
          "stats count the job's processes", "%s, %llu processes",
          err.message ? err.message : "read", (unsigned long long)stats.pids);
    error_clear(&err);
    check(stats.has_memory && stats.memory_working_set_bytes > 0, "stats add up the working sets",
          "%llu bytes", (unsigned long long)stats.memory_working_set_bytes);
    check_api(stats.cpu_usage_ns > 0, "stats report CPU time from job accounting",
              "Wine's job accounting reports zero CPU time", "%llu ns",
              (unsigned long long)stats.cpu_usage_ns);
    check(job_pod_stats(pod, &stats, &err) == 0 && stats.pids >= 1, "pod stats count the processes",
          "%s, %llu processes", err.message ? err.message : "read", (unsigned long long)stats.pids);
    error_clear(&err);
    check_api(stats.cpu_usage_ns > 0, "pod stats report CPU time",
              "Wine's job accounting reports zero CPU time", "%llu ns",
              (unsigned long long)stats.cpu_usage_ns);
    job_container_kill_all(container, NULL);
    run_until(exit_reported, &record);
    remove_and_release(container);
}

/* ---- Users ----------------------------------------------------------------------------------- */

/* Starts a container as username and returns the start callback's error code. */
static enum error_code start_as(struct job_pod *pod, const char *id, const char *username,
                                char *message, size_t size)
{
    const char *const argv[] = {"cmd.exe", "/c", "whoami", NULL};
    struct job_container_spec spec = {
        .container_id = id, .argv = argv, .user = {.username = username}};
    struct record record = {0};
    struct job_container *container = start_spec(pod, &spec, &record);

    if (container == NULL)
        return ERROR_INTERNAL;
    snprintf(message, size, "%s", record.start_message);
    if (record.start_code == ERROR_OK)
        run_until(exit_reported, &record);
    remove_and_release(container);
    return record.start_code;
}

static void test_users(struct job_pod *pod)
{
    char message[256];
    enum error_code code;

    code = start_as(pod, "user-unknown", "hostcri-no-such-user", message, sizeof(message));
    check(code == ERROR_NOT_FOUND && strstr(message, "hostcri-no-such-user"),
          "unknown user fails the start", "code %d: %s", code, message);
    code = start_as(pod, "user-bogus", "nt authority\\bogus", message, sizeof(message));
    check(code == ERROR_NOT_FOUND, "unknown NT AUTHORITY account fails", "code %d: %s", code,
          message);
    code = start_as(pod, "user-system", "nt authority\\system", message, sizeof(message));
    check_api(code == ERROR_OK, "NT AUTHORITY\\SYSTEM in any case starts",
              "Wine's LogonUserW returns a handle that is not a token", "code %d: %s", code,
              message);
    code = start_as(pod, "user-local", "NT AUTHORITY\\LOCAL SERVICE", message, sizeof(message));
    check_api(code == ERROR_OK, "NT AUTHORITY\\LOCAL SERVICE starts",
              "Wine's LogonUserW returns a handle that is not a token", "code %d: %s", code,
              message);
    code = start_as(pod, "user-group", "Users", message, sizeof(message));
    check_api(code == ERROR_OK, "local group starts through a temporary user",
              "Wine's NetUserAdd keeps the user in memory only, so LookupAccountNameW does not "
              "find it",
              "code %d: %s", code, message);
}

/* ---- Program lookup and command lines -------------------------------------------------------- */

/*
 * Copies this program under a name that is on no directory of the daemon's PATH, and starts it
 * through the PATH of the container's environment, without ".exe", in child mode.
 */
static void test_path_of_env(struct job_pod *pod)
{
    wchar_t self[MAX_PATH];
    wchar_t directory[MAX_PATH];
    wchar_t copy[MAX_PATH + 32];
    char path_entry[MAX_PATH + 16];
    const char *const argv[] = {"hostcri-job-child", "--exit", "7", NULL};
    const char *env[] = {path_entry, "SystemRoot=C:\\windows", NULL};
    struct job_container_spec spec = {.container_id = "path", .argv = argv, .env = env};
    struct record record = {0};
    struct job_container *container;

    GetModuleFileNameW(NULL, self, MAX_PATH);
    GetTempPathW(MAX_PATH, directory);
    wcscat(directory, L"hostcri-job-test");
    CreateDirectoryW(directory, NULL);
    swprintf(copy, MAX_PATH + 32, L"%ls\\hostcri-job-child.exe", directory);
    if (!check(CopyFileW(self, copy, FALSE), "copy the child program", "Windows error %lu",
               (unsigned long)GetLastError()))
        return;
    snprintf(path_entry, sizeof(path_entry), "PATH=%ls", directory);
    container = start_spec(pod, &spec, &record);
    if (container != NULL) {
        run_until(exit_reported, &record);
        check(record.calls == 1 && record.exit_code == 7, "program found on the PATH of env",
              "%d calls, code %d: %s", record.calls, record.exit_code, record.start_message);
        remove_and_release(container);
    }
    DeleteFileW(copy);
    RemoveDirectoryW(directory);
}

/* Each argument list survives process_windows_command_line and CommandLineToArgvW. */
static void test_command_line(void)
{
    static const char *const cases[][5] = {
        {"prog.exe", "plain", NULL},
        {"prog.exe", "two words", "", NULL},
        {"prog.exe", "quote\"inside", "tail\\", NULL},
        {"prog.exe", "back\\\\slash\\\"quote", "dir with space\\", NULL},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_free_ wchar_t *line = process_windows_command_line(cases[i]);
        int argc = 0;
        LPWSTR *parsed = line ? CommandLineToArgvW(line, &argc) : NULL;
        bool same = parsed != NULL;
        size_t n = 0;
        char name[64];

        while (cases[i][n])
            n++;
        same = same && (size_t)argc == n;
        for (size_t j = 0; same && j < n; j++) {
            char text[256];

            WideCharToMultiByte(CP_UTF8, 0, parsed[j], -1, text, sizeof(text), NULL, NULL);
            same = strcmp(text, cases[i][j]) == 0;
        }
        snprintf(name, sizeof(name), "command line round trip %zu", i + 1);
        check(same, name, "%d arguments parsed from %ls", argc, line ? line : L"(null)");
        LocalFree(parsed);
    }
}

/* ---- Main ------------------------------------------------------------------------------------ */

static BOOL WINAPI break_handler(DWORD event)
{
    if (event != CTRL_BREAK_EVENT)
        return FALSE;
    ExitProcess(BREAK_EXIT_CODE);
}

/*
 * Child modes of this program:
 * - "--exit N" exits with N;
 * - "--print" writes a line to stdout and one to stderr in text mode, so each ends with CR LF;
 * - "--tick N" prints N lines 200 ms apart;
 * - "--echo" copies stdin lines to stdout, with "echo: " in front, until end of file;
 * - "--wait-break" waits for CTRL_BREAK_EVENT.
 */
static bool run_child_mode(int argc, char **argv, int *code)
{
    if (argc == 2 && strcmp(argv[1], "--print") == 0) {
        fputs("hello\n", stdout);
        fflush(stdout);
        fputs("oops\n", stderr);
        *code = 0;
        return true;
    }
    if (argc == 3 && strcmp(argv[1], "--exit") == 0) {
        *code = atoi(argv[2]);
        return true;
    }
    if (argc == 2 && strcmp(argv[1], "--echo") == 0) {
        char line[256];

        while (fgets(line, sizeof(line), stdin) != NULL) {
            printf("echo: %s", line);
            fflush(stdout);
        }
        *code = 0;
        return true;
    }
    if (argc == 3 && strcmp(argv[1], "--tick") == 0) {
        for (int i = 1; i <= atoi(argv[2]); i++) {
            printf("tick %d\n", i);
            fflush(stdout);
            Sleep(200);
        }
        *code = 0;
        return true;
    }
    if (argc == 2 && strcmp(argv[1], "--wait-break") == 0) {
        SetConsoleCtrlHandler(break_handler, TRUE);
        printf("waiting\n");
        fflush(stdout);
        Sleep(WAIT_LIMIT_MS);
        *code = 0;
        return true;
    }
    return false;
}

static void set_up_paths(void)
{
    char temp[MAX_PATH];

    GetModuleFileNameA(NULL, self_path, sizeof(self_path));
    GetTempPathA(sizeof(temp), temp);
    /* Wine reuses small pids from run to run, so the time makes the name unique. */
    snprintf(state_dir, sizeof(state_dir), "%shostcri-job-test-%lu-%llu", temp,
             (unsigned long)GetCurrentProcessId(), (unsigned long long)GetTickCount64());
}

int main(int argc, char **argv)
{
    struct job_config config = {.state_dir = state_dir, .leftover_grace_ms = 500};
    struct job_pod_spec pod_spec = {.sandbox_id = "pod1"};
    struct job_runtime *runtime = NULL;
    struct job_pod *pod = NULL;
    struct error err = ERROR_INIT;
    int code;

    if (run_child_mode(argc, argv, &code))
        return code;
    setvbuf(stdout, NULL, _IONBF, 0);
    set_up_paths();
    uv_loop_init(&loop);
    test_command_line();
    if (!check(job_runtime_new(&loop, &config, &runtime, &err) == 0, "create the job runtime", "%s",
               err.message) ||
        !check(job_pod_create(runtime, &pod_spec, &pod, &err) == 0, "create the pod job", "%s",
               err.message)) {
        checks_finish();
        return 1;
    }
    check(strcmp(job_runtime_layout_name(runtime), "job objects") == 0, "layout name", "%s",
          job_runtime_layout_name(runtime));
    test_exit_code(pod);
    test_negative_exit_code(pod);
    test_missing_program(pod);
    test_kill_tree(pod);
    test_leftover_process(pod);
    test_sigkill(pod);
    test_graceful_stop(pod);
    test_log(pod);
    test_tty_log(pod);
    test_reopen_log(pod);
    test_attach(pod);
    test_exec(pod);
    test_restart(runtime, pod);
    test_open_states(runtime, pod);
    test_resources(pod);
    test_users(pod);
    test_path_of_env(pod);
    check(job_pod_remove(pod, &err) == 0, "remove the empty pod", "%s", err.message);
    error_clear(&err);
    job_pod_release(pod);
    job_runtime_free(runtime);
    uv_run(&loop, UV_RUN_DEFAULT);
    check(uv_loop_close(&loop) == 0, "every handle closed", "loop still has handles");
    return checks_finish();
}
