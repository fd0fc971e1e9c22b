/* Containers: ContainerStatus and ListContainers. */

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/util.h"
#include "runtime/filter.h"
#include "runtime/message.h"
#include "runtime/pbjson.h"
#include "runtime/process.h"
#include "runtime/runtime_internal.h"

static Runtime__V1__ImageSpec *image_spec(const struct container *container)
{
    const Runtime__V1__ImageSpec *requested = container->record.config->image;
    Runtime__V1__ImageSpec *spec = requested ? message_copy(&requested->base)
                                             : message_new(&runtime__v1__image_spec__descriptor);

    message_set_string(&spec->image, container->record.image);
    return spec;
}

static Runtime__V1__ContainerUser *new_container_user(uint32_t uid, uint32_t gid,
                                                      const uint32_t *groups, size_t n_groups)
{
    Runtime__V1__ContainerUser *user = message_new(&runtime__v1__container_user__descriptor);
    Runtime__V1__LinuxContainerUser *linux_user =
        message_new(&runtime__v1__linux_container_user__descriptor);

    linux_user->uid = uid;
    linux_user->gid = gid;
    linux_user->n_supplemental_groups = n_groups;
    linux_user->supplemental_groups = xcalloc(n_groups, sizeof(int64_t));
    for (size_t i = 0; i < n_groups; i++)
        linux_user->supplemental_groups[i] = groups[i];
    user->linux = linux_user;
    return user;
}

/*
 * Returns the user the container runs as: the ids the running init process really has (read
 * from /proc on Linux), else the record's ids when it has them as numbers, else NULL.
 */
static Runtime__V1__ContainerUser *container_user(const struct container *container,
                                                  const struct container_process *process)
{
    if (container->record.state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING &&
        container->job != NULL) {
        struct job_process_user ids;

        if (job_container_init_user(container->job, &ids, NULL) == 0) {
            Runtime__V1__ContainerUser *user =
                new_container_user(ids.uid, ids.gid, ids.groups, ids.n_groups);

            free(ids.groups);
            return user;
        }
    }
    if (!process->has_uid)
        return NULL; /* NOTE: a user given by name is resolved only inside the monitor */
    /* NOTE: once init has exited these are the request's ids, so the gid and groups that the
     * monitor took from /etc/passwd and /etc/group at the start are missing. */
    return new_container_user(process->uid, process->has_gid ? process->gid : 0, process->groups,
                              process->n_groups);
}

static Runtime__V1__ContainerResources *container_resources(const struct container *container)
{
    const Runtime__V1__ContainerConfig *config = container->record.config;
    Runtime__V1__ContainerResources *resources;

    if (config->linux == NULL || config->linux->resources == NULL)
        return NULL;
    resources = message_new(&runtime__v1__container_resources__descriptor);
    resources->linux = message_copy(&config->linux->resources->base);
    return resources;
}

static void copy_mounts(const Runtime__V1__ContainerConfig *config,
                        Runtime__V1__ContainerStatus *status)
{
    status->n_mounts = config->n_mounts;
    status->mounts = xcalloc(config->n_mounts, sizeof(*status->mounts));
    for (size_t i = 0; i < config->n_mounts; i++)
        status->mounts[i] = message_copy(&config->mounts[i]->base);
}

static Runtime__V1__ContainerStatus *build_status(const struct container *container,
                                                  const struct container_process *process)
{
    const struct store_container_record *record = &container->record;
    const Runtime__V1__ContainerConfig *config = record->config;
    Runtime__V1__ContainerStatus *status = message_new(&runtime__v1__container_status__descriptor);

    status->id = xstrdup(record->id);
    status->metadata = message_copy(&config->metadata->base);
    status->state = record->state;
    status->created_at = record->created_at;
    status->started_at = record->started_at;
    status->finished_at = record->finished_at;
    status->exit_code = record->exit_code;
    status->image = image_spec(container);
    status->image_ref = message_strdup(record->image_ref);
    status->image_id = message_strdup(record->image_id);
    status->reason = message_strdup(record->reason);
    status->message = message_strdup(record->message);
    status->n_labels = config->n_labels;
    status->labels = (Runtime__V1__ContainerStatus__LabelsEntry **)filter_map_copy(
        FILTER_MAP(config->labels), config->n_labels,
        &runtime__v1__container_status__labels_entry__descriptor);
    status->n_annotations = config->n_annotations;
    status->annotations = (Runtime__V1__ContainerStatus__AnnotationsEntry **)filter_map_copy(
        FILTER_MAP(config->annotations), config->n_annotations,
        &runtime__v1__container_status__annotations_entry__descriptor);
    copy_mounts(config, status);
    status->log_path = message_strdup(record->log_path);
    status->resources = container_resources(container);
    status->user = container_user(container, process);
    status->stop_signal = config->stop_signal;
    return status;
}

static char *container_info_json(const struct container *container)
{
    const struct store_container_record *record = &container->record;
    json_t *info = json_object();
    json_t *process = record->process ? json_loads(record->process, 0, NULL) : NULL;
    char *text;

    json_object_set_new(info, "sandboxID", json_string(record->sandbox_id));
    json_object_set_new(info, "pid", json_integer(record->pid));
    json_object_set_new(info, "removing", json_boolean(container->removing));
    if (container->job)
        json_object_set_new(info, "cgroup", json_string(job_container_cgroup(container->job)));
    json_object_set_new(info, "imageID", json_string(record->image_id ? record->image_id : ""));
    if (process)
        json_object_set_new(info, "process", process);
    json_object_set_new(info, "config", pbjson_from_message(&record->config->base));
    text = json_dumps(info, JSON_COMPACT);
    json_decref(info);
    return text;
}

int runtime_container_status(struct runtime *runtime, const char *id, bool verbose,
                             Runtime__V1__ContainerStatusResponse **out, struct error *err)
{
    struct container *container = runtime_find_container(runtime, id, err);
    struct container_process process = {0};
    _cleanup_error_ struct error process_err = ERROR_INIT;
    Runtime__V1__ContainerStatusResponse *response;

    if (container == NULL)
        return -1;
    /* A process that does not parse only leaves the user out of the status. */
    process_from_json(container->record.process, &process, &process_err);

    response = message_new(&runtime__v1__container_status_response__descriptor);
    response->status = build_status(container, &process);
    process_clear(&process);
    if (verbose) {
        Runtime__V1__ContainerStatusResponse__InfoEntry *entry =
            message_new(&runtime__v1__container_status_response__info_entry__descriptor);

        entry->key = xstrdup("info");
        entry->value = container_info_json(container);
        response->n_info = 1;
        response->info = xmalloc(sizeof(*response->info));
        response->info[0] = entry;
    }
    *out = response;
    return 0;
}

static bool container_matches(const struct container *container,
                              const Runtime__V1__ContainerFilter *f)
{
    const Runtime__V1__ContainerConfig *config = container->record.config;

    if (f == NULL)
        return true;
    if (!filter_id_has_prefix(container->record.id, f->id))
        return false;
    if (f->state && f->state->state != container->record.state)
        return false;
    if (!filter_id_has_prefix(container->record.sandbox_id, f->pod_sandbox_id))
        return false;
    return filter_labels_match(FILTER_MAP(config->labels), config->n_labels,
                               FILTER_MAP(f->label_selector), f->n_label_selector);
}

/*
 * Returns a ListContainers item that points into container's record. Only the item and its
 * ImageSpec (a shallow copy whose image is the resolved reference) are allocated. The label and
 * annotation arrays are the config's own. A ContainerConfig map entry and a Container map entry
 * are the same generated struct (key 1, value 2), and packing follows each entry's descriptor,
 * so the wire bytes are the same as a copy's. A thousand containers listed with deep copies spent
 * most of the call in protobuf_c pack and unpack.
 */
static Runtime__V1__Container *container_item_view(const struct container *container)
{
    static const Runtime__V1__ImageSpec empty_spec = RUNTIME__V1__IMAGE_SPEC__INIT;
    const struct store_container_record *record = &container->record;
    const Runtime__V1__ContainerConfig *config = record->config;
    Runtime__V1__Container *item = message_new(&runtime__v1__container__descriptor);
    Runtime__V1__ImageSpec *spec = xmalloc(sizeof(*spec));

    *spec = config->image ? *config->image : empty_spec;
    spec->image = (char *)message_view(record->image);
    item->id = (char *)message_view(record->id);
    item->pod_sandbox_id = (char *)message_view(record->sandbox_id);
    item->metadata = config->metadata;
    item->image = spec;
    item->image_ref = (char *)message_view(record->image_ref);
    item->image_id = (char *)message_view(record->image_id);
    item->state = record->state;
    item->created_at = record->created_at;
    item->n_labels = config->n_labels;
    item->labels = (Runtime__V1__Container__LabelsEntry **)config->labels;
    item->n_annotations = config->n_annotations;
    item->annotations = (Runtime__V1__Container__AnnotationsEntry **)config->annotations;
    return item;
}

int runtime_container_list(struct runtime *runtime, const Runtime__V1__ContainerFilter *filter,
                           Runtime__V1__ListContainersResponse **out, struct error *err)
{
    Runtime__V1__ListContainersResponse *response =
        message_new(&runtime__v1__list_containers_response__descriptor);

    response->containers = xcalloc(runtime->n_containers, sizeof(*response->containers));
    for (size_t i = 0; i < runtime->n_containers; i++) {
        if (container_matches(runtime->containers[i], filter))
            response->containers[response->n_containers++] =
                container_item_view(runtime->containers[i]);
    }
    *out = response;
    return 0;
}

/* The tag of ListContainersResponse.containers: field 1, length-delimited. */
#define LIST_CONTAINERS_ITEM_TAG 0x0a

/* Packs container's ListContainers item, prefixed with its tag and length, unless the cached
 * bytes are still those of its current state. */
static void container_pack_list_item(struct container *container)
{
    Runtime__V1__Container *item;
    uint8_t prefix[1 + 10];
    size_t prefix_size, size;

    if (container->list_item && container->list_item_state == (int)container->record.state)
        return;
    item = container_item_view(container);
    size = protobuf_c_message_get_packed_size(&item->base);
    prefix[0] = LIST_CONTAINERS_ITEM_TAG;
    prefix_size = 1;
    for (uint64_t rest = size;; rest >>= 7) {
        prefix[prefix_size++] = (uint8_t)(rest & 0x7f) | (rest >= 0x80 ? 0x80 : 0);
        if (rest < 0x80)
            break;
    }
    free(container->list_item);
    container->list_item = xmalloc(prefix_size + size);
    memcpy(container->list_item, prefix, prefix_size);
    protobuf_c_message_pack(&item->base, container->list_item + prefix_size);
    container->list_item_size = prefix_size + size;
    container->list_item_state = (int)container->record.state;
    free(item->image);
    free(item);
}

void runtime_container_list_pack(struct runtime *runtime,
                                 const Runtime__V1__ContainerFilter *filter, struct strbuf *out)
{
    size_t size = 0;

    /* Two passes, so that out grows once to its final size. */
    for (size_t i = 0; i < runtime->n_containers; i++) {
        struct container *container = runtime->containers[i];

        if (container_matches(container, filter)) {
            container_pack_list_item(container);
            size += container->list_item_size;
        }
    }
    strbuf_reserve(out, size);
    for (size_t i = 0; i < runtime->n_containers; i++) {
        struct container *container = runtime->containers[i];

        if (container_matches(container, filter))
            strbuf_append(out, container->list_item, container->list_item_size);
    }
}

void runtime_container_list_free(Runtime__V1__ListContainersResponse *response)
{
    if (response == NULL)
        return;
    for (size_t i = 0; i < response->n_containers; i++) {
        free(response->containers[i]->image);
        free(response->containers[i]);
    }
    free(response->containers);
    free(response);
}
