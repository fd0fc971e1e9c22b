/*
 * Stacks unpacked layers with a real overlayfs mount and checks that the merged view equals
 * the flattened tree of the same layers. The mount lives in a private mount namespace of a
 * child process, so it disappears with the child. Skipped where that is not permitted.
 */
#include <dirent.h>
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "images/content_fs.h"
#include "images/layer.h"
#include "layer_tar.h"

#define EXIT_SKIP 77

static const struct tar_entry layer1[] = {
    {"etc/", 'd', 0755, NULL, 0, 0, NULL, NULL, 0},
    {"etc/hostname", 'f', 0644, "host\n", 0, 0, NULL, NULL, 0},
    {"etc/deleteme.txt", 'f', 0644, "delete me\n", 0, 0, NULL, NULL, 0},
    {"etc/replaced", 'f', 0644, "becomes a symlink\n", 0, 0, NULL, NULL, 0},
    {"data/dir/a.txt", 'f', 0644, "a\n", 0, 0, NULL, NULL, 0},
    {"data/dir/b.txt", 'f', 0644, "b\n", 0, 0, NULL, NULL, 0},
    {"data/keep.txt", 'f', 0644, "keep v1\n", 0, 0, NULL, NULL, 0},
    {"data/target.txt", 'f', 0644, "target\n", 0, 0, NULL, NULL, 0},
    {"data/hardlink.txt", 'h', 0, "data/target.txt", 0, 0, NULL, NULL, 0},
    {"opaque/old1.txt", 'f', 0644, "old1\n", 0, 0, NULL, NULL, 0},
    {"opaque/sub/old3.txt", 'f', 0644, "old3\n", 0, 0, NULL, NULL, 0},
    {"owned/", 'd', 0750, NULL, 1000, 1000, NULL, NULL, 0},
    {"owned/file", 'f', 0640, "owned\n", 1000, 1000, NULL, NULL, 0},
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const struct tar_entry layer2[] = {
    {"etc/.wh.deleteme.txt", 'f', 0, "", 0, 0, NULL, NULL, 0},
    {"data/.wh.dir", 'f', 0, "", 0, 0, NULL, NULL, 0},
    {"opaque/.wh..wh..opq", 'f', 0, "", 0, 0, NULL, NULL, 0},
    {"opaque/new.txt", 'f', 0644, "new\n", 0, 0, NULL, NULL, 0},
    {"data/keep.txt", 'f', 0644, "keep v2\n", 0, 0, NULL, NULL, 0},
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL, 0},
};

static const struct tar_entry layer3[] = {
    {"data/dir/c.txt", 'f', 0644, "c\n", 0, 0, NULL, NULL, 0},
    {"etc/replaced", 'l', 0777, "hostname", 0, 0, NULL, NULL, 0},
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL, 0},
};

static int compare_trees(const char *a, const char *b);

static int compare_names(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static int collect_name(const char *name, void *data)
{
    char ***names = data;
    size_t count = strv_length(*names);

    *names = xrealloc(*names, (count + 2) * sizeof(char *));
    (*names)[count] = xstrdup(name);
    (*names)[count + 1] = NULL;
    return 0;
}

static char **sorted_names(const char *dir)
{
    char **names = xcalloc(1, sizeof(char *));

    if (content_fs_list_dir(dir, collect_name, &names) < 0)
        return names;
    qsort(names, strv_length(names), sizeof(char *), compare_names);
    return names;
}

static int compare_files(const char *a, const char *b)
{
    char left[256] = {0}, right[256] = {0};
    FILE *fa = fopen(a, "r"), *fb = fopen(b, "r");
    int same = fa && fb &&
               fread(left, 1, sizeof(left) - 1, fa) == fread(right, 1, sizeof(right) - 1, fb) &&
               strcmp(left, right) == 0;

    if (fa)
        fclose(fa);
    if (fb)
        fclose(fb);
    return same ? 0 : -1;
}

static int compare_entries(const char *a, const char *b)
{
    struct stat sa, sb;
    char la[256] = {0}, lb[256] = {0};

    if (lstat(a, &sa) < 0 || lstat(b, &sb) < 0 || (sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT) ||
        (sa.st_mode & 07777) != (sb.st_mode & 07777) || sa.st_uid != sb.st_uid ||
        sa.st_gid != sb.st_gid) {
        fprintf(stderr, "differs: %s %s\n", a, b);
        return -1;
    }
    if (S_ISDIR(sa.st_mode))
        return compare_trees(a, b);
    if (S_ISLNK(sa.st_mode))
        return readlink(a, la, sizeof(la) - 1) >= 0 && readlink(b, lb, sizeof(lb) - 1) >= 0 &&
                       strcmp(la, lb) == 0
                   ? 0
                   : -1;
    return S_ISREG(sa.st_mode) ? compare_files(a, b) : 0;
}

static int compare_trees(const char *a, const char *b)
{
    _cleanup_strv_ char **left = sorted_names(a);
    _cleanup_strv_ char **right = sorted_names(b);
    size_t count = strv_length(left);

    if (count != strv_length(right)) {
        fprintf(stderr, "different entry counts in %s and %s\n", a, b);
        return -1;
    }
    for (size_t i = 0; i < count; i++) {
        _cleanup_free_ char *pa = xasprintf("%s/%s", a, left[i]);
        _cleanup_free_ char *pb = xasprintf("%s/%s", b, right[i]);

        if (strcmp(left[i], right[i]) != 0 || compare_entries(pa, pb) < 0) {
            fprintf(stderr, "differs: %s %s\n", pa, pb);
            return -1;
        }
    }
    return 0;
}

/* In the child: mounts the overlay in a private mount namespace and compares. */
static int mount_and_compare(const char *base, const char *flat)
{
    _cleanup_free_ char *merged = xasprintf("%s/merged", base);
    _cleanup_free_ char *options = xasprintf("lowerdir=%s/l3:%s/l2:%s/l1", base, base, base);

    if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return EXIT_SKIP;
    if (mkdir(merged, 0755) < 0 || mount("overlay", merged, "overlay", MS_RDONLY, options) < 0) {
        fprintf(stderr, "overlay mount failed: %s\n", strerror(errno));
        return EXIT_SKIP;
    }
    return compare_trees(merged, flat) < 0 ? 1 : 0;
}

static void unpack_layer(const char *base, const char *name, const struct tar_entry *entries)
{
    _cleanup_free_ char *blob = xasprintf("%s/%s.tar.gz", base, name);
    _cleanup_free_ char *dir = xasprintf("%s/%s", base, name);
    _cleanup_error_ struct error err = ERROR_INIT;

    tar_write(blob, TAR_GZIP, entries);
    assert_int_equal(mkdir(dir, 0755), 0);
    if (layer_unpack(blob, dir, NULL, NULL, &err) < 0)
        fail_msg("unpack %s: %s", name, err.message);
}

static void check_flat_tree(const char *flat)
{
    _cleanup_free_ char *deleted = xasprintf("%s/etc/deleteme.txt", flat);
    _cleanup_free_ char *old = xasprintf("%s/opaque/old1.txt", flat);
    _cleanup_free_ char *sub = xasprintf("%s/opaque/sub", flat);
    _cleanup_free_ char *a = xasprintf("%s/data/dir/a.txt", flat);
    _cleanup_free_ char *c = xasprintf("%s/data/dir/c.txt", flat);
    _cleanup_free_ char *replaced = xasprintf("%s/etc/replaced", flat);
    struct stat st;

    assert_int_equal(lstat(deleted, &st), -1);
    assert_int_equal(lstat(old, &st), -1);
    assert_int_equal(lstat(sub, &st), -1);
    assert_int_equal(lstat(a, &st), -1);
    assert_int_equal(lstat(c, &st), 0);
    assert_int_equal(lstat(replaced, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
}

static void test_overlay_matches_flatten(void **state)
{
    char base[] = "/tmp/hostcri-overlay-XXXXXX";
    _cleanup_free_ char *flat = NULL;
    char *blobs[3] = {NULL};
    _cleanup_error_ struct error err = ERROR_INIT;
    const char *names[] = {"l1", "l2", "l3"};
    const struct tar_entry *layers[] = {layer1, layer2, layer3};
    int status = 0;
    pid_t pid;

    assert_non_null(mkdtemp(base));
    for (size_t i = 0; i < 3; i++) {
        unpack_layer(base, names[i], layers[i]);
        blobs[i] = xasprintf("%s/%s.tar.gz", base, names[i]);
    }
    flat = xasprintf("%s/flat", base);
    if (layer_flatten((const char *const *)blobs, NULL, 3, LAYER_FORMAT_PLAIN, flat, NULL, &err) <
        0)
        fail_msg("flatten: %s", err.message);
    check_flat_tree(flat);
    for (size_t i = 0; i < 3; i++)
        free(blobs[i]);

    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(mount_and_compare(base, flat));
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(content_fs_remove_tree(base), 0);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) == EXIT_SKIP)
        skip();
    assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_overlay_matches_flatten),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
