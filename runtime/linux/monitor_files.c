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

/* ---- Writing the spec ---------------------------------------------------------------------- */

static void put(struct strbuf *out, const char *key, const char *value)
{
    if (value == NULL)
        return;
    strbuf_append(out, key, strlen(key) + 1);
    strbuf_append(out, value, strlen(value) + 1);
}

static void put_number(struct strbuf *out, const char *key, int64_t value)
{
    char text[24];

    snprintf(text, sizeof(text), "%" PRId64, value);
    put(out, key, text);
}

static void put_list(struct strbuf *out, const char *key, char *const *values)
{
    for (size_t i = 0; values != NULL && values[i] != NULL; i++)
        put(out, key, values[i]);
}

int monitor_spec_write(const struct monitor_spec *spec, const char *path, struct error *err)
{
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;

    put(&out, "id", spec->id);
    put(&out, "cgroup_root", spec->cgroup_root);
    put(&out, "cgroup_path", spec->cgroup_path);
    put(&out, "monitor_cgroup", spec->monitor_cgroup);
    put_list(&out, "arg", spec->argv);
    put_list(&out, "env", spec->env);
    put(&out, "cwd", spec->cwd);
    put(&out, "user.name", spec->username);
    if (spec->has_uid)
        put_number(&out, "user.uid", spec->uid);
    if (spec->has_gid)
        put_number(&out, "user.gid", spec->gid);
    for (size_t i = 0; i < spec->n_groups; i++)
        put_number(&out, "user.group", spec->groups[i]);
    if (spec->strict_groups)
        put_number(&out, "user.strict_groups", 1);
    put_list(&out, "layer", spec->layers);
    put(&out, "container_dir", spec->container_dir);
    put_number(&out, "readonly_rootfs", spec->readonly_rootfs);
    put(&out, "mount_point", spec->mount_point);
    for (size_t i = 0; i < spec->n_mounts; i++) {
        put(&out, "mount.host", spec->mounts[i].host_path);
        put(&out, "mount.dest", spec->mounts[i].container_path);
        put_number(&out, "mount.ro", spec->mounts[i].readonly);
        put_number(&out, "mount.propagation", spec->mounts[i].propagation);
        if (spec->mounts[i].recursive_readonly)
            put_number(&out, "mount.rro", 1);
    }
    put(&out, "log_path", spec->log_path);
    put_number(&out, "stdin", spec->stdin_open);
    put_number(&out, "stdin_once", spec->stdin_once);
    put_number(&out, "tty", spec->tty);
    if (spec->has_oom_score_adj)
        put_number(&out, "oom_score_adj", spec->oom_score_adj);
    put(&out, "exit_file", spec->exit_file);
    put_number(&out, "grace_ms", spec->grace_ms);
    return monitor_write_atomic(path, out.data ? out.data : "", out.length, err);
}

/* ---- Reading the spec ---------------------------------------------------------------------- */

static void list_add(char ***list, const char *value)
{
    size_t n = strv_length(*list);

    *list = xrealloc(*list, (n + 2) * sizeof(char *));
    (*list)[n] = xstrdup(value);
    (*list)[n + 1] = NULL;
}

static void set_string(char **field, const char *value)
{
    free(*field);
    *field = xstrdup(value);
}

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
        set_string(&spec->id, value);
    else if (strcmp(key, "cgroup_root") == 0)
        set_string(&spec->cgroup_root, value);
    else if (strcmp(key, "cgroup_path") == 0)
        set_string(&spec->cgroup_path, value);
    else if (strcmp(key, "monitor_cgroup") == 0)
        set_string(&spec->monitor_cgroup, value);
    else if (strcmp(key, "arg") == 0)
        list_add(&spec->argv, value);
    else if (strcmp(key, "env") == 0)
        list_add(&spec->env, value);
    else if (strcmp(key, "cwd") == 0)
        set_string(&spec->cwd, value);
    else if (strcmp(key, "user.name") == 0)
        set_string(&spec->username, value);
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
        list_add(&spec->layers, value);
    else if (strcmp(key, "container_dir") == 0)
        set_string(&spec->container_dir, value);
    else if (strcmp(key, "readonly_rootfs") == 0)
        spec->readonly_rootfs = number != 0;
    else if (strcmp(key, "mount_point") == 0)
        set_string(&spec->mount_point, value);
    else if (strcmp(key, "mount.host") == 0) {
        spec->mounts = xrealloc(spec->mounts, (spec->n_mounts + 1) * sizeof(*spec->mounts));
        memset(&spec->mounts[spec->n_mounts], 0, sizeof(*spec->mounts));
        spec->mounts[spec->n_mounts++].host_path = xstrdup(value);
    } else if (str_has_prefix(key, "mount.")) {
        if (mount == NULL)
            return -1;
        if (strcmp(key, "mount.dest") == 0)
            set_string(&mount->container_path, value);
        else if (strcmp(key, "mount.ro") == 0)
            mount->readonly = number != 0;
        else if (strcmp(key, "mount.propagation") == 0)
            mount->propagation = (enum job_propagation)number;
        else if (strcmp(key, "mount.rro") == 0)
            mount->recursive_readonly = number != 0;
    } else if (strcmp(key, "log_path") == 0)
        set_string(&spec->log_path, value);
    else if (strcmp(key, "stdin") == 0)
        spec->stdin_open = number != 0;
    else if (strcmp(key, "stdin_once") == 0)
        spec->stdin_once = number != 0;
    else if (strcmp(key, "tty") == 0)
        spec->tty = number != 0;
    else if (strcmp(key, "oom_score_adj") == 0)
        spec->has_oom_score_adj = true, spec->oom_score_adj = (int)number;
    else if (strcmp(key, "exit_file") == 0)
        set_string(&spec->exit_file, value);
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

    memset(spec, 0, sizeof(*spec));
    if (read_whole_file(path, &buf, err) < 0)
        return -1;
    while (offset < buf.length) {
        const char *key = buf.data + offset;
        size_t key_length = strlen(key);
        const char *value;

        if (offset + key_length + 1 >= buf.length)
            return error_set(err, ERROR_INTERNAL, "invalid spec file %s: key \"%s\" has no value",
                             path, key);
        value = key + key_length + 1;
        offset += key_length + 1 + strlen(value) + 1;
        if (spec_set(spec, key, value) < 0)
            return error_set(err, ERROR_INTERNAL, "invalid spec file %s: %s before mount.host",
                             path, key);
    }
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

static const char *reason_name(enum job_exit_reason reason)
{
    switch (reason) {
    case JOB_EXIT_OOM_KILLED:
        return "oom_killed";
    case JOB_EXIT_UNKNOWN:
        return "unknown";
    case JOB_EXIT_START_ERROR:
        return "start_error";
    case JOB_EXIT_NOT_STARTED:
        return "not_started";
    case JOB_EXIT_COMPLETED:
        break;
    }
    return "completed";
}

int monitor_exit_file_write(const char *path, const struct job_exit_status *status,
                            struct error *err)
{
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;

    strbuf_appendf(&out,
                   "exit_code=%d\nsignal=%d\nstarted_at=%" PRId64 "\nfinished_at=%" PRId64
                   "\nreason=%s\n",
                   status->exit_code, status->signal, status->started_at_ns, status->finished_at_ns,
                   reason_name(status->reason));
    if (status->message != NULL) {
        strbuf_append_str(&out, "message=");
        for (const char *c = status->message; *c != '\0'; c++)
            strbuf_append_char(&out, *c == '\n' ? ' ' : *c);
        strbuf_append_char(&out, '\n');
    }
    return monitor_write_atomic(path, out.data, out.length, err);
}

static void parse_exit_line(const char *line, struct job_exit_status *status)
{
    const char *value = strchr(line, '=');

    if (value == NULL)
        return;
    value++;
    if (str_has_prefix(line, "exit_code="))
        status->exit_code = atoi(value);
    else if (str_has_prefix(line, "signal="))
        status->signal = atoi(value);
    else if (str_has_prefix(line, "started_at="))
        status->started_at_ns = strtoll(value, NULL, 10);
    else if (str_has_prefix(line, "finished_at="))
        status->finished_at_ns = strtoll(value, NULL, 10);
    else if (str_has_prefix(line, "reason=")) {
        if (strcmp(value, "oom_killed") == 0)
            status->reason = JOB_EXIT_OOM_KILLED;
        else if (strcmp(value, "unknown") == 0)
            status->reason = JOB_EXIT_UNKNOWN;
        else if (strcmp(value, "start_error") == 0)
            status->reason = JOB_EXIT_START_ERROR;
        else if (strcmp(value, "not_started") == 0)
            status->reason = JOB_EXIT_NOT_STARTED;
    } else if (str_has_prefix(line, "message=")) {
        free(status->message);
        status->message = xstrdup(value);
    }
}

int monitor_exit_file_read(const char *path, struct job_exit_status *status, struct error *err)
{
    _cleanup_strbuf_ struct strbuf buf = STRBUF_INIT;
    char *save = NULL;

    memset(status, 0, sizeof(*status));
    if (read_whole_file(path, &buf, err) < 0)
        return -1;
    if (buf.data == NULL)
        return error_set(err, ERROR_INTERNAL, "empty exit file %s", path);
    for (char *line = strtok_r(buf.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
        parse_exit_line(line, status);
    return 0;
}
