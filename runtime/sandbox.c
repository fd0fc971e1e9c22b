/* Pod sandboxes: RunPodSandbox, StopPodSandbox, RemovePodSandbox. */

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/container_hostprocess.h"
#include "runtime/defer.h"
#include "runtime/pod_annotations.h"
#include "runtime/runtime_internal.h"
#include "runtime/sandbox_rules.h"
#include "runtime/state.h"

void sandbox_free(struct sandbox *sandbox)
{
    if (sandbox == NULL)
        return;
    if (sandbox->pod)
        job_pod_release(sandbox->pod);
    store_sandbox_record_clear(&sandbox->record);
    free(sandbox);
}

static int check_runtime_handler(const struct runtime *runtime, const char *handler,
                                 struct error *err)
{
    if (str_empty(handler))
        return 0;
    for (size_t i = 0; runtime->runtime_handlers[i]; i++) {
        if (strcmp(runtime->runtime_handlers[i], handler) == 0)
            return 0;
    }
    return error_set(err, ERROR_INVALID_ARGUMENT,
                     "unknown runtime handler \"%s\": hostcri accepts the default handler \"\"%s%s",
                     handler, runtime->runtime_handlers[0] ? " and the configured handlers" : "",
                     runtime->runtime_handlers[0] ? " of its configuration" : "");
}

static int check_name_free(const struct runtime *runtime, const Runtime__V1__PodSandboxMetadata *md,
                           struct error *err)
{
    for (size_t i = 0; i < runtime->n_sandboxes; i++) {
        const struct sandbox *other = runtime->sandboxes[i];
        const Runtime__V1__PodSandboxMetadata *other_md = other->record.config->metadata;

        if (sandbox_rules_same_name(md, other_md))
            return error_set(err, ERROR_ALREADY_EXISTS,
                             "sandbox name \"%s_%s_%s_%u\" is reserved for sandbox %s", md->name,
                             md->namespace_, md->uid, md->attempt, other->record.id);
    }
    return 0;
}

static int create_pod_job(struct runtime *runtime, struct sandbox *sandbox, struct error *err)
{
    const Runtime__V1__LinuxPodSandboxConfig *linux_config = sandbox->record.config->linux;
    struct job_pod_spec spec = {
        .sandbox_id = sandbox->record.id,
        .cgroup_parent = linux_config ? linux_config->cgroup_parent : NULL,
    };

    if (job_pod_create(runtime->job, &spec, &sandbox->pod, err) < 0)
        return error_prefix(err, "create the pod job of sandbox %s", sandbox->record.id);
    return 0;
}

static void discard_pod_job(struct sandbox *sandbox)
{
    _cleanup_error_ struct error err = ERROR_INIT;

    if (sandbox->pod && job_pod_remove(sandbox->pod, &err) < 0)
        log_warn_id("sandbox", sandbox->record.id, "removing the pod job failed: %s", err.message);
}

/*
 * Applies the host-process rule of the system: on Windows a pod must be a HostProcess pod, and
 * accept_non_host_network_pods does not apply because there is no other kind of pod to run.
 */
static int check_host_process(const struct runtime *runtime,
                              const Runtime__V1__PodSandboxConfig *config, struct error *err)
{
    if (CONTAINER_HOSTPROCESS_RULES)
        return sandbox_rules_check_windows_host_process(config, err);
    return sandbox_rules_check_host_process(config, runtime->accept_non_host_network_pods, err);
}

int runtime_sandbox_run(struct runtime *runtime, const Runtime__V1__PodSandboxConfig *config,
                        const char *runtime_handler, char **id, struct error *err)
{
    struct sandbox *sandbox;
    const char *rootfs_location;

    if (sandbox_rules_check_config(config, err) < 0 ||
        check_host_process(runtime, config, err) < 0 ||
        pod_annotations_rootfs_location(config, CONTAINER_HOSTPROCESS_RULES, &rootfs_location,
                                        err) < 0 ||
        check_runtime_handler(runtime, runtime_handler, err) < 0 ||
        check_name_free(runtime, config->metadata, err) < 0)
        return -1;

    sandbox = xcalloc(1, sizeof(*sandbox));
    sandbox->record.id = runtime_new_id();
    sandbox->record.config = sandbox_rules_copy_config(config);
    sandbox->record.state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
    sandbox->record.created_at = time_now_ns();
    sandbox->record.runtime_handler = xstrdup(runtime_handler ? runtime_handler : "");

    if (create_pod_job(runtime, sandbox, err) < 0 ||
        store_put_sandbox(runtime->store, &sandbox->record, err) < 0) {
        discard_pod_job(sandbox);
        sandbox_free(sandbox);
        return -1;
    }
    runtime_add_sandbox(runtime, sandbox);
    /* Sandbox events carry the sandbox id as their container id, as containerd's do. */
    runtime_emit_container_event(runtime, sandbox->record.id, sandbox->record.id,
                                 RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_CREATED_EVENT);
    runtime_emit_container_event(runtime, sandbox->record.id, sandbox->record.id,
                                 RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STARTED_EVENT);
    log_info_id("sandbox", sandbox->record.id, "created sandbox %s/%s (attempt %u)%s",
                config->metadata->namespace_, config->metadata->name, config->metadata->attempt,
                sandbox_rules_is_host_process(config) ? ""
                                                      : " on the host network by configuration");
    *id = xstrdup(sandbox->record.id);
    return 0;
}

/* State of a StopPodSandbox or RemovePodSandbox while its containers stop. */
struct sandbox_op {
    struct runtime *runtime;
    char *sandbox_id; /* full id: the sandbox is found again when the stops end */
    bool remove;
    bool stop_event_due; /* this operation moved the sandbox to NOTREADY */
    size_t pending;
    struct error first_error;
    runtime_done_cb cb;
    void *data;
};

static void sandbox_op_finish(struct sandbox_op *op)
{
    op->cb(op->first_error.code == ERROR_OK ? NULL : &op->first_error, op->data);
    error_clear(&op->first_error);
    free(op->sandbox_id);
    free(op);
}

/*
 * Marks the sandbox NOTREADY (no new container may start in it) and stores that. Returns 1
 * when this call changed the state, 0 when it was NOTREADY already, -1 on error.
 */
static int mark_not_ready(struct runtime *runtime, struct sandbox *sandbox, struct error *err)
{
    Runtime__V1__PodSandboxState old = sandbox->record.state;

    if (!sandbox_state_transition_allowed(old, RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY))
        return 0;
    sandbox->record.state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
    if (store_put_sandbox(runtime->store, &sandbox->record, err) < 0) {
        sandbox->record.state = old;
        return -1;
    }
    log_info_id("sandbox", sandbox->record.id, "stopping sandbox");
    return 1;
}

static int remove_sandbox_now(struct runtime *runtime, struct sandbox *sandbox, struct error *err)
{
    for (size_t i = runtime->n_containers; i > 0; i--) {
        struct container *container = runtime->containers[i - 1];

        if (strcmp(container->record.sandbox_id, sandbox->record.id) != 0)
            continue;
        if (container_remove_stopped(container, err) < 0)
            return error_prefix(err, "remove sandbox %s", sandbox->record.id);
    }
    if (sandbox->pod && job_pod_remove(sandbox->pod, err) < 0)
        return error_prefix(err, "remove sandbox %s", sandbox->record.id);
    if (store_delete_sandbox(runtime->store, sandbox->record.id, err) < 0)
        return -1;
    log_info_id("sandbox", sandbox->record.id, "removed sandbox");
    runtime_emit_container_event(runtime, sandbox->record.id, sandbox->record.id,
                                 RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_DELETED_EVENT);
    runtime_drop_sandbox(runtime, sandbox);
    sandbox_free(sandbox);
    return 0;
}

static void sandbox_op_step_done(struct sandbox_op *op)
{
    struct sandbox *sandbox;

    if (--op->pending > 0)
        return;
    sandbox = runtime_find_sandbox(op->runtime, op->sandbox_id, NULL);
    if (sandbox && op->first_error.code == ERROR_OK && op->stop_event_due)
        runtime_emit_container_event(op->runtime, sandbox->record.id, sandbox->record.id,
                                     RUNTIME__V1__CONTAINER_EVENT_TYPE__CONTAINER_STOPPED_EVENT);
    if (sandbox && op->first_error.code == ERROR_OK && op->remove)
        remove_sandbox_now(op->runtime, sandbox, &op->first_error);
    else if (sandbox && op->first_error.code == ERROR_OK)
        log_info_id("sandbox", sandbox->record.id, "stopped sandbox");
    sandbox_op_finish(op);
}

static void container_stopped_cb(const struct error *err, void *data)
{
    struct sandbox_op *op = data;

    if (err && op->first_error.code == ERROR_OK) {
        op->first_error.code = err->code;
        op->first_error.message = xstrdup(err->message ? err->message : "stop failed");
    }
    sandbox_op_step_done(op);
}

static void sandbox_op_start_cb(void *data)
{
    sandbox_op_step_done(data);
}

/*
 * Marks the sandbox NOTREADY first, so that no container starts in it meanwhile, then stops
 * every container of the sandbox and, for a remove, removes it.
 */
static int sandbox_op_start(struct runtime *runtime, struct sandbox *sandbox, bool remove,
                            runtime_done_cb cb, void *data, struct error *err)
{
    struct sandbox_op *op;
    int changed = mark_not_ready(runtime, sandbox, err);

    if (changed < 0)
        return -1;
    op = xcalloc(1, sizeof(*op));
    *op = (struct sandbox_op){
        runtime, xstrdup(sandbox->record.id), remove, changed == 1, 1, ERROR_INIT, cb, data};
    /* The extra pending step, released from the loop, makes the callback run later even when
     * the sandbox has no containers. */
    if (runtime_defer(runtime->loop, sandbox_op_start_cb, op, err) < 0) {
        free(op->sandbox_id);
        free(op);
        return -1;
    }
    for (size_t i = 0; i < runtime->n_containers; i++) {
        struct container *container = runtime->containers[i];

        if (strcmp(container->record.sandbox_id, sandbox->record.id) != 0)
            continue;
        op->pending++;
        container_stop(container, remove ? 0 : runtime->sandbox_stop_grace_ms, container_stopped_cb,
                       op);
    }
    return 0;
}

int runtime_sandbox_stop(struct runtime *runtime, const char *id, runtime_done_cb cb, void *data,
                         struct error *err)
{
    struct sandbox *sandbox = runtime_find_sandbox(runtime, id, err);

    if (sandbox == NULL)
        return -1;
    return sandbox_op_start(runtime, sandbox, false, cb, data, err);
}

static void removed_absent_cb(void *data)
{
    struct sandbox_op *op = data;

    sandbox_op_finish(op);
}

int runtime_sandbox_remove(struct runtime *runtime, const char *id, runtime_done_cb cb, void *data,
                           struct error *err)
{
    _cleanup_error_ struct error lookup_err = ERROR_INIT;
    struct sandbox *sandbox = runtime_find_sandbox(runtime, id, &lookup_err);

    if (sandbox == NULL && lookup_err.code != ERROR_NOT_FOUND) {
        error_move(err, &lookup_err);
        return -1;
    }
    if (sandbox == NULL) {
        struct sandbox_op *op = xcalloc(1, sizeof(*op));

        *op = (struct sandbox_op){runtime, xstrdup(id), true, false, 0, ERROR_INIT, cb, data};
        log_debug_id("sandbox", id, "remove of an unknown sandbox succeeds");
        if (runtime_defer(runtime->loop, removed_absent_cb, op, err) < 0) {
            free(op->sandbox_id);
            free(op);
            return -1;
        }
        return 0;
    }
    return sandbox_op_start(runtime, sandbox, true, cb, data, err);
}
