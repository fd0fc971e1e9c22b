/* Exec: an extra process in a running container's job, mount namespace, user and environment. */
#include "runtime/linux/job_linux.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/linux/monitor_files.h"
#include "runtime/linux/spawn.h"
#include "runtime/linux/userdb.h"

#define MAX_GROUPS 256

struct job_exec {
    char *container_id;
    pid_t pid;
    int pidfd;
    int tty_master; /* kept for resize, or -1 */
    uv_poll_t poll;
    job_exec_exit_cb exit_cb;
    void *data;
    bool exited;
    bool released;
};

/* Everything prepared for one spawn; freed by exec_setup_clear. */
struct exec_setup {
    struct monitor_spec container_spec;
    struct spawn_request request;
    gid_t groups[MAX_GROUPS];
    int procs_fds[CGROUP_V1_COUNT + 1];
    int n_procs_fds;
    int child_fds[3];  /* the child's ends, closed after the spawn */
    int caller_fds[3]; /* handed to the caller on success */
    int tty_master;
};

static void close_fd(int *fd)
{
    if (*fd >= 0)
        close(*fd);
    *fd = -1;
}

static void exec_setup_clear(struct exec_setup *setup)
{
    monitor_spec_clear(&setup->container_spec);
    for (int i = 0; i < setup->n_procs_fds; i++)
        close(setup->procs_fds[i]);
    setup->n_procs_fds = 0;
    if (setup->request.mnt_ns_fd >= 0)
        close(setup->request.mnt_ns_fd);
    if (setup->request.cgroup_fd >= 0)
        close(setup->request.cgroup_fd);
    setup->request.mnt_ns_fd = -1;
    setup->request.cgroup_fd = -1;
    for (int i = 0; i < 3; i++) {
        /* A tty child uses one descriptor three times. */
        if (i > 0 && setup->child_fds[i] == setup->child_fds[0])
            setup->child_fds[i] = -1;
        close_fd(&setup->child_fds[i]);
        close_fd(&setup->caller_fds[i]);
    }
    close_fd(&setup->tty_master);
}

/* Reads the "Uid:", "Gid:" and "Groups:" lines of /proc/<pid>/status: the init's credentials. */
static int read_process_user(pid_t pid, struct exec_setup *setup, struct error *err)
{
    _cleanup_free_ char *dir = xasprintf("/proc/%d", (int)pid);
    _cleanup_free_ char *text = NULL;
    const char *line;
    unsigned value = 0;

    if (cgroup_read_file(dir, "status", &text, err) < 0)
        return -1;
    setup->request.set_user = true;
    if ((line = strstr(text, "\nUid:")) != NULL && sscanf(line + 5, "%*u %u", &value) == 1)
        setup->request.uid = value;
    if ((line = strstr(text, "\nGid:")) != NULL && sscanf(line + 5, "%*u %u", &value) == 1)
        setup->request.gid = value;
    line = strstr(text, "\nGroups:");
    setup->request.n_groups = 0;
    for (char *cursor = line ? (char *)line + 8 : NULL; cursor != NULL && *cursor != '\n';) {
        char *end;
        unsigned long group = strtoul(cursor, &end, 10);

        if (end == cursor || setup->request.n_groups == MAX_GROUPS)
            break;
        setup->groups[setup->request.n_groups++] = (gid_t)group;
        cursor = end;
    }
    setup->request.groups = setup->groups;
    return 0;
}

/* The exec's user: the request's, else the container init's current credentials. */
static int resolve_exec_user(const struct job_user *user, pid_t init_pid, struct exec_setup *setup,
                             struct error *err)
{
    int n = MAX_GROUPS;

    if (user->username == NULL && !user->has_uid)
        return read_process_user(init_pid, setup, err);
    setup->request.set_user = true;
    setup->request.uid = user->has_uid ? user->uid : getuid();
    setup->request.gid = user->has_gid ? user->gid : getgid();
    if (user->username != NULL) {
        /* /proc/<pid>/root is the init process's view, volumes over /etc included. */
        _cleanup_free_ char *passwd = xasprintf("/proc/%d/root/etc/passwd", (int)init_pid);
        _cleanup_free_ char *group = xasprintf("/proc/%d/root/etc/group", (int)init_pid);
        gid_t primary = 0;

        if (userdb_find_user(passwd, user->username, &setup->request.uid, &primary, err) < 0)
            return -1;
        if (!user->has_gid)
            setup->request.gid = primary;
        n = (int)userdb_user_groups(group, user->username, primary, setup->groups, MAX_GROUPS);
    } else {
        n = 0;
    }
    for (size_t i = 0; i < user->n_groups && n < MAX_GROUPS; i++)
        setup->groups[n++] = user->groups[i];
    setup->request.groups = setup->groups;
    setup->request.n_groups = (size_t)n;
    return 0;
}

static int open_tty(const struct job_exec_spec *spec, struct exec_setup *setup, struct error *err)
{
    struct winsize size = {.ws_row = spec->rows ? spec->rows : 25,
                           .ws_col = spec->cols ? spec->cols : 80};
    char name[128];
    int slave;

    setup->tty_master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (setup->tty_master < 0 || grantpt(setup->tty_master) < 0 ||
        unlockpt(setup->tty_master) < 0 || ptsname_r(setup->tty_master, name, sizeof(name)) != 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "open a pseudo-terminal");
    ioctl(setup->tty_master, TIOCSWINSZ, &size);
    slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "open %s", name);
    for (int i = 0; i < 3; i++)
        setup->child_fds[i] = slave;
    setup->caller_fds[1] = fcntl(setup->tty_master, F_DUPFD_CLOEXEC, 3);
    if (spec->stdin_open)
        setup->caller_fds[0] = fcntl(setup->tty_master, F_DUPFD_CLOEXEC, 3);
    setup->request.tty = true;
    return 0;
}

static int open_pipes(const struct job_exec_spec *spec, struct exec_setup *setup, struct error *err)
{
    int fds[2];

    for (int i = spec->stdin_open ? 0 : 1; i < 3; i++) {
        if (pipe2(fds, O_CLOEXEC) < 0)
            return error_set_errno(err, ERROR_INTERNAL, errno, "create a pipe");
        /* fds[0] reads and fds[1] writes: the child reads stdin and writes the others. */
        setup->child_fds[i] = i == 0 ? fds[0] : fds[1];
        setup->caller_fds[i] = i == 0 ? fds[1] : fds[0];
    }
    setup->request.new_session = true;
    return 0;
}

static int prepare(struct job_container *container, const struct job_exec_spec *spec,
                   struct exec_setup *setup, struct error *err)
{
    struct cgroup_env *cgroups = &container->runtime->cgroups;
    _cleanup_free_ char *spec_path = xasprintf("%s/%s", container->dir, MONITOR_SPEC_FILE);
    _cleanup_free_ char *ns_path = xasprintf("/proc/%d/ns/mnt", (int)container->init_pid);
    struct monitor_spec *saved = &setup->container_spec;

    if (monitor_spec_read(spec_path, saved, err) < 0)
        return -1;
    setup->request.argv = spec->argv;
    setup->request.envp = spec->env ? spec->env : (const char *const *)saved->env;
    setup->request.cwd = spec->working_dir ? spec->working_dir : saved->cwd;
    if (setup->request.cwd == NULL && saved->container_dir != NULL)
        setup->request.cwd = saved->mount_point;
    setup->request.mnt_ns_fd = open(ns_path, O_RDONLY | O_CLOEXEC);
    if (setup->request.mnt_ns_fd < 0)
        return error_set_errno(err, ERROR_FAILED_PRECONDITION, errno, "open %s", ns_path);
    setup->request.cgroup_fd = cgroup_open_unified(cgroups, container->path, NULL);
    setup->n_procs_fds = spawn_open_procs_fds(cgroups, container->path, setup->procs_fds,
                                              ARRAY_SIZE(setup->procs_fds), err);
    if (setup->n_procs_fds < 0) {
        setup->n_procs_fds = 0;
        return -1;
    }
    setup->request.procs_fds = setup->procs_fds;
    setup->request.n_procs_fds = (size_t)setup->n_procs_fds;
    if (resolve_exec_user(&spec->user, container->init_pid, setup, err) < 0)
        return -1;
    if ((spec->tty ? open_tty(spec, setup, err) : open_pipes(spec, setup, err)) < 0)
        return -1;
    for (int i = 0; i < 3; i++)
        setup->request.stdio[i] = setup->child_fds[i];
    return 0;
}

/* ---- Exit ---------------------------------------------------------------------------------- */

static void exec_closed_cb(uv_handle_t *handle)
{
    struct job_exec *exec = handle->data;

    close_fd(&exec->pidfd);
    close_fd(&exec->tty_master);
    free(exec->container_id);
    free(exec);
}

static void exec_exited_cb(uv_poll_t *handle, int status, int events)
{
    struct job_exec *exec = handle->data;
    siginfo_t info;
    int exit_code = 255;
    int signal = 0;

    memset(&info, 0, sizeof(info));
    uv_poll_stop(handle);
    exec->exited = true;
    if (waitid(P_PIDFD, (id_t)exec->pidfd, &info, WEXITED) == 0) {
        if (info.si_code == CLD_EXITED) {
            exit_code = info.si_status;
        } else {
            signal = info.si_status;
            exit_code = 128 + signal;
        }
    } else {
        log_warn_id("container", exec->container_id, "reap exec process %d: %s", (int)exec->pid,
                    strerror(errno));
    }
    if (exec->released) {
        uv_close((uv_handle_t *)&exec->poll, exec_closed_cb);
        return;
    }
    if (exec->exit_cb != NULL)
        exec->exit_cb(exec, exit_code, signal, exec->data);
}

/* ---- Public -------------------------------------------------------------------------------- */

static bool init_running(struct job_container *container)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", container->dir, MONITOR_INIT_PID_FILE);
    bool alive = false;
    pid_t pid = 0;

    if (monitor_pid_file_read(path, &pid, &alive, NULL) < 0 || !alive)
        return false;
    container->init_pid = pid;
    return true;
}

static void init_setup(struct exec_setup *setup)
{
    memset(setup, 0, sizeof(*setup));
    setup->request.mnt_ns_fd = -1;
    setup->request.cgroup_fd = -1;
    setup->tty_master = -1;
    for (int i = 0; i < 3; i++) {
        setup->child_fds[i] = -1;
        setup->caller_fds[i] = -1;
    }
}

int job_exec_start(struct job_container *container, const struct job_exec_spec *spec,
                   job_exec_exit_cb exit_cb, void *data, struct job_exec **out,
                   struct job_exec_io *io, struct error *err)
{
    struct exec_setup setup;
    struct job_exec *exec;
    pid_t pid = 0;
    int pidfd;

    if (!init_running(container))
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "container %s must be running to exec in it", container->id);
    init_setup(&setup);
    if (prepare(container, spec, &setup, err) < 0 ||
        spawn_start(&setup.request, &pid, NULL, err) < 0) {
        exec_setup_clear(&setup);
        return error_prefix(err, "exec in container %s", container->id);
    }
    pidfd = pidfd_open(pid, 0);
    if (pidfd < 0) {
        int saved = errno;

        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        exec_setup_clear(&setup);
        return error_set_errno(err, ERROR_INTERNAL, saved, "watch exec process %d", (int)pid);
    }

    exec = xcalloc(1, sizeof(*exec));
    exec->container_id = xstrdup(container->id);
    exec->pid = pid;
    exec->pidfd = pidfd;
    exec->tty_master = steal_fd(&setup.tty_master);
    exec->exit_cb = exit_cb;
    exec->data = data;
    uv_poll_init(container->runtime->loop, &exec->poll, pidfd);
    exec->poll.data = exec;
    uv_poll_start(&exec->poll, UV_READABLE, exec_exited_cb);
    io->stdin_fd = steal_fd(&setup.caller_fds[0]);
    io->stdout_fd = steal_fd(&setup.caller_fds[1]);
    io->stderr_fd = steal_fd(&setup.caller_fds[2]);
    exec_setup_clear(&setup);
    log_info_id("container", container->id, "exec process %d: %s", (int)pid, spec->argv[0]);
    *out = exec;
    return 0;
}

int job_exec_pid(const struct job_exec *exec)
{
    return exec->pid;
}

int job_exec_signal(struct job_exec *exec, int signal, struct error *err)
{
    if (exec->exited)
        return error_set(err, ERROR_NOT_FOUND, "exec process %d already exited", (int)exec->pid);
    if (pidfd_send_signal(exec->pidfd, signal, NULL, 0) < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "send signal %d to exec process %d",
                               signal, (int)exec->pid);
    return 0;
}

int job_exec_resize(struct job_exec *exec, uint16_t rows, uint16_t cols, struct error *err)
{
    struct winsize size = {.ws_row = rows, .ws_col = cols};

    if (exec->tty_master < 0)
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "exec process %d has no terminal to resize", (int)exec->pid);
    if (ioctl(exec->tty_master, TIOCSWINSZ, &size) < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "resize the terminal of process %d",
                               (int)exec->pid);
    return 0;
}

void job_exec_release(struct job_exec *exec)
{
    if (exec == NULL)
        return;
    exec->released = true;
    exec->exit_cb = NULL;
    /* A running process keeps its watch so that it is reaped when it exits. */
    if (exec->exited)
        uv_close((uv_handle_t *)&exec->poll, exec_closed_cb);
}
