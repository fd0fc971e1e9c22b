/*
 * layer_os.h on Linux. Paths are walked one component at a time with openat(O_NOFOLLOW |
 * O_DIRECTORY), so a symlink in a parent component fails with ELOOP and nothing outside the
 * root can be reached; the last component is handled with *at calls that do not follow it.
 */
#include "images/layer_os.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "images/content_fs.h"

#define OPAQUE_XATTR "trusted.overlay.opaque"

struct layer_os_root {
    int fd;
    /*
     * The directory of the last entry, open, because tar entries come directory by
     * directory. Only this process changes the tree, and any removal clears the cache, so
     * the cached descriptor always names the directory at cached_path.
     */
    char *cached_path;
    int cached_fd;
};

typedef void (*created_fn)(const char *path, void *data);

int layer_os_root_open(const char *dir, struct layer_os_root **out)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return -errno;
    *out = xcalloc(1, sizeof(**out));
    (*out)->fd = fd;
    (*out)->cached_fd = -1;
    return 0;
}

static void clear_cache(struct layer_os_root *root)
{
    if (root->cached_fd >= 0)
        close(root->cached_fd);
    root->cached_fd = -1;
    free(root->cached_path);
    root->cached_path = NULL;
}

void layer_os_root_close(struct layer_os_root *root)
{
    if (root == NULL)
        return;
    clear_cache(root);
    close(root->fd);
    free(root);
}

static int open_dir_at(int dir_fd, const char *name)
{
    int fd = openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

    return fd < 0 ? -errno : fd;
}

/* Creates the directory name in dir_fd as a missing parent: 0755, owned by root. */
static int make_parent_dir(int dir_fd, const char *name)
{
    int fd;

    if (mkdirat(dir_fd, name, 0755) < 0 && errno != EEXIST)
        return -errno;
    fd = open_dir_at(dir_fd, name);
    if (fd < 0)
        return fd;
    if (fchmod(fd, 0755) < 0) {
        int saved = errno;

        close(fd);
        return -saved;
    }
    return fd;
}

/* Opens the directory at dir_path; with create, makes missing components on the way. */
static int open_dir_path(const struct layer_os_root *root, const char *dir_path, bool create,
                         created_fn created, void *data)
{
    _cleanup_free_ char *copy = xstrdup(dir_path);
    /* A new open file description, not a dup: readdir on it must start at the beginning. */
    int fd = openat(root->fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    char *save = NULL;

    if (fd < 0)
        return -errno;
    for (char *name = strtok_r(copy, "/", &save); name; name = strtok_r(NULL, "/", &save)) {
        int next = open_dir_at(fd, name);

        if (next == -ENOENT && create) {
            next = make_parent_dir(fd, name);
            if (next >= 0 && created) {
                /* copy is cut at each "/" by strtok_r; rebuild the prefix from dir_path. */
                _cleanup_free_ char *prefix =
                    xstrndup(dir_path, (size_t)(name - copy) + strlen(name));

                created(prefix, data);
            }
        }
        close(fd);
        if (next < 0)
            return next;
        fd = next;
    }
    return fd;
}

/* open_dir_path through the one-entry cache; the caller closes the returned descriptor. */
static int open_dir_cached(struct layer_os_root *root, const char *dir_path, bool create,
                           created_fn created, void *data)
{
    int fd;

    if (root->cached_path == NULL || strcmp(root->cached_path, dir_path) != 0) {
        fd = open_dir_path(root, dir_path, create, created, data);
        if (fd < 0)
            return fd;
        clear_cache(root);
        root->cached_fd = fd;
        root->cached_path = xstrdup(dir_path);
    }
    fd = fcntl(root->cached_fd, F_DUPFD_CLOEXEC, 0);
    return fd < 0 ? -errno : fd;
}

/* Opens the parent directory of path and points *name at the last component inside path. */
static int open_parent(struct layer_os_root *root, const char *path, bool create,
                       created_fn created, void *data, const char **name)
{
    const char *slash = strrchr(path, '/');
    _cleanup_free_ char *parent = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");

    *name = slash ? slash + 1 : path;
    return open_dir_cached(root, parent, create, created, data);
}

/* content_fs_remove_at, which may remove the cached directory, so the cache is cleared. */
static int remove_entry(struct layer_os_root *root, int parent_fd, const char *name)
{
    clear_cache(root);
    return content_fs_remove_at(parent_fd, name);
}

static bool ignorable_xattr_error(int errnum)
{
    return errnum == EPERM || errnum == ENOTSUP || errnum == EOPNOTSUPP;
}

/* Sets the xattrs of e with fsetxattr on fd, or lsetxattr on proc_path when fd < 0. */
static int set_xattrs(int fd, const char *proc_path, const struct layer_os_entry *e)
{
    for (size_t i = 0; i < e->xattr_count; i++) {
        const struct layer_os_xattr *x = &e->xattrs[i];
        int rc = fd >= 0 ? fsetxattr(fd, x->name, x->value, x->size, 0)
                         : lsetxattr(proc_path, x->name, x->value, x->size, 0);

        if (rc == 0)
            continue;
        if (!ignorable_xattr_error(errno))
            return -errno;
        log_debug("layer entry %s: extended attribute %s skipped: %s", e->path, x->name,
                  strerror(errno));
    }
    return 0;
}

/* Owner changes fail for unprivileged unpacks (tests, rootless); only root must succeed. */
static int owner_result(int rc)
{
    if (rc == 0)
        return 0;
    if (geteuid() != 0 && (errno == EPERM || errno == EINVAL))
        return 0;
    return -errno;
}

static void fill_times(const struct layer_os_entry *e, struct timespec times[2])
{
    times[0].tv_sec = (time_t)e->atime_sec;
    times[0].tv_nsec = e->atime_nsec;
    times[1].tv_sec = (time_t)e->mtime_sec;
    times[1].tv_nsec = e->mtime_nsec;
}

/* Owner, then mode (chown clears setuid bits), xattrs, and times when set_times. */
static int apply_fd_metadata(int fd, const struct layer_os_entry *e, bool set_times)
{
    struct timespec times[2];
    int rc = owner_result(fchown(fd, (uid_t)e->uid, (gid_t)e->gid));

    if (rc < 0)
        return rc;
    if (fchmod(fd, e->mode & 07777) < 0)
        return -errno;
    rc = set_xattrs(fd, NULL, e);
    if (rc < 0 || !set_times)
        return rc;
    fill_times(e, times);
    return futimens(fd, times) < 0 ? -errno : 0;
}

/* The same for entries that cannot be opened safely: symlinks, devices, FIFOs. */
static int apply_path_metadata(int parent_fd, const char *name, const struct layer_os_entry *e)
{
    char proc_path[64 + 256];
    struct timespec times[2];
    int rc =
        owner_result(fchownat(parent_fd, name, (uid_t)e->uid, (gid_t)e->gid, AT_SYMLINK_NOFOLLOW));

    if (rc < 0)
        return rc;
    if (e->type != LAYER_OS_SYMLINK && fchmodat(parent_fd, name, e->mode & 07777, 0) < 0)
        return -errno;
    snprintf(proc_path, sizeof(proc_path), "/proc/self/fd/%d/%s", parent_fd, name);
    rc = set_xattrs(-1, proc_path, e);
    if (rc < 0)
        return rc;
    fill_times(e, times);
    return utimensat(parent_fd, name, times, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static int create_dir(int parent_fd, const char *name, const struct layer_os_entry *e, bool exists)
{
    _cleanup_close_ int fd = -1;

    if (!exists && mkdirat(parent_fd, name, 0700) < 0)
        return -errno;
    fd = open_dir_at(parent_fd, name);
    if (fd < 0)
        return fd;
    return apply_fd_metadata(fd, e, false);
}

static int create_hardlink(struct layer_os_root *root, int parent_fd, const char *name,
                           const struct layer_os_entry *e)
{
    const char *target_name;
    _cleanup_close_ int target_parent =
        open_parent(root, e->link_target, false, NULL, NULL, &target_name);

    if (target_parent < 0)
        return target_parent;
    /* Flags 0: a symlink target is linked itself, never followed. */
    if (linkat(target_parent, target_name, parent_fd, name, 0) < 0)
        return -errno;
    return 0;
}

static int create_node(int parent_fd, const char *name, const struct layer_os_entry *e)
{
    mode_t type = e->type == LAYER_OS_CHAR    ? S_IFCHR
                  : e->type == LAYER_OS_BLOCK ? S_IFBLK
                                              : S_IFIFO;
    dev_t dev = e->type == LAYER_OS_FIFO ? 0 : makedev(e->dev_major, e->dev_minor);

    if (mknodat(parent_fd, name, type | 0600, dev) < 0)
        return -errno;
    return apply_path_metadata(parent_fd, name, e);
}

static int create_in_parent(struct layer_os_root *root, int parent_fd, const char *name,
                            const struct layer_os_entry *e, int *fd)
{
    struct stat st;
    bool exists = fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
    int rc;

    if (exists && !(e->type == LAYER_OS_DIR && S_ISDIR(st.st_mode))) {
        rc = remove_entry(root, parent_fd, name);
        if (rc < 0)
            return rc;
        exists = false;
    }
    switch (e->type) {
    case LAYER_OS_FILE:
        *fd = openat(parent_fd, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        return *fd < 0 ? -errno : 0;
    case LAYER_OS_DIR:
        return create_dir(parent_fd, name, e, exists);
    case LAYER_OS_SYMLINK:
        if (symlinkat(e->link_target, parent_fd, name) < 0)
            return -errno;
        return apply_path_metadata(parent_fd, name, e);
    case LAYER_OS_HARDLINK:
        return create_hardlink(root, parent_fd, name, e);
    default:
        return create_node(parent_fd, name, e);
    }
}

int layer_os_create(struct layer_os_root *root, const struct layer_os_entry *e, int *fd,
                    created_fn created, void *data)
{
    _cleanup_close_ int parent_fd = -1;
    const char *name;

    *fd = -1;
    if (e->path[0] == '\0')
        return e->type == LAYER_OS_DIR ? apply_fd_metadata(root->fd, e, false) : -EISDIR;
    parent_fd = open_parent(root, e->path, true, created, data, &name);
    if (parent_fd < 0)
        return parent_fd;
    return create_in_parent(root, parent_fd, name, e, fd);
}

int layer_os_file_write(int fd, const void *data, size_t length, int64_t offset)
{
    const char *p = data;

    while (length > 0) {
        ssize_t n = pwrite(fd, p, length, (off_t)offset);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        p += n;
        length -= (size_t)n;
        offset += n;
    }
    return 0;
}

int layer_os_file_finish(int fd, const struct layer_os_entry *e, int64_t size)
{
    int rc = ftruncate(fd, (off_t)size) < 0 ? -errno : 0;

    if (rc == 0)
        rc = apply_fd_metadata(fd, e, true);
    close(fd);
    return rc;
}

int layer_os_set_times(struct layer_os_root *root, const char *path, const struct layer_os_entry *e)
{
    _cleanup_close_ int parent_fd = -1;
    struct timespec times[2];
    const char *name;

    fill_times(e, times);
    if (path[0] == '\0')
        return futimens(root->fd, times) < 0 ? -errno : 0;
    parent_fd = open_parent(root, path, false, NULL, NULL, &name);
    if (parent_fd < 0)
        return parent_fd;
    return utimensat(parent_fd, name, times, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

int layer_os_whiteout(struct layer_os_root *root, const char *path, int64_t uid, int64_t gid,
                      bool *kept, created_fn created, void *data)
{
    const char *name;
    _cleanup_close_ int parent_fd = open_parent(root, path, true, created, data, &name);
    struct stat st;

    *kept = false;
    if (parent_fd < 0)
        return parent_fd;
    if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
        *kept = true;
        return 0;
    }
    if (mknodat(parent_fd, name, S_IFCHR, makedev(0, 0)) < 0)
        return -errno;
    return owner_result(fchownat(parent_fd, name, (uid_t)uid, (gid_t)gid, AT_SYMLINK_NOFOLLOW));
}

int layer_os_set_opaque(struct layer_os_root *root, const char *dir_path, created_fn created,
                        void *data)
{
    _cleanup_close_ int fd = open_dir_path(root, dir_path, true, created, data);

    if (fd < 0)
        return fd;
    return fsetxattr(fd, OPAQUE_XATTR, "y", 1, 0) < 0 ? -errno : 0;
}

int layer_os_remove(struct layer_os_root *root, const char *path)
{
    const char *name;
    _cleanup_close_ int parent_fd = open_parent(root, path, false, NULL, NULL, &name);

    if (parent_fd == -ENOENT || parent_fd == -ENOTDIR)
        return 0;
    if (parent_fd < 0)
        return parent_fd;
    return remove_entry(root, parent_fd, name);
}

int layer_os_list(struct layer_os_root *root, const char *dir_path,
                  void (*fn)(const char *name, bool is_dir, void *data), void *data)
{
    int fd = open_dir_path(root, dir_path, false, NULL, NULL);
    DIR *dir;
    struct dirent *entry;

    if (fd == -ENOENT || fd == -ENOTDIR)
        return 0;
    if (fd < 0)
        return fd;
    dir = fdopendir(fd);
    if (dir == NULL) {
        int saved = errno;

        close(fd);
        return -saved;
    }
    while ((entry = readdir(dir)) != NULL) {
        struct stat st;

        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        if (fstatat(fd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue;
        fn(entry->d_name, S_ISDIR(st.st_mode), data);
    }
    closedir(dir);
    return 0;
}

int layer_os_sync(const char *path)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return -errno;
    return syncfs(fd) < 0 ? -errno : 0;
}
