#ifndef HOSTCRI_IMAGES_LAYER_OS_H
#define HOSTCRI_IMAGES_LAYER_OS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * The file system side of layer unpacking, implemented per OS (images/linux/layer_linux.c).
 * images/layer.c reads the archive, cleans each entry's path and decides what to do; these
 * functions create the entries under a root directory.
 *
 * Every path given here is relative to the root and already cleaned by the caller. Its
 * components are separated by single "/" and none of them is "", "." or "..", and it has no
 * leading "/". The path "" is the root itself. The implementation never follows a symlink in any
 * component, including the last, and fails with -ELOOP when a parent component is a symlink and
 * -ENOTDIR when it is not a directory. So nothing outside the root is ever touched.
 *
 * Functions return 0 or a negative errno value.
 *
 * On Windows (images/windows/layer_windows.c) a component that is a reparse point (symlink or
 * junction) counts as a symlink, and a name Windows would split or rewrite ("\\", ":", <>"|?*,
 * control characters, a trailing dot or space) fails with -EILSEQ. Owners, modes and extended
 * attributes are not applied, device nodes and FIFOs are skipped, and since there is no
 * overlayfs, layer_os_whiteout and layer_os_set_opaque leave empty ".wh.<name>" and
 * ".wh..wh..opq" files. Windows layers reach these functions with their Files/ prefix removed
 * (images/layer.h), so a layer directory is the container's root on both systems.
 */

enum layer_os_type {
    LAYER_OS_FILE,
    LAYER_OS_DIR,
    LAYER_OS_SYMLINK,
    LAYER_OS_HARDLINK,
    LAYER_OS_CHAR,
    LAYER_OS_BLOCK,
    LAYER_OS_FIFO,
};

struct layer_os_xattr {
    const char *name;
    const void *value;
    size_t size;
};

/* One entry to create, with the metadata from its tar header. */
struct layer_os_entry {
    const char *path;
    enum layer_os_type type;
    uint32_t mode; /* permission bits with setuid, setgid and sticky */
    int64_t uid;
    int64_t gid;
    int64_t mtime_sec;
    long mtime_nsec;
    int64_t atime_sec;
    long atime_nsec;
    const char *link_target; /* symlink: the target as stored; hard link: a cleaned path */
    uint32_t dev_major;
    uint32_t dev_minor;
    const struct layer_os_xattr *xattrs; /* already filtered by the caller */
    size_t xattr_count;
};

struct layer_os_root;

/* Opens dir, an existing directory, as the root of an unpack. */
int layer_os_root_open(const char *dir, struct layer_os_root **out);

/* Closes the root. Safe on NULL. */
void layer_os_root_close(struct layer_os_root *root);

/*
 * Creates entry e. Missing parent directories are created (0755, owned by root) and reported
 * through created_parent (called with each new directory's path; may be NULL). An existing
 * entry at e->path is replaced, except that an existing directory stays (and gets e's
 * metadata) when e is a directory. For LAYER_OS_FILE, *fd receives a descriptor open for
 * writing the content; finish it with layer_os_file_finish. For the other types *fd is -1
 * and the metadata (owner, mode, extended attributes, and times except a directory's) is
 * already applied. Extended attributes that the file system rejects with EPERM or ENOTSUP are
 * skipped. A hard link's target must exist under the root.
 */
int layer_os_create(struct layer_os_root *root, const struct layer_os_entry *e, int *fd,
                    void (*created_parent)(const char *path, void *data), void *data);

/* Writes length bytes at offset of the file being created. */
int layer_os_file_write(int fd, const void *data, size_t length, int64_t offset);

/* Sets the file's size to size, applies e's metadata and closes fd (also on failure). */
int layer_os_file_finish(int fd, const struct layer_os_entry *e, int64_t size);

/* Sets the access and modification times of the entry at path (directories, at the end). */
int layer_os_set_times(struct layer_os_root *root, const char *path,
                       const struct layer_os_entry *e);

/*
 * Creates an overlayfs whiteout (a character device 0:0 owned by uid:gid) at path, creating
 * missing parents. When an entry exists there already, it was created by the same layer and
 * is kept: *kept is set to true and nothing changes.
 */
int layer_os_whiteout(struct layer_os_root *root, const char *path, int64_t uid, int64_t gid,
                      bool *kept, void (*created_parent)(const char *path, void *data), void *data);

/* Sets trusted.overlay.opaque=y on the directory at dir_path, creating it when missing. */
int layer_os_set_opaque(struct layer_os_root *root, const char *dir_path,
                        void (*created_parent)(const char *path, void *data), void *data);

/* Removes the entry at path and everything under it; a missing entry or parent is fine. */
int layer_os_remove(struct layer_os_root *root, const char *path);

/*
 * Calls fn with the name of each entry of the directory at dir_path and whether it is a
 * directory (not following symlinks). A missing directory has no entries.
 */
int layer_os_list(struct layer_os_root *root, const char *dir_path,
                  void (*fn)(const char *name, bool is_dir, void *data), void *data);

/* Flushes the file system that contains path to disk. */
int layer_os_sync(const char *path);

#endif
