#include "runtime/rootfs_dirs.h"

#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/runtime_internal.h"

/* The longest recorded path, in bytes. A longer record file is treated as damaged. */
#define RECORD_MAX_BYTES 4096

bool rootfs_dirs_is_container_id(const char *name)
{
    size_t i = 0;

    for (; name[i]; i++) {
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return false;
    }
    return i == 64;
}

static bool path_exists(const char *path)
{
    uv_fs_t req;
    int rc = uv_fs_lstat(NULL, &req, path, NULL);

    uv_fs_req_cleanup(&req);
    return rc == 0;
}

/* Reads the record of container_id into *path (caller frees). Returns 0, UV_ENOENT or -1. */
static int read_record(const char *records_dir, const char *container_id, char **path,
                       struct error *err)
{
    _cleanup_free_ char *file = xasprintf("%s/%s", records_dir, container_id);
    char buffer[RECORD_MAX_BYTES + 1];
    uv_buf_t buf = uv_buf_init(buffer, RECORD_MAX_BYTES);
    uv_fs_t req;
    int fd = uv_fs_open(NULL, &req, file, UV_FS_O_RDONLY, 0, NULL);
    int rc;

    uv_fs_req_cleanup(&req);
    *path = NULL;
    if (fd == UV_ENOENT)
        return UV_ENOENT;
    if (fd < 0)
        return error_set(err, ERROR_INTERNAL, "open %s: %s", file, uv_strerror(fd));
    rc = uv_fs_read(NULL, &req, fd, &buf, 1, 0, NULL);
    uv_fs_req_cleanup(&req);
    uv_fs_close(NULL, &req, fd, NULL);
    uv_fs_req_cleanup(&req);
    if (rc < 0)
        return error_set(err, ERROR_INTERNAL, "read %s: %s", file, uv_strerror(rc));
    if (rc == 0 || rc == RECORD_MAX_BYTES || memchr(buffer, '\0', (size_t)rc))
        return error_set(err, ERROR_DATA_LOSS, "%s holds no directory path", file);
    buffer[rc] = '\0';
    *path = xstrdup(buffer);
    return 0;
}

/* Writes the record through a temporary file, so that a killed daemon leaves no half record. */
static int write_record(const char *records_dir, const char *container_id, const char *dir,
                        struct error *err)
{
    _cleanup_free_ char *file = xasprintf("%s/%s", records_dir, container_id);
    _cleanup_free_ char *temp = xasprintf("%s.tmp", file);
    uv_buf_t buf = uv_buf_init((char *)dir, (unsigned int)strlen(dir));
    uv_fs_t req;
    int fd;
    int rc;

    if (runtime_make_dirs(records_dir, 0700, err) < 0)
        return -1;
    fd = uv_fs_open(NULL, &req, temp, UV_FS_O_WRONLY | UV_FS_O_CREAT | UV_FS_O_TRUNC, 0600, NULL);
    uv_fs_req_cleanup(&req);
    if (fd < 0)
        return error_set(err, ERROR_INTERNAL, "create %s: %s", temp, uv_strerror(fd));
    rc = uv_fs_write(NULL, &req, fd, &buf, 1, 0, NULL);
    uv_fs_req_cleanup(&req);
    if (rc >= 0 && (size_t)rc != buf.len)
        rc = UV_EIO;
    if (rc >= 0)
        rc = uv_fs_fsync(NULL, &req, fd, NULL);
    uv_fs_req_cleanup(&req);
    uv_fs_close(NULL, &req, fd, NULL);
    uv_fs_req_cleanup(&req);
    if (rc >= 0)
        rc = uv_fs_rename(NULL, &req, temp, file, NULL);
    uv_fs_req_cleanup(&req);
    if (rc < 0) {
        uv_fs_unlink(NULL, &req, temp, NULL);
        uv_fs_req_cleanup(&req);
        return error_set(err, ERROR_INTERNAL, "write %s: %s", file, uv_strerror(rc));
    }
    return 0;
}

static int delete_record(const char *records_dir, const char *container_id, struct error *err)
{
    _cleanup_free_ char *file = xasprintf("%s/%s", records_dir, container_id);
    uv_fs_t req;
    int rc = uv_fs_unlink(NULL, &req, file, NULL);

    uv_fs_req_cleanup(&req);
    if (rc < 0 && rc != UV_ENOENT)
        return error_set(err, ERROR_INTERNAL, "remove %s: %s", file, uv_strerror(rc));
    return 0;
}

int rootfs_dirs_claim(const char *records_dir, const char *container_id, const char *dir,
                      struct error *err)
{
    _cleanup_free_ char *recorded = NULL;
    int rc;

    if (!rootfs_dirs_is_container_id(container_id))
        return error_set(err, ERROR_INVALID_ARGUMENT, "\"%s\" is not a container id", container_id);
    rc = read_record(records_dir, container_id, &recorded, err);
    if (rc == -1)
        return -1;
    if (rc == 0 && strcmp(recorded, dir) == 0)
        return 0;
    if (path_exists(dir))
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "the root file system folder %s already exists and hostcri did not "
                         "create it, so hostcri neither uses nor removes it: move it away, or set "
                         "the pod's rootfs-location annotation to another folder",
                         dir);
    return write_record(records_dir, container_id, dir, err);
}

/* Returns true when path's last component is container_id, as in every path hostcri records. */
static bool ends_with_id(const char *path, const char *container_id)
{
    size_t length = strlen(path);
    size_t id_length = strlen(container_id);

    return length > id_length &&
           (path[length - id_length - 1] == '/' || path[length - id_length - 1] == '\\') &&
           strcmp(path + length - id_length, container_id) == 0;
}

int rootfs_dirs_release(const char *records_dir, const char *container_id, struct error *err)
{
    _cleanup_free_ char *dir = NULL;
    int rc;

    if (!rootfs_dirs_is_container_id(container_id))
        return 0;
    rc = read_record(records_dir, container_id, &dir, err);
    if (rc == UV_ENOENT)
        return 0;
    if (rc < 0 && err->code != ERROR_DATA_LOSS)
        return -1;
    if (rc < 0 || !ends_with_id(dir, container_id)) {
        log_warn_id("container", container_id, "dropping the root file system record %s/%s: %s",
                    records_dir, container_id,
                    rc < 0 ? err->message : "the recorded path does not end with the id");
        error_clear(err);
        return delete_record(records_dir, container_id, err);
    }
    if (runtime_remove_tree(dir, err) < 0)
        return error_prefix(err, "remove the root file system %s", dir);
    return delete_record(records_dir, container_id, err) < 0 ? -1 : 1;
}

void rootfs_dirs_sweep(const char *records_dir, rootfs_dirs_in_use_fn in_use, void *data)
{
    uv_fs_t req;
    uv_dirent_t entry;
    int rc = uv_fs_scandir(NULL, &req, records_dir, 0, NULL);

    if (rc < 0) {
        if (rc != UV_ENOENT)
            log_warn("listing the root file system records in %s failed: %s", records_dir,
                     uv_strerror(rc));
        uv_fs_req_cleanup(&req);
        return;
    }
    while (uv_fs_scandir_next(&req, &entry) != UV_EOF) {
        _cleanup_error_ struct error err = ERROR_INIT;
        int removed;

        if (!rootfs_dirs_is_container_id(entry.name) || in_use(entry.name, data))
            continue;
        removed = rootfs_dirs_release(records_dir, entry.name, &err);
        if (removed < 0)
            log_warn_id("container", entry.name,
                        "removing the root file system that no container record lists failed: %s",
                        err.message);
        else if (removed > 0)
            log_info_id("container", entry.name,
                        "removed the root file system that no container record lists");
    }
    uv_fs_req_cleanup(&req);
}
