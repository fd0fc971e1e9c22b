/*
 * Pulls from the real testbed registries (test/testbed/start-registry.sh and make-images.sh).
 * The tests find it through $TESTBED_DIR/registry.env (default /tmp/testbed-registry) and are
 * skipped when no testbed runs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "common/log.h"
#include "common/util.h"
#include "images/images.h"
#include "images/platform.h"

struct testbed {
    char *tls;   /* 127.0.0.1:28443 */
    char *http;  /* plain HTTP registry */
    char *auth;  /* basic auth */
    char *token; /* bearer tokens */
    char *certs_d;
    char *expected_layers;
    char *user;
    char *pass;
};

static struct testbed testbed;
static bool have_testbed;

struct fixture {
    uv_loop_t loop;
    char root[64];
    struct images *images;
};

struct pull_result {
    bool done;
    char *id;
    struct error error;
};

static char *env_value(const char *text, const char *name)
{
    _cleanup_free_ char *needle = xasprintf("export %s=", name);
    const char *start = strstr(text, needle);

    if (start == NULL)
        return NULL;
    start += strlen(needle);
    return xstrndup(start, strcspn(start, "\n"));
}

static void load_testbed(void)
{
    const char *dir = getenv("TESTBED_DIR") ? getenv("TESTBED_DIR") : "/tmp/testbed-registry";
    _cleanup_free_ char *path = xasprintf("%s/registry.env", dir);
    _cleanup_free_ char *text = xcalloc(1, 65536);
    FILE *file = fopen(path, "r");

    if (file == NULL)
        return;
    fread(text, 1, 65535, file);
    fclose(file);
    testbed.tls = env_value(text, "TESTBED_TLS");
    testbed.http = env_value(text, "TESTBED_HTTP");
    testbed.auth = env_value(text, "TESTBED_AUTH");
    testbed.token = env_value(text, "TESTBED_TOKEN");
    testbed.certs_d = env_value(text, "TESTBED_CERTS_D");
    testbed.expected_layers = env_value(text, "TESTBED_EXPECTED_LAYERS");
    testbed.user = env_value(text, "TESTBED_USER");
    testbed.pass = env_value(text, "TESTBED_PASS");
    have_testbed = testbed.tls && testbed.http && testbed.auth && testbed.token &&
                   testbed.certs_d && testbed.user && testbed.pass;
}

static int open_images(struct fixture *fixture, const char *platform)
{
    struct images_config config;

    images_config_init_defaults(&config);
    config.root_dir = fixture->root;
    config.certs_dir = testbed.certs_d;
    config.platform = platform;
    config.retries = 1;
    config.retry_backoff_ms = 10;
    return images_open(&fixture->loop, &config, &fixture->images, NULL);
}

static void close_images(struct fixture *fixture)
{
    images_close(fixture->images);
    fixture->images = NULL;
    uv_run(&fixture->loop, UV_RUN_DEFAULT);
}

static int setup(void **state)
{
    struct fixture *fixture = xcalloc(1, sizeof(*fixture));

    if (!have_testbed) {
        free(fixture);
        *state = NULL;
        return 0;
    }
    uv_loop_init(&fixture->loop);
    strcpy(fixture->root, "/tmp/hostcri-test-pull-XXXXXX");
    if (mkdtemp(fixture->root) == NULL || open_images(fixture, NULL) < 0)
        return -1;
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fixture = *state;
    _cleanup_free_ char *command = NULL;

    if (fixture == NULL)
        return 0;
    close_images(fixture);
    if (uv_loop_close(&fixture->loop) != 0)
        return -1;
    command = xasprintf("rm -rf '%s'", fixture->root);
    if (system(command) != 0)
        return -1;
    free(fixture);
    return 0;
}

#define REQUIRE_TESTBED()                                                                          \
    do {                                                                                           \
        if (*state == NULL)                                                                        \
            skip();                                                                                \
    } while (0)

static void pull_cb(const char *image_id, const struct error *err, void *data)
{
    struct pull_result *result = data;

    assert_false(result->done);
    result->done = true;
    if (err != NULL) {
        result->error.code = err->code;
        result->error.message = xstrdup(err->message);
    } else {
        result->id = xstrdup(image_id);
    }
}

static void result_clear(struct pull_result *result)
{
    free(result->id);
    error_clear(&result->error);
    memset(result, 0, sizeof(*result));
}

/* Pulls "<registry>/<name>" and runs the loop until the callback ran. */
static void pull(struct fixture *fixture, const char *registry, const char *name,
                 const struct auth_credentials *creds, struct pull_result *result)
{
    _cleanup_free_ char *reference = xasprintf("%s/%s", registry, name);

    memset(result, 0, sizeof(*result));
    assert_int_equal(images_pull_start(fixture->images, reference, creds, pull_cb, result, NULL),
                     0);
    assert_false(result->done);
    while (!result->done)
        uv_run(&fixture->loop, UV_RUN_ONCE);
}

static void assert_pulled(struct pull_result *result)
{
    if (result->error.message != NULL)
        print_error("pull failed: %s\n", result->error.message);
    assert_null(result->error.message);
    assert_non_null(result->id);
    assert_true(str_has_prefix(result->id, "sha256:"));
}

static char *top_layer_file(struct fixture *fixture, const char *reference, const char *file)
{
    struct images_resolved resolved;
    char *path;

    assert_int_equal(images_resolve(fixture->images, reference, &resolved, NULL), 0);
    assert_true(resolved.layer_count > 0);
    path = xasprintf("%s/%s", resolved.layer_dirs[resolved.layer_count - 1], file);
    images_resolved_clear(&resolved);
    return path;
}

static char *read_text(const char *path)
{
    FILE *file = fopen(path, "r");
    char *text = xcalloc(1, 4096);

    assert_non_null(file);
    fread(text, 1, 4095, file);
    fclose(file);
    return text;
}

static void test_pull_tls_busybox(void **state)
{
    struct fixture *fixture = *state;
    struct pull_result result;
    struct image_record record;
    _cleanup_free_ char *name = NULL;
    _cleanup_free_ char *busybox = NULL;

    REQUIRE_TESTBED();
    pull(fixture, testbed.tls, "test/busybox:1.0", NULL, &result);
    assert_pulled(&result);

    name = xasprintf("%s/test/busybox:1.0", testbed.tls);
    assert_int_equal(images_status(fixture->images, name, &record, NULL), 0);
    assert_string_equal(record.id, result.id);
    assert_string_equal(record.repo_tags[0], name);
    assert_true(str_has_prefix(record.repo_digests[0], testbed.tls));
    assert_true(record.size > 0);
    image_record_clear(&record);

    /* By id, by id without "sha256:", and by a prefix of the id. */
    assert_int_equal(images_status(fixture->images, result.id, &record, NULL), 0);
    image_record_clear(&record);
    assert_int_equal(images_status(fixture->images, result.id + 7, &record, NULL), 0);
    image_record_clear(&record);
    _cleanup_free_ char *prefix = xstrndup(result.id + 7, 12);
    assert_int_equal(images_status(fixture->images, prefix, &record, NULL), 0);
    image_record_clear(&record);

    busybox = top_layer_file(fixture, name, "bin/busybox");
    assert_int_equal(access(busybox, X_OK), 0);
    result_clear(&result);
}

static void test_pull_variants_share_layers(void **state)
{
    struct fixture *fixture = *state;
    const char *names[] = {"test/busybox:1.0", "test/busybox:docker", "test/busybox:uncompressed",
                           "test/busybox-zstd:1.0"};
    char *first = NULL;

    REQUIRE_TESTBED();
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        struct pull_result result;

        pull(fixture, testbed.tls, names[i], NULL, &result);
        assert_pulled(&result);
        /* The same uncompressed layer gives the same config, so the same image id. */
        if (first == NULL)
            first = xstrdup(result.id);
        else
            assert_string_equal(result.id, first);
        result_clear(&result);
    }
    free(first);
}

static void check_platform(struct fixture *fixture, const char *name, const char *expected)
{
    struct pull_result result;
    _cleanup_free_ char *reference = xasprintf("%s/%s", testbed.tls, name);
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ char *text = NULL;

    pull(fixture, testbed.tls, name, NULL, &result);
    assert_pulled(&result);
    path = top_layer_file(fixture, reference, "etc/platform");
    text = read_text(path);
    assert_string_equal(text, expected);
    result_clear(&result);
}

static void test_pull_index_host_platform(void **state)
{
    struct fixture *fixture = *state;

    _cleanup_platform_ struct platform host = PLATFORM_INIT;
    _cleanup_free_ char *host_text = NULL;
    _cleanup_free_ char *expected = NULL;

    REQUIRE_TESTBED();
    platform_host(&host);
    host_text = platform_format(&host);
    /* The testbed's index has linux/amd64 and linux/arm64/v8 entries only. */
    if (strcmp(host_text, "linux/amd64") != 0 && strcmp(host_text, "linux/arm64/v8") != 0)
        skip();
    expected = xasprintf("%s\n", host_text);
    check_platform(fixture, "test/multi:1.0", expected);
    check_platform(fixture, "test/multi:docker", expected);
}

static void test_pull_index_configured_platform(void **state)
{
    struct fixture *fixture = *state;

    REQUIRE_TESTBED();
    close_images(fixture);
    assert_int_equal(open_images(fixture, "linux/arm64"), 0);
    check_platform(fixture, "test/multi:1.0", "linux/arm64/v8\n");
    check_platform(fixture, "test/multi:docker", "linux/arm64/v8\n");
}

static void test_pull_http_insecure_server(void **state)
{
    struct fixture *fixture = *state;
    struct pull_result result;

    REQUIRE_TESTBED();
    /* certs.d/<host>/hosts.toml names it with server = "http://...". */
    pull(fixture, testbed.http, "test/busybox:1.0", NULL, &result);
    assert_pulled(&result);
    result_clear(&result);
}

static void test_pull_basic_auth(void **state)
{
    struct fixture *fixture = *state;
    struct auth_credentials good = {testbed.user, testbed.pass, NULL, NULL};
    struct auth_credentials bad = {testbed.user, (char *)"wrong-password", NULL, NULL};
    _cleanup_free_ char *expected = NULL;
    struct pull_result result;

    REQUIRE_TESTBED();
    /* Allocated after the skip check: skip() jumps past the cleanup attributes. */
    expected = xasprintf("registry %s returned 401 Unauthorized", testbed.auth);
    pull(fixture, testbed.auth, "test/busybox:1.0", &bad, &result);
    assert_non_null(result.error.message);
    assert_non_null(strstr(result.error.message, expected));
    assert_non_null(strstr(result.error.message, "pull \""));
    assert_null(strstr(result.error.message, "wrong-password"));
    assert_int_equal(result.error.code, ERROR_UNAUTHENTICATED);
    result_clear(&result);

    pull(fixture, testbed.auth, "test/busybox:1.0", NULL, &result);
    assert_non_null(strstr(result.error.message, expected));
    result_clear(&result);

    pull(fixture, testbed.auth, "test/busybox:1.0", &good, &result);
    assert_pulled(&result);
    result_clear(&result);
}

static void test_pull_token_auth(void **state)
{
    struct fixture *fixture = *state;
    struct auth_credentials good = {testbed.user, testbed.pass, NULL, NULL};
    struct pull_result result;

    REQUIRE_TESTBED();
    pull(fixture, testbed.token, "test/busybox:1.0", NULL, &result);
    assert_pulled(&result);
    result_clear(&result);

    pull(fixture, testbed.token, "private/busybox:1.0", NULL, &result);
    assert_non_null(result.error.message);
    assert_non_null(strstr(result.error.message, "401 Unauthorized"));
    result_clear(&result);

    pull(fixture, testbed.token, "private/busybox:1.0", &good, &result);
    assert_pulled(&result);
    result_clear(&result);
}

static void test_pull_failed_repull_keeps_image(void **state)
{
    struct fixture *fixture = *state;
    struct auth_credentials good = {testbed.user, testbed.pass, NULL, NULL};
    struct auth_credentials bad = {testbed.user, (char *)"nope", NULL, NULL};
    _cleanup_free_ char *name = NULL;
    struct pull_result result;
    struct image_record record;
    _cleanup_free_ char *id = NULL;

    REQUIRE_TESTBED();
    /* Allocated after the skip check: skip() jumps past the cleanup attributes. */
    name = xasprintf("%s/test/busybox:1.0", testbed.auth);
    pull(fixture, testbed.auth, "test/busybox:1.0", &good, &result);
    assert_pulled(&result);
    id = xstrdup(result.id);
    result_clear(&result);

    pull(fixture, testbed.auth, "test/busybox:1.0", &bad, &result);
    assert_non_null(result.error.message);
    result_clear(&result);

    assert_int_equal(images_status(fixture->images, name, &record, NULL), 0);
    assert_string_equal(record.id, id);
    image_record_clear(&record);
}

static void test_pull_concurrent_share(void **state)
{
    struct fixture *fixture = *state;
    _cleanup_free_ char *reference = NULL;
    struct pull_result results[8];
    bool all_done = false;

    REQUIRE_TESTBED();
    /* Allocated after the skip check: skip() jumps past the cleanup attributes. */
    reference = xasprintf("%s/test/layers:1.0", testbed.tls);
    memset(results, 0, sizeof(results));
    for (size_t i = 0; i < ARRAY_SIZE(results); i++)
        assert_int_equal(
            images_pull_start(fixture->images, reference, NULL, pull_cb, &results[i], NULL), 0);
    /* Pulls asked for during the start-up garbage collection begin when it ends. */
    while (images_active_pulls(fixture->images) == 0)
        uv_run(&fixture->loop, UV_RUN_ONCE);
    assert_int_equal(images_active_pulls(fixture->images), 1);
    while (!all_done) {
        uv_run(&fixture->loop, UV_RUN_ONCE);
        all_done = true;
        for (size_t i = 0; i < ARRAY_SIZE(results); i++)
            all_done = all_done && results[i].done;
    }
    for (size_t i = 0; i < ARRAY_SIZE(results); i++) {
        assert_pulled(&results[i]);
        assert_string_equal(results[i].id, results[0].id);
    }
    for (size_t i = 0; i < ARRAY_SIZE(results); i++)
        result_clear(&results[i]);
}

static void test_pull_hostile_traversal(void **state)
{
    struct fixture *fixture = *state;
    struct pull_result result;
    struct image_record record;
    _cleanup_free_ char *name = NULL;
    _cleanup_free_ char *escape = NULL;
    _cleanup_free_ char *escape_layers = NULL;

    REQUIRE_TESTBED();
    name = xasprintf("%s/hostile/traversal:1.0", testbed.tls);
    escape = xasprintf("%s/escape", fixture->root);
    escape_layers = xasprintf("%s/layers/escape", fixture->root);
    pull(fixture, testbed.tls, "hostile/traversal:1.0", NULL, &result);
    assert_non_null(result.error.message);
    assert_non_null(strstr(result.error.message, "escape"));
    result_clear(&result);
    assert_int_equal(images_status(fixture->images, name, &record, NULL), -1);
    assert_int_not_equal(access(escape, F_OK), 0);
    assert_int_not_equal(access(escape_layers, F_OK), 0);
}

static void test_pull_hostile_symlink(void **state)
{
    struct fixture *fixture = *state;
    struct pull_result result;

    REQUIRE_TESTBED();
    unlink("/tmp/testbed-escape-canary");
    unlink("/tmp/testbed-escape");
    pull(fixture, testbed.tls, "hostile/symlink:1.0", NULL, &result);
    /* Failing or containing the writes are both safe; the host must stay unchanged. */
    result_clear(&result);
    assert_int_not_equal(access("/tmp/testbed-escape-canary", F_OK), 0);
    assert_int_not_equal(access("/tmp/testbed-escape", F_OK), 0);
}

static void count_dir(const char *path, size_t *count)
{
    _cleanup_free_ char *command = xasprintf("ls -A '%s' 2>/dev/null | wc -l", path);
    FILE *pipe = popen(command, "r");

    assert_non_null(pipe);
    assert_int_equal(fscanf(pipe, "%zu", count), 1);
    pclose(pipe);
}

static void test_remove_untags_then_collects(void **state)
{
    struct fixture *fixture = *state;
    _cleanup_free_ char *tag1 = NULL;
    _cleanup_free_ char *tag2 = NULL;
    _cleanup_free_ char *layers = NULL;
    _cleanup_free_ char *blobs = NULL;
    struct pull_result result;
    struct image_record record;
    size_t count = 0;

    REQUIRE_TESTBED();
    tag1 = xasprintf("%s/test/busybox:1.0", testbed.tls);
    tag2 = xasprintf("%s/test/busybox:latest", testbed.tls);
    layers = xasprintf("%s/layers", fixture->root);
    blobs = xasprintf("%s/content/blobs/sha256", fixture->root);
    pull(fixture, testbed.tls, "test/busybox:1.0", NULL, &result);
    assert_pulled(&result);
    result_clear(&result);
    pull(fixture, testbed.tls, "test/busybox:latest", NULL, &result);
    assert_pulled(&result);
    result_clear(&result);

    assert_int_equal(images_remove(fixture->images, tag1, NULL), 0);
    assert_int_equal(images_status(fixture->images, tag1, &record, NULL), -1);
    assert_int_equal(images_status(fixture->images, tag2, &record, NULL), 0);
    assert_int_equal(strv_length(record.repo_tags), 1);
    image_record_clear(&record);

    assert_int_equal(images_remove(fixture->images, tag2, NULL), 0);
    assert_int_equal(images_status(fixture->images, tag2, &record, NULL), -1);
    assert_int_equal(images_remove(fixture->images, tag2, NULL), 0);

    /* The collection runs on the thread pool; closing waits for it. */
    close_images(fixture);
    count_dir(blobs, &count);
    assert_int_equal(count, 0);
    count_dir(layers, &count);
    assert_int_equal(count, 0);
    assert_int_equal(open_images(fixture, NULL), 0);
}

static bool in_use_cb(void *data, const char *image_id, char **container_id)
{
    *container_id = xstrdup("c0ffee");
    return true;
}

static void test_remove_in_use_fails(void **state)
{
    struct fixture *fixture = *state;
    struct pull_result result;
    _cleanup_error_ struct error err = ERROR_INIT;

    REQUIRE_TESTBED();
    pull(fixture, testbed.tls, "test/pause:1.0", NULL, &result);
    assert_pulled(&result);
    images_set_in_use_hook(fixture->images, in_use_cb, NULL);
    assert_int_equal(images_remove(fixture->images, result.id, &err), -1);
    assert_int_equal(err.code, ERROR_FAILED_PRECONDITION);
    assert_non_null(strstr(err.message, "c0ffee"));
    images_set_in_use_hook(fixture->images, NULL, NULL);
    result_clear(&result);
}

static void test_records_survive_restart(void **state)
{
    struct fixture *fixture = *state;
    _cleanup_free_ char *name = NULL;
    struct pull_result result;
    struct images_resolved resolved;

    REQUIRE_TESTBED();
    /* Allocated after the skip check: skip() jumps past the cleanup attributes. */
    name = xasprintf("%s/test/config:1.0", testbed.tls);
    pull(fixture, testbed.tls, "test/config:1.0", NULL, &result);
    assert_pulled(&result);
    close_images(fixture);
    assert_int_equal(open_images(fixture, NULL), 0);
    /* Let the start-up collection run: it must keep everything the record uses. */
    uv_run(&fixture->loop, UV_RUN_NOWAIT);

    assert_int_equal(images_resolve(fixture->images, name, &resolved, NULL), 0);
    assert_string_equal(resolved.id, result.id);
    assert_string_equal(resolved.config.working_dir, "/app");
    assert_string_equal(resolved.config.user, "1000:1000");
    assert_string_equal(resolved.config.stop_signal, "SIGTERM");
    assert_non_null(resolved.config.entrypoint);
    assert_int_equal(access(resolved.layer_dirs[0], F_OK), 0);
    images_resolved_clear(&resolved);
    result_clear(&result);
}

static void flatten_cb(const struct error *err, void *data)
{
    struct pull_result *result = data;

    result->done = true;
    if (err != NULL) {
        result->error.code = err->code;
        result->error.message = xstrdup(err->message);
    }
}

static void test_flatten_layers_image(void **state)
{
    struct fixture *fixture = *state;
    struct pull_result result;
    struct pull_result flattened = {0};
    _cleanup_free_ char *target = NULL;
    _cleanup_free_ char *deleted = NULL;
    _cleanup_free_ char *keep = NULL;
    _cleanup_free_ char *text = NULL;

    REQUIRE_TESTBED();
    pull(fixture, testbed.tls, "test/layers:1.0", NULL, &result);
    assert_pulled(&result);
    target = xasprintf("%s/flat", fixture->root);
    assert_int_equal(
        images_flatten_start(fixture->images, result.id, target, flatten_cb, &flattened, NULL), 0);
    while (!flattened.done)
        uv_run(&fixture->loop, UV_RUN_ONCE);
    if (flattened.error.message != NULL)
        print_error("flatten failed: %s\n", flattened.error.message);
    assert_null(flattened.error.message);

    /* A few lines of the testbed's expected-layers.txt: whiteouts and overwrites applied. */
    deleted = xasprintf("%s/etc/deleteme.txt", target);
    assert_int_not_equal(access(deleted, F_OK), 0);
    keep = xasprintf("%s/data/keep.txt", target);
    text = read_text(keep);
    assert_string_equal(text, "keep v2 (layer 3)\n");
    result_clear(&result);
}

static void test_flatten_shared_layer(void **state)
{
    struct fixture *fixture = *state;
    _cleanup_free_ char *gzip = NULL;
    _cleanup_free_ char *zstd = NULL;
    struct pull_result results[2];
    const char *references[2];

    REQUIRE_TESTBED();
    gzip = xasprintf("%s/test/busybox:1.0", testbed.tls);
    zstd = xasprintf("%s/test/busybox-zstd:1.0", testbed.tls);
    references[0] = gzip;
    references[1] = zstd;
    memset(results, 0, sizeof(results));
    /* Pulled at once, the two images fetch their common layer through one of the blobs. */
    for (size_t i = 0; i < 2; i++)
        assert_int_equal(
            images_pull_start(fixture->images, references[i], NULL, pull_cb, &results[i], NULL), 0);
    while (!results[0].done || !results[1].done)
        uv_run(&fixture->loop, UV_RUN_ONCE);
    for (size_t i = 0; i < 2; i++) {
        struct pull_result flattened = {0};
        _cleanup_free_ char *target = xasprintf("%s/flat%zu", fixture->root, i);
        _cleanup_free_ char *busybox = xasprintf("%s/bin/busybox", target);

        assert_pulled(&results[i]);
        struct error err = ERROR_INIT;

        if (images_flatten_start(fixture->images, references[i], target, flatten_cb, &flattened,
                                 &err) < 0)
            fail_msg("flatten %s: %s", references[i], err.message);
        while (!flattened.done)
            uv_run(&fixture->loop, UV_RUN_ONCE);
        assert_null(flattened.error.message);
        assert_int_equal(access(busybox, X_OK), 0);
        result_clear(&results[i]);
    }
}

static void test_flatten_after_other_image_removed(void **state)
{
    struct fixture *fixture = *state;
    _cleanup_free_ char *zstd = NULL;
    _cleanup_free_ char *config = NULL;
    _cleanup_free_ char *target = NULL;
    struct pull_result results[2];
    struct pull_result flattened = {0};
    struct error err = ERROR_INIT;

    REQUIRE_TESTBED();
    zstd = xasprintf("%s/test/busybox-zstd:1.0", testbed.tls);
    config = xasprintf("%s/test/config:1.0", testbed.tls);
    memset(results, 0, sizeof(results));
    /* Two images whose base layer is the same tar in a zstd and in a gzip blob. */
    assert_int_equal(images_pull_start(fixture->images, zstd, NULL, pull_cb, &results[0], NULL), 0);
    assert_int_equal(images_pull_start(fixture->images, config, NULL, pull_cb, &results[1], NULL),
                     0);
    while (!results[0].done || !results[1].done)
        uv_run(&fixture->loop, UV_RUN_ONCE);
    assert_pulled(&results[0]);
    assert_pulled(&results[1]);

    /* The collection after the removal must keep the blob the other image relies on. */
    assert_int_equal(images_remove(fixture->images, config, NULL), 0);
    close_images(fixture);
    assert_int_equal(open_images(fixture, NULL), 0);

    target = xasprintf("%s/flat", fixture->root);
    if (images_flatten_start(fixture->images, zstd, target, flatten_cb, &flattened, &err) < 0)
        fail_msg("flatten %s: %s", zstd, err.message);
    while (!flattened.done)
        uv_run(&fixture->loop, UV_RUN_ONCE);
    assert_null(flattened.error.message);
    result_clear(&results[0]);
    result_clear(&results[1]);
}

static void test_flatten_unknown_image(void **state)
{
    struct fixture *fixture = *state;
    _cleanup_error_ struct error err = ERROR_INIT;

    REQUIRE_TESTBED();
    assert_int_equal(images_flatten_start(fixture->images, "sha256:0123456789ab", "/nonexistent",
                                          flatten_cb, NULL, &err),
                     -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_pull_tls_busybox, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pull_variants_share_layers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pull_index_host_platform, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pull_index_configured_platform, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pull_http_insecure_server, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pull_basic_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pull_token_auth, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pull_failed_repull_keeps_image, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pull_concurrent_share, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pull_hostile_traversal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pull_hostile_symlink, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_untags_then_collects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_in_use_fails, setup, teardown),
        cmocka_unit_test_setup_teardown(test_records_survive_restart, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flatten_layers_image, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flatten_shared_layer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flatten_after_other_image_removed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flatten_unknown_image, setup, teardown),
    };

    log_configure(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
    load_testbed();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
