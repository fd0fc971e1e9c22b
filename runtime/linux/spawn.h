#ifndef HOSTCRI_RUNTIME_LINUX_SPAWN_H
#define HOSTCRI_RUNTIME_LINUX_SPAWN_H

/*
 * Starting one process inside a job. The child joins the job's cgroups before it runs any code
 * of its own and enters the container's mount namespace. It then takes the user, working
 * directory, environment and standard streams of the request, and looks the program up along
 * PATH (as execvpe does) before executing it. Failures in the child before exec come back through a
 * pipe, so the caller gets a real error (for example ERROR_NOT_FOUND for a missing program).
 *
 * Everything the child needs is prepared before the fork, and the child makes only
 * async-signal-safe system calls, so this is safe in the multi-threaded daemon as well as in
 * the monitor. Uses only the C library.
 */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/error.h"

struct spawn_request {
    const char *const *argv; /* NULL-terminated, argv[0] is looked up along PATH */
    const char *const *envp; /* NULL-terminated; its PATH drives the lookup */
    const char *cwd;         /* NULL keeps the caller's */
    bool set_user;
    uid_t uid;
    gid_t gid;
    const gid_t *groups; /* supplemental groups, used when set_user */
    size_t n_groups;
    /* Descriptors that become 0, 1 and 2; -1 means /dev/null. */
    int stdio[3];
    /* Makes stdio[0] (a terminal) the controlling terminal of a new session. */
    bool tty;
    /* A new session without a terminal (so the child does not share the caller's). */
    bool new_session;
    /* setns target (an open /proc/<pid>/ns/mnt), or -1 to stay in the caller's namespace. */
    int mnt_ns_fd;
    /* The job's v2 directory for clone3(CLONE_INTO_CGROUP), or -1. */
    int cgroup_fd;
    /* Open cgroup.procs files of every hierarchy; the child writes "0" to each to join. */
    const int *procs_fds;
    size_t n_procs_fds;
    /* Written to /proc/self/oom_score_adj in the child when set. A failure is not fatal: the
     * value then stays inherited, and spawn_start reports it through *oom_clamped. */
    bool has_oom_score_adj;
    int oom_score_adj;
};

/*
 * Starts the process. On success sets *pid and returns 0 once the child has executed its
 * program. On failure returns -1 with *err naming the step and the cause, and the child has
 * been reaped. oom_clamped (may be NULL) is set when the requested oom_score_adj could not be
 * applied. The caller reaps the child later.
 */
int spawn_start(const struct spawn_request *request, pid_t *pid, bool *oom_clamped,
                struct error *err);

struct cgroup_env;

/*
 * Opens cgroup.procs of path in every hierarchy of env for spawn_request.procs_fds. Returns the
 * number of descriptors stored in fds (at most max_fds), or -1. The caller closes them.
 */
int spawn_open_procs_fds(const struct cgroup_env *env, const char *path, int *fds, size_t max_fds,
                         struct error *err);

#endif
