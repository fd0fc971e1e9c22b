#ifndef HOSTCRI_RUNTIME_LINUX_MONITOR_FILES_H
#define HOSTCRI_RUNTIME_LINUX_MONITOR_FILES_H

/*
 * The files that the daemon and a container's monitor share in the container's state
 * directory (<state_dir>/containers/<id>/):
 *
 *   spec         what to start; written by the daemon before it launches the monitor
 *   monitor.pid  "<pid> <start time in clock ticks>", so a reused pid is not mistaken for it
 *   init.pid     the same for the container's init process
 *   exit         how init ended; written by the monitor with write + rename, so a reader sees
 *                all of it or nothing
 *   monitor.log  the monitor's own log
 *
 * The spec and exit files use the formats of runtime/monitor_format.h. Uses only the C
 * library.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "runtime/job.h"

#define MONITOR_SPEC_FILE "spec"
#define MONITOR_PID_FILE "monitor.pid"
#define MONITOR_INIT_PID_FILE "init.pid"
#define MONITOR_EXIT_FILE "exit"
#define MONITOR_LOG_FILE "monitor.log"

struct monitor_mount {
    char *host_path;
    char *container_path;
    bool readonly;
    enum job_propagation propagation;
    bool recursive_readonly; /* submounts read-only too (mount_setattr with AT_RECURSIVE) */
};

/* Everything the monitor needs, as read from the spec file. */
struct monitor_spec {
    char *id;
    char *cgroup_root;
    char *cgroup_path;    /* the container's cgroup, relative */
    char *monitor_cgroup; /* relative cgroup for the monitor itself; NULL keeps the daemon's */
    char **argv;
    char **env;
    char *cwd;
    char *username;
    bool has_uid;
    uint32_t uid;
    bool has_gid;
    uint32_t gid;
    uint32_t *groups;
    size_t n_groups;
    bool strict_groups; /* SupplementalGroupsPolicy Strict: no groups from /etc/group */
    char **layers;      /* base layer first */
    char *container_dir;
    bool readonly_rootfs;
    char *mount_point;
    struct monitor_mount *mounts;
    size_t n_mounts;
    char *log_path;
    bool stdin_open;
    bool stdin_once;
    bool tty;
    bool has_oom_score_adj;
    int oom_score_adj;
    char *exit_file;
    int grace_ms;
};

/* Writes spec to path (write + rename). */
int monitor_spec_write(const struct monitor_spec *spec, const char *path, struct error *err);

/* Reads a spec file into *spec (cleared first; free with monitor_spec_clear). */
int monitor_spec_read(const char *path, struct monitor_spec *spec, struct error *err);

/* Frees every field of a spec filled by monitor_spec_read and zeroes it. */
void monitor_spec_clear(struct monitor_spec *spec);

/* Writes data to path atomically: a temporary file in the same directory, then rename. */
int monitor_write_atomic(const char *path, const char *data, size_t length, struct error *err);

/* Reads field 22 of /proc/<pid>/stat (start time in clock ticks), zombies included. Returns 0
 * or -1. */
int monitor_process_start_time(pid_t pid, uint64_t *start_time);

/* Writes "<pid> <start time>" for pid to path. */
int monitor_pid_file_write(const char *path, pid_t pid, struct error *err);

/*
 * Reads a pid file. *alive is set when that process still runs: same pid and start time, and
 * not a zombie.
 * ERROR_NOT_FOUND when the file does not exist.
 */
int monitor_pid_file_read(const char *path, pid_t *pid, bool *alive, struct error *err);

/* Writes the exit file for status (reason, codes, times and message). */
int monitor_exit_file_write(const char *path, const struct job_exit_status *status,
                            struct error *err);

/* Reads an exit file into *status (its message owned by the caller). ERROR_NOT_FOUND when the
 * file does not exist. */
int monitor_exit_file_read(const char *path, struct job_exit_status *status, struct error *err);

#endif
