/* Portable file system helpers of the runtime, built on libuv's synchronous fs calls. */

#include <string.h>

#include <uv.h>

#include "common/util.h"
#include "runtime/runtime_internal.h"

#ifdef _WIN32
#include <windows.h>

#include "common/text_windows.h"

/*
 * Returns true when path is a reparse point. libuv's lstat reports junctions to a drive path and
 * symbolic links as links, but other reparse points (a junction to a volume GUID path, for one)
 * as their target, so a removal that trusted it would delete the target's content.
 */
static bool is_reparse_point(const char *path)
{
    _cleanup_free_ wchar_t *wide = text_windows_utf8_to_wide(path);
    DWORD attributes = wide ? GetFileAttributesW(wide) : INVALID_FILE_ATTRIBUTES;

    return attributes != INVALID_FILE_ATTRIBUTES && (attributes & FILE_ATTRIBUTE_REPARSE_POINT);
}
#else
static bool is_reparse_point(const char *path)
{
    (void)path;
    return false;
}
#endif

int runtime_make_dirs(const char *path, int mode, struct error *err)
{
    _cleanup_free_ char *copy = xstrdup(path);
    size_t length = strlen(copy);
    size_t first = 1;

#ifdef _WIN32
    /* A drive ("C:") is no directory to create. */
    if (length >= 2 && copy[1] == ':')
        first = 3;
#endif
    for (size_t i = first; i <= length; i++) {
        uv_fs_t req;
        int rc;

        if (copy[i] != '/' && copy[i] != '\\' && copy[i] != '\0')
            continue;
        if (i == length || copy[i + 1] != '\0') {
            char saved = copy[i];

            copy[i] = '\0';
            rc = uv_fs_mkdir(NULL, &req, copy, mode, NULL);
            uv_fs_req_cleanup(&req);
            copy[i] = saved;
            if (rc < 0 && rc != UV_EEXIST)
                return error_set(err, ERROR_INTERNAL, "create directory %.*s: %s", (int)i, copy,
                                 uv_strerror(rc));
        }
    }
    return 0;
}

static int remove_entry(const char *path, struct error *err);

static int remove_children(const char *path, struct error *err)
{
    uv_fs_t req;
    uv_dirent_t entry;
    int rc = uv_fs_scandir(NULL, &req, path, 0, NULL);

    if (rc < 0) {
        uv_fs_req_cleanup(&req);
        return error_set(err, ERROR_INTERNAL, "list directory %s: %s", path, uv_strerror(rc));
    }
    while (uv_fs_scandir_next(&req, &entry) != UV_EOF) {
        _cleanup_free_ char *child = xasprintf("%s/%s", path, entry.name);

        if (remove_entry(child, err) < 0) {
            uv_fs_req_cleanup(&req);
            return -1;
        }
    }
    uv_fs_req_cleanup(&req);
    return 0;
}

static int remove_entry(const char *path, struct error *err)
{
    uv_fs_t req;
    int rc = uv_fs_lstat(NULL, &req, path, NULL);
    bool is_dir = rc == 0 && (req.statbuf.st_mode & S_IFMT) == S_IFDIR;

    uv_fs_req_cleanup(&req);
    if (rc == UV_ENOENT)
        return 0;
    if (rc < 0)
        return error_set(err, ERROR_INTERNAL, "inspect %s: %s", path, uv_strerror(rc));
    if (is_dir && is_reparse_point(path)) {
        /* RemoveDirectoryW removes the reparse point itself, whatever its target holds. */
        rc = uv_fs_rmdir(NULL, &req, path, NULL);
    } else if (is_dir) {
        if (remove_children(path, err) < 0)
            return -1;
        rc = uv_fs_rmdir(NULL, &req, path, NULL);
    } else {
        rc = uv_fs_unlink(NULL, &req, path, NULL);
    }
    uv_fs_req_cleanup(&req);
    if (rc < 0 && rc != UV_ENOENT)
        return error_set(err, ERROR_INTERNAL, "remove %s: %s", path, uv_strerror(rc));
    return 0;
}

int runtime_remove_tree(const char *path, struct error *err)
{
    return remove_entry(path, err);
}
