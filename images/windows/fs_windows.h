#ifndef HOSTCRI_IMAGES_WINDOWS_FS_WINDOWS_H
#define HOSTCRI_IMAGES_WINDOWS_FS_WINDOWS_H

#include <stdbool.h>
#include <wchar.h>

/*
 * Wide-path helpers shared by the Windows files of images/ (content_fs_windows.c,
 * layer_windows.c, layer_usage_windows.c). Windows builds only.
 */

/*
 * Converts a UTF-8 path with "/" or "\\" separators into a new absolute wide path (free) with
 * the "\\?\" prefix, so that paths longer than MAX_PATH work and no component is rewritten
 * (trailing dots and spaces stay, "." and ".." are resolved once here). Returns NULL when path
 * is not valid UTF-8 or cannot be made absolute.
 */
wchar_t *fs_windows_path(const char *path);

/* Returns a new wide string "<dir>\<name>" (free). */
wchar_t *fs_windows_join(const wchar_t *dir, const wchar_t *name);

/* The errno value (positive) closest to a GetLastError code. */
int fs_windows_errno(unsigned long windows_error);

/*
 * Removes the file or directory at path and everything under it. A directory symlink or
 * junction is removed itself, never followed. Read-only files are made writable first. A
 * missing path is fine. Returns 0 or a negative errno value.
 */
int fs_windows_remove_tree(const wchar_t *path);

/*
 * Calls fn for each entry of the directory dir except "." and "..", with the entry's name and
 * attributes (FILE_ATTRIBUTE_*); stops when fn returns nonzero and returns that value.
 * Returns 0 or a negative errno value.
 */
int fs_windows_list(const wchar_t *dir,
                    int (*fn)(const wchar_t *name, unsigned long attributes, void *data),
                    void *data);

#endif
