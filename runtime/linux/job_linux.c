/* The Linux job backend: runtime setup and pod jobs (one cgroup per pod). */
#include "runtime/linux/job_linux.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "runtime/linux/kernel_features.h"
#include "runtime/linux/monitor_files.h"

#ifndef HOSTCRI_MONITOR_PATH
#define HOSTCRI_MONITOR_PATH "/usr/local/bin/hostcri-monitor"
#endif

#define DEFAULT_STATE_DIR "/run/hostcri"
#define DEFAULT_CGROUP_ROOT "/sys/fs/cgroup"
#define DEFAULT_GRACE_MS 5000

static const char *or_default(const char *value, const char *fallback)
{
    return str_empty(value) ? fallback : value;
}

char *job_state_path(const struct job_runtime *runtime, const char *kind, const char *id)
{
    return xasprintf("%s/%s/%s", runtime->state_dir, kind, id);
}

int job_make_dirs(const char *dir, struct error *err)
{
    _cleanup_free_ char *copy = xstrdup(dir);

    for (char *slash = strchr(copy + 1, '/');; slash = strchr(slash + 1, '/')) {
        if (slash != NULL)
            *slash = '\0';
        if (mkdir(copy, slash ? 0755 : 0700) < 0 && errno != EEXIST)
            return error_set_errno(err, ERROR_INTERNAL, errno, "create directory %s", copy);
        if (slash == NULL)
            return 0;
        *slash = '/';
    }
}

int job_record_write(const char *file, const char *path, char *const *created, struct error *err)
{
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;

    strbuf_appendf(&out, "%s\n", path);
    for (size_t i = 0; created != NULL && created[i] != NULL; i++)
        strbuf_appendf(&out, "%s\n", created[i]);
    return monitor_write_atomic(file, out.data, out.length, err);
}

int job_record_read(const char *file, char **path, char ***created, struct error *err)
{
    _cleanup_free_ char *text = NULL;
    _cleanup_free_ char *dir = xstrdup(file);
    char *slash = strrchr(dir, '/');
    char *save = NULL;
    char *line;
    size_t n = 0;

    *slash = '\0';
    if (cgroup_read_file(dir, slash + 1, &text, err) < 0) {
        if (access(file, F_OK) < 0)
            err->code = ERROR_NOT_FOUND;
        return -1;
    }
    /* The first line is the path; it may be empty (the hierarchy root), so split by hand. */
    line = strchr(text, '\n');
    if (line == NULL)
        return error_set(err, ERROR_INTERNAL, "invalid job record %s", file);
    *line = '\0';
    *path = xstrdup(text);
    *created = xcalloc(1, sizeof(char *));
    for (line = strtok_r(line + 1, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        *created = xrealloc(*created, (n + 2) * sizeof(char *));
        (*created)[n++] = xstrdup(line);
        (*created)[n] = NULL;
    }
    return 0;
}

/* ---- Runtime ------------------------------------------------------------------------------- */

/* The relative path of the monitors' cgroup, beside the default pod parent. */
static int monitor_cgroup_path(struct job_runtime *runtime, char **path, struct error *err)
{
    _cleanup_free_ char *parent = NULL;

    if (cgroup_path_from_parent(runtime->driver, runtime->default_parent, &parent, err) < 0)
        return -1;
    if (runtime->driver == JOB_CGROUP_DRIVER_SYSTEMD)
        *path = cgroup_container_path(runtime->driver, parent, "monitors");
    else
        *path = xasprintf("%s%smonitors", parent, str_empty(parent) ? "" : "/");
    return 0;
}

int job_runtime_new(uv_loop_t *loop, const struct job_config *config, struct job_runtime **out,
                    struct error *err)
{
    struct job_runtime *runtime = xcalloc(1, sizeof(*runtime));
    const char *default_parent =
        config->cgroup_driver == JOB_CGROUP_DRIVER_SYSTEMD ? "hostcri.slice" : "/hostcri";
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);

    runtime->loop = loop;
    runtime->state_dir = xstrdup(or_default(config->state_dir, DEFAULT_STATE_DIR));
    runtime->monitor_path = xstrdup(or_default(config->monitor_path, HOSTCRI_MONITOR_PATH));
    runtime->default_parent = xstrdup(or_default(config->default_cgroup_parent, default_parent));
    runtime->mount_point = xstrdup(or_default(config->rootfs_mount_point, "/hpc"));
    runtime->driver = config->cgroup_driver;
    runtime->grace_ms =
        config->leftover_grace_ms > 0 ? config->leftover_grace_ms : DEFAULT_GRACE_MS;
    runtime->host_cpus = cpus > 0 ? (int)cpus : 1;
    *out = runtime;

    if (cgroup_env_detect(or_default(config->cgroup_root, DEFAULT_CGROUP_ROOT), &runtime->cgroups,
                          err) < 0 ||
        monitor_cgroup_path(runtime, &runtime->monitor_cgroup, err) < 0 ||
        cgroup_create(&runtime->cgroups, runtime->monitor_cgroup, true,
                      &runtime->monitor_cgroup_created, err) < 0 ||
        cgroup_check_writable(&runtime->cgroups, runtime->monitor_cgroup, err) < 0 ||
        job_make_dirs(runtime->state_dir, err) < 0) {
        job_runtime_free(runtime);
        *out = NULL;
        return -1; /* runtime_new names the step */
    }
    if (access(runtime->monitor_path, X_OK) < 0)
        log_warn("monitor program %s is not executable: %s; containers cannot start",
                 runtime->monitor_path, strerror(errno));
    /* Probed at start, so that the log shows the result and Status only reads it. */
    kernel_features_recursive_readonly();
    return 0;
}

void job_runtime_free(struct job_runtime *runtime)
{
    if (runtime == NULL)
        return;
    /* The monitor cgroup stays while monitors run in it; rmdir then fails and it is kept. */
    if (runtime->monitor_cgroup_created != NULL)
        cgroup_remove_created(runtime->monitor_cgroup_created, NULL);
    strv_free(runtime->monitor_cgroup_created);
    free(runtime->monitor_cgroup);
    cgroup_env_clear(&runtime->cgroups);
    free(runtime->state_dir);
    free(runtime->monitor_path);
    free(runtime->default_parent);
    free(runtime->mount_point);
    free(runtime);
}

const char *job_runtime_layout_name(const struct job_runtime *runtime)
{
    return cgroup_layout_name(runtime->cgroups.layout);
}

void job_runtime_features(const struct job_runtime *runtime, struct job_features *features)
{
    (void)runtime;
    features->recursive_readonly_mounts = kernel_features_recursive_readonly();
    features->supplemental_groups = true;
}

int job_runtime_list_containers(struct job_runtime *runtime, char ***ids, struct error *err)
{
    _cleanup_free_ char *dir_path = xasprintf("%s/containers", runtime->state_dir);
    DIR *dir = opendir(dir_path);
    struct dirent *entry;
    size_t n = 0;

    *ids = xcalloc(1, sizeof(char *));
    if (dir == NULL)
        return errno == ENOENT ? 0
                               : error_set_errno(err, ERROR_INTERNAL, errno, "open %s", dir_path);
    while ((entry = readdir(dir)) != NULL) {
        if (entry->d_name[0] == '.')
            continue;
        *ids = xrealloc(*ids, (n + 2) * sizeof(char *));
        (*ids)[n++] = xstrdup(entry->d_name);
        (*ids)[n] = NULL;
    }
    closedir(dir);
    return 0;
}

void job_exit_status_clear(struct job_exit_status *status)
{
    free(status->message);
    status->message = NULL;
}

/* ---- Pod jobs ------------------------------------------------------------------------------ */

/* The kubelet spelling of the pod cgroup when the kubelet sent none. */
static char *default_pod_parent(const struct job_runtime *runtime, const char *sandbox_id)
{
    const char *parent = runtime->default_parent;
    size_t length = strlen(parent);

    if (runtime->driver == JOB_CGROUP_DRIVER_SYSTEMD && strchr(parent, '/') == NULL && length > 6 &&
        strcmp(parent + length - 6, ".slice") == 0)
        return xasprintf("%.*s-pod%s.slice", (int)(length - 6), parent, sandbox_id);
    return xasprintf("%s/pod-%s", strcmp(parent, "/") == 0 ? "" : parent, sandbox_id);
}

static void pod_free(struct job_pod *pod)
{
    free(pod->sandbox_id);
    free(pod->cgroup_parent);
    free(pod->path);
    strv_free(pod->created);
    free(pod->record_path);
    free(pod);
}

static struct job_pod *pod_new(struct job_runtime *runtime, const char *sandbox_id)
{
    struct job_pod *pod = xcalloc(1, sizeof(*pod));
    _cleanup_free_ char *dir = job_state_path(runtime, "pods", sandbox_id);

    pod->runtime = runtime;
    pod->sandbox_id = xstrdup(sandbox_id);
    pod->record_path = xasprintf("%s/cgroup", dir);
    return pod;
}

int job_pod_create(struct job_runtime *runtime, const struct job_pod_spec *spec,
                   struct job_pod **out, struct error *err)
{
    struct job_pod *pod = pod_new(runtime, spec->sandbox_id);
    _cleanup_free_ char *dir = job_state_path(runtime, "pods", spec->sandbox_id);
    _cleanup_strv_ char **previous = NULL;
    _cleanup_free_ char *previous_path = NULL;
    _cleanup_free_ char *parent_path = xasprintf("%s/cgroup_parent", dir);
    struct error ignored = ERROR_INIT;

    pod->cgroup_parent = str_empty(spec->cgroup_parent)
                             ? default_pod_parent(runtime, spec->sandbox_id)
                             : xstrdup(spec->cgroup_parent);
    if (cgroup_path_from_parent(runtime->driver, pod->cgroup_parent, &pod->path, err) < 0)
        goto fail;
    /* A second create for the same sandbox keeps the record of what the first one made. */
    if (job_record_read(pod->record_path, &previous_path, &previous, &ignored) == 0 &&
        strcmp(previous_path, pod->path) == 0)
        pod->created = steal_pointer(&previous);
    error_clear(&ignored);
    if (job_make_dirs(dir, err) < 0 ||
        cgroup_create(&runtime->cgroups, pod->path, false, &pod->created, err) < 0 ||
        job_record_write(pod->record_path, pod->path, pod->created, err) < 0 ||
        monitor_write_atomic(parent_path, pod->cgroup_parent, strlen(pod->cgroup_parent), err) <
            0) {
        if (pod->created != NULL)
            cgroup_remove_created(pod->created, NULL);
        goto fail;
    }
    log_info_id("sandbox", spec->sandbox_id, "created pod cgroup %s (%zu new directories)",
                pod->path, strv_length(pod->created));
    *out = pod;
    return 0;

fail:
    pod_free(pod);
    return error_prefix(err, "create the pod cgroup of sandbox %s", spec->sandbox_id);
}

int job_pod_open(struct job_runtime *runtime, const char *sandbox_id, struct job_pod **out,
                 struct error *err)
{
    struct job_pod *pod = pod_new(runtime, sandbox_id);
    _cleanup_free_ char *dir = job_state_path(runtime, "pods", sandbox_id);

    if (job_record_read(pod->record_path, &pod->path, &pod->created, err) < 0) {
        pod_free(pod);
        return error_prefix(err, "open the pod job of sandbox %s", sandbox_id);
    }
    /* The kubelet's spelling, kept beside the record; the path is the fallback. */
    if (cgroup_read_file(dir, "cgroup_parent", &pod->cgroup_parent, NULL) < 0)
        pod->cgroup_parent = xasprintf("/%s", pod->path);
    *out = pod;
    return 0;
}

const char *job_pod_cgroup(const struct job_pod *pod)
{
    return pod->cgroup_parent;
}

int job_pod_stats(const struct job_pod *pod, struct job_stats *stats, struct error *err)
{
    return cgroup_read_stats(&pod->runtime->cgroups, pod->path, stats, err);
}

int job_pod_remove(struct job_pod *pod, struct error *err)
{
    _cleanup_free_ char *dir = job_state_path(pod->runtime, "pods", pod->sandbox_id);

    if (cgroup_remove_created(pod->created, err) < 0)
        return error_prefix(err, "remove the pod cgroup of sandbox %s", pod->sandbox_id);
    unlink(pod->record_path);
    {
        _cleanup_free_ char *parent_path = xasprintf("%s/cgroup_parent", dir);

        unlink(parent_path);
    }
    rmdir(dir);
    log_info_id("sandbox", pod->sandbox_id, "removed pod cgroup %s", pod->path);
    return 0;
}

void job_pod_release(struct job_pod *pod)
{
    if (pod != NULL)
        pod_free(pod);
}
