#ifndef HOSTCRI_RUNTIME_ROOTFS_DIRS_H
#define HOSTCRI_RUNTIME_ROOTFS_DIRS_H

/*
 * Records of the root file system directories that the runtime creates with the Windows
 * HostProcess rules ("<root>\<container id>", see container_hostprocess.h). Before it creates
 * one, the runtime writes the file "<records_dir>/<container id>" holding the directory's path.
 * Only a recorded directory is ever removed, so a directory that hostcri did not create (another
 * runtime's under the same C:\hpc, or an operator's) is neither reused nor removed, and a
 * directory left by a daemon that was killed is found again at the next start, wherever a
 * rootfs-location annotation put it.
 *
 * Removal never follows links: a volume mount is a junction or a symbolic link under the
 * directory, and only the link goes, never the files of its target (runtime_remove_tree).
 * Every function is synchronous (libuv's fs calls without a loop) and runs on any thread.
 */

#include <stdbool.h>

#include "common/error.h"

/* Returns true when name is a container id: 64 lowercase hexadecimal digits. */
bool rootfs_dirs_is_container_id(const char *name);

/*
 * Records that the runtime creates dir for container_id. A record for the same dir is kept
 * (a start that is tried again reuses the directory). When dir exists without such a record,
 * nothing is recorded and the call fails with FAILED_PRECONDITION naming dir, because hostcri
 * did not create it. Returns 0 or -1.
 */
int rootfs_dirs_claim(const char *records_dir, const char *container_id, const char *dir,
                      struct error *err);

/*
 * Removes the directory recorded for container_id, then the record. Returns 1 when it removed
 * a directory, 0 when there was no record (nothing is removed), or -1 when the removal failed
 * (the record then stays, so a later release or sweep tries again). A recorded path whose last
 * component is not container_id is left alone and its record dropped, with a warning (0).
 */
int rootfs_dirs_release(const char *records_dir, const char *container_id, struct error *err);

/* Returns true when the runtime still uses the directory of container_id. */
typedef bool (*rootfs_dirs_in_use_fn)(const char *container_id, void *data);

/*
 * Releases the directory of every record whose container in_use rejects, as after a daemon
 * was killed or its container records were lost. Failures are logged and the record stays.
 * Files in records_dir whose names are no container id are left alone.
 */
void rootfs_dirs_sweep(const char *records_dir, rootfs_dirs_in_use_fn in_use, void *data);

#endif
