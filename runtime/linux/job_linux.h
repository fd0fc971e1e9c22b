#ifndef HOSTCRI_RUNTIME_LINUX_JOB_LINUX_H
#define HOSTCRI_RUNTIME_LINUX_JOB_LINUX_H

/* Internal types of the Linux job backend, shared by job_linux.c, job_container.c,
 * job_start.c and job_exec.c. The rest of hostcri uses only runtime/job.h. */

#include <stdbool.h>
#include <sys/types.h>

#include <uv.h>

#include "runtime/job.h"
#include "runtime/linux/cgroup.h"

struct job_runtime {
    uv_loop_t *loop;
    char *state_dir;
    char *monitor_path;
    char *default_parent; /* as configured, kubelet spelling */
    char *mount_point;
    enum job_cgroup_driver driver;
    int grace_ms;
    int host_cpus;
    struct cgroup_env cgroups;
    char *monitor_cgroup; /* relative path of the monitors' cgroup */
    char **monitor_cgroup_created;
};

struct job_pod {
    struct job_runtime *runtime;
    char *sandbox_id;
    char *cgroup_parent; /* kubelet spelling, for status */
    char *path;          /* relative cgroup path */
    char **created;      /* directories job_pod_create made */
    char *record_path;
};

/* A start in progress: the monitor's launcher and its start report (job_start.c). */
struct job_start;

struct job_container {
    struct job_runtime *runtime;
    char *id;
    char *dir;  /* <state_dir>/containers/<id> */
    char *path; /* relative cgroup path */
    char **created;
    pid_t monitor_pid;
    pid_t init_pid;
    int pidfd; /* the monitor's, or -1 */
    uv_poll_t poll;
    uv_timer_t timer; /* delivers an exit found synchronously, from the loop */
    bool poll_started;
    int open_handles;
    job_exit_cb exit_cb;
    void *data;
    bool released;
    struct job_start *start; /* the pending start, or NULL */
};

/* "<container dir>/<name>". Returns a new string. */
char *job_container_file(const struct job_container *container, const char *name);

/*
 * Watches the monitor of a started container through a pidfd, so that exit_cb runs once when
 * it ends; when it is already gone, the exit callback is scheduled on the loop instead.
 */
int job_container_watch(struct job_container *container, struct error *err);

/*
 * Cancels a pending start when its container is released: the start callback never runs. The
 * monitor keeps running; the start's handles close and free it later.
 */
void job_start_cancel(struct job_start *start);

/* "<state_dir>/<kind>/<id>". Returns a new string. */
char *job_state_path(const struct job_runtime *runtime, const char *kind, const char *id);

/* Writes a record of path and the created directories, one per line. */
int job_record_write(const char *file, const char *path, char *const *created, struct error *err);

/* Reads a record written by job_record_write. */
int job_record_read(const char *file, char **path, char ***created, struct error *err);

/* Creates dir and its parents (mode 0700 for the last, 0755 for the others). */
int job_make_dirs(const char *dir, struct error *err);

#endif
