#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "images/image_store.h"
#include "images/image_store_gc.h"

#define ID_A "sha256:aaaa000000000000000000000000000000000000000000000000000000000001"
#define ID_B "sha256:aaab000000000000000000000000000000000000000000000000000000000002"

struct fixture {
    char dir[64];
    char *path;
    struct image_store *store;
};

static int setup(void **state)
{
    struct fixture *fixture = xcalloc(1, sizeof(*fixture));

    strcpy(fixture->dir, "/tmp/hostcri-test-store-XXXXXX");
    if (mkdtemp(fixture->dir) == NULL)
        return -1;
    fixture->path = xasprintf("%s/images.db", fixture->dir);
    if (image_store_open(fixture->path, &fixture->store, NULL) < 0)
        return -1;
    *state = fixture;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fixture = *state;
    _cleanup_free_ char *command = xasprintf("rm -rf '%s'", fixture->dir);

    image_store_close(fixture->store);
    free(fixture->path);
    free(fixture);
    return system(command) == 0 ? 0 : -1;
}

static char **strv_of(const char *a, const char *b)
{
    char **strv = xcalloc(3, sizeof(char *));

    strv[0] = a ? xstrdup(a) : NULL;
    strv[1] = a && b ? xstrdup(b) : NULL;
    return strv;
}

/* A record with one layer; tag and digest names may be NULL. */
static void make_record(struct image_record *record, const char *id, const char *tag,
                        const char *blob)
{
    memset(record, 0, sizeof(*record));
    record->id = xstrdup(id);
    record->repo_tags = strv_of(tag, NULL);
    record->repo_digests = strv_of(NULL, NULL);
    record->manifest_digest = xstrdup("sha256:m");
    record->size = 1234;
    record->config_json = xstrdup("{\"os\":\"linux\"}");
    record->chain_ids = strv_of("sha256:chain", NULL);
    record->diff_ids = strv_of("sha256:diff", NULL);
    record->layer_digests = strv_of(blob, NULL);
    record->blobs = strv_of(blob, "sha256:config");
}

static void put(struct fixture *fixture, const char *id, const char *tag, const char *blob)
{
    struct image_record record;

    make_record(&record, id, tag, blob);
    assert_int_equal(image_store_put(fixture->store, &record, NULL), 0);
    image_record_clear(&record);
}

static void test_store_put_and_get(void **state)
{
    struct fixture *fixture = *state;
    struct image_record record;

    put(fixture, ID_A, "docker.io/library/a:1", "sha256:blob1");
    assert_int_equal(image_store_get(fixture->store, ID_A, &record, NULL), 0);
    assert_string_equal(record.id, ID_A);
    assert_string_equal(record.repo_tags[0], "docker.io/library/a:1");
    assert_null(record.repo_tags[1]);
    assert_null(record.repo_digests[0]);
    assert_int_equal(record.size, 1234);
    assert_string_equal(record.config_json, "{\"os\":\"linux\"}");
    assert_string_equal(record.chain_ids[0], "sha256:chain");
    assert_true(record.created_ns > 0);
    assert_false(record.pinned);
    image_record_clear(&record);

    assert_int_equal(
        image_store_get_by_name(fixture->store, "docker.io/library/a:1", &record, NULL), 0);
    assert_string_equal(record.id, ID_A);
    image_record_clear(&record);
}

static void test_store_not_found(void **state)
{
    struct fixture *fixture = *state;
    struct image_record record;
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(image_store_get(fixture->store, ID_A, &record, &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
    assert_int_equal(image_store_get_by_name(fixture->store, "x:1", &record, NULL), -1);
}

static void test_store_id_prefix(void **state)
{
    struct fixture *fixture = *state;
    struct image_record record;
    _cleanup_error_ struct error err = ERROR_INIT;

    put(fixture, ID_A, "a:1", "sha256:blob1");
    put(fixture, ID_B, "b:1", "sha256:blob2");
    assert_int_equal(image_store_get_by_id_prefix(fixture->store, "aaaa", &record, NULL), 0);
    assert_string_equal(record.id, ID_A);
    image_record_clear(&record);
    assert_int_equal(image_store_get_by_id_prefix(fixture->store, "sha256:aaab", &record, NULL), 0);
    assert_string_equal(record.id, ID_B);
    image_record_clear(&record);

    assert_int_equal(image_store_get_by_id_prefix(fixture->store, "aaa", &record, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    error_clear(&err);
    assert_int_equal(image_store_get_by_id_prefix(fixture->store, "ab", &record, &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
}

static void test_store_tag_moves(void **state)
{
    struct fixture *fixture = *state;
    struct image_record record;

    put(fixture, ID_A, "a:latest", "sha256:blob1");
    put(fixture, ID_B, "a:latest", "sha256:blob2");
    assert_int_equal(image_store_get_by_name(fixture->store, "a:latest", &record, NULL), 0);
    assert_string_equal(record.id, ID_B);
    image_record_clear(&record);

    /* The old image stays, untagged, until it is removed. */
    assert_int_equal(image_store_get(fixture->store, ID_A, &record, NULL), 0);
    assert_null(record.repo_tags[0]);
    image_record_clear(&record);
}

static void test_store_names_accumulate(void **state)
{
    struct fixture *fixture = *state;
    struct image_record record;

    put(fixture, ID_A, "a:1", "sha256:gzip");
    put(fixture, ID_A, "a:zstd", "sha256:zstd");
    assert_int_equal(image_store_get(fixture->store, ID_A, &record, NULL), 0);
    assert_string_equal(record.repo_tags[0], "a:1");
    assert_string_equal(record.repo_tags[1], "a:zstd");
    /* The blobs of both pulls stay referenced. */
    assert_int_equal(strv_length(record.blobs), 3);
    image_record_clear(&record);
}

static void test_store_remove_name_and_image(void **state)
{
    struct fixture *fixture = *state;
    struct image_record *records = NULL;
    size_t count = 0;
    struct image_record record;

    put(fixture, ID_A, "a:1", "sha256:blob1");
    put(fixture, ID_A, "a:2", "sha256:blob1");
    assert_int_equal(image_store_remove_name(fixture->store, "a:1", NULL), 0);
    assert_int_equal(image_store_get(fixture->store, ID_A, &record, NULL), 0);
    assert_string_equal(record.repo_tags[0], "a:2");
    assert_null(record.repo_tags[1]);
    image_record_clear(&record);

    assert_int_equal(image_store_remove(fixture->store, ID_A, NULL), 0);
    assert_int_equal(image_store_get_by_name(fixture->store, "a:2", &record, NULL), -1);
    assert_int_equal(image_store_list(fixture->store, &records, &count, NULL), 0);
    assert_int_equal(count, 0);
    image_records_free(records, count);
    assert_int_equal(image_store_remove(fixture->store, ID_A, NULL), 0);
}

static void test_store_pinned(void **state)
{
    struct fixture *fixture = *state;
    struct image_record record;
    _cleanup_error_ struct error err = ERROR_INIT;

    put(fixture, ID_A, "a:1", "sha256:blob1");
    assert_int_equal(image_store_set_pinned(fixture->store, ID_A, true, NULL), 0);
    assert_int_equal(image_store_get(fixture->store, ID_A, &record, NULL), 0);
    assert_true(record.pinned);
    image_record_clear(&record);
    assert_int_equal(image_store_set_pinned(fixture->store, ID_B, true, &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
}

static void test_store_survives_reopen(void **state)
{
    struct fixture *fixture = *state;
    struct image_record record;

    put(fixture, ID_A, "a:1", "sha256:blob1");
    image_store_close(fixture->store);
    assert_int_equal(image_store_open(fixture->path, &fixture->store, NULL), 0);
    assert_int_equal(image_store_get_by_name(fixture->store, "a:1", &record, NULL), 0);
    assert_string_equal(record.id, ID_A);
    image_record_clear(&record);
}

static void test_gc_keep_sets(void **state)
{
    struct fixture *fixture = *state;
    struct image_gc *gc = NULL;

    put(fixture, ID_A, "a:1", "sha256:blob1");
    put(fixture, ID_B, "b:1", "sha256:blob2");
    assert_int_equal(image_gc_prepare(fixture->store, NULL, &gc, NULL), 0);
    /* blob1, blob2 and the shared config; the chain ID twice, once per image. */
    assert_int_equal(gc->keep_blob_count, 4);
    assert_int_equal(gc->keep_layer_count, 2);
    assert_string_equal(gc->keep_blobs[0], "sha256:blob1");
    image_gc_free(gc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_store_put_and_get, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_not_found, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_id_prefix, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_tag_moves, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_names_accumulate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_remove_name_and_image, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_pinned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_survives_reopen, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gc_keep_sets, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
