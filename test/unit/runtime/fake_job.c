/*
 * A fake job backend (runtime/job.h) for the runtime's lifecycle tests: no cgroups and no
 * processes. Each container job is a record whose behaviour the test sets through
 * fake_job.h: whether a start fails, whether the init process honours the stop signal, and
 * what a reopen after a restart finds.
 */

#include "fake_job.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

struct job_runtime {
    uv_loop_t *loop;
};

struct job_pod {
    char *sandbox_id;
    char *cgroup;
};

struct job_container {
    char *id;
    uv_timer_t exit_timer;  /* fires the exit callback from the loop */
    uv_timer_t start_timer; /* fires the start callback from the loop */
    int open_handles;
    job_start_cb start_cb;
    bool start_fails; /* the start callback reports the missing program */
    job_exit_cb exit_cb;
    void *data;
    int pid;
    int exit_code;
    bool running;
};

struct fake_job_state fake_job;

static struct fake_job_container *fake_find(const char *id)
{
    for (size_t i = 0; i < fake_job.n_containers; i++) {
        if (strcmp(fake_job.containers[i].id, id) == 0)
            return &fake_job.containers[i];
    }
    return NULL;
}

struct fake_job_container *fake_job_container(const char *id)
{
    struct fake_job_container *found = fake_find(id);

    if (found)
        return found;
    fake_job.containers =
        xrealloc(fake_job.containers, (fake_job.n_containers + 1) * sizeof(*fake_job.containers));
    found = &fake_job.containers[fake_job.n_containers++];
    memset(found, 0, sizeof(*found));
    found->id = xstrdup(id);
    return found;
}

void fake_job_reset(void)
{
    for (size_t i = 0; i < fake_job.n_containers; i++) {
        free(fake_job.containers[i].id);
        free(fake_job.containers[i].exit_message);
    }
    free(fake_job.containers);
    memset(&fake_job, 0, sizeof(fake_job));
}

int job_runtime_new(uv_loop_t *loop, const struct job_config *config, struct job_runtime **out,
                    struct error *err)
{
    struct job_runtime *runtime = xcalloc(1, sizeof(*runtime));

    runtime->loop = loop;
    *out = runtime;
    return 0;
}

void job_runtime_free(struct job_runtime *runtime)
{
    free(runtime);
}

const char *job_runtime_layout_name(const struct job_runtime *runtime)
{
    return "fake";
}

void job_runtime_features(const struct job_runtime *runtime, struct job_features *features)
{
    (void)runtime;
    features->recursive_readonly_mounts = false;
    features->supplemental_groups = false;
}

int job_runtime_list_containers(struct job_runtime *runtime, char ***ids, struct error *err)
{
    char **list = xcalloc(fake_job.n_containers + 1, sizeof(char *));
    size_t n = 0;

    for (size_t i = 0; i < fake_job.n_containers; i++) {
        if (fake_job.containers[i].has_state)
            list[n++] = xstrdup(fake_job.containers[i].id);
    }
    *ids = list;
    return 0;
}

static struct job_pod *pod_new(const char *sandbox_id)
{
    struct job_pod *pod = xcalloc(1, sizeof(*pod));

    pod->sandbox_id = xstrdup(sandbox_id);
    pod->cgroup = xasprintf("/fake/pod-%s", sandbox_id);
    return pod;
}

int job_pod_create(struct job_runtime *runtime, const struct job_pod_spec *spec,
                   struct job_pod **out, struct error *err)
{
    fake_job.pods_created++;
    *out = pod_new(spec->sandbox_id);
    return 0;
}

int job_pod_open(struct job_runtime *runtime, const char *sandbox_id, struct job_pod **out,
                 struct error *err)
{
    if (fake_job.pods_lost)
        return error_set(err, ERROR_NOT_FOUND, "no pod job for %s", sandbox_id);
    *out = pod_new(sandbox_id);
    return 0;
}

const char *job_pod_cgroup(const struct job_pod *pod)
{
    return pod->cgroup;
}

int job_pod_stats(const struct job_pod *pod, struct job_stats *stats, struct error *err)
{
    (void)pod;
    (void)stats;
    return error_set(err, ERROR_UNIMPLEMENTED, "the fake job backend has no pod statistics");
}

int job_pod_remove(struct job_pod *pod, struct error *err)
{
    fake_job.pods_removed++;
    return 0;
}

void job_pod_release(struct job_pod *pod)
{
    free(pod->sandbox_id);
    free(pod->cgroup);
    free(pod);
}

static struct job_container *container_new(const char *id)
{
    struct job_container *container = xcalloc(1, sizeof(*container));

    container->id = xstrdup(id);
    uv_timer_init(uv_default_loop(), &container->exit_timer);
    container->exit_timer.data = container;
    uv_timer_init(uv_default_loop(), &container->start_timer);
    container->start_timer.data = container;
    container->open_handles = 2;
    return container;
}

int job_container_create(struct job_pod *pod, const char *container_id, struct job_container **out,
                         struct error *err)
{
    fake_job_container(container_id)->has_state = true;
    *out = container_new(container_id);
    return 0;
}

static void start_timer_cb(uv_timer_t *timer)
{
    struct job_container *container = timer->data;
    job_start_cb cb = container->start_cb;
    struct error err = ERROR_INIT;

    container->start_cb = NULL;
    if (container->start_fails) {
        error_set(&err, ERROR_NOT_FOUND, "executable \"/missing\" not found");
        cb(container, 0, &err, container->data);
        error_clear(&err);
        return;
    }
    container->running = true;
    cb(container, container->pid, NULL, container->data);
}

/* "/missing" fails from the loop, as the monitor reports it; "/sync-failure" fails at once. */
int job_container_start(struct job_container *container, const struct job_container_spec *spec,
                        job_start_cb start_cb, job_exit_cb exit_cb, void *data, struct error *err)
{
    struct fake_job_container *fake = fake_job_container(container->id);

    if (container->start_cb != NULL)
        return error_set(err, ERROR_FAILED_PRECONDITION, "container is already starting");
    fake->started++;
    snprintf(fake->last_argv0, sizeof(fake->last_argv0), "%s", spec->argv[0]);
    snprintf(fake->last_working_dir, sizeof(fake->last_working_dir), "%s",
             spec->working_dir ? spec->working_dir : "");
    snprintf(fake->last_username, sizeof(fake->last_username), "%s",
             spec->user.username ? spec->user.username : "");
    fake->last_has_uid = spec->user.has_uid;
    snprintf(fake->last_mount_point, sizeof(fake->last_mount_point), "%s",
             spec->rootfs.mount_point ? spec->rootfs.mount_point : "");
    fake->last_env[0] = '\0';
    for (size_t i = 0; spec->env[i]; i++) {
        size_t used = strlen(fake->last_env);

        snprintf(fake->last_env + used, sizeof(fake->last_env) - used, "%s\n", spec->env[i]);
    }
    if (strcmp(spec->argv[0], "/sync-failure") == 0)
        return error_set(err, ERROR_INTERNAL, "the monitor could not be run");
    container->start_fails = strcmp(spec->argv[0], "/missing") == 0;
    container->start_cb = start_cb;
    container->exit_cb = exit_cb;
    container->data = data;
    container->pid = 4000 + (int)fake_job.n_containers;
    uv_timer_start(&container->start_timer, start_timer_cb, 0, 0);
    return 0;
}

static void exit_timer_cb(uv_timer_t *timer)
{
    struct job_container *container = timer->data;
    struct job_exit_status status = {
        .exit_code = container->exit_code,
        .signal = container->exit_code > 128 ? container->exit_code - 128 : 0,
        .started_at_ns = 1,
        .finished_at_ns = time_now_ns(),
        .reason = JOB_EXIT_COMPLETED,
    };

    container->running = false;
    container->exit_cb(container, &status, container->data);
}

/* Ends the fake init process from the loop with exit_code. */
static void schedule_exit(struct job_container *container, int exit_code)
{
    if (!container->running || uv_is_active((uv_handle_t *)&container->exit_timer))
        return;
    container->exit_code = exit_code;
    uv_timer_start(&container->exit_timer, exit_timer_cb, 0, 0);
}

int job_container_open(struct job_runtime *runtime, const char *container_id, job_exit_cb exit_cb,
                       void *data, struct job_container **out, bool *running,
                       struct job_exit_status *exited, struct error *err)
{
    struct fake_job_container *fake = fake_find(container_id);
    struct job_container *container;

    if (fake == NULL || !fake->has_state)
        return error_set(err, ERROR_NOT_FOUND, "no job state for container %s", container_id);
    container = container_new(container_id);
    *running = fake->reopen_running;
    if (fake->reopen_running) {
        container->exit_cb = exit_cb;
        container->data = data;
        container->running = true;
        container->pid = 5000;
    } else {
        memset(exited, 0, sizeof(*exited));
        exited->exit_code = fake->exit_code;
        exited->finished_at_ns = fake->finished_at;
        exited->reason = fake->exit_reason;
        exited->message = xstrdup_or_null(fake->exit_message);
    }
    *out = container;
    return 0;
}

int job_container_init_pid(const struct job_container *container)
{
    return container->running ? container->pid : 0;
}

/* The fake's processes are not real, so they have no credentials to read. */
int job_container_init_user(const struct job_container *container, struct job_process_user *user,
                            struct error *err)
{
    (void)container;
    (void)user;
    return error_set(err, ERROR_UNIMPLEMENTED, "the fake job backend has no process credentials");
}

const char *job_container_cgroup(const struct job_container *container)
{
    return "/fake/container";
}

int job_container_signal(struct job_container *container, int signal, struct error *err)
{
    struct fake_job_container *fake = fake_job_container(container->id);

    fake->signals_sent++;
    fake->last_signal = signal;
    if (!container->running)
        return error_set(err, ERROR_NOT_FOUND, "init process has exited");
    if (!fake->ignore_stop_signal)
        schedule_exit(container, 128 + signal);
    return 0;
}

int job_container_kill_all(struct job_container *container, struct error *err)
{
    struct fake_job_container *fake = fake_job_container(container->id);

    fake->kills++;
    if (fake->lose_exit)
        container->running = false;
    else
        schedule_exit(container, 137);
    return 0;
}

int job_container_reopen_log(struct job_container *container, struct error *err)
{
    fake_job_container(container->id)->log_reopens++;
    return 0;
}

int job_container_stats(const struct job_container *container, struct job_stats *stats,
                        struct error *err)
{
    return error_set(err, ERROR_UNIMPLEMENTED, "fake");
}

int job_container_update(struct job_container *container, const struct job_resources *resources,
                         struct error *err)
{
    return error_set(err, ERROR_UNIMPLEMENTED, "fake");
}

int job_container_remove(struct job_container *container, struct error *err)
{
    struct fake_job_container *fake = fake_job_container(container->id);

    if (container->running)
        return error_set(err, ERROR_FAILED_PRECONDITION, "processes remain");
    fake->has_state = false;
    fake->removed = true;
    return 0;
}

static void container_close_cb(uv_handle_t *handle)
{
    struct job_container *container = handle->data;

    if (--container->open_handles > 0)
        return;
    free(container->id);
    free(container);
}

void job_container_release(struct job_container *container)
{
    uv_timer_stop(&container->exit_timer);
    uv_close((uv_handle_t *)&container->exit_timer, container_close_cb);
    uv_close((uv_handle_t *)&container->start_timer, container_close_cb);
}

void job_exit_status_clear(struct job_exit_status *status)
{
    free(status->message);
    status->message = NULL;
}

int job_exec_start(struct job_container *container, const struct job_exec_spec *spec,
                   job_exec_exit_cb exit_cb, void *data, struct job_exec **out,
                   struct job_exec_io *io, struct error *err)
{
    return error_set(err, ERROR_UNIMPLEMENTED, "the fake job backend has no exec");
}

int job_exec_pid(const struct job_exec *exec)
{
    return 0;
}

int job_exec_signal(struct job_exec *exec, int signal, struct error *err)
{
    return error_set(err, ERROR_UNIMPLEMENTED, "the fake job backend has no exec");
}

void job_exec_release(struct job_exec *exec)
{
}

int job_container_pids(const struct job_container *container, int **pids, size_t *n_pids,
                       struct error *err)
{
    *pids = NULL;
    *n_pids = container->running ? 1 : 0;
    if (*n_pids)
        *pids = xcalloc(1, sizeof(int));
    return 0;
}

int job_container_attach(struct job_container *container, uv_os_fd_t *fd, struct error *err)
{
    return error_set(err, ERROR_UNIMPLEMENTED, "the fake job backend has no attach");
}
