#ifndef HOSTCRI_RUNTIME_LINUX_ROOTFS_H
#define HOSTCRI_RUNTIME_LINUX_ROOTFS_H

/*
 * The container's view of the file system, built by the monitor in a private mount namespace:
 * the host's root stays visible, the image rootfs appears at the mount point (default /hpc) and
 * each volume is bound at its container path. Uses only the C library.
 */

#include "common/error.h"
#include "runtime/linux/monitor_files.h"

/*
 * Moves the calling process into a new mount namespace whose mounts receive the host's new
 * mounts (slave propagation) but send none back, then mounts the rootfs and the volumes of
 * spec. A bidirectional volume is a peer of its source's mount instead, so that mounts made
 * under it on either side reach the other. That needs a shared source mount; a warning is
 * logged otherwise. The rootfs is an overlayfs of spec->layers (base first) with "upper" and
 * "work" in spec->container_dir; where overlayfs is unavailable the layers are copied once into
 * "<container_dir>/rootfs" and that directory is bound instead. Parents of volume mount points
 * are created on the host. Errors name the mount that failed.
 */
int rootfs_setup(const struct monitor_spec *spec, struct error *err);

/*
 * Builds the overlayfs option string "lowerdir=<top>:...:<base>,upperdir=...,workdir=..." with
 * ':', ',' and '\' in paths escaped by a backslash. Returns a new string.
 */
char *rootfs_overlay_options(char *const *layers, const char *upper, const char *work);

/*
 * Copies layers (base first) into target, applying each layer's whiteouts (".wh.<name>" files,
 * 0:0 character devices, ".wh..wh..opq" files and directories with the trusted.overlay.opaque
 * xattr) to what the layers below put there. A finished copy is marked by "<target>.done" and
 * is not redone; an unfinished one is started over.
 */
int rootfs_copy_layers(char *const *layers, const char *target, struct error *err);

#endif
