/*
 * Unit tests of the root file system records (runtime/rootfs_dirs.c). They use only libuv file
 * calls, so they run on Linux in a temporary directory; a symbolic link stands in for the
 * junction of a Windows volume mount.
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
#include "runtime/rootfs_dirs.h"
#include "runtime/runtime_internal.h"

#define ID_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define ID_B "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct fixture {
    char dir[64];
    char *records;
    char *pods; /* the rootfs-location: the parent of the root file systems */
};

static bool exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

static void write_text(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");

    assert_non_null(file);
    fputs(text, file);
    fclose(file);
}

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));

    snprintf(f->dir, sizeof(f->dir), "/tmp/hostcri-rootfs-dirs-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->records = xasprintf("%s/records", f->dir);
    f->pods = xasprintf("%s/pods", f->dir);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    _cleanup_error_ struct error err = ERROR_INIT;

    runtime_remove_tree(f->dir, &err);
    free(f->records);
    free(f->pods);
    free(f);
    return 0;
}

/* Claims and creates the root file system of id under f->pods; returns its path. */
static char *claim_and_create(struct fixture *f, const char *id)
{
    _cleanup_error_ struct error err = ERROR_INIT;
    char *rootfs = xasprintf("%s/%s", f->pods, id);

    if (rootfs_dirs_claim(f->records, id, rootfs, &err) != 0)
        fail_msg("claim %s: %s", rootfs, err.message);
    assert_int_equal(runtime_make_dirs(rootfs, 0755, &err), 0);
    return rootfs;
}

static void container_ids(void **state)
{
    (void)state;
    assert_true(rootfs_dirs_is_container_id(ID_A));
    assert_true(rootfs_dirs_is_container_id(ID_B));
    assert_false(rootfs_dirs_is_container_id(ID_B ".tmp"));
    assert_false(rootfs_dirs_is_container_id("0123456789ABCDEF0123456789abcdef0123456789abcdef"
                                             "0123456789abcdef"));
    assert_false(rootfs_dirs_is_container_id("0123"));
    assert_false(rootfs_dirs_is_container_id(""));
}

static void claim_records_and_repeats(void **state)
{
    struct fixture *f = *state;
    _cleanup_error_ struct error err = ERROR_INIT;
    _cleanup_free_ char *rootfs = claim_and_create(f, ID_A);
    _cleanup_free_ char *record = xasprintf("%s/%s", f->records, ID_A);

    assert_true(exists(record));
    /* A start that is tried again finds its own directory. */
    assert_int_equal(rootfs_dirs_claim(f->records, ID_A, rootfs, &err), 0);
}

static void claim_rejects_foreign_directory(void **state)
{
    struct fixture *f = *state;
    _cleanup_error_ struct error err = ERROR_INIT;
    _cleanup_free_ char *rootfs = xasprintf("%s/%s", f->pods, ID_B);
    _cleanup_free_ char *record = xasprintf("%s/%s", f->records, ID_B);
    _cleanup_free_ char *kept = xasprintf("%s/kept.txt", rootfs);

    assert_int_equal(runtime_make_dirs(rootfs, 0755, &err), 0);
    write_text(kept, "kept");
    assert_int_equal(rootfs_dirs_claim(f->records, ID_B, rootfs, &err), -1);
    assert_int_equal(err.code, ERROR_FAILED_PRECONDITION);
    assert_non_null(strstr(err.message, rootfs));
    assert_false(exists(record));
    error_clear(&err);
    /* Without a record, a release leaves the directory alone. */
    assert_int_equal(rootfs_dirs_release(f->records, ID_B, &err), 0);
    assert_true(exists(kept));
}

static void claim_rejects_non_id(void **state)
{
    struct fixture *f = *state;
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(rootfs_dirs_claim(f->records, "../x", "/tmp/x", &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
}

/* A link in the root file system goes, the files of its target stay. */
static void release_keeps_link_targets(void **state)
{
    struct fixture *f = *state;
    _cleanup_error_ struct error err = ERROR_INIT;
    _cleanup_free_ char *rootfs = claim_and_create(f, ID_A);
    _cleanup_free_ char *volume = xasprintf("%s/volume", f->dir);
    _cleanup_free_ char *volume_file = xasprintf("%s/data.txt", volume);
    _cleanup_free_ char *link_parent = xasprintf("%s/var", rootfs);
    _cleanup_free_ char *link = xasprintf("%s/var/data", rootfs);
    _cleanup_free_ char *record = xasprintf("%s/%s", f->records, ID_A);

    assert_int_equal(mkdir(volume, 0755), 0);
    write_text(volume_file, "volume");
    assert_int_equal(mkdir(link_parent, 0755), 0);
    assert_int_equal(symlink(volume, link), 0);
    assert_int_equal(rootfs_dirs_release(f->records, ID_A, &err), 1);
    assert_false(exists(rootfs));
    assert_false(exists(record));
    assert_true(exists(volume_file));
    assert_true(exists(f->pods));
}

static bool in_use_a(const char *container_id, void *data)
{
    (void)data;
    return strcmp(container_id, ID_A) == 0;
}

static void sweep_removes_unlisted(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *rootfs_a = claim_and_create(f, ID_A);
    _cleanup_free_ char *rootfs_b = claim_and_create(f, ID_B);
    _cleanup_free_ char *record_b = xasprintf("%s/%s", f->records, ID_B);
    _cleanup_free_ char *other = xasprintf("%s/notes.txt", f->records);

    write_text(other, "not a record");
    rootfs_dirs_sweep(f->records, in_use_a, NULL);
    assert_true(exists(rootfs_a));
    assert_false(exists(rootfs_b));
    assert_false(exists(record_b));
    assert_true(exists(other));
}

/* A record whose path does not end with its id names no directory of hostcri's. */
static void sweep_keeps_unexpected_path(void **state)
{
    struct fixture *f = *state;
    _cleanup_error_ struct error err = ERROR_INIT;
    _cleanup_free_ char *record = xasprintf("%s/%s", f->records, ID_B);
    _cleanup_free_ char *foreign = xasprintf("%s/foreign", f->dir);

    assert_int_equal(runtime_make_dirs(f->records, 0700, &err), 0);
    assert_int_equal(mkdir(foreign, 0755), 0);
    write_text(record, foreign);
    rootfs_dirs_sweep(f->records, in_use_a, NULL);
    assert_true(exists(foreign));
    assert_false(exists(record));
}

static void sweep_without_records(void **state)
{
    struct fixture *f = *state;

    rootfs_dirs_sweep(f->records, in_use_a, NULL);
    assert_false(exists(f->records));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(container_ids),
        cmocka_unit_test_setup_teardown(claim_records_and_repeats, setup, teardown),
        cmocka_unit_test_setup_teardown(claim_rejects_foreign_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(claim_rejects_non_id, setup, teardown),
        cmocka_unit_test_setup_teardown(release_keeps_link_targets, setup, teardown),
        cmocka_unit_test_setup_teardown(sweep_removes_unlisted, setup, teardown),
        cmocka_unit_test_setup_teardown(sweep_keeps_unexpected_path, setup, teardown),
        cmocka_unit_test_setup_teardown(sweep_without_records, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
