/* Container jobs: the cgroup, the detached monitor that runs init, and exit notification. */
#include "runtime/linux/job_linux.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/linux/monitor_files.h"
#include "runtime/monitor_format.h"
#include "runtime/linux/proc_user.h"

char *job_container_file(const struct job_container *container, const char *name)
{
    return xasprintf("%s/%s", container->dir, name);
}

static struct job_container *container_new(struct job_runtime *runtime, const char *id)
{
    struct job_container *container = xcalloc(1, sizeof(*container));

    container->runtime = runtime;
    container->id = xstrdup(id);
    container->dir = job_state_path(runtime, "containers", id);
    container->pidfd = -1;
    uv_timer_init(runtime->loop, &container->timer);
    container->timer.data = container;
    container->open_handles = 1;
    return container;
}

static void container_free(struct job_container *container)
{
    if (container->pidfd >= 0)
        close(container->pidfd);
    free(container->id);
    free(container->dir);
    free(container->path);
    strv_free(container->created);
    free(container);
}

static void handle_closed_cb(uv_handle_t *handle)
{
    struct job_container *container = handle->data;

    if (--container->open_handles == 0)
        container_free(container);
}

void job_container_release(struct job_container *container)
{
    if (container == NULL)
        return;
    container->released = true;
    container->exit_cb = NULL;
    if (container->start != NULL)
        job_start_cancel(container->start);
    if (container->poll_started)
        uv_close((uv_handle_t *)&container->poll, handle_closed_cb);
    container->poll_started = false;
    uv_close((uv_handle_t *)&container->timer, handle_closed_cb);
}

int job_container_create(struct job_pod *pod, const char *container_id, struct job_container **out,
                         struct error *err)
{
    struct job_runtime *runtime = pod->runtime;
    struct job_container *container = container_new(runtime, container_id);
    _cleanup_free_ char *record = job_container_file(container, "cgroup");

    container->path = cgroup_container_path(runtime->driver, pod->path, container_id);
    if (access(container->dir, F_OK) == 0) {
        error_set(err, ERROR_ALREADY_EXISTS, "container %s already has state in %s", container_id,
                  container->dir);
        job_container_release(container);
        return -1;
    }
    if (job_make_dirs(container->dir, err) < 0 ||
        cgroup_create(&runtime->cgroups, container->path, true, &container->created, err) < 0 ||
        job_record_write(record, container->path, container->created, err) < 0) {
        if (container->created != NULL)
            cgroup_remove_created(container->created, NULL);
        rmdir(container->dir);
        job_container_release(container);
        return error_prefix(err, "create the job of container %s", container_id);
    }
    *out = container;
    return 0;
}

/* ---- Exit notification --------------------------------------------------------------------- */

/* The exit file: the spec's exit_file when the core chose one, else the default. */
static char *exit_path(const struct job_container *container)
{
    _cleanup_free_ char *spec_path = job_container_file(container, MONITOR_SPEC_FILE);
    struct monitor_spec spec;
    char *path = NULL;

    if (monitor_spec_read(spec_path, &spec, NULL) == 0 && spec.exit_file != NULL)
        path = steal_pointer(&spec.exit_file);
    monitor_spec_clear(&spec);
    return path ? path : job_container_file(container, MONITOR_EXIT_FILE);
}

static bool exit_file_exists(const struct job_container *container)
{
    _cleanup_free_ char *path = exit_path(container);

    return access(path, F_OK) == 0;
}

/*
 * Reads the exit file, or makes an Unknown status when the monitor left none. A monitor that
 * ended without an exit status (it was killed) may leave init and its children running with no
 * one to stop them, so they are killed: a container reported exited has no process left.
 */
static void read_exit(struct job_container *container, struct job_exit_status *status)
{
    _cleanup_free_ char *path = exit_path(container);
    struct error err = ERROR_INIT;
    struct error kill_err = ERROR_INIT;
    bool populated = false;

    if (monitor_exit_file_read(path, status, &err) == 0)
        return;
    monitor_format_exit_missing(status, container->id, err.message);
    error_clear(&err);
    if (container->path == NULL ||
        cgroup_populated(&container->runtime->cgroups, container->path, &populated, NULL) < 0 ||
        !populated)
        return;
    if (cgroup_kill(&container->runtime->cgroups, container->path, &kill_err) < 0) {
        log_warn_id("container", container->id,
                    "killing the processes left by its monitor failed: %s", kill_err.message);
        error_clear(&kill_err);
        return;
    }
    log_warn_id("container", container->id,
                "its monitor ended without an exit status; killed the processes left in cgroup %s",
                container->path);
}

static void deliver_exit(struct job_container *container)
{
    struct job_exit_status status;
    job_exit_cb callback = container->exit_cb;

    container->exit_cb = NULL;
    container->init_pid = 0;
    if (callback == NULL)
        return;
    read_exit(container, &status);
    log_info_id("container", container->id, "exited with code %d", status.exit_code);
    callback(container, &status, container->data);
    job_exit_status_clear(&status);
}

static void monitor_exited_cb(uv_poll_t *handle, int status, int events)
{
    struct job_container *container = handle->data;

    uv_poll_stop(handle);
    deliver_exit(container);
}

static void deferred_exit_cb(uv_timer_t *handle)
{
    deliver_exit(handle->data);
}

int job_container_watch(struct job_container *container, struct error *err)
{
    _cleanup_free_ char *pid_path = job_container_file(container, MONITOR_PID_FILE);
    bool alive = false;
    pid_t pid = 0;
    int fd;

    if (monitor_pid_file_read(pid_path, &pid, &alive, err) < 0)
        return -1;
    container->monitor_pid = pid;
    fd = alive ? pidfd_open(pid, 0) : -1;
    /* Check again with the pidfd held, so that a reused pid cannot slip in between. */
    if (fd >= 0 && (monitor_pid_file_read(pid_path, &pid, &alive, NULL) < 0 || !alive)) {
        close(fd);
        fd = -1;
    }
    if (fd < 0) {
        uv_timer_start(&container->timer, deferred_exit_cb, 0, 0);
        return 0;
    }
    container->pidfd = fd;
    uv_poll_init(container->runtime->loop, &container->poll, fd);
    container->poll.data = container;
    container->poll_started = true;
    container->open_handles++;
    uv_poll_start(&container->poll, UV_READABLE, monitor_exited_cb);
    return 0;
}

/* ---- Reopen after a restart ---------------------------------------------------------------- */

int job_container_open(struct job_runtime *runtime, const char *container_id, job_exit_cb exit_cb,
                       void *data, struct job_container **out, bool *running,
                       struct job_exit_status *exited, struct error *err)
{
    struct job_container *container = container_new(runtime, container_id);
    _cleanup_free_ char *record = job_container_file(container, "cgroup");
    _cleanup_free_ char *monitor_pid = job_container_file(container, MONITOR_PID_FILE);
    _cleanup_free_ char *init_pid = job_container_file(container, MONITOR_INIT_PID_FILE);
    bool alive = false;
    pid_t pid = 0;

    if (job_record_read(record, &container->path, &container->created, err) < 0) {
        job_container_release(container);
        return error_prefix(err, "open the job of container %s", container_id);
    }
    *running = false;
    memset(exited, 0, sizeof(*exited));
    if (monitor_pid_file_read(monitor_pid, &pid, &alive, NULL) == 0 && alive) {
        container->exit_cb = exit_cb;
        container->data = data;
        if (monitor_pid_file_read(init_pid, &pid, &alive, NULL) == 0 && alive)
            container->init_pid = pid;
        if (job_container_watch(container, err) < 0) {
            job_container_release(container);
            return -1;
        }
        *running = true;
    } else if (access(monitor_pid, F_OK) != 0 && !exit_file_exists(container)) {
        exited->reason = JOB_EXIT_NOT_STARTED;
        exited->message = xstrdup("the container was created but never started");
    } else {
        read_exit(container, exited);
    }
    *out = container;
    return 0;
}

/* ---- Control ------------------------------------------------------------------------------- */

int job_container_init_pid(const struct job_container *container)
{
    return container->init_pid;
}

int job_container_init_user(const struct job_container *container, struct job_process_user *user,
                            struct error *err)
{
    struct proc_user ids;

    if (container->init_pid <= 0)
        return error_set(err, ERROR_NOT_FOUND, "container %s: the init process is not running",
                         container->id);
    if (proc_user_read(container->init_pid, &ids, err) < 0)
        return -1;
    user->uid = ids.uid;
    user->gid = ids.gid;
    user->groups = ids.groups;
    user->n_groups = ids.n_groups;
    return 0;
}

const char *job_container_cgroup(const struct job_container *container)
{
    return container->path;
}

int job_container_signal(struct job_container *container, int signal, struct error *err)
{
    _cleanup_free_ char *path = job_container_file(container, MONITOR_INIT_PID_FILE);
    bool alive = false;
    pid_t pid = 0;

    if (monitor_pid_file_read(path, &pid, &alive, NULL) < 0 || !alive)
        return error_set(err, ERROR_NOT_FOUND, "the init process of container %s is not running",
                         container->id);
    if (kill(pid, signal) < 0)
        return error_set_errno(err, errno == ESRCH ? ERROR_NOT_FOUND : ERROR_INTERNAL, errno,
                               "send signal %d to process %d of container %s", signal, (int)pid,
                               container->id);
    log_info_id("container", container->id, "sent signal %d to init process %d", signal, (int)pid);
    return 0;
}

int job_container_kill_all(struct job_container *container, struct error *err)
{
    if (cgroup_kill(&container->runtime->cgroups, container->path, err) < 0)
        return error_prefix(err, "kill the processes of container %s", container->id);
    log_info_id("container", container->id, "killed every process in cgroup %s", container->path);
    return 0;
}

int job_container_reopen_log(struct job_container *container, struct error *err)
{
    _cleanup_free_ char *path = job_container_file(container, MONITOR_PID_FILE);
    bool alive = false;
    pid_t pid = 0;

    if (monitor_pid_file_read(path, &pid, &alive, NULL) < 0 || !alive)
        return error_set(err, ERROR_FAILED_PRECONDITION, "container %s is not running",
                         container->id);
    if (kill(pid, SIGUSR1) < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "signal the monitor of container %s",
                               container->id);
    return 0;
}

int job_container_attach(struct job_container *container, uv_os_fd_t *fd, struct error *err)
{
    _cleanup_close_ int dir_fd = open(container->dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    _cleanup_close_ int sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un address = {.sun_family = AF_UNIX};

    if (dir_fd < 0 || sock < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "attach to container %s", container->id);
    /* Through /proc/self/fd, the address stays within the 108 bytes of sun_path. */
    snprintf(address.sun_path, sizeof(address.sun_path), "/proc/self/fd/%d/attach.sock", dir_fd);
    if (connect(sock, (struct sockaddr *)&address, sizeof(address)) < 0)
        return error_set_errno(err,
                               errno == ENOENT || errno == ECONNREFUSED ? ERROR_FAILED_PRECONDITION
                                                                        : ERROR_INTERNAL,
                               errno, "attach to container %s", container->id);
    *fd = steal_fd(&sock);
    return 0;
}

int job_container_stats(const struct job_container *container, struct job_stats *stats,
                        struct error *err)
{
    return cgroup_read_stats(&container->runtime->cgroups, container->path, stats, err);
}

int job_container_update(struct job_container *container, const struct job_resources *resources,
                         struct error *err)
{
    return cgroup_apply_resources(&container->runtime->cgroups, container->path, resources,
                                  container->runtime->host_cpus, err);
}

int job_container_pids(const struct job_container *container, int **pids, size_t *n_pids,
                       struct error *err)
{
    return cgroup_read_pids(&container->runtime->cgroups, container->path, pids, n_pids, err);
}

static int remove_state_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    remove(path);
    return 0;
}

int job_container_remove(struct job_container *container, struct error *err)
{
    bool populated = false;

    if (cgroup_populated(&container->runtime->cgroups, container->path, &populated, NULL) == 0 &&
        populated)
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "container %s still has processes in cgroup %s", container->id,
                         container->path);
    if (cgroup_remove_created(container->created, err) < 0)
        return error_prefix(err, "remove container %s", container->id);
    nftw(container->dir, remove_state_entry, 8, FTW_DEPTH | FTW_PHYS);
    log_info_id("container", container->id, "removed cgroup %s and state %s", container->path,
                container->dir);
    return 0;
}
