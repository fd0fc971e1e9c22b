#include "runtime/linux/spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/linux/cgroup.h"
#include "runtime/spec.h"

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/* The step at which the child failed, sent with errno through the report pipe. */
enum child_step {
    STEP_CGROUP = 1,
    STEP_SETNS,
    STEP_SESSION,
    STEP_STDIO,
    STEP_CHDIR,
    STEP_SETGROUPS,
    STEP_SETGID,
    STEP_SETUID,
    STEP_EXEC_NOT_FOUND,
    /* An absolute program missing on the host but present under the image's mount point. */
    STEP_EXEC_NOT_FOUND_IN_HOST,
    STEP_EXEC,
    /* Not a failure: oom_score_adj could not be set and stays inherited. */
    STEP_OOM_WARNING,
};

struct child_report {
    int step;
    int errnum;
};

static void child_report(int fd, int step, int errnum)
{
    struct child_report report = {step, errnum};
    ssize_t n;

    do {
        n = write(fd, &report, sizeof(report));
    } while (n < 0 && errno == EINTR);
}

static _Noreturn void child_fail(int fd, int step, int errnum)
{
    child_report(fd, step, errnum);
    _exit(127);
}

static void child_reset_signals(void)
{
    struct sigaction action;
    sigset_t none;

    memset(&action, 0, sizeof(action));
    action.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++)
        sigaction(sig, &action, NULL);
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
}

static void child_set_stdio(const struct spawn_request *request, int null_fd, int report_fd)
{
    int high[3];

    /* Move every source above 2 first, so that dup2 cannot overwrite one still needed. */
    for (int i = 0; i < 3; i++) {
        int source = request->stdio[i] >= 0 ? request->stdio[i] : null_fd;

        high[i] = fcntl(source, F_DUPFD_CLOEXEC, 3);
        if (high[i] < 0)
            child_fail(report_fd, STEP_STDIO, errno);
    }
    for (int i = 0; i < 3; i++) {
        if (dup2(high[i], i) < 0)
            child_fail(report_fd, STEP_STDIO, errno);
    }
}

static void child_set_oom_score_adj(int value, int report_fd)
{
    char text[16];
    int length = 0;
    unsigned magnitude = value < 0 ? (unsigned)-value : (unsigned)value;
    char digits[12];
    int n_digits = 0;
    int fd;

    do {
        digits[n_digits++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude > 0);
    if (value < 0)
        text[length++] = '-';
    while (n_digits > 0)
        text[length++] = digits[--n_digits];
    fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
    if (fd < 0 || write(fd, text, (size_t)length) != length)
        child_report(report_fd, STEP_OOM_WARNING, errno);
    if (fd >= 0)
        close(fd);
}

/* Returns the value of name (written "NAME=") in envp, or NULL. */
static const char *env_value(const char *const *envp, const char *name)
{
    size_t length = strlen(name);

    for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
        if (strncmp(envp[i], name, length) == 0)
            return envp[i] + length;
    }
    return NULL;
}

/* Length of the mount point in envp without trailing slashes; 0 when it is unset or "/". */
static size_t mount_point_length(const char *const *envp, const char **mount_point)
{
    size_t length;

    *mount_point = env_value(envp, SPEC_MOUNT_POINT_VARIABLE "=");
    if (*mount_point == NULL)
        return 0;
    length = strlen(*mount_point);
    while (length > 0 && (*mount_point)[length - 1] == '/')
        length--;
    return length;
}

/*
 * True when the absolute program exists under the image's mount point, in the child's mount
 * namespace. Host-process containers run against the host's file system, so an image
 * entrypoint such as "/entrypoint.sh" is looked up on the host. Uses no allocation, because it
 * runs in the child between clone and exec.
 */
static bool child_program_in_image(const struct spawn_request *request, const char *program)
{
    const char *mount_point;
    size_t mount_length = mount_point_length(request->envp, &mount_point);
    size_t program_length = strlen(program);
    char candidate[PATH_MAX];

    if (mount_length == 0 || program[0] != '/' ||
        mount_length + program_length >= sizeof(candidate))
        return false;
    memcpy(candidate, mount_point, mount_length);
    memcpy(candidate + mount_length, program, program_length + 1);
    return access(candidate, F_OK) == 0;
}

/* Returns the value of PATH in envp, or the default search path. */
static const char *search_path(const char *const *envp)
{
    for (size_t i = 0; envp != NULL && envp[i] != NULL; i++) {
        if (strncmp(envp[i], "PATH=", 5) == 0)
            return envp[i] + 5;
    }
    return DEFAULT_PATH;
}

/* Executes argv[0] like execvpe; returns only on failure with the step to report. */
static int child_exec(const struct spawn_request *request, int *errnum)
{
    const char *program = request->argv[0];
    const char *path = search_path(request->envp);
    char *const *argv = (char *const *)request->argv;
    char *const *envp = (char *const *)request->envp;
    size_t program_length = strlen(program);
    int saved = ENOENT;

    if (strchr(program, '/') != NULL) {
        execve(program, argv, envp);
        *errnum = errno;
        if (*errnum != ENOENT)
            return STEP_EXEC;
        return child_program_in_image(request, program) ? STEP_EXEC_NOT_FOUND_IN_HOST
                                                        : STEP_EXEC_NOT_FOUND;
    }
    for (const char *entry = path;; entry++) {
        const char *end = strchrnul(entry, ':');
        size_t entry_length = (size_t)(end - entry);
        char candidate[PATH_MAX];

        /* An empty entry means the working directory, as in execvpe. */
        if (entry_length == 0)
            entry = ".", entry_length = 1;
        if (entry_length + 1 + program_length < sizeof(candidate)) {
            memcpy(candidate, entry, entry_length);
            candidate[entry_length] = '/';
            memcpy(candidate + entry_length + 1, program, program_length + 1);
            execve(candidate, argv, envp);
            if (errno == EACCES)
                saved = EACCES;
            else if (errno != ENOENT && errno != ENOTDIR && errno != ESTALE &&
                     errno != ENAMETOOLONG) {
                *errnum = errno;
                return STEP_EXEC;
            }
        }
        if (*end == '\0')
            break;
        entry = end;
    }
    *errnum = saved;
    return saved == ENOENT ? STEP_EXEC_NOT_FOUND : STEP_EXEC;
}

static _Noreturn void child_main(const struct spawn_request *request, int null_fd, int report_fd)
{
    int errnum = 0;
    int step;

    child_reset_signals();
    for (size_t i = 0; i < request->n_procs_fds; i++) {
        if (write(request->procs_fds[i], "0", 1) != 1)
            child_fail(report_fd, STEP_CGROUP, errno);
    }
    if (request->mnt_ns_fd >= 0 && setns(request->mnt_ns_fd, CLONE_NEWNS) < 0)
        child_fail(report_fd, STEP_SETNS, errno);
    if ((request->tty || request->new_session) && setsid() < 0)
        child_fail(report_fd, STEP_SESSION, errno);
    if (request->tty && ioctl(request->stdio[0], TIOCSCTTY, 0) < 0)
        child_fail(report_fd, STEP_SESSION, errno);
    child_set_stdio(request, null_fd, report_fd);
    if (request->has_oom_score_adj)
        child_set_oom_score_adj(request->oom_score_adj, report_fd);
    if (request->cwd != NULL && chdir(request->cwd) < 0)
        child_fail(report_fd, STEP_CHDIR, errno);
    /* Raw system calls: the glibc wrappers apply the change to every thread they know of,
     * and after a raw clone3 their thread list still names the parent's threads. */
    if (request->set_user) {
        if (syscall(SYS_setgroups, request->n_groups, request->groups) < 0)
            child_fail(report_fd, STEP_SETGROUPS, errno);
        if (syscall(SYS_setresgid, request->gid, request->gid, request->gid) < 0)
            child_fail(report_fd, STEP_SETGID, errno);
        if (syscall(SYS_setresuid, request->uid, request->uid, request->uid) < 0)
            child_fail(report_fd, STEP_SETUID, errno);
    }
    syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC);
    step = child_exec(request, &errnum);
    child_fail(report_fd, step, errnum);
}

/* clone3 into the cgroup fd; falls back to fork where the kernel lacks it. */
static pid_t fork_into_cgroup(int cgroup_fd)
{
    if (cgroup_fd >= 0) {
        struct clone_args args;
        long pid;

        memset(&args, 0, sizeof(args));
        args.flags = CLONE_INTO_CGROUP;
        args.exit_signal = SIGCHLD;
        args.cgroup = (uint64_t)cgroup_fd;
        pid = syscall(SYS_clone3, &args, sizeof(args));
        if (pid >= 0 || (errno != ENOSYS && errno != E2BIG && errno != EINVAL))
            return (pid_t)pid;
    }
    return fork();
}

static int report_error(const struct spawn_request *request, const struct child_report *report,
                        struct error *err)
{
    const char *program = request->argv[0];
    int errnum = report->errnum;

    switch (report->step) {
    case STEP_EXEC_NOT_FOUND_IN_HOST: {
        const char *mount_point;
        size_t mount_length = mount_point_length(request->envp, &mount_point);

        return error_set(err, ERROR_NOT_FOUND,
                         "executable \"%s\" not found: host-process containers see the host's "
                         "file system, and the image's files are under %.*s: use $%s%s",
                         program, (int)mount_length, mount_point, SPEC_MOUNT_POINT_VARIABLE,
                         program);
    }
    case STEP_EXEC_NOT_FOUND:
        if (strchr(program, '/') != NULL)
            return error_set(err, ERROR_NOT_FOUND, "executable \"%s\" not found", program);
        return error_set(err, ERROR_NOT_FOUND, "executable \"%s\" not found in PATH \"%s\"",
                         program, search_path(request->envp));
    case STEP_EXEC:
        return error_set_errno(err, errnum == EACCES ? ERROR_PERMISSION_DENIED : ERROR_INTERNAL,
                               errnum, "execute \"%s\"", program);
    case STEP_CHDIR:
        return error_set_errno(err, errnum == ENOENT ? ERROR_NOT_FOUND : ERROR_INTERNAL, errnum,
                               "change to working directory \"%s\"", request->cwd);
    case STEP_CGROUP:
        return error_set_errno(err, ERROR_INTERNAL, errnum, "join the job's cgroups");
    case STEP_SETNS:
        return error_set_errno(err, ERROR_INTERNAL, errnum, "enter the mount namespace");
    case STEP_SESSION:
        return error_set_errno(err, ERROR_INTERNAL, errnum, "start a session");
    case STEP_STDIO:
        return error_set_errno(err, ERROR_INTERNAL, errnum, "set up standard streams");
    case STEP_SETGROUPS:
        return error_set_errno(err, ERROR_PERMISSION_DENIED, errnum, "set supplemental groups");
    case STEP_SETGID:
        return error_set_errno(err, ERROR_PERMISSION_DENIED, errnum, "set group id %u",
                               (unsigned)request->gid);
    default:
        return error_set_errno(err, ERROR_PERMISSION_DENIED, errnum, "set user id %u",
                               (unsigned)request->uid);
    }
}

/* Reads the child's reports until exec closes the pipe. Returns 0 or -1 with *err. */
static int read_reports(const struct spawn_request *request, int fd, bool *oom_clamped,
                        struct error *err)
{
    struct child_report report;
    ssize_t n;

    for (;;) {
        n = read(fd, &report, sizeof(report));
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0)
            return 0;
        if (n != (ssize_t)sizeof(report))
            return error_set_errno(err, ERROR_INTERNAL, n < 0 ? errno : EIO,
                                   "read the start report of \"%s\"", request->argv[0]);
        if (report.step != STEP_OOM_WARNING)
            return report_error(request, &report, err);
        if (oom_clamped != NULL)
            *oom_clamped = true;
    }
}

int spawn_start(const struct spawn_request *request, pid_t *pid, bool *oom_clamped,
                struct error *err)
{
    _cleanup_close_ int null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    _cleanup_close_ int read_end = -1;
    _cleanup_close_ int write_end = -1;
    int pipe_fds[2];
    pid_t child;

    if (oom_clamped != NULL)
        *oom_clamped = false;
    if (request->argv == NULL || request->argv[0] == NULL || request->argv[0][0] == '\0')
        return error_set(err, ERROR_INVALID_ARGUMENT, "no command to run");
    if (null_fd < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "open /dev/null");
    if (pipe2(pipe_fds, O_CLOEXEC) < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "create the start report pipe");
    read_end = pipe_fds[0];
    write_end = pipe_fds[1];

    child = fork_into_cgroup(request->cgroup_fd);
    if (child < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "fork for \"%s\"", request->argv[0]);
    if (child == 0)
        child_main(request, null_fd, write_end);

    close(steal_fd(&write_end));
    if (read_reports(request, read_end, oom_clamped, err) < 0) {
        while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
            ;
        return -1;
    }
    *pid = child;
    return 0;
}

int spawn_open_procs_fds(const struct cgroup_env *env, const char *path, int *fds, size_t max_fds,
                         struct error *err)
{
    const char *hierarchies[CGROUP_V1_COUNT + 1];
    size_t n_hierarchies = 0;
    size_t n_fds = 0;

    if (env->unified != NULL)
        hierarchies[n_hierarchies++] = env->unified;
    for (int i = 0; i < CGROUP_V1_COUNT; i++) {
        if (env->v1[i] != NULL)
            hierarchies[n_hierarchies++] = env->v1[i];
    }
    for (size_t i = 0; i < n_hierarchies && n_fds < max_fds; i++) {
        _cleanup_free_ char *dir = cgroup_dir(hierarchies[i], path);
        _cleanup_free_ char *procs = xasprintf("%s/cgroup.procs", dir);
        int fd = open(procs, O_WRONLY | O_CLOEXEC);

        if (fd < 0) {
            for (size_t j = 0; j < n_fds; j++)
                close(fds[j]);
            return error_set_errno(err, ERROR_INTERNAL, errno, "open %s", procs);
        }
        fds[n_fds++] = fd;
    }
    return (int)n_fds;
}
