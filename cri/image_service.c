#include "cri/image_service.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "api/api.pb-c.h"
#include "common/log.h"
#include "common/util.h"
#include "cri/services.h"
#include "images/images.h"
#include "runtime/writable_layers.h"

/* A Runtime__V1__Image with the storage its pointers use, freed after the reply is sent. */
struct image_message {
    Runtime__V1__Image image;
    Runtime__V1__ImageSpec spec;
    Runtime__V1__Int64Value uid;
    char *username;
    struct image_record record;
};

/* Fails the call and returns NULL when the daemon runs without the image subsystem. */
static struct images *require_images(struct rpc_call *call)
{
    struct images *images = rpc_call_services(call)->images;

    if (images == NULL)
        rpc_call_failf(call, ERROR_UNAVAILABLE,
                       "the image service of hostcri is not running: see the daemon log");
    return images;
}

static const char *spec_image(const Runtime__V1__ImageSpec *spec)
{
    return spec != NULL && spec->image != NULL ? spec->image : "";
}

/*
 * Sets uid or username from the config's User ("uid", "uid:gid", "name" or "name:group"), as
 * the kubelet expects: a numeric user goes to uid, a name to username, nothing for no User.
 */
static void fill_user(struct image_message *message)
{
    struct image_config config = IMAGE_CONFIG_INIT;
    const char *config_json = message->record.config_json;
    char *user;
    char *end;
    long long uid;

    if (config_json == NULL ||
        image_config_parse(config_json, strlen(config_json), &config, NULL) < 0)
        return;
    if (!str_empty(config.user)) {
        user = xstrndup(config.user, strcspn(config.user, ":"));
        uid = strtoll(user, &end, 10);
        if (user[0] != '\0' && *end == '\0' && uid >= 0) {
            message->uid.value = uid;
            message->image.uid = &message->uid;
            free(user);
        } else {
            message->username = user;
            message->image.username = user;
        }
    }
    image_config_clear(&config);
}

/* Fills message from record, taking the record's contents. */
static void image_message_init(struct image_message *message, struct image_record *record)
{
    memset(message, 0, sizeof(*message));
    runtime__v1__image__init(&message->image);
    runtime__v1__image_spec__init(&message->spec);
    runtime__v1__int64_value__init(&message->uid);
    message->record = *record;
    memset(record, 0, sizeof(*record));

    message->image.id = message->record.id;
    message->image.n_repo_tags = strv_length(message->record.repo_tags);
    message->image.repo_tags = message->record.repo_tags;
    message->image.n_repo_digests = strv_length(message->record.repo_digests);
    message->image.repo_digests = message->record.repo_digests;
    message->image.size = message->record.size > 0 ? (uint64_t)message->record.size : 0;
    message->image.pinned = message->record.pinned;
    message->spec.image = message->record.id;
    message->image.spec = &message->spec;
    fill_user(message);
}

static void image_message_clear(struct image_message *message)
{
    free(message->username);
    image_record_clear(&message->record);
}

/* ListImages */

static void reply_images(struct rpc_call *call, struct image_record *records, size_t count)
{
    Runtime__V1__ListImagesResponse response = RUNTIME__V1__LIST_IMAGES_RESPONSE__INIT;
    struct image_message *messages = xcalloc(count ? count : 1, sizeof(*messages));
    Runtime__V1__Image **pointers = xcalloc(count ? count : 1, sizeof(*pointers));

    for (size_t i = 0; i < count; i++) {
        image_message_init(&messages[i], &records[i]);
        pointers[i] = &messages[i].image;
    }
    response.n_images = count;
    response.images = pointers;
    rpc_call_reply(call, &response);

    for (size_t i = 0; i < count; i++)
        image_message_clear(&messages[i]);
    free(messages);
    free(pointers);
}

void image_service_list_images(struct rpc_call *call, const void *request)
{
    const Runtime__V1__ListImagesRequest *list_request = request;
    struct images *images = require_images(call);
    struct image_record *records = NULL;
    size_t count = 0;
    _cleanup_error_ struct error err = ERROR_INIT;
    const char *filter = NULL;

    if (images == NULL)
        return;
    if (list_request->filter != NULL && !str_empty(spec_image(list_request->filter->image)))
        filter = list_request->filter->image->image;

    if (filter != NULL) {
        /* The filter names one image: by reference, id or id prefix. */
        records = xcalloc(1, sizeof(*records));
        if (images_status(images, filter, &records[0], &err) == 0)
            count = 1;
        else if (err.code != ERROR_NOT_FOUND) {
            free(records);
            rpc_call_fail(call, &err);
            return;
        }
    } else if (images_list(images, &records, &count, &err) < 0) {
        rpc_call_fail(call, &err);
        return;
    }
    reply_images(call, records, count);
    image_records_free(records, count);
}

/* ImageStatus */

static char *verbose_info(const struct image_record *record)
{
    json_t *info = json_object();
    json_t *config = json_loads(record->config_json ? record->config_json : "{}", 0, NULL);
    json_t *chain_ids = json_array();
    char *text;

    for (size_t i = 0; record->chain_ids != NULL && record->chain_ids[i] != NULL; i++)
        json_array_append_new(chain_ids, json_string(record->chain_ids[i]));
    json_object_set_new(info, "id", json_string(record->id));
    json_object_set_new(info, "manifestDigest", json_string(record->manifest_digest));
    json_object_set_new(info, "chainIDs", chain_ids);
    json_object_set_new(info, "imageSpec", config ? config : json_null());
    text = json_dumps(info, JSON_COMPACT);
    json_decref(info);
    return text;
}

void image_service_image_status(struct rpc_call *call, const void *request)
{
    const Runtime__V1__ImageStatusRequest *status_request = request;
    struct images *images = require_images(call);
    Runtime__V1__ImageStatusResponse response = RUNTIME__V1__IMAGE_STATUS_RESPONSE__INIT;
    Runtime__V1__ImageStatusResponse__InfoEntry entry =
        RUNTIME__V1__IMAGE_STATUS_RESPONSE__INFO_ENTRY__INIT;
    Runtime__V1__ImageStatusResponse__InfoEntry *entries[] = {&entry};
    struct image_record record = {0};
    struct image_message message;
    _cleanup_free_ char *info = NULL;
    _cleanup_error_ struct error err = ERROR_INIT;

    if (images == NULL)
        return;
    if (str_empty(spec_image(status_request->image))) {
        rpc_call_failf(call, ERROR_INVALID_ARGUMENT, "ImageStatus needs an image reference or id");
        return;
    }
    if (images_status(images, status_request->image->image, &record, &err) < 0) {
        /* An unknown image is an empty response, as the kubelet expects, not an error. */
        if (err.code == ERROR_NOT_FOUND)
            rpc_call_reply(call, &response);
        else
            rpc_call_fail(call, &err);
        return;
    }
    if (status_request->verbose) {
        info = verbose_info(&record);
        entry.key = "info";
        entry.value = info;
        response.n_info = ARRAY_SIZE(entries);
        response.info = entries;
    }
    image_message_init(&message, &record);
    response.image = &message.image;
    rpc_call_reply(call, &response);
    image_message_clear(&message);
}

/* PullImage */

static void pull_done_cb(const char *image_id, const struct error *err, void *data)
{
    struct rpc_call *call = data;
    Runtime__V1__PullImageResponse response = RUNTIME__V1__PULL_IMAGE_RESPONSE__INIT;

    if (err != NULL) {
        rpc_call_fail(call, err);
        return;
    }
    response.image_ref = (char *)image_id;
    rpc_call_reply(call, &response);
}

void image_service_pull_image(struct rpc_call *call, const void *request)
{
    const Runtime__V1__PullImageRequest *pull_request = request;
    const Runtime__V1__AuthConfig *auth = pull_request->auth;
    struct images *images = require_images(call);
    struct auth_credentials creds = {0};
    _cleanup_error_ struct error err = ERROR_INIT;
    int rc;

    if (images == NULL)
        return;
    if (str_empty(spec_image(pull_request->image))) {
        rpc_call_failf(call, ERROR_INVALID_ARGUMENT, "PullImage needs an image reference");
        return;
    }
    if (auth != NULL &&
        auth_credentials_from_cri(auth->username, auth->password, auth->auth, auth->identity_token,
                                  auth->registry_token, &creds, &err) < 0) {
        error_prefix(&err, "pull \"%s\": invalid auth", pull_request->image->image);
        rpc_call_fail(call, &err);
        return;
    }
    /* The pull completes the call from its callback; a cancelled call just drops the reply. */
    rc = images_pull_start(images, pull_request->image->image, &creds, pull_done_cb, call, &err);
    auth_credentials_clear(&creds);
    if (rc < 0)
        rpc_call_fail(call, &err);
}

/* RemoveImage */

void image_service_remove_image(struct rpc_call *call, const void *request)
{
    const Runtime__V1__RemoveImageRequest *remove_request = request;
    Runtime__V1__RemoveImageResponse response = RUNTIME__V1__REMOVE_IMAGE_RESPONSE__INIT;
    struct images *images = require_images(call);
    _cleanup_error_ struct error err = ERROR_INIT;

    if (images == NULL)
        return;
    if (str_empty(spec_image(remove_request->image))) {
        rpc_call_failf(call, ERROR_INVALID_ARGUMENT, "RemoveImage needs an image reference or id");
        return;
    }
    if (images_remove(images, remove_request->image->image, &err) < 0) {
        rpc_call_fail(call, &err);
        return;
    }
    rpc_call_reply(call, &response);
}

/* ImageFsInfo */

/*
 * Adds the containers' writable layers as container_filesystems and replies. The layers are
 * measured on the thread pool, so usage is left unset until each one has been measured once.
 */
static void reply_with_writable_layers(struct rpc_call *call,
                                       Runtime__V1__ImageFsInfoResponse *response)
{
    struct runtime *runtime = rpc_call_services(call)->runtime;
    struct runtime_writable_layers_usage layers;
    Runtime__V1__FilesystemUsage filesystem = RUNTIME__V1__FILESYSTEM_USAGE__INIT;
    Runtime__V1__FilesystemUsage *filesystems[] = {&filesystem};
    Runtime__V1__FilesystemIdentifier fs_id = RUNTIME__V1__FILESYSTEM_IDENTIFIER__INIT;
    Runtime__V1__UInt64Value used_bytes = RUNTIME__V1__UINT64_VALUE__INIT;
    Runtime__V1__UInt64Value inodes_used = RUNTIME__V1__UINT64_VALUE__INIT;

    if (runtime == NULL) {
        rpc_call_reply(call, response);
        return;
    }
    runtime_writable_layers_usage(runtime, &layers);
    fs_id.mountpoint = layers.mountpoint;
    filesystem.fs_id = &fs_id;
    filesystem.timestamp = layers.timestamp_ns;
    if (layers.measured) {
        used_bytes.value = layers.used_bytes;
        inodes_used.value = layers.inodes_used;
        filesystem.used_bytes = &used_bytes;
        filesystem.inodes_used = &inodes_used;
    }
    response->n_container_filesystems = ARRAY_SIZE(filesystems);
    response->container_filesystems = filesystems;
    rpc_call_reply(call, response);
    free(layers.mountpoint);
}

static void fs_info_done_cb(const struct images_fs_usage *usage, const struct error *err,
                            void *data)
{
    struct rpc_call *call = data;
    Runtime__V1__ImageFsInfoResponse response = RUNTIME__V1__IMAGE_FS_INFO_RESPONSE__INIT;
    Runtime__V1__FilesystemUsage filesystem = RUNTIME__V1__FILESYSTEM_USAGE__INIT;
    Runtime__V1__FilesystemUsage *filesystems[] = {&filesystem};
    Runtime__V1__FilesystemIdentifier fs_id = RUNTIME__V1__FILESYSTEM_IDENTIFIER__INIT;
    Runtime__V1__UInt64Value used_bytes = RUNTIME__V1__UINT64_VALUE__INIT;
    Runtime__V1__UInt64Value inodes_used = RUNTIME__V1__UINT64_VALUE__INIT;

    if (err != NULL) {
        rpc_call_fail(call, err);
        return;
    }
    fs_id.mountpoint = (char *)usage->mountpoint;
    used_bytes.value = usage->used_bytes;
    inodes_used.value = usage->inodes_used;
    filesystem.timestamp = usage->timestamp_ns;
    filesystem.fs_id = &fs_id;
    filesystem.used_bytes = &used_bytes;
    filesystem.inodes_used = &inodes_used;
    response.n_image_filesystems = ARRAY_SIZE(filesystems);
    response.image_filesystems = filesystems;
    reply_with_writable_layers(call, &response);
}

void image_service_image_fs_info(struct rpc_call *call, const void *request)
{
    struct images *images = require_images(call);
    _cleanup_error_ struct error err = ERROR_INIT;

    (void)request;
    if (images == NULL)
        return;
    if (images_fs_info_start(images, fs_info_done_cb, call, &err) < 0)
        rpc_call_fail(call, &err);
}
