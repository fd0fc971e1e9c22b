/* The Windows HostProcess rules of CreateContainer, StartContainer and RemoveContainer. */

#include "runtime/container_hostprocess.h"

#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/runtime_internal.h"
#include "runtime/spec.h"
#include "runtime/spec_hostprocess.h"

/* The whiteout names of an OCI layer: ".wh.<name>" deletes name, the opaque one a directory's
 * lower content. */
#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"

char *container_hostprocess_mount_point(const char *root, const char *container_id)
{
    if (CONTAINER_HOSTPROCESS_RULES)
        return spec_hostprocess_rootfs_dir(root, container_id);
    return xstrdup(root);
}

int container_hostprocess_check_config(const Runtime__V1__ContainerConfig *config,
                                       struct error *err)
{
    const Runtime__V1__WindowsContainerSecurityContext *sc =
        config->windows ? config->windows->security_context : NULL;

    if (sc && sc->host_process)
        return 0;
    return error_set(err, ERROR_INVALID_ARGUMENT,
                     "container %s is not a HostProcess container: hostcri runs only HostProcess "
                     "containers on Windows, so set windows.security_context.host_process "
                     "(securityContext.windowsOptions.hostProcess: true)",
                     config->metadata && config->metadata->name ? config->metadata->name : "");
}

int container_hostprocess_check_mount(const Runtime__V1__Mount *mount, struct error *err)
{
    if (spec_hostprocess_is_named_pipe(mount->host_path))
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "mount host path \"%s\" is a named pipe, which HostProcess containers "
                         "cannot mount: open the pipe by its name from the container instead",
                         mount->host_path);
    if (CONTAINER_HOSTPROCESS_RULES)
        return spec_hostprocess_check_mount_destination(mount->container_path, err);
    if (mount->container_path[0] != '/')
        return error_set(err, ERROR_INVALID_ARGUMENT, "mount container_path \"%s\" is not absolute",
                         mount->container_path);
    return 0;
}

/* The Windows directory, from the daemon's environment. */
static const char *system_root(void)
{
    const char *value = getenv("SystemRoot");

    return str_empty(value) ? "C:\\Windows" : value;
}

void container_hostprocess_finish_env(char ***env, const char *mount_point,
                                      const char *default_path)
{
    _cleanup_free_ char *with_separator = NULL;

    if (CONTAINER_HOSTPROCESS_RULES) {
        spec_hostprocess_finish_env(env, mount_point, NULL, system_root());
        return;
    }
    with_separator = xasprintf("%s/", mount_point);
    spec_extend_path(env, mount_point, default_path);
    spec_env_set(env, SPEC_MOUNT_POINT_VARIABLE, with_separator);
}

/* ---- Root file system ------------------------------------------------------------------- */

static int lstat_mode(const char *path, int *mode)
{
    uv_fs_t req;
    int rc = uv_fs_lstat(NULL, &req, path, NULL);

    *mode = rc == 0 ? (int)(req.statbuf.st_mode & S_IFMT) : 0;
    uv_fs_req_cleanup(&req);
    return rc;
}

static bool is_directory(const char *path)
{
    int mode;

    return lstat_mode(path, &mode) == 0 && mode == S_IFDIR;
}

static int make_dir(const char *path, struct error *err)
{
    uv_fs_t req;
    int mode;
    int rc;

    if (lstat_mode(path, &mode) == 0) {
        if (mode == S_IFDIR)
            return 0;
        if (runtime_remove_tree(path, err) < 0)
            return -1;
    }
    rc = uv_fs_mkdir(NULL, &req, path, 0755, NULL);
    uv_fs_req_cleanup(&req);
    if (rc < 0 && rc != UV_EEXIST)
        return error_set(err, ERROR_INTERNAL, "create directory %s: %s", path, uv_strerror(rc));
    return 0;
}

static int copy_link(const char *from, const char *to, struct error *err)
{
    uv_fs_t req;
    int rc = uv_fs_readlink(NULL, &req, from, NULL);
    _cleanup_free_ char *target = rc == 0 ? xstrdup(req.ptr) : NULL;

    uv_fs_req_cleanup(&req);
    if (rc < 0)
        return error_set(err, ERROR_INTERNAL, "read link %s: %s", from, uv_strerror(rc));
    rc = uv_fs_symlink(NULL, &req, target, to, 0, NULL);
    uv_fs_req_cleanup(&req);
    if (rc < 0)
        log_warn("skipped link %s -> %s of the image: %s", to, target, uv_strerror(rc));
    return 0;
}

static int copy_tree(const char *from, const char *to, struct error *err);

static int copy_entry(const char *from, const char *to, const char *name, struct error *err)
{
    _cleanup_free_ char *source = xasprintf("%s/%s", from, name);
    _cleanup_free_ char *target = NULL;
    uv_fs_t req;
    int mode;
    int rc;

    if (strcmp(name, WHITEOUT_OPAQUE) == 0)
        return 0;
    if (strncmp(name, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)) == 0) {
        target = xasprintf("%s/%s", to, name + strlen(WHITEOUT_PREFIX));
        return runtime_remove_tree(target, err);
    }
    target = xasprintf("%s/%s", to, name);
    rc = lstat_mode(source, &mode);
    if (rc < 0)
        return error_set(err, ERROR_INTERNAL, "inspect %s: %s", source, uv_strerror(rc));
    if (mode == S_IFDIR)
        return make_dir(target, err) < 0 ? -1 : copy_tree(source, target, err);
    /* A lower layer's entry goes first: CopyFileW cannot replace a read-only file, and libuv's
     * unlink clears that attribute. */
    if (runtime_remove_tree(target, err) < 0)
        return -1;
    if (mode == S_IFLNK)
        return copy_link(source, target, err);
    rc = uv_fs_copyfile(NULL, &req, source, target, 0, NULL);
    uv_fs_req_cleanup(&req);
    if (rc < 0)
        return error_set(err, ERROR_INTERNAL, "copy %s to %s: %s", source, target, uv_strerror(rc));
    return 0;
}

/* Copies the content of directory from into directory to, applying the layer's whiteouts. */
static int copy_tree(const char *from, const char *to, struct error *err)
{
    _cleanup_free_ char *opaque = xasprintf("%s/%s", from, WHITEOUT_OPAQUE);
    uv_fs_t req;
    uv_dirent_t entry;
    int mode;
    int rc;

    if (lstat_mode(opaque, &mode) == 0 &&
        (runtime_remove_tree(to, err) < 0 || make_dir(to, err) < 0))
        return -1;
    rc = uv_fs_scandir(NULL, &req, from, 0, NULL);
    if (rc < 0) {
        uv_fs_req_cleanup(&req);
        return error_set(err, ERROR_INTERNAL, "list directory %s: %s", from, uv_strerror(rc));
    }
    while (uv_fs_scandir_next(&req, &entry) != UV_EOF) {
        if (copy_entry(from, to, entry.name, err) < 0) {
            uv_fs_req_cleanup(&req);
            return -1;
        }
    }
    uv_fs_req_cleanup(&req);
    return 0;
}

/*
 * Copies one unpacked layer. The images code unpacks a Windows layer's Files/ folder as the
 * layer directory itself (images/layer_os.h), so every layer directory is root content.
 */
static int copy_layer(const char *layer, const char *mount_point, struct error *err)
{
    if (copy_tree(layer, mount_point, err) < 0)
        return error_prefix(err, "copy layer %s", layer);
    return 0;
}

int container_hostprocess_copy_layers(const char *mount_point, const char *const *layers,
                                      struct error *err)
{
    if (runtime_make_dirs(mount_point, 0755, err) < 0)
        return error_prefix(err, "create the root file system");
    for (size_t i = 0; layers && layers[i]; i++) {
        if (copy_layer(layers[i], mount_point, err) < 0)
            return -1;
    }
    return 0;
}

/*
 * Links path to target: a directory gets a junction, which needs no privilege, else a directory
 * symbolic link; a file gets a file symbolic link. The link must exist afterwards, because
 * Wine 8 reports success for symbolic links that it does not create.
 */
static int make_link(const char *target, const char *path)
{
    bool directory = is_directory(target);
    uv_fs_t req;
    int mode;
    int rc = uv_fs_symlink(NULL, &req, target, path,
                           directory ? UV_FS_SYMLINK_DIR | UV_FS_SYMLINK_JUNCTION : 0, NULL);

    uv_fs_req_cleanup(&req);
    if (rc < 0 && directory) {
        rc = uv_fs_symlink(NULL, &req, target, path, UV_FS_SYMLINK_DIR, NULL);
        uv_fs_req_cleanup(&req);
    }
    if (rc == 0 && lstat_mode(path, &mode) < 0)
        return UV_ENOTSUP;
    return rc;
}

static int link_mount(const char *mount_point, const struct process_mount *mount, struct error *err)
{
    _cleanup_free_ char *link = spec_hostprocess_mount_link(mount_point, mount->container_path);
    char *last = strrchr(link, '\\');
    int rc;

    if (last && last > link) {
        *last = '\0';
        rc = runtime_make_dirs(link, 0755, err);
        *last = '\\';
        if (rc < 0)
            return -1;
    }
    if (runtime_remove_tree(link, err) < 0)
        return -1;
    rc = make_link(mount->host_path, link);
    if (rc < 0)
        return error_set(err, ERROR_INTERNAL,
                         "link mount %s at %s: %s (this system creates neither a junction nor a "
                         "symbolic link there)",
                         mount->host_path, link, uv_strerror(rc));
    return 0;
}

static bool is_regular_file(const char *path, void *data)
{
    uv_fs_t req;
    int rc = uv_fs_stat(NULL, &req, path, NULL);
    bool regular = rc == 0 && (req.statbuf.st_mode & S_IFMT) == S_IFREG;

    uv_fs_req_cleanup(&req);
    return regular;
}

/*
 * Returns process->env followed by the PATH that a container without one gets at start. That
 * PATH extends the Path of the user's default environment (winenv_merge), which only the job
 * backend reads, after its logon, so the daemon's own Path stands in for it here. A PATH of the
 * container comes first, and the lookup takes the first PATH in any case. Caller frees.
 * NOTE: a program found only through the user's own Path, not the daemon's, is reported
 * missing.
 */
static char **lookup_env(const struct container_process *process, const char *mount_point)
{
    size_t length = strv_length(process->env);
    char **env = spec_strv_copy(process->env, length);
    const char *own_path = getenv("PATH");
    _cleanup_free_ char *path =
        spec_hostprocess_extend_path(own_path ? own_path : "", mount_point, system_root());

    env = xrealloc(env, (length + 2) * sizeof(char *));
    env[length] = xasprintf("PATH=%s", path);
    env[length + 1] = NULL;
    return env;
}

static int resolve_program(const char *mount_point, struct container_process *process,
                           struct error *err)
{
    _cleanup_strv_ char **env = lookup_env(process, mount_point);
    char *program;

    if (spec_hostprocess_find_program(process->argv[0], process->working_dir, mount_point, env,
                                      system_root(), is_regular_file, NULL, &program, err) < 0)
        return -1;
    free(process->argv[0]);
    process->argv[0] = program;
    return 0;
}

int container_hostprocess_prepare_start(const char *mount_point, struct container_process *process,
                                        struct error *err)
{
    if (!CONTAINER_HOSTPROCESS_RULES)
        return 0;
    for (size_t i = 0; i < process->n_mounts; i++) {
        if (link_mount(mount_point, &process->mounts[i], err) < 0)
            return -1;
    }
    if (process->working_dir && runtime_make_dirs(process->working_dir, 0700, err) < 0)
        return error_prefix(err, "create the working directory");
    return resolve_program(mount_point, process, err);
}

/* ---- The copy on the thread pool ----------------------------------------------------------- */

/* A copy of a container's layers in progress. */
struct copy_op {
    uv_work_t work;
    struct container *container; /* NULL once container_hostprocess_forget ran */
    char *mount_point;
    char **layers;
    int rc;
    struct error err;
    container_hostprocess_copy_cb cb;
    struct copy_op *next;
};

/* The copies in progress, so that a freed container is never called back. Loop thread only. */
static struct copy_op *pending_copies;

static void copy_work_cb(uv_work_t *work)
{
    struct copy_op *op = work->data;

    op->rc = container_hostprocess_copy_layers(op->mount_point, (const char *const *)op->layers,
                                               &op->err);
}

static void copy_done_cb(uv_work_t *work, int status)
{
    struct copy_op *op = work->data;

    for (struct copy_op **link = &pending_copies; *link; link = &(*link)->next) {
        if (*link == op) {
            *link = op->next;
            break;
        }
    }
    if (op->container && status == UV_ECANCELED)
        error_set(&op->err, ERROR_CANCELLED, "the copy of the image's files was cancelled");
    if (op->container)
        op->cb(op->container, op->rc < 0 || status < 0 ? &op->err : NULL);
    error_clear(&op->err);
    free(op->mount_point);
    strv_free(op->layers);
    free(op);
}

int container_hostprocess_copy_start(uv_loop_t *loop, struct container *container,
                                     const char *mount_point, const char *const *layers,
                                     container_hostprocess_copy_cb cb, struct error *err)
{
    struct copy_op *op = xcalloc(1, sizeof(*op));
    int rc;

    op->container = container;
    op->mount_point = xstrdup(mount_point);
    op->layers = spec_strv_copy((char *const *)layers, strv_length((char *const *)layers));
    op->cb = cb;
    op->work.data = op;
    rc = uv_queue_work(loop, &op->work, copy_work_cb, copy_done_cb);
    if (rc < 0) {
        free(op->mount_point);
        strv_free(op->layers);
        free(op);
        return error_set(err, ERROR_INTERNAL, "copy the image's files to %s: %s", mount_point,
                         uv_strerror(rc));
    }
    op->next = pending_copies;
    pending_copies = op;
    return 0;
}

void container_hostprocess_forget(const struct container *container)
{
    for (struct copy_op *op = pending_copies; op; op = op->next) {
        if (op->container == container)
            op->container = NULL;
    }
}

int container_hostprocess_remove_rootfs(const char *mount_point, struct error *err)
{
    if (!CONTAINER_HOSTPROCESS_RULES)
        return 0;
    if (runtime_remove_tree(mount_point, err) < 0)
        return error_prefix(err, "remove the root file system");
    return 0;
}
