#include "runtime/linux/rootfs.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sched.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "common/log.h"
#include "common/strbuf.h"
#include "common/util.h"

extern char **environ;

/* Creates dir and its missing parents with mode 0755. */
static int make_dirs(const char *dir, struct error *err)
{
    _cleanup_free_ char *copy = xstrdup(dir);

    for (char *slash = strchr(copy + 1, '/');; slash = strchr(slash + 1, '/')) {
        if (slash != NULL)
            *slash = '\0';
        if (mkdir(copy, 0755) < 0 && errno != EEXIST)
            return error_set_errno(err, ERROR_INTERNAL, errno, "create directory %s", copy);
        if (slash == NULL)
            return 0;
        *slash = '/';
    }
}

static void append_escaped(struct strbuf *out, const char *path)
{
    for (const char *c = path; *c != '\0'; c++) {
        if (*c == ':' || *c == ',' || *c == '\\')
            strbuf_append_char(out, '\\');
        strbuf_append_char(out, *c);
    }
}

char *rootfs_overlay_options(char *const *layers, const char *upper, const char *work)
{
    struct strbuf out = STRBUF_INIT;
    size_t n = strv_length(layers);

    strbuf_append_str(&out, "lowerdir=");
    for (size_t i = n; i-- > 0;) {
        append_escaped(&out, layers[i]);
        if (i > 0)
            strbuf_append_char(&out, ':');
    }
    strbuf_append_str(&out, ",upperdir=");
    append_escaped(&out, upper);
    strbuf_append_str(&out, ",workdir=");
    append_escaped(&out, work);
    return strbuf_steal(&out);
}

/* ---- Copy fallback ------------------------------------------------------------------------- */

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    remove(path);
    return 0;
}

static void remove_tree(const char *path)
{
    nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* The target tree and the layer being applied, for the nftw callbacks below. */
static const char *whiteout_target;
static size_t whiteout_layer_length;

/* Applies the whiteouts of one layer entry (".wh.<name>", a 0:0 character device, or an
 * opaque directory) to the target tree, before the layer is copied over it. */
static int apply_whiteout(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    const char *relative = path + whiteout_layer_length;
    const char *name = path + ftw->base;
    _cleanup_free_ char *parent = NULL;
    char opaque[2] = {0};

    if (ftw->level == 0)
        return 0;
    parent = xstrndup(relative, (size_t)(name - relative));

    if (strcmp(name, ".wh..wh..opq") == 0 ||
        (type == FTW_D && getxattr(path, "trusted.overlay.opaque", opaque, 1) == 1 &&
         opaque[0] == 'y')) {
        _cleanup_free_ char *dir =
            xasprintf("%s/%s", whiteout_target, type == FTW_D ? relative : parent);

        remove_tree(dir);
    } else if (str_has_prefix(name, ".wh.")) {
        _cleanup_free_ char *victim = xasprintf("%s/%s%s", whiteout_target, parent, name + 4);

        remove_tree(victim);
    } else if (S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0)) {
        _cleanup_free_ char *victim = xasprintf("%s/%s", whiteout_target, relative);

        remove_tree(victim);
    }
    return 0;
}

/* Removes the whiteout markers that the copy brought into the target tree. */
static int remove_marker(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    const char *name = path + ftw->base;

    if (str_has_prefix(name, ".wh.") || (S_ISCHR(st->st_mode) && st->st_rdev == makedev(0, 0)))
        remove_tree(path);
    return 0;
}

static int run_copy(const char *layer, const char *target, struct error *err)
{
    _cleanup_free_ char *source = xasprintf("%s/.", layer);
    char *argv[] = {"cp", "-a", "--reflink=auto", source, (char *)target, NULL};
    pid_t pid;
    int status = 0;
    int rc = posix_spawnp(&pid, "cp", NULL, NULL, argv, environ);

    if (rc != 0)
        return error_set_errno(err, ERROR_INTERNAL, rc, "run cp for layer %s", layer);
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return error_set(err, ERROR_INTERNAL, "copy layer %s to %s failed", layer, target);
    return 0;
}

int rootfs_copy_layers(char *const *layers, const char *target, struct error *err)
{
    _cleanup_free_ char *done = xasprintf("%s.done", target);

    if (access(done, F_OK) == 0)
        return 0;
    remove_tree(target);
    if (make_dirs(target, err) < 0)
        return -1;
    for (size_t i = 0; layers != NULL && layers[i] != NULL; i++) {
        whiteout_target = target;
        whiteout_layer_length = strlen(layers[i]);
        nftw(layers[i], apply_whiteout, 16, FTW_PHYS);
        if (run_copy(layers[i], target, err) < 0)
            return -1;
        nftw(target, remove_marker, 16, FTW_PHYS);
    }
    return monitor_write_atomic(done, "", 0, err);
}

/* ---- Mounting ------------------------------------------------------------------------------ */

static int bind_mount(const char *source, const char *target, bool readonly, struct error *err)
{
    if (mount(source, target, NULL, MS_BIND | MS_REC, NULL) < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "bind %s at %s", source, target);
    if (readonly && mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "make %s read-only", target);
    return 0;
}

static int mount_rootfs(const struct monitor_spec *spec, const char *mount_point, struct error *err)
{
    _cleanup_free_ char *upper = xasprintf("%s/upper", spec->container_dir);
    _cleanup_free_ char *work = xasprintf("%s/work", spec->container_dir);
    _cleanup_free_ char *empty = xasprintf("%s/empty", spec->container_dir);
    _cleanup_free_ char *copy = xasprintf("%s/rootfs", spec->container_dir);
    _cleanup_free_ char *options = NULL;
    char *no_layers[] = {empty, NULL};
    char *const *layers = spec->layers != NULL ? spec->layers : no_layers;
    unsigned long flags = spec->readonly_rootfs ? MS_RDONLY : 0;

    if (make_dirs(upper, err) < 0 || make_dirs(work, err) < 0 || make_dirs(empty, err) < 0)
        return -1;
    options = rootfs_overlay_options(layers, upper, work);
    /* NOTE: mount data is limited to one page, so very deep images (dozens of layers with long
     * paths) would need the fsconfig "lowerdir+" interface of newer kernels. */
    if (mount("overlay", mount_point, "overlay", flags, options) == 0)
        return 0;
    log_warn("mount overlayfs at %s failed (%s); copying the layers into %s instead", mount_point,
             strerror(errno), copy);
    if (rootfs_copy_layers(spec->layers, copy, err) < 0)
        return -1;
    return bind_mount(copy, mount_point, spec->readonly_rootfs, err);
}

static unsigned long propagation_flags(enum job_propagation propagation)
{
    switch (propagation) {
    case JOB_PROPAGATION_HOST_TO_CONTAINER:
        return MS_REC | MS_SLAVE;
    case JOB_PROPAGATION_BIDIRECTIONAL:
        return MS_REC | MS_SHARED;
    case JOB_PROPAGATION_PRIVATE:
        break;
    }
    return MS_REC | MS_PRIVATE;
}

/* Creates the mount point of a volume on the host: a directory, or an empty file for a file. */
static int make_mount_point(const char *source, const char *target, struct error *err)
{
    struct stat st;
    _cleanup_free_ char *parent = xstrdup(target);
    char *slash = strrchr(parent, '/');
    int fd;

    if (stat(source, &st) < 0)
        return error_set_errno(err, errno == ENOENT ? ERROR_NOT_FOUND : ERROR_INTERNAL, errno,
                               "volume source %s", source);
    if (S_ISDIR(st.st_mode))
        return make_dirs(target, err);
    if (slash != NULL && slash != parent) {
        *slash = '\0';
        if (make_dirs(parent, err) < 0)
            return -1;
    }
    fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 && errno != EISDIR)
        return error_set_errno(err, ERROR_INTERNAL, errno, "create mount point %s", target);
    if (fd >= 0)
        close(fd);
    return 0;
}

/* Links <mount point>/<container path> to the container path, best effort, so that paths
 * under $CONTAINER_SANDBOX_MOUNT_POINT reach the volume too. */
static void link_under_rootfs(const char *mount_point, const char *container_path)
{
    _cleanup_free_ char *link_path = xasprintf("%s%s", mount_point, container_path);
    _cleanup_free_ char *parent = xstrdup(link_path);
    char *slash = strrchr(parent, '/');

    if (str_has_prefix(container_path, mount_point))
        return;
    if (slash != NULL) {
        *slash = '\0';
        make_dirs(parent, NULL);
    }
    if (symlink(container_path, link_path) < 0 && errno != EEXIST)
        log_debug("link %s to %s: %s", link_path, container_path, strerror(errno));
}

static int depth(const char *path)
{
    int n = 0;

    for (; *path != '\0'; path++)
        n += *path == '/';
    return n;
}

static int compare_depth(const void *a, const void *b)
{
    const struct monitor_mount *left = *(const struct monitor_mount *const *)a;
    const struct monitor_mount *right = *(const struct monitor_mount *const *)b;

    return depth(left->container_path) - depth(right->container_path);
}

/* Finds the mountinfo line of mount_id in the calling process's mount namespace and sets *shared
 * and *slave from its optional fields (shared:N and master:N). Returns -1 when it is missing. */
static int mount_propagation(uint64_t mount_id, bool *shared, bool *slave)
{
    FILE *mountinfo = fopen("/proc/self/mountinfo", "re");
    char *line = NULL;
    size_t size = 0;
    int rc = -1;

    if (mountinfo == NULL)
        return -1;
    while (getline(&line, &size, mountinfo) > 0) {
        char *separator = strstr(line, " - ");

        if (strtoull(line, NULL, 10) != mount_id || separator == NULL)
            continue;
        /* Paths in mountinfo escape spaces as \040, so " shared:" is only an optional field. */
        *separator = '\0';
        *shared = strstr(line, " shared:") != NULL;
        *slave = strstr(line, " master:") != NULL;
        rc = 0;
        break;
    }
    free(line);
    fclose(mountinfo);
    return rc;
}

/*
 * Warns about a volume whose propagation cannot work with the mount its source is on: no mount
 * event crosses a private mount, so a bidirectional volume needs a shared source mount and a
 * host-to-container one a shared or slave mount. Such a volume still starts, with the
 * propagation that its source mount allows. The check is skipped where the kernel (before 5.8)
 * does not report mount ids through statx.
 * NOTE: containerd rejects a bidirectional volume whose source is not on a shared mount.
 * hostcri accepts it, because on a host whose mounts are all private (no systemd) every such
 * container would fail otherwise.
 */
static int check_source_propagation(const struct monitor_mount *volume, struct error *err)
{
    struct statx stx;
    bool shared = false;
    bool slave = false;

    if (volume->propagation == JOB_PROPAGATION_PRIVATE)
        return 0;
    if (statx(AT_FDCWD, volume->host_path, 0, STATX_MNT_ID, &stx) < 0)
        return error_set_errno(err, errno == ENOENT ? ERROR_NOT_FOUND : ERROR_INTERNAL, errno,
                               "volume source %s", volume->host_path);
    if (!(stx.stx_mask & STATX_MNT_ID) || mount_propagation(stx.stx_mnt_id, &shared, &slave) < 0)
        return 0;
    if (volume->propagation == JOB_PROPAGATION_BIDIRECTIONAL && !shared)
        log_warn("volume source %s is not on a shared mount, so mounts made under %s in the "
                 "container do not reach the host; make its mount shared (mount --make-shared) "
                 "for bidirectional propagation",
                 volume->host_path, volume->container_path);
    else if (!shared && !slave)
        log_warn("volume source %s is on a private mount, so no mount made on the host after "
                 "the start reaches %s; make its mount shared (mount --make-shared) for "
                 "host-to-container propagation",
                 volume->host_path, volume->container_path);
    return 0;
}

/* The clones of the bidirectional volumes' source trees, indexed like spec->mounts (-1 for
 * the other volumes). */
struct volume_clones {
    int *fds;
    size_t n;
};

static void volume_clones_close(struct volume_clones *clones)
{
    for (size_t i = 0; i < clones->n; i++) {
        if (clones->fds[i] >= 0)
            close(clones->fds[i]);
    }
    free(clones->fds);
    clones->fds = NULL;
    clones->n = 0;
}

/*
 * Checks the source mount of each volume that propagates, and clones the source tree of each
 * bidirectional volume. This must run before / becomes a slave: a clone of a shared mount joins
 * its peer group, so mounts made later under the volume reach the host and the host's reach the
 * volume. A bind made after that would be a slave, which sends nothing back.
 */
static int prepare_volume_sources(const struct monitor_spec *spec, struct volume_clones *clones,
                                  struct error *err)
{
    clones->fds = xcalloc(spec->n_mounts + 1, sizeof(*clones->fds));
    for (size_t i = 0; i < spec->n_mounts; i++)
        clones->fds[i] = -1;
    clones->n = spec->n_mounts;
    for (size_t i = 0; i < spec->n_mounts; i++) {
        const struct monitor_mount *volume = &spec->mounts[i];

        if (check_source_propagation(volume, err) < 0)
            return -1;
        if (volume->propagation != JOB_PROPAGATION_BIDIRECTIONAL)
            continue;
        clones->fds[i] = open_tree(AT_FDCWD, volume->host_path,
                                   OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
        if (clones->fds[i] >= 0)
            continue;
        /* ENOSYS on kernels before 5.2. The volume is then bound like the others, so it is
         * shared only inside the container; a source that cannot be bound fails there. */
        log_warn("volume %s: cloning its mount tree failed (%s), so mounts made in the container "
                 "under %s do not reach the host",
                 volume->host_path, strerror(errno), volume->container_path);
    }
    return 0;
}

/* Makes the volume's bind and every mount under it read-only in one step (Linux 5.12+). */
static int make_recursive_readonly(const struct monitor_mount *volume, struct error *err)
{
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};

    if (mount_setattr(AT_FDCWD, volume->container_path, AT_RECURSIVE, &attr, sizeof(attr)) == 0)
        return 0;
    if (errno == ENOSYS)
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "volume %s: recursive read-only mounts need mount_setattr (Linux 5.12 or "
                         "later), which this kernel lacks; clear recursive_read_only (the "
                         "kubelet's recursiveReadOnly: IfPossible does that)",
                         volume->container_path);
    return error_set_errno(err, ERROR_INTERNAL, errno, "make %s read-only recursively",
                           volume->container_path);
}

/* Attaches volume at its container path: the clone made by prepare_volume_sources when
 * clone is not -1, else a new recursive bind of the source. */
static int mount_volume(const struct monitor_mount *volume, int clone, struct error *err)
{
    const char *target = volume->container_path;

    if (target == NULL || target[0] != '/')
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "volume container path \"%s\" is not absolute", target ? target : "");
    if (make_mount_point(volume->host_path, target, err) < 0)
        return -1;
    if (clone < 0) {
        if (bind_mount(volume->host_path, target, volume->readonly, err) < 0)
            return -1;
    } else {
        if (move_mount(clone, "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
            return error_set_errno(err, ERROR_INTERNAL, errno, "attach %s at %s", volume->host_path,
                                   target);
        if (volume->readonly &&
            mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
            return error_set_errno(err, ERROR_INTERNAL, errno, "make %s read-only", target);
    }
    if (mount(NULL, target, NULL, propagation_flags(volume->propagation), NULL) < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "set propagation of %s", target);
    if (volume->recursive_readonly)
        return make_recursive_readonly(volume, err);
    return 0;
}

static int mount_volumes(const struct monitor_spec *spec, const char *mount_point,
                         const struct volume_clones *clones, struct error *err)
{
    _cleanup_free_ const struct monitor_mount **order = xcalloc(spec->n_mounts + 1, sizeof(*order));

    for (size_t i = 0; i < spec->n_mounts; i++)
        order[i] = &spec->mounts[i];
    /* Parents before children, so that a nested volume is not hidden by its parent's bind. */
    qsort(order, spec->n_mounts, sizeof(*order), compare_depth);
    for (size_t i = 0; i < spec->n_mounts; i++) {
        if (mount_volume(order[i], clones->fds[order[i] - spec->mounts], err) < 0)
            return -1;
        if (mount_point != NULL && !spec->readonly_rootfs)
            link_under_rootfs(mount_point, order[i]->container_path);
    }
    return 0;
}

int rootfs_setup(const struct monitor_spec *spec, struct error *err)
{
    const char *mount_point = spec->mount_point ? spec->mount_point : "/hpc";
    bool has_rootfs = spec->container_dir != NULL;
    __attribute__((cleanup(volume_clones_close))) struct volume_clones clones = {0};

    if (unshare(CLONE_NEWNS) < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "create a mount namespace");
    if (prepare_volume_sources(spec, &clones, err) < 0)
        return error_prefix(err, "mount volumes");
    if (mount(NULL, "/", NULL, MS_REC | MS_SLAVE, NULL) < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "make / a slave mount");
    if (has_rootfs) {
        if (make_dirs(mount_point, err) < 0 || mount_rootfs(spec, mount_point, err) < 0)
            return error_prefix(err, "mount the rootfs at %s", mount_point);
    }
    if (mount_volumes(spec, has_rootfs ? mount_point : NULL, &clones, err) < 0)
        return error_prefix(err, "mount volumes");
    return 0;
}
