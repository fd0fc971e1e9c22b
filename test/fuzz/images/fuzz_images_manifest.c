/*
 * Feeds arbitrary bytes to the manifest, index and image config parsers, and to the
 * reference parser, with each Content-Type the registry client may pass.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "images/manifest.h"
#include "images/reference.h"

static const char *const content_types[] = {
    NULL,
    "application/json",
    MEDIA_TYPE_OCI_MANIFEST,
    MEDIA_TYPE_OCI_INDEX,
    MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_DOCKER_LIST,
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
};

static void parse_manifest(const uint8_t *data, size_t size, const char *content_type)
{
    struct manifest m = MANIFEST_INIT;
    struct error err = ERROR_INIT;

    if (manifest_parse(content_type, data, size, &m, &err) == 0 && m.kind == MANIFEST_KIND_INDEX) {
        struct platform host = PLATFORM_INIT;
        const struct manifest_descriptor *chosen = NULL;

        platform_host(&host);
        manifest_index_select(&m, &host, &chosen, NULL);
        platform_clear(&host);
    }
    manifest_clear(&m);
    error_clear(&err);
}

static void parse_config(const uint8_t *data, size_t size)
{
    struct image_config config = IMAGE_CONFIG_INIT;
    char **chain_ids = NULL;

    if (image_config_parse(data, size, &config, NULL) == 0 &&
        manifest_chain_ids(config.diff_ids, config.diff_id_count, &chain_ids, NULL) == 0)
        strv_free(chain_ids);
    image_config_clear(&config);
}

static void parse_reference(const uint8_t *data, size_t size)
{
    struct image_reference ref = IMAGE_REFERENCE_INIT;
    char *text = xstrndup((const char *)data, size);

    if (reference_parse(text, &ref, NULL) == 0) {
        free(reference_string(&ref));
        free(reference_familiar_string(&ref));
    }
    reference_clear(&ref);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    for (size_t i = 0; i < ARRAY_SIZE(content_types); i++)
        parse_manifest(data, size, content_types[i]);
    parse_config(data, size);
    if (size < 1024)
        parse_reference(data, size);
    return 0;
}
