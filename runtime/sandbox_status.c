/* Pod sandboxes: PodSandboxStatus and ListPodSandbox. */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/util.h"
#include "runtime/filter.h"
#include "runtime/message.h"
#include "runtime/pbjson.h"
#include "runtime/runtime_internal.h"
#include "runtime/sandbox_rules.h"

/* The namespaces a sandbox really uses: every pod runs in the host's network, PID and IPC. */
static Runtime__V1__LinuxPodSandboxStatus *namespaces_in_use(void)
{
    Runtime__V1__LinuxPodSandboxStatus *linux_status =
        message_new(&runtime__v1__linux_pod_sandbox_status__descriptor);
    Runtime__V1__Namespace *namespaces = message_new(&runtime__v1__namespace__descriptor);
    Runtime__V1__NamespaceOption *options = message_new(&runtime__v1__namespace_option__descriptor);

    options->network = RUNTIME__V1__NAMESPACE_MODE__NODE;
    options->pid = RUNTIME__V1__NAMESPACE_MODE__NODE;
    options->ipc = RUNTIME__V1__NAMESPACE_MODE__NODE;
    namespaces->options = options;
    linux_status->namespaces = namespaces;
    return linux_status;
}

static char *sandbox_info_json(const struct sandbox *sandbox)
{
    const Runtime__V1__PodSandboxConfig *config = sandbox->record.config;
    json_t *info = json_object();
    char *text;

    json_object_set_new(info, "id", json_string(sandbox->record.id));
    json_object_set_new(
        info, "runtimeHandler",
        json_string(sandbox->record.runtime_handler ? sandbox->record.runtime_handler : ""));
    json_object_set_new(info, "hostProcess", json_boolean(sandbox_rules_is_host_process(config)));
    json_object_set_new(info, "pid", json_integer(0));
    if (sandbox->pod)
        json_object_set_new(info, "cgroup", json_string(job_pod_cgroup(sandbox->pod)));
    json_object_set_new(info, "config", pbjson_from_message(&config->base));
    text = json_dumps(info, JSON_COMPACT);
    json_decref(info);
    return text;
}

static void add_info(Runtime__V1__PodSandboxStatusResponse *response, char *json)
{
    Runtime__V1__PodSandboxStatusResponse__InfoEntry *entry =
        message_new(&runtime__v1__pod_sandbox_status_response__info_entry__descriptor);

    entry->key = xstrdup("info");
    entry->value = json;
    response->n_info = 1;
    response->info = xmalloc(sizeof(*response->info));
    response->info[0] = entry;
}

int runtime_sandbox_status(struct runtime *runtime, const char *id, bool verbose,
                           Runtime__V1__PodSandboxStatusResponse **out, struct error *err)
{
    struct sandbox *sandbox = runtime_find_sandbox(runtime, id, err);
    const Runtime__V1__PodSandboxConfig *config;
    Runtime__V1__PodSandboxStatusResponse *response;
    Runtime__V1__PodSandboxStatus *status;

    if (sandbox == NULL)
        return -1;
    config = sandbox->record.config;
    status = message_new(&runtime__v1__pod_sandbox_status__descriptor);
    status->id = xstrdup(sandbox->record.id);
    status->metadata = message_copy(&config->metadata->base);
    status->state = sandbox->record.state;
    status->created_at = sandbox->record.created_at;
    /* An empty IP makes the kubelet report the node's addresses as the pod's, as it does for
     * every hostNetwork pod. */
    status->network = message_new(&runtime__v1__pod_sandbox_network_status__descriptor);
    status->linux = namespaces_in_use();
    status->n_labels = config->n_labels;
    status->labels = (Runtime__V1__PodSandboxStatus__LabelsEntry **)filter_map_copy(
        FILTER_MAP(config->labels), config->n_labels,
        &runtime__v1__pod_sandbox_status__labels_entry__descriptor);
    status->n_annotations = config->n_annotations;
    status->annotations = (Runtime__V1__PodSandboxStatus__AnnotationsEntry **)filter_map_copy(
        FILTER_MAP(config->annotations), config->n_annotations,
        &runtime__v1__pod_sandbox_status__annotations_entry__descriptor);
    status->runtime_handler = message_strdup(sandbox->record.runtime_handler);

    response = message_new(&runtime__v1__pod_sandbox_status_response__descriptor);
    response->status = status;
    response->timestamp = time_now_ns();
    if (verbose)
        add_info(response, sandbox_info_json(sandbox));
    *out = response;
    return 0;
}

static bool sandbox_matches(const struct sandbox *sandbox, const Runtime__V1__PodSandboxFilter *f)
{
    const Runtime__V1__PodSandboxConfig *config = sandbox->record.config;

    if (f == NULL)
        return true;
    if (!filter_id_has_prefix(sandbox->record.id, f->id))
        return false;
    if (f->state && f->state->state != sandbox->record.state)
        return false;
    return filter_labels_match(FILTER_MAP(config->labels), config->n_labels,
                               FILTER_MAP(f->label_selector), f->n_label_selector);
}

static Runtime__V1__PodSandbox *sandbox_item(const struct sandbox *sandbox)
{
    const Runtime__V1__PodSandboxConfig *config = sandbox->record.config;
    Runtime__V1__PodSandbox *item = message_new(&runtime__v1__pod_sandbox__descriptor);

    item->id = xstrdup(sandbox->record.id);
    item->metadata = message_copy(&config->metadata->base);
    item->state = sandbox->record.state;
    item->created_at = sandbox->record.created_at;
    item->n_labels = config->n_labels;
    item->labels = (Runtime__V1__PodSandbox__LabelsEntry **)filter_map_copy(
        FILTER_MAP(config->labels), config->n_labels,
        &runtime__v1__pod_sandbox__labels_entry__descriptor);
    item->n_annotations = config->n_annotations;
    item->annotations = (Runtime__V1__PodSandbox__AnnotationsEntry **)filter_map_copy(
        FILTER_MAP(config->annotations), config->n_annotations,
        &runtime__v1__pod_sandbox__annotations_entry__descriptor);
    item->runtime_handler = message_strdup(sandbox->record.runtime_handler);
    return item;
}

int runtime_sandbox_list(struct runtime *runtime, const Runtime__V1__PodSandboxFilter *filter,
                         Runtime__V1__ListPodSandboxResponse **out, struct error *err)
{
    Runtime__V1__ListPodSandboxResponse *response =
        message_new(&runtime__v1__list_pod_sandbox_response__descriptor);

    response->items = xcalloc(runtime->n_sandboxes, sizeof(*response->items));
    for (size_t i = 0; i < runtime->n_sandboxes; i++) {
        if (sandbox_matches(runtime->sandboxes[i], filter))
            response->items[response->n_items++] = sandbox_item(runtime->sandboxes[i]);
    }
    *out = response;
    return 0;
}
