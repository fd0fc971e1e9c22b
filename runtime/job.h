#ifndef HOSTCRI_RUNTIME_JOB_H
#define HOSTCRI_RUNTIME_JOB_H

/*
 * The job: the OS interface under the runtime. A pod owns a pod job and each container owns a
 * container job that holds every process of the container. On Linux a job is a cgroup (v2, v1
 * or hybrid), on Windows a job object. This header declares only portable types, so both
 * backends implement it unchanged.
 *
 * Threads: every function runs on the libuv loop thread that was given to job_runtime_new,
 * unless its comment says otherwise. Functions that take a callback follow the libuv rule: a
 * synchronous failure returns -1, sets *err and never runs the callback; a success returns 0
 * and the callback then runs exactly once, later, from the loop (never from inside the call),
 * unless the handle is released first.
 *
 * Errors: fallible functions return 0 or -1 and fill err. The codes are gRPC statuses: for
 * example ERROR_NOT_FOUND for a missing program or user, ERROR_FAILED_PRECONDITION for a job
 * in the wrong state, ERROR_INTERNAL for kernel failures.
 *
 * Persistence: the backend keeps its volatile state (monitor pid files, exit files, the list of
 * cgroups it created) under config.state_dir, keyed by sandbox and container id. The runtime core
 * stores only the ids and calls job_pod_open / job_container_open after a daemon restart.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common/error.h"

/* How cgroup paths are spelled (Linux only; Windows ignores it). It must match the kubelet. */
enum job_cgroup_driver {
    /* Paths such as "/kubepods/besteffort/pod<uid>" relative to each hierarchy's root. */
    JOB_CGROUP_DRIVER_CGROUPFS = 0,
    /* Slice names such as "kubepods-besteffort-pod<uid>.slice", which expand to the nested
     * directories "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod<uid>.slice". */
    JOB_CGROUP_DRIVER_SYSTEMD = 1,
};

/* Configuration of the backend. Strings are copied by job_runtime_new. NULL means the default. */
struct job_config {
    /* Directory for pid files, exit files and records; default "/run/hostcri". */
    const char *state_dir;
    /* Path of the hostcri-monitor program; default "<install prefix>/bin/hostcri-monitor". */
    const char *monitor_path;
    /* Linux: where the cgroup hierarchies are mounted; default "/sys/fs/cgroup". Tests point it
     * at a fixture tree. The layout (v2, v1, or hybrid with a v2 mount at "unified") is detected
     * from the files found there. */
    const char *cgroup_root;
    enum job_cgroup_driver cgroup_driver;
    /* Parent of pod jobs when the kubelet sends no cgroup_parent; default "/hostcri" for the
     * cgroupfs driver and "hostcri.slice" for the systemd driver. */
    const char *default_cgroup_parent;
    /* Mount point of the container's rootfs inside its private mount namespace; default "/hpc". */
    const char *rootfs_mount_point;
    /* Time between SIGTERM and SIGKILL for the processes left in a job after its init process
     * exits, in milliseconds; 0 means the default of 5000. */
    int leftover_grace_ms;
};

/* Backend state: detected cgroup layout, configuration, the loop. Opaque. */
struct job_runtime;

/*
 * Creates the backend, detects the cgroup layout and creates state_dir. loop is borrowed and
 * must outlive the runtime. On success *out is owned by the caller (job_runtime_free).
 */
int job_runtime_new(uv_loop_t *loop, const struct job_config *config, struct job_runtime **out,
                    struct error *err);

/* Frees the runtime. Every pod, container and exec handle must be released before. */
void job_runtime_free(struct job_runtime *runtime);

/* A short description of the detected layout, for logs: "cgroup v2", "cgroup v1", "hybrid". */
const char *job_runtime_layout_name(const struct job_runtime *runtime);

/* The backend's capabilities, reported in the features of the Status response. */
struct job_features {
    /* job_mount.recursive_readonly works (Linux 5.12+: mount_setattr with AT_RECURSIVE). */
    bool recursive_readonly_mounts;
    /* job_user's groups and strict_groups are applied (Linux; the Windows backend ignores
     * them). */
    bool supplemental_groups;
};

/* Fills *features, probed once when the runtime was created. */
void job_runtime_features(const struct job_runtime *runtime, struct job_features *features);

/*
 * Lists the ids of the containers that have state under state_dir (running, or exited but not
 * yet removed), for reconciling with the store after a restart. *ids is a NULL-terminated array
 * owned by the caller (strv_free).
 */
int job_runtime_list_containers(struct job_runtime *runtime, char ***ids, struct error *err);

/* ---- Pod job ------------------------------------------------------------------------------ */

/* The pod job: the cgroup that contains the pod's container cgroups. Opaque. */
struct job_pod;

struct job_pod_spec {
    const char *sandbox_id;
    /* The kubelet's cgroup_parent for the pod (cgroupfs path or systemd slice name), which is
     * the pod's cgroup. Empty or NULL means "<default_cgroup_parent>/pod-<sandbox_id>" for the
     * cgroupfs driver and "hostcri-pod<sandbox_id>.slice" (for the default parent) for systemd. */
    const char *cgroup_parent;
};

/*
 * Creates the pod's cgroup (and its missing ancestors) in every hierarchy hostcri uses, enables
 * the cpu, cpuset, memory, pids and io controllers for its children on cgroup v2 (those the
 * parent offers), and records under
 * state_dir which directories hostcri created. An existing pod cgroup is reused. On success *out
 * is owned by the caller (job_pod_release).
 */
int job_pod_create(struct job_runtime *runtime, const struct job_pod_spec *spec,
                   struct job_pod **out, struct error *err);

/*
 * Opens the pod job of sandbox_id from its record after a daemon restart. ERROR_NOT_FOUND when
 * there is no record (after a reboot); job_pod_create then makes it again.
 */
int job_pod_open(struct job_runtime *runtime, const char *sandbox_id, struct job_pod **out,
                 struct error *err);

/* The pod's cgroup path as the kubelet would spell it, for status and logs. Owned by pod. */
const char *job_pod_cgroup(const struct job_pod *pod);

/*
 * Removes the cgroups that job_pod_create made, deepest first, and the record. Cgroups that
 * existed before (the kubelet's) are left alone. ERROR_FAILED_PRECONDITION when a container job
 * under it still holds processes. Does not free pod.
 */
int job_pod_remove(struct job_pod *pod, struct error *err);

/* Frees the handle; the cgroups stay. */
void job_pod_release(struct job_pod *pod);

/* ---- Container job -------------------------------------------------------------------------- */

/* The container job: its cgroup, its monitor and its state files. Opaque. */
struct job_container;

enum job_propagation {
    JOB_PROPAGATION_PRIVATE = 0,
    JOB_PROPAGATION_HOST_TO_CONTAINER = 1, /* rslave */
    JOB_PROPAGATION_BIDIRECTIONAL = 2,     /* rshared */
};

struct job_mount {
    const char *host_path;
    const char *container_path; /* absolute; parents are created on the host when missing */
    bool readonly;
    enum job_propagation propagation;
    /* Read-only on every submount too; needs readonly and JOB_PROPAGATION_PRIVATE. Linux
     * only: the Windows backend ignores it. */
    bool recursive_readonly;
};

/*
 * The user the processes run as. When username is set, it is looked up in the container's view
 * of /etc/passwd and /etc/group (Linux reads the files directly, without NSS), and an unknown
 * name fails the start with ERROR_NOT_FOUND. Otherwise uid and gid are used where has_uid and
 * has_gid are set (Linux: a uid without a gid takes the primary group of its passwd line when
 * it has one), and the daemon's ids where not. The supplemental groups are the primary group,
 * then (unless strict_groups) the groups whose member list in the container's /etc/group names
 * the user, then groups.
 */
struct job_user {
    const char *username;
    bool has_uid;
    uint32_t uid;
    bool has_gid;
    uint32_t gid;
    const uint32_t *groups;
    size_t n_groups;
    /* SupplementalGroupsPolicy Strict: only the primary group and groups. Linux only. */
    bool strict_groups;
};

/* Resource limits; a zero field means "not set" (keep the current value). */
struct job_resources {
    int64_t cpu_period_us;      /* CFS period */
    int64_t cpu_quota_us;       /* CFS quota per period; -1 means no limit */
    int64_t cpu_shares;         /* v1 shares (2..262144); v2 converts them to cpu.weight */
    int64_t cpu_maximum;        /* Windows rate 1..10000 (hundredths of a percent of the host) */
    int64_t cpu_count;          /* Windows: number of CPUs */
    int64_t memory_limit_bytes; /* -1 means no limit */
    const char *cpuset_cpus;    /* NULL or "" means not set */
    const char *cpuset_mems;
};

/* The container's root filesystem. */
struct job_rootfs {
    /* Unpacked image layer directories, base layer first (the manifest order). They become the
     * overlayfs lower directories. n_layers may be 0 for an empty rootfs. */
    const char *const *layers;
    size_t n_layers;
    /* The container's own directory; the backend creates "upper" and "work" (or, without
     * overlayfs, a plain "rootfs" copy target) inside it. */
    const char *container_dir;
    bool readonly;
    /* Mount point inside the namespace; NULL means config.rootfs_mount_point. */
    const char *mount_point;
};

struct job_container_spec {
    const char *container_id;
    /* NULL-terminated. argv[0] is resolved against the PATH of env and the working directory,
     * in the container's view, like execvpe. */
    const char *const *argv;
    /* NULL-terminated "NAME=value" strings, final (the core has already merged and
     * substituted CONTAINER_SANDBOX_MOUNT_POINT). */
    const char *const *env;
    const char *working_dir; /* NULL means the rootfs mount point */
    struct job_user user;
    struct job_rootfs rootfs;
    const struct job_mount *mounts;
    size_t n_mounts;
    /* CRI log file (directory created when missing); NULL discards output. */
    const char *log_path;
    bool stdin_open;
    bool stdin_once;
    bool tty;
    /* Applied to the init process; lowering below the daemon's value may be clamped with a
     * warning where the OS forbids it. */
    bool has_oom_score_adj;
    int oom_score_adj;
    struct job_resources resources;
    /* Path of the exit file; NULL means "<state_dir>/containers/<id>/exit". */
    const char *exit_file;
};

enum job_exit_reason {
    JOB_EXIT_COMPLETED = 0,   /* exited or was killed by a signal */
    JOB_EXIT_OOM_KILLED = 1,  /* the job's memory limit killed a process */
    JOB_EXIT_UNKNOWN = 2,     /* the monitor is gone and left no exit file (reboot, crash) */
    JOB_EXIT_START_ERROR = 3, /* the init process never ran */
    /* Only from job_container_open: the container was created but never started (no monitor
     * ever ran for it). It is not an exit: the container stays CREATED and the handle can
     * still be started. */
    JOB_EXIT_NOT_STARTED = 4,
};

/* The end of a container's init process. */
struct job_exit_status {
    /* The exit code, or 128 + signal when a signal killed it (137 for SIGKILL). */
    int exit_code;
    int signal; /* 0 unless a signal killed it */
    int64_t started_at_ns;
    int64_t finished_at_ns;
    enum job_exit_reason reason;
    char *message; /* owned; NULL or a human-readable cause */
};

/* Frees the message of status. */
void job_exit_status_clear(struct job_exit_status *status);

/*
 * The exit callback of a container job. status is owned by the backend and valid only during
 * the call. Runs on the loop thread, exactly once per registration.
 */
typedef void (*job_exit_cb)(struct job_container *container, const struct job_exit_status *status,
                            void *data);

/*
 * Creates the container's cgroup under pod's and its state directory. No process runs yet.
 * On success *out is owned by the caller (job_container_release).
 */
int job_container_create(struct job_pod *pod, const char *container_id, struct job_container **out,
                         struct error *err);

/*
 * The start callback of a container job. On success err is NULL and init_pid is the host pid
 * of the init process; on failure init_pid is 0 and err (valid only during the call) says why.
 * Runs on the loop thread.
 */
typedef void (*job_start_cb)(struct job_container *container, int init_pid, const struct error *err,
                             void *data);

/*
 * Starts the container: applies the resources, then launches a detached monitor, which sets up
 * the mount namespace, rootfs and mounts, starts the init process inside the job as spec's user
 * and copies its output to the log. Never waits for the monitor: the libuv rule of this header
 * applies. A synchronous failure (resources, state files, the monitor program) returns -1 and
 * start_cb never runs. Otherwise start_cb runs exactly once, later, from the loop, with the init
 * pid or with the monitor's error (a missing program, an unknown user or a mount failure, with a
 * code such as ERROR_NOT_FOUND; ERROR_DEADLINE_EXCEEDED when the monitor sends no report within
 * 60 s), unless the handle is released first. After a successful start_cb, exit_cb runs once
 * after the init process has exited and the job is empty. data goes to both callbacks. A second
 * start while one is pending fails with ERROR_FAILED_PRECONDITION. spec is only read during the
 * call.
 */
int job_container_start(struct job_container *container, const struct job_container_spec *spec,
                        job_start_cb start_cb, job_exit_cb exit_cb, void *data, struct error *err);

/*
 * Reopens a container after a daemon restart. When its monitor still runs, *out is a running
 * container whose exit_cb runs once at exit. When it has exited, *out is returned with
 * *exited filled (the caller clears it) and exit_cb never runs: from the exit file, or with
 * reason JOB_EXIT_UNKNOWN when there is no exit file and no monitor (after a reboot). A
 * container that was never started gets reason JOB_EXIT_NOT_STARTED.
 * ERROR_NOT_FOUND when the container was never created under this state_dir.
 */
int job_container_open(struct job_runtime *runtime, const char *container_id, job_exit_cb exit_cb,
                       void *data, struct job_container **out, bool *running,
                       struct job_exit_status *exited, struct error *err);

/* The host pid of the init process, or 0 when it is not running. */
int job_container_init_pid(const struct job_container *container);

/* The credentials a running process really has. */
struct job_process_user {
    uint32_t uid;
    uint32_t gid;
    uint32_t *groups; /* supplemental groups, owned (free) */
    size_t n_groups;
};

/*
 * Reads the uid, gid and supplemental groups of the running init process into *user (the
 * caller frees user->groups). ERROR_NOT_FOUND when it is not running, ERROR_UNIMPLEMENTED where
 * the OS has no such ids (Windows). Loop thread.
 */
int job_container_init_user(const struct job_container *container, struct job_process_user *user,
                            struct error *err);

/* The container's cgroup path relative to the hierarchy root, for status and logs. */
const char *job_container_cgroup(const struct job_container *container);

/*
 * Sends signal (POSIX numbering: 15 SIGTERM, 9 SIGKILL, ...) to the init process only.
 * ERROR_NOT_FOUND when it already exited.
 */
int job_container_signal(struct job_container *container, int signal, struct error *err);

/*
 * Kills every process in the job at once (cgroup v2 cgroup.kill; v1: freeze, SIGKILL each
 * member, thaw), including children that called setsid or double-forked. Returns once the kill
 * was delivered; the exit callback reports the end. Succeeds on an empty job.
 */
int job_container_kill_all(struct job_container *container, struct error *err);

/* Asks the monitor to reopen the log file (after the kubelet rotated it). */
int job_container_reopen_log(struct job_container *container, struct error *err);

/*
 * Attach connections carry frames: one byte of type, the payload length as 4 bytes big-endian,
 * then the payload (at most JOB_ATTACH_MAX_PAYLOAD bytes). The monitor sends STDOUT and STDERR
 * frames with the container's output from the moment of attach (with a tty, all output is
 * STDOUT). The caller sends STDIN, RESIZE (rows then columns, 2 bytes big-endian each) and
 * CLOSE_STDIN. A caller that reads too slowly is disconnected, so that it never stalls the
 * container's output.
 */
enum job_attach_frame {
    JOB_ATTACH_STDIN = 0,
    JOB_ATTACH_STDOUT = 1,
    JOB_ATTACH_STDERR = 2,
    JOB_ATTACH_RESIZE = 3,
    JOB_ATTACH_CLOSE_STDIN = 4,
};

#define JOB_ATTACH_HEADER_SIZE 5
#define JOB_ATTACH_MAX_PAYLOAD 32768

/*
 * Connects to the running container's monitor for attach. On success *fd is a connected
 * stream (Linux: a unix socket; Windows: a named pipe) owned by the caller, who closes it to
 * detach. ERROR_FAILED_PRECONDITION when the container is not running.
 */
int job_container_attach(struct job_container *container, uv_os_fd_t *fd, struct error *err);

/* Resource usage of a job. Fields the OS cannot provide are 0 with their has_ flag false. */
struct job_stats {
    int64_t timestamp_ns;
    uint64_t cpu_usage_ns; /* cumulative, including exited processes */
    bool has_memory;
    uint64_t memory_usage_bytes;       /* v2 memory.current, v1 memory.usage_in_bytes */
    uint64_t memory_working_set_bytes; /* usage minus inactive file pages */
    uint64_t memory_rss_bytes;         /* anonymous memory */
    uint64_t page_faults;
    uint64_t major_page_faults;
    bool has_pids;
    uint64_t pids;
};

/* Reads the job's statistics. May run on any thread; it only reads files. */
int job_container_stats(const struct job_container *container, struct job_stats *stats,
                        struct error *err);

/*
 * Reads the statistics of the whole pod job: every container in it, including what containers
 * that have exited already used. Returns 0, or -1 with err set (ERROR_UNIMPLEMENTED where the
 * backend has no pod-level accounting). Loop thread.
 */
int job_pod_stats(const struct job_pod *pod, struct job_stats *stats, struct error *err);

/* Changes the job's limits (cpu.max, cpu.weight, memory.max; v1 cfs quota, shares, limit). */
int job_container_update(struct job_container *container, const struct job_resources *resources,
                         struct error *err);

/*
 * Lists the host pids in the job into *pids (owned by the caller, free) and *n_pids.
 */
int job_container_pids(const struct job_container *container, int **pids, size_t *n_pids,
                       struct error *err);

/*
 * Removes the container's cgroup and state directory. ERROR_FAILED_PRECONDITION while
 * processes remain in the job. Does not free container.
 */
int job_container_remove(struct job_container *container, struct error *err);

/*
 * Frees the handle. A pending start or exit callback is cancelled and never runs; the processes
 * keep running under their monitor. The memory is freed later from the loop.
 */
void job_container_release(struct job_container *container);

/* ---- Exec ----------------------------------------------------------------------------------- */

/* An extra process started in a running container's job. Opaque. */
struct job_exec;

struct job_exec_spec {
    const char *const *argv; /* NULL-terminated, resolved like the init process's */
    const char *const *env;  /* NULL-terminated; NULL means the container's environment */
    const char *working_dir; /* NULL means the container's */
    struct job_user user;    /* no username and no uid means the container's user */
    bool tty;
    bool stdin_open;
    uint16_t rows; /* initial terminal size with tty; 0 means the default 80x25 */
    uint16_t cols;
};

/*
 * The caller's ends of an exec's standard streams, each owned by the caller, or -1 (Windows:
 * INVALID_HANDLE_VALUE) when absent. With tty, stdout is the terminal and stderr is absent;
 * stdin is a separate descriptor of the same terminal when stdin_open is set.
 */
struct job_exec_io {
    uv_os_fd_t stdin_fd;
    uv_os_fd_t stdout_fd;
    uv_os_fd_t stderr_fd;
};

/* Runs once, on the loop, when the exec's process exits: exit_code is 128 + signal for a
 * signal. */
typedef void (*job_exec_exit_cb)(struct job_exec *exec, int exit_code, int signal, void *data);

/*
 * Starts spec's process in container's job, mount namespace, user, environment and working
 * directory. ERROR_FAILED_PRECONDITION when the container is not running, ERROR_NOT_FOUND for a
 * missing program or user. On success *out is owned by the caller (job_exec_release), *io holds
 * the caller's stream ends, and exit_cb runs once when the process exits.
 */
int job_exec_start(struct job_container *container, const struct job_exec_spec *spec,
                   job_exec_exit_cb exit_cb, void *data, struct job_exec **out,
                   struct job_exec_io *io, struct error *err);

/* The host pid of the exec's process. */
int job_exec_pid(const struct job_exec *exec);

/* Sends signal to the exec's process. */
int job_exec_signal(struct job_exec *exec, int signal, struct error *err);

/* Changes the terminal size of a tty exec. ERROR_FAILED_PRECONDITION without a tty. */
int job_exec_resize(struct job_exec *exec, uint16_t rows, uint16_t cols, struct error *err);

/*
 * Frees the handle. A pending exit callback is cancelled; the process is not killed, but it is
 * reaped when it exits. The memory is freed later from the loop.
 */
void job_exec_release(struct job_exec *exec);

#endif
