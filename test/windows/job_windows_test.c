/*
 * job_windows_test: tests of the job-object backend (runtime/windows/) that start real
 * processes with cmd.exe and ping.exe. Prints one "PASS <check>" or "FAIL <check>: <detail>"
 * line per check; the exit status is the number of failed checks.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>

#include <shellapi.h>

#include "common/util.h"
#include "runtime/job.h"
#include "runtime/windows/job_windows.h"
#include "runtime/windows/process_windows.h"

/* Bound on each wait for the backend, so that a broken backend fails instead of hanging. */
#define WAIT_LIMIT_MS 60000

static int passed;
static int failed;
static uv_loop_t loop;

static bool check(bool ok, const char *name, const char *fmt, ...)
{
    va_list args;

    if (ok) {
        printf("PASS %s\n", name);
        passed++;
    } else {
        printf("FAIL %s: ", name);
        va_start(args, fmt);
        vprintf(fmt, args);
        va_end(args);
        printf("\n");
        failed++;
    }
    fflush(stdout);
    return ok;
}

struct exit_record {
    int starts; /* start callbacks; the exit callback must come after the first */
    int start_pid;
    bool exit_before_start;
    int calls;
    int exit_code;
    int signal;
    enum job_exit_reason reason;
};

static void exit_cb(struct job_container *container, const struct job_exit_status *status,
                    void *data)
{
    struct exit_record *record = data;

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
    struct exit_record *record = data;

    (void)container;
    (void)err;
    record->starts++;
    record->start_pid = init_pid;
}

static void limit_timer_cb(uv_timer_t *timer)
{
    *(bool *)timer->data = true;
}

/* Runs the loop until condition(data) is true or WAIT_LIMIT_MS passed; returns the condition. */
static bool run_until(bool (*condition)(void *data), void *data)
{
    uv_timer_t limit;
    bool expired = false;

    uv_timer_init(&loop, &limit);
    limit.data = &expired;
    uv_timer_start(&limit, limit_timer_cb, WAIT_LIMIT_MS, 0);
    while (!condition(data) && !expired)
        uv_run(&loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&limit, NULL);
    uv_run(&loop, UV_RUN_NOWAIT);
    return condition(data);
}

static bool start_reported(void *data)
{
    return ((struct exit_record *)data)->starts > 0;
}

static bool exit_reported(void *data)
{
    return ((struct exit_record *)data)->calls > 0;
}

struct pid_wait {
    struct job_container *container;
    size_t at_least;
    size_t count;
};

/* Polls the job's process list; the loop runs between polls so job messages are handled. */
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

static struct job_container *start_container(struct job_pod *pod, const char *id,
                                             const char *const *argv, struct exit_record *record)
{
    struct job_container_spec spec = {.container_id = id, .argv = argv};
    struct job_container *container = NULL;
    struct error err = ERROR_INIT;
    int pid;

    if (job_container_create(pod, id, &container, &err) < 0) {
        check(false, "create container job", "%s: %s", id, err.message);
        error_clear(&err);
        return NULL;
    }
    if (job_container_start(container, &spec, start_cb, exit_cb, record, &err) < 0) {
        check(false, "start container", "%s: %s", id, err.message);
        error_clear(&err);
        job_container_release(container);
        return NULL;
    }
    check(record->starts == 0, "the start callback runs later, from the loop", "%d calls",
          record->starts);
    run_until(start_reported, record);
    pid = record->start_pid;
    check(record->starts == 1 && pid > 0 && job_container_init_pid(container) == pid,
          "start reports the init pid", "pid %d, init_pid %d", pid,
          job_container_init_pid(container));
    return container;
}

static void test_exit_code(struct job_pod *pod)
{
    const char *const argv[] = {"cmd.exe", "/c", "exit 3", NULL};
    struct exit_record record = {0};
    struct job_container *container = start_container(pod, "exit-code", argv, &record);
    struct error err = ERROR_INIT;

    if (container == NULL)
        return;
    run_until(exit_reported, &record);
    check(record.calls == 1, "exit callback runs once", "%d calls", record.calls);
    check(!record.exit_before_start, "exit callback runs after the start callback", "%d starts",
          record.starts);
    check(record.exit_code == 3 && record.signal == 0, "exit code of cmd /c exit 3",
          "code %d, signal %d", record.exit_code, record.signal);
    check(record.reason == JOB_EXIT_COMPLETED, "exit reason is completed", "reason %d",
          record.reason);
    check(job_container_remove(container, &err) == 0, "remove an exited container", "%s",
          err.message);
    error_clear(&err);
    job_container_release(container);
}

static void test_missing_program(struct job_pod *pod)
{
    const char *const argv[] = {"hostcri-no-such-program.exe", NULL};
    struct job_container_spec spec = {.container_id = "missing", .argv = argv};
    struct job_container *container = NULL;
    struct error err = ERROR_INIT;

    if (job_container_create(pod, "missing", &container, &err) < 0) {
        check(false, "create container job", "%s", err.message);
        error_clear(&err);
        return;
    }
    check(job_container_start(container, &spec, start_cb, exit_cb, NULL, &err) < 0 &&
              err.code == ERROR_NOT_FOUND,
          "missing program is NOT_FOUND", "code %d: %s", err.code,
          err.message ? err.message : "(started)");
    error_clear(&err);
    job_container_release(container);
}

/* Processes in the pod's job object, which the container jobs are nested in. */
static unsigned long pod_process_count(const struct job_pod *pod)
{
    JOBOBJECT_BASIC_ACCOUNTING_INFORMATION accounting = {0};

    QueryInformationJobObject(pod->job, JobObjectBasicAccountingInformation, &accounting,
                              sizeof(accounting), NULL);
    return accounting.ActiveProcesses;
}

/* cmd runs one ping in the background and one in the foreground: three processes. */
static void test_kill_tree(struct job_pod *pod)
{
    const char *const argv[] = {
        "cmd.exe", "/c", "start /b ping -n 600 127.0.0.1 >NUL & ping -n 600 127.0.0.1 >NUL", NULL};
    struct exit_record record = {0};
    struct job_container *container = start_container(pod, "kill-tree", argv, &record);
    struct pid_wait wait = {.container = container, .at_least = 3};
    struct job_stats stats;
    struct error err = ERROR_INIT;

    if (container == NULL)
        return;
    check(run_until(has_enough_pids, &wait), "job holds cmd and both pings", "%zu processes",
          wait.count);
    check(job_container_stats(container, &stats, &err) == 0 && stats.has_pids && stats.pids >= 3,
          "stats count the job's processes", "%s, %llu processes",
          err.message ? err.message : "read", (unsigned long long)stats.pids);
    /* Wine 8 reports no page faults, so only the working set is checked. */
    check(stats.has_memory, "stats report memory", "has_memory false");
    check(stats.memory_working_set_bytes > 0, "stats add up the working sets", "%llu bytes",
          (unsigned long long)stats.memory_working_set_bytes);
    error_clear(&err);
    check(pod_process_count(pod) >= 3, "pod job counts the container's processes", "%lu processes",
          pod_process_count(pod));
    check(job_pod_remove(pod, &err) < 0 && err.code == ERROR_FAILED_PRECONDITION,
          "pod with running processes is not removed", "code %d", err.code);
    error_clear(&err);
    check(job_container_remove(container, &err) < 0 && err.code == ERROR_FAILED_PRECONDITION,
          "running container is not removed", "code %d", err.code);
    error_clear(&err);

    check(job_container_kill_all(container, &err) == 0, "kill_all succeeds", "%s", err.message);
    error_clear(&err);
    run_until(exit_reported, &record);
    check(record.calls == 1 && record.exit_code == 137 && record.signal == 9,
          "kill_all reports code 137 and signal 9", "%d calls, code %d, signal %d", record.calls,
          record.exit_code, record.signal);
    wait.at_least = 0;
    has_enough_pids(&wait);
    check(wait.count == 0, "kill_all empties the job", "%zu processes left", wait.count);
    check(job_container_remove(container, &err) == 0, "remove the killed container", "%s",
          err.message);
    error_clear(&err);
    job_container_release(container);
}

/* The init process exits while its background ping runs on: the backend ends the ping. */
static void test_leftover_process(struct job_pod *pod)
{
    const char *const argv[] = {"cmd.exe", "/c", "start /b ping -n 600 127.0.0.1 >NUL & exit 5",
                                NULL};
    struct exit_record record = {0};
    struct job_container *container = start_container(pod, "leftover", argv, &record);
    struct pid_wait wait = {.container = container};

    if (container == NULL)
        return;
    run_until(exit_reported, &record);
    check(record.calls == 1 && record.exit_code == 5, "leftover process ended after init exit",
          "%d calls, code %d", record.calls, record.exit_code);
    has_enough_pids(&wait);
    check(wait.count == 0, "leftover process is gone", "%zu processes left", wait.count);
    job_container_release(container);
}

/* Releasing the handle closes the job object, and kill-on-job-close ends its processes. */
static void test_release_kills(struct job_pod *pod)
{
    const char *const argv[] = {"ping.exe", "-n", "600", "127.0.0.1", NULL};
    struct exit_record record = {0};
    struct job_container *container = start_container(pod, "release", argv, &record);
    HANDLE process;

    if (container == NULL)
        return;
    process = OpenProcess(SYNCHRONIZE, FALSE, (DWORD)job_container_init_pid(container));
    job_container_release(container);
    check(process != NULL && WaitForSingleObject(process, WAIT_LIMIT_MS) == WAIT_OBJECT_0,
          "release ends the job's processes", "process still runs");
    if (process)
        CloseHandle(process);
    uv_run(&loop, UV_RUN_NOWAIT);
    check(record.calls == 0, "released container gets no exit callback", "%d calls", record.calls);
}

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
    const char *env[] = {path_entry, NULL};
    struct job_container_spec spec = {.container_id = "path", .argv = argv, .env = env};
    struct exit_record record = {0};
    struct job_container *container = NULL;
    struct error err = ERROR_INIT;

    GetModuleFileNameW(NULL, self, MAX_PATH);
    GetTempPathW(MAX_PATH, directory);
    wcscat(directory, L"hostcri-job-test");
    CreateDirectoryW(directory, NULL);
    swprintf(copy, MAX_PATH + 32, L"%ls\\hostcri-job-child.exe", directory);
    if (!check(CopyFileW(self, copy, FALSE), "copy the child program", "Windows error %lu",
               (unsigned long)GetLastError()))
        return;
    snprintf(path_entry, sizeof(path_entry), "PATH=%ls", directory);
    if (job_container_create(pod, "path", &container, &err) < 0 ||
        job_container_start(container, &spec, start_cb, exit_cb, &record, &err) < 0) {
        check(false, "program found on the PATH of env", "%s", err.message);
        error_clear(&err);
    } else {
        run_until(exit_reported, &record);
        check(record.calls == 1 && record.exit_code == 7, "program found on the PATH of env",
              "%d calls, code %d", record.calls, record.exit_code);
    }
    job_container_release(container);
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

int main(int argc, char **argv)
{
    struct job_config config = {.leftover_grace_ms = 500};
    struct job_pod_spec pod_spec = {.sandbox_id = "pod1"};
    struct job_runtime *runtime = NULL;
    struct job_pod *pod = NULL;
    struct error err = ERROR_INIT;

    /* Child mode for test_path_of_env. */
    if (argc == 3 && strcmp(argv[1], "--exit") == 0)
        return atoi(argv[2]);
    setvbuf(stdout, NULL, _IONBF, 0);
    uv_loop_init(&loop);
    test_command_line();
    if (!check(job_runtime_new(&loop, &config, &runtime, &err) == 0, "create the job runtime", "%s",
               err.message) ||
        !check(job_pod_create(runtime, &pod_spec, &pod, &err) == 0, "create the pod job", "%s",
               err.message)) {
        printf("%d passed, %d failed\n", passed, failed);
        return 1;
    }
    check(strcmp(job_runtime_layout_name(runtime), "job objects") == 0, "layout name", "%s",
          job_runtime_layout_name(runtime));
    test_exit_code(pod);
    test_missing_program(pod);
    test_kill_tree(pod);
    test_leftover_process(pod);
    test_release_kills(pod);
    test_path_of_env(pod);
    check(job_pod_remove(pod, &err) == 0, "remove the empty pod", "%s", err.message);
    error_clear(&err);
    job_pod_release(pod);
    job_runtime_free(runtime);
    uv_run(&loop, UV_RUN_DEFAULT);
    check(uv_loop_close(&loop) == 0, "every handle closed", "loop still has handles");
    printf("%d passed, %d failed\n", passed, failed);
    return failed;
}
