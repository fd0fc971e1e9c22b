/* Restart recovery: reconciles each loaded container record with its job. */

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/container_hostprocess.h"
#include "runtime/process.h"
#include "runtime/rootfs_dirs.h"
#include "runtime/runtime_internal.h"
#include "runtime/state.h"

#define UNKNOWN_EXIT_CODE 255

static void load_stop_signal(struct container *container)
{
    struct container_process process;
    _cleanup_error_ struct error err = ERROR_INIT;

    if (process_from_json(container->record.process, &process, &err) < 0) {
        log_warn_id("container", container->record.id, "%s", err.message);
        return;
    }
    container->stop_signal = process.stop_signal;
    process_clear(&process);
}

static void mark_lost(struct container *container, const char *why)
{
    struct store_container_record *record = &container->record;
    _cleanup_error_ struct error err = ERROR_INIT;

    record->state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
    record->finished_at = time_now_ns();
    record->exit_code = UNKNOWN_EXIT_CODE;
    record->pid = 0;
    free(record->reason);
    record->reason = xstrdup(CONTAINER_REASON_UNKNOWN);
    free(record->message);
    record->message = xstrdup(why);
    container_save(container, &err);
    log_warn_id("container", record->id, "container exited while hostcri was down: %s", why);
}

static void apply_recovered_exit(struct container *container, struct job_exit_status *status)
{
    /* container_exit_cb records the status and saves it; no waiter exists yet. */
    container_exit_cb(container->job, status, container);
    job_exit_status_clear(status);
}

static void mark_running(struct container *container)
{
    struct store_container_record *record = &container->record;
    _cleanup_error_ struct error err = ERROR_INIT;
    int pid = job_container_init_pid(container->job);

    if (record->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING && record->pid == pid)
        return;
    if (record->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED)
        record->started_at = time_now_ns(); /* NOTE: the real start time was not recorded */
    record->state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
    record->pid = pid;
    container_save(container, &err);
}

void container_recover(struct container *container, bool has_job_state)
{
    struct runtime *runtime = container->runtime;
    Runtime__V1__ContainerState state = container->record.state;
    struct job_exit_status exited = {0};
    _cleanup_error_ struct error err = ERROR_INIT;
    bool running = false;
    bool was_live = state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING ||
                    state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN;

    load_stop_signal(container);
    if (!was_live && !has_job_state)
        return; /* created and never started, or exited and cleaned up */

    if (job_container_open(runtime->job, container->record.id, container_exit_cb, container,
                           &container->job, &running, &exited, &err) < 0) {
        if (was_live)
            mark_lost(container, err.code == ERROR_NOT_FOUND
                                     ? "its monitor and exit status are gone (the node "
                                       "rebooted or the state directory was removed)"
                                     : err.message);
        else
            log_warn_id("container", container->record.id, "reopening the job failed: %s",
                        err.message);
        return;
    }
    if (running) {
        mark_running(container);
        log_info_id("container", container->record.id, "reconnected to the running container");
    } else if (exited.reason == JOB_EXIT_NOT_STARTED) {
        /* Created but never started: the job stays ready for StartContainer. */
        job_exit_status_clear(&exited);
        if (was_live)
            mark_lost(container, "its job was created but never started");
    } else if (state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED) {
        job_exit_status_clear(&exited); /* the record already has the exit */
    } else {
        apply_recovered_exit(container, &exited);
    }
}

/*
 * A container job that no record lists (its record was set aside as unreadable, or the store
 * was replaced). Nothing can manage it any more, so it is killed and removed.
 */
struct orphan {
    struct runtime *runtime;
    struct job_container *job;
    char *id;
    struct orphan *next;
};

static void orphan_unlink(struct orphan *orphan)
{
    for (struct orphan **link = &orphan->runtime->orphans; *link; link = &(*link)->next) {
        if (*link == orphan) {
            *link = orphan->next;
            return;
        }
    }
}

/* Removes the recorded root file system of an orphan, once its processes are gone. */
static void orphan_remove_rootfs(struct orphan *orphan)
{
    _cleanup_free_ char *records_dir = runtime_rootfs_records_dir(orphan->runtime);
    _cleanup_error_ struct error err = ERROR_INIT;
    int rc;

    if (!CONTAINER_HOSTPROCESS_RULES)
        return;
    rc = rootfs_dirs_release(records_dir, orphan->id, &err);
    if (rc < 0)
        log_warn_id("container", orphan->id,
                    "removing the root file system of the job without a record failed: %s",
                    err.message);
    else if (rc > 0)
        log_info_id("container", orphan->id,
                    "removed the root file system of the job without a record");
}

static void orphan_remove(struct orphan *orphan)
{
    _cleanup_error_ struct error err = ERROR_INIT;

    if (job_container_remove(orphan->job, &err) < 0)
        log_warn_id("container", orphan->id, "removing the job without a record failed: %s",
                    err.message);
    else
        log_info_id("container", orphan->id, "removed the job without a record");
    orphan_remove_rootfs(orphan);
    orphan_unlink(orphan);
    job_container_release(orphan->job);
    free(orphan->id);
    free(orphan);
}

static void orphan_exit_cb(struct job_container *job, const struct job_exit_status *status,
                           void *data)
{
    orphan_remove(data);
}

void container_clean_orphan(struct runtime *runtime, const char *id)
{
    struct orphan *orphan = xcalloc(1, sizeof(*orphan));
    struct job_exit_status exited = {0};
    _cleanup_error_ struct error err = ERROR_INIT;
    bool running = false;

    orphan->runtime = runtime;
    orphan->id = xstrdup(id);
    if (job_container_open(runtime->job, id, orphan_exit_cb, orphan, &orphan->job, &running,
                           &exited, &err) < 0) {
        log_warn_id("container", id, "opening the job without a record failed: %s", err.message);
        free(orphan->id);
        free(orphan);
        return;
    }
    orphan->next = runtime->orphans;
    runtime->orphans = orphan;
    if (!running) {
        job_exit_status_clear(&exited);
        orphan_remove(orphan);
        return;
    }
    log_warn_id("container", id, "killing a running job that no container record lists");
    if (job_container_kill_all(orphan->job, &err) < 0)
        log_warn_id("container", id, "kill failed: %s", err.message);
}

void runtime_release_orphans(struct runtime *runtime)
{
    while (runtime->orphans) {
        struct orphan *orphan = runtime->orphans;

        runtime->orphans = orphan->next;
        job_container_release(orphan->job);
        free(orphan->id);
        free(orphan);
    }
}

static bool rootfs_in_use(const char *container_id, void *data)
{
    struct runtime *runtime = data;

    if (runtime_find_container(runtime, container_id, NULL) != NULL)
        return true;
    for (const struct orphan *orphan = runtime->orphans; orphan; orphan = orphan->next) {
        if (strcmp(orphan->id, container_id) == 0)
            return true; /* orphan_remove releases it once the job is empty */
    }
    return false;
}

void runtime_sweep_rootfs_dirs(struct runtime *runtime)
{
    _cleanup_free_ char *records_dir = runtime_rootfs_records_dir(runtime);

    if (CONTAINER_HOSTPROCESS_RULES)
        rootfs_dirs_sweep(records_dir, rootfs_in_use, runtime);
}
