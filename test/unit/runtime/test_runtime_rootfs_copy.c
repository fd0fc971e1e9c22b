/*
 * Unit tests of container_hostprocess_copy_layers (runtime/container_hostprocess.c), which
 * builds a Windows container's root file system from its unpacked layers. It uses only libuv
 * file calls, so it runs on Linux in a temporary directory.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "runtime/container_hostprocess.h"
#include "runtime/runtime_internal.h"

struct fixture {
    char dir[64];
    char *lower;
    char *upper;
    char *rootfs;
};

static void write_text(const char *dir, const char *name, const char *text)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
    FILE *file = fopen(path, "w");

    assert_non_null(file);
    fputs(text, file);
    fclose(file);
}

static void make_dir(const char *dir, const char *name)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);

    assert_int_equal(mkdir(path, 0755), 0);
}

/* Returns the content of dir/name, or NULL when there is no such file. */
static char *read_text(const char *dir, const char *name)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
    char buffer[256] = "";
    FILE *file = fopen(path, "r");
    size_t length;

    if (file == NULL)
        return NULL;
    length = fread(buffer, 1, sizeof(buffer) - 1, file);
    fclose(file);
    buffer[length] = '\0';
    return xstrdup(buffer);
}

static bool exists(const char *dir, const char *name)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
    struct stat st;

    return lstat(path, &st) == 0;
}

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/hostcri-rootfs-copy-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->lower = xasprintf("%s/lower", f->dir);
    f->upper = xasprintf("%s/upper", f->dir);
    f->rootfs = xasprintf("%s/hpc/0123", f->dir);
    assert_int_equal(mkdir(f->lower, 0755), 0);
    assert_int_equal(mkdir(f->upper, 0755), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    struct error err = ERROR_INIT;

    assert_int_equal(runtime_remove_tree(f->dir, &err), 0);
    free(f->lower);
    free(f->upper);
    free(f->rootfs);
    free(f);
    return 0;
}

static int copy(struct fixture *f, struct error *err)
{
    const char *layers[] = {f->lower, f->upper, NULL};

    return container_hostprocess_copy_layers(f->rootfs, layers, err);
}

static void set_mode(const char *dir, const char *name, mode_t mode)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);

    assert_int_equal(chmod(path, mode), 0);
}

static void copy_merges_layers(void **state)
{
    struct fixture *f = *state;
    _cleanup_error_ struct error err = ERROR_INIT;
    _cleanup_free_ char *kept = NULL;
    _cleanup_free_ char *replaced = NULL;
    _cleanup_free_ char *read_only = NULL;
    _cleanup_free_ char *added = NULL;

    make_dir(f->lower, "tools");
    write_text(f->lower, "tools/kept.txt", "lower");
    write_text(f->lower, "tools/replaced.txt", "lower");
    write_text(f->lower, "read-only.txt", "lower");
    set_mode(f->lower, "read-only.txt", 0444);
    make_dir(f->upper, "tools");
    write_text(f->upper, "tools/replaced.txt", "upper");
    write_text(f->upper, "read-only.txt", "upper");
    write_text(f->upper, "added.txt", "upper");

    assert_int_equal(copy(f, &err), 0);
    kept = read_text(f->rootfs, "tools/kept.txt");
    replaced = read_text(f->rootfs, "tools/replaced.txt");
    read_only = read_text(f->rootfs, "read-only.txt");
    added = read_text(f->rootfs, "added.txt");
    assert_string_equal(kept, "lower");
    assert_string_equal(replaced, "upper");
    assert_string_equal(read_only, "upper");
    assert_string_equal(added, "upper");
}

static void copy_applies_whiteouts(void **state)
{
    struct fixture *f = *state;
    _cleanup_error_ struct error err = ERROR_INIT;
    _cleanup_free_ char *own = NULL;

    write_text(f->lower, "deleted.txt", "lower");
    make_dir(f->lower, "deleted-dir");
    write_text(f->lower, "deleted-dir/inner.txt", "lower");
    make_dir(f->lower, "opaque");
    write_text(f->lower, "opaque/hidden.txt", "lower");
    write_text(f->upper, ".wh.deleted.txt", "");
    write_text(f->upper, ".wh.deleted-dir", "");
    make_dir(f->upper, "opaque");
    write_text(f->upper, "opaque/.wh..wh..opq", "");
    write_text(f->upper, "opaque/own.txt", "upper");

    assert_int_equal(copy(f, &err), 0);
    assert_false(exists(f->rootfs, "deleted.txt"));
    assert_false(exists(f->rootfs, "deleted-dir"));
    assert_false(exists(f->rootfs, ".wh.deleted.txt"));
    assert_false(exists(f->rootfs, "opaque/hidden.txt"));
    assert_false(exists(f->rootfs, "opaque/.wh..wh..opq"));
    own = read_text(f->rootfs, "opaque/own.txt");
    assert_string_equal(own, "upper");
}

static void copy_replaces_types(void **state)
{
    struct fixture *f = *state;
    _cleanup_error_ struct error err = ERROR_INIT;
    _cleanup_free_ char *link_path = xasprintf("%s/link", f->rootfs);
    _cleanup_free_ char *upper_link = xasprintf("%s/link", f->upper);
    _cleanup_free_ char *now_file = NULL;
    char target[64] = "";

    make_dir(f->lower, "was-dir");
    write_text(f->lower, "was-dir/inner.txt", "lower");
    write_text(f->lower, "was-file", "lower");
    write_text(f->upper, "was-dir", "upper");
    make_dir(f->upper, "was-file");
    assert_int_equal(symlink("tools/x.exe", upper_link), 0);

    assert_int_equal(copy(f, &err), 0);
    now_file = read_text(f->rootfs, "was-dir");
    assert_string_equal(now_file, "upper");
    assert_true(exists(f->rootfs, "was-file"));
    assert_false(exists(f->rootfs, "was-file/inner.txt"));
    assert_int_equal(readlink(link_path, target, sizeof(target) - 1), strlen("tools/x.exe"));
    assert_string_equal(target, "tools/x.exe");
}

static void copy_missing_layer_fails(void **state)
{
    struct fixture *f = *state;
    _cleanup_error_ struct error err = ERROR_INIT;
    _cleanup_free_ char *missing = xasprintf("%s/missing", f->dir);
    const char *layers[] = {missing, NULL};

    assert_int_equal(container_hostprocess_copy_layers(f->rootfs, layers, &err), -1);
    assert_int_equal(err.code, ERROR_INTERNAL);
    assert_non_null(strstr(err.message, missing));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(copy_merges_layers, setup, teardown),
        cmocka_unit_test_setup_teardown(copy_applies_whiteouts, setup, teardown),
        cmocka_unit_test_setup_teardown(copy_replaces_types, setup, teardown),
        cmocka_unit_test_setup_teardown(copy_missing_layer_fails, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
