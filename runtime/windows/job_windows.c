/*
 * The job-object backend of runtime/job.h: the runtime and its completion port, and pod jobs.
 * Containers are in job_windows_container.c.
 *
 * Every container's job object posts its messages (a process started or exited, the job became
 * empty) to one completion port. A thread blocks on the port and queues the messages for the
 * loop thread. The loop thread hands each message to the container with its completion key and
 * drops it when that container is gone.
 */
#include "runtime/windows/job_windows.h"

#include <stdlib.h>
#include <string.h>

#include "common/error_windows.h"
#include "common/log.h"
#include "common/text_windows.h"
#include "common/util.h"

/* Completion key that makes the port thread return. Container keys start at 1. */
#define PORT_THREAD_STOP_KEY 0

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
        /* For job messages the OVERLAPPED pointer carries the process id. */
        runtime->pending[runtime->n_pending++] = (struct job_windows_message){
            .key = key, .message = message, .pid = (DWORD)(uintptr_t)overlapped};
        LeaveCriticalSection(&runtime->lock);
        uv_async_send(&runtime->async);
    }
}

static struct job_container *find_container(struct job_runtime *runtime, uintptr_t key)
{
    for (size_t i = 0; i < runtime->n_containers; i++) {
        if (runtime->containers[i]->key == key)
            return runtime->containers[i];
    }
    return NULL;
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
        /* Looked up for each message: a callback may release a container. */
        struct job_container *container = find_container(runtime, messages[i].key);

        if (container)
            job_windows_container_message(container, &messages[i]);
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

int job_runtime_new(uv_loop_t *loop, const struct job_config *config, struct job_runtime **out,
                    struct error *err)
{
    struct job_runtime *runtime = xcalloc(1, sizeof(*runtime));

    runtime->loop = loop;
    /* NOTE: nothing is stored under state_dir yet, so containers do not survive a restart. */
    runtime->state_dir =
        xstrdup(config->state_dir ? config->state_dir : "C:\\ProgramData\\hostcri");
    runtime->leftover_grace_ms = config->leftover_grace_ms > 0 ? config->leftover_grace_ms : 5000;
    runtime->next_key = PORT_THREAD_STOP_KEY + 1;
    runtime->port = CreateIoCompletionPort(INVALID_HANDLE_VALUE, NULL, 0, 1);
    if (runtime->port == NULL) {
        error_set_windows(err, ERROR_INTERNAL, GetLastError(), "create the job completion port");
        free(runtime->state_dir);
        free(runtime);
        return -1;
    }
    InitializeCriticalSection(&runtime->lock);
    uv_async_init(loop, &runtime->async, async_cb);
    runtime->async.data = runtime;
    runtime->thread = CreateThread(NULL, 0, port_thread_main, runtime, 0, NULL);
    if (runtime->thread == NULL) {
        error_set_windows(err, ERROR_INTERNAL, GetLastError(), "start the job message thread");
        job_runtime_free(runtime);
        return -1;
    }
    log_info("job backend: Windows job objects");
    *out = runtime;
    return 0;
}

static void runtime_async_closed_cb(uv_handle_t *handle)
{
    struct job_runtime *runtime = handle->data;

    DeleteCriticalSection(&runtime->lock);
    free(runtime->pending);
    free(runtime->containers);
    free(runtime->state_dir);
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
    CloseHandle(runtime->port);
    /* The memory goes with the async handle, from the loop. */
    uv_close((uv_handle_t *)&runtime->async, runtime_async_closed_cb);
}

const char *job_runtime_layout_name(const struct job_runtime *runtime)
{
    (void)runtime;
    return "job objects";
}

int job_runtime_list_containers(struct job_runtime *runtime, char ***ids, struct error *err)
{
    (void)runtime;
    (void)err;
    /* TODO: list the containers recorded under state_dir once the monitor records them. */
    *ids = xcalloc(1, sizeof(**ids));
    return 0;
}

/* ---- Pod job ---------------------------------------------------------------------------- */

/*
 * The pod job has no limits of its own yet; it groups the container jobs, which are nested in
 * it, so that the pod's processes can be counted. An existing pod job of that name is reused.
 */
int job_pod_create(struct job_runtime *runtime, const struct job_pod_spec *spec,
                   struct job_pod **out, struct error *err)
{
    struct job_pod *pod;
    _cleanup_free_ wchar_t *name = NULL;

    if (str_empty(spec->sandbox_id))
        return error_set(err, ERROR_INVALID_ARGUMENT, "create a pod job: empty sandbox id");
    pod = xcalloc(1, sizeof(*pod));
    pod->runtime = runtime;
    pod->sandbox_id = xstrdup(spec->sandbox_id);
    pod->name = xasprintf("hostcri-pod-%s", spec->sandbox_id);
    name = text_windows_utf8_to_wide(pod->name);
    pod->job = name ? CreateJobObjectW(NULL, name) : NULL;
    if (pod->job == NULL) {
        error_set_windows(err, ERROR_INTERNAL, name ? GetLastError() : ERROR_INVALID_NAME,
                          "create job object %s", pod->name);
        job_pod_release(pod);
        return -1;
    }
    *out = pod;
    return 0;
}

int job_pod_open(struct job_runtime *runtime, const char *sandbox_id, struct job_pod **out,
                 struct error *err)
{
    (void)runtime;
    (void)out;
    return error_set(err, ERROR_NOT_FOUND,
                     "pod job of sandbox %s not found: Windows pod jobs are not recorded yet",
                     sandbox_id);
}

const char *job_pod_cgroup(const struct job_pod *pod)
{
    return pod->name;
}

int job_pod_stats(const struct job_pod *pod, struct job_stats *stats, struct error *err)
{
    (void)stats;
    return error_set(err, ERROR_UNIMPLEMENTED,
                     "pod %s: pod-level statistics are not built on "
                     "Windows yet",
                     pod->name);
}

static bool container_has_processes(const struct job_container *container)
{
    JOBOBJECT_BASIC_ACCOUNTING_INFORMATION accounting;

    if (!QueryInformationJobObject(container->job, JobObjectBasicAccountingInformation, &accounting,
                                   sizeof(accounting), NULL))
        return !container->job_empty;
    return accounting.ActiveProcesses > 0;
}

int job_pod_remove(struct job_pod *pod, struct error *err)
{
    struct job_runtime *runtime = pod->runtime;
    JOBOBJECT_BASIC_ACCOUNTING_INFORMATION accounting;

    for (size_t i = 0; i < runtime->n_containers; i++) {
        struct job_container *container = runtime->containers[i];

        if (strcmp(container->sandbox_id, pod->sandbox_id) == 0 &&
            container_has_processes(container))
            return error_set(err, ERROR_FAILED_PRECONDITION,
                             "remove pod job of sandbox %s: container %s still has processes",
                             pod->sandbox_id, container->id);
    }
    /* Containers whose handles are already released are counted here. */
    if (QueryInformationJobObject(pod->job, JobObjectBasicAccountingInformation, &accounting,
                                  sizeof(accounting), NULL) &&
        accounting.ActiveProcesses > 0)
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "remove pod job of sandbox %s: %lu processes still run in it",
                         pod->sandbox_id, (unsigned long)accounting.ActiveProcesses);
    return 0;
}

void job_pod_release(struct job_pod *pod)
{
    if (pod == NULL)
        return;
    if (pod->job)
        CloseHandle(pod->job);
    free(pod->sandbox_id);
    free(pod->name);
    free(pod);
}
