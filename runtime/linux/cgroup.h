#ifndef HOSTCRI_RUNTIME_LINUX_CGROUP_H
#define HOSTCRI_RUNTIME_LINUX_CGROUP_H

/*
 * cgroup access for the Linux job backend, on the three layouts found in practice:
 *
 * - v2: one hierarchy at the root; membership, kill, events, limits and statistics all there.
 * - hybrid: v1 controllers at <root>/<controller> plus a v2 mount at <root>/unified, usually
 *   without controllers. Membership, cgroup.kill, cgroup.events and cpu.stat use the v2 mount;
 *   memory, cpu and pids limits and statistics use the v1 controllers.
 * - v1: only v1 controllers; kill is freeze + SIGKILL each member + thaw.
 *
 * A cgroup is named by its path relative to the hierarchy roots ("kubepods/pod1/c1", no
 * leading slash), and exists once in every hierarchy hostcri uses. The root directory is a
 * parameter, so unit tests run against a fixture tree. This file uses only the C library, so
 * the monitor links it too.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "runtime/job.h"

enum cgroup_layout {
    CGROUP_LAYOUT_V2 = 0,
    CGROUP_LAYOUT_HYBRID = 1,
    CGROUP_LAYOUT_V1 = 2,
};

/* The v1 controllers hostcri places jobs in. */
enum cgroup_v1_controller {
    CGROUP_V1_CPU,
    CGROUP_V1_CPUACCT,
    CGROUP_V1_CPUSET,
    CGROUP_V1_MEMORY,
    CGROUP_V1_PIDS,
    CGROUP_V1_FREEZER,
    CGROUP_V1_COUNT,
};

/* The detected hierarchies. Free with cgroup_env_clear. */
struct cgroup_env {
    char *root;
    enum cgroup_layout layout;
    /* The v2 hierarchy: root itself (v2), root/unified (hybrid) or NULL (v1). */
    char *unified;
    /* v1 hierarchy directories, NULL when not mounted. Several entries may name one directory
     * (for example a "cpu,cpuacct" mount). */
    char *v1[CGROUP_V1_COUNT];
    /* Test fixtures only: create control files that do not exist instead of failing, since a
     * plain directory tree has no kernel-made files in new directories. */
    bool create_files;
};

/*
 * Detects the layout under root from its files: <root>/cgroup.controllers means v2,
 * <root>/unified/cgroup.controllers plus v1 controller directories means hybrid, v1 controller
 * directories alone mean v1. ERROR_FAILED_PRECONDITION when none is found.
 */
int cgroup_env_detect(const char *root, struct cgroup_env *env, struct error *err);

/* Frees the paths of env and zeroes it. */
void cgroup_env_clear(struct cgroup_env *env);

/* "cgroup v2", "hybrid" or "cgroup v1". */
const char *cgroup_layout_name(enum cgroup_layout layout);

/*
 * Turns a kubelet cgroup_parent into a relative path: cgroupfs "/kubepods/burstable/pod1"
 * gives "kubepods/burstable/pod1"; systemd "kubepods-burstable-pod1.slice" gives
 * "kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1.slice". A systemd value
 * that already contains '/' is taken as a path. ERROR_INVALID_ARGUMENT for "..", an empty
 * component in a slice name or a slice name without the ".slice" suffix. *path is owned by
 * the caller.
 */
int cgroup_path_from_parent(enum job_cgroup_driver driver, const char *parent, char **path,
                            struct error *err);

/* The relative path of a container's cgroup in its pod's: "<pod>/<id>" for cgroupfs,
 * "<pod>/hostcri-<id>.scope" for systemd. Returns a new string. */
char *cgroup_container_path(enum job_cgroup_driver driver, const char *pod_path, const char *id);

/* Directory of path in the hierarchy at hierarchy_dir. Returns a new string. */
char *cgroup_dir(const char *hierarchy_dir, const char *path);

/*
 * Creates path and its missing ancestors in every hierarchy. On v2 also enables the cpu,
 * cpuset, memory, pids and io controllers (those available) in the subtree_control of each
 * ancestor, and of path itself unless leaf is set (a leaf holds processes, which v2 forbids in a
 * cgroup that enables controllers for children); on v1 cpuset copies
 * cpuset.cpus and cpuset.mems from the parent. Every directory that this call created is
 * appended, in creation order, to *created (a NULL-terminated array owned by the caller; may
 * already hold entries). On failure the directories created so far stay listed in *created.
 */
int cgroup_create(const struct cgroup_env *env, const char *path, bool leaf, char ***created,
                  struct error *err);

/*
 * Checks that this process may move processes into path in every hierarchy (write access to
 * cgroup.procs). Returns 0, or -1 with ERROR_FAILED_PRECONDITION naming the cgroup, for a
 * daemon that does not run as root and was given no delegated cgroup tree.
 */
int cgroup_check_writable(const struct cgroup_env *env, const char *path, struct error *err);

/*
 * Removes the directories in created, last first (they must be the list made by
 * cgroup_create). Missing ones are skipped. ERROR_FAILED_PRECONDITION when one is busy
 * (processes or child cgroups remain); the others are still tried.
 */
int cgroup_remove_created(char *const *created, struct error *err);

/*
 * Moves pid into path in every hierarchy (pid 0 means the calling process). Used by a child
 * before exec when clone3(CLONE_INTO_CGROUP) is not available.
 */
int cgroup_enter(const struct cgroup_env *env, const char *path, int pid, struct error *err);

/*
 * Like cgroup_enter, but skips the v2 hierarchy when the calling process is already in path
 * there (as after clone3 with CLONE_INTO_CGROUP). Each write to cgroup.procs can wait for an
 * RCU grace period, about 10 ms, so a write that would change nothing is worth skipping.
 */
int cgroup_enter_self(const struct cgroup_env *env, const char *path, struct error *err);

/*
 * Opens the v2 directory of path for clone3(CLONE_INTO_CGROUP). Returns the fd, or -1 with
 * *err set (also on v1, where there is none).
 */
int cgroup_open_unified(const struct cgroup_env *env, const char *path, struct error *err);

/* Lists the pids in path (v2 cgroup.procs, else the first v1 hierarchy). *pids: caller frees. */
int cgroup_read_pids(const struct cgroup_env *env, const char *path, int **pids, size_t *n_pids,
                     struct error *err);

/* Sets *populated to whether any process is in path or below (v2 cgroup.events, else procs). */
int cgroup_populated(const struct cgroup_env *env, const char *path, bool *populated,
                     struct error *err);

/*
 * Sends SIGKILL to every process in path: cgroup.kill where the v2 hierarchy has it, else the
 * v2 freezer (cgroup.freeze), else the v1 freezer (freeze, kill each member, thaw), else
 * repeated kill passes until the cgroup is empty. Returns when the signals are sent; the
 * processes may still be exiting.
 */
int cgroup_kill(const struct cgroup_env *env, const char *path, struct error *err);

/* The kill of kernels without cgroup.kill: freeze path with cgroup.freeze, SIGKILL each
 * member, thaw. Public so that tests can run it on kernels that have cgroup.kill. */
int cgroup_kill_frozen_v2(const struct cgroup_env *env, const char *path, struct error *err);

/* Sends signal to each process in path once (no freezing; for SIGTERM to leftovers). */
int cgroup_signal_each(const struct cgroup_env *env, const char *path, int signal,
                       struct error *err);

/*
 * Waits up to timeout_ms for path to become empty. Sets *empty. Uses poll on v2 cgroup.events
 * and short sleeps elsewhere. Blocks the calling thread: for the monitor and tests.
 */
int cgroup_wait_empty(const struct cgroup_env *env, const char *path, int timeout_ms, bool *empty,
                      struct error *err);

/* Reads a control file into a new NUL-terminated string (trailing newline kept). */
int cgroup_read_file(const char *dir, const char *name, char **text, struct error *err);

/* Writes value to a control file with one write, as the kernel wants. */
int cgroup_write_file(const struct cgroup_env *env, const char *dir, const char *name,
                      const char *value, struct error *err);

/*
 * Finds "key value" in text made of such lines (cpu.stat, memory.stat, memory.events,
 * cgroup.events) and stores the value. Returns 0, or -1 when the key is missing.
 */
int cgroup_parse_keyed(const char *text, const char *key, uint64_t *value);

/* ---- Statistics and limits (cgroup_resources.c) --------------------------------------------- */

/* Reads CPU, memory and pids statistics of path into *stats (the has_ flags say which). */
int cgroup_read_stats(const struct cgroup_env *env, const char *path, struct job_stats *stats,
                      struct error *err);

/* Sets *count to the number of OOM kills in path so far (v2 memory.events oom_kill, v1
 * memory.oom_control oom_kill); 0 when the kernel does not count them. */
int cgroup_read_oom_kills(const struct cgroup_env *env, const char *path, uint64_t *count,
                          struct error *err);

/*
 * Applies the set fields of resources to path: v2 cpu.max, cpu.weight, memory.max,
 * cpuset.cpus/mems; v1 cpu.cfs_period_us, cpu.cfs_quota_us, cpu.shares, memory.limit_in_bytes,
 * cpuset. Windows-style cpu_maximum and cpu_count become a quota over host_cpus.
 */
int cgroup_apply_resources(const struct cgroup_env *env, const char *path,
                           const struct job_resources *resources, int host_cpus, struct error *err);

/* The cpu.weight (1..10000) for v1 shares (2..262144), as runc converts them. */
uint64_t cgroup_shares_to_weight(uint64_t shares);

#endif
