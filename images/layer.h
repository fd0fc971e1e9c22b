#ifndef HOSTCRI_IMAGES_LAYER_H
#define HOSTCRI_IMAGES_LAYER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/digest.h"
#include "common/error.h"

/*
 * Unpacking of layer blobs (tar, tar+gzip, tar+zstd; the compression is detected from the
 * content) and the directory of unpacked layers:
 *
 *   <root>/layers/<chain id hex>/fs           one layer, an overlayfs lower directory
 *   <root>/layers/<chain id hex>/size         its unpacked size in bytes, as decimal text
 *   <root>/layers/.tmp-*                      layers being unpacked or removed
 *
 * A layer directory gets its name by one rename after the unpack finished and its diff ID was
 * checked, so a layer directory that exists is complete. layer_store_init removes the .tmp-*
 * leftovers of a killed daemon.
 *
 * Entry rules, the same in both modes:
 * - A leading "/" and every "." or empty component are removed, as Docker and containerd
 *   do, so "/etc/x" lands at "etc/x" inside the target. A ".." component rejects the layer.
 * - No path, and no hard link target, may pass through a symlink: such an entry rejects the
 *   layer. The last component is never followed. An existing entry there is replaced, except
 *   that an existing directory stays (with the new metadata) for a directory entry.
 * - A rejected layer fails with ERROR_INVALID_ARGUMENT and a message that names the entry;
 *   nothing is ever created, changed or removed outside the target directory.
 * - Owners, modes (with setuid, setgid and sticky bits), modification times, symlinks, hard
 *   links, device nodes and FIFOs are kept. Extended attributes user.*, security.capability
 *   and trusted.* are kept, except trusted.overlay.* and user.overlay.* (overlayfs reads them
 *   from lower directories, and only whiteouts may set them here). Other security.*
 *   attributes (SELinux labels of the build host) and system.* (POSIX ACLs) are dropped. An
 *   attribute the file system does not support or the process may not set is skipped with a
 *   debug log. Sockets and unknown entry types are skipped.
 *
 * Whiteouts, LAYER_UNPACK_OVERLAY (layers stacked as overlayfs lower directories):
 *   ".wh.<name>" becomes a character device 0:0 named <name>;
 *   ".wh..wh..opq" sets trusted.overlay.opaque=y on its directory.
 * Whiteouts, LAYER_UNPACK_FLAT (layers applied in order into one directory):
 *   ".wh.<name>" removes <name>; ".wh..wh..opq" removes every entry of its directory that
 *   this layer did not create.
 * In both modes a whiteout never hides what the same layer created, and other ".wh..wh.*"
 * names (aufs bookkeeping) are skipped.
 *
 * Windows layers (LAYER_FORMAT_WINDOWS, chosen for images whose config has os "windows") keep
 * the file system under a top-level "Files/" folder and registry hives under "Hives/". The
 * layer directory ("fs" above) holds the content of Files/ directly: "Files/x/y.cmd" lands at
 * "x/y.cmd", so the layer directory, and a flattened copy, is the container's root as on
 * Linux. Hives/ and every other top-level entry (UtilityVM/, ...) are skipped: a host-process
 * container runs on the host's registry. A hard link target outside Files/ rejects the layer.
 * The rules above apply to the paths inside Files/. The matching of "Files" and "Hives"
 * ignores case, as the Windows file system does.
 */

enum layer_format {
    LAYER_FORMAT_PLAIN = 0,
    LAYER_FORMAT_WINDOWS = 1,
};

enum layer_unpack_mode {
    LAYER_UNPACK_OVERLAY = 0,
    LAYER_UNPACK_FLAT = 1,
};

struct layer_unpack_options {
    enum layer_unpack_mode mode;
    /* When not NULL, the sha256 of the uncompressed tar must equal it (rootfs.diff_ids). */
    const char *expected_diff_id;
    enum layer_format format;
};

struct layer_unpack_stats {
    uint64_t size;    /* bytes of regular file content written (hard links counted once) */
    uint64_t entries; /* tar entries processed, whiteouts included */
    char diff_id[DIGEST_STRING_MAX]; /* "sha256:<hex>" of the uncompressed tar */
};

/*
 * Unpacks the layer blob at blob_path into the existing directory target_dir (empty for
 * LAYER_UNPACK_OVERLAY). options may be NULL (overlay mode, no diff ID check); stats may be
 * NULL. Synchronous and blocking: the pull code runs it on the libuv thread pool.
 *
 * Returns 0, or -1 with: ERROR_INVALID_ARGUMENT for an entry that breaks the rules above
 * (the message names the entry), ERROR_DATA_LOSS for a corrupt or truncated archive or a diff
 * ID mismatch (naming the expected and actual diff IDs), ERROR_NOT_FOUND when the blob is
 * missing, ERROR_INTERNAL for other I/O errors. On failure target_dir holds part of the
 * layer: callers unpack into a temporary directory (as layer_create does) and remove it.
 */
int layer_unpack(const char *blob_path, const char *target_dir,
                 const struct layer_unpack_options *options, struct layer_unpack_stats *stats,
                 struct error *err);

/*
 * Creates <root>/layers and removes leftovers of unpacks and removals that a killed daemon
 * did not finish. Call once at start, before any other layer_* call on root. Returns 0, or
 * -1 with ERROR_INTERNAL.
 */
int layer_store_init(const char *root, struct error *err);

/* "<root>/layers/<hex>/fs" for chain_id, or NULL with ERROR_INVALID_ARGUMENT. Caller frees. */
char *layer_fs_path(const char *root, const char *chain_id, struct error *err);

/* True when the layer of chain_id was created completely. */
bool layer_exists(const char *root, const char *chain_id);

/* The layer format of an image whose config has os config_os (may be NULL). */
enum layer_format layer_format_for_os(const char *config_os);

/*
 * Unpacks blob_path (LAYER_UNPACK_OVERLAY, in format) into a temporary directory under
 * <root>/layers, checks expected_diff_id when it is not NULL, records the size, and renames it
 * to the layer directory of chain_id. When the layer already exists (another pull won the race) the
 * new copy is discarded and 0 is returned with the stats of this unpack. stats may be NULL.
 * Errors as layer_unpack; nothing of a failed unpack is left behind. Blocking.
 */
int layer_create(const char *root, const char *chain_id, const char *blob_path,
                 const char *expected_diff_id, enum layer_format format,
                 struct layer_unpack_stats *stats, struct error *err);

/*
 * Reads the unpacked size recorded by layer_create. Returns 0, or -1 with ERROR_NOT_FOUND
 * when the layer does not exist.
 */
int layer_size(const char *root, const char *chain_id, uint64_t *size, struct error *err);

/*
 * Removes the layer of chain_id: it is first renamed to a .tmp-* name, so that a crash never
 * leaves a half-removed layer that looks complete. Returns 0, or -1 with ERROR_NOT_FOUND when
 * it does not exist, ERROR_INTERNAL on I/O errors. Blocking.
 */
int layer_remove(const char *root, const char *chain_id, struct error *err);

/*
 * Lists the chain IDs ("sha256:<hex>") of all complete layers, for garbage collection.
 * Returns 0 and a NULL-terminated array in *chain_ids (free with strv_free), or -1.
 */
int layer_list(const char *root, char ***chain_ids, struct error *err);

/*
 * Adds up the disk use of the tree at path without following symlinks or crossing into
 * other file systems: bytes from st_blocks (hard links once) and the number of inodes, for
 * ImageFsInfo. A missing path counts as empty. Returns 0, or -1 with ERROR_INTERNAL.
 */
int layer_disk_usage(const char *path, uint64_t *bytes, uint64_t *inodes, struct error *err);

/*
 * Builds one flattened root file system at target_dir (which must not exist) from count layer
 * blobs applied in order with LAYER_UNPACK_FLAT and format, for hosts without overlayfs. diff_ids
 * may be NULL; else diff_ids[i] is checked for blob_paths[i]. Works in a temporary sibling
 * directory and renames it to target_dir at the end. stats (may be NULL) gets the summed
 * size and entries, and the diff ID of the last layer. Errors as layer_unpack, plus
 * ERROR_ALREADY_EXISTS when target_dir exists; nothing is left behind on failure. Blocking.
 */
int layer_flatten(const char *const *blob_paths, const char *const *diff_ids, size_t count,
                  enum layer_format format, const char *target_dir,
                  struct layer_unpack_stats *stats, struct error *err);

#endif
