/*
 * Starting a container job without blocking the loop. The monitor is spawned with its start
 * report pipe as fd 3. The loop then watches the pipe and the launcher's pidfd, and runs the
 * start callback once the report arrives or the pipe ends.
 */
#include "runtime/linux/job_linux.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/linux/monitor_files.h"

/* Setting up overlayfs and the volumes takes milliseconds, so this only bounds a stuck monitor. */
#define START_REPORT_TIMEOUT_MS 60000
#define REPORT_FD 3
#define REPORT_MAX 4096

extern char **environ;

struct job_start {
    struct job_container *container; /* NULL once finished or cancelled */
    job_start_cb start_cb;
    job_exit_cb exit_cb;
    void *data;
    uv_poll_t report;   /* the read end of the report pipe */
    uv_poll_t launcher; /* the launcher's pidfd */
    uv_timer_t timeout;
    int report_fd;
    int launcher_fd;
    pid_t launcher_pid;
    int launcher_status;
    bool report_done;
    bool launcher_done;
    bool finished;
    bool report_closed;
    bool launcher_closed;
    int open_handles;
    size_t length;
    char line[REPORT_MAX];
};

/* ---- The monitor's spec --------------------------------------------------------------------- */

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
    out->strict_groups = spec->user.strict_groups;
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
    _cleanup_free_ char *path = job_container_file(container, MONITOR_SPEC_FILE);
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
        mounts[i].recursive_readonly = spec->mounts[i].recursive_readonly;
    }
    out.mounts = mounts;
    out.n_mounts = spec->n_mounts;
    return monitor_spec_write(&out, path, err);
}

static bool resources_set(const struct job_resources *resources)
{
    return resources->cpu_period_us != 0 || resources->cpu_quota_us != 0 ||
           resources->cpu_shares != 0 || resources->cpu_maximum != 0 || resources->cpu_count != 0 ||
           resources->memory_limit_bytes != 0 || !str_empty(resources->cpuset_cpus) ||
           !str_empty(resources->cpuset_mems);
}

/* ---- Launch --------------------------------------------------------------------------------- */

/* Spawns the monitor's launcher in a new session with the report pipe as fd 3. The launcher
 * forks the monitor and exits at once, and the loop reaps it. */
static int spawn_launcher(struct job_container *container, char *const argv[], int report_write,
                          pid_t *pid, struct error *err)
{
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    sigset_t signals;
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
    rc = posix_spawn(pid, argv[0], &actions, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    if (rc != 0)
        return error_set_errno(err, ERROR_INTERNAL, rc, "run the monitor %s", argv[0]);
    return 0;
}

/* The launcher's side of clone3: the daemon has other threads, so only async-signal-safe
 * calls run here until execve. */
static _Noreturn void exec_launcher(char *const argv[], int report_write)
{
    struct sigaction action = {.sa_handler = SIG_DFL};
    sigset_t signals;

    for (int signal = 1; signal < NSIG; signal++) {
        if (signal != SIGKILL && signal != SIGSTOP)
            sigaction(signal, &action, NULL); /* EINVAL for glibc's internal signals */
    }
    sigemptyset(&signals);
    sigprocmask(SIG_SETMASK, &signals, NULL);
    setsid();
    /* dup2 onto itself would keep close-on-exec, so clear the flag in that case. */
    if (report_write == REPORT_FD ? fcntl(REPORT_FD, F_SETFD, 0) == 0
                                  : dup2(report_write, REPORT_FD) == REPORT_FD)
        execve(argv[0], argv, environ);
    _exit(127);
}

/*
 * Starts the launcher directly in the monitors' v2 cgroup with clone3(CLONE_INTO_CGROUP), so
 * that the monitor need not move itself there: a write to cgroup.procs waits for an RCU grace
 * period (8-12 ms measured on a 2-core Linux 6.18 VM) unless another move happened just
 * before. Only on a pure v2 host: with v1 hierarchies the monitor and the init process still
 * write to v1 cgroup.procs files and pay that wait anyway, while clone3 without CLONE_VM copies
 * the daemon's page tables. Returns 1 when this does not apply or clone3 is not available, so
 * the caller falls back to posix_spawn.
 */
static int clone_launcher(struct job_container *container, char *const argv[], int report_write,
                          pid_t *pid, struct error *err)
{
    struct job_runtime *runtime = container->runtime;
    _cleanup_close_ int cgroup_fd = -1;
    struct clone_args args;
    long rc;

    if (runtime->cgroups.unified == NULL || runtime->monitor_cgroup == NULL)
        return 1;
    for (int i = 0; i < CGROUP_V1_COUNT; i++) {
        if (runtime->cgroups.v1[i] != NULL)
            return 1;
    }
    cgroup_fd = cgroup_open_unified(&runtime->cgroups, runtime->monitor_cgroup, NULL);
    if (cgroup_fd < 0)
        return 1;
    /* posix_spawn reports a missing program at once; the forked launcher could only exit. */
    if (access(argv[0], X_OK) < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "run the monitor %s", argv[0]);
    memset(&args, 0, sizeof(args));
    args.flags = CLONE_INTO_CGROUP;
    args.exit_signal = SIGCHLD;
    args.cgroup = (uint64_t)cgroup_fd;
    rc = syscall(SYS_clone3, &args, sizeof(args));
    if (rc == 0)
        exec_launcher(argv, report_write);
    if (rc < 0 && (errno == ENOSYS || errno == E2BIG || errno == EINVAL))
        return 1;
    if (rc < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "run the monitor %s", argv[0]);
    *pid = (pid_t)rc;
    return 0;
}

/* ---- Completion ----------------------------------------------------------------------------- */

static void start_handle_closed_cb(uv_handle_t *handle)
{
    struct job_start *start = handle->data;

    if (--start->open_handles > 0)
        return;
    if (start->report_fd >= 0)
        close(start->report_fd);
    if (start->launcher_fd >= 0)
        close(start->launcher_fd);
    free(start);
}

static void close_report(struct job_start *start)
{
    if (start->report_closed)
        return;
    start->report_closed = true;
    uv_close((uv_handle_t *)&start->report, start_handle_closed_cb);
    uv_close((uv_handle_t *)&start->timeout, start_handle_closed_cb);
}

static void close_launcher(struct job_start *start)
{
    if (start->launcher_closed)
        return;
    start->launcher_closed = true;
    uv_close((uv_handle_t *)&start->launcher, start_handle_closed_cb);
}

/* Parses "OK <pid> <clamped>" or "ERR <code> <message>" from the monitor into *init_pid or err. */
static int parse_report(struct job_start *start, struct job_container *container, int *init_pid,
                        struct error *err)
{
    int code = ERROR_INTERNAL;
    int offset = 0;
    int clamped = 0;

    start->line[start->length] = '\0';
    start->line[strcspn(start->line, "\n")] = '\0';
    if (sscanf(start->line, "OK %d %d", init_pid, &clamped) >= 1 && *init_pid > 0) {
        if (clamped)
            log_warn_id("container", container->id,
                        "oom_score_adj not applied: lowering it needs CAP_SYS_RESOURCE, so the "
                        "init process keeps the monitor's value");
        return 0;
    }
    *init_pid = 0;
    if (sscanf(start->line, "ERR %d %n", &code, &offset) == 1 && offset > 0)
        return error_set(err, (enum error_code)code, "%s", start->line + offset);
    if (start->launcher_done &&
        (!WIFEXITED(start->launcher_status) || WEXITSTATUS(start->launcher_status) != 0))
        return error_set(err, ERROR_INTERNAL, "the monitor %s failed to start (status 0x%x)",
                         container->runtime->monitor_path, (unsigned)start->launcher_status);
    return error_set(err, ERROR_INTERNAL,
                     "the monitor of container %s exited without a start report; see %s/%s",
                     container->id, container->dir, MONITOR_LOG_FILE);
}

/* Ends the start with the report (err NULL) or with err, and runs the start callback. */
static void finish(struct job_start *start, struct error *err)
{
    struct job_container *container = start->container;
    _cleanup_error_ struct error report_err = ERROR_INIT;
    int init_pid = 0;

    start->finished = true;
    start->container = NULL;
    close_report(start);
    if (start->launcher_done)
        close_launcher(start);
    container->start = NULL;
    if (err == NULL && parse_report(start, container, &init_pid, &report_err) == 0) {
        container->init_pid = init_pid;
        container->exit_cb = start->exit_cb;
        container->data = start->data;
        if (job_container_watch(container, &report_err) < 0) {
            container->exit_cb = NULL;
            error_prefix(&report_err, "watch the monitor of container %s", container->id);
            init_pid = 0;
        } else {
            log_info_id("container", container->id, "started init process %d in cgroup %s",
                        init_pid, container->path);
        }
    }
    if (err == NULL && report_err.code != ERROR_OK)
        err = &report_err;
    start->start_cb(container, err ? 0 : init_pid, err, start->data);
}

/* The start ends once the report is read (up to its newline, the end of the pipe or a full
 * buffer). Without an OK it also waits for the launcher, whose status may explain the failure. */
static bool report_complete(const struct job_start *start)
{
    return start->report_done && (start->launcher_done || strncmp(start->line, "OK ", 3) == 0);
}

static void maybe_finish(struct job_start *start)
{
    if (!start->finished && report_complete(start))
        finish(start, NULL);
}

static void report_readable_cb(uv_poll_t *handle, int status, int events)
{
    struct job_start *start = handle->data;
    ssize_t n;

    for (;;) {
        n = read(start->report_fd, start->line + start->length, REPORT_MAX - 1 - start->length);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN && status == 0)
            return;
        if (n > 0) {
            start->length += (size_t)n;
            start->line[start->length] = '\0';
            if (memchr(start->line, '\n', start->length) == NULL && start->length < REPORT_MAX - 1)
                continue;
        }
        break;
    }
    start->report_done = true;
    uv_poll_stop(handle);
    maybe_finish(start);
}

static void launcher_exited_cb(uv_poll_t *handle, int status, int events)
{
    struct job_start *start = handle->data;
    int wstatus = 0;
    pid_t pid;

    do
        pid = waitpid(start->launcher_pid, &wstatus, WNOHANG);
    while (pid < 0 && errno == EINTR);
    if (pid == 0)
        return;
    start->launcher_done = true;
    start->launcher_status = pid < 0 ? 0 : wstatus;
    uv_poll_stop(handle);
    if (start->finished)
        close_launcher(start);
    else
        maybe_finish(start);
}

static void report_timeout_cb(uv_timer_t *timer)
{
    struct job_start *start = timer->data;
    struct error err = ERROR_INIT;

    error_set(&err, ERROR_DEADLINE_EXCEEDED,
              "the monitor of container %s sent no start report within %d s", start->container->id,
              START_REPORT_TIMEOUT_MS / 1000);
    finish(start, &err);
    error_clear(&err);
}

void job_start_cancel(struct job_start *start)
{
    int wstatus;

    if (start->container != NULL)
        start->container->start = NULL;
    start->container = NULL;
    start->finished = true;
    close_report(start);
    /* The launcher exits right after its fork, so it has usually exited and is reaped here. */
    if (!start->launcher_done && waitpid(start->launcher_pid, &wstatus, WNOHANG) > 0)
        start->launcher_done = true;
    close_launcher(start);
}

/* ---- Start ---------------------------------------------------------------------------------- */

static struct job_start *start_new(struct job_container *container, int report_fd, int launcher_fd,
                                   pid_t launcher_pid)
{
    struct job_start *start = xcalloc(1, sizeof(*start));
    uv_loop_t *loop = container->runtime->loop;

    start->container = container;
    start->report_fd = report_fd;
    start->launcher_fd = launcher_fd;
    start->launcher_pid = launcher_pid;
    uv_poll_init(loop, &start->report, report_fd);
    uv_poll_init(loop, &start->launcher, launcher_fd);
    uv_timer_init(loop, &start->timeout);
    start->report.data = start;
    start->launcher.data = start;
    start->timeout.data = start;
    start->open_handles = 3;
    uv_poll_start(&start->report, UV_READABLE | UV_DISCONNECT, report_readable_cb);
    uv_poll_start(&start->launcher, UV_READABLE, launcher_exited_cb);
    uv_timer_start(&start->timeout, report_timeout_cb, START_REPORT_TIMEOUT_MS, 0);
    return start;
}

/* Writes the spec and spawns the launcher. The loop watches *report_fd and *launcher_fd. */
static int launch(struct job_container *container, const struct job_container_spec *spec,
                  int *report_fd, int *launcher_fd, pid_t *launcher_pid, struct error *err)
{
    struct job_runtime *runtime = container->runtime;
    char *argv[] = {runtime->monitor_path, container->dir, "3", NULL};
    _cleanup_close_ int report_read = -1;
    _cleanup_close_ int report_write = -1;
    int fds[2];
    int rc;

    if (resources_set(&spec->resources) &&
        cgroup_apply_resources(&runtime->cgroups, container->path, &spec->resources,
                               runtime->host_cpus, err) < 0)
        return -1;
    if (write_spec(container, spec, err) < 0)
        return -1;
    if (pipe2(fds, O_CLOEXEC) < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "create the start report pipe");
    report_read = fds[0];
    report_write = fds[1];
    /* Only the daemon's end is non-blocking: the two ends are separate open files. */
    if (fcntl(report_read, F_SETFL, O_NONBLOCK) < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "set up the start report pipe");
    rc = clone_launcher(container, argv, report_write, launcher_pid, err);
    if (rc > 0)
        rc = spawn_launcher(container, argv, report_write, launcher_pid, err);
    if (rc < 0)
        return -1;
    *launcher_fd = pidfd_open(*launcher_pid, 0);
    if (*launcher_fd < 0) {
        /* The launcher is an unreaped child, so its pid cannot be reused: wait for it here. */
        error_set_errno(err, ERROR_INTERNAL, errno, "open a pidfd for the monitor's launcher");
        while (waitpid(*launcher_pid, NULL, 0) < 0 && errno == EINTR)
            ;
        return -1;
    }
    *report_fd = steal_fd(&report_read);
    return 0;
}

int job_container_start(struct job_container *container, const struct job_container_spec *spec,
                        job_start_cb start_cb, job_exit_cb exit_cb, void *data, struct error *err)
{
    int report_fd = -1;
    int launcher_fd = -1;
    pid_t launcher_pid = 0;

    if (container->start != NULL || container->exit_cb != NULL)
        return error_set(err, ERROR_FAILED_PRECONDITION, "container %s is already %s",
                         container->id, container->start ? "starting" : "running");
    if (launch(container, spec, &report_fd, &launcher_fd, &launcher_pid, err) < 0)
        return error_prefix(err, "start container %s", container->id);
    container->start = start_new(container, report_fd, launcher_fd, launcher_pid);
    container->start->start_cb = start_cb;
    container->start->exit_cb = exit_cb;
    container->start->data = data;
    return 0;
}
