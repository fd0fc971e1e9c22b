/* content_fs.h on Linux: POSIX calls plus renameat2 and an openat-based tree removal. */
#include "images/content_fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

int content_fs_mkdir_p(const char *path, unsigned int mode)
{
    _cleanup_free_ char *copy = xstrdup(path);

    for (char *p = copy + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(copy, mode) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(copy, mode) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

int content_fs_create_temp(const char *dir, const char *prefix, char **path)
{
    char *name = xasprintf("%s/%sXXXXXX", dir, prefix);
    int fd = mkostemp(name, O_CLOEXEC);

    if (fd < 0) {
        int saved = errno;

        free(name);
        return -saved;
    }
    *path = name;
    return fd;
}

int content_fs_create_temp_dir(const char *parent, const char *prefix, char **path)
{
    char *name = xasprintf("%s/%sXXXXXX", parent, prefix);

    if (mkdtemp(name) == NULL) {
        int saved = errno;

        free(name);
        return -saved;
    }
    *path = name;
    return 0;
}

int content_fs_sync_fd(int fd)
{
    return fsync(fd) < 0 ? -errno : 0;
}

int content_fs_sync_dir(const char *path)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return -errno;
    return fsync(fd) < 0 ? -errno : 0;
}

int content_fs_make_read_only(int fd)
{
    return fchmod(fd, 0444) < 0 ? -errno : 0;
}

/* Removes every entry of the directory dir_fd; the caller removes the directory itself. */
static int remove_children(int dir_fd, dev_t device)
{
    DIR *dir;
    struct dirent *entry;
    int rc = 0;

    /* Make sure entries can be unlinked even when the layer stored the folder as 0555. */
    (void)fchmod(dir_fd, 0700);
    dir = fdopendir(dup(dir_fd));
    if (dir == NULL)
        return -errno;
    while ((entry = readdir(dir)) != NULL) {
        struct stat st;

        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        if (fstatat(dir_fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
            rc = -errno;
            break;
        }
        if (S_ISDIR(st.st_mode)) {
            int child;

            if (st.st_dev != device) {
                rc = -EXDEV;
                break;
            }
            child = openat(dir_fd, entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (child < 0) {
                rc = -errno;
                break;
            }
            rc = remove_children(child, device);
            close(child);
            if (rc < 0)
                break;
            if (unlinkat(dir_fd, entry->d_name, AT_REMOVEDIR) < 0) {
                rc = -errno;
                break;
            }
        } else if (unlinkat(dir_fd, entry->d_name, 0) < 0) {
            rc = -errno;
            break;
        }
    }
    closedir(dir);
    return rc;
}

int content_fs_remove_at(int dir_fd, const char *name)
{
    _cleanup_close_ int fd = -1;
    struct stat st;
    int rc;

    if (fstatat(dir_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlinkat(dir_fd, name, 0) < 0 ? -errno : 0;
    fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    rc = remove_children(fd, st.st_dev);
    if (rc < 0)
        return rc;
    return unlinkat(dir_fd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

int content_fs_remove_tree(const char *path)
{
    _cleanup_close_ int fd = -1;
    struct stat st;
    int rc;

    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : -errno;
    if (!S_ISDIR(st.st_mode))
        return unlink(path) < 0 ? -errno : 0;
    fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    rc = remove_children(fd, st.st_dev);
    if (rc < 0)
        return rc;
    return rmdir(path) < 0 ? -errno : 0;
}

int content_fs_rename_noreplace(const char *from, const char *to)
{
    return renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) < 0 ? -errno : 0;
}

int content_fs_rename_replace(const char *from, const char *to)
{
    return rename(from, to) < 0 ? -errno : 0;
}

int content_fs_list_dir(const char *dir_path, int (*fn)(const char *name, void *data), void *data)
{
    DIR *dir = opendir(dir_path);
    struct dirent *entry;
    int rc = 0;

    if (dir == NULL)
        return -errno;
    while (rc == 0 && (entry = readdir(dir)) != NULL) {
        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        rc = fn(entry->d_name, data);
    }
    closedir(dir);
    return rc < 0 ? rc : 0;
}
