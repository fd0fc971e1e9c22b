/*
 * Windows layers (LAYER_FORMAT_WINDOWS) unpacked on Linux: the path mapping of Files/ and
 * Hives/ is shared code, so it is tested here; images/windows/ creates the entries on Windows.
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

#include "common/util.h"
#include "images/content_fs.h"
#include "images/layer.h"
#include "layer_tar.h"

struct fixture {
    char base[64];
    char *target;
};

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));

    snprintf(f->base, sizeof(f->base), "/tmp/hostcri-layer-windows-XXXXXX");
    assert_non_null(mkdtemp(f->base));
    f->target = xasprintf("%s/target", f->base);
    assert_int_equal(mkdir(f->target, 0755), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(content_fs_remove_tree(f->base), 0);
    free(f->target);
    free(f);
    return 0;
}

static int unpack(const struct fixture *f, const char *name, const struct tar_entry *entries,
                  enum layer_unpack_mode mode, struct error *err)
{
    _cleanup_free_ char *blob = xasprintf("%s/%s", f->base, name);
    struct layer_unpack_options options = {mode, NULL, LAYER_FORMAT_WINDOWS};

    tar_write(blob, TAR_GZIP, entries);
    return layer_unpack(blob, f->target, &options, NULL, err);
}

static bool exists(const struct fixture *f, const char *name)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", f->target, name);
    struct stat st;

    return lstat(path, &st) == 0;
}

static void assert_content(const struct fixture *f, const char *name, const char *content)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", f->target, name);
    char buffer[128] = {0};
    FILE *file = fopen(path, "r");

    assert_non_null(file);
    assert_true(fread(buffer, 1, sizeof(buffer) - 1, file) > 0);
    fclose(file);
    assert_string_equal(buffer, content);
}

static int count_entry(const char *name, void *data)
{
    (*(int *)data)++;
    return 0;
}

static const struct tar_entry hostprocess_layer[] = {
    {"Files/", 'd', 0755, NULL, 0, 0, NULL, NULL, 0},
    {"Files/hostcri-test/", 'd', 0755, NULL, 0, 0, NULL, NULL, 0},
    {"Files/hostcri-test/hello.cmd", 'f', 0644, "@echo off\r\necho hello\r\n", 0, 0, NULL, NULL, 0},
    {"Files/hostcri-test/hard.cmd", 'h', 0, "Files/hostcri-test/hello.cmd", 0, 0, NULL, NULL, 0},
    {"Hives/", 'd', 0755, NULL, 0, 0, NULL, NULL, 0},
    {"Hives/Software_Delta", 'f', 0644, "regf", 0, 0, NULL, NULL, 0},
    {"UtilityVM/Files/x", 'f', 0644, "vm", 0, 0, NULL, NULL, 0},
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL, 0},
};

static void test_windows_layer_keeps_files_content(void **state)
{
    struct fixture *f = *state;
    _cleanup_error_ struct error err = ERROR_INIT;
    int count = 0;

    if (unpack(f, "layer.tar.gz", hostprocess_layer, LAYER_UNPACK_OVERLAY, &err) < 0)
        fail_msg("%s", err.message);
    assert_content(f, "hostcri-test/hello.cmd", "@echo off\r\necho hello\r\n");
    assert_content(f, "hostcri-test/hard.cmd", "@echo off\r\necho hello\r\n");
    assert_false(exists(f, "Files"));
    assert_false(exists(f, "Hives"));
    assert_false(exists(f, "Software_Delta"));
    assert_false(exists(f, "UtilityVM"));
    assert_int_equal(content_fs_list_dir(f->target, count_entry, &count), 0);
    assert_int_equal(count, 1);
}

static void test_windows_layer_case_of_files(void **state)
{
    struct fixture *f = *state;
    _cleanup_error_ struct error err = ERROR_INIT;
    const struct tar_entry entries[] = {
        {"files/a.txt", 'f', 0644, "a", 0, 0, NULL, NULL, 0},
        {"FILES/b.txt", 'f', 0644, "b", 0, 0, NULL, NULL, 0},
        {"Filesystem/c.txt", 'f', 0644, "c", 0, 0, NULL, NULL, 0},
        {NULL, 0, 0, NULL, 0, 0, NULL, NULL, 0},
    };

    if (unpack(f, "case.tar.gz", entries, LAYER_UNPACK_OVERLAY, &err) < 0)
        fail_msg("%s", err.message);
    assert_content(f, "a.txt", "a");
    assert_content(f, "b.txt", "b");
    assert_false(exists(f, "c.txt"));
    assert_false(exists(f, "Filesystem"));
}

static void test_windows_layer_flat_whiteouts(void **state)
{
    struct fixture *f = *state;
    _cleanup_error_ struct error err = ERROR_INIT;
    const struct tar_entry upper[] = {
        {"Files/hostcri-test/.wh.hello.cmd", 'f', 0644, "", 0, 0, NULL, NULL, 0},
        {"Files/hostcri-test/new.txt", 'f', 0644, "new", 0, 0, NULL, NULL, 0},
        {NULL, 0, 0, NULL, 0, 0, NULL, NULL, 0},
    };

    if (unpack(f, "lower.tar.gz", hostprocess_layer, LAYER_UNPACK_FLAT, &err) < 0 ||
        unpack(f, "upper.tar.gz", upper, LAYER_UNPACK_FLAT, &err) < 0)
        fail_msg("%s", err.message);
    assert_false(exists(f, "hostcri-test/hello.cmd"));
    assert_true(exists(f, "hostcri-test/hard.cmd"));
    assert_content(f, "hostcri-test/new.txt", "new");
}

/* Each entry alone must reject the layer with ERROR_INVALID_ARGUMENT naming the entry. */
static void test_windows_layer_hostile_entries(void **state)
{
    struct fixture *f = *state;
    const struct tar_entry hostile[][3] = {
        {{"Files/../escape.txt", 'f', 0644, "x", 0, 0, NULL, NULL, 0}},
        {{"Files/a/../../escape.txt", 'f', 0644, "x", 0, 0, NULL, NULL, 0}},
        {{"Files/link", 'l', 0777, "/tmp", 0, 0, NULL, NULL, 0},
         {"Files/link/escape.txt", 'f', 0644, "x", 0, 0, NULL, NULL, 0}},
        {{"Hives/Software", 'f', 0644, "regf", 0, 0, NULL, NULL, 0},
         {"Files/hard", 'h', 0, "Hives/Software", 0, 0, NULL, NULL, 0}},
        {{"Files", 'f', 0644, "not a directory", 0, 0, NULL, NULL, 0}},
    };
    const char *names[] = {"Files/../escape.txt", "Files/a/../../escape.txt",
                           "Files/link/escape.txt", "Files/hard", "Files"};

    for (size_t i = 0; i < ARRAY_SIZE(hostile); i++) {
        _cleanup_error_ struct error err = ERROR_INIT;

        print_message("%s\n", names[i]);
        assert_int_equal(unpack(f, "hostile.tar.gz", hostile[i], LAYER_UNPACK_OVERLAY, &err), -1);
        assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
        assert_non_null(strstr(err.message, names[i]));
    }
    assert_false(exists(f, "escape.txt"));
    assert_int_equal(access("/tmp/escape.txt", F_OK), -1);
}

static void test_windows_layer_format_for_os(void **state)
{
    assert_int_equal(layer_format_for_os("windows"), LAYER_FORMAT_WINDOWS);
    assert_int_equal(layer_format_for_os("Windows"), LAYER_FORMAT_WINDOWS);
    assert_int_equal(layer_format_for_os("linux"), LAYER_FORMAT_PLAIN);
    assert_int_equal(layer_format_for_os(NULL), LAYER_FORMAT_PLAIN);
}

#define TEST(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_windows_layer_keeps_files_content), TEST(test_windows_layer_case_of_files),
        TEST(test_windows_layer_flat_whiteouts),      TEST(test_windows_layer_hostile_entries),
        TEST(test_windows_layer_format_for_os),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
