#ifndef HOSTCRI_RUNTIME_POD_ANNOTATIONS_H
#define HOSTCRI_RUNTIME_POD_ANNOTATIONS_H

/*
 * The two HostProcess pod annotations. CRI passes annotations only to RunPodSandbox, so both
 * are read from the pod's stored config and apply to every container of the pod:
 *   - POD_ANNOTATION_INHERIT_USER "true": the containers and their execs run as the runtime's
 *     own user, whatever user name the container, the pod or the image gives;
 *   - POD_ANNOTATION_ROOTFS_LOCATION <path>: the root of the containers' root file systems
 *     instead of the runtime's rootfs_mount_point. With the Windows HostProcess rules a
 *     container's files go to "<path>\<container id>"; on Linux <path> is the mount point
 *     inside the container's mount namespace, as /hpc is by default.
 * Pure functions with no OS headers, so the Linux unit tests cover both rule sets.
 */

#include <stdbool.h>

#include "api/api.pb-c.h"
#include "common/error.h"

#define POD_ANNOTATION_INHERIT_USER "microsoft.com/hostprocess-inherit-user"
#define POD_ANNOTATION_ROOTFS_LOCATION "microsoft.com/hostprocess-rootfs-location"

/* Returns the value of the pod annotation key, or NULL when config does not set it. */
const char *pod_annotations_get(const Runtime__V1__PodSandboxConfig *config, const char *key);

/* Returns true when config sets POD_ANNOTATION_INHERIT_USER to exactly "true". */
bool pod_annotations_inherit_user(const Runtime__V1__PodSandboxConfig *config);

/*
 * Checks a rootfs-location value. With windows_rules it must be an absolute local path with a
 * drive, such as "C:\hpc-pods" or "D:\" (a bare drive root is a valid parent): no UNC or
 * device path ("\\server\share", "\\?\..."), no path relative to a drive ("C:x", "\x"), no
 * "." or ".." component, no character that Windows file names cannot hold (<>"|?* and
 * control characters, ":" after the drive). Otherwise it must be an absolute path ("/x") with
 * no "." or ".." component, and neither "/" itself nor under /proc, /sys or /dev, because
 * the root file system is mounted there inside the container's mount namespace. Returns 0, or
 * -1 with INVALID_ARGUMENT naming the annotation, the value and what to set.
 */
int pod_annotations_check_rootfs_location(const char *value, bool windows_rules, struct error *err);

/*
 * Checks config's POD_ANNOTATION_ROOTFS_LOCATION with pod_annotations_check_rootfs_location
 * and stores it in *location (a pointer into config), or NULL when the annotation is missing
 * or empty. Returns 0, or -1 with INVALID_ARGUMENT.
 */
int pod_annotations_rootfs_location(const Runtime__V1__PodSandboxConfig *config, bool windows_rules,
                                    const char **location, struct error *err);

#endif
