#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/linux/monitor_files.h"
#include "runtime/linux/rootfs.h"
#include "runtime/linux/userdb.h"

static char *temp_path(const char *name)
{
    return xasprintf("/tmp/hostcri-files-%d-%s", (int)getpid(), name);
}

static void write_file(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");

    assert_non_null(file);
    fputs(text, file);
    fclose(file);
}

static void spec_round_trip(void **state)
{
    _cleanup_free_ char *path = temp_path("spec");
    char *argv[] = {"sh", "-c", "echo 'a\tb' \"$X\"", NULL};
    char *env[] = {"X=with\nnewline", "PATH=/bin", NULL};
    char *layers[] = {"/layers/sha256:base", "/layers/top", NULL};
    uint32_t groups[] = {10, 20};
    struct monitor_mount mounts[] = {
        {"/host/a", "/ctr/a", true, JOB_PROPAGATION_BIDIRECTIONAL, false},
        {"/host/b", "/ctr/b", true, JOB_PROPAGATION_PRIVATE, true},
    };
    struct monitor_spec spec = {.id = "c1",
                                .cgroup_root = "/sys/fs/cgroup",
                                .cgroup_path = "kubepods/pod1/c1",
                                .argv = argv,
                                .env = env,
                                .cwd = "/work",
                                .username = "nobody",
                                .has_uid = true,
                                .uid = 1000,
                                .groups = groups,
                                .n_groups = 2,
                                .strict_groups = true,
                                .layers = layers,
                                .container_dir = "/var/lib/hostcri/c1",
                                .readonly_rootfs = true,
                                .mount_point = "/hpc",
                                .mounts = mounts,
                                .n_mounts = 2,
                                .log_path = "/var/log/pods/x/c/0.log",
                                .tty = true,
                                .has_oom_score_adj = true,
                                .oom_score_adj = -998,
                                .grace_ms = 1500};
    struct monitor_spec read;
    struct error err = ERROR_INIT;

    assert_int_equal(monitor_spec_write(&spec, path, &err), 0);
    assert_int_equal(monitor_spec_read(path, &read, &err), 0);
    unlink(path);
    assert_string_equal(read.id, "c1");
    assert_string_equal(read.cgroup_path, "kubepods/pod1/c1");
    assert_null(read.monitor_cgroup);
    assert_int_equal(strv_length(read.argv), 3);
    assert_string_equal(read.argv[2], argv[2]);
    assert_string_equal(read.env[0], "X=with\nnewline");
    assert_string_equal(read.cwd, "/work");
    assert_string_equal(read.username, "nobody");
    assert_true(read.has_uid);
    assert_int_equal(read.uid, 1000);
    assert_false(read.has_gid);
    assert_int_equal(read.n_groups, 2);
    assert_int_equal(read.groups[1], 20);
    assert_true(read.strict_groups);
    assert_string_equal(read.layers[0], "/layers/sha256:base");
    assert_true(read.readonly_rootfs);
    assert_int_equal(read.n_mounts, 2);
    assert_string_equal(read.mounts[0].container_path, "/ctr/a");
    assert_true(read.mounts[0].readonly);
    assert_int_equal(read.mounts[0].propagation, JOB_PROPAGATION_BIDIRECTIONAL);
    assert_false(read.mounts[0].recursive_readonly);
    assert_true(read.mounts[1].readonly);
    assert_true(read.mounts[1].recursive_readonly);
    assert_true(read.tty);
    assert_false(read.stdin_open);
    assert_true(read.has_oom_score_adj);
    assert_int_equal(read.oom_score_adj, -998);
    assert_int_equal(read.grace_ms, 1500);
    monitor_spec_clear(&read);
}

static void spec_missing_fields_rejected(void **state)
{
    _cleanup_free_ char *path = temp_path("bad-spec");
    struct monitor_spec read;
    struct error err = ERROR_INIT;
    FILE *file = fopen(path, "wb");

    assert_non_null(file);
    fwrite("id\0c1\0mount.dest\0/x\0", 1, 21, file);
    fclose(file);
    assert_int_equal(monitor_spec_read(path, &read, &err), -1);
    assert_non_null(strstr(err.message, "mount.dest before mount.host"));
    error_clear(&err);
    monitor_spec_clear(&read);
    file = fopen(path, "wb");
    assert_non_null(file);
    fwrite("id\0c1\0arg", 1, 9, file);
    fclose(file);
    assert_int_equal(monitor_spec_read(path, &read, &err), -1);
    assert_int_equal(err.code, ERROR_INTERNAL);
    assert_non_null(strstr(err.message, "key \"arg\""));
    error_clear(&err);
    monitor_spec_clear(&read);
    unlink(path);
    assert_int_equal(monitor_spec_read(path, &read, &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
    error_clear(&err);
}

/* test_runtime_monitor_format covers the text format. This test checks the file handling. */
static void exit_file_round_trip(void **state)
{
    _cleanup_free_ char *path = temp_path("exit");
    struct job_exit_status status = {
        .exit_code = 137, .reason = JOB_EXIT_OOM_KILLED, .message = "line one\nline two"};
    struct job_exit_status read;
    struct error err = ERROR_INIT;

    assert_int_equal(monitor_exit_file_write(path, &status, &err), 0);
    assert_int_equal(monitor_exit_file_read(path, &read, &err), 0);
    assert_int_equal(read.exit_code, 137);
    assert_int_equal(read.reason, JOB_EXIT_OOM_KILLED);
    assert_string_equal(read.message, "line one line two");
    free(read.message);
    write_file(path, "");
    assert_int_equal(monitor_exit_file_read(path, &read, &err), -1);
    assert_int_equal(err.code, ERROR_INTERNAL);
    error_clear(&err);
    unlink(path);
    assert_int_equal(monitor_exit_file_read(path, &read, &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
    error_clear(&err);
}

static void pid_file_detects_reuse(void **state)
{
    _cleanup_free_ char *path = temp_path("pid");
    struct error err = ERROR_INIT;
    bool alive = false;
    pid_t pid = 0;

    assert_int_equal(monitor_pid_file_write(path, getpid(), &err), 0);
    assert_int_equal(monitor_pid_file_read(path, &pid, &alive, &err), 0);
    assert_int_equal(pid, getpid());
    assert_true(alive);
    /* Same pid, another start time: a different process. */
    write_file(path, "1 1\n");
    assert_int_equal(monitor_pid_file_read(path, &pid, &alive, &err), 0);
    assert_false(alive);
    write_file(path, "garbage\n");
    assert_int_equal(monitor_pid_file_read(path, &pid, &alive, &err), -1);
    error_clear(&err);
    unlink(path);
}

static void overlay_options_escaped(void **state)
{
    char *layers[] = {"/l/base", "/l/sha256:mid,x", "/l/top", NULL};
    _cleanup_free_ char *options = rootfs_overlay_options(layers, "/c/up", "/c/work");

    assert_string_equal(
        options, "lowerdir=/l/top:/l/sha256\\:mid\\,x:/l/base,upperdir=/c/up,workdir=/c/work");
}

/* The copy fallback applies whiteouts of both formats and opaque directories. */
static void copy_layers_with_whiteouts(void **state)
{
    _cleanup_free_ char *root = temp_path("layers");
    _cleanup_free_ char *setup = xasprintf(
        "set -e; rm -rf '%1$s'; mkdir -p '%1$s' && cd '%1$s' && "
        "mkdir -p base/etc base/old base/opaque base/dev-gone && echo 1 > base/etc/a && "
        "echo 1 > base/old/x && echo 1 > base/opaque/hidden && echo 1 > base/gone && "
        "mkdir -p top/etc top/opaque && echo 2 > top/etc/a && touch top/.wh.old top/.wh.gone && "
        "touch top/opaque/.wh..wh..opq && echo 2 > top/opaque/shown && "
        "mknod top/dev-gone c 0 0",
        root);
    _cleanup_free_ char *base = xasprintf("%s/base", root);
    _cleanup_free_ char *top = xasprintf("%s/top", root);
    _cleanup_free_ char *target = xasprintf("%s/rootfs", root);
    _cleanup_free_ char *check =
        xasprintf("cd '%s/rootfs' && [ \"$(cat etc/a)\" = 2 ] && [ ! -e old ] && [ ! -e gone ] && "
                  "[ ! -e dev-gone ] && [ ! -e opaque/hidden ] && [ -e opaque/shown ] && "
                  "[ -z \"$(find . -name '.wh.*')\" ] && [ -e ../rootfs.done ]",
                  root);
    _cleanup_free_ char *cleanup = xasprintf("rm -rf '%s'", root);
    char *layers[] = {base, top, NULL};
    struct error err = ERROR_INIT;

    if (geteuid() != 0)
        skip();
    assert_int_equal(system(setup), 0);
    assert_int_equal(rootfs_copy_layers(layers, target, &err), 0);
    assert_int_equal(system(check), 0);
    /* A finished copy is kept as it is. */
    assert_int_equal(rootfs_copy_layers(layers, target, &err), 0);
    assert_int_equal(system(check), 0);
    assert_int_equal(system(cleanup), 0);
}

static void userdb_lookups(void **state)
{
    _cleanup_free_ char *passwd = temp_path("passwd");
    _cleanup_free_ char *group = temp_path("group");
    struct error err = ERROR_INIT;
    gid_t groups[8];
    uid_t uid = 0;
    gid_t gid = 0;
    size_t n;

    write_file(passwd, "# comment\nroot:x:0:0:root:/root:/bin/sh\n"
                       "alice:x:1001:1002:Alice:/home/alice:/bin/sh\nbroken-line\n");
    write_file(group, "root:x:0:\nwheel:x:10:root,alice\nstaff:x:50:bob\n"
                      "alice:x:1002:\ndocker:x:999:bob,alice\n");
    assert_int_equal(userdb_find_user(passwd, "alice", &uid, &gid, &err), 0);
    assert_int_equal(uid, 1001);
    assert_int_equal(gid, 1002);
    n = userdb_user_groups(group, "alice", gid, groups, ARRAY_SIZE(groups));
    assert_int_equal(n, 3);
    assert_int_equal(groups[0], 1002);
    assert_int_equal(groups[1], 10);
    assert_int_equal(groups[2], 999);
    assert_int_equal(userdb_find_user(passwd, "alic", &uid, &gid, &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
    error_clear(&err);
    unlink(group);
    assert_int_equal(userdb_user_groups(group, "alice", 7, groups, ARRAY_SIZE(groups)), 1);
    unlink(passwd);
    assert_int_equal(userdb_find_user(passwd, "alice", &uid, &gid, &err), -1);
    assert_int_equal(err.code, ERROR_INTERNAL);
    error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(spec_round_trip),
        cmocka_unit_test(spec_missing_fields_rejected),
        cmocka_unit_test(exit_file_round_trip),
        cmocka_unit_test(pid_file_detects_reuse),
        cmocka_unit_test(overlay_options_escaped),
        cmocka_unit_test(userdb_lookups),
        cmocka_unit_test(copy_layers_with_whiteouts),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
