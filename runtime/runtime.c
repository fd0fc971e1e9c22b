#include "runtime/runtime.h"

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "images/images.h"
#include "runtime/cpu_sampler.h"
#include "runtime/filter.h"
#include "runtime/runtime_internal.h"

#ifdef _WIN32
#define DEFAULT_ROOT_DIR "C:\\ProgramData\\hostcri"
#define DEFAULT_STATE_DIR "C:\\ProgramData\\hostcri\\run"
#define DEFAULT_ROOTFS_MOUNT_POINT "C:\\hpc"
#define DEFAULT_PATH                                                                               \
    "C:\\Windows\\System32;C:\\Windows;C:\\Windows\\System32\\Wbem;"                               \
    "C:\\Windows\\System32\\WindowsPowerShell\\v1.0"
#else
#define DEFAULT_ROOT_DIR "/var/lib/hostcri"
#define DEFAULT_STATE_DIR "/run/hostcri"
#define DEFAULT_ROOTFS_MOUNT_POINT "/hpc"
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#endif

void runtime_config_init_defaults(struct runtime_config *config)
{
    memset(config, 0, sizeof(*config));
    config->root_dir = DEFAULT_ROOT_DIR;
    config->state_dir = DEFAULT_STATE_DIR;
    config->cgroup_driver = RUNTIME_CGROUP_DRIVER_CGROUPFS;
    config->rootfs_mount_point = DEFAULT_ROOTFS_MOUNT_POINT;
    config->accept_non_host_network_pods = false;
    config->sandbox_stop_grace_ms = 0;
    config->kill_timeout_ms = 10000;
    config->leftover_grace_ms = 5000;
    config->default_path = DEFAULT_PATH;
    config->max_send_message_size = 16 * 1024 * 1024;
    config->cpu_sample_interval_ms = CPU_SAMPLER_DEFAULT_INTERVAL_MS;
}

static const char *or_default(const char *value, const char *fallback)
{
    return str_empty(value) ? fallback : value;
}

static void copy_config(struct runtime *runtime, const struct runtime_config *config)
{
    size_t n = strv_length((char *const *)config->runtime_handlers);

    runtime->root_dir = xstrdup(or_default(config->root_dir, DEFAULT_ROOT_DIR));
    runtime->state_dir = xstrdup(or_default(config->state_dir, DEFAULT_STATE_DIR));
    runtime->rootfs_mount_point =
        xstrdup(or_default(config->rootfs_mount_point, DEFAULT_ROOTFS_MOUNT_POINT));
    runtime->default_path = xstrdup(or_default(config->default_path, DEFAULT_PATH));
    runtime->runtime_handlers = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        runtime->runtime_handlers[i] = xstrdup(config->runtime_handlers[i]);
    runtime->accept_non_host_network_pods = config->accept_non_host_network_pods;
    runtime->sandbox_stop_grace_ms = config->sandbox_stop_grace_ms;
    runtime->kill_timeout_ms = config->kill_timeout_ms > 0 ? config->kill_timeout_ms : 10000;
    runtime->max_send_message_size = config->max_send_message_size;
}

static int open_job_backend(struct runtime *runtime, const struct runtime_config *config,
                            struct error *err)
{
    struct job_config job_config = {
        .state_dir = runtime->state_dir,
        .monitor_path = config->monitor_path,
        .cgroup_root = config->cgroup_root,
        .cgroup_driver = config->cgroup_driver == RUNTIME_CGROUP_DRIVER_SYSTEMD
                             ? JOB_CGROUP_DRIVER_SYSTEMD
                             : JOB_CGROUP_DRIVER_CGROUPFS,
        .default_cgroup_parent = config->default_cgroup_parent,
        .rootfs_mount_point = runtime->rootfs_mount_point,
        .leftover_grace_ms = (int)config->leftover_grace_ms,
    };

    if (job_runtime_new(runtime->loop, &job_config, &runtime->job, err) < 0)
        return error_prefix(err, "start the job backend");
    log_info("job backend ready: %s", job_runtime_layout_name(runtime->job));
    return 0;
}

static void load_sandbox_cb(struct store_sandbox_record *record, void *data)
{
    struct runtime *runtime = data;
    struct sandbox *sandbox = xcalloc(1, sizeof(*sandbox));

    sandbox->record = *record;
    memset(record, 0, sizeof(*record));
    runtime_add_sandbox(runtime, sandbox);
}

static void load_container_cb(struct store_container_record *record, void *data)
{
    struct runtime *runtime = data;
    struct container *container = xcalloc(1, sizeof(*container));

    container->record = *record;
    container->runtime = runtime;
    memset(record, 0, sizeof(*record));
    runtime_add_container(runtime, container);
}

/* Reopens the pod job of each sandbox; a READY sandbox whose job is gone gets a new one. */
static void recover_sandboxes(struct runtime *runtime)
{
    for (size_t i = 0; i < runtime->n_sandboxes; i++) {
        struct sandbox *sandbox = runtime->sandboxes[i];
        _cleanup_error_ struct error err = ERROR_INIT;

        if (job_pod_open(runtime->job, sandbox->record.id, &sandbox->pod, &err) == 0)
            continue;
        if (sandbox->record.state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY) {
            const Runtime__V1__LinuxPodSandboxConfig *linux_config = sandbox->record.config->linux;
            struct job_pod_spec spec = {
                .sandbox_id = sandbox->record.id,
                .cgroup_parent = linux_config ? linux_config->cgroup_parent : NULL,
            };

            error_clear(&err);
            if (job_pod_create(runtime->job, &spec, &sandbox->pod, &err) == 0) {
                log_info_id("sandbox", sandbox->record.id, "recreated the pod job");
                continue;
            }
        }
        log_warn_id("sandbox", sandbox->record.id, "pod job unavailable: %s", err.message);
    }
}

static void recover_containers(struct runtime *runtime)
{
    _cleanup_error_ struct error err = ERROR_INIT;
    _cleanup_strv_ char **job_ids = NULL;

    if (job_runtime_list_containers(runtime->job, &job_ids, &err) < 0) {
        log_warn("listing the container jobs failed: %s", err.message);
        job_ids = NULL;
    }
    for (size_t i = 0; i < runtime->n_containers; i++) {
        struct container *container = runtime->containers[i];
        bool has_job_state = false;

        for (size_t j = 0; job_ids && job_ids[j]; j++)
            has_job_state |= strcmp(job_ids[j], container->record.id) == 0;
        container_recover(container, has_job_state);
    }
    for (size_t j = 0; job_ids && job_ids[j]; j++) {
        if (runtime_find_container(runtime, job_ids[j], NULL) == NULL)
            container_clean_orphan(runtime, job_ids[j]);
    }
}

/* The images subsystem's in-use hook: RemoveImage fails while a container uses the image. */
static bool image_in_use_cb(void *data, const char *image_id, char **container_id)
{
    struct runtime *runtime = data;

    for (size_t i = 0; i < runtime->n_containers; i++) {
        const struct container *container = runtime->containers[i];

        if (container->record.image_id && strcmp(container->record.image_id, image_id) == 0) {
            *container_id = xstrdup(container->record.id);
            return true;
        }
    }
    return false;
}

int runtime_open(uv_loop_t *loop, const struct runtime_config *config, struct images *images,
                 struct runtime **out, struct error *err)
{
    struct runtime *runtime = xcalloc(1, sizeof(*runtime));
    _cleanup_free_ char *db_path = NULL;
    _cleanup_free_ char *containers_dir = NULL;

    runtime->loop = loop;
    runtime->images = images;
    copy_config(runtime, config);
    db_path = xasprintf("%s/runtime.db", runtime->root_dir);
    containers_dir = xasprintf("%s/containers", runtime->root_dir);

    if (runtime_make_dirs(runtime->root_dir, 0700, err) < 0 ||
        runtime_make_dirs(containers_dir, 0700, err) < 0 ||
        runtime_make_dirs(runtime->state_dir, 0700, err) < 0 ||
        store_open(db_path, &runtime->store, err) < 0 ||
        open_job_backend(runtime, config, err) < 0 ||
        store_load(runtime->store, load_sandbox_cb, load_container_cb, runtime, err) < 0) {
        runtime_close(runtime);
        return -1;
    }
    recover_sandboxes(runtime);
    recover_containers(runtime);
    runtime_sweep_rootfs_dirs(runtime);
    if (images)
        images_set_in_use_hook(images, image_in_use_cb, runtime);
    runtime_cpu_sampler_start(runtime, config->cpu_sample_interval_ms);
    log_info("runtime open: %zu sandboxes, %zu containers, root %s, state %s", runtime->n_sandboxes,
             runtime->n_containers, runtime->root_dir, runtime->state_dir);
    *out = runtime;
    return 0;
}

uv_loop_t *runtime_loop(const struct runtime *runtime)
{
    return runtime->loop;
}

void runtime_features(const struct runtime *runtime, struct runtime_features *features)
{
    struct job_features job_features = {0};

    if (runtime != NULL)
        job_runtime_features(runtime->job, &job_features);
    features->recursive_readonly_mounts = job_features.recursive_readonly_mounts;
    features->supplemental_groups_policy = job_features.supplemental_groups;
}

void runtime_close(struct runtime *runtime)
{
    struct error cancelled = {ERROR_CANCELLED, (char *)"the runtime is shutting down"};

    if (runtime == NULL)
        return;
    if (runtime->images)
        images_set_in_use_hook(runtime->images, NULL, NULL);
    runtime_cpu_sampler_stop(runtime);
    runtime_events_close(runtime);
    runtime_cancel_exec_syncs(runtime);
    runtime_forget_measurements(runtime);
    runtime_release_orphans(runtime);
    for (size_t i = 0; i < runtime->n_containers; i++) {
        container_cancel_start(runtime->containers[i], &cancelled);
        container_complete_waiters(runtime->containers[i], &cancelled);
    }
    for (size_t i = 0; i < runtime->n_containers; i++)
        container_free(runtime->containers[i]);
    for (size_t i = 0; i < runtime->n_sandboxes; i++)
        sandbox_free(runtime->sandboxes[i]);
    free(runtime->containers);
    free(runtime->sandboxes);
    if (runtime->job)
        job_runtime_free(runtime->job);
    store_close(runtime->store);
    free(runtime->root_dir);
    free(runtime->state_dir);
    free(runtime->rootfs_mount_point);
    free(runtime->default_path);
    strv_free(runtime->runtime_handlers);
    free(runtime);
}

void runtime_message_free(void *message)
{
    if (message)
        protobuf_c_message_free_unpacked(message, NULL);
}

char *runtime_new_id(void)
{
    unsigned char bytes[32];
    char *id = xmalloc(2 * sizeof(bytes) + 1);

    if (uv_random(NULL, NULL, bytes, sizeof(bytes), 0, NULL) != 0)
        abort(); /* uv_random fails only when no OS random source can be read */
    for (size_t i = 0; i < sizeof(bytes); i++)
        snprintf(id + 2 * i, 3, "%02x", bytes[i]);
    return id;
}

static const char *sandbox_id_of(const void *item)
{
    return ((const struct sandbox *)item)->record.id;
}

static const char *container_id_of(const void *item)
{
    return ((const struct container *)item)->record.id;
}

struct sandbox *runtime_find_sandbox(struct runtime *runtime, const char *id, struct error *err)
{
    long index = filter_find_by_prefix((void *const *)runtime->sandboxes, runtime->n_sandboxes,
                                       sandbox_id_of, id, "sandbox", err);

    return index < 0 ? NULL : runtime->sandboxes[index];
}

struct container *runtime_find_container(struct runtime *runtime, const char *id, struct error *err)
{
    long index = filter_find_by_prefix((void *const *)runtime->containers, runtime->n_containers,
                                       container_id_of, id, "container", err);

    return index < 0 ? NULL : runtime->containers[index];
}

#define LIST_ADD(array, count, item)                                                               \
    do {                                                                                           \
        (array) = xrealloc((array), ((count) + 1) * sizeof(*(array)));                             \
        (array)[(count)++] = (item);                                                               \
    } while (0)

#define LIST_DROP(array, count, item)                                                              \
    do {                                                                                           \
        for (size_t i_ = 0; i_ < (count); i_++) {                                                  \
            if ((array)[i_] == (item)) {                                                           \
                memmove(&(array)[i_], &(array)[i_ + 1], ((count)-i_ - 1) * sizeof(*(array)));      \
                (count)--;                                                                         \
                break;                                                                             \
            }                                                                                      \
        }                                                                                          \
    } while (0)

void runtime_add_sandbox(struct runtime *runtime, struct sandbox *sandbox)
{
    LIST_ADD(runtime->sandboxes, runtime->n_sandboxes, sandbox);
}

void runtime_drop_sandbox(struct runtime *runtime, struct sandbox *sandbox)
{
    LIST_DROP(runtime->sandboxes, runtime->n_sandboxes, sandbox);
}

void runtime_add_container(struct runtime *runtime, struct container *container)
{
    LIST_ADD(runtime->containers, runtime->n_containers, container);
}

void runtime_drop_container(struct runtime *runtime, struct container *container)
{
    LIST_DROP(runtime->containers, runtime->n_containers, container);
}

bool runtime_image_in_use(struct runtime *runtime, const char *image_id)
{
    for (size_t i = 0; i < runtime->n_containers; i++) {
        const char *used = runtime->containers[i]->record.image_id;

        if (used && strcmp(used, image_id) == 0)
            return true;
    }
    return false;
}

int runtime_container_lookup(struct runtime *runtime, const char *id, const char **full_id,
                             Runtime__V1__ContainerState *state, struct error *err)
{
    struct container *container = runtime_find_container(runtime, id, err);

    if (container == NULL)
        return -1;
    if (full_id)
        *full_id = container->record.id;
    if (state)
        *state = container->record.state;
    return 0;
}
