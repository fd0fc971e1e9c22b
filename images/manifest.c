#include "images/manifest.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/digest.h"
#include "common/strbuf.h"
#include "common/util.h"

/* Largest layer accepted from a descriptor (1 TiB); larger sizes are treated as corrupt. */
#define MANIFEST_MAX_LAYER_SIZE (INT64_C(1) << 40)

#define MEDIA_TYPE_DOCKER_SCHEMA1 "application/vnd.docker.distribution.manifest.v1+json"
#define MEDIA_TYPE_DOCKER_SCHEMA1_SIGNED "application/vnd.docker.distribution.manifest.v1+prettyjws"

static void json_decref_ptr(json_t **json)
{
    json_decref(*json);
}

#define _cleanup_json_ __attribute__((cleanup(json_decref_ptr)))

struct layer_media_type {
    const char *name;
    enum layer_compression compression;
    bool foreign;
};

static const struct layer_media_type layer_media_types[] = {
    {"application/vnd.oci.image.layer.v1.tar", LAYER_COMPRESSION_NONE, false},
    {"application/vnd.oci.image.layer.v1.tar+gzip", LAYER_COMPRESSION_GZIP, false},
    {"application/vnd.oci.image.layer.v1.tar+zstd", LAYER_COMPRESSION_ZSTD, false},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar", LAYER_COMPRESSION_NONE, true},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+gzip", LAYER_COMPRESSION_GZIP, true},
    {"application/vnd.oci.image.layer.nondistributable.v1.tar+zstd", LAYER_COMPRESSION_ZSTD, true},
    {"application/vnd.docker.image.rootfs.diff.tar", LAYER_COMPRESSION_NONE, false},
    {"application/vnd.docker.image.rootfs.diff.tar.gzip", LAYER_COMPRESSION_GZIP, false},
    {"application/vnd.docker.image.rootfs.foreign.diff.tar", LAYER_COMPRESSION_NONE, true},
    {"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", LAYER_COMPRESSION_GZIP, true},
};

static const struct layer_media_type *find_layer_media_type(const char *media_type)
{
    for (size_t i = 0; media_type && i < ARRAY_SIZE(layer_media_types); i++)
        if (strcmp(layer_media_types[i].name, media_type) == 0)
            return &layer_media_types[i];
    return NULL;
}

bool manifest_is_layer_media_type(const char *media_type)
{
    return find_layer_media_type(media_type) != NULL;
}

static const char *const manifest_media_types[] = {
    MEDIA_TYPE_OCI_MANIFEST,
    MEDIA_TYPE_OCI_INDEX,
    MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_DOCKER_LIST,
};

static const char *known_manifest_type(const char *media_type)
{
    for (size_t i = 0; media_type && i < ARRAY_SIZE(manifest_media_types); i++)
        if (strcmp(manifest_media_types[i], media_type) == 0)
            return manifest_media_types[i];
    return NULL;
}

static bool is_index_type(const char *media_type)
{
    return strcmp(media_type, MEDIA_TYPE_OCI_INDEX) == 0 ||
           strcmp(media_type, MEDIA_TYPE_DOCKER_LIST) == 0;
}

static bool is_image_manifest_type(const char *media_type)
{
    return media_type != NULL && (strcmp(media_type, MEDIA_TYPE_OCI_MANIFEST) == 0 ||
                                  strcmp(media_type, MEDIA_TYPE_DOCKER_MANIFEST) == 0);
}

static bool is_schema1_type(const char *media_type)
{
    return strcmp(media_type, MEDIA_TYPE_DOCKER_SCHEMA1) == 0 ||
           strcmp(media_type, MEDIA_TYPE_DOCKER_SCHEMA1_SIGNED) == 0;
}

/* "Application/JSON; charset=utf-8" -> "application/json". Caller frees; NULL for NULL. */
static char *bare_content_type(const char *content_type)
{
    size_t start = 0, end;
    char *bare;

    if (content_type == NULL)
        return NULL;
    end = strcspn(content_type, ";");
    while (start < end && isspace((unsigned char)content_type[start]))
        start++;
    while (end > start && isspace((unsigned char)content_type[end - 1]))
        end--;
    bare = xstrndup(content_type + start, end - start);
    for (char *p = bare; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return bare;
}

/* Content types that registries and file servers send without naming the manifest type. */
static bool is_generic_type(const char *content_type)
{
    return strcmp(content_type, "application/json") == 0 ||
           strcmp(content_type, "text/plain") == 0 ||
           strcmp(content_type, "application/octet-stream") == 0 || content_type[0] == '\0';
}

static int unsupported_type(const char *media_type, struct error *err)
{
    if (is_schema1_type(media_type))
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "unsupported manifest media type \"%s\": Docker schema 1 manifests are "
                         "not supported, push the image again with a current client",
                         media_type);
    return error_set(err, ERROR_INVALID_ARGUMENT, "unsupported manifest media type \"%s\"",
                     media_type);
}

/*
 * Chooses the media type from the Content-Type, the document's "mediaType" field, and the
 * document's shape, in the rules of manifest_parse. Stores a MEDIA_TYPE_* constant in *type.
 */
static int detect_media_type(const char *content_type, json_t *root, const char **type,
                             struct error *err)
{
    _cleanup_free_ char *header = bare_content_type(content_type);
    const char *field = json_string_value(json_object_get(root, "mediaType"));
    const char *header_type = known_manifest_type(header);
    const char *field_type = known_manifest_type(field);

    if (json_object_get(root, "mediaType") && field == NULL)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid manifest: mediaType is not a string");
    if (field != NULL && field_type == NULL)
        return unsupported_type(field, err);
    if (header_type && field_type && header_type != field_type)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid manifest: Content-Type \"%s\" does not match mediaType \"%s\"",
                         header, field);
    if (field_type || header_type) {
        *type = field_type ? field_type : header_type;
        return 0;
    }
    if (json_integer_value(json_object_get(root, "schemaVersion")) == 1)
        return unsupported_type(
            header && is_schema1_type(header) ? header : MEDIA_TYPE_DOCKER_SCHEMA1, err);
    if (header && !is_generic_type(header))
        return unsupported_type(header, err);
    if (json_is_array(json_object_get(root, "manifests"))) {
        *type = MEDIA_TYPE_OCI_INDEX;
        return 0;
    }
    if (json_is_object(json_object_get(root, "config")) &&
        json_is_array(json_object_get(root, "layers"))) {
        *type = MEDIA_TYPE_OCI_MANIFEST;
        return 0;
    }
    return error_set(err, ERROR_INVALID_ARGUMENT,
                     "unsupported manifest media type \"%s\": not an image manifest or index",
                     header ? header : "(none)");
}

/* Reads optional string field key of object into *out. */
static int get_string(json_t *object, const char *key, const char *what, char **out,
                      struct error *err)
{
    json_t *value = json_object_get(object, key);

    if (value == NULL || json_is_null(value))
        return 0;
    if (!json_is_string(value))
        return error_set(err, ERROR_INVALID_ARGUMENT, "invalid %s: %s is not a string", what, key);
    *out = xstrdup(json_string_value(value));
    return 0;
}

static int get_required_string(json_t *object, const char *key, const char *what, char **out,
                               struct error *err)
{
    if (get_string(object, key, what, out, err) < 0)
        return -1;
    if (*out == NULL)
        return error_set(err, ERROR_INVALID_ARGUMENT, "invalid %s: %s is missing", what, key);
    return 0;
}

/* Reads an optional array of strings into a NULL-terminated array. */
static int get_string_array(json_t *object, const char *key, const char *what, char ***out,
                            struct error *err)
{
    json_t *array = json_object_get(object, key);
    size_t i, count;
    json_t *item;

    if (array == NULL || json_is_null(array))
        return 0;
    if (!json_is_array(array))
        return error_set(err, ERROR_INVALID_ARGUMENT, "invalid %s: %s is not an array", what, key);
    count = json_array_size(array);
    *out = xcalloc(count + 1, sizeof(char *));
    json_array_foreach(array, i, item)
    {
        if (!json_is_string(item))
            return error_set(err, ERROR_INVALID_ARGUMENT, "invalid %s: %s[%zu] is not a string",
                             what, key, i);
        (*out)[i] = xstrdup(json_string_value(item));
    }
    return 0;
}

/* Reads the keys of an optional object ({"80/tcp": {}}) into a NULL-terminated array. */
static int get_object_keys(json_t *object, const char *key, const char *what, char ***out,
                           struct error *err)
{
    json_t *map = json_object_get(object, key);
    const char *name;
    json_t *value;
    size_t i = 0;

    if (map == NULL || json_is_null(map))
        return 0;
    if (!json_is_object(map))
        return error_set(err, ERROR_INVALID_ARGUMENT, "invalid %s: %s is not an object", what, key);
    *out = xcalloc(json_object_size(map) + 1, sizeof(char *));
    json_object_foreach(map, name, value)(*out)[i++] = xstrdup(name);
    return 0;
}

static void descriptor_clear(struct manifest_descriptor *d)
{
    free(d->media_type);
    free(d->digest);
    strv_free(d->urls);
    platform_clear(&d->platform);
    memset(d, 0, sizeof(*d));
}

/*
 * Reads an index entry's platform. One without os or architecture is treated as absent, so
 * the entry is never selected but the rest of the index stays usable.
 */
static int parse_platform(json_t *object, struct manifest_descriptor *d, const char *what,
                          struct error *err)
{
    struct platform *p = &d->platform;

    if (object == NULL || json_is_null(object))
        return 0;
    if (!json_is_object(object))
        return error_set(err, ERROR_INVALID_ARGUMENT, "invalid %s: platform is not an object",
                         what);
    if (get_string(object, "os", what, &p->os, err) < 0 ||
        get_string(object, "architecture", what, &p->architecture, err) < 0 ||
        get_string(object, "variant", what, &p->variant, err) < 0 ||
        get_string(object, "os.version", what, &p->os_version, err) < 0)
        return -1;
    if (p->os == NULL || p->architecture == NULL) {
        platform_clear(p);
        return 0;
    }
    platform_normalize(p);
    d->has_platform = true;
    return 0;
}

static int parse_descriptor(json_t *object, const char *what, int64_t max_size,
                            struct manifest_descriptor *d, struct error *err)
{
    json_t *size = json_object_get(object, "size");

    if (!json_is_object(object))
        return error_set(err, ERROR_INVALID_ARGUMENT, "invalid %s: not an object", what);
    if (get_required_string(object, "mediaType", what, &d->media_type, err) < 0 ||
        get_required_string(object, "digest", what, &d->digest, err) < 0 ||
        get_string_array(object, "urls", what, &d->urls, err) < 0)
        return -1;
    if (digest_parse(d->digest, NULL, NULL, err) < 0)
        return error_prefix(err, "invalid %s", what);
    if (!json_is_integer(size))
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid %s: size is missing or not an integer", what);
    d->size = json_integer_value(size);
    if (d->size < 0 || d->size > max_size)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid %s: size %lld is out of range (0 to %lld)", what,
                         (long long)d->size, (long long)max_size);
    return parse_platform(json_object_get(object, "platform"), d, what, err);
}

static int parse_config_descriptor(json_t *root, struct manifest *m, struct error *err)
{
    const char *type;

    if (parse_descriptor(json_object_get(root, "config"), "manifest config", MANIFEST_MAX_SIZE,
                         &m->config, err) < 0)
        return -1;
    type = m->config.media_type;
    if (strcmp(type, MEDIA_TYPE_OCI_CONFIG) != 0 && strcmp(type, MEDIA_TYPE_DOCKER_CONFIG) != 0)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "unsupported config media type \"%s\": not a container image", type);
    return 0;
}

static int parse_layers(json_t *root, struct manifest *m, struct error *err)
{
    json_t *layers = json_object_get(root, "layers");
    json_t *item;
    size_t i;

    if (!json_is_array(layers))
        return error_set(err, ERROR_INVALID_ARGUMENT, "invalid manifest: layers is not an array");
    m->layers = xcalloc(json_array_size(layers) + 1, sizeof(*m->layers));
    json_array_foreach(layers, i, item)
    {
        struct manifest_descriptor *layer = &m->layers[i];
        const struct layer_media_type *type;
        char what[64];

        snprintf(what, sizeof(what), "manifest layer %zu", i);
        m->layer_count = i + 1;
        if (parse_descriptor(item, what, MANIFEST_MAX_LAYER_SIZE, layer, err) < 0)
            return -1;
        type = find_layer_media_type(layer->media_type);
        if (type == NULL)
            return error_set(err, ERROR_INVALID_ARGUMENT,
                             "unsupported layer media type \"%s\" (layer %zu, %s)",
                             layer->media_type, i, layer->digest);
        layer->compression = type->compression;
        layer->foreign = type->foreign;
    }
    return 0;
}

static int parse_manifests(json_t *root, struct manifest *m, struct error *err)
{
    json_t *manifests = json_object_get(root, "manifests");
    json_t *item;
    size_t i;

    if (!json_is_array(manifests))
        return error_set(err, ERROR_INVALID_ARGUMENT, "invalid index: manifests is not an array");
    m->manifests = xcalloc(json_array_size(manifests) + 1, sizeof(*m->manifests));
    json_array_foreach(manifests, i, item)
    {
        char what[64];

        snprintf(what, sizeof(what), "index entry %zu", i);
        m->manifest_count = i + 1;
        if (parse_descriptor(item, what, MANIFEST_MAX_SIZE, &m->manifests[i], err) < 0)
            return -1;
    }
    return 0;
}

static int check_schema_version(json_t *root, struct error *err)
{
    json_t *version = json_object_get(root, "schemaVersion");

    if (!json_is_integer(version))
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid manifest: schemaVersion is missing or not an integer");
    if (json_integer_value(version) != 2)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "unsupported manifest schemaVersion %lld (only 2 is supported)",
                         (long long)json_integer_value(version));
    return 0;
}

static json_t *load_json(const void *data, size_t size, const char *what, struct error *err)
{
    json_error_t json_err;
    json_t *root;

    if (size > MANIFEST_MAX_SIZE) {
        error_set(err, ERROR_INVALID_ARGUMENT,
                  "invalid %s: %zu bytes is larger than the %d byte limit", what, size,
                  MANIFEST_MAX_SIZE);
        return NULL;
    }
    root = json_loadb(data, size, JSON_REJECT_DUPLICATES, &json_err);
    if (root == NULL) {
        error_set(err, ERROR_INVALID_ARGUMENT, "invalid %s: JSON error at line %d: %s", what,
                  json_err.line, json_err.text);
        return NULL;
    }
    if (!json_is_object(root)) {
        json_decref(root);
        error_set(err, ERROR_INVALID_ARGUMENT, "invalid %s: not a JSON object", what);
        return NULL;
    }
    return root;
}

static int parse_document(const char *content_type, json_t *root, struct manifest *out,
                          struct error *err)
{
    const char *type = NULL;

    if (detect_media_type(content_type, root, &type, err) < 0 ||
        check_schema_version(root, err) < 0)
        return -1;
    out->media_type = xstrdup(type);
    if (is_index_type(type)) {
        out->kind = MANIFEST_KIND_INDEX;
        return parse_manifests(root, out, err);
    }
    out->kind = MANIFEST_KIND_IMAGE;
    if (parse_config_descriptor(root, out, err) < 0)
        return -1;
    return parse_layers(root, out, err);
}

int manifest_parse(const char *content_type, const void *data, size_t size, struct manifest *out,
                   struct error *err)
{
    _cleanup_json_ json_t *root = load_json(data, size, "manifest", err);

    if (root == NULL)
        return -1;
    if (parse_document(content_type, root, out, err) < 0) {
        manifest_clear(out);
        return -1;
    }
    return 0;
}

void manifest_clear(struct manifest *m)
{
    free(m->media_type);
    descriptor_clear(&m->config);
    for (size_t i = 0; i < m->layer_count; i++)
        descriptor_clear(&m->layers[i]);
    free(m->layers);
    for (size_t i = 0; i < m->manifest_count; i++)
        descriptor_clear(&m->manifests[i]);
    free(m->manifests);
    *m = (struct manifest)MANIFEST_INIT;
}

int manifest_index_select(const struct manifest *index, const struct platform *host,
                          const struct manifest_descriptor **chosen, struct error *err)
{
    _cleanup_free_ const struct platform **entries = NULL;
    size_t position = 0;

    if (index->kind != MANIFEST_KIND_INDEX)
        return error_set(err, ERROR_INVALID_ARGUMENT, "manifest %s is not an index",
                         index->media_type);
    entries = xcalloc(index->manifest_count + 1, sizeof(*entries));
    for (size_t i = 0; i < index->manifest_count; i++) {
        const struct manifest_descriptor *d = &index->manifests[i];

        if (d->has_platform && is_image_manifest_type(d->media_type))
            entries[i] = &d->platform;
    }
    if (platform_select(host, entries, index->manifest_count, &position, err) < 0)
        return -1;
    *chosen = &index->manifests[position];
    return 0;
}

static int parse_labels(json_t *config, struct image_config *out, struct error *err)
{
    json_t *labels = json_object_get(config, "Labels");
    const char *key;
    json_t *value;

    if (labels == NULL || json_is_null(labels))
        return 0;
    if (!json_is_object(labels))
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid image config: config.Labels is not an object");
    out->labels = xcalloc(json_object_size(labels) + 1, sizeof(*out->labels));
    json_object_foreach(labels, key, value)
    {
        if (!json_is_string(value))
            return error_set(err, ERROR_INVALID_ARGUMENT,
                             "invalid image config: label \"%s\" is not a string", key);
        out->labels[out->label_count].key = xstrdup(key);
        out->labels[out->label_count].value = xstrdup(json_string_value(value));
        out->label_count++;
    }
    return 0;
}

/* The "config" object: what a container of the image runs by default. */
static int parse_run_config(json_t *config, struct image_config *out, struct error *err)
{
    const char *what = "image config";

    if (config == NULL || json_is_null(config))
        return 0;
    if (!json_is_object(config))
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid image config: config is not an object");
    if (get_string(config, "User", what, &out->user, err) < 0 ||
        get_string_array(config, "Env", what, &out->env, err) < 0 ||
        get_string_array(config, "Entrypoint", what, &out->entrypoint, err) < 0 ||
        get_string_array(config, "Cmd", what, &out->cmd, err) < 0 ||
        get_string(config, "WorkingDir", what, &out->working_dir, err) < 0 ||
        get_string(config, "StopSignal", what, &out->stop_signal, err) < 0 ||
        get_object_keys(config, "ExposedPorts", what, &out->exposed_ports, err) < 0 ||
        get_object_keys(config, "Volumes", what, &out->volumes, err) < 0)
        return -1;
    return parse_labels(config, out, err);
}

static int parse_rootfs(json_t *rootfs, struct image_config *out, struct error *err)
{
    const char *type = json_string_value(json_object_get(rootfs, "type"));

    if (!json_is_object(rootfs))
        return error_set(err, ERROR_INVALID_ARGUMENT, "invalid image config: rootfs is missing");
    if (type == NULL || strcmp(type, "layers") != 0)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid image config: rootfs.type is \"%s\", expected \"layers\"",
                         type ? type : "");
    if (!json_is_array(json_object_get(rootfs, "diff_ids")))
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid image config: rootfs.diff_ids is missing or not an array");
    if (get_string_array(rootfs, "diff_ids", "image config", &out->diff_ids, err) < 0)
        return -1;
    out->diff_id_count = strv_length(out->diff_ids);
    for (size_t i = 0; i < out->diff_id_count; i++)
        if (digest_parse(out->diff_ids[i], NULL, NULL, err) < 0)
            return error_prefix(err, "invalid image config: rootfs.diff_ids[%zu]", i);
    return 0;
}

static int parse_config_document(json_t *root, struct image_config *out, struct error *err)
{
    const char *what = "image config";

    if (get_required_string(root, "architecture", what, &out->architecture, err) < 0 ||
        get_required_string(root, "os", what, &out->os, err) < 0 ||
        get_string(root, "variant", what, &out->variant, err) < 0 ||
        get_string(root, "os.version", what, &out->os_version, err) < 0 ||
        get_string(root, "created", what, &out->created, err) < 0 ||
        get_string(root, "author", what, &out->author, err) < 0)
        return -1;
    if (parse_run_config(json_object_get(root, "config"), out, err) < 0)
        return -1;
    return parse_rootfs(json_object_get(root, "rootfs"), out, err);
}

int image_config_parse(const void *data, size_t size, struct image_config *out, struct error *err)
{
    _cleanup_json_ json_t *root = load_json(data, size, "image config", err);

    if (root == NULL)
        return -1;
    if (parse_config_document(root, out, err) < 0) {
        image_config_clear(out);
        return -1;
    }
    return 0;
}

void image_config_clear(struct image_config *config)
{
    free(config->architecture);
    free(config->os);
    free(config->variant);
    free(config->os_version);
    free(config->created);
    free(config->author);
    free(config->user);
    strv_free(config->env);
    strv_free(config->entrypoint);
    strv_free(config->cmd);
    free(config->working_dir);
    free(config->stop_signal);
    strv_free(config->exposed_ports);
    strv_free(config->volumes);
    for (size_t i = 0; i < config->label_count; i++) {
        free(config->labels[i].key);
        free(config->labels[i].value);
    }
    free(config->labels);
    strv_free(config->diff_ids);
    *config = (struct image_config)IMAGE_CONFIG_INIT;
}

const char *image_config_label(const struct image_config *config, const char *key)
{
    for (size_t i = 0; i < config->label_count; i++)
        if (strcmp(config->labels[i].key, key) == 0)
            return config->labels[i].value;
    return NULL;
}

int manifest_chain_ids(char *const *diff_ids, size_t count, char ***chain_ids, struct error *err)
{
    _cleanup_strv_ char **ids = xcalloc(count + 1, sizeof(char *));

    for (size_t i = 0; i < count; i++) {
        char digest[DIGEST_STRING_MAX];
        _cleanup_free_ char *input = NULL;

        if (digest_parse(diff_ids[i], NULL, NULL, err) < 0)
            return error_prefix(err, "chain id of layer %zu", i);
        if (i == 0) {
            ids[i] = xstrdup(diff_ids[i]);
            continue;
        }
        input = xasprintf("%s %s", ids[i - 1], diff_ids[i]);
        digest_buffer(DIGEST_SHA256, input, strlen(input), digest);
        ids[i] = xstrdup(digest);
    }
    *chain_ids = steal_pointer(&ids);
    return 0;
}
