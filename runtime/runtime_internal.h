#ifndef HOSTCRI_RUNTIME_RUNTIME_INTERNAL_H
#define HOSTCRI_RUNTIME_RUNTIME_INTERNAL_H

/*
 * The runtime's in-memory objects, shared by the files of runtime/. Not for use outside it.
 *
 *   runtime.c             open, close, recovery at open, lookups
 *   store.c               the SQLite records
 *   sandbox.c             RunPodSandbox, StopPodSandbox, RemovePodSandbox
 *   sandbox_status.c      PodSandboxStatus, ListPodSandbox
 *   container_create.c    CreateContainer: image, command, environment, user, mounts
 *   container.c           StartContainer, exits, RemoveContainer, ReopenContainerLog
 *   container_stop.c      StopContainer and the waiters that share one exit
 *   container_recover.c   reconnecting containers, removing orphan jobs and root file systems
 *                         after a restart
 *   container_status.c    ContainerStatus, ListContainers
 *   container_update.c    UpdateContainerResources
 *   container_exec.c      ExecSync and exec for the streaming server
 *   attach.c              Attach relay
 *   stats.c, layer_usage.c  statistics
 *   cpu_sampler.c, cpu_rate.c  the CPU samples behind usage_nano_cores
 *   exec_output.c         the size limits of ExecSync output
 *   events.c              GetContainerEvents
 *   spec.c, filter.c, state.c, signals.c, sandbox_rules.c, process.c  pure helpers
 */

#include <stdbool.h>
#include <stddef.h>

#include <uv.h>

#include "runtime/job.h"
#include "runtime/runtime.h"
#include "runtime/store.h"

struct sandbox {
    struct store_sandbox_record record;
    struct job_pod *pod; /* NULL when the pod job could not be opened */
};

struct container;

/* One StopContainer (or an internal stop) waiting for a container to exit. */
struct stop_waiter {
    struct container *container; /* NULL once detached from the container */
    uv_timer_t timer;
    bool timer_started;
    bool killed; /* SIGKILL was sent for this waiter; the timer now bounds the wait for exit */
    bool awaiting_start; /* queued during a pending start: armed when the start ends */
    int64_t timeout_ms;  /* the grace period, kept until the waiter is armed */
    runtime_done_cb cb;
    void *data;
    struct stop_waiter *next;
};

struct container {
    struct store_container_record record;
    struct runtime *runtime;
    struct job_container *job; /* NULL until started (or after a restart with no job state) */
    bool stop_signal_sent;
    int stop_signal; /* resolved at create time: POSIX number */
    struct stop_waiter *waiters;
    bool removing;
    /* A StartContainer in progress: the state stays CREATED until start_cb runs. */
    bool starting;
    runtime_done_cb start_cb;
    void *start_data;
    /* The last measurement of the writable layer (layer_usage.c); 0 before the first. */
    uint64_t layer_bytes;
    uint64_t layer_inodes;
    int64_t layer_measured_ns;
    bool layer_measuring;
    /* This container's ListContainers item, serialized with its field tag and length, and the
     * state it was built for: the state is the only part of an item that changes after
     * CreateContainer. list_item is NULL until the first ListContainers (container_status.c). */
    uint8_t *list_item;
    size_t list_item_size;
    int list_item_state;
};

struct layer_measurement;
struct exec_sync;
struct orphan;
struct cpu_sampler;

struct runtime {
    uv_loop_t *loop;
    struct images *images;
    struct store *store;
    struct job_runtime *job;

    /* Owned copies of the configuration strings. */
    char *root_dir;
    char *state_dir;
    char *rootfs_mount_point;
    char *default_path;
    char **runtime_handlers;
    bool accept_non_host_network_pods;
    int64_t sandbox_stop_grace_ms;
    int64_t kill_timeout_ms;
    uint64_t max_send_message_size; /* bytes; 0 means 16 MiB */

    struct runtime_event_subscription *subscriptions;
    struct layer_measurement *measurements; /* running on the thread pool */
    struct exec_sync *exec_syncs;           /* ExecSync calls in progress */
    struct orphan *orphans;                 /* jobs without a record, being killed */
    struct cpu_sampler *cpu_sampler;        /* cpu_sampler.c, for usage_nano_cores */

    struct sandbox **sandboxes;
    size_t n_sandboxes;
    struct container **containers;
    size_t n_containers;
};

/* Sends a container event to every subscriber (events.c). */
void runtime_emit_container_event(struct runtime *runtime, const char *container_id,
                                  const char *sandbox_id, Runtime__V1__ContainerEventType type);

/* Ends every subscription, calling each callback with NULL, before the runtime closes. */
void runtime_events_close(struct runtime *runtime);

/*
 * Starts measuring the container's writable layer on the thread pool, unless a measurement
 * runs or the last one is recent. The result lands in layer_bytes and layer_inodes.
 */
void container_measure_layer(struct container *container);

/* Kills every ExecSync's process, completes the call with ERROR_CANCELLED and releases it. */
void runtime_cancel_exec_syncs(struct runtime *runtime);

/* Detaches the running measurements from the runtime before it closes. */
void runtime_forget_measurements(struct runtime *runtime);

/* Generates a random 64-hex-digit id into a new string. */
char *runtime_new_id(void);

/* Finds a sandbox or container by id or unique prefix (NOT_FOUND, INVALID_ARGUMENT). */
struct sandbox *runtime_find_sandbox(struct runtime *runtime, const char *id, struct error *err);
struct container *runtime_find_container(struct runtime *runtime, const char *id,
                                         struct error *err);

/* Adds an object to the runtime's list, or removes it (without freeing). */
void runtime_add_sandbox(struct runtime *runtime, struct sandbox *sandbox);
void runtime_drop_sandbox(struct runtime *runtime, struct sandbox *sandbox);
void runtime_add_container(struct runtime *runtime, struct container *container);
void runtime_drop_container(struct runtime *runtime, struct container *container);

/* Frees a sandbox object and releases its pod job handle. */
void sandbox_free(struct sandbox *sandbox);

/* Frees a container object and releases its job handle; it must have no waiters. */
void container_free(struct container *container);

/*
 * Stops a container as runtime_container_stop does, with the grace period in milliseconds.
 * Has no synchronous failure: cb runs once, later, from the loop.
 */
void container_stop(struct container *container, int64_t timeout_ms, runtime_done_cb cb,
                    void *data);

/*
 * Removes a container that is not running: its job, writable layer, record and object.
 * Returns 0 or -1; on -1 the container stays.
 */
int container_remove_stopped(struct container *container, struct error *err);

/* Completes every waiter of container with err (NULL for success). */
void container_complete_waiters(struct container *container, const struct error *err);

/* Arms the stop waiters queued while the container was starting, now that it runs. */
void container_arm_waiters(struct container *container);

/*
 * Completes a pending StartContainer with err before the runtime closes; the job's start
 * callback is cancelled when the container's job is released.
 */
void container_cancel_start(struct container *container, const struct error *err);

/*
 * Kills and removes the job of a container that no record lists, as found after a restart:
 * at once when it has ended, else from its exit callback.
 */
void container_clean_orphan(struct runtime *runtime, const char *id);

/* Releases the orphan jobs still being killed, before the runtime closes. */
void runtime_release_orphans(struct runtime *runtime);

/* Reconciles a loaded container with its job after a restart (runtime.c calls it). */
void container_recover(struct container *container, bool has_job_state);

/* The exit callback registered with the job backend. */
void container_exit_cb(struct job_container *job, const struct job_exit_status *status, void *data);

/* Writes the container's record; logs and returns -1 on failure. */
int container_save(struct container *container, struct error *err);

/* Returns the directory of the root file system records (rootfs_dirs.h): <root>/rootfs. */
char *runtime_rootfs_records_dir(const struct runtime *runtime);

/*
 * Removes the recorded root file systems whose container neither has a record nor is an
 * orphan job being killed, as a daemon that was killed leaves them (Windows rules only).
 */
void runtime_sweep_rootfs_dirs(struct runtime *runtime);

/* Returns the directory of the container's writable layer: <root>/containers/<id>. */
char *container_dir(const struct container *container);

/* Removes a directory tree without following symbolic links; a missing path is not an error. */
int runtime_remove_tree(const char *path, struct error *err);

/* Creates a directory and its missing parents with the given mode. */
int runtime_make_dirs(const char *path, int mode, struct error *err);

#endif
