#ifndef HOSTCRI_RUNTIME_WINDOWS_JOB_WINDOWS_H
#define HOSTCRI_RUNTIME_WINDOWS_JOB_WINDOWS_H

/* Shared state of the job-object backend's files (Windows build only). */

#include <stdbool.h>
#include <stdint.h>

#include <windows.h>

#include <uv.h>

#include "runtime/job.h"

/* Exit code that job_container_kill_all gives every process: 128 + SIGKILL, as on Linux. */
#define JOB_WINDOWS_KILL_EXIT_CODE 137

/* A message that the job objects posted to the runtime's completion port. */
struct job_windows_message {
    uintptr_t key; /* job_container.key */
    DWORD message; /* JOB_OBJECT_MSG_* */
    DWORD pid;
};

struct job_runtime {
    uv_loop_t *loop;
    char *state_dir;
    int leftover_grace_ms;
    HANDLE port;   /* completion port of every container's job object */
    HANDLE thread; /* reads port and hands the messages to the loop */
    uv_async_t async;
    CRITICAL_SECTION lock; /* protects pending */
    struct job_windows_message *pending;
    size_t n_pending;
    size_t pending_capacity;
    struct job_container **containers; /* live handles, for the messages' keys */
    size_t n_containers;
    uintptr_t next_key;
};

struct job_pod {
    struct job_runtime *runtime;
    char *sandbox_id;
    char *name; /* "hostcri-pod-<sandbox id>", shown where Linux shows the pod cgroup */
    HANDLE job; /* the pod's job object, in which the container jobs are nested */
};

struct job_container {
    struct job_runtime *runtime;
    char *id;
    char *sandbox_id;
    char *name; /* job object name "hostcri-<container id>" */
    uintptr_t key;
    HANDLE job;
    HANDLE pod_job; /* a duplicate of the pod's handle: the pod may be released first */
    HANDLE init_process;
    DWORD init_pid;
    bool init_exited;
    bool job_empty;
    int killed_signal; /* the signal that job_container_signal or kill_all sent, or 0 */
    int64_t started_at_ns;
    job_exit_cb exit_cb;
    void *exit_data;
    uv_timer_t leftover_timer; /* ends processes that outlive the init process */
    bool leftover_timer_open;
    /* A start reports from the loop: start_timer runs start_cb, and an exit seen before that
     * waits for it (exit_deferred). */
    uv_timer_t start_timer;
    bool start_timer_open;
    job_start_cb start_cb;
    job_exit_cb pending_exit_cb;
    bool exit_deferred;
    bool released;
    int open_handles; /* timers still to close before the memory is freed */
};

/* Registers container so that messages with its key reach it. Loop thread. */
void job_windows_add_container(struct job_runtime *runtime, struct job_container *container);

/* Forgets container; later messages with its key are dropped. Loop thread. */
void job_windows_remove_container(struct job_runtime *runtime, struct job_container *container);

/* Handles one completion-port message for container (job_windows_container.c). Loop thread. */
void job_windows_container_message(struct job_container *container,
                                   const struct job_windows_message *message);

#endif
