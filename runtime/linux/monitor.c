/*
 * hostcri-monitor: the process that watches one container.
 *
 *     hostcri-monitor <container state dir> <report fd>
 *
 * The daemon starts it in a new session. It forks once more, so that it is nobody's child
 * but init's (or a subreaper's) and outlives the daemon. It reads the spec file in the state
 * directory, builds the container's mount namespace and starts the init process in the job.
 * Then it reports "OK <pid> <oom clamped 0|1>" or "ERR <code> <message>" on the report fd.
 *
 * While init runs, the monitor copies the container's output into the CRI log and to attached
 * clients (attach.sock in the state directory), passes their input to init's stdin, and reaps
 * the processes that end up as its children, because it is a subreaper. When init exits, it
 * stops what is left in the job (SIGTERM, a grace period, SIGKILL), writes the exit file and
 * exits.
 *
 * SIGUSR1 reopens the log file. The monitor links only the C library, statically where the
 * toolchain allows it.
 */
#include "runtime/linux/monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/linux/rootfs.h"
#include "runtime/linux/spawn.h"
#include "runtime/linux/userdb.h"

/* Sends the one-line start report to the daemon and closes the fd. */
static void send_report(struct monitor *monitor, const char *line)
{
    size_t length = strlen(line);
    size_t done = 0;

    while (monitor->report_fd >= 0 && done < length) {
        ssize_t n = write(monitor->report_fd, line + done, length - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        done += (size_t)n;
    }
    if (monitor->report_fd >= 0)
        close(monitor->report_fd);
    monitor->report_fd = -1;
}

/* Reports a start failure to the daemon and records it in the exit file. */
static void fail_start(struct monitor *monitor, const struct error *err)
{
    struct job_exit_status status = {.exit_code = 128,
                                     .started_at_ns = 0,
                                     .finished_at_ns = time_now_ns(),
                                     .reason = JOB_EXIT_START_ERROR,
                                     .message = err->message};
    _cleanup_free_ char *line = NULL;

    log_error("start container %s: %s", monitor->spec.id ? monitor->spec.id : "?", err->message);
    for (char *c = err->message; c != NULL && *c != '\0'; c++) {
        if (*c == '\n')
            *c = ' ';
    }
    /* The exit file first, so that it exists when the daemon's start call returns. */
    if (monitor->exit_path != NULL)
        monitor_exit_file_write(monitor->exit_path, &status, NULL);
    line = xasprintf("ERR %d %s\n", (int)err->code, err->message);
    send_report(monitor, line);
}

#define MAX_GROUPS 256

/*
 * Resolves the user in the container's view (its /etc/passwd and /etc/group) and computes the
 * supplemental groups for the spec's policy. A uid with a passwd line gets that line's name and,
 * without a gid in the spec, its primary group, as containerd does. Supplemental groups alone
 * also set the user, as the daemon's own uid and gid.
 */
static int resolve_user(struct monitor *monitor, struct error *err)
{
    struct monitor_spec *spec = &monitor->spec;
    struct spawn_request *request = &monitor->request;
    _cleanup_free_ char *found_name = NULL;
    gid_t primary = 0;
    struct userdb_request user = {.name = spec->username,
                                  .strict = spec->strict_groups,
                                  .groups = spec->groups,
                                  .n_groups = spec->n_groups};

    request->set_user =
        spec->username != NULL || spec->has_uid || spec->has_gid || spec->n_groups > 0;
    if (!request->set_user)
        return 0;
    request->uid = spec->has_uid ? spec->uid : getuid();
    request->gid = spec->has_gid ? spec->gid : getgid();
    if (spec->username != NULL) {
        if (userdb_find_user("/etc/passwd", spec->username, &request->uid, &primary, err) < 0)
            return -1;
        if (!spec->has_gid)
            request->gid = primary;
    } else if (userdb_find_uid("/etc/passwd", request->uid, &found_name, &primary) == 0) {
        user.name = found_name;
        if (spec->has_uid && !spec->has_gid)
            request->gid = primary;
    }
    user.gid = request->gid;
    monitor->groups = xcalloc(MAX_GROUPS, sizeof(gid_t));
    request->groups = monitor->groups;
    request->n_groups =
        userdb_supplemental_groups("/etc/group", &user, monitor->groups, MAX_GROUPS);
    return 0;
}

/* Creates the parent directory of the log file when it is missing. */
static void make_log_dir(const char *log_path)
{
    _cleanup_free_ char *dir = xstrdup(log_path);
    char *slash = strrchr(dir, '/');

    if (slash == NULL || slash == dir)
        return;
    *slash = '\0';
    for (char *c = strchr(dir + 1, '/');; c = strchr(c + 1, '/')) {
        if (c != NULL)
            *c = '\0';
        mkdir(dir, 0755);
        if (c == NULL)
            break;
        *c = '/';
    }
}

static int open_stdio(struct monitor *monitor, struct error *err)
{
    struct spawn_request *request = &monitor->request;
    int fds[2];

    if (monitor->spec.tty)
        return monitor_open_tty(monitor, err);
    if (pipe2(fds, O_CLOEXEC) < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "create the stdout pipe");
    monitor->stdout_fd = fds[0];
    request->stdio[1] = fds[1];
    if (pipe2(fds, O_CLOEXEC) < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "create the stderr pipe");
    monitor->stderr_fd = fds[0];
    request->stdio[2] = fds[1];
    if (monitor->spec.stdin_open) {
        if (pipe2(fds, O_CLOEXEC) < 0)
            return error_set_errno(err, ERROR_INTERNAL, errno, "create the stdin pipe");
        request->stdio[0] = fds[0];
        monitor->stdin_fd = fds[1];
    }
    return 0;
}

/* Closes the child's ends of the streams in the monitor, so that EOF can arrive. */
static void close_child_stdio(struct monitor *monitor)
{
    for (int i = 0; i < 3; i++) {
        int fd = monitor->request.stdio[i];

        for (int j = i + 1; j < 3; j++) {
            if (monitor->request.stdio[j] == fd)
                monitor->request.stdio[j] = -1;
        }
        if (fd >= 0)
            close(fd);
        monitor->request.stdio[i] = -1;
    }
}

static int start_init(struct monitor *monitor, struct error *err)
{
    struct monitor_spec *spec = &monitor->spec;
    struct spawn_request *request = &monitor->request;
    int n_fds;
    bool clamped = false;
    pid_t pid;
    char line[64];

    n_fds = spawn_open_procs_fds(&monitor->cgroups, spec->cgroup_path, monitor->procs_fds,
                                 ARRAY_SIZE(monitor->procs_fds), err);
    if (n_fds < 0)
        return -1;
    monitor->n_procs_fds = (size_t)n_fds;
    request->argv = (const char *const *)spec->argv;
    request->envp = (const char *const *)spec->env;
    request->cwd = spec->cwd ? spec->cwd : (spec->container_dir ? spec->mount_point : NULL);
    request->tty = spec->tty;
    request->new_session = true;
    request->mnt_ns_fd = -1;
    request->cgroup_fd = cgroup_open_unified(&monitor->cgroups, spec->cgroup_path, NULL);
    request->procs_fds = monitor->procs_fds;
    request->n_procs_fds = monitor->n_procs_fds;
    request->has_oom_score_adj = spec->has_oom_score_adj;
    request->oom_score_adj = spec->oom_score_adj;
    cgroup_read_oom_kills(&monitor->cgroups, spec->cgroup_path, &monitor->oom_kills_at_start, NULL);

    if (spawn_start(request, &pid, &clamped, err) < 0)
        return -1;
    monitor->init_pid = pid;
    monitor->started_at_ns = time_now_ns();
    close_child_stdio(monitor);
    if (clamped)
        log_warn("container %s: oom_score_adj %d not permitted (lowering it needs "
                 "CAP_SYS_RESOURCE); keeping the inherited value",
                 spec->id, spec->oom_score_adj);
    if (monitor_pid_file_write(monitor->init_pid_path, pid, err) < 0)
        return -1;
    /* Listening before the report, so that an attach right after the start finds the socket. */
    monitor_attach_listen(monitor);
    snprintf(line, sizeof(line), "OK %d %d\n", (int)pid, clamped ? 1 : 0);
    send_report(monitor, line);
    log_info("container %s: started init process %d", spec->id, (int)pid);
    return 0;
}

/* Every step between reading the spec and the running init process. */
static int set_up(struct monitor *monitor, struct error *err)
{
    struct monitor_spec *spec = &monitor->spec;
    _cleanup_free_ char *spec_path = xasprintf("%s/%s", monitor->state_dir, MONITOR_SPEC_FILE);

    if (monitor_spec_read(spec_path, spec, err) < 0)
        return -1;
    if (spec->exit_file != NULL) {
        free(monitor->exit_path);
        monitor->exit_path = xstrdup(spec->exit_file);
    }
    if (cgroup_env_detect(spec->cgroup_root ? spec->cgroup_root : "/sys/fs/cgroup",
                          &monitor->cgroups, err) < 0)
        return -1;
    if (spec->monitor_cgroup != NULL &&
        cgroup_enter_self(&monitor->cgroups, spec->monitor_cgroup, err) < 0)
        return error_prefix(err, "move the monitor to its cgroup");
    if (spec->log_path != NULL)
        make_log_dir(spec->log_path);
    if (crilog_open(&monitor->log, spec->log_path, 0, err) < 0)
        return -1;
    if (rootfs_setup(spec, err) < 0)
        return -1;
    if (resolve_user(monitor, err) < 0 || open_stdio(monitor, err) < 0)
        return -1;
    return start_init(monitor, err);
}

/* Points stdin and stdout at /dev/null and stderr at the monitor's log file. */
static void redirect_own_stdio(const char *state_dir)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", state_dir, MONITOR_LOG_FILE);
    int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    int log_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);

    if (null_fd >= 0) {
        dup2(null_fd, 0);
        dup2(null_fd, 1);
        close(null_fd);
    }
    if (log_fd >= 0) {
        dup2(log_fd, 2);
        close(log_fd);
    }
}

/* Closes every descriptor above stderr except keep, in case the daemon leaked one without
 * close-on-exec: a container must not hold the daemon's sockets or database. */
static void close_inherited_fds(int keep)
{
    if (keep > 3)
        syscall(SYS_close_range, 3U, (unsigned)keep - 1, 0U);
    syscall(SYS_close_range, (unsigned)keep + 1, ~0U, 0U);
}

/* Forks once more so that the daemon's direct child exits and this process is orphaned. */
static void detach(void)
{
    pid_t pid = fork();

    if (pid < 0) {
        perror("hostcri-monitor: fork");
        _exit(1);
    }
    if (pid > 0)
        _exit(0);
}

static void init_monitor(struct monitor *monitor, const char *state_dir, int report_fd)
{
    memset(monitor, 0, sizeof(*monitor));
    monitor->state_dir = state_dir;
    monitor->report_fd = report_fd;
    monitor->stdout_fd = -1;
    monitor->stderr_fd = -1;
    monitor->stdin_fd = -1;
    monitor->events_fd = -1;
    monitor->attach_fd = -1;
    for (int i = 0; i < MONITOR_MAX_ATTACH; i++)
        monitor->clients[i].fd = -1;
    monitor->request.stdio[0] = -1;
    monitor->request.stdio[1] = -1;
    monitor->request.stdio[2] = -1;
    monitor->exit_path = xasprintf("%s/%s", state_dir, MONITOR_EXIT_FILE);
    monitor->init_pid_path = xasprintf("%s/%s", state_dir, MONITOR_INIT_PID_FILE);
    monitor->log.fd = -1;
}

int main(int argc, char **argv)
{
    struct monitor monitor;
    struct error err = ERROR_INIT;
    _cleanup_free_ char *pid_path = NULL;

    if (argc != 3) {
        fprintf(stderr, "usage: hostcri-monitor <container state dir> <report fd>\n");
        return 2;
    }
    init_monitor(&monitor, argv[1], atoi(argv[2]));
    close_inherited_fds(monitor.report_fd);
    fcntl(monitor.report_fd, F_SETFD, FD_CLOEXEC);
    redirect_own_stdio(monitor.state_dir);
    detach();
    if (chdir("/") < 0)
        return 1;
    umask(022);
    signal(SIGPIPE, SIG_IGN);
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    if (monitor_block_signals(&monitor, &err) < 0) {
        fail_start(&monitor, &err);
        return 1;
    }
    pid_path = xasprintf("%s/%s", monitor.state_dir, MONITOR_PID_FILE);
    if (monitor_pid_file_write(pid_path, getpid(), &err) < 0 || set_up(&monitor, &err) < 0) {
        fail_start(&monitor, &err);
        return 1;
    }
    monitor_run(&monitor);
    return 0;
}
