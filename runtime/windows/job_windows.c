/*
 * The job-object backend of runtime/job.h: the runtime, its message thread and pod jobs.
 * Containers are in job_windows_container.c and job_windows_start.c, limits and statistics in
 * job_windows_resources.c.
 *
 * The threads that read start reports and the waits registered on monitor processes post
 * their messages to one completion port. A thread blocks on the port and queues the messages
 * for the loop thread, which hands each message to the container with its key and drops it
 * when that container is gone.
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

/* Completion key that makes the port thread return. Container keys start at 1. */
#define PORT_THREAD_STOP_KEY 0
#define DEFAULT_STATE_DIR "C:\\ProgramData\\hostcri"
#define DEFAULT_GRACE_MS 5000
#define MONITOR_PROGRAM "hostcri-monitor.exe"

static DWORD WINAPI port_thread_main(LPVOID parameter)
{
    struct job_runtime *runtime = parameter;

    for (;;) {
        DWORD message;
        ULONG_PTR key;
        LPOVERLAPPED overlapped;

        if (!GetQueuedCompletionStatus(runtime->port, &message, &key, &overlapped, INFINITE))
            continue;
        if (key == PORT_THREAD_STOP_KEY)
            return 0;
        EnterCriticalSection(&runtime->lock);
        if (runtime->n_pending == runtime->pending_capacity) {
            runtime->pending_capacity =
                runtime->pending_capacity ? runtime->pending_capacity * 2 : 16;
            runtime->pending =
                xrealloc(runtime->pending, runtime->pending_capacity * sizeof(*runtime->pending));
        }
        runtime->pending[runtime->n_pending++] =
            (struct job_windows_message){.key = key, .message = message};
        LeaveCriticalSection(&runtime->lock);
        uv_async_send(&runtime->async);
    }
}

void job_windows_post(HANDLE port, uintptr_t key, enum job_windows_message_kind kind)
{
    PostQueuedCompletionStatus(port, (DWORD)kind, key, NULL);
}

static struct job_container *find_container(struct job_runtime *runtime, uintptr_t key)
{
    for (size_t i = 0; i < runtime->n_containers; i++) {
        if (runtime->containers[i]->key == key)
            return runtime->containers[i];
    }
    return NULL;
}

/* The first field of every exec handle is its key (job_windows_exec.c). */
static struct job_exec *find_exec(struct job_runtime *runtime, uintptr_t key)
{
    for (size_t i = 0; i < runtime->n_execs; i++) {
        if (*(const uintptr_t *)runtime->execs[i] == key)
            return runtime->execs[i];
    }
    return NULL;
}

void job_windows_add_exec(struct job_runtime *runtime, struct job_exec *exec, uintptr_t *key)
{
    *key = runtime->next_key++;
    runtime->execs = xrealloc(runtime->execs, (runtime->n_execs + 1) * sizeof(*runtime->execs));
    runtime->execs[runtime->n_execs++] = exec;
}

void job_windows_remove_exec(struct job_runtime *runtime, struct job_exec *exec)
{
    for (size_t i = 0; i < runtime->n_execs; i++) {
        if (runtime->execs[i] == exec) {
            runtime->execs[i] = runtime->execs[--runtime->n_execs];
            return;
        }
    }
}

static void async_cb(uv_async_t *async)
{
    struct job_runtime *runtime = async->data;
    struct job_windows_message *messages;
    size_t count;

    EnterCriticalSection(&runtime->lock);
    messages = steal_pointer(&runtime->pending);
    count = runtime->n_pending;
    runtime->n_pending = 0;
    runtime->pending_capacity = 0;
    LeaveCriticalSection(&runtime->lock);

    for (size_t i = 0; i < count; i++) {
        /* Looked up for each message: a callback may release a container or an exec. */
        struct job_container *container = find_container(runtime, messages[i].key);
        struct job_exec *exec = container ? NULL : find_exec(runtime, messages[i].key);

        if (container)
            job_windows_container_message(container, &messages[i]);
        else if (exec && messages[i].message == JOB_WINDOWS_MSG_EXEC_EXITED)
            job_windows_exec_message(exec);
    }
    free(messages);
}

void job_windows_add_container(struct job_runtime *runtime, struct job_container *container)
{
    container->key = runtime->next_key++;
    runtime->containers =
        xrealloc(runtime->containers, (runtime->n_containers + 1) * sizeof(*runtime->containers));
    runtime->containers[runtime->n_containers++] = container;
}

void job_windows_remove_container(struct job_runtime *runtime, struct job_container *container)
{
    for (size_t i = 0; i < runtime->n_containers; i++) {
        if (runtime->containers[i] == container) {
            runtime->containers[i] = runtime->containers[--runtime->n_containers];
            return;
        }
    }
}

char *job_windows_pod_job_name(const char *sandbox_id)
{
    return xasprintf("hostcri-pod-%s", sandbox_id);
}

/* ---- Runtime --------------------------------------------------------------------------------- */

/* hostcri-monitor.exe in the directory of the running program. */
static char *default_monitor_path(void)
{
    wchar_t path[MAX_PATH];
    DWORD length = GetModuleFileNameW(NULL, path, MAX_PATH);
    _cleanup_free_ char *utf8 = NULL;
    char *slash;

    if (length == 0 || length >= MAX_PATH)
        return xstrdup(MONITOR_PROGRAM);
    utf8 = text_windows_wide_to_utf8(path);
    slash = utf8 ? strrchr(utf8, '\\') : NULL;
    if (slash == NULL)
        return xstrdup(MONITOR_PROGRAM);
    slash[1] = '\0';
    return xasprintf("%s%s", utf8, MONITOR_PROGRAM);
}

/* Calls fn with the name of each subdirectory of dir. */
static void each_subdirectory(const char *dir, void (*fn)(void *data, const char *name), void *data)
{
    _cleanup_free_ char *pattern = winmon_path(dir, "*");
    _cleanup_free_ wchar_t *wide = text_windows_utf8_to_wide(pattern);
    WIN32_FIND_DATAW entry;
    HANDLE find = wide ? FindFirstFileW(wide, &entry) : INVALID_HANDLE_VALUE;

    if (find == INVALID_HANDLE_VALUE)
        return;
    do {
        _cleanup_free_ char *name = text_windows_wide_to_utf8(entry.cFileName);

        if (name != NULL && (entry.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY) &&
            strcmp(name, ".") != 0 && strcmp(name, "..") != 0)
            fn(data, name);
    } while (FindNextFileW(find, &entry));
    FindClose(find);
}

/* Deletes the temporary user of a container whose monitor is gone (it crashed, or the host
 * restarted); a running container keeps its user. */
static void delete_stale_user(void *data, const char *id)
{
    struct job_runtime *runtime = data;
    _cleanup_free_ char *dir = xasprintf("%s\\containers\\%s", runtime->state_dir, id);
    _cleanup_free_ char *record = winmon_path(dir, WINMON_USER_FILE);
    _cleanup_free_ char *pid_path = winmon_path(dir, WINMON_PID_FILE);
    struct error err = ERROR_INIT;
    HANDLE monitor = NULL;
    DWORD pid = 0;

    if (!winmon_exists(record))
        return;
    winmon_pid_file_open(pid_path, 0, &pid, &monitor, NULL);
    if (monitor != NULL) {
        CloseHandle(monitor);
        return;
    }
    if (winuser_windows_delete_recorded(record, &err) < 0) {
        log_warn_id("container", id, "%s", err.message);
        error_clear(&err);
        return;
    }
    log_info_id("container", id, "deleted the temporary user of a container whose monitor ended");
}

int job_runtime_new(uv_loop_t *loop, const struct job_config *config, struct job_runtime **out,
                    struct error *err)
{
    struct job_runtime *runtime = xcalloc(1, sizeof(*runtime));
    _cleanup_free_ char *containers = NULL;

    runtime->loop = loop;
    runtime->state_dir =
        xstrdup(str_empty(config->state_dir) ? DEFAULT_STATE_DIR : config->state_dir);
    runtime->monitor_path =
        str_empty(config->monitor_path) ? default_monitor_path() : xstrdup(config->monitor_path);
    runtime->grace_ms =
        config->leftover_grace_ms > 0 ? config->leftover_grace_ms : DEFAULT_GRACE_MS;
    runtime->host_cpus = (int)GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);
    if (runtime->host_cpus < 1)
        runtime->host_cpus = 1;
    runtime->next_key = PORT_THREAD_STOP_KEY + 1;
    InitializeCriticalSection(&runtime->lock);
    uv_async_init(loop, &runtime->async, async_cb);
    runtime->async.data = runtime;
    *out = runtime;
    containers = winmon_path(runtime->state_dir, "containers");
    if (winmon_make_dirs(containers, err) < 0) {
        job_runtime_free(runtime);
        *out = NULL;
        return error_prefix(err, "set up the job backend");
    }
    runtime->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    runtime->thread =
        runtime->port ? CreateThread(NULL, 0, port_thread_main, runtime, 0, NULL) : NULL;
    if (runtime->thread == NULL) {
        error_set_windows(err, ERROR_INTERNAL, GetLastError(), "start the job message thread");
        job_runtime_free(runtime);
        *out = NULL;
        return -1;
    }
    each_subdirectory(containers, delete_stale_user, runtime);
    if (!winmon_exists(runtime->monitor_path))
        log_warn("monitor program %s not found; containers cannot start", runtime->monitor_path);
    log_info("job backend: Windows job objects, monitor %s", runtime->monitor_path);
    return 0;
}

static void runtime_async_closed_cb(uv_handle_t *handle)
{
    struct job_runtime *runtime = handle->data;

    DeleteCriticalSection(&runtime->lock);
    free(runtime->pending);
    free(runtime->containers);
    free(runtime->execs);
    free(runtime->state_dir);
    free(runtime->monitor_path);
    free(runtime);
}

void job_runtime_free(struct job_runtime *runtime)
{
    if (runtime == NULL)
        return;
    if (runtime->thread) {
        PostQueuedCompletionStatus(runtime->port, 0, PORT_THREAD_STOP_KEY, NULL);
        WaitForSingleObject(runtime->thread, INFINITE);
        CloseHandle(runtime->thread);
    }
    if (runtime->port)
        CloseHandle(runtime->port);
    /* The memory goes with the async handle, from the loop. */
    uv_close((uv_handle_t *)&runtime->async, runtime_async_closed_cb);
}

const char *job_runtime_layout_name(const struct job_runtime *runtime)
{
    (void)runtime;
    return "job objects";
}

void job_runtime_features(const struct job_runtime *runtime, struct job_features *features)
{
    (void)runtime;
    /* Windows has neither recursive read-only binds nor POSIX supplemental groups. */
    features->recursive_readonly_mounts = false;
    features->supplemental_groups = false;
}

static void add_id(void *data, const char *id)
{
    char ***ids = data;
    size_t n = strv_length(*ids);

    *ids = xrealloc(*ids, (n + 2) * sizeof(char *));
    (*ids)[n] = xstrdup(id);
    (*ids)[n + 1] = NULL;
}

int job_runtime_list_containers(struct job_runtime *runtime, char ***ids, struct error *err)
{
    _cleanup_free_ char *containers = winmon_path(runtime->state_dir, "containers");

    (void)err;
    *ids = xcalloc(1, sizeof(**ids));
    each_subdirectory(containers, add_id, ids);
    return 0;
}
