#include "runtime/linux/monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#define DEFAULT_GRACE_MS 5000
/* How long output may keep flowing after the job is empty (a writer outside the job). */
#define DRAIN_MS 1000
#define READ_CHUNK 65536

int monitor_block_signals(struct monitor *monitor, struct error *err)
{
    sigset_t mask;

    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    sigaddset(&mask, SIGUSR1);
    sigaddset(&mask, SIGTERM);
    sigaddset(&mask, SIGINT);
    sigaddset(&mask, SIGHUP);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "block signals");
    monitor->signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
    if (monitor->signal_fd < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "create a signalfd");
    return 0;
}

int monitor_open_tty(struct monitor *monitor, struct error *err)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    char name[128];
    int slave;

    if (master < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "open a pseudo-terminal");
    if (grantpt(master) < 0 || unlockpt(master) < 0 || ptsname_r(master, name, sizeof(name)) != 0) {
        close(master);
        return error_set_errno(err, ERROR_INTERNAL, errno, "unlock the pseudo-terminal");
    }
    slave = open(name, O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) {
        close(master);
        return error_set_errno(err, ERROR_INTERNAL, errno, "open %s", name);
    }
    monitor->stdout_fd = master;
    if (monitor->spec.stdin_open)
        monitor->stdin_fd = fcntl(master, F_DUPFD_CLOEXEC, 3);
    for (int i = 0; i < 3; i++)
        monitor->request.stdio[i] = slave;
    return 0;
}

static void reap_children(struct monitor *monitor)
{
    int status;
    pid_t pid;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid != monitor->init_pid)
            continue;
        monitor->init_status = status;
        monitor->init_exited = true;
        monitor->finished_at_ns = time_now_ns();
        log_info("container %s: init process %d exited (wait status 0x%x)", monitor->spec.id,
                 (int)pid, (unsigned)status);
    }
}

static void handle_signals(struct monitor *monitor)
{
    struct signalfd_siginfo info;
    struct error err = ERROR_INIT;

    while (read(monitor->signal_fd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
        if (info.ssi_signo == SIGCHLD) {
            reap_children(monitor);
        } else if (info.ssi_signo == SIGUSR1) {
            if (crilog_reopen(&monitor->log, &err) < 0) {
                log_error("container %s: %s", monitor->spec.id, err.message);
                error_clear(&err);
            }
        }
        /* SIGTERM, SIGINT and SIGHUP are ignored: the container outlives the daemon. */
    }
}

/* Copies what is ready on *fd into the log; closes *fd at end of file. */
static void copy_output(struct monitor *monitor, int *fd, enum crilog_stream stream)
{
    static char buffer[READ_CHUNK];

    for (int round = 0; round < 16 && *fd >= 0; round++) {
        ssize_t n = read(*fd, buffer, sizeof(buffer));

        if (n > 0) {
            crilog_append(&monitor->log, stream, buffer, (size_t)n, time_now_ns());
            monitor_attach_send(monitor, stream, buffer, (size_t)n);
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        /* End of file, or EIO from a terminal master whose slave is closed. */
        crilog_end_stream(&monitor->log, stream, time_now_ns());
        close(*fd);
        *fd = -1;
    }
}

/* Progress of the stop sequence for the processes left after init exited. */
struct shutdown {
    bool term_sent;
    bool kill_sent;
    bool job_empty;
    int64_t kill_at_ns;
    int64_t drain_until_ns;
};

static void advance_shutdown(struct monitor *monitor, struct shutdown *shutdown)
{
    const char *path = monitor->spec.cgroup_path;
    int grace_ms = monitor->spec.grace_ms > 0 ? monitor->spec.grace_ms : DEFAULT_GRACE_MS;
    struct error err = ERROR_INIT;
    bool populated = false;

    if (shutdown->job_empty)
        return;
    if (cgroup_populated(&monitor->cgroups, path, &populated, &err) < 0) {
        log_error("container %s: %s", monitor->spec.id, err.message);
        error_clear(&err);
        populated = false;
    }
    if (!populated) {
        shutdown->job_empty = true;
        shutdown->drain_until_ns = time_now_ns() + (int64_t)DRAIN_MS * 1000000;
        return;
    }
    if (!shutdown->term_sent) {
        log_info("container %s: init exited; sending SIGTERM to the processes left",
                 monitor->spec.id);
        cgroup_signal_each(&monitor->cgroups, path, SIGTERM, NULL);
        shutdown->term_sent = true;
        shutdown->kill_at_ns = time_now_ns() + (int64_t)grace_ms * 1000000;
    } else if (!shutdown->kill_sent && time_now_ns() >= shutdown->kill_at_ns) {
        log_info("container %s: grace period over; killing the job", monitor->spec.id);
        if (cgroup_kill(&monitor->cgroups, path, &err) < 0) {
            log_error("container %s: %s", monitor->spec.id, err.message);
            error_clear(&err);
        }
        shutdown->kill_sent = true;
    }
}

static bool finished(struct monitor *monitor, const struct shutdown *shutdown)
{
    if (!monitor->init_exited || !shutdown->job_empty)
        return false;
    if (monitor->stdout_fd < 0 && monitor->stderr_fd < 0)
        return true;
    return time_now_ns() >= shutdown->drain_until_ns;
}

static int poll_timeout(const struct monitor *monitor, const struct shutdown *shutdown)
{
    if (!monitor->init_exited)
        return -1;
    /* The v2 events fd wakes the loop when the job empties; the cap covers v1 and races. */
    return 100;
}

static void wait_for_events(struct monitor *monitor, const struct shutdown *shutdown)
{
    struct pollfd fds[6 + MONITOR_MAX_ATTACH];
    nfds_t n = 0;

    fds[n++] = (struct pollfd){.fd = monitor->signal_fd, .events = POLLIN};
    if (monitor->stdout_fd >= 0)
        fds[n++] = (struct pollfd){.fd = monitor->stdout_fd, .events = POLLIN};
    if (monitor->stderr_fd >= 0)
        fds[n++] = (struct pollfd){.fd = monitor->stderr_fd, .events = POLLIN};
    if (monitor->init_exited && monitor->events_fd >= 0)
        fds[n++] = (struct pollfd){.fd = monitor->events_fd, .events = POLLPRI};
    monitor_attach_poll_fds(monitor, fds, &n);
    if (poll(fds, n, poll_timeout(monitor, shutdown)) > 0)
        monitor_attach_handle(monitor, fds, n);
}

static void open_events_fd(struct monitor *monitor)
{
    _cleanup_free_ char *dir = NULL;
    _cleanup_free_ char *path = NULL;

    if (monitor->cgroups.unified == NULL)
        return;
    dir = cgroup_dir(monitor->cgroups.unified, monitor->spec.cgroup_path);
    path = xasprintf("%s/cgroup.events", dir);
    monitor->events_fd = open(path, O_RDONLY | O_CLOEXEC);
}

static void write_exit_file(struct monitor *monitor)
{
    struct job_exit_status status = {.started_at_ns = monitor->started_at_ns,
                                     .finished_at_ns = monitor->finished_at_ns,
                                     .reason = JOB_EXIT_COMPLETED};
    struct error err = ERROR_INIT;
    uint64_t oom_kills = 0;

    if (WIFEXITED(monitor->init_status)) {
        status.exit_code = WEXITSTATUS(monitor->init_status);
    } else if (WIFSIGNALED(monitor->init_status)) {
        status.signal = WTERMSIG(monitor->init_status);
        status.exit_code = 128 + status.signal;
    }
    if (cgroup_read_oom_kills(&monitor->cgroups, monitor->spec.cgroup_path, &oom_kills, NULL) ==
            0 &&
        oom_kills > monitor->oom_kills_at_start)
        status.reason = JOB_EXIT_OOM_KILLED;
    if (monitor_exit_file_write(monitor->exit_path, &status, &err) < 0) {
        log_error("container %s: %s", monitor->spec.id, err.message);
        error_clear(&err);
    }
    log_info("container %s: exit code %d%s", monitor->spec.id, status.exit_code,
             status.reason == JOB_EXIT_OOM_KILLED ? " (OOM killed)" : "");
}

void monitor_run(struct monitor *monitor)
{
    struct shutdown shutdown = {0};

    if (monitor->stdout_fd >= 0)
        fcntl(monitor->stdout_fd, F_SETFL, O_NONBLOCK);
    if (monitor->stderr_fd >= 0)
        fcntl(monitor->stderr_fd, F_SETFL, O_NONBLOCK);
    if (monitor->stdin_fd >= 0)
        fcntl(monitor->stdin_fd, F_SETFL, O_NONBLOCK);
    open_events_fd(monitor);
    /* init may have exited before the signalfd saw it. */
    reap_children(monitor);
    while (!finished(monitor, &shutdown)) {
        wait_for_events(monitor, &shutdown);
        handle_signals(monitor);
        copy_output(monitor, &monitor->stdout_fd, CRILOG_STDOUT);
        copy_output(monitor, &monitor->stderr_fd, CRILOG_STDERR);
        crilog_flush_or_log(&monitor->log, monitor->spec.id);
        if (monitor->init_exited)
            advance_shutdown(monitor, &shutdown);
    }
    monitor_attach_close(monitor);
    crilog_close(&monitor->log, time_now_ns());
    write_exit_file(monitor);
}
