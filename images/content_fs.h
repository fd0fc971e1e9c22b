#ifndef HOSTCRI_IMAGES_CONTENT_FS_H
#define HOSTCRI_IMAGES_CONTENT_FS_H

#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>

/*
 * File system steps of the content store and the layer store that differ between operating
 * systems, implemented in images/linux/content_fs_linux.c and
 * images/windows/content_fs_windows.c. Each returns 0 or a negative errno value, as low-level
 * wrappers do in hostcri. Paths are UTF-8 with "/" (Windows also takes "\\" and "C:/...").
 *
 * NOTE: content_store.c and layer_store.c also call stat, open, unlink and rename themselves.
 * On Windows those take the ANSI code page and at most MAX_PATH characters, so the image root
 * must be a short ASCII path there; unpacked layer entries go through images/windows/ instead.
 */

/* Flags added to every open() of the stores: close-on-exec on POSIX, binary mode on Windows. */
#ifdef _WIN32
#define CONTENT_FS_OPEN_FLAGS O_BINARY
#else
#define CONTENT_FS_OPEN_FLAGS O_CLOEXEC
#endif

/* Creates path and its missing parents with mode (0755, ...); an existing directory is fine. */
int content_fs_mkdir_p(const char *path, unsigned int mode);

/* Creates and opens a new file "<dir>/<prefix>XXXXXX" for writing; stores its path in *path. */
int content_fs_create_temp(const char *dir, const char *prefix, char **path);

/* Creates a new directory "<parent>/<prefix>XXXXXX" (mode 0700); stores its path in *path. */
int content_fs_create_temp_dir(const char *parent, const char *prefix, char **path);

/* Flushes the file data of fd to disk. */
int content_fs_sync_fd(int fd);

/* Flushes the directory entries of path (after a rename into it). */
int content_fs_sync_dir(const char *path);

/*
 * Makes the file of fd read-only for everyone (0444). Windows keeps the file writable, so that
 * removing it needs no attribute change.
 */
int content_fs_make_read_only(int fd);

/*
 * Removes path and everything under it without following symlinks or crossing mounts. A
 * missing path is fine. Directories without write permission are handled.
 */
int content_fs_remove_tree(const char *path);

/*
 * Removes the entry name of the directory dir_fd as content_fs_remove_tree does (POSIX only:
 * Windows has no directory descriptors and returns -ENOSYS).
 */
int content_fs_remove_at(int dir_fd, const char *name);

/*
 * Renames from to to, failing with -EEXIST (or -ENOTEMPTY) when to exists instead of
 * replacing it.
 */
int content_fs_rename_noreplace(const char *from, const char *to);

/* Renames from to to, replacing an existing file at to (rename(2) semantics on Windows too). */
int content_fs_rename_replace(const char *from, const char *to);

/* Calls fn for each entry name of dir except "." and ".."; stops when fn returns nonzero. */
int content_fs_list_dir(const char *dir, int (*fn)(const char *name, void *data), void *data);

#endif
