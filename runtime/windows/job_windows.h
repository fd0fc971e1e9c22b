#ifndef HOSTCRI_RUNTIME_WINDOWS_JOB_WINDOWS_H
#define HOSTCRI_RUNTIME_WINDOWS_JOB_WINDOWS_H

/*
 * Shared state of the job-object backend's files in the daemon (Windows build only). The rest
 * of hostcri uses only runtime/job.h.
 *
 * The daemon creates each container's job object (named "hostcri-<container id>", with its
 * limits and kill-on-job-close) and starts hostcri-monitor.exe, which starts the init process
 * in it and keeps its own handle of the job open, so the container survives the daemon. The daemon
 * keeps the job handle for kills, limits and statistics, waits for the monitor process to
 * end, and talks to the monitor over its control pipe.
 *
 * Exit codes are those of Windows: an init process ended by SIGKILL or kill_all exits with
 * code 1, as the reference runtime's TerminateJobObject gives it, and its exit status then
 * also reports signal 9. Linux reports code 137 instead.
 */

#include <stdbool.h>
#include <stdint.h>

#include <windows.h>

#include <uv.h>

#include "runtime/job.h"
#include "runtime/windows/job_limits.h"
#include "runtime/windows/winmon_spec.h"

/* Messages that the daemon's threads post to the runtime's completion port. */
enum job_windows_message_kind {
    JOB_WINDOWS_MSG_REPORT = 1,         /* a start report arrived or its pipe ended */
    JOB_WINDOWS_MSG_MONITOR_EXITED = 2, /* the container's monitor process ended */
    JOB_WINDOWS_MSG_EXEC_EXITED = 3,    /* an exec's process ended */
};

/* A message for the loop thread. */
struct job_windows_message {
    uintptr_t key; /* job_container.key */
    DWORD message; /* enum job_windows_message_kind */
};

struct job_runtime {
    uv_loop_t *loop;
    char *state_dir;
    char *monitor_path;
    int grace_ms;
    int host_cpus;
    HANDLE port;   /* where the report threads and monitor waits post their messages */
    HANDLE thread; /* reads port and hands the messages to the loop */
    uv_async_t async;
    CRITICAL_SECTION lock; /* protects pending */
    struct job_windows_message *pending;
    size_t n_pending;
    size_t pending_capacity;
    struct job_container **containers; /* live handles, for the messages' keys */
    size_t n_containers;
    struct job_exec **execs; /* live exec handles, for the messages' keys */
    size_t n_execs;
    uintptr_t next_key;
};

struct job_pod {
    struct job_runtime *runtime;
    char *sandbox_id;
    char *name; /* job object name "hostcri-pod-<sandbox id>", shown where Linux shows the cgroup */
    char *record_path;
    HANDLE job; /* the pod's job object, in which the container jobs are nested */
};

/* A start in progress (job_windows_start.c). */
struct job_windows_start;

/* The port and key that a wait registered on the monitor posts to when the monitor ends. */
struct job_windows_watch {
    HANDLE port;
    uintptr_t key;
};

struct job_container {
    struct job_runtime *runtime;
    char *id;
    char *sandbox_id;
    char *dir;  /* <state_dir>\containers\<id> */
    char *name; /* job object name "hostcri-<container id>" */
    uintptr_t key;
    HANDLE job;     /* NULL when the job object is gone (after a reboot) */
    HANDLE monitor; /* the monitor process while it is watched, else NULL */
    HANDLE monitor_wait;
    struct job_windows_watch *watch;
    DWORD init_pid; /* 0 when init is not running */
    struct job_windows_start *start;
    job_exit_cb exit_cb;
    void *data;
    uv_timer_t timer; /* the start report's deadline */
    bool released;
};

/* "hostcri-pod-<sandbox id>". Returns a new string. */
char *job_windows_pod_job_name(const char *sandbox_id);

/* Registers container so that messages with its key reach it. Loop thread. */
void job_windows_add_container(struct job_runtime *runtime, struct job_container *container);

/* Forgets container; later messages with its key are dropped. Loop thread. */
void job_windows_remove_container(struct job_runtime *runtime, struct job_container *container);

/* Posts a message for key to the runtime's port. Any thread. */
void job_windows_post(HANDLE port, uintptr_t key, enum job_windows_message_kind kind);

/* Registers exec under a new key (stored in *key, the first field of the exec) so that its
 * messages reach it. Loop thread. */
void job_windows_add_exec(struct job_runtime *runtime, struct job_exec *exec, uintptr_t *key);

/* Forgets exec; later messages with its key are dropped. Loop thread. */
void job_windows_remove_exec(struct job_runtime *runtime, struct job_exec *exec);

/* Handles an exec's exit message (job_windows_exec.c). Loop thread. */
void job_windows_exec_message(struct job_exec *exec);

/* Reads the container's spec file into *spec (free with winmon_spec_clear). */
int job_windows_read_spec(const struct job_container *container, struct winmon_spec *spec,
                          struct error *err);

/* Handles one message for container (job_windows_start.c). Loop thread. */
void job_windows_container_message(struct job_container *container,
                                   const struct job_windows_message *message);

/* Waits for the monitor process (handle owned by container from now on) and delivers the exit
 * once it ends. */
int job_windows_watch_monitor(struct job_container *container, HANDLE monitor, struct error *err);

/* Cancels a pending start when its container is released: the start callback never runs. */
void job_windows_start_cancel(struct job_windows_start *start);

/* The exit file of container: the spec's exit_file when the core chose one, else the default.
 * Returns a new string. */
char *job_windows_exit_path(const struct job_container *container);

/* Reads container's exit file, or makes an UNKNOWN status when there is none. */
void job_windows_read_exit(const struct job_container *container, struct job_exit_status *status);

/* Applies limits to job (named name, for messages): CPU rate control and the job memory limit,
 * keeping kill-on-job-close. */
int job_windows_apply_limits(HANDLE job, const char *name, const struct job_limits *limits,
                             struct error *err);

/* Reads the accounting and memory of job into *stats. */
int job_windows_read_stats(HANDLE job, const char *name, struct job_stats *stats,
                           struct error *err);

/* Lists the process ids of job into *pids (free) and *n_pids. */
int job_windows_pids(HANDLE job, const char *name, int **pids, size_t *n_pids, struct error *err);

#endif
