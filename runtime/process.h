#ifndef HOSTCRI_RUNTIME_PROCESS_H
#define HOSTCRI_RUNTIME_PROCESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/*
 * The resolved process of a container: everything CreateContainer worked out from the CRI
 * config and the image, stored with the container record (as JSON) and handed to the job
 * backend at StartContainer.
 */

struct process_mount {
    char *host_path;
    char *container_path;
    bool readonly;
    int propagation; /* enum job_propagation */
    bool recursive_readonly;
};

struct process_resources {
    int64_t cpu_period_us;
    int64_t cpu_quota_us;
    int64_t cpu_shares;
    int64_t memory_limit_bytes;
    int64_t cpu_maximum; /* Windows: rate 1..10000 of the host's CPU time; 0 means not set */
    int64_t cpu_count;   /* Windows: number of CPUs; 0 means not set */
    char *cpuset_cpus;   /* or NULL */
    char *cpuset_mems;   /* or NULL */
};

struct container_process {
    char **argv; /* NULL-terminated */
    char **env;  /* NULL-terminated "KEY=value" */
    char *working_dir;
    /* The directory CONTAINER_SANDBOX_MOUNT_POINT names, from the runtime's rootfs_mount_point
     * or the pod's rootfs-location annotation. NULL in records made before hostcri stored it,
     * which mean the runtime's rootfs_mount_point. */
    char *mount_point;
    char *username; /* or NULL */
    bool has_uid;
    uint32_t uid;
    bool has_gid;
    uint32_t gid;
    uint32_t *groups;
    size_t n_groups;
    bool strict_groups; /* SupplementalGroupsPolicy Strict */
    struct process_mount *mounts;
    size_t n_mounts;
    char **layers; /* NULL-terminated, base layer first */
    bool readonly_rootfs;
    int stop_signal; /* POSIX number */
    bool has_oom_score_adj;
    int oom_score_adj;
    bool tty;
    bool stdin_open;
    bool stdin_once;
    struct process_resources resources;
};

/* Returns the process as a compact JSON document (caller frees). */
char *process_to_json(const struct container_process *process);

/*
 * Parses a document made by process_to_json into *out (clear; process_clear frees it).
 * Returns 0, or -1 with ERROR_DATA_LOSS naming what is wrong.
 */
int process_from_json(const char *json, struct container_process *out, struct error *err);

void process_clear(struct container_process *process);

#endif
