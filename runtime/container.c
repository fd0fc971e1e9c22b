/* Containers: StartContainer, exits, RemoveContainer, ReopenContainerLog and restart recovery. */

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/metrics.h"
#include "common/util.h"
#include "runtime/container_hostprocess.h"
#include "runtime/defer.h"
#include "runtime/process.h"
#include "runtime/rootfs_dirs.h"
#include "runtime/runtime_internal.h"
#include "runtime/state.h"

/* The exit code reported when the real one is lost (as containerd reports it). */
#define UNKNOWN_EXIT_CODE 255

void container_free(struct container *container)
{
    if (container == NULL)
        return;
    if (container->job)
        job_container_release(container->job);
    container_hostprocess_forget(container);
    store_container_record_clear(&container->record);
    free(container->list_item);
    free(container);
}

int container_save(struct container *container, struct error *err)
{
    if (store_put_container(container->runtime->store, &container->record, err) < 0) {
        log_error_id("container", container->record.id, "%s", err->message);
        return -1;
    }
    return 0;
}

char *container_dir(const struct container *container)
{
    return xasprintf("%s/containers/%s", container->runtime->root_dir, container->record.id);
}

char *runtime_rootfs_records_dir(const struct runtime *runtime)
{
    return xasprintf("%s/rootfs", runtime->root_dir);
}

/* The container's mount point: the stored one, else (an older record) the runtime's default. */
static char *mount_point_of(const struct container *container,
                            const struct container_process *process)
{
    if (process->mount_point)
        return xstrdup(process->mount_point);
    return container_hostprocess_mount_point(container->runtime->rootfs_mount_point,
                                             container->record.id);
}

/* Moves the container to state and logs a transition the state machine does not allow. */
static void set_state(struct container *container, Runtime__V1__ContainerState state)
{
    if (!container_state_transition_allowed(container->record.state, state))
        log_warn_id("container", container->record.id, "unexpected state change %s -> %s",
                    container_state_name(container->record.state), container_state_name(state));
    container->record.state = state;
}

static const char *reason_of(const struct job_exit_status *status)
{
    switch (status->reason) {
    case JOB_EXIT_OOM_KILLED:
        return CONTAINER_REASON_OOM_KILLED;
    case JOB_EXIT_UNKNOWN:
        return CONTAINER_REASON_UNKNOWN;
    case JOB_EXIT_START_ERROR:
        return CONTAINER_REASON_START_ERROR;
    case JOB_EXIT_COMPLETED:
    default:
        return container_exit_reason(status->exit_code, false);
    }
}

static void apply_exit(struct container *container, const struct job_exit_status *status)
{
    struct store_container_record *record = &container->record;

    set_state(container, RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED);
    record->finished_at = status->finished_at_ns > 0 ? status->finished_at_ns : time_now_ns();
    if (record->started_at == 0 && status->started_at_ns > 0)
        record->started_at = status->started_at_ns;
    record->exit_code = status->reason == JOB_EXIT_UNKNOWN && status->exit_code == 0
                            ? UNKNOWN_EXIT_CODE
                            : status->exit_code;
    free(record->reason);
    record->reason = xstrdup(reason_of(status));
    free(record->message);
    record->message = xstrdup_or_null(status->message);
    record->pid = 0;
}

void container_exit_cb(struct job_container *job, const struct job_exit_status *status, void *data)
{
    struct container *container = data;
    _cleanup_error_ struct error err = ERROR_INIT;

    apply_exit(container, status);
    container_save(container, &err);
    log_info_id("container", container->record.id, "container exited with code %d (%s)",
                container->record.exit_code, container->record.reason);
    runtime_emit_container_event(container->runtime, container->record.id,
                                 container->record.sandbox_id,
                                 RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT);
    container_complete_waiters(container, NULL);
}

static int fill_spec(const struct container *container, const struct container_process *process,
                     struct job_container_spec *spec, struct job_mount *mounts, char *dir)
{
    for (size_t i = 0; i < process->n_mounts; i++) {
        mounts[i] = (struct job_mount){
            process->mounts[i].host_path, process->mounts[i].container_path,
            process->mounts[i].readonly, (enum job_propagation)process->mounts[i].propagation,
            process->mounts[i].recursive_readonly};
    }
    *spec = (struct job_container_spec){
        .container_id = container->record.id,
        .argv = (const char *const *)process->argv,
        .env = (const char *const *)process->env,
        .working_dir = process->working_dir,
        .user = {process->username, process->has_uid, process->uid, process->has_gid, process->gid,
                 process->groups, process->n_groups, process->strict_groups},
        .rootfs = {(const char *const *)process->layers, strv_length(process->layers), dir,
                   process->readonly_rootfs,
                   CONTAINER_HOSTPROCESS_RULES ? NULL : process->mount_point},
        .mounts = mounts,
        .n_mounts = process->n_mounts,
        .log_path = container->record.log_path,
        .stdin_open = process->stdin_open,
        .stdin_once = process->stdin_once,
        .tty = process->tty,
        .has_oom_score_adj = process->has_oom_score_adj,
        .oom_score_adj = process->oom_score_adj,
        .resources = {.cpu_period_us = process->resources.cpu_period_us,
                      .cpu_quota_us = process->resources.cpu_quota_us,
                      .cpu_shares = process->resources.cpu_shares,
                      .cpu_maximum = process->resources.cpu_maximum,
                      .cpu_count = process->resources.cpu_count,
                      .memory_limit_bytes = process->resources.memory_limit_bytes,
                      .cpuset_cpus = process->resources.cpuset_cpus,
                      .cpuset_mems = process->resources.cpuset_mems},
    };
    return 0;
}

static void container_started_cb(struct job_container *job, int pid, const struct error *err,
                                 void *data);

static int start_job(struct container *container, struct sandbox *sandbox, struct error *err)
{
    struct container_process process;
    struct job_container_spec spec;
    _cleanup_free_ struct job_mount *mounts = NULL;
    _cleanup_free_ char *dir = container_dir(container);
    _cleanup_free_ char *mount_point = NULL;
    int rc;

    if (process_from_json(container->record.process, &process, err) < 0)
        return -1;
    mount_point = mount_point_of(container, &process);
    rc = container_hostprocess_prepare_start(mount_point, &process, err);
    mounts = xcalloc(process.n_mounts, sizeof(*mounts));
    fill_spec(container, &process, &spec, mounts, dir);
    if (rc == 0)
        rc = runtime_make_dirs(dir, 0700, err);
    if (rc == 0 && container->job == NULL)
        rc = job_container_create(sandbox->pod, container->record.id, &container->job, err);
    if (rc == 0)
        rc = job_container_start(container->job, &spec, container_started_cb, container_exit_cb,
                                 container, err);
    process_clear(&process);
    return rc;
}

static void record_start_error(struct container *container, const struct error *cause)
{
    struct store_container_record *record = &container->record;
    _cleanup_error_ struct error err = ERROR_INIT;

    set_state(container, RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED);
    record->finished_at = time_now_ns();
    record->exit_code = CONTAINER_START_ERROR_EXIT_CODE;
    free(record->reason);
    record->reason = xstrdup(CONTAINER_REASON_START_ERROR);
    free(record->message);
    record->message = xstrdup(cause->message ? cause->message : "start failed");
    container_save(container, &err);
    log_warn_id("container", record->id, "start failed: %s", record->message);
    if (metrics_enabled()) {
        /* The error code says why: NOT_FOUND for a missing program or user, and so on. */
        _cleanup_free_ char *labels = xasprintf("reason=\"%s\"", error_code_name(cause->code));

        metrics_counter_add("hostcri_container_start_failures_total",
                            "Container starts that failed, by error code", labels, 1);
    }
    runtime_emit_container_event(container->runtime, record->id, record->sandbox_id,
                                 RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT);
}

/* Takes the pending StartContainer's callback off the container. */
static runtime_done_cb take_start_cb(struct container *container, void **data)
{
    runtime_done_cb cb = container->start_cb;

    *data = container->start_data;
    container->starting = false;
    container->start_cb = NULL;
    container->start_data = NULL;
    return cb;
}

static void start_succeeded(struct container *container, int pid)
{
    _cleanup_error_ struct error save_err = ERROR_INIT;

    set_state(container, RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING);
    container->record.started_at = time_now_ns();
    container->record.pid = pid;
    /* The process runs even when the record cannot be written; a restart finds it through
     * its job state, so the call still succeeds. */
    container_save(container, &save_err);
    log_info_id("container", container->record.id, "started container, init pid %d", pid);
    runtime_emit_container_event(container->runtime, container->record.id,
                                 container->record.sandbox_id,
                                 RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STARTED_EVENT);
}

/* The job's start callback: records the outcome, replies, then applies the stops that came
 * during the start. */
static void container_started_cb(struct job_container *job, int pid, const struct error *err,
                                 void *data)
{
    struct container *container = data;
    _cleanup_error_ struct error start_err = ERROR_INIT;
    void *cb_data = NULL;
    runtime_done_cb cb = take_start_cb(container, &cb_data);

    if (err == NULL) {
        start_succeeded(container, pid);
        container_arm_waiters(container);
        cb(NULL, cb_data);
        return;
    }
    error_set(&start_err, err->code, "%s", err->message ? err->message : "start failed");
    error_prefix(&start_err, "start container %s", container->record.id);
    record_start_error(container, &start_err);
    cb(&start_err, cb_data);
    /* Last: a waiting RemoveContainer may free the container. */
    container_complete_waiters(container, NULL);
}

void container_cancel_start(struct container *container, const struct error *err)
{
    void *cb_data = NULL;
    runtime_done_cb cb;

    if (!container->starting)
        return;
    cb = take_start_cb(container, &cb_data);
    cb(err, cb_data);
}

/*
 * The end of the copy of a Windows container's files: starts its job, or fails the pending
 * StartContainer as container_started_cb does.
 */
static void rootfs_copied_cb(struct container *container, const struct error *copy_err)
{
    _cleanup_error_ struct error err = ERROR_INIT;
    struct sandbox *sandbox;

    if (!container->starting)
        return; /* the runtime closed and cancelled the start */
    if (copy_err) {
        container_started_cb(NULL, 0, copy_err, container);
        return;
    }
    sandbox = runtime_find_sandbox(container->runtime, container->record.sandbox_id, &err);
    if (sandbox && (sandbox->pod == NULL ||
                    sandbox->record.state != RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY))
        error_set(&err, ERROR_FAILED_PRECONDITION, "its sandbox %s is not ready",
                  container->record.sandbox_id);
    if (sandbox == NULL || err.code != ERROR_OK || start_job(container, sandbox, &err) < 0)
        container_started_cb(NULL, 0, &err, container);
}

/*
 * Starts the copy of a Windows container's files into its root file system on the thread pool.
 * Then rootfs_copied_cb starts the job. The directory is recorded first (rootfs_dirs.h), which
 * fails when it exists and hostcri did not create it. Older records without a stored mount
 * point keep the runtime's default directory unrecorded, as they were made.
 */
static int start_rootfs_copy(struct container *container, struct error *err)
{
    struct container_process process;
    _cleanup_free_ char *mount_point = NULL;
    _cleanup_free_ char *records_dir = runtime_rootfs_records_dir(container->runtime);
    int rc = 0;

    if (process_from_json(container->record.process, &process, err) < 0)
        return -1;
    mount_point = mount_point_of(container, &process);
    if (process.mount_point)
        rc = rootfs_dirs_claim(records_dir, container->record.id, mount_point, err);
    if (rc == 0)
        rc = container_hostprocess_copy_start(container->runtime->loop, container, mount_point,
                                              (const char *const *)process.layers, rootfs_copied_cb,
                                              err);
    process_clear(&process);
    return rc;
}

int runtime_container_start(struct runtime *runtime, const char *id, runtime_done_cb cb, void *data,
                            struct error *err)
{
    struct container *container = runtime_find_container(runtime, id, err);
    struct sandbox *sandbox;

    if (container == NULL)
        return -1;
    if (container->starting)
        return error_set(err, ERROR_FAILED_PRECONDITION, "container %s is already starting",
                         container->record.id);
    if (container->record.state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED)
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "container %s is in state %s: only a created container can start",
                         container->record.id, container_state_name(container->record.state));
    sandbox = runtime_find_sandbox(runtime, container->record.sandbox_id, err);
    if (sandbox == NULL || sandbox->pod == NULL ||
        sandbox->record.state != RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "container %s: its sandbox %s is not ready", container->record.id,
                         container->record.sandbox_id);

    if ((CONTAINER_HOSTPROCESS_RULES ? start_rootfs_copy(container, err)
                                     : start_job(container, sandbox, err)) < 0) {
        error_prefix(err, "start container %s", container->record.id);
        record_start_error(container, err);
        return -1;
    }
    container->starting = true;
    container->start_cb = cb;
    container->start_data = data;
    return 0;
}

/*
 * Removes the Windows root file system: the recorded directory (rootfs_dirs.h), or for an older
 * record without a stored mount point the runtime's default directory, as it was made.
 */
static int remove_rootfs(struct container *container, struct error *err)
{
    struct container_process process;
    _cleanup_free_ char *records_dir = runtime_rootfs_records_dir(container->runtime);
    _cleanup_free_ char *mount_point = NULL;
    _cleanup_error_ struct error parse_err = ERROR_INIT;

    if (!CONTAINER_HOSTPROCESS_RULES)
        return 0;
    if (process_from_json(container->record.process, &process, &parse_err) == 0 &&
        process.mount_point == NULL)
        mount_point = mount_point_of(container, &process);
    process_clear(&process);
    if (mount_point)
        return container_hostprocess_remove_rootfs(mount_point, err);
    if (rootfs_dirs_release(records_dir, container->record.id, err) < 0)
        return error_prefix(err, "remove the root file system");
    return 0;
}

int container_remove_stopped(struct container *container, struct error *err)
{
    struct runtime *runtime = container->runtime;
    _cleanup_free_ char *dir = container_dir(container);
    _cleanup_free_ char *id = NULL;
    _cleanup_free_ char *sandbox_id = NULL;

    if (container->record.state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING)
        return error_set(err, ERROR_FAILED_PRECONDITION, "container %s is still running",
                         container->record.id);
    if (container->starting)
        return error_set(err, ERROR_FAILED_PRECONDITION, "container %s is starting",
                         container->record.id);
    if (container->job && job_container_remove(container->job, err) < 0)
        return error_prefix(err, "remove container %s", container->record.id);
    if (runtime_remove_tree(dir, err) < 0 || remove_rootfs(container, err) < 0)
        return error_prefix(err, "remove container %s", container->record.id);
    if (store_delete_container(runtime->store, container->record.id, err) < 0)
        return -1;
    log_info_id("container", container->record.id, "removed container");
    runtime_drop_container(runtime, container);
    id = steal_pointer(&container->record.id);
    sandbox_id = steal_pointer(&container->record.sandbox_id);
    container_free(container);
    runtime_emit_container_event(runtime, id, sandbox_id,
                                 RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT);
    return 0;
}

/* State of a RemoveContainer while the container is killed. */
struct remove_op {
    struct runtime *runtime;
    char *id; /* full id: the container is found again after the stop */
    runtime_done_cb cb;
    void *data;
};

static void remove_after_stop_cb(const struct error *stop_err, void *data)
{
    struct remove_op *op = data;
    _cleanup_error_ struct error err = ERROR_INIT;
    struct container *container = runtime_find_container(op->runtime, op->id, NULL);

    if (stop_err)
        op->cb(stop_err, op->data);
    else if (container && container_remove_stopped(container, &err) < 0)
        op->cb(&err, op->data);
    else
        op->cb(NULL, op->data);
    free(op->id);
    free(op);
}

static void removed_absent_cb(void *data)
{
    remove_after_stop_cb(NULL, data);
}

int runtime_container_remove(struct runtime *runtime, const char *id, runtime_done_cb cb,
                             void *data, struct error *err)
{
    _cleanup_error_ struct error lookup_err = ERROR_INIT;
    struct container *container = runtime_find_container(runtime, id, &lookup_err);
    struct remove_op *op;

    if (container == NULL && lookup_err.code != ERROR_NOT_FOUND) {
        error_move(err, &lookup_err);
        return -1;
    }
    op = xcalloc(1, sizeof(*op));
    *op = (struct remove_op){runtime, xstrdup(container ? container->record.id : id), cb, data};
    if (container == NULL) {
        if (runtime_defer(runtime->loop, removed_absent_cb, op, err) < 0) {
            free(op->id);
            free(op);
            return -1;
        }
        return 0;
    }
    container->removing = true;
    container_stop(container, 0, remove_after_stop_cb, op);
    return 0;
}

int runtime_container_reopen_log(struct runtime *runtime, const char *id, struct error *err)
{
    struct container *container = runtime_find_container(runtime, id, err);

    if (container == NULL)
        return -1;
    if (container->record.state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING ||
        container->job == NULL)
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "container %s is not running, so its log cannot be reopened",
                         container->record.id);
    if (job_container_reopen_log(container->job, err) < 0)
        return error_prefix(err, "reopen the log of container %s", container->record.id);
    return 0;
}
