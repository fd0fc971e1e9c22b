/*
 * Lifecycle tests of the runtime (runtime/runtime.h) over a fake job backend and a fake image
 * subsystem: sandboxes, containers, stops, removal and restart recovery, with a real store in
 * a temporary directory.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "common/util.h"
#include "fake_images.h"
#include "fake_job.h"
#include "runtime/runtime.h"

#define CSTATE(s) RUNTIME__V1__CONTAINER_STATE__CONTAINER_##s

struct fixture {
    char root[64];
    char *state_dir;
    struct runtime *runtime;
    Runtime__V1__PodSandboxMetadata sandbox_md;
    Runtime__V1__PodSandboxConfig sandbox_config;
    Runtime__V1__LinuxPodSandboxConfig linux_config;
    Runtime__V1__LinuxSandboxSecurityContext security;
    Runtime__V1__NamespaceOption namespaces;
    Runtime__V1__ContainerMetadata container_md;
    Runtime__V1__ImageSpec image;
    Runtime__V1__ContainerConfig container_config;
};

/* The result of an asynchronous runtime call. */
struct done {
    bool called;
    enum error_code code;
};

static void done_cb(const struct error *err, void *data)
{
    struct done *done = data;

    done->called = true;
    done->code = err ? err->code : ERROR_OK;
}

static void run_until(struct done *done)
{
    while (!done->called)
        uv_run(uv_default_loop(), UV_RUN_ONCE);
}

static void open_runtime(struct fixture *f)
{
    struct runtime_config config;
    _cleanup_error_ struct error err = ERROR_INIT;

    runtime_config_init_defaults(&config);
    config.root_dir = f->root;
    config.state_dir = f->state_dir;
    config.kill_timeout_ms = 2000;
    assert_int_equal(
        runtime_open(uv_default_loop(), &config, (struct images *)1, &f->runtime, &err), 0);
}

static void close_runtime(struct fixture *f)
{
    runtime_close(f->runtime);
    f->runtime = NULL;
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
}

static char *image_entrypoint[] = {"/bin/sh", NULL};
static char *image_cmd[] = {"-c", "sleep 1000", NULL};
static char *image_env[] = {"PATH=/usr/bin:/bin", "IMAGE=1", NULL};

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));

    strcpy(f->root, "/tmp/hostcri-lifecycle-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    f->state_dir = xasprintf("%s/state", f->root);
    fake_job_reset();
    memset(&fake_image_config, 0, sizeof(fake_image_config));
    fake_image_config.entrypoint = image_entrypoint;
    fake_image_config.cmd = image_cmd;
    fake_image_config.env = image_env;

    runtime__v1__pod_sandbox_metadata__init(&f->sandbox_md);
    runtime__v1__pod_sandbox_config__init(&f->sandbox_config);
    runtime__v1__linux_pod_sandbox_config__init(&f->linux_config);
    runtime__v1__linux_sandbox_security_context__init(&f->security);
    runtime__v1__namespace_option__init(&f->namespaces);
    f->sandbox_md.name = "pod";
    f->sandbox_md.namespace_ = "ns";
    f->sandbox_md.uid = "uid-1";
    f->sandbox_config.metadata = &f->sandbox_md;
    f->sandbox_config.log_directory = "/var/log/pods/ns_pod_uid-1";
    f->sandbox_config.linux = &f->linux_config;
    f->linux_config.security_context = &f->security;
    f->security.namespace_options = &f->namespaces;
    f->namespaces.network = RUNTIME__V1__NAMESPACE_MODE__NODE;

    runtime__v1__container_metadata__init(&f->container_md);
    runtime__v1__image_spec__init(&f->image);
    runtime__v1__container_config__init(&f->container_config);
    f->container_md.name = "main";
    f->image.image = FAKE_IMAGE_NAME;
    f->container_config.metadata = &f->container_md;
    f->container_config.image = &f->image;
    f->container_config.log_path = "main/0.log";
    open_runtime(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *command = xasprintf("rm -rf '%s'", f->root);

    close_runtime(f);
    assert_int_equal(system(command), 0);
    free(f->state_dir);
    free(f);
    fake_job_reset();
    return 0;
}

static char *run_sandbox(struct fixture *f)
{
    char *id = NULL;
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(runtime_sandbox_run(f->runtime, &f->sandbox_config, "", &id, &err), 0);
    assert_int_equal(strlen(id), 64);
    return id;
}

static char *create_container(struct fixture *f, const char *sandbox_id)
{
    char *id = NULL;
    _cleanup_error_ struct error err = ERROR_INIT;

    if (runtime_container_create(f->runtime, sandbox_id, &f->container_config, NULL, &id, &err) < 0)
        fail_msg("create failed: %s", err.message);
    return id;
}

static Runtime__V1__ContainerStatus *container_status(struct fixture *f, const char *id,
                                                      Runtime__V1__ContainerStatusResponse **resp)
{
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(runtime_container_status(f->runtime, id, false, resp, &err), 0);
    return (*resp)->status;
}

static enum error_code stop(struct fixture *f, const char *id, int64_t timeout)
{
    struct done done = {0};
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(runtime_container_stop(f->runtime, id, timeout, done_cb, &done, &err), 0);
    assert_false(done.called);
    run_until(&done);
    return done.code;
}

/* Starts a container and runs the loop until the start ends; returns its error code. */
static enum error_code start(struct fixture *f, const char *id)
{
    struct done done = {0};
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(runtime_container_start(f->runtime, id, done_cb, &done, &err), 0);
    assert_false(done.called);
    run_until(&done);
    return done.code;
}

/* Asserts that runtime_container_list_pack gives the bytes of runtime_container_list's response. */
static void assert_list_pack_matches(struct fixture *f, const Runtime__V1__ContainerFilter *filter)
{
    Runtime__V1__ListContainersResponse *list = NULL;
    _cleanup_error_ struct error err = ERROR_INIT;
    _cleanup_strbuf_ struct strbuf packed = STRBUF_INIT;
    _cleanup_free_ uint8_t *expected = NULL;
    size_t expected_size;

    assert_int_equal(runtime_container_list(f->runtime, filter, &list, &err), 0);
    expected_size = protobuf_c_message_get_packed_size(&list->base);
    expected = xmalloc(expected_size + 1);
    protobuf_c_message_pack(&list->base, expected);
    runtime_container_list_free(list);

    runtime_container_list_pack(f->runtime, filter, &packed);
    assert_int_equal(packed.length, expected_size);
    assert_memory_equal(packed.data, expected, expected_size);
}

static void list_pack_matches_message(void **state)
{
    struct fixture *f = *state;
    Runtime__V1__ContainerConfig__LabelsEntry tier =
        RUNTIME__V1__CONTAINER_CONFIG__LABELS_ENTRY__INIT;
    Runtime__V1__ContainerConfig__LabelsEntry app =
        RUNTIME__V1__CONTAINER_CONFIG__LABELS_ENTRY__INIT;
    Runtime__V1__ContainerConfig__LabelsEntry *labels[] = {&tier, &app};
    Runtime__V1__ContainerStateValue running = RUNTIME__V1__CONTAINER_STATE_VALUE__INIT;
    Runtime__V1__ContainerFilter filter = RUNTIME__V1__CONTAINER_FILTER__INIT;
    Runtime__V1__ListContainersResponse *decoded;
    _cleanup_strbuf_ struct strbuf packed = STRBUF_INIT;
    _cleanup_free_ char *sandbox_id = run_sandbox(f);
    _cleanup_free_ char *first = NULL;
    _cleanup_free_ char *second = NULL;

    tier.key = "tier";
    tier.value = "web";
    app.key = "app";
    app.value = "shop";
    f->container_config.labels = labels;
    f->container_config.n_labels = 2;
    first = create_container(f, sandbox_id);
    f->container_config.n_labels = 0;
    f->container_config.labels = NULL;
    f->container_md.name = "second";
    second = create_container(f, sandbox_id);
    assert_list_pack_matches(f, NULL);

    /* The cached item of a container is rebuilt when its state changes. */
    assert_int_equal(start(f, first), ERROR_OK);
    assert_list_pack_matches(f, NULL);
    running.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
    filter.state = &running;
    assert_list_pack_matches(f, &filter);

    runtime_container_list_pack(f->runtime, &filter, &packed);
    decoded = runtime__v1__list_containers_response__unpack(NULL, packed.length,
                                                            (const uint8_t *)packed.data);
    assert_non_null(decoded);
    assert_int_equal(decoded->n_containers, 1);
    assert_string_equal(decoded->containers[0]->id, first);
    assert_int_equal(decoded->containers[0]->state,
                     RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING);
    assert_int_equal(decoded->containers[0]->n_labels, 2);
    assert_string_equal(decoded->containers[0]->labels[0]->key, "tier");
    assert_string_equal(decoded->containers[0]->labels[0]->value, "web");
    assert_string_equal(decoded->containers[0]->image->image, FAKE_IMAGE_NAME);
    runtime__v1__list_containers_response__free_unpacked(decoded, NULL);
}

static void sandbox_rules_enforced(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *id = run_sandbox(f);
    char *other = NULL;
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(runtime_sandbox_run(f->runtime, &f->sandbox_config, "", &other, &err), -1);
    assert_int_equal(err.code, ERROR_ALREADY_EXISTS);
    assert_non_null(strstr(err.message, id));
    error_clear(&err);

    f->sandbox_md.attempt = 1;
    assert_int_equal(runtime_sandbox_run(f->runtime, &f->sandbox_config, "kata", &other, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "kata"));
    error_clear(&err);

    f->namespaces.network = RUNTIME__V1__NAMESPACE_MODE__POD;
    assert_int_equal(runtime_sandbox_run(f->runtime, &f->sandbox_config, "", &other, &err), -1);
    assert_int_equal(err.code, ERROR_FAILED_PRECONDITION);
    assert_non_null(strstr(err.message, "hostNetwork: true"));
    assert_int_equal(fake_job.pods_created, 1);
}

static void sandbox_status_and_list(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *id = run_sandbox(f);
    Runtime__V1__PodSandboxStatusResponse *status = NULL;
    Runtime__V1__ListPodSandboxResponse *list = NULL;
    Runtime__V1__PodSandboxFilter filter = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
    Runtime__V1__PodSandboxStateValue not_ready = RUNTIME__V1__POD_SANDBOX_STATE_VALUE__INIT;
    _cleanup_error_ struct error err = ERROR_INIT;
    char prefix[9] = {0};

    memcpy(prefix, id, 8);
    assert_int_equal(runtime_sandbox_status(f->runtime, prefix, true, &status, &err), 0);
    assert_string_equal(status->status->id, id);
    assert_string_equal(status->status->metadata->name, "pod");
    assert_int_equal(status->status->state, RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY);
    assert_string_equal(status->status->network->ip, "");
    assert_int_equal(status->status->linux->namespaces->options->network,
                     RUNTIME__V1__NAMESPACE_MODE__NODE);
    assert_int_equal(status->status->linux->namespaces->options->pid,
                     RUNTIME__V1__NAMESPACE_MODE__NODE);
    assert_int_equal(status->n_info, 1);
    assert_non_null(strstr(status->info[0]->value, "\"cgroup\""));
    runtime_message_free(status);

    filter.id = prefix;
    assert_int_equal(runtime_sandbox_list(f->runtime, &filter, &list, &err), 0);
    assert_int_equal(list->n_items, 1);
    runtime_message_free(list);
    not_ready.state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
    filter.state = &not_ready;
    assert_int_equal(runtime_sandbox_list(f->runtime, &filter, &list, &err), 0);
    assert_int_equal(list->n_items, 0);
    runtime_message_free(list);

    assert_int_equal(runtime_sandbox_status(f->runtime, "ffff", false, &status, &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
}

static void container_create_and_start(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *sandbox_id = run_sandbox(f);
    _cleanup_free_ char *id = create_container(f, sandbox_id);
    Runtime__V1__ContainerStatusResponse *resp = NULL;
    Runtime__V1__ContainerStatus *status = container_status(f, id, &resp);
    _cleanup_error_ struct error err = ERROR_INIT;
    char *duplicate = NULL;

    assert_int_equal(status->state, CSTATE(CREATED));
    assert_string_equal(status->image->image, FAKE_IMAGE_NAME);
    assert_string_equal(status->image_ref, FAKE_IMAGE_DIGEST);
    assert_string_equal(status->image_id, FAKE_IMAGE_ID);
    assert_string_equal(status->log_path, "/var/log/pods/ns_pod_uid-1/main/0.log");
    runtime_message_free(resp);

    assert_int_equal(runtime_container_create(f->runtime, sandbox_id, &f->container_config, NULL,
                                              &duplicate, &err),
                     -1);
    assert_int_equal(err.code, ERROR_ALREADY_EXISTS);
    assert_non_null(strstr(err.message, id));
    error_clear(&err);

    assert_int_equal(start(f, id), ERROR_OK);
    assert_string_equal(fake_job_container(id)->last_argv0, "/bin/sh");
    assert_string_equal(fake_job_container(id)->last_working_dir, "/hpc");
    assert_non_null(strstr(fake_job_container(id)->last_env, "IMAGE=1\n"));
    assert_non_null(
        strstr(fake_job_container(id)->last_env, "CONTAINER_SANDBOX_MOUNT_POINT=/hpc/\n"));
    assert_non_null(strstr(fake_job_container(id)->last_env, "PATH=/usr/bin:/bin:/hpc:/hpc/bin\n"));
    status = container_status(f, id, &resp);
    assert_int_equal(status->state, CSTATE(RUNNING));
    assert_true(status->started_at > 0);
    runtime_message_free(resp);

    assert_int_equal(runtime_container_start(f->runtime, id, done_cb, NULL, &err), -1);
    assert_int_equal(err.code, ERROR_FAILED_PRECONDITION);
    assert_non_null(strstr(err.message, "CONTAINER_RUNNING"));
}

/*
 * The pod annotations reach every container of the pod: rootfs-location moves the mount point
 * (and with it the working directory, CONTAINER_SANDBOX_MOUNT_POINT and PATH), inherit-user drops
 * the user, and an invalid location fails RunPodSandbox.
 */
static void pod_annotations_applied(void **state)
{
    struct fixture *f = *state;
    Runtime__V1__PodSandboxConfig__AnnotationsEntry location = {
        PROTOBUF_C_MESSAGE_INIT(&runtime__v1__pod_sandbox_config__annotations_entry__descriptor),
        "microsoft.com/hostprocess-rootfs-location", "/pods"};
    Runtime__V1__PodSandboxConfig__AnnotationsEntry inherit = {
        PROTOBUF_C_MESSAGE_INIT(&runtime__v1__pod_sandbox_config__annotations_entry__descriptor),
        "microsoft.com/hostprocess-inherit-user", "true"};
    Runtime__V1__PodSandboxConfig__AnnotationsEntry *entries[] = {&location, &inherit};
    Runtime__V1__LinuxContainerConfig linux_config = RUNTIME__V1__LINUX_CONTAINER_CONFIG__INIT;
    Runtime__V1__LinuxContainerSecurityContext security =
        RUNTIME__V1__LINUX_CONTAINER_SECURITY_CONTEXT__INIT;
    _cleanup_error_ struct error err = ERROR_INIT;
    _cleanup_free_ char *sandbox_id = NULL;
    _cleanup_free_ char *id = NULL;
    char *rejected = NULL;
    const struct fake_job_container *fake;

    security.run_as_username = "no-such-user";
    linux_config.security_context = &security;
    f->container_config.linux = &linux_config;
    f->sandbox_config.annotations = entries;
    f->sandbox_config.n_annotations = 2;
    sandbox_id = run_sandbox(f);
    id = create_container(f, sandbox_id);
    assert_int_equal(start(f, id), ERROR_OK);
    fake = fake_job_container(id);
    assert_string_equal(fake->last_mount_point, "/pods");
    assert_string_equal(fake->last_working_dir, "/pods");
    assert_non_null(strstr(fake->last_env, "CONTAINER_SANDBOX_MOUNT_POINT=/pods/\n"));
    assert_non_null(strstr(fake->last_env, "PATH=/usr/bin:/bin:/pods:/pods/bin\n"));
    assert_string_equal(fake->last_username, "");
    assert_false(fake->last_has_uid);

    location.value = "pods";
    f->sandbox_md.name = "relative-location";
    assert_int_equal(runtime_sandbox_run(f->runtime, &f->sandbox_config, "", &rejected, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "microsoft.com/hostprocess-rootfs-location"));
    assert_null(rejected);
    f->sandbox_config.annotations = NULL;
    f->sandbox_config.n_annotations = 0;
    f->container_config.linux = NULL;
}

static void start_error_recorded(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *sandbox_id = run_sandbox(f);
    char *command[] = {"/missing"};
    _cleanup_free_ char *id = NULL;
    Runtime__V1__ContainerStatusResponse *resp = NULL;
    Runtime__V1__ContainerStatus *status;
    _cleanup_error_ struct error err = ERROR_INIT;

    f->container_config.command = command;
    f->container_config.n_command = 1;
    id = create_container(f, sandbox_id);
    assert_int_equal(start(f, id), ERROR_NOT_FOUND);
    status = container_status(f, id, &resp);
    assert_int_equal(status->state, CSTATE(EXITED));
    assert_string_equal(status->reason, "StartError");
    assert_int_equal(status->exit_code, 128);
    assert_non_null(strstr(status->message, "/missing"));
    runtime_message_free(resp);
}

static void sync_start_error_recorded(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *sandbox_id = run_sandbox(f);
    char *command[] = {"/sync-failure"};
    _cleanup_free_ char *id = NULL;
    Runtime__V1__ContainerStatusResponse *resp = NULL;
    Runtime__V1__ContainerStatus *status;
    struct done done = {0};
    _cleanup_error_ struct error err = ERROR_INIT;

    f->container_config.command = command;
    f->container_config.n_command = 1;
    id = create_container(f, sandbox_id);
    assert_int_equal(runtime_container_start(f->runtime, id, done_cb, &done, &err), -1);
    assert_int_equal(err.code, ERROR_INTERNAL);
    uv_run(uv_default_loop(), UV_RUN_NOWAIT);
    assert_false(done.called);
    status = container_status(f, id, &resp);
    assert_int_equal(status->state, CSTATE(EXITED));
    assert_string_equal(status->reason, "StartError");
    runtime_message_free(resp);
}

static void second_start_while_pending(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *sandbox_id = run_sandbox(f);
    _cleanup_free_ char *id = create_container(f, sandbox_id);
    Runtime__V1__ContainerStatusResponse *resp = NULL;
    struct done first = {0};
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(runtime_container_start(f->runtime, id, done_cb, &first, &err), 0);
    assert_int_equal(container_status(f, id, &resp)->state, CSTATE(CREATED));
    runtime_message_free(resp);
    assert_int_equal(runtime_container_start(f->runtime, id, done_cb, NULL, &err), -1);
    assert_int_equal(err.code, ERROR_FAILED_PRECONDITION);
    assert_non_null(strstr(err.message, "already starting"));
    run_until(&first);
    assert_int_equal(first.code, ERROR_OK);
    assert_int_equal(fake_job_container(id)->started, 1);
    assert_int_equal(container_status(f, id, &resp)->state, CSTATE(RUNNING));
    runtime_message_free(resp);
}

static void stop_and_remove_during_start(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *sandbox_id = run_sandbox(f);
    _cleanup_free_ char *id = create_container(f, sandbox_id);
    Runtime__V1__ContainerStatusResponse *resp = NULL;
    struct done started = {0}, stopped = {0}, removed = {0};
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(runtime_container_start(f->runtime, id, done_cb, &started, &err), 0);
    assert_int_equal(runtime_container_stop(f->runtime, id, 30, done_cb, &stopped, &err), 0);
    run_until(&started);
    assert_int_equal(started.code, ERROR_OK);
    run_until(&stopped);
    assert_int_equal(stopped.code, ERROR_OK);
    assert_int_equal(fake_job_container(id)->last_signal, 15);
    assert_int_equal(container_status(f, id, &resp)->state, CSTATE(EXITED));
    runtime_message_free(resp);

    /* A remove during a start kills the container once it runs, then removes it. */
    free(id);
    f->container_md.name = "second";
    id = create_container(f, sandbox_id);
    memset(&started, 0, sizeof(started));
    assert_int_equal(runtime_container_start(f->runtime, id, done_cb, &started, &err), 0);
    assert_int_equal(runtime_container_remove(f->runtime, id, done_cb, &removed, &err), 0);
    run_until(&removed);
    assert_true(started.called);
    assert_int_equal(started.code, ERROR_OK);
    assert_int_equal(removed.code, ERROR_OK);
    assert_int_equal(fake_job_container(id)->kills, 1);
    assert_true(fake_job_container(id)->removed);
    assert_int_equal(runtime_container_status(f->runtime, id, false, NULL, &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
}

static void stop_kills_after_timeout(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *sandbox_id = run_sandbox(f);
    _cleanup_free_ char *id = create_container(f, sandbox_id);
    Runtime__V1__ContainerStatusResponse *resp = NULL;
    Runtime__V1__ContainerStatus *status;
    struct fake_job_container *fake;
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(start(f, id), ERROR_OK);
    fake = fake_job_container(id);
    fake->ignore_stop_signal = true;
    assert_int_equal(stop(f, id, 1), ERROR_OK);
    fake = fake_job_container(id);
    assert_int_equal(fake->signals_sent, 1);
    assert_int_equal(fake->last_signal, 15);
    assert_int_equal(fake->kills, 1);
    status = container_status(f, id, &resp);
    assert_int_equal(status->state, CSTATE(EXITED));
    assert_int_equal(status->exit_code, 137);
    assert_string_equal(status->reason, "Error");
    runtime_message_free(resp);

    /* Stopping an exited container succeeds; an unknown one is NOT_FOUND. */
    assert_int_equal(stop(f, id, 10), ERROR_OK);
    assert_int_equal(runtime_container_stop(f->runtime, "0000", 1, done_cb, NULL, &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
}

static void stop_signal_from_image(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *sandbox_id = run_sandbox(f);
    _cleanup_free_ char *id = NULL;
    _cleanup_error_ struct error err = ERROR_INIT;

    fake_image_config.stop_signal = "SIGQUIT";
    id = create_container(f, sandbox_id);
    assert_int_equal(start(f, id), ERROR_OK);
    assert_int_equal(stop(f, id, 30), ERROR_OK);
    assert_int_equal(fake_job_container(id)->last_signal, 3);
    assert_int_equal(fake_job_container(id)->kills, 0);
}

static void second_stop_shares_exit(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *sandbox_id = run_sandbox(f);
    _cleanup_free_ char *id = create_container(f, sandbox_id);
    struct done first = {0}, second = {0};
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(start(f, id), ERROR_OK);
    fake_job_container(id)->ignore_stop_signal = true;
    assert_int_equal(runtime_container_stop(f->runtime, id, 60, done_cb, &first, &err), 0);
    assert_int_equal(runtime_container_stop(f->runtime, id, 0, done_cb, &second, &err), 0);
    run_until(&second);
    run_until(&first);
    assert_int_equal(first.code, ERROR_OK);
    assert_int_equal(second.code, ERROR_OK);
    assert_int_equal(fake_job_container(id)->signals_sent, 1);
    assert_int_equal(fake_job_container(id)->kills, 1);
}

static void stop_without_exit_report(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *sandbox_id = run_sandbox(f);
    _cleanup_free_ char *id = create_container(f, sandbox_id);
    Runtime__V1__ContainerStatusResponse *resp = NULL;
    Runtime__V1__ContainerStatus *status;
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(start(f, id), ERROR_OK);
    fake_job_container(id)->lose_exit = true;
    assert_int_equal(stop(f, id, 0), ERROR_OK);
    status = container_status(f, id, &resp);
    assert_int_equal(status->state, CSTATE(EXITED));
    assert_int_equal(status->exit_code, 137);
    assert_non_null(strstr(status->message, "no exit"));
    runtime_message_free(resp);
}

static void remove_running_and_unknown(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *sandbox_id = run_sandbox(f);
    _cleanup_free_ char *id = create_container(f, sandbox_id);
    Runtime__V1__ListContainersResponse *list = NULL;
    struct done done = {0};
    _cleanup_error_ struct error err = ERROR_INIT;
    char *user = NULL;

    assert_int_equal(start(f, id), ERROR_OK);
    assert_true(fake_images_in_use(FAKE_IMAGE_ID, &user));
    assert_string_equal(user, id);
    free(user);

    assert_int_equal(runtime_container_remove(f->runtime, id, done_cb, &done, &err), 0);
    run_until(&done);
    assert_int_equal(done.code, ERROR_OK);
    assert_true(fake_job_container(id)->removed);
    assert_int_equal(runtime_container_list(f->runtime, NULL, &list, &err), 0);
    assert_int_equal(list->n_containers, 0);
    runtime_container_list_free(list);
    assert_false(fake_images_in_use(FAKE_IMAGE_ID, &user));

    memset(&done, 0, sizeof(done));
    assert_int_equal(runtime_container_remove(f->runtime, id, done_cb, &done, &err), 0);
    run_until(&done);
    assert_int_equal(done.code, ERROR_OK);
}

static void sandbox_stop_and_remove(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *sandbox_id = run_sandbox(f);
    _cleanup_free_ char *id = create_container(f, sandbox_id);
    Runtime__V1__PodSandboxStatusResponse *status = NULL;
    struct done done = {0};
    _cleanup_error_ struct error err = ERROR_INIT;
    char *late = NULL;

    assert_int_equal(start(f, id), ERROR_OK);
    assert_int_equal(runtime_sandbox_stop(f->runtime, sandbox_id, done_cb, &done, &err), 0);
    run_until(&done);
    assert_int_equal(done.code, ERROR_OK);
    assert_int_equal(fake_job_container(id)->kills, 1);
    assert_int_equal(runtime_sandbox_status(f->runtime, sandbox_id, false, &status, &err), 0);
    assert_int_equal(status->status->state, RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY);
    runtime_message_free(status);

    f->container_md.name = "late";
    assert_int_equal(
        runtime_container_create(f->runtime, sandbox_id, &f->container_config, NULL, &late, &err),
        -1);
    assert_int_equal(err.code, ERROR_FAILED_PRECONDITION);
    error_clear(&err);

    memset(&done, 0, sizeof(done));
    assert_int_equal(runtime_sandbox_stop(f->runtime, sandbox_id, done_cb, &done, &err), 0);
    run_until(&done);
    assert_int_equal(done.code, ERROR_OK);

    memset(&done, 0, sizeof(done));
    assert_int_equal(runtime_sandbox_remove(f->runtime, sandbox_id, done_cb, &done, &err), 0);
    run_until(&done);
    assert_int_equal(done.code, ERROR_OK);
    assert_int_equal(fake_job.pods_removed, 1);
    assert_int_equal(runtime_container_status(f->runtime, id, false, NULL, &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);

    memset(&done, 0, sizeof(done));
    assert_int_equal(runtime_sandbox_remove(f->runtime, sandbox_id, done_cb, &done, &err), 0);
    run_until(&done);
    assert_int_equal(done.code, ERROR_OK);
}

static void restart_recovers_states(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *sandbox_id = run_sandbox(f);
    char *ids[3];
    int codes[3];
    const char *reasons[3];
    _cleanup_error_ struct error err = ERROR_INIT;

    for (int i = 0; i < 3; i++) {
        char name[16];

        snprintf(name, sizeof(name), "c%d", i);
        f->container_md.name = name;
        ids[i] = create_container(f, sandbox_id);
        assert_int_equal(start(f, ids[i]), ERROR_OK);
    }
    close_runtime(f);

    /* c0 still runs, c1 exited with 3 while the daemon was down, c2's job state is gone. */
    fake_job_container(ids[0])->reopen_running = true;
    fake_job_container(ids[1])->exit_code = 3;
    fake_job_container(ids[1])->finished_at = 12345;
    fake_job_container(ids[2])->has_state = false;
    open_runtime(f);

    for (int i = 0; i < 3; i++) {
        Runtime__V1__ContainerStatusResponse *resp = NULL;
        Runtime__V1__ContainerStatus *status = container_status(f, ids[i], &resp);

        codes[i] = status->exit_code;
        reasons[i] = status->state == CSTATE(RUNNING) ? "running" : status->reason;
        if (i == 1)
            assert_int_equal(status->finished_at, 12345);
        reasons[i] = xstrdup(reasons[i]);
        runtime_message_free(resp);
    }
    assert_string_equal(reasons[0], "running");
    assert_string_equal(reasons[1], "Error");
    assert_int_equal(codes[1], 3);
    assert_string_equal(reasons[2], "Unknown");
    assert_int_equal(codes[2], 255);

    /* The reconnected container still stops. */
    assert_int_equal(stop(f, ids[0], 0), ERROR_OK);
    for (int i = 0; i < 3; i++) {
        free(ids[i]);
        free((char *)reasons[i]);
    }
}

static void restart_keeps_never_started_job(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *sandbox_id = run_sandbox(f);
    _cleanup_free_ char *id = create_container(f, sandbox_id);
    Runtime__V1__ContainerStatusResponse *resp = NULL;
    _cleanup_error_ struct error err = ERROR_INIT;

    close_runtime(f);
    fake_job_container(id)->has_state = true;
    fake_job_container(id)->exit_reason = JOB_EXIT_NOT_STARTED;
    open_runtime(f);

    assert_int_equal(container_status(f, id, &resp)->state, CSTATE(CREATED));
    runtime_message_free(resp);
    assert_int_equal(start(f, id), ERROR_OK);
    assert_int_equal(fake_job_container(id)->started, 1);
    assert_int_equal(container_status(f, id, &resp)->state, CSTATE(RUNNING));
    runtime_message_free(resp);
}

static void orphan_jobs_removed(void **state)
{
    struct fixture *f = *state;

    close_runtime(f);
    /* Two jobs that no record lists: one still runs, one has ended. */
    fake_job_container("orphan-running")->has_state = true;
    fake_job_container("orphan-running")->reopen_running = true;
    fake_job_container("orphan-ended")->has_state = true;
    open_runtime(f);

    assert_true(fake_job_container("orphan-ended")->removed);
    while (!fake_job_container("orphan-running")->removed)
        uv_run(uv_default_loop(), UV_RUN_ONCE);
    assert_int_equal(fake_job_container("orphan-running")->kills, 1);
    assert_int_equal(fake_job_container("orphan-ended")->kills, 0);
}

static void reopen_log_needs_running(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *sandbox_id = run_sandbox(f);
    _cleanup_free_ char *id = create_container(f, sandbox_id);
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(runtime_container_reopen_log(f->runtime, id, &err), -1);
    assert_int_equal(err.code, ERROR_FAILED_PRECONDITION);
    error_clear(&err);
    assert_int_equal(start(f, id), ERROR_OK);
    assert_int_equal(runtime_container_reopen_log(f->runtime, id, &err), 0);
    assert_int_equal(fake_job_container(id)->log_reopens, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(sandbox_rules_enforced, setup, teardown),
        cmocka_unit_test_setup_teardown(sandbox_status_and_list, setup, teardown),
        cmocka_unit_test_setup_teardown(container_create_and_start, setup, teardown),
        cmocka_unit_test_setup_teardown(pod_annotations_applied, setup, teardown),
        cmocka_unit_test_setup_teardown(start_error_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(sync_start_error_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(second_start_while_pending, setup, teardown),
        cmocka_unit_test_setup_teardown(stop_and_remove_during_start, setup, teardown),
        cmocka_unit_test_setup_teardown(stop_kills_after_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(stop_signal_from_image, setup, teardown),
        cmocka_unit_test_setup_teardown(second_stop_shares_exit, setup, teardown),
        cmocka_unit_test_setup_teardown(stop_without_exit_report, setup, teardown),
        cmocka_unit_test_setup_teardown(remove_running_and_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(sandbox_stop_and_remove, setup, teardown),
        cmocka_unit_test_setup_teardown(restart_recovers_states, setup, teardown),
        cmocka_unit_test_setup_teardown(restart_keeps_never_started_job, setup, teardown),
        cmocka_unit_test_setup_teardown(orphan_jobs_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(reopen_log_needs_running, setup, teardown),
        cmocka_unit_test_setup_teardown(list_pack_matches_message, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
