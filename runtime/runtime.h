#ifndef HOSTCRI_RUNTIME_RUNTIME_H
#define HOSTCRI_RUNTIME_RUNTIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "api/api.pb-c.h"
#include "common/error.h"
#include "common/strbuf.h"
#include "runtime/job.h"

/*
 * The runtime: pod sandboxes and containers, their records, and the jobs that hold their
 * processes. Every function runs on the loop thread given to runtime_open.
 *
 * Functions that take a runtime_done_cb follow the libuv rule. A synchronous failure returns
 * -1, sets *err and never runs the callback. A success returns 0, and the callback then runs
 * exactly once, later, from the loop. The one exception is runtime_close, which runs the
 * pending callbacks itself with ERROR_CANCELLED.
 *
 * Responses that a function stores in *out are heap protobuf-c messages owned by the caller,
 * freed with runtime_message_free.
 */

struct images;
struct runtime;

enum runtime_cgroup_driver {
    RUNTIME_CGROUP_DRIVER_CGROUPFS = 0, /* "/kubepods/burstable/pod<uid>" */
    RUNTIME_CGROUP_DRIVER_SYSTEMD = 1,  /* "kubepods-burstable-pod<uid>.slice" */
};

/*
 * The runtime's configuration. Strings are borrowed during runtime_open and copied.
 * runtime_config_init_defaults fills every field with its default.
 */
struct runtime_config {
    /* Persistent state: runtime.db and the containers' writable layers. Default
     * "/var/lib/hostcri" ("C:\ProgramData\hostcri" on Windows). */
    const char *root_dir;
    /* Volatile state (monitor pid files, exit files), lost at reboot. Default "/run/hostcri"
     * ("C:\ProgramData\hostcri\run" on Windows). */
    const char *state_dir;
    /* The cgroup path syntax, which must match the kubelet's cgroupDriver. Default cgroupfs. */
    enum runtime_cgroup_driver cgroup_driver;
    /* The mount point of the cgroup hierarchies, which tests point elsewhere. NULL means the
     * OS default ("/sys/fs/cgroup"). */
    const char *cgroup_root;
    /* Parent of pod cgroups when the kubelet sends no cgroup_parent; NULL means the backend's
     * default ("/hostcri", or "hostcri.slice" with the systemd driver). */
    const char *default_cgroup_parent;
    /* The monitor program; NULL means the backend's default next to the installed daemon. */
    const char *monitor_path;
    /* The path of the image's files inside a container, exported as
     * CONTAINER_SANDBOX_MOUNT_POINT with a trailing separator. Default "/hpc" ("C:\hpc" on
     * Windows). */
    const char *rootfs_mount_point;
    /* When true, a pod that is not a host-process pod (no hostNetwork) is accepted and run on
     * the host network anyway, and its status reports the NODE namespaces really in use. When
     * false (the default) such a pod is rejected with FAILED_PRECONDITION. */
    bool accept_non_host_network_pods;
    /* Runtime handler names accepted besides "" (the default handler), NULL-terminated; NULL
     * (the default) accepts only "". */
    const char *const *runtime_handlers;
    /* Grace period between the stop signal and SIGKILL for the containers that StopPodSandbox
     * stops, in milliseconds (RemovePodSandbox always kills at once). Default 0: they are
     * killed at once, because the kubelet has already stopped them with the pod's own grace
     * period. */
    int64_t sandbox_stop_grace_ms;
    /* How long a stop waits for the job to become empty after SIGKILL before it fails, in
     * milliseconds. Default 10000. */
    int64_t kill_timeout_ms;
    /* Time between SIGTERM and SIGKILL for processes left in a job after its init process
     * exits, in milliseconds. Default 5000. */
    int64_t leftover_grace_ms;
    /* PATH given to a container whose image and request set none. Default
     * "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" (on Windows the System32,
     * Windows, Wbem and PowerShell directories). */
    const char *default_path;
    /* The largest response message the RPC server sends, in bytes (grpc.max_send_message_size).
     * ExecSync trims its output so that its response fits. 0 means 16 MiB. */
    uint64_t max_send_message_size;
    /* Time between two CPU usage samples of every running container and ready pod, from which
     * the statistics' usage_nano_cores is computed, in milliseconds. 0 means the default, 10000,
     * the kubelet's cAdvisor housekeeping interval. */
    int64_t cpu_sample_interval_ms;
};

/* Fills config with the defaults documented above. */
void runtime_config_init_defaults(struct runtime_config *config);

/*
 * Opens the runtime: creates root_dir and state_dir, opens the store, starts the job backend,
 * and loads every sandbox and container record. Each record is then reconciled with its job.
 * A container whose monitor still runs is RUNNING again. One that exited while the daemon was
 * down gets its exit code and time from the exit file. Without either, as after a reboot, it
 * is EXITED with reason Unknown. images may be NULL, and CreateContainer then fails. It is
 * borrowed, must outlive the runtime, and gets the runtime's in-use hook for RemoveImage.
 * On success *out is owned by the caller (runtime_close).
 */
int runtime_open(uv_loop_t *loop, const struct runtime_config *config, struct images *images,
                 struct runtime **out, struct error *err);

/*
 * Closes the runtime. Pending stops and ExecSyncs complete with ERROR_CANCELLED (an ExecSync's
 * process is killed), and event subscribers get their final NULL event, all from inside this
 * call. The containers keep running under their monitors. Handles are closed through the loop,
 * so run the loop once more before closing it. NULL is allowed.
 * NOTE: no call may be in flight whose answer waits for the next loop iteration (such as a
 * stop of a container that is not running), so stop the RPC server first.
 */
void runtime_close(struct runtime *runtime);

/* The loop that runtime_open was given. */
uv_loop_t *runtime_loop(const struct runtime *runtime);

/* The runtime's capabilities, reported in the features of the Status response. */
struct runtime_features {
    /* Mount.recursive_read_only is honoured (Linux 5.12+: mount_setattr with AT_RECURSIVE). */
    bool recursive_readonly_mounts;
    /* Supplemental groups and their Merge and Strict policies are applied (not on Windows). */
    bool supplemental_groups_policy;
};

/* Fills *features from the backend's probes. runtime may be NULL (no runtime: all false). */
void runtime_features(const struct runtime *runtime, struct runtime_features *features);

/* Completion of an asynchronous runtime call; err is NULL on success. */
typedef void (*runtime_done_cb)(const struct error *err, void *data);

/* Frees a response message made by the runtime. NULL is allowed. */
void runtime_message_free(void *message);

/* ---- Pod sandboxes ---------------------------------------------------------------------- */

/*
 * RunPodSandbox: checks the host-process rule, the runtime handler and the name (a sandbox
 * with the same name, namespace, uid and attempt is ALREADY_EXISTS naming its id), creates the
 * pod job and stores the record. Stores the new 64-hex-digit id in *id (caller frees).
 */
int runtime_sandbox_run(struct runtime *runtime, const Runtime__V1__PodSandboxConfig *config,
                        const char *runtime_handler, char **id, struct error *err);

/*
 * StopPodSandbox: stops every container of the sandbox (see sandbox_stop_grace_ms) and
 * marks it NOTREADY. id may be a unique prefix. Idempotent; an unknown id is NOT_FOUND.
 */
int runtime_sandbox_stop(struct runtime *runtime, const char *id, runtime_done_cb cb, void *data,
                         struct error *err);

/*
 * RemovePodSandbox: kills and removes the sandbox's containers, removes the pod job and the
 * record. An unknown id succeeds (the callback runs with no error).
 */
int runtime_sandbox_remove(struct runtime *runtime, const char *id, runtime_done_cb cb, void *data,
                           struct error *err);

/* PodSandboxStatus. With verbose, info["info"] is a JSON document. NOT_FOUND when unknown. */
int runtime_sandbox_status(struct runtime *runtime, const char *id, bool verbose,
                           Runtime__V1__PodSandboxStatusResponse **out, struct error *err);

/* ListPodSandbox with its filter (NULL for none): id prefix, state and label selector. */
int runtime_sandbox_list(struct runtime *runtime, const Runtime__V1__PodSandboxFilter *filter,
                         Runtime__V1__ListPodSandboxResponse **out, struct error *err);

/* ---- Containers ------------------------------------------------------------------------- */

/*
 * CreateContainer: resolves the image, merges command, environment, working directory, user
 * and mounts into the process the container will run, and stores the record in state
 * CREATED. sandbox_config is the kubelet's copy and may be NULL. Stores the new id in *id.
 */
int runtime_container_create(struct runtime *runtime, const char *sandbox_id,
                             const Runtime__V1__ContainerConfig *config,
                             const Runtime__V1__PodSandboxConfig *sandbox_config, char **id,
                             struct error *err);

/*
 * StartContainer: starts the container's process in its job without blocking the loop. A
 * synchronous failure returns -1 and cb never runs; otherwise cb runs once, later, with NULL
 * once the container runs (CONTAINER_STARTED is emitted first) or with the cause of a start
 * failure. Either kind of start failure leaves the container EXITED with reason StartError. The
 * container stays CREATED while the start is pending: a second start then fails with
 * FAILED_PRECONDITION, and a stop or remove waits for the start to end, then stops the running
 * container (or completes at once when the start failed).
 */
int runtime_container_start(struct runtime *runtime, const char *id, runtime_done_cb cb, void *data,
                            struct error *err);

/*
 * StopContainer: sends the stop signal (the config's stop_signal, else the image's
 * STOPSIGNAL, else SIGTERM), waits up to timeout_seconds for the container to exit, then kills
 * every process of its job. A timeout of 0 or less kills at once. A second stop while one
 * waits does not signal again; it waits for the same exit with its own timeout. Stopping a
 * container that is not running succeeds. An unknown id is NOT_FOUND.
 */
int runtime_container_stop(struct runtime *runtime, const char *id, int64_t timeout_seconds,
                           runtime_done_cb cb, void *data, struct error *err);

/*
 * RemoveContainer: kills a running container, then removes its job, its writable layer and
 * its record. An unknown id succeeds.
 */
int runtime_container_remove(struct runtime *runtime, const char *id, runtime_done_cb cb,
                             void *data, struct error *err);

/* ContainerStatus. With verbose, info["info"] is a JSON document. NOT_FOUND when unknown. */
int runtime_container_status(struct runtime *runtime, const char *id, bool verbose,
                             Runtime__V1__ContainerStatusResponse **out, struct error *err);

/*
 * ListContainers with its filter (NULL for none): id prefix, state, sandbox id, labels. The
 * items borrow their strings, metadata and maps from the runtime's records instead of copying
 * them, so *out is valid only until the runtime next changes a container: serialize it at once
 * and free it with runtime_container_list_free, never with runtime_message_free.
 */
int runtime_container_list(struct runtime *runtime, const Runtime__V1__ContainerFilter *filter,
                           Runtime__V1__ListContainersResponse **out, struct error *err);

/* Frees a response of runtime_container_list, leaving the borrowed records alone. */
void runtime_container_list_free(Runtime__V1__ListContainersResponse *response);

/*
 * ListContainers, serialized: appends the protobuf encoding of the ListContainersResponse for
 * filter (NULL for none) to out, byte for byte what packing runtime_container_list's response
 * gives. Each container's item is packed once per state and reused, so a list of a thousand
 * containers costs little more than copying its bytes.
 */
void runtime_container_list_pack(struct runtime *runtime,
                                 const Runtime__V1__ContainerFilter *filter, struct strbuf *out);

/*
 * UpdateContainerResources: applies new CPU and memory limits to a running container's job
 * and stores them, so a created container starts with them. FAILED_PRECONDITION for a
 * container that has exited; the backend's error when the OS cannot change a job's limits.
 */
int runtime_container_update_resources(struct runtime *runtime, const char *id,
                                       const Runtime__V1__LinuxContainerResources *resources,
                                       struct error *err);

/*
 * ReopenContainerLog: makes the monitor reopen the log file. FAILED_PRECONDITION when the
 * container is not running, and then no new log file is created.
 */
int runtime_container_reopen_log(struct runtime *runtime, const char *id, struct error *err);

/*
 * Starts a process in a running container's job (FAILED_PRECONDITION when it is not running)
 * with job_exec_start, whose contract applies: *out and the descriptors in *io belong to the
 * caller, and exit_cb runs once when the process exits. For Exec and Attach streams.
 */
int runtime_container_exec(struct runtime *runtime, const char *id,
                           const struct job_exec_spec *spec, job_exec_exit_cb exit_cb, void *data,
                           struct job_exec **out, struct job_exec_io *io, struct error *err);

/* An attach to a running container's output and input, relayed from its monitor. Opaque. */
struct runtime_attach;

/* The streams of an attach request. With tty, one terminal descriptor carries all of them. */
struct runtime_attach_request {
    bool tty;
    bool in;
    bool out;
    bool err;
};

/* The caller's ends of an attach, each owned by the caller, or -1 when not requested. */
struct runtime_attach_io {
    int stdin_fd;  /* written by the caller */
    int stdout_fd; /* read by the caller */
    int stderr_fd;
    int tty_fd; /* with tty only: read for output and written for input */
};

/* Runs once, from the loop, when the attach ends because the container exited. */
typedef void (*runtime_attach_end_cb)(void *data);

/*
 * Attach: connects to the running container's monitor (FAILED_PRECONDITION otherwise) and
 * relays its output to, and input from, the descriptors in *io. The output starts at the
 * moment of attach. On success *out is owned by the caller, who ends it with
 * runtime_attach_close. UNIMPLEMENTED on Windows for now.
 */
int runtime_container_attach(struct runtime *runtime, const char *id,
                             const struct runtime_attach_request *request,
                             runtime_attach_end_cb end_cb, void *data, struct runtime_attach **out,
                             struct runtime_attach_io *io, struct error *err);

/* Sends a new terminal size to a tty attach. FAILED_PRECONDITION without a tty. */
int runtime_attach_resize(struct runtime_attach *attach, uint16_t rows, uint16_t cols,
                          struct error *err);

/*
 * Ends an attach: closes the relay (the container keeps running) and frees the attach from
 * the loop. end_cb does not run after this call.
 */
void runtime_attach_close(struct runtime_attach *attach);

/* The outcome of an ExecSync. The output pointers are valid during the callback only. */
struct runtime_exec_result {
    int exit_code; /* 128 + signal number when a signal ended the process */
    const char *stdout_data;
    size_t stdout_length;
    const char *stderr_data;
    size_t stderr_length;
};

/* Completion of runtime_container_exec_sync: result on success, else err. */
typedef void (*runtime_exec_sync_cb)(const struct runtime_exec_result *result,
                                     const struct error *err, void *data);

/*
 * ExecSync: runs argv (NULL-terminated) in a running container with its environment, user
 * and working directory, and collects up to 16 MiB of each output stream, trimmed further when
 * needed so that the response fits max_send_message_size (a warning names the container and
 * the bytes dropped). A timeout_seconds over 0 kills the process when it passes and fails with
 * DEADLINE_EXCEEDED. cb runs once later when the process has exited and its output is read.
 */
int runtime_container_exec_sync(struct runtime *runtime, const char *id, const char *const *argv,
                                int64_t timeout_seconds, runtime_exec_sync_cb cb, void *data,
                                struct error *err);

/* ---- Container events ------------------------------------------------------------------ */

struct runtime_event_subscription;

/*
 * Receives each container event (CREATED, STARTED, STOPPED, DELETED) with the sandbox's status
 * and the statuses of its containers; event is valid during the call only. event is NULL once,
 * when the runtime closes: the subscription is then over.
 */
typedef void (*runtime_event_cb)(const Runtime__V1__ContainerEventResponse *event, void *data);

/* GetContainerEvents: subscribes cb to the events from now on. Has no failure case. */
struct runtime_event_subscription *runtime_events_subscribe(struct runtime *runtime,
                                                            runtime_event_cb cb, void *data);

/* Ends a subscription; cb is not called again. Safe from inside cb and on NULL. */
void runtime_events_unsubscribe(struct runtime_event_subscription *subscription);

/* ---- Statistics ------------------------------------------------------------------------ */

/*
 * ContainerStats: CPU and memory of a running container from its job, read at the call. A
 * container that does not run gets only its attributes. usage_nano_cores is the CPU rate between
 * the last two samples of the runtime's background sampler (cpu_sample_interval_ms apart), and is
 * left out until the sampler has two samples of the container.
 */
int runtime_container_stats(struct runtime *runtime, const char *id,
                            Runtime__V1__ContainerStatsResponse **out, struct error *err);

/* ListContainerStats: the running containers that match filter (NULL for all). */
int runtime_container_stats_list(struct runtime *runtime,
                                 const Runtime__V1__ContainerStatsFilter *filter,
                                 Runtime__V1__ListContainerStatsResponse **out, struct error *err);

/*
 * PodSandboxStats: the pod job's usage (or the sums over the sandbox's running containers where
 * the backend has no pod accounting), with each container's stats. usage_nano_cores comes from
 * the sampler's last two samples of the pod. UNAVAILABLE when the sandbox is not ready.
 */
int runtime_sandbox_stats(struct runtime *runtime, const char *id,
                          Runtime__V1__PodSandboxStatsResponse **out, struct error *err);

/* ListPodSandboxStats: the ready sandboxes that match filter (NULL for all). */
int runtime_sandbox_stats_list(struct runtime *runtime,
                               const Runtime__V1__PodSandboxStatsFilter *filter,
                               Runtime__V1__ListPodSandboxStatsResponse **out, struct error *err);

/*
 * Returns true when a container record (in any state) uses image_id. For the image store's
 * RemoveImage check.
 */
bool runtime_image_in_use(struct runtime *runtime, const char *image_id);

/*
 * Looks up a container by id or unique prefix and returns its full id (owned by the runtime,
 * valid until the container is removed) and its state. For the exec, attach and stats code.
 */
int runtime_container_lookup(struct runtime *runtime, const char *id, const char **full_id,
                             Runtime__V1__ContainerState *state, struct error *err);

#endif
