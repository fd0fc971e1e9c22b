/* Container jobs: the cgroup, the detached monitor that runs init, and exit notification. */
#include "runtime/linux/job_linux.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
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

/* Setting up overlayfs and the volumes takes milliseconds; this only bounds a stuck monitor. */
#define START_REPORT_TIMEOUT_MS 60000
#define REPORT_FD 3

extern char **environ;

static char *container_file(const struct job_container *container, const char *name)
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
    _cleanup_free_ char *record = container_file(container, "cgroup");

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
    _cleanup_free_ char *spec_path = container_file(container, MONITOR_SPEC_FILE);
    struct monitor_spec spec;
    char *path = NULL;

    if (monitor_spec_read(spec_path, &spec, NULL) == 0 && spec.exit_file != NULL)
        path = steal_pointer(&spec.exit_file);
    monitor_spec_clear(&spec);
    return path ? path : container_file(container, MONITOR_EXIT_FILE);
}

static bool exit_file_exists(const struct job_container *container)
{
    _cleanup_free_ char *path = exit_path(container);

    return access(path, F_OK) == 0;
}

/* Reads the exit file, or makes an Unknown status when the monitor left none. */
static void read_exit(struct job_container *container, struct job_exit_status *status)
{
    _cleanup_free_ char *path = exit_path(container);
    struct error err = ERROR_INIT;

    if (monitor_exit_file_read(path, status, &err) == 0)
        return;
    memset(status, 0, sizeof(*status));
    status->reason = JOB_EXIT_UNKNOWN;
    status->exit_code = 255;
    status->finished_at_ns = time_now_ns();
    status->message = xasprintf("the monitor of container %s ended without an exit status (%s)",
                                container->id, err.message);
    error_clear(&err);
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

/*
 * Watches the monitor through a pidfd; when it is already gone, schedules the exit callback
 * on the loop instead. Either way exit_cb runs once, later.
 */
static int watch_monitor(struct job_container *container, struct error *err)
{
    _cleanup_free_ char *pid_path = container_file(container, MONITOR_PID_FILE);
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

/* ---- Start --------------------------------------------------------------------------------- */

static void fill_monitor_spec(const struct job_container *container,
                              const struct job_container_spec *spec, struct monitor_spec *out)
{
    struct job_runtime *runtime = container->runtime;

    memset(out, 0, sizeof(*out));
    out->id = container->id;
    out->cgroup_root = runtime->cgroups.root;
    out->cgroup_path = container->path;
    out->monitor_cgroup = runtime->monitor_cgroup;
    out->argv = (char **)spec->argv;
    out->env = (char **)spec->env;
    out->cwd = (char *)spec->working_dir;
    out->username = (char *)spec->user.username;
    out->has_uid = spec->user.has_uid;
    out->uid = spec->user.uid;
    out->has_gid = spec->user.has_gid;
    out->gid = spec->user.gid;
    out->groups = (uint32_t *)spec->user.groups;
    out->n_groups = spec->user.n_groups;
    out->container_dir = (char *)spec->rootfs.container_dir;
    out->readonly_rootfs = spec->rootfs.readonly;
    out->mount_point =
        (char *)(spec->rootfs.mount_point ? spec->rootfs.mount_point : runtime->mount_point);
    out->log_path = (char *)spec->log_path;
    out->stdin_open = spec->stdin_open;
    out->stdin_once = spec->stdin_once;
    out->tty = spec->tty;
    out->has_oom_score_adj = spec->has_oom_score_adj;
    out->oom_score_adj = spec->oom_score_adj;
    out->exit_file = (char *)spec->exit_file;
    out->grace_ms = runtime->grace_ms;
}

static int write_spec(const struct job_container *container, const struct job_container_spec *spec,
                      struct error *err)
{
    _cleanup_free_ char *path = container_file(container, MONITOR_SPEC_FILE);
    _cleanup_strv_ char **layers = xcalloc(spec->rootfs.n_layers + 1, sizeof(char *));
    _cleanup_free_ struct monitor_mount *mounts = xcalloc(spec->n_mounts + 1, sizeof(*mounts));
    struct monitor_spec out;

    fill_monitor_spec(container, spec, &out);
    for (size_t i = 0; i < spec->rootfs.n_layers; i++)
        layers[i] = xstrdup(spec->rootfs.layers[i]);
    out.layers = spec->rootfs.n_layers > 0 ? layers : NULL;
    for (size_t i = 0; i < spec->n_mounts; i++) {
        mounts[i].host_path = (char *)spec->mounts[i].host_path;
        mounts[i].container_path = (char *)spec->mounts[i].container_path;
        mounts[i].readonly = spec->mounts[i].readonly;
        mounts[i].propagation = spec->mounts[i].propagation;
    }
    out.mounts = mounts;
    out.n_mounts = spec->n_mounts;
    return monitor_spec_write(&out, path, err);
}

/* Starts the monitor in a new session with the report pipe as fd 3 and waits for the
 * launcher process, which exits as soon as the monitor has forked away from it. */
static int launch_monitor(struct job_container *container, int report_write, struct error *err)
{
    const char *monitor_path = container->runtime->monitor_path;
    char *argv[] = {(char *)monitor_path, container->dir, "3", NULL};
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    sigset_t signals;
    pid_t pid;
    int status = 0;
    int rc;

    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, report_write, REPORT_FD);
    posix_spawnattr_init(&attr);
    sigemptyset(&signals);
    posix_spawnattr_setsigmask(&attr, &signals);
    sigfillset(&signals);
    sigdelset(&signals, SIGKILL);
    sigdelset(&signals, SIGSTOP);
    posix_spawnattr_setsigdefault(&attr, &signals);
    posix_spawnattr_setflags(&attr,
                             POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    rc = posix_spawn(&pid, monitor_path, &actions, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
        return error_set_errno(err, ERROR_INTERNAL, rc, "run the monitor %s", monitor_path);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return error_set(err, ERROR_INTERNAL, "the monitor %s failed to start (status 0x%x)",
                         monitor_path, (unsigned)status);
    return 0;
}

/* Reads "OK <pid> <clamped>" or "ERR <code> <message>" from the monitor. */
static int read_report(struct job_container *container, int fd, int *init_pid, struct error *err)
{
    char line[4096];
    size_t length = 0;
    int code = ERROR_INTERNAL;
    int offset = 0;
    int clamped = 0;

    while (length < sizeof(line) - 1) {
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        ssize_t n;

        if (poll(&pfd, 1, START_REPORT_TIMEOUT_MS) == 0)
            return error_set(err, ERROR_DEADLINE_EXCEEDED,
                             "the monitor of container %s sent no start report within %d s",
                             container->id, START_REPORT_TIMEOUT_MS / 1000);
        n = read(fd, line + length, sizeof(line) - 1 - length);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        length += (size_t)n;
        if (memchr(line, '\n', length) != NULL)
            break;
    }
    line[length] = '\0';
    line[strcspn(line, "\n")] = '\0';
    if (sscanf(line, "OK %d %d", init_pid, &clamped) >= 1 && *init_pid > 0) {
        if (clamped)
            log_warn_id("container", container->id,
                        "oom_score_adj not applied: lowering it needs CAP_SYS_RESOURCE, so the "
                        "init process keeps the monitor's value");
        return 0;
    }
    if (sscanf(line, "ERR %d %n", &code, &offset) == 1 && offset > 0)
        return error_set(err, (enum error_code)code, "%s", line + offset);
    return error_set(err, ERROR_INTERNAL,
                     "the monitor of container %s exited without a start report; see %s/%s",
                     container->id, container->dir, MONITOR_LOG_FILE);
}

static bool resources_set(const struct job_resources *resources)
{
    return resources->cpu_period_us != 0 || resources->cpu_quota_us != 0 ||
           resources->cpu_shares != 0 || resources->cpu_maximum != 0 || resources->cpu_count != 0 ||
           resources->memory_limit_bytes != 0 || !str_empty(resources->cpuset_cpus) ||
           !str_empty(resources->cpuset_mems);
}

int job_container_start(struct job_container *container, const struct job_container_spec *spec,
                        job_exit_cb exit_cb, void *data, int *init_pid, struct error *err)
{
    struct job_runtime *runtime = container->runtime;
    _cleanup_close_ int report_read = -1;
    _cleanup_close_ int report_write = -1;
    int fds[2];

    if (resources_set(&spec->resources) &&
        cgroup_apply_resources(&runtime->cgroups, container->path, &spec->resources,
                               runtime->host_cpus, err) < 0)
        return error_prefix(err, "start container %s", container->id);
    if (write_spec(container, spec, err) < 0)
        return error_prefix(err, "start container %s", container->id);
    if (pipe2(fds, O_CLOEXEC) < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "create the start report pipe");
    report_read = fds[0];
    report_write = fds[1];
    if (launch_monitor(container, report_write, err) < 0)
        return error_prefix(err, "start container %s", container->id);
    close(steal_fd(&report_write));
    if (read_report(container, report_read, init_pid, err) < 0)
        return -1;

    container->init_pid = *init_pid;
    container->exit_cb = exit_cb;
    container->data = data;
    if (watch_monitor(container, err) < 0) {
        container->exit_cb = NULL;
        return error_prefix(err, "watch the monitor of container %s", container->id);
    }
    log_info_id("container", container->id, "started init process %d in cgroup %s", *init_pid,
                container->path);
    return 0;
}

/* ---- Reopen after a restart ---------------------------------------------------------------- */

int job_container_open(struct job_runtime *runtime, const char *container_id, job_exit_cb exit_cb,
                       void *data, struct job_container **out, bool *running,
                       struct job_exit_status *exited, struct error *err)
{
    struct job_container *container = container_new(runtime, container_id);
    _cleanup_free_ char *record = container_file(container, "cgroup");
    _cleanup_free_ char *monitor_pid = container_file(container, MONITOR_PID_FILE);
    _cleanup_free_ char *init_pid = container_file(container, MONITOR_INIT_PID_FILE);
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
        if (watch_monitor(container, err) < 0) {
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

const char *job_container_cgroup(const struct job_container *container)
{
    return container->path;
}

int job_container_signal(struct job_container *container, int signal, struct error *err)
{
    _cleanup_free_ char *path = container_file(container, MONITOR_INIT_PID_FILE);
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
    _cleanup_free_ char *path = container_file(container, MONITOR_PID_FILE);
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
