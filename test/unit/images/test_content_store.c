#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/digest.h"
#include "common/util.h"
#include "images/content_fs.h"
#include "images/content_store.h"

#define ABC_SHA256 "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
#define EMPTY_SHA256 "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

struct fixture {
    char root[64];
    struct content_store *store;
};

static int count_entries(const char *name, void *data)
{
    (*(int *)data)++;
    return 0;
}

static int ingest_file_count(const struct fixture *f)
{
    _cleanup_free_ char *dir = xasprintf("%s/content/ingest", f->root);
    int count = 0;

    assert_int_equal(content_fs_list_dir(dir, count_entries, &count), 0);
    return count;
}

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));

    snprintf(f->root, sizeof(f->root), "/tmp/hostcri-content-XXXXXX");
    assert_non_null(mkdtemp(f->root));
    assert_int_equal(content_store_open(f->root, &f->store, NULL), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    content_store_close(f->store);
    assert_int_equal(content_fs_remove_tree(f->root), 0);
    free(f);
    return 0;
}

static void test_content_commit(void **state)
{
    struct fixture *f = *state;
    struct content_writer *writer = NULL;
    _cleanup_free_ char *path = NULL;
    _cleanup_free_ char *data = NULL;
    _cleanup_error_ struct error err = ERROR_INIT;
    size_t length = 0;
    int64_t size = -1;
    struct stat st;

    assert_false(content_store_exists(f->store, ABC_SHA256));
    assert_int_equal(content_writer_open(f->store, ABC_SHA256, 3, &writer, &err), 0);
    assert_int_equal(ingest_file_count(f), 1);
    assert_int_equal(content_writer_write(writer, "a", 1, &err), 0);
    assert_int_equal(content_writer_write(writer, "bc", 2, &err), 0);
    assert_int_equal(content_writer_offset(writer), 3);
    assert_int_equal(content_writer_commit(writer, &err), 0);

    assert_true(content_store_exists(f->store, ABC_SHA256));
    assert_int_equal(ingest_file_count(f), 0);
    path = content_store_blob_path(f->store, ABC_SHA256, NULL);
    assert_non_null(strstr(path, "/content/blobs/sha256/ba7816bf"));
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0444);
    assert_int_equal(content_store_size(f->store, ABC_SHA256, &size, &err), 0);
    assert_int_equal(size, 3);
    assert_int_equal(content_store_read(f->store, ABC_SHA256, 100, &data, &length, &err), 0);
    assert_int_equal(length, 3);
    assert_string_equal(data, "abc");
}

static void test_content_digest_mismatch(void **state)
{
    struct fixture *f = *state;
    struct content_writer *writer = NULL;
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(content_writer_open(f->store, ABC_SHA256, -1, &writer, &err), 0);
    assert_int_equal(content_writer_write(writer, "abd", 3, &err), 0);
    assert_int_equal(content_writer_commit(writer, &err), -1);
    assert_int_equal(err.code, ERROR_DATA_LOSS);
    assert_non_null(strstr(err.message, ABC_SHA256));
    assert_non_null(strstr(err.message, "sha256:a52d159f262b2c6ddb724a61840befc36eb30c88877a4030b"
                                        "65cbe86298449c9"));
    assert_false(content_store_exists(f->store, ABC_SHA256));
    assert_int_equal(ingest_file_count(f), 0);
}

static void test_content_size_mismatch(void **state)
{
    struct fixture *f = *state;
    struct content_writer *writer = NULL;
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(content_writer_open(f->store, ABC_SHA256, 2, &writer, &err), 0);
    assert_int_equal(content_writer_write(writer, "abc", 3, &err), -1);
    assert_int_equal(err.code, ERROR_DATA_LOSS);
    content_writer_abort(writer);
    error_clear(&err);

    assert_int_equal(content_writer_open(f->store, ABC_SHA256, 4, &writer, &err), 0);
    assert_int_equal(content_writer_write(writer, "abc", 3, &err), 0);
    assert_int_equal(content_writer_commit(writer, &err), -1);
    assert_int_equal(err.code, ERROR_DATA_LOSS);
    assert_non_null(strstr(err.message, "expected 4 bytes"));
    assert_false(content_store_exists(f->store, ABC_SHA256));
    assert_int_equal(ingest_file_count(f), 0);
}

static void test_content_abort(void **state)
{
    struct fixture *f = *state;
    struct content_writer *writer = NULL;

    assert_int_equal(content_writer_open(f->store, ABC_SHA256, 3, &writer, NULL), 0);
    assert_int_equal(content_writer_write(writer, "ab", 2, NULL), 0);
    content_writer_abort(writer);
    content_writer_abort(NULL);
    assert_false(content_store_exists(f->store, ABC_SHA256));
    assert_int_equal(ingest_file_count(f), 0);
}

static void test_content_open_cleans_ingest(void **state)
{
    struct fixture *f = *state;
    struct content_writer *writer = NULL;
    struct content_store *reopened = NULL;

    assert_int_equal(content_writer_open(f->store, ABC_SHA256, 3, &writer, NULL), 0);
    assert_int_equal(content_writer_write(writer, "ab", 2, NULL), 0);
    assert_int_equal(ingest_file_count(f), 1);

    /* A daemon killed during a pull leaves the ingest file; the next open removes it. */
    assert_int_equal(content_store_open(f->root, &reopened, NULL), 0);
    assert_int_equal(ingest_file_count(f), 0);
    content_store_close(reopened);
    content_writer_abort(writer);
}

static void test_content_put_list_delete(void **state)
{
    struct fixture *f = *state;
    _cleanup_strv_ char **digests = NULL;
    _cleanup_error_ struct error err = ERROR_INIT;
    char digest[DIGEST_STRING_MAX];
    _cleanup_free_ char *junk = xasprintf("%s/content/blobs/sha256/not-a-digest", f->root);
    FILE *file;

    assert_int_equal(content_store_put(f->store, NULL, "abc", 3, digest, &err), 0);
    assert_string_equal(digest, ABC_SHA256);
    assert_int_equal(content_store_put(f->store, EMPTY_SHA256, "", 0, NULL, &err), 0);
    assert_int_equal(content_store_put(f->store, ABC_SHA256, "abc", 3, NULL, &err), 0);
    assert_int_equal(content_store_put(f->store, EMPTY_SHA256, "x", 1, NULL, &err), -1);
    assert_int_equal(err.code, ERROR_DATA_LOSS);
    error_clear(&err);

    file = fopen(junk, "w");
    assert_non_null(file);
    fclose(file);
    assert_int_equal(content_store_list(f->store, &digests, &err), 0);
    assert_int_equal(strv_length(digests), 2);

    assert_int_equal(content_store_delete(f->store, ABC_SHA256, &err), 0);
    assert_false(content_store_exists(f->store, ABC_SHA256));
    assert_int_equal(content_store_delete(f->store, ABC_SHA256, &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
}

static void test_content_errors(void **state)
{
    struct fixture *f = *state;
    struct content_writer *writer = NULL;
    _cleanup_error_ struct error err = ERROR_INIT;
    char *data = NULL;
    size_t length = 0;
    int64_t size = 0;

    assert_int_equal(content_writer_open(f->store, "sha256:123", 3, &writer, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    error_clear(&err);
    assert_int_equal(content_writer_open(f->store, ABC_SHA256, -2, &writer, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    error_clear(&err);
    assert_int_equal(content_store_size(f->store, ABC_SHA256, &size, &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
    error_clear(&err);
    assert_int_equal(content_store_read(f->store, ABC_SHA256, 10, &data, &length, &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
    error_clear(&err);

    assert_int_equal(content_store_put(f->store, NULL, "abc", 3, NULL, &err), 0);
    assert_int_equal(content_store_read(f->store, ABC_SHA256, 2, &data, &length, &err), -1);
    assert_int_equal(err.code, ERROR_OUT_OF_RANGE);
}

static void test_content_read_detects_corruption(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *path = NULL;
    _cleanup_error_ struct error err = ERROR_INIT;
    char *data = NULL;
    size_t length = 0;
    FILE *file;

    assert_int_equal(content_store_put(f->store, NULL, "abc", 3, NULL, &err), 0);
    path = content_store_blob_path(f->store, ABC_SHA256, NULL);
    assert_int_equal(chmod(path, 0644), 0);
    file = fopen(path, "w");
    assert_non_null(file);
    fputs("xyz", file);
    fclose(file);
    assert_int_equal(content_store_read(f->store, ABC_SHA256, 10, &data, &length, &err), -1);
    assert_int_equal(err.code, ERROR_DATA_LOSS);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_content_commit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_content_digest_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_content_size_mismatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_content_abort, setup, teardown),
        cmocka_unit_test_setup_teardown(test_content_open_cleans_ingest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_content_put_list_delete, setup, teardown),
        cmocka_unit_test_setup_teardown(test_content_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_content_read_detects_corruption, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
