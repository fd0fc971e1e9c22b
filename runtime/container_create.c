/* CreateContainer: from a CRI container config and an image to a stored container record. */

#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/container_hostprocess.h"
#include "runtime/image_info.h"
#include "runtime/message.h"
#include "runtime/pod_annotations.h"
#include "runtime/process.h"
#include "runtime/runtime_internal.h"
#include "runtime/signals.h"
#include "runtime/spec.h"
#include "runtime/state.h"

static int check_sandbox(const struct sandbox *sandbox, struct error *err)
{
    if (sandbox->record.state != RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY)
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "sandbox %s is not ready: a container can only be created in a ready "
                         "sandbox",
                         sandbox->record.id);
    if (sandbox->pod == NULL)
        return error_set(err, ERROR_FAILED_PRECONDITION, "sandbox %s has no pod job",
                         sandbox->record.id);
    return 0;
}

static int check_name_free(const struct runtime *runtime, const struct sandbox *sandbox,
                           const Runtime__V1__ContainerMetadata *md, struct error *err)
{
    for (size_t i = 0; i < runtime->n_containers; i++) {
        const struct container *other = runtime->containers[i];
        const Runtime__V1__ContainerMetadata *other_md = other->record.config->metadata;

        if (strcmp(other->record.sandbox_id, sandbox->record.id) == 0 &&
            strcmp(other_md->name, md->name) == 0 && other_md->attempt == md->attempt)
            return error_set(err, ERROR_ALREADY_EXISTS,
                             "container name \"%s\" (attempt %u) in sandbox %s is reserved for "
                             "container %s",
                             md->name, md->attempt, sandbox->record.id, other->record.id);
    }
    return 0;
}

/*
 * A container's host_process flag, when it sets one, must match its pod's. With the Windows
 * HostProcess rules every pod sets it, so every container must set it too.
 */
static int check_host_process_flag(const struct sandbox *sandbox,
                                   const Runtime__V1__ContainerConfig *config, struct error *err)
{
    const Runtime__V1__WindowsPodSandboxConfig *pod_windows = sandbox->record.config->windows;
    bool pod_flag =
        pod_windows && pod_windows->security_context && pod_windows->security_context->host_process;

    if (CONTAINER_HOSTPROCESS_RULES)
        return container_hostprocess_check_config(config, err);
    if (config->windows == NULL || config->windows->security_context == NULL)
        return 0;
    if ((bool)config->windows->security_context->host_process == pod_flag)
        return 0;
    return error_set(err, ERROR_INVALID_ARGUMENT,
                     "container %s sets windows host_process=%s but its pod sets %s: the pod and "
                     "all its containers must set the same HostProcess value",
                     config->metadata->name,
                     config->windows->security_context->host_process ? "true" : "false",
                     pod_flag ? "true" : "false");
}

static int build_env(const struct runtime *runtime, const Runtime__V1__ContainerConfig *config,
                     const struct image_info *image, const char *mount_point,
                     struct container_process *process, struct error *err)
{
    _cleanup_free_ struct spec_env_entry *entries = xcalloc(config->n_envs, sizeof(*entries));

    for (size_t i = 0; i < config->n_envs; i++) {
        entries[i].key = config->envs[i]->key;
        entries[i].value = config->envs[i]->value.data;
        entries[i].value_length = config->envs[i]->value.len;
    }
    if (spec_merge_env(image->env, entries, config->n_envs, &process->env, err) < 0)
        return -1;
    spec_substitute_env(process->env, mount_point);
    container_hostprocess_finish_env(&process->env, mount_point, runtime->default_path);
    return 0;
}

/*
 * Chooses the user from the image's USER, then the Windows and Linux security contexts. A pod
 * with the inherit-user annotation runs as the runtime's own user: no name and no ids, so the
 * job backend keeps its own credentials (on Windows, the monitor's process token).
 */
static int build_user(const struct sandbox *sandbox, const Runtime__V1__ContainerConfig *config,
                      const struct image_info *image, struct container_process *process,
                      struct error *err)
{
    const Runtime__V1__LinuxContainerSecurityContext *sc =
        config->linux ? config->linux->security_context : NULL;
    const Runtime__V1__WindowsContainerSecurityContext *wsc =
        config->windows ? config->windows->security_context : NULL;
    struct spec_image_user image_user;

    if (pod_annotations_inherit_user(sandbox->record.config)) {
        log_debug("container %s inherits the runtime's user (pod annotation %s)",
                  config->metadata->name, POD_ANNOTATION_INHERIT_USER);
        return 0;
    }
    if (spec_parse_image_user(image->user, &image_user, err) < 0)
        return -1;
    process->username = steal_pointer(&image_user.username);
    process->has_uid = image_user.has_uid;
    process->uid = image_user.uid;
    process->has_gid = image_user.has_gid;
    process->gid = image_user.gid;
    spec_image_user_clear(&image_user);

    if (wsc && !str_empty(wsc->run_as_username)) {
        free(process->username);
        process->username = xstrdup(wsc->run_as_username);
        process->has_uid = false;
    }
    if (sc == NULL)
        return 0;
    if (!str_empty(sc->run_as_username)) {
        free(process->username);
        process->username = xstrdup(sc->run_as_username);
        process->has_uid = false;
    }
    if (sc->run_as_user) {
        if (sc->run_as_user->value < 0 || sc->run_as_user->value > UINT32_MAX)
            return error_set(err, ERROR_INVALID_ARGUMENT, "invalid run_as_user %lld",
                             (long long)sc->run_as_user->value);
        free(process->username);
        process->username = NULL;
        process->has_uid = true;
        process->uid = (uint32_t)sc->run_as_user->value;
    }
    if (sc->run_as_group) {
        if (sc->run_as_group->value < 0 || sc->run_as_group->value > UINT32_MAX)
            return error_set(err, ERROR_INVALID_ARGUMENT, "invalid run_as_group %lld",
                             (long long)sc->run_as_group->value);
        process->has_gid = true;
        process->gid = (uint32_t)sc->run_as_group->value;
    }
    process->groups = xcalloc(sc->n_supplemental_groups, sizeof(uint32_t));
    for (size_t i = 0; i < sc->n_supplemental_groups; i++) {
        if (sc->supplemental_groups[i] < 0 || sc->supplemental_groups[i] > UINT32_MAX)
            return error_set(err, ERROR_INVALID_ARGUMENT, "invalid supplemental group %lld",
                             (long long)sc->supplemental_groups[i]);
        process->groups[process->n_groups++] = (uint32_t)sc->supplemental_groups[i];
    }
    return spec_supplemental_groups_policy((int)sc->supplemental_groups_policy,
                                           &process->strict_groups, err);
}

static int check_host_path(const char *host_path, struct error *err)
{
    uv_fs_t req;
    int rc = uv_fs_stat(NULL, &req, host_path, NULL);

    uv_fs_req_cleanup(&req);
    if (rc < 0)
        return error_set(err, ERROR_INVALID_ARGUMENT, "mount host path \"%s\" does not exist: %s",
                         host_path, uv_strerror(rc));
    return 0;
}

static int build_mounts(const Runtime__V1__ContainerConfig *config,
                        struct container_process *process, struct error *err)
{
    process->mounts = xcalloc(config->n_mounts, sizeof(*process->mounts));
    for (size_t i = 0; i < config->n_mounts; i++) {
        const Runtime__V1__Mount *mount = config->mounts[i];
        struct process_mount *out = &process->mounts[process->n_mounts];

        if (mount->image && !str_empty(mount->image->image))
            return error_set(err, ERROR_INVALID_ARGUMENT,
                             "mount %s: image volume mounts are not supported by hostcri",
                             mount->container_path);
        if (str_empty(mount->container_path) || str_empty(mount->host_path))
            return error_set(err, ERROR_INVALID_ARGUMENT,
                             "mount %zu: both container_path and host_path must be set", i);
        if (container_hostprocess_check_mount(mount, err) < 0 ||
            spec_check_recursive_readonly(mount->container_path, mount->readonly,
                                          mount->recursive_read_only, (int)mount->propagation,
                                          err) < 0 ||
            check_host_path(mount->host_path, err) < 0)
            return -1;
        out->host_path = xstrdup(mount->host_path);
        out->container_path = xstrdup(mount->container_path);
        out->readonly = mount->readonly;
        out->propagation = (int)mount->propagation;
        out->recursive_readonly = mount->recursive_read_only;
        process->n_mounts++;
    }
    return 0;
}

/*
 * Takes the Windows limits that the kubelet sends for a Windows container (cpu_maximum and
 * memory_limit_in_bytes; cpu_count and cpu_shares from other clients). The job backend rejects
 * more than one CPU limit, as Windows job objects take only one.
 */
static void build_windows_resources(const Runtime__V1__WindowsContainerResources *r,
                                    struct container_process *process)
{
    process->resources.cpu_shares = r->cpu_shares;
    process->resources.cpu_count = r->cpu_count;
    process->resources.cpu_maximum = r->cpu_maximum;
    process->resources.memory_limit_bytes = r->memory_limit_in_bytes;
}

static void build_resources(const Runtime__V1__ContainerConfig *config,
                            struct container_process *process)
{
    const Runtime__V1__LinuxContainerResources *r = config->linux ? config->linux->resources : NULL;
    const Runtime__V1__LinuxContainerSecurityContext *sc =
        config->linux ? config->linux->security_context : NULL;

    if (sc)
        process->readonly_rootfs = sc->readonly_rootfs;
    if (config->windows && config->windows->resources)
        build_windows_resources(config->windows->resources, process);
    if (r == NULL)
        return;
    process->resources.cpu_period_us = r->cpu_period;
    process->resources.cpu_quota_us = r->cpu_quota;
    process->resources.cpu_shares = r->cpu_shares;
    process->resources.memory_limit_bytes = r->memory_limit_in_bytes;
    process->resources.cpuset_cpus = str_empty(r->cpuset_cpus) ? NULL : xstrdup(r->cpuset_cpus);
    process->resources.cpuset_mems = str_empty(r->cpuset_mems) ? NULL : xstrdup(r->cpuset_mems);
    /* The kubelet always sends oom_score_adj for a Linux container, so 0 is a real value. */
    process->has_oom_score_adj = true;
    process->oom_score_adj = (int)r->oom_score_adj;
}

static int stop_signal_of(const Runtime__V1__ContainerConfig *config,
                          const struct image_info *image, struct error *err)
{
    int number = signal_from_cri(config->stop_signal);

    if (number > 0)
        return number;
    if (str_empty(image->stop_signal))
        return SIGNAL_NUMBER_TERM;
    number = signal_parse(image->stop_signal);
    if (number == 0)
        return error_set(err, ERROR_INVALID_ARGUMENT, "image %s has an invalid STOPSIGNAL \"%s\"",
                         image->id, image->stop_signal);
    return number;
}

/* The root of the container's root file system: the pod's rootfs-location, else the runtime's. */
static int rootfs_root(const struct runtime *runtime, const struct sandbox *sandbox,
                       const char **root, struct error *err)
{
    const char *location;

    if (pod_annotations_rootfs_location(sandbox->record.config, CONTAINER_HOSTPROCESS_RULES,
                                        &location, err) < 0)
        return -1;
    *root = location ? location : runtime->rootfs_mount_point;
    return 0;
}

static int build_process(const struct runtime *runtime, const struct sandbox *sandbox,
                         const char *id, const Runtime__V1__ContainerConfig *config,
                         const struct image_info *image, struct container_process *process,
                         struct error *err)
{
    const char *root;
    _cleanup_free_ char *mount_point = NULL;

    if (rootfs_root(runtime, sandbox, &root, err) < 0)
        return -1;
    mount_point = container_hostprocess_mount_point(root, id);
    process->mount_point = xstrdup(mount_point);
    if (spec_merge_command(image->entrypoint, image->cmd, config->command, config->n_command,
                           config->args, config->n_args, &process->argv, err) < 0)
        return error_prefix(err, "container %s", config->metadata->name);
    spec_substitute_strv(process->argv, mount_point);
    process->working_dir = spec_working_dir(config->working_dir, image->working_dir, mount_point);
    if (build_env(runtime, config, image, mount_point, process, err) < 0 ||
        build_user(sandbox, config, image, process, err) < 0 ||
        build_mounts(config, process, err) < 0)
        return -1;
    build_resources(config, process);
    process->layers = spec_strv_copy(image->layers, strv_length(image->layers));
    process->stop_signal = stop_signal_of(config, image, err);
    if (process->stop_signal < 0)
        return -1;
    process->tty = config->tty;
    process->stdin_open = config->stdin;
    process->stdin_once = config->stdin_once;
    return 0;
}

/*
 * The container's log file: log_path under the sandbox's log_directory, even when log_path
 * starts with a separator, as containerd joins them. Without a log_directory only an absolute
 * log_path names a file.
 */
static char *log_path_of(const struct sandbox *sandbox, const Runtime__V1__ContainerConfig *config)
{
    const char *dir = sandbox->record.config->log_directory;
    const char *relative = config->log_path;

    if (str_empty(config->log_path))
        return NULL;
    if (str_empty(dir))
        return config->log_path[0] == '/' ? xstrdup(config->log_path) : NULL;
    while (*relative == '/')
        relative++;
    return xasprintf("%s/%s", dir, relative);
}

static struct container *new_container(struct runtime *runtime, char *id,
                                       const struct sandbox *sandbox,
                                       const Runtime__V1__ContainerConfig *config,
                                       const struct image_info *image,
                                       const struct container_process *process)
{
    struct container *container = xcalloc(1, sizeof(*container));
    struct store_container_record *record = &container->record;

    container->runtime = runtime;
    container->stop_signal = process->stop_signal;
    record->id = id;
    record->sandbox_id = xstrdup(sandbox->record.id);
    record->config = message_copy(&config->base);
    record->state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED;
    record->created_at = time_now_ns();
    record->image = xstrdup(image->name ? image->name : config->image->image);
    record->image_id = xstrdup(image->id);
    record->image_ref = xstrdup(image->image_ref ? image->image_ref : image->id);
    record->log_path = log_path_of(sandbox, config);
    record->process = process_to_json(process);
    return container;
}

int runtime_container_create(struct runtime *runtime, const char *sandbox_id,
                             const Runtime__V1__ContainerConfig *config,
                             const Runtime__V1__PodSandboxConfig *sandbox_config, char **id,
                             struct error *err)
{
    struct sandbox *sandbox = runtime_find_sandbox(runtime, sandbox_id, err);
    struct image_info image = {0};
    struct container_process process = {0};
    struct container *container = NULL;
    _cleanup_free_ char *new_id = runtime_new_id();
    int rc = -1;

    if (sandbox == NULL || check_sandbox(sandbox, err) < 0 ||
        check_name_free(runtime, sandbox, config->metadata, err) < 0 ||
        check_host_process_flag(sandbox, config, err) < 0 ||
        image_info_resolve(runtime->images, config->image->image, &image, err) < 0 ||
        build_process(runtime, sandbox, new_id, config, &image, &process, err) < 0)
        goto out;

    container = new_container(runtime, steal_pointer(&new_id), sandbox, config, &image, &process);
    if (store_put_container(runtime->store, &container->record, err) < 0) {
        container_free(container);
        goto out;
    }
    runtime_add_container(runtime, container);
    runtime_emit_container_event(runtime, container->record.id, sandbox->record.id,
                                 RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_CREATED_EVENT);
    log_info_id("container", container->record.id, "created container %s in sandbox %s from %s",
                config->metadata->name, sandbox->record.id, image.id);
    *id = xstrdup(container->record.id);
    rc = 0;
out:
    image_info_clear(&image);
    process_clear(&process);
    return rc;
}
