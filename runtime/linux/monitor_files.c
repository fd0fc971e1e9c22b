#include "runtime/linux/monitor_files.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/strbuf.h"
#include "common/util.h"
#include "runtime/monitor_format.h"

/* ---- Writing the spec ---------------------------------------------------------------------- */

int monitor_spec_write(const struct monitor_spec *spec, const char *path, struct error *err)
{
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;

    monitor_format_put(&out, "id", spec->id);
    monitor_format_put(&out, "cgroup_root", spec->cgroup_root);
    monitor_format_put(&out, "cgroup_path", spec->cgroup_path);
    monitor_format_put(&out, "monitor_cgroup", spec->monitor_cgroup);
    monitor_format_put_list(&out, "arg", spec->argv);
    monitor_format_put_list(&out, "env", spec->env);
    monitor_format_put(&out, "cwd", spec->cwd);
    monitor_format_put(&out, "user.name", spec->username);
    if (spec->has_uid)
        monitor_format_put_number(&out, "user.uid", spec->uid);
    if (spec->has_gid)
        monitor_format_put_number(&out, "user.gid", spec->gid);
    for (size_t i = 0; i < spec->n_groups; i++)
        monitor_format_put_number(&out, "user.group", spec->groups[i]);
    if (spec->strict_groups)
        monitor_format_put_number(&out, "user.strict_groups", 1);
    monitor_format_put_list(&out, "layer", spec->layers);
    monitor_format_put(&out, "container_dir", spec->container_dir);
    monitor_format_put_number(&out, "readonly_rootfs", spec->readonly_rootfs);
    monitor_format_put(&out, "mount_point", spec->mount_point);
    for (size_t i = 0; i < spec->n_mounts; i++) {
        monitor_format_put(&out, "mount.host", spec->mounts[i].host_path);
        monitor_format_put(&out, "mount.dest", spec->mounts[i].container_path);
        monitor_format_put_number(&out, "mount.ro", spec->mounts[i].readonly);
        monitor_format_put_number(&out, "mount.propagation", spec->mounts[i].propagation);
        if (spec->mounts[i].recursive_readonly)
            monitor_format_put_number(&out, "mount.rro", 1);
    }
    monitor_format_put(&out, "log_path", spec->log_path);
    monitor_format_put_number(&out, "stdin", spec->stdin_open);
    monitor_format_put_number(&out, "stdin_once", spec->stdin_once);
    monitor_format_put_number(&out, "tty", spec->tty);
    if (spec->has_oom_score_adj)
        monitor_format_put_number(&out, "oom_score_adj", spec->oom_score_adj);
    monitor_format_put(&out, "exit_file", spec->exit_file);
    monitor_format_put_number(&out, "grace_ms", spec->grace_ms);
    return monitor_write_atomic(path, out.data ? out.data : "", out.length, err);
}

/* ---- Reading the spec ---------------------------------------------------------------------- */

static struct monitor_mount *last_mount(struct monitor_spec *spec)
{
    return spec->n_mounts > 0 ? &spec->mounts[spec->n_mounts - 1] : NULL;
}

/* Stores one key and value; returns -1 for a mount field before any mount.host. */
static int spec_set(struct monitor_spec *spec, const char *key, const char *value)
{
    struct monitor_mount *mount = last_mount(spec);
    long number = strtol(value, NULL, 10);

    if (strcmp(key, "id") == 0)
        monitor_format_store_string(&spec->id, value);
    else if (strcmp(key, "cgroup_root") == 0)
        monitor_format_store_string(&spec->cgroup_root, value);
    else if (strcmp(key, "cgroup_path") == 0)
        monitor_format_store_string(&spec->cgroup_path, value);
    else if (strcmp(key, "monitor_cgroup") == 0)
        monitor_format_store_string(&spec->monitor_cgroup, value);
    else if (strcmp(key, "arg") == 0)
        monitor_format_append_string(&spec->argv, value);
    else if (strcmp(key, "env") == 0)
        monitor_format_append_string(&spec->env, value);
    else if (strcmp(key, "cwd") == 0)
        monitor_format_store_string(&spec->cwd, value);
    else if (strcmp(key, "user.name") == 0)
        monitor_format_store_string(&spec->username, value);
    else if (strcmp(key, "user.uid") == 0)
        spec->has_uid = true, spec->uid = (uint32_t)number;
    else if (strcmp(key, "user.gid") == 0)
        spec->has_gid = true, spec->gid = (uint32_t)number;
    else if (strcmp(key, "user.group") == 0) {
        spec->groups = xrealloc(spec->groups, (spec->n_groups + 1) * sizeof(uint32_t));
        spec->groups[spec->n_groups++] = (uint32_t)number;
    } else if (strcmp(key, "user.strict_groups") == 0)
        spec->strict_groups = number != 0;
    else if (strcmp(key, "layer") == 0)
        monitor_format_append_string(&spec->layers, value);
    else if (strcmp(key, "container_dir") == 0)
        monitor_format_store_string(&spec->container_dir, value);
    else if (strcmp(key, "readonly_rootfs") == 0)
        spec->readonly_rootfs = number != 0;
    else if (strcmp(key, "mount_point") == 0)
        monitor_format_store_string(&spec->mount_point, value);
    else if (strcmp(key, "mount.host") == 0) {
        spec->mounts = xrealloc(spec->mounts, (spec->n_mounts + 1) * sizeof(*spec->mounts));
        memset(&spec->mounts[spec->n_mounts], 0, sizeof(*spec->mounts));
        spec->mounts[spec->n_mounts++].host_path = xstrdup(value);
    } else if (str_has_prefix(key, "mount.")) {
        if (mount == NULL)
            return -1;
        if (strcmp(key, "mount.dest") == 0)
            monitor_format_store_string(&mount->container_path, value);
        else if (strcmp(key, "mount.ro") == 0)
            mount->readonly = number != 0;
        else if (strcmp(key, "mount.propagation") == 0)
            mount->propagation = (enum job_propagation)number;
        else if (strcmp(key, "mount.rro") == 0)
            mount->recursive_readonly = number != 0;
    } else if (strcmp(key, "log_path") == 0)
        monitor_format_store_string(&spec->log_path, value);
    else if (strcmp(key, "stdin") == 0)
        spec->stdin_open = number != 0;
    else if (strcmp(key, "stdin_once") == 0)
        spec->stdin_once = number != 0;
    else if (strcmp(key, "tty") == 0)
        spec->tty = number != 0;
    else if (strcmp(key, "oom_score_adj") == 0)
        spec->has_oom_score_adj = true, spec->oom_score_adj = (int)number;
    else if (strcmp(key, "exit_file") == 0)
        monitor_format_store_string(&spec->exit_file, value);
    else if (strcmp(key, "grace_ms") == 0)
        spec->grace_ms = (int)number;
    /* Unknown keys are skipped, so an older monitor can read a newer daemon's spec. */
    return 0;
}

static int read_whole_file(const char *path, struct strbuf *buf, struct error *err)
{
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    char chunk[8192];
    ssize_t n;

    if (fd < 0)
        return error_set_errno(err, errno == ENOENT ? ERROR_NOT_FOUND : ERROR_INTERNAL, errno,
                               "open %s", path);
    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_set_errno(err, ERROR_INTERNAL, errno, "read %s", path);
        strbuf_append(buf, chunk, (size_t)n);
    }
    return 0;
}

int monitor_spec_read(const char *path, struct monitor_spec *spec, struct error *err)
{
    _cleanup_strbuf_ struct strbuf buf = STRBUF_INIT;
    size_t offset = 0;
    const char *key;
    const char *value;
    int found;

    memset(spec, 0, sizeof(*spec));
    if (read_whole_file(path, &buf, err) < 0)
        return -1;
    while ((found = monitor_format_next_pair(buf.data, buf.length, &offset, &key, &value)) > 0) {
        if (spec_set(spec, key, value) < 0)
            return error_set(err, ERROR_INTERNAL, "invalid spec file %s: %s before mount.host",
                             path, key);
    }
    if (found < 0)
        return error_set(err, ERROR_INTERNAL,
                         "invalid spec file %s: the pair at byte %zu (key \"%.*s\") is truncated",
                         path, offset, (int)(buf.length - offset), key);
    if (spec->argv == NULL || spec->id == NULL || spec->cgroup_path == NULL)
        return error_set(err, ERROR_INTERNAL,
                         "invalid spec file %s: id, cgroup_path or arg missing", path);
    return 0;
}

void monitor_spec_clear(struct monitor_spec *spec)
{
    free(spec->id);
    free(spec->cgroup_root);
    free(spec->cgroup_path);
    free(spec->monitor_cgroup);
    strv_free(spec->argv);
    strv_free(spec->env);
    free(spec->cwd);
    free(spec->username);
    free(spec->groups);
    strv_free(spec->layers);
    free(spec->container_dir);
    free(spec->mount_point);
    for (size_t i = 0; i < spec->n_mounts; i++) {
        free(spec->mounts[i].host_path);
        free(spec->mounts[i].container_path);
    }
    free(spec->mounts);
    free(spec->log_path);
    free(spec->exit_file);
    memset(spec, 0, sizeof(*spec));
}

/* ---- Pid and exit files -------------------------------------------------------------------- */

int monitor_write_atomic(const char *path, const char *data, size_t length, struct error *err)
{
    _cleanup_free_ char *temporary = xasprintf("%s.tmp", path);
    _cleanup_close_ int fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    size_t done = 0;

    if (fd < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "create %s", temporary);
    while (done < length) {
        ssize_t n = write(fd, data + done, length - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            unlink(temporary);
            return error_set_errno(err, ERROR_INTERNAL, errno, "write %s", temporary);
        }
        done += (size_t)n;
    }
    if (fsync(fd) < 0 || rename(temporary, path) < 0) {
        int saved = errno;

        unlink(temporary);
        return error_set_errno(err, ERROR_INTERNAL, saved, "replace %s", path);
    }
    return 0;
}

/* Reads the state (field 3) and start time (field 22) of /proc/<pid>/stat. */
static int read_process_stat(pid_t pid, char *state, uint64_t *start_time)
{
    char path[64];
    char text[1024];
    _cleanup_close_ int fd = -1;
    ssize_t n;
    char *cursor;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    n = read(fd, text, sizeof(text) - 1);
    if (n <= 0)
        return -1;
    text[n] = '\0';
    /* The command name in field 2 may contain spaces; count fields after its ')'. */
    cursor = strrchr(text, ')');
    if (cursor == NULL || cursor[1] != ' ')
        return -1;
    *state = cursor[2];
    for (int field = 2; field < 22; field++) {
        cursor = strchr(cursor + 1, ' ');
        if (cursor == NULL)
            return -1;
    }
    *start_time = strtoull(cursor + 1, NULL, 10);
    return 0;
}

int monitor_process_start_time(pid_t pid, uint64_t *start_time)
{
    char state;

    return read_process_stat(pid, &state, start_time);
}

int monitor_pid_file_write(const char *path, pid_t pid, struct error *err)
{
    uint64_t start_time = 0;
    char text[64];
    int length;

    if (monitor_process_start_time(pid, &start_time) < 0)
        return error_set(err, ERROR_INTERNAL, "read the start time of process %d", (int)pid);
    length = snprintf(text, sizeof(text), "%d %" PRIu64 "\n", (int)pid, start_time);
    return monitor_write_atomic(path, text, (size_t)length, err);
}

int monitor_pid_file_read(const char *path, pid_t *pid, bool *alive, struct error *err)
{
    _cleanup_strbuf_ struct strbuf buf = STRBUF_INIT;
    uint64_t recorded = 0;
    uint64_t current = 0;
    int value = 0;
    char state = 0;

    if (read_whole_file(path, &buf, err) < 0)
        return -1;
    if (buf.data == NULL || sscanf(buf.data, "%d %" SCNu64, &value, &recorded) != 2 || value <= 0)
        return error_set(err, ERROR_INTERNAL, "invalid pid file %s", path);
    *pid = value;
    /* A zombie has exited, though its pid and start time remain until it is reaped. */
    *alive = read_process_stat(value, &state, &current) == 0 && current == recorded &&
             state != 'Z' && state != 'X';
    return 0;
}

int monitor_exit_file_write(const char *path, const struct job_exit_status *status,
                            struct error *err)
{
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;

    monitor_format_exit_encode(status, &out);
    return monitor_write_atomic(path, out.data, out.length, err);
}

int monitor_exit_file_read(const char *path, struct job_exit_status *status, struct error *err)
{
    _cleanup_strbuf_ struct strbuf buf = STRBUF_INIT;

    memset(status, 0, sizeof(*status));
    if (read_whole_file(path, &buf, err) < 0)
        return -1;
    if (buf.data == NULL)
        return error_set(err, ERROR_INTERNAL, "empty exit file %s", path);
    monitor_format_exit_decode(buf.data, status);
    return 0;
}
