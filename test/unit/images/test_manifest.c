#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "images/manifest.h"

#define D1 "sha256:4fbec69b941195fd56f8212a5000e304129451d82efca94ff0e0fb2d5355472e"
#define D2 "sha256:77ea7eee3d80b1a38f83906dd3048e2689457eb90e18a7d12f839c5ae37106a2"
#define D3 "sha256:95cf1a2e1698fe3ca1fcc3f653119146b271d0b62e487ec264441e886a11bd06"

#define OCI_MANIFEST                                                                               \
    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\","           \
    "\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" D1      \
    "\",\"size\":1234},"                                                                           \
    "\"layers\":["                                                                                 \
    "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"" D2              \
    "\",\"size\":100},"                                                                            \
    "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+zstd\",\"digest\":\"" D3              \
    "\",\"size\":0},"                                                                              \
    "{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" D1                   \
    "\",\"size\":5}]}"

#define DOCKER_MANIFEST                                                                            \
    "{\"schemaVersion\":2,"                                                                        \
    "\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\","                      \
    "\"config\":{\"mediaType\":\"application/vnd.docker.container.image.v1+json\","                \
    "\"digest\":\"" D1 "\",\"size\":10},"                                                          \
    "\"layers\":[{\"mediaType\":\"application/vnd.docker.image.rootfs.diff.tar.gzip\","            \
    "\"digest\":\"" D2 "\",\"size\":100},"                                                         \
    "{\"mediaType\":\"application/vnd.docker.image.rootfs.foreign.diff.tar.gzip\","                \
    "\"digest\":\"" D3 "\",\"size\":7,\"urls\":[\"https://example.com/layer\"]}]}"

#define OCI_INDEX                                                                                  \
    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\","              \
    "\"manifests\":["                                                                              \
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D1               \
    "\",\"size\":500,\"platform\":{\"architecture\":\"arm64\",\"os\":\"linux\"}},"                 \
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D2               \
    "\",\"size\":500,\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"}},"                 \
    "{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"" D3               \
    "\",\"size\":500,\"platform\":{\"architecture\":\"unknown\",\"os\":\"unknown\"},"              \
    "\"annotations\":{\"vnd.docker.reference.type\":\"attestation-manifest\"}}]}"

#define DOCKER_LIST                                                                                \
    "{\"schemaVersion\":2,"                                                                        \
    "\"mediaType\":\"application/vnd.docker.distribution.manifest.list.v2+json\","                 \
    "\"manifests\":["                                                                              \
    "{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"digest\":\"" D1     \
    "\",\"size\":500,\"platform\":{\"architecture\":\"amd64\",\"os\":\"windows\","                 \
    "\"os.version\":\"10.0.17763.5830\"}},"                                                        \
    "{\"mediaType\":\"application/vnd.docker.distribution.manifest.v2+json\",\"digest\":\"" D2     \
    "\",\"size\":500,\"platform\":{\"architecture\":\"amd64\",\"os\":\"windows\","                 \
    "\"os.version\":\"10.0.20348.2227\"}}]}"

static void test_manifest_oci(void **state)
{
    _cleanup_manifest_ struct manifest m = MANIFEST_INIT;
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(manifest_parse(NULL, OCI_MANIFEST, strlen(OCI_MANIFEST), &m, &err), 0);
    assert_int_equal(m.kind, MANIFEST_KIND_IMAGE);
    assert_string_equal(m.media_type, MEDIA_TYPE_OCI_MANIFEST);
    assert_string_equal(m.config.digest, D1);
    assert_int_equal(m.config.size, 1234);
    assert_int_equal(m.layer_count, 3);
    assert_int_equal(m.layers[0].compression, LAYER_COMPRESSION_GZIP);
    assert_int_equal(m.layers[1].compression, LAYER_COMPRESSION_ZSTD);
    assert_int_equal(m.layers[2].compression, LAYER_COMPRESSION_NONE);
    assert_false(m.layers[0].foreign);
    assert_string_equal(m.layers[1].digest, D3);
    assert_int_equal(m.layers[1].size, 0);
}

static void test_manifest_docker(void **state)
{
    _cleanup_manifest_ struct manifest m = MANIFEST_INIT;
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(manifest_parse(MEDIA_TYPE_DOCKER_MANIFEST, DOCKER_MANIFEST,
                                    strlen(DOCKER_MANIFEST), &m, &err),
                     0);
    assert_string_equal(m.media_type, MEDIA_TYPE_DOCKER_MANIFEST);
    assert_int_equal(m.layer_count, 2);
    assert_int_equal(m.layers[0].compression, LAYER_COMPRESSION_GZIP);
    assert_true(m.layers[1].foreign);
    assert_non_null(m.layers[1].urls);
    assert_string_equal(m.layers[1].urls[0], "https://example.com/layer");
    assert_null(m.layers[1].urls[1]);
}

static void test_manifest_index_select(void **state)
{
    _cleanup_manifest_ struct manifest m = MANIFEST_INIT;
    _cleanup_platform_ struct platform host = PLATFORM_INIT;
    _cleanup_error_ struct error err = ERROR_INIT;
    const struct manifest_descriptor *chosen = NULL;

    assert_int_equal(manifest_parse("application/vnd.oci.image.index.v1+json; charset=utf-8",
                                    OCI_INDEX, strlen(OCI_INDEX), &m, &err),
                     0);
    assert_int_equal(m.kind, MANIFEST_KIND_INDEX);
    assert_int_equal(m.manifest_count, 3);
    assert_true(m.manifests[0].has_platform);
    assert_string_equal(m.manifests[0].platform.variant, "v8");

    assert_int_equal(platform_parse("linux/amd64", &host, NULL), 0);
    assert_int_equal(manifest_index_select(&m, &host, &chosen, &err), 0);
    assert_string_equal(chosen->digest, D2);

    platform_clear(&host);
    assert_int_equal(platform_parse("linux/s390x", &host, NULL), 0);
    assert_int_equal(manifest_index_select(&m, &host, &chosen, &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
    assert_non_null(strstr(err.message, "linux/s390x"));
}

static void test_manifest_docker_list_windows(void **state)
{
    _cleanup_manifest_ struct manifest m = MANIFEST_INIT;
    _cleanup_platform_ struct platform host = PLATFORM_INIT;
    const struct manifest_descriptor *chosen = NULL;

    assert_int_equal(manifest_parse(NULL, DOCKER_LIST, strlen(DOCKER_LIST), &m, NULL), 0);
    assert_string_equal(m.media_type, MEDIA_TYPE_DOCKER_LIST);
    assert_int_equal(platform_parse("windows/amd64", &host, NULL), 0);
    host.os_version = xstrdup("10.0.20348.2700");
    assert_int_equal(manifest_index_select(&m, &host, &chosen, NULL), 0);
    assert_string_equal(chosen->digest, D2);
}

static void test_manifest_index_partial_platform(void **state)
{
    const char *index =
        "{\"schemaVersion\":2,\"manifests\":["
        "{\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST "\",\"digest\":\"" D1
        "\",\"size\":1,\"platform\":{\"os\":\"linux\"}},"
        "{\"mediaType\":\"" MEDIA_TYPE_OCI_MANIFEST "\",\"digest\":\"" D2
        "\",\"size\":1,\"platform\":{\"os\":\"linux\",\"architecture\":\"amd64\"}}]}";
    _cleanup_manifest_ struct manifest m = MANIFEST_INIT;
    _cleanup_platform_ struct platform host = PLATFORM_INIT;
    const struct manifest_descriptor *chosen = NULL;

    assert_int_equal(manifest_parse(NULL, index, strlen(index), &m, NULL), 0);
    assert_false(m.manifests[0].has_platform);
    assert_null(m.manifests[0].platform.os);
    assert_true(m.manifests[1].has_platform);
    assert_int_equal(platform_parse("linux/amd64", &host, NULL), 0);
    assert_int_equal(manifest_index_select(&m, &host, &chosen, NULL), 0);
    assert_string_equal(chosen->digest, D2);
}

static void test_manifest_detect_by_shape(void **state)
{
    const char *manifest = "{\"schemaVersion\":2,\"config\":{\"mediaType\":"
                           "\"application/vnd.oci.image.config.v1+json\",\"digest\":\"" D1
                           "\",\"size\":3},\"layers\":[]}";
    const char *index = "{\"schemaVersion\":2,\"manifests\":[]}";
    _cleanup_manifest_ struct manifest m = MANIFEST_INIT;

    assert_int_equal(manifest_parse("application/json", manifest, strlen(manifest), &m, NULL), 0);
    assert_string_equal(m.media_type, MEDIA_TYPE_OCI_MANIFEST);
    assert_int_equal(m.layer_count, 0);
    manifest_clear(&m);
    assert_int_equal(manifest_parse(NULL, index, strlen(index), &m, NULL), 0);
    assert_string_equal(m.media_type, MEDIA_TYPE_OCI_INDEX);
    manifest_clear(&m);
    assert_int_equal(manifest_parse(MEDIA_TYPE_OCI_INDEX, index, strlen(index), &m, NULL), 0);
    assert_int_equal(m.kind, MANIFEST_KIND_INDEX);
}

struct reject_case {
    const char *content_type;
    const char *document;
    const char *message_part;
};

static const struct reject_case reject_cases[] = {
    {"application/vnd.docker.distribution.manifest.v1+prettyjws",
     "{\"schemaVersion\":1,\"name\":\"x\",\"tag\":\"1\",\"fsLayers\":[]}",
     "application/vnd.docker.distribution.manifest.v1+prettyjws"},
    {NULL, "{\"schemaVersion\":1,\"name\":\"x\",\"tag\":\"1\",\"fsLayers\":[]}",
     "application/vnd.docker.distribution.manifest.v1+json"},
    {NULL,
     "{\"schemaVersion\":1,\"mediaType\":\"application/vnd.docker.distribution.manifest.v1+json\"}",
     "schema 1"},
    {"application/vnd.example.thing+json", "{\"schemaVersion\":2}",
     "application/vnd.example.thing+json"},
    {NULL, "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.artifact.manifest.v1+json\"}",
     "application/vnd.oci.artifact.manifest.v1+json"},
    {MEDIA_TYPE_DOCKER_MANIFEST, OCI_MANIFEST, "does not match"},
    {NULL, "{\"schemaVersion\":2}", "not an image manifest"},
    {NULL, "[1,2]", "not a JSON object"},
    {NULL, "{\"schemaVersion\":2,", "JSON error"},
    {NULL, "{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[]}",
     "schemaVersion"},
    {NULL, "{\"schemaVersion\":3,\"manifests\":[]}", "schemaVersion 3"},
    {NULL,
     "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x\",\"digest\":\"sha256:00\",\"size\":1}"
     "]}",
     "sha256:00"},
    {NULL,
     "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x\",\"digest\":\"" D1
     "\",\"size\":-1}]}",
     "size -1"},
    {NULL,
     "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x\",\"digest\":\"" D1
     "\",\"size\":\"1\"}]}",
     "size"},
    {NULL, "{\"schemaVersion\":2,\"manifests\":[{\"digest\":\"" D1 "\",\"size\":1}]}", "mediaType"},
    {NULL,
     "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"x\",\"digest\":\"" D1 "\",\"size\":1,"
     "\"platform\":[\"linux\"]}]}",
     "platform is not an object"},
    {NULL,
     "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.cncf.helm.config.v1+json\","
     "\"digest\":\"" D1 "\",\"size\":1},\"layers\":[]}",
     "application/vnd.cncf.helm.config.v1+json"},
    {NULL,
     "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
     "\"digest\":\"" D1 "\",\"size\":1},\"layers\":[{\"mediaType\":\"application/x-tar-bz2\","
     "\"digest\":\"" D2 "\",\"size\":1}]}",
     "application/x-tar-bz2"},
    {NULL,
     "{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\","
     "\"digest\":\"" D1 "\",\"size\":1},\"layers\":[{\"mediaType\":"
     "\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"" D2 "\",\"size\":2000000000000}]}",
     "out of range"},
    {NULL, "{\"schemaVersion\":2,\"schemaVersion\":2,\"manifests\":[]}", "JSON error"},
};

static void test_manifest_rejects(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(reject_cases); i++) {
        const struct reject_case *c = &reject_cases[i];
        _cleanup_manifest_ struct manifest m = MANIFEST_INIT;
        _cleanup_error_ struct error err = ERROR_INIT;

        print_message("case %zu\n", i);
        assert_int_equal(
            manifest_parse(c->content_type, c->document, strlen(c->document), &m, &err), -1);
        assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
        if (strstr(err.message, c->message_part) == NULL)
            fail_msg("message \"%s\" lacks \"%s\"", err.message, c->message_part);
        assert_null(m.media_type);
    }
}

#define CONFIG_JSON                                                                                \
    "{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2023-11-14T22:13:20Z\","           \
    "\"config\":{\"User\":\"1000:1000\",\"Env\":[\"PATH=/bin\",\"A=b\"],"                          \
    "\"Entrypoint\":[\"/bin/sh\",\"-c\"],\"Cmd\":null,\"WorkingDir\":\"/work\","                   \
    "\"StopSignal\":\"SIGTERM\",\"Labels\":{\"a\":\"1\",\"b\":\"2\"},"                             \
    "\"ExposedPorts\":{\"80/tcp\":{}},\"Volumes\":{\"/data\":{}}},"                                \
    "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"" D1 "\",\"" D2 "\",\"" D3 "\"]},"            \
    "\"history\":[{\"created_by\":\"x\"}]}"

static void test_image_config_parse(void **state)
{
    _cleanup_image_config_ struct image_config c = IMAGE_CONFIG_INIT;
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(image_config_parse(CONFIG_JSON, strlen(CONFIG_JSON), &c, &err), 0);
    assert_string_equal(c.architecture, "amd64");
    assert_string_equal(c.os, "linux");
    assert_string_equal(c.created, "2023-11-14T22:13:20Z");
    assert_string_equal(c.user, "1000:1000");
    assert_string_equal(c.env[0], "PATH=/bin");
    assert_string_equal(c.env[1], "A=b");
    assert_null(c.env[2]);
    assert_string_equal(c.entrypoint[1], "-c");
    assert_null(c.cmd);
    assert_string_equal(c.working_dir, "/work");
    assert_string_equal(c.stop_signal, "SIGTERM");
    assert_int_equal(c.label_count, 2);
    assert_string_equal(image_config_label(&c, "b"), "2");
    assert_null(image_config_label(&c, "c"));
    assert_string_equal(c.exposed_ports[0], "80/tcp");
    assert_string_equal(c.volumes[0], "/data");
    assert_int_equal(c.diff_id_count, 3);
    assert_string_equal(c.diff_ids[2], D3);
}

static void test_image_config_rejects(void **state)
{
    const char *const documents[] = {
        "{\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
        "{\"architecture\":\"amd64\",\"os\":\"linux\"}",
        "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"x\",\"diff_ids\":[]}}",
        "{\"architecture\":\"amd64\",\"os\":\"linux\",\"rootfs\":{\"type\":\"layers\","
        "\"diff_ids\":[\"sha256:1\"]}}",
        "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Env\":\"A=b\"},"
        "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
        "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"Labels\":{\"a\":1}},"
        "\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[]}}",
    };
    const char *const fields[] = {"architecture", "rootfs", "rootfs.type",
                                  "diff_ids[0]",  "Env",    "label \"a\""};

    for (size_t i = 0; i < ARRAY_SIZE(documents); i++) {
        _cleanup_image_config_ struct image_config c = IMAGE_CONFIG_INIT;
        _cleanup_error_ struct error err = ERROR_INIT;

        assert_int_equal(image_config_parse(documents[i], strlen(documents[i]), &c, &err), -1);
        assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
        if (strstr(err.message, fields[i]) == NULL)
            fail_msg("message \"%s\" lacks \"%s\"", err.message, fields[i]);
        assert_null(c.os);
    }
}

static void test_chain_ids(void **state)
{
    char *diff_ids[] = {D1, D2, D3, NULL};
    _cleanup_strv_ char **chain_ids = NULL;
    _cleanup_error_ struct error err = ERROR_INIT;
    char *bad[] = {D1, "sha256:xyz", NULL};

    assert_int_equal(manifest_chain_ids(diff_ids, 3, &chain_ids, &err), 0);
    assert_string_equal(chain_ids[0], D1);
    /* Computed independently: sha256 of "<chain 0> <diff 1>", and so on. */
    assert_string_equal(chain_ids[1],
                        "sha256:ef232af0eb422cdfd7917631657cd8ed2bfd5b9461b37c427aa0d3e0a19adf79");
    assert_string_equal(chain_ids[2],
                        "sha256:7ad3896338947cc04ee0b35b50d400ff32538d63f42f85ec87feac78bf71a54d");
    assert_null(chain_ids[3]);

    strv_free(steal_pointer(&chain_ids));
    assert_int_equal(manifest_chain_ids(bad, 2, &chain_ids, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_null(chain_ids);
}

static void test_layer_media_types(void **state)
{
    assert_true(manifest_is_layer_media_type("application/vnd.oci.image.layer.v1.tar+zstd"));
    assert_true(manifest_is_layer_media_type("application/vnd.docker.image.rootfs.diff.tar.gzip"));
    assert_false(manifest_is_layer_media_type("application/vnd.oci.image.layer.v1.tar+bzip2"));
    assert_false(manifest_is_layer_media_type(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manifest_oci),
        cmocka_unit_test(test_manifest_docker),
        cmocka_unit_test(test_manifest_index_select),
        cmocka_unit_test(test_manifest_docker_list_windows),
        cmocka_unit_test(test_manifest_index_partial_platform),
        cmocka_unit_test(test_manifest_detect_by_shape),
        cmocka_unit_test(test_manifest_rejects),
        cmocka_unit_test(test_image_config_parse),
        cmocka_unit_test(test_image_config_rejects),
        cmocka_unit_test(test_chain_ids),
        cmocka_unit_test(test_layer_media_types),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
