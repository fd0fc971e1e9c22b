#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/digest.h"
#include "common/util.h"
#include "images/content_fs.h"
#include "images/layer.h"
#include "layer_tar.h"

/*
 * Each test works in a fresh <base>: the tar files in <base>, the unpack target at
 * <base>/outer/target, so that "nothing outside the target" means <base>/outer holds only
 * "target".
 */
struct fixture {
    char base[64];
    char *outer;
    char *target;
};

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));

    snprintf(f->base, sizeof(f->base), "/tmp/hostcri-layer-XXXXXX");
    assert_non_null(mkdtemp(f->base));
    f->outer = xasprintf("%s/outer", f->base);
    f->target = xasprintf("%s/target", f->outer);
    assert_int_equal(mkdir(f->outer, 0755), 0);
    assert_int_equal(mkdir(f->target, 0755), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    assert_int_equal(content_fs_remove_tree(f->base), 0);
    free(f->outer);
    free(f->target);
    free(f);
    return 0;
}

static char *fixture_path(const struct fixture *f, const char *name)
{
    return xasprintf("%s/%s", f->base, name);
}

static char *target_path(const struct fixture *f, const char *name)
{
    return xasprintf("%s/%s", f->target, name);
}

static int count_entry(const char *name, void *data)
{
    (*(int *)data)++;
    return 0;
}

/* Nothing was created next to the target directory. */
static void assert_nothing_outside(const struct fixture *f)
{
    int count = 0;

    assert_int_equal(content_fs_list_dir(f->outer, count_entry, &count), 0);
    assert_int_equal(count, 1);
}

static int unpack_entries(const struct fixture *f, const struct tar_entry *entries,
                          enum tar_compression compression, struct layer_unpack_stats *stats,
                          struct error *err)
{
    _cleanup_free_ char *blob = fixture_path(f, "layer.tar");

    tar_write(blob, compression, entries);
    return layer_unpack(blob, f->target, NULL, stats, err);
}

static void read_file(const char *path, char *buffer, size_t size)
{
    FILE *file = fopen(path, "r");
    size_t n;

    assert_non_null(file);
    n = fread(buffer, 1, size - 1, file);
    buffer[n] = '\0';
    fclose(file);
}

static void assert_file_content(const struct fixture *f, const char *name, const char *content)
{
    _cleanup_free_ char *path = target_path(f, name);
    char buffer[256];

    read_file(path, buffer, sizeof(buffer));
    assert_string_equal(buffer, content);
}

static void lstat_target(const struct fixture *f, const char *name, struct stat *st)
{
    _cleanup_free_ char *path = target_path(f, name);

    if (lstat(path, st) < 0)
        fail_msg("%s is missing", path);
}

static bool target_exists(const struct fixture *f, const char *name)
{
    _cleanup_free_ char *path = target_path(f, name);
    struct stat st;

    return lstat(path, &st) == 0;
}

/* struct vfs_cap_data, revision 2, effective, permitted = CAP_NET_RAW (bit 13). */
#define CAP_NET_RAW_V2                                                                             \
    "\x01\x00\x00\x02\x00\x20\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"

static const struct tar_entry basic_entries[] = {
    {"etc/", 'd', 0755, NULL, 0, 0, NULL, NULL, 0},
    {"etc/hostname", 'f', 0640, "layer\n", 1000, 1001, "user.note", "kept", 0},
    {"bin/", 'd', 0711, NULL, 0, 0, NULL, NULL, 0},
    {"bin/tool", 'f', 04755, "#!/bin/sh\n", 0, 0, "security.capability", CAP_NET_RAW_V2,
     sizeof(CAP_NET_RAW_V2) - 1},
    {"bin/link", 'l', 0777, "tool", 0, 0, NULL, NULL, 0},
    {"bin/hard", 'h', 0, "bin/tool", 0, 0, NULL, NULL, 0},
    {"dev/null", 'c', 0666, NULL, 0, 0, NULL, NULL, 0},
    {"dev/block", 'b', 0660, NULL, 0, 6, NULL, NULL, 0},
    {"run/fifo", 'p', 0600, NULL, 0, 0, NULL, NULL, 0},
    {"./usr/share/doc/deep", 'f', 0444, "deep", 0, 0, NULL, NULL, 0},
    {"tmp/", 'd', 01777, NULL, 0, 0, NULL, NULL, 0},
    {NULL, 0, 0, NULL, 0, 0, NULL, NULL, 0},
};

static void check_basic_tree(const struct fixture *f)
{
    struct stat st, hard;
    char target[64] = {0};
    _cleanup_free_ char *link = target_path(f, "bin/link");
    _cleanup_free_ char *hostname = target_path(f, "etc/hostname");
    char value[16] = {0};

    assert_file_content(f, "etc/hostname", "layer\n");
    lstat_target(f, "etc/hostname", &st);
    assert_int_equal(st.st_mode & 07777, 0640);
    assert_int_equal(st.st_uid, 1000);
    assert_int_equal(st.st_gid, 1001);
    assert_int_equal(st.st_mtime, 1700000000);
    assert_int_equal(getxattr(hostname, "user.note", value, sizeof(value)), 4);
    assert_string_equal(value, "kept");

    lstat_target(f, "bin/tool", &st);
    assert_int_equal(st.st_mode & 07777, 04755);
    lstat_target(f, "bin/hard", &hard);
    assert_int_equal(hard.st_ino, st.st_ino);
    assert_int_equal(st.st_nlink, 2);
    lstat_target(f, "bin", &st);
    assert_int_equal(st.st_mode & 07777, 0711);
    assert_int_equal(st.st_mtime, 1700000000);

    lstat_target(f, "bin/link", &st);
    assert_true(S_ISLNK(st.st_mode));
    assert_int_equal(readlink(link, target, sizeof(target) - 1), 4);
    assert_string_equal(target, "tool");

    lstat_target(f, "dev/null", &st);
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(major(st.st_rdev), 1);
    assert_int_equal(minor(st.st_rdev), 3);
    lstat_target(f, "dev/block", &st);
    assert_true(S_ISBLK(st.st_mode));
    assert_int_equal(st.st_gid, 6);
    lstat_target(f, "run/fifo", &st);
    assert_true(S_ISFIFO(st.st_mode));
    lstat_target(f, "usr/share/doc", &st);
    assert_int_equal(st.st_mode & 07777, 0755);
    assert_file_content(f, "usr/share/doc/deep", "deep");
    lstat_target(f, "tmp", &st);
    assert_int_equal(st.st_mode & 07777, 01777);
}

static void check_diff_id(const struct fixture *f, const struct layer_unpack_stats *stats)
{
    _cleanup_free_ char *plain = fixture_path(f, "plain.tar");
    char expected[DIGEST_STRING_MAX];

    tar_write(plain, TAR_NONE, basic_entries);
    assert_int_equal(digest_file(DIGEST_SHA256, plain, expected, NULL), 0);
    assert_string_equal(stats->diff_id, expected);
}

static void run_basic(void **state, enum tar_compression compression)
{
    struct fixture *f = *state;
    struct layer_unpack_stats stats;
    _cleanup_error_ struct error err = ERROR_INIT;

    if (unpack_entries(f, basic_entries, compression, &stats, &err) < 0)
        fail_msg("unpack: %s", err.message);
    check_basic_tree(f);
    check_diff_id(f, &stats);
    assert_int_equal(stats.size, strlen("layer\n") + strlen("#!/bin/sh\n") + strlen("deep"));
    assert_int_equal(stats.entries, 11);
    assert_nothing_outside(f);
}

static void test_layer_uncompressed(void **state)
{
    run_basic(state, TAR_NONE);
}

static void test_layer_gzip(void **state)
{
    run_basic(state, TAR_GZIP);
}

static void test_layer_zstd(void **state)
{
    run_basic(state, TAR_ZSTD);
}

static void test_layer_security_capability(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *tool = NULL;
    char value[32];

    run_basic(state, TAR_NONE);
    tool = target_path(f, "bin/tool");
    assert_int_equal(getxattr(tool, "security.capability", value, sizeof(value)), 20);
    assert_memory_equal(value, CAP_NET_RAW_V2, 20);
}

static void test_layer_xattr_filter(void **state)
{
    struct fixture *f = *state;
    const struct tar_entry entries[] = {
        {"opaque-by-xattr/", 'd', 0755, NULL, 0, 0, "trusted.overlay.opaque", "y", 0},
        {"redirect/", 'd', 0755, NULL, 0, 0, "user.overlay.redirect", "/etc", 0},
        {"trusted-kept", 'f', 0644, "x", 0, 0, "trusted.example", "kept", 0},
        {"selinux-dropped", 'f', 0644, "x", 0, 0, "security.selinux", "system_u:object_r:x:s0", 0},
        {NULL, 0, 0, NULL, 0, 0, NULL, NULL, 0},
    };
    _cleanup_error_ struct error err = ERROR_INIT;
    _cleanup_free_ char *opaque = target_path(f, "opaque-by-xattr");
    _cleanup_free_ char *redirect = target_path(f, "redirect");
    _cleanup_free_ char *kept = target_path(f, "trusted-kept");
    char value[64];

    if (unpack_entries(f, entries, TAR_NONE, NULL, &err) < 0)
        fail_msg("unpack: %s", err.message);
    assert_int_equal(getxattr(opaque, "trusted.overlay.opaque", value, sizeof(value)), -1);
    assert_int_equal(getxattr(redirect, "user.overlay.redirect", value, sizeof(value)), -1);
    assert_int_equal(getxattr(kept, "trusted.example", value, sizeof(value)), 4);
    assert_memory_equal(value, "kept", 4);
}

static void test_layer_whiteouts_overlay(void **state)
{
    struct fixture *f = *state;
    const struct tar_entry entries[] = {
        {"dir/", 'd', 0755, NULL, 0, 0, NULL, NULL, 0},
        {"dir/.wh..wh..opq", 'f', 0, "", 0, 0, NULL, NULL, 0},
        {"dir/new", 'f', 0644, "new", 0, 0, NULL, NULL, 0},
        {".wh.gone", 'f', 0, "", 0, 0, NULL, NULL, 0},
        {"sub/.wh.olddir", 'f', 0, "", 0, 0, NULL, NULL, 0},
        {"made/.wh..wh..opq", 'f', 0, "", 0, 0, NULL, NULL, 0},
        {"same", 'f', 0644, "kept", 0, 0, NULL, NULL, 0},
        {".wh.same", 'f', 0, "", 0, 0, NULL, NULL, 0},
        {"aufs/.wh..wh.plnk", 'f', 0, "", 0, 0, NULL, NULL, 0},
        {NULL, 0, 0, NULL, 0, 0, NULL, NULL, 0},
    };
    _cleanup_error_ struct error err = ERROR_INIT;
    _cleanup_free_ char *dir = target_path(f, "dir");
    _cleanup_free_ char *made = target_path(f, "made");
    char value[4] = {0};
    struct stat st;

    if (unpack_entries(f, entries, TAR_NONE, NULL, &err) < 0)
        fail_msg("unpack: %s", err.message);
    assert_int_equal(getxattr(dir, "trusted.overlay.opaque", value, sizeof(value)), 1);
    assert_string_equal(value, "y");
    assert_int_equal(getxattr(made, "trusted.overlay.opaque", value, sizeof(value)), 1);
    assert_file_content(f, "dir/new", "new");
    assert_false(target_exists(f, "dir/.wh..wh..opq"));

    lstat_target(f, "gone", &st);
    assert_true(S_ISCHR(st.st_mode));
    assert_int_equal(st.st_rdev, makedev(0, 0));
    lstat_target(f, "sub/olddir", &st);
    assert_true(S_ISCHR(st.st_mode));
    assert_false(target_exists(f, ".wh.gone"));

    assert_file_content(f, "same", "kept");
    assert_false(target_exists(f, "aufs/.wh..wh.plnk"));
    assert_nothing_outside(f);
}

static void test_layer_flatten_whiteouts(void **state)
{
    struct fixture *f = *state;
    const struct tar_entry lower[] = {
        {"a/file1", 'f', 0644, "1", 0, 0, NULL, NULL, 0},
        {"a/file2", 'f', 0644, "2", 0, 0, NULL, NULL, 0},
        {"b/x", 'f', 0644, "x", 0, 0, NULL, NULL, 0},
        {"c/keep", 'f', 0644, "lower", 0, 0, NULL, NULL, 0},
        {"c/sub/old", 'f', 0644, "old", 0, 0, NULL, NULL, 0},
        {"d", 'f', 0644, "file", 0, 0, NULL, NULL, 0},
        {NULL, 0, 0, NULL, 0, 0, NULL, NULL, 0},
    };
    const struct tar_entry upper[] = {
        {"a/.wh.file1", 'f', 0, "", 0, 0, NULL, NULL, 0},
        {".wh.b", 'f', 0, "", 0, 0, NULL, NULL, 0},
        {"c/new", 'f', 0644, "new", 0, 0, NULL, NULL, 0},
        {"c/sub/", 'd', 0755, NULL, 0, 0, NULL, NULL, 0},
        {"c/sub/fresh", 'f', 0644, "fresh", 0, 0, NULL, NULL, 0},
        {"c/.wh..wh..opq", 'f', 0, "", 0, 0, NULL, NULL, 0},
        {"d/", 'd', 0700, NULL, 0, 0, NULL, NULL, 0},
        {"e", 'f', 0644, "same layer", 0, 0, NULL, NULL, 0},
        {".wh.e", 'f', 0, "", 0, 0, NULL, NULL, 0},
        {".wh.missing", 'f', 0, "", 0, 0, NULL, NULL, 0},
        {NULL, 0, 0, NULL, 0, 0, NULL, NULL, 0},
    };
    _cleanup_free_ char *lower_path = fixture_path(f, "lower.tar.gz");
    _cleanup_free_ char *upper_path = fixture_path(f, "upper.tar.zst");
    _cleanup_free_ char *flat = xasprintf("%s/flat", f->outer);
    const char *blobs[] = {lower_path, upper_path};
    struct layer_unpack_stats stats;
    _cleanup_error_ struct error err = ERROR_INIT;
    struct stat st;

    tar_write(lower_path, TAR_GZIP, lower);
    tar_write(upper_path, TAR_ZSTD, upper);
    free(f->target);
    f->target = xstrdup(flat);
    if (layer_flatten(blobs, NULL, 2, LAYER_FORMAT_PLAIN, flat, &stats, &err) < 0)
        fail_msg("flatten: %s", err.message);

    assert_false(target_exists(f, "a/file1"));
    assert_file_content(f, "a/file2", "2");
    assert_false(target_exists(f, "b"));
    assert_false(target_exists(f, "c/keep"));
    assert_false(target_exists(f, "c/sub/old"));
    assert_file_content(f, "c/new", "new");
    assert_file_content(f, "c/sub/fresh", "fresh");
    lstat_target(f, "d", &st);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_file_content(f, "e", "same layer");
    assert_int_equal(stats.entries, 16);

    /* The flattened tree replaces nothing: a second flatten into it fails. */
    error_clear(&err);
    assert_int_equal(layer_flatten(blobs, NULL, 2, LAYER_FORMAT_PLAIN, flat, NULL, &err), -1);
    assert_int_equal(err.code, ERROR_ALREADY_EXISTS);
}

static void test_layer_flatten_root_opaque(void **state)
{
    struct fixture *f = *state;
    const struct tar_entry lower[] = {
        {"x", 'f', 0644, "lower", 0, 0, NULL, NULL, 0},
        {"dir/y", 'f', 0644, "lower", 0, 0, NULL, NULL, 0},
        {NULL, 0, 0, NULL, 0, 0, NULL, NULL, 0},
    };
    const struct tar_entry upper[] = {
        {"kept", 'f', 0644, "upper", 0, 0, NULL, NULL, 0},
        {".wh..wh..opq", 'f', 0, "", 0, 0, NULL, NULL, 0},
        {"sub/.wh..wh..opq", 'f', 0, "", 0, 0, NULL, NULL, 0},
        {NULL, 0, 0, NULL, 0, 0, NULL, NULL, 0},
    };
    _cleanup_free_ char *lower_path = fixture_path(f, "lower.tar");
    _cleanup_free_ char *upper_path = fixture_path(f, "upper.tar");
    _cleanup_free_ char *flat = xasprintf("%s/flat", f->outer);
    const char *blobs[] = {lower_path, upper_path};
    _cleanup_error_ struct error err = ERROR_INIT;

    tar_write(lower_path, TAR_NONE, lower);
    tar_write(upper_path, TAR_NONE, upper);
    free(f->target);
    f->target = xstrdup(flat);
    if (layer_flatten(blobs, NULL, 2, LAYER_FORMAT_PLAIN, flat, NULL, &err) < 0)
        fail_msg("flatten: %s", err.message);
    assert_false(target_exists(f, "x"));
    assert_false(target_exists(f, "dir"));
    assert_file_content(f, "kept", "upper");
}

static void test_layer_hardlink_missing_target(void **state)
{
    struct fixture *f = *state;
    const struct tar_entry entries[] = {
        {"h", 'h', 0, "nowhere", 0, 0, NULL, NULL, 0},
        {NULL, 0, 0, NULL, 0, 0, NULL, NULL, 0},
    };
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(unpack_entries(f, entries, TAR_NONE, NULL, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "\"nowhere\""));
}

static void test_layer_hardlink_to_directory(void **state)
{
    struct fixture *f = *state;
    const struct tar_entry entries[] = {
        {"dir/", 'd', 0755, NULL, 0, 0, NULL, NULL, 0},
        {"h", 'h', 0, "dir", 0, 0, NULL, NULL, 0},
        {NULL, 0, 0, NULL, 0, 0, NULL, NULL, 0},
    };
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(unpack_entries(f, entries, TAR_NONE, NULL, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "directory"));
}

static void test_layer_replaces_entries(void **state)
{
    struct fixture *f = *state;
    const struct tar_entry entries[] = {
        {"x", 'f', 0644, "first", 0, 0, NULL, NULL, 0},
        {"x", 'f', 0600, "second", 0, 0, NULL, NULL, 0},
        {"y/", 'd', 0755, NULL, 0, 0, NULL, NULL, 0},
        {"y/inner", 'f', 0644, "inner", 0, 0, NULL, NULL, 0},
        {"y", 'l', 0777, "x", 0, 0, NULL, NULL, 0},
        {"z", 'l', 0777, "/etc", 0, 0, NULL, NULL, 0},
        {"z/", 'd', 0750, NULL, 0, 0, NULL, NULL, 0},
        {NULL, 0, 0, NULL, 0, 0, NULL, NULL, 0},
    };
    _cleanup_error_ struct error err = ERROR_INIT;
    struct stat st;

    if (unpack_entries(f, entries, TAR_NONE, NULL, &err) < 0)
        fail_msg("unpack: %s", err.message);
    assert_file_content(f, "x", "second");
    lstat_target(f, "x", &st);
    assert_int_equal(st.st_mode & 07777, 0600);
    lstat_target(f, "y", &st);
    assert_true(S_ISLNK(st.st_mode));
    lstat_target(f, "z", &st);
    assert_true(S_ISDIR(st.st_mode));
    assert_nothing_outside(f);
}

/* One hostile layer: unpacking fails with INVALID_ARGUMENT naming the entry, and nothing
 * appears outside the target. */
struct hostile_case {
    const char *name;
    struct tar_entry entries[4];
    const char *named_entry;
};

static void run_hostile(struct fixture *f, const struct hostile_case *c)
{
    _cleanup_error_ struct error err = ERROR_INIT;

    print_message("%s\n", c->name);
    assert_int_equal(unpack_entries(f, c->entries, TAR_NONE, NULL, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    if (strstr(err.message, c->named_entry) == NULL)
        fail_msg("message \"%s\" does not name \"%s\"", err.message, c->named_entry);
    assert_nothing_outside(f);
    assert_int_equal(content_fs_remove_tree(f->target), 0);
    assert_int_equal(mkdir(f->target, 0755), 0);
}

static void test_layer_hostile(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *outer_link = xstrdup(f->outer);
    const struct hostile_case cases[] = {
        {"dot-dot file", {{"../escape", 'f', 0644, "x", 0, 0, NULL, NULL, 0}}, "../escape"},
        {"dot-dot inside",
         {{"a/../../escape", 'f', 0644, "x", 0, 0, NULL, NULL, 0}},
         "a/../../escape"},
        {"symlink to outer then file",
         {{"a", 'l', 0777, outer_link, 0, 0, NULL, NULL, 0},
          {"a/x", 'f', 0644, "x", 0, 0, NULL, NULL, 0}},
         "a/x"},
        {"symlink to /tmp then file",
         {{"a", 'l', 0777, "/tmp", 0, 0, NULL, NULL, 0},
          {"a/hostcri-layer-escape", 'f', 0644, "x", 0, 0, NULL, NULL, 0}},
         "a/hostcri-layer-escape"},
        {"symlink to dot-dot then file",
         {{"up", 'l', 0777, "..", 0, 0, NULL, NULL, 0},
          {"up/x", 'f', 0644, "x", 0, 0, NULL, NULL, 0}},
         "up/x"},
        {"symlink to dot-dot then directory",
         {{"up", 'l', 0777, "..", 0, 0, NULL, NULL, 0},
          {"up/d/", 'd', 0755, NULL, 0, 0, NULL, NULL, 0}},
         "up/d/"},
        {"hard link to dot-dot",
         {{"h", 'h', 0, "../../etc/passwd", 0, 0, NULL, NULL, 0}},
         "../../etc/passwd"},
        {"hard link through symlink",
         {{"etc", 'l', 0777, "/etc", 0, 0, NULL, NULL, 0},
          {"h", 'h', 0, "etc/passwd", 0, 0, NULL, NULL, 0}},
         "\"h\""},
        {"whiteout through symlink",
         {{"w", 'l', 0777, outer_link, 0, 0, NULL, NULL, 0},
          {"w/.wh.target", 'f', 0, "", 0, 0, NULL, NULL, 0}},
         "w/.wh.target"},
        {"opaque through symlink",
         {{"o", 'l', 0777, outer_link, 0, 0, NULL, NULL, 0},
          {"o/.wh..wh..opq", 'f', 0, "", 0, 0, NULL, NULL, 0}},
         "o/.wh..wh..opq"},
        {"file as parent",
         {{"f", 'f', 0644, "x", 0, 0, NULL, NULL, 0}, {"f/x", 'f', 0644, "x", 0, 0, NULL, NULL, 0}},
         "f/x"},
    };
    struct stat st;

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
        run_hostile(f, &cases[i]);
    assert_int_equal(lstat("/tmp/hostcri-layer-escape", &st), -1);
}

static void test_layer_absolute_path_stays_inside(void **state)
{
    struct fixture *f = *state;
    const struct tar_entry entries[] = {
        {"/abs/path", 'f', 0644, "abs", 0, 0, NULL, NULL, 0},
        {"//double/slash", 'f', 0644, "double", 0, 0, NULL, NULL, 0},
        {"/", 'd', 0755, NULL, 0, 0, NULL, NULL, 0},
        {NULL, 0, 0, NULL, 0, 0, NULL, NULL, 0},
    };
    _cleanup_error_ struct error err = ERROR_INIT;
    struct stat st;

    if (unpack_entries(f, entries, TAR_NONE, NULL, &err) < 0)
        fail_msg("unpack: %s", err.message);
    assert_file_content(f, "abs/path", "abs");
    assert_file_content(f, "double/slash", "double");
    assert_int_equal(lstat("/abs/path", &st), -1);
    assert_nothing_outside(f);
}

static void test_layer_symlink_outside_is_kept_as_link(void **state)
{
    struct fixture *f = *state;
    const struct tar_entry entries[] = {
        {"etc-link", 'l', 0777, "/etc", 0, 0, NULL, NULL, 0},
        {"passwd", 'l', 0777, "../../../../etc/passwd", 0, 0, NULL, NULL, 0},
        {"hard", 'h', 0, "passwd", 0, 0, NULL, NULL, 0},
        {NULL, 0, 0, NULL, 0, 0, NULL, NULL, 0},
    };
    _cleanup_error_ struct error err = ERROR_INIT;
    struct stat st, hard;

    if (unpack_entries(f, entries, TAR_NONE, NULL, &err) < 0)
        fail_msg("unpack: %s", err.message);
    lstat_target(f, "etc-link", &st);
    assert_true(S_ISLNK(st.st_mode));
    lstat_target(f, "passwd", &st);
    lstat_target(f, "hard", &hard);
    assert_true(S_ISLNK(hard.st_mode));
    assert_int_equal(st.st_ino, hard.st_ino);
}

static void test_layer_corrupt(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *blob = fixture_path(f, "layer.tar.gz");
    _cleanup_free_ char *junk = fixture_path(f, "junk");
    _cleanup_free_ char *missing = fixture_path(f, "missing");
    _cleanup_error_ struct error err = ERROR_INIT;
    struct stat st;
    FILE *file;

    tar_write(blob, TAR_GZIP, basic_entries);
    assert_int_equal(stat(blob, &st), 0);
    assert_int_equal(truncate(blob, st.st_size / 2), 0);
    assert_int_equal(layer_unpack(blob, f->target, NULL, NULL, &err), -1);
    assert_int_equal(err.code, ERROR_DATA_LOSS);
    assert_non_null(strstr(err.message, blob));
    error_clear(&err);

    file = fopen(junk, "w");
    assert_non_null(file);
    fputs("this is not a tar archive, not even close to one, it is just text", file);
    fclose(file);
    assert_int_equal(layer_unpack(junk, f->target, NULL, NULL, &err), -1);
    assert_int_equal(err.code, ERROR_DATA_LOSS);
    error_clear(&err);

    assert_int_equal(layer_unpack(missing, f->target, NULL, NULL, &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
    assert_nothing_outside(f);
}

static void test_layer_diff_id_mismatch(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *blob = fixture_path(f, "layer.tar.zst");
    _cleanup_error_ struct error err = ERROR_INIT;
    struct layer_unpack_options options = {
        LAYER_UNPACK_OVERLAY,
        "sha256:0000000000000000000000000000000000000000000000000000000000000000",
        LAYER_FORMAT_PLAIN};

    tar_write(blob, TAR_ZSTD, basic_entries);
    assert_int_equal(layer_unpack(blob, f->target, &options, NULL, &err), -1);
    assert_int_equal(err.code, ERROR_DATA_LOSS);
    assert_non_null(strstr(err.message, options.expected_diff_id));
    assert_non_null(strstr(err.message, "actual sha256:"));
}

static void test_layer_store(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *blob = fixture_path(f, "layer.tar.gz");
    _cleanup_free_ char *plain = fixture_path(f, "plain.tar");
    _cleanup_free_ char *root = fixture_path(f, "root");
    _cleanup_free_ char *leftover = xasprintf("%s/layers/.tmp-dead-123", root);
    _cleanup_free_ char *fs = NULL;
    _cleanup_strv_ char **chain_ids = NULL;
    _cleanup_error_ struct error err = ERROR_INIT;
    char diff_id[DIGEST_STRING_MAX];
    struct layer_unpack_stats stats;
    uint64_t size = 0, bytes = 0, inodes = 0;
    struct stat st;

    tar_write(blob, TAR_GZIP, basic_entries);
    tar_write(plain, TAR_NONE, basic_entries);
    assert_int_equal(digest_file(DIGEST_SHA256, plain, diff_id, NULL), 0);

    assert_int_equal(layer_store_init(root, &err), 0);
    assert_int_equal(mkdir(leftover, 0700), 0);
    assert_int_equal(layer_store_init(root, &err), 0);
    assert_int_equal(lstat(leftover, &st), -1);

    assert_false(layer_exists(root, diff_id));
    if (layer_create(root, diff_id, blob, diff_id, LAYER_FORMAT_PLAIN, &stats, &err) < 0)
        fail_msg("create: %s", err.message);
    assert_true(layer_exists(root, diff_id));
    assert_string_equal(stats.diff_id, diff_id);
    fs = layer_fs_path(root, diff_id, &err);
    assert_non_null(strstr(fs, diff_id + 7));
    assert_int_equal(stat(fs, &st), 0);
    assert_int_equal(layer_size(root, diff_id, &size, &err), 0);
    assert_int_equal(size, stats.size);

    /* A second create of the same layer succeeds and keeps the first. */
    assert_int_equal(layer_create(root, diff_id, blob, diff_id, LAYER_FORMAT_PLAIN, NULL, &err), 0);
    assert_int_equal(layer_list(root, &chain_ids, &err), 0);
    assert_int_equal(strv_length(chain_ids), 1);
    assert_string_equal(chain_ids[0], diff_id);

    assert_int_equal(layer_disk_usage(fs, &bytes, &inodes, &err), 0);
    assert_true(bytes > 0);
    assert_int_equal(inodes, 16);

    assert_int_equal(layer_remove(root, diff_id, &err), 0);
    assert_false(layer_exists(root, diff_id));
    assert_int_equal(layer_remove(root, diff_id, &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
}

static void test_layer_create_failure_leaves_nothing(void **state)
{
    struct fixture *f = *state;
    _cleanup_free_ char *blob = fixture_path(f, "layer.tar");
    _cleanup_free_ char *root = fixture_path(f, "root");
    _cleanup_free_ char *layers = xasprintf("%s/layers", root);
    _cleanup_error_ struct error err = ERROR_INIT;
    const char *chain_id =
        "sha256:1111111111111111111111111111111111111111111111111111111111111111";
    int count = 0;

    tar_write(blob, TAR_NONE, basic_entries);
    assert_int_equal(layer_store_init(root, &err), 0);
    assert_int_equal(layer_create(root, chain_id, blob, chain_id, LAYER_FORMAT_PLAIN, NULL, &err),
                     -1);
    assert_int_equal(err.code, ERROR_DATA_LOSS);
    assert_false(layer_exists(root, chain_id));
    assert_int_equal(content_fs_list_dir(layers, count_entry, &count), 0);
    assert_int_equal(count, 0);
    error_clear(&err);
    assert_null(layer_fs_path(root, "sha256:bad", &err));
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
}

#define TEST(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        TEST(test_layer_uncompressed),
        TEST(test_layer_gzip),
        TEST(test_layer_zstd),
        TEST(test_layer_security_capability),
        TEST(test_layer_xattr_filter),
        TEST(test_layer_whiteouts_overlay),
        TEST(test_layer_flatten_whiteouts),
        TEST(test_layer_flatten_root_opaque),
        TEST(test_layer_hardlink_missing_target),
        TEST(test_layer_hardlink_to_directory),
        TEST(test_layer_replaces_entries),
        TEST(test_layer_hostile),
        TEST(test_layer_absolute_path_stays_inside),
        TEST(test_layer_symlink_outside_is_kept_as_link),
        TEST(test_layer_corrupt),
        TEST(test_layer_diff_id_mismatch),
        TEST(test_layer_store),
        TEST(test_layer_create_failure_leaves_nothing),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
