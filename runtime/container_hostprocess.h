#ifndef HOSTCRI_RUNTIME_CONTAINER_HOSTPROCESS_H
#define HOSTCRI_RUNTIME_CONTAINER_HOSTPROCESS_H

#include <stdbool.h>

#include <uv.h>

#include "api/api.pb-c.h"
#include "common/error.h"
#include "runtime/process.h"

/*
 * The Windows HostProcess side of CreateContainer, StartContainer and RemoveContainer, for the
 * core of the runtime. On Windows the core builds the container's root file system itself: a
 * directory "<rootfs_mount_point>\<container id>" (C:\hpc\<id> by default) holding the image's
 * files, with each volume mount linked under it, as Windows does without the bind filter. On
 * Linux the job backend's monitor mounts the root file system at rootfs_mount_point instead,
 * and these functions keep the Linux behaviour.
 */

/* True when the runtime applies the Windows HostProcess rules: in the Windows build. */
#ifdef _WIN32
#define CONTAINER_HOSTPROCESS_RULES true
#else
#define CONTAINER_HOSTPROCESS_RULES false
#endif

/*
 * Returns the directory that CONTAINER_SANDBOX_MOUNT_POINT names for a container, without a
 * trailing separator: "<root>\<container_id>" with the HostProcess rules, else root (the
 * mount point inside the container's mount namespace). Caller frees.
 */
char *container_hostprocess_mount_point(const char *root, const char *container_id);

/*
 * Checks that a container of a host-process pod sets windows.security_context.host_process
 * (required with the HostProcess rules). Returns 0, or -1 with INVALID_ARGUMENT naming what to
 * set.
 */
int container_hostprocess_check_config(const Runtime__V1__ContainerConfig *config,
                                       struct error *err);

/*
 * Checks a mount's paths: a named pipe host path is INVALID_ARGUMENT on every system, and with
 * the HostProcess rules the container path is a Windows absolute path; otherwise it must start
 * with "/".
 */
int container_hostprocess_check_mount(const Runtime__V1__Mount *mount, struct error *err);

/*
 * Finishes the merged and substituted environment of a container whose mount point is
 * mount_point: with the HostProcess rules as spec_hostprocess_finish_env does (PATH, PATHEXT,
 * SYSTEMROOT, CONTAINER_SANDBOX_MOUNT_POINT), where a container without PATH keeps none and
 * gets its user's Path at start (winenv_merge), and default_path is not used. Otherwise with
 * spec_extend_path, which starts from default_path, and the variable.
 */
void container_hostprocess_finish_env(char ***env, const char *mount_point,
                                      const char *default_path);

/*
 * Copies the unpacked layer directories (NULL-terminated, base first) into mount_point, which
 * is created when missing. A later layer's file replaces an earlier one's, a ".wh.<name>" file
 * removes name, and ".wh..wh..opq" empties its directory of the earlier layers' content. Links
 * are copied as links, or skipped with a warning where the system cannot create them. Unlike
 * container_hostprocess_prepare_start, it works without the HostProcess rules too, so the Linux
 * unit tests cover it.
 */
int container_hostprocess_copy_layers(const char *mount_point, const char *const *layers,
                                      struct error *err);

struct container;

/* Completion of container_hostprocess_copy_start: err is NULL on success. Loop thread. */
typedef void (*container_hostprocess_copy_cb)(struct container *container, const struct error *err);

/*
 * Copies the layers into mount_point with container_hostprocess_copy_layers on the libuv thread
 * pool. A synchronous failure returns -1 and cb never runs. Otherwise cb runs once, later, from
 * the loop, unless container_hostprocess_forget(container) runs first. Strings are copied.
 */
int container_hostprocess_copy_start(uv_loop_t *loop, struct container *container,
                                     const char *mount_point, const char *const *layers,
                                     container_hostprocess_copy_cb cb, struct error *err);

/* Cancels the callbacks of container's copies, before the container is freed. Loop thread. */
void container_hostprocess_forget(const struct container *container);

/*
 * Prepares a container's start with the HostProcess rules (does nothing without them), once
 * container_hostprocess_copy_start has filled mount_point: links each mount at its container
 * path under it, creates a missing working directory, and replaces process->argv[0] with the
 * program's full path. A missing program is NOT_FOUND naming the places searched.
 */
int container_hostprocess_prepare_start(const char *mount_point, struct container_process *process,
                                        struct error *err);

/*
 * Removes the root file system directory that container_hostprocess_prepare_start made,
 * without following the mount links. A missing directory is not an error; without the
 * HostProcess rules nothing is removed.
 */
int container_hostprocess_remove_rootfs(const char *mount_point, struct error *err);

#endif
