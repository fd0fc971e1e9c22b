#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/linux/cgroup.h"

#define FIXTURE_CTR "kubepods/besteffort/pod-fixture/ctr-a"

/* A scratch copy of a fixture tree, removed by teardown. */
struct tree {
    char root[64];
    struct cgroup_env env;
};

static void run(const char *command)
{
    assert_int_equal(system(command), 0);
}

static void write_text(const char *root, const char *name, const char *text)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", root, name);
    _cleanup_free_ char *dir = xstrdup(path);
    _cleanup_free_ char *mkdir_command = NULL;
    FILE *file;

    *strrchr(dir, '/') = '\0';
    mkdir_command = xasprintf("mkdir -p '%s'", dir);
    run(mkdir_command);
    file = fopen(path, "w");
    assert_non_null(file);
    fputs(text, file);
    fclose(file);
}

static char *read_text(const char *root, const char *name)
{
    char *text = NULL;
    _cleanup_free_ char *dir = xasprintf("%s", root);

    assert_int_equal(cgroup_read_file(dir, name, &text, NULL), 0);
    return text;
}

static int setup_v2(void **state)
{
    struct tree *tree = xcalloc(1, sizeof(*tree));
    const char *source = getenv("HOSTCRI_SOURCE_DIR");
    _cleanup_free_ char *command = NULL;

    assert_non_null(source);
    strcpy(tree->root, "/tmp/hostcri-cgroup-XXXXXX");
    assert_non_null(mkdtemp(tree->root));
    command = xasprintf("cp -a '%s/test/fixtures/cgroup-v2/.' '%s/'", source, tree->root);
    run(command);
    assert_int_equal(cgroup_env_detect(tree->root, &tree->env, NULL), 0);
    tree->env.create_files = true;
    *state = tree;
    return 0;
}

/* A v1 tree: memory, cpu, cpuacct and pids hierarchies with one container cgroup. */
static int setup_v1(void **state)
{
    struct tree *tree = xcalloc(1, sizeof(*tree));
    const char *names[] = {"memory", "cpu", "cpuacct", "pids", "cpuset"};

    strcpy(tree->root, "/tmp/hostcri-cgroup-XXXXXX");
    assert_non_null(mkdtemp(tree->root));
    for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
        _cleanup_free_ char *top = xasprintf("%s/cgroup.procs", names[i]);
        _cleanup_free_ char *leaf = xasprintf("%s/pod/ctr/cgroup.procs", names[i]);

        write_text(tree->root, top, "1\n");
        write_text(tree->root, leaf, "77\n78\n");
    }
    write_text(tree->root, "memory/pod/ctr/memory.usage_in_bytes", "8388608\n");
    write_text(tree->root, "memory/pod/ctr/memory.stat",
               "cache 4096\nrss 2097152\ntotal_cache 4096\ntotal_rss 3145728\n"
               "total_inactive_file 1048576\ntotal_pgfault 555\ntotal_pgmajfault 7\n");
    write_text(tree->root, "memory/pod/ctr/memory.oom_control",
               "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n");
    write_text(tree->root, "cpuacct/pod/ctr/cpuacct.usage", "987654321\n");
    write_text(tree->root, "pids/pod/ctr/pids.current", "2\n");
    write_text(tree->root, "cpuset/cpuset.cpus", "0-3\n");
    write_text(tree->root, "cpuset/cpuset.mems", "0\n");
    assert_int_equal(cgroup_env_detect(tree->root, &tree->env, NULL), 0);
    tree->env.create_files = true;
    *state = tree;
    return 0;
}

static int teardown_tree(void **state)
{
    struct tree *tree = *state;
    _cleanup_free_ char *command = xasprintf("rm -rf '%s'", tree->root);

    cgroup_env_clear(&tree->env);
    run(command);
    free(tree);
    return 0;
}

/* ---- Paths ---- */

static void check_path(enum job_cgroup_driver driver, const char *parent, const char *expected)
{
    _cleanup_free_ char *path = NULL;
    struct error err = ERROR_INIT;

    assert_int_equal(cgroup_path_from_parent(driver, parent, &path, &err), 0);
    assert_string_equal(path, expected);
}

static void check_invalid(enum job_cgroup_driver driver, const char *parent)
{
    _cleanup_free_ char *path = NULL;
    struct error err = ERROR_INIT;

    assert_int_equal(cgroup_path_from_parent(driver, parent, &path, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, parent));
    error_clear(&err);
}

static void path_cgroupfs(void **state)
{
    check_path(JOB_CGROUP_DRIVER_CGROUPFS, "/kubepods/besteffort/pod1234",
               "kubepods/besteffort/pod1234");
    check_path(JOB_CGROUP_DRIVER_CGROUPFS, "//kubepods//pod1/", "kubepods/pod1");
    check_path(JOB_CGROUP_DRIVER_CGROUPFS, "/", "");
    check_path(JOB_CGROUP_DRIVER_CGROUPFS, "kubepods.slice", "kubepods.slice");
    check_invalid(JOB_CGROUP_DRIVER_CGROUPFS, "/kubepods/../etc");
    check_invalid(JOB_CGROUP_DRIVER_CGROUPFS, "/kubepods/./pod");
}

static void path_systemd(void **state)
{
    check_path(JOB_CGROUP_DRIVER_SYSTEMD, "kubepods-besteffort-pod1234.slice",
               "kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234.slice");
    check_path(JOB_CGROUP_DRIVER_SYSTEMD, "kubepods-pod9.slice",
               "kubepods.slice/kubepods-pod9.slice");
    check_path(JOB_CGROUP_DRIVER_SYSTEMD, "kubepods.slice", "kubepods.slice");
    check_path(JOB_CGROUP_DRIVER_SYSTEMD, "-.slice", "");
    check_path(JOB_CGROUP_DRIVER_SYSTEMD, "/kubepods.slice/kubepods-pod9.slice",
               "kubepods.slice/kubepods-pod9.slice");
    check_invalid(JOB_CGROUP_DRIVER_SYSTEMD, "kubepods");
    check_invalid(JOB_CGROUP_DRIVER_SYSTEMD, "/kubepods/besteffort");
    check_invalid(JOB_CGROUP_DRIVER_SYSTEMD, "/kubepods.slice/pod1234");
    check_invalid(JOB_CGROUP_DRIVER_SYSTEMD, "/kubepods.slice/.slice");
    check_invalid(JOB_CGROUP_DRIVER_SYSTEMD, "kubepods--pod1.slice");
    check_invalid(JOB_CGROUP_DRIVER_SYSTEMD, "-kubepods.slice");
    check_invalid(JOB_CGROUP_DRIVER_SYSTEMD, ".slice");
}

static void path_container(void **state)
{
    _cleanup_free_ char *cgroupfs =
        cgroup_container_path(JOB_CGROUP_DRIVER_CGROUPFS, "kubepods/pod1", "abc");
    _cleanup_free_ char *systemd = cgroup_container_path(
        JOB_CGROUP_DRIVER_SYSTEMD, "kubepods.slice/kubepods-pod1.slice", "abc");
    _cleanup_free_ char *top = cgroup_container_path(JOB_CGROUP_DRIVER_CGROUPFS, "", "abc");

    assert_string_equal(cgroupfs, "kubepods/pod1/abc");
    assert_string_equal(systemd, "kubepods.slice/kubepods-pod1.slice/hostcri-abc.scope");
    assert_string_equal(top, "abc");
}

static void weight_from_shares(void **state)
{
    assert_int_equal(cgroup_shares_to_weight(0), 0);
    assert_int_equal(cgroup_shares_to_weight(2), 1);
    assert_int_equal(cgroup_shares_to_weight(1024), 39);
    assert_int_equal(cgroup_shares_to_weight(262144), 10000);
    assert_int_equal(cgroup_shares_to_weight(1000000), 10000);
}

static void parse_keyed_lines(void **state)
{
    uint64_t value = 0;

    assert_int_equal(cgroup_parse_keyed("populated 1\nfrozen 0\n", "frozen", &value), 0);
    assert_int_equal(value, 0);
    assert_int_equal(cgroup_parse_keyed("populated 1\nfrozen 0\n", "populated", &value), 0);
    assert_int_equal(value, 1);
    assert_int_equal(cgroup_parse_keyed("oom 1\noom_kill 5\n", "oom_kill", &value), 0);
    assert_int_equal(value, 5);
    assert_int_equal(cgroup_parse_keyed("oom_kill 5\n", "oom", &value), -1);
    assert_int_equal(cgroup_parse_keyed("", "oom", &value), -1);
}

/* ---- Layout detection ---- */

static void detect_v2_fixture(void **state)
{
    struct tree *tree = *state;

    assert_int_equal(tree->env.layout, CGROUP_LAYOUT_V2);
    assert_string_equal(tree->env.unified, tree->root);
    assert_null(tree->env.v1[CGROUP_V1_MEMORY]);
}

static void detect_v1_tree(void **state)
{
    struct tree *tree = *state;
    _cleanup_free_ char *memory = xasprintf("%s/memory", tree->root);

    assert_int_equal(tree->env.layout, CGROUP_LAYOUT_V1);
    assert_null(tree->env.unified);
    assert_string_equal(tree->env.v1[CGROUP_V1_MEMORY], memory);
    assert_null(tree->env.v1[CGROUP_V1_FREEZER]);
}

static void detect_hybrid_tree(void **state)
{
    struct tree *tree = *state;
    struct cgroup_env env;

    write_text(tree->root, "unified/cgroup.controllers", "\n");
    assert_int_equal(cgroup_env_detect(tree->root, &env, NULL), 0);
    assert_int_equal(env.layout, CGROUP_LAYOUT_HYBRID);
    assert_non_null(env.unified);
    assert_non_null(env.v1[CGROUP_V1_MEMORY]);
    cgroup_env_clear(&env);
}

static void detect_empty_fails(void **state)
{
    char root[] = "/tmp/hostcri-cgroup-XXXXXX";
    struct cgroup_env env;
    struct error err = ERROR_INIT;

    assert_non_null(mkdtemp(root));
    assert_int_equal(cgroup_env_detect(root, &env, &err), -1);
    assert_int_equal(err.code, ERROR_FAILED_PRECONDITION);
    error_clear(&err);
    rmdir(root);
}

/* ---- cgroup v2 fixture ---- */

static void v2_stats(void **state)
{
    struct tree *tree = *state;
    struct job_stats stats;

    assert_int_equal(cgroup_read_stats(&tree->env, FIXTURE_CTR, &stats, NULL), 0);
    assert_true(stats.timestamp_ns > 0);
    assert_int_equal(stats.cpu_usage_ns, UINT64_C(1234567000));
    assert_true(stats.has_memory);
    assert_int_equal(stats.memory_usage_bytes, 52428800);
    assert_int_equal(stats.memory_working_set_bytes, 52428800 - 10485760);
    assert_int_equal(stats.memory_rss_bytes, 20971520);
    assert_int_equal(stats.page_faults, 98765);
    assert_int_equal(stats.major_page_faults, 12);
    assert_true(stats.has_pids);
    assert_int_equal(stats.pids, 3);
}

static void v2_membership(void **state)
{
    struct tree *tree = *state;
    _cleanup_free_ int *pids = NULL;
    size_t n_pids = 0;
    bool populated = false;
    uint64_t oom_kills = 0;

    assert_int_equal(cgroup_read_pids(&tree->env, FIXTURE_CTR, &pids, &n_pids, NULL), 0);
    assert_int_equal(n_pids, 3);
    assert_int_equal(pids[0], 4242);
    assert_int_equal(pids[1], 4243);
    assert_int_equal(pids[2], 4250);
    assert_int_equal(cgroup_populated(&tree->env, FIXTURE_CTR, &populated, NULL), 0);
    assert_true(populated);
    assert_int_equal(cgroup_read_oom_kills(&tree->env, FIXTURE_CTR, &oom_kills, NULL), 0);
    assert_int_equal(oom_kills, 1);
}

static void v2_kill_writes_file(void **state)
{
    struct tree *tree = *state;
    _cleanup_free_ char *dir = cgroup_dir(tree->env.unified, FIXTURE_CTR);
    _cleanup_free_ char *kill = NULL;

    assert_int_equal(cgroup_kill(&tree->env, FIXTURE_CTR, NULL), 0);
    kill = read_text(dir, "cgroup.kill");
    assert_string_equal(kill, "1");
}

static void v2_apply_limits(void **state)
{
    struct tree *tree = *state;
    _cleanup_free_ char *dir = cgroup_dir(tree->env.unified, FIXTURE_CTR);
    struct job_resources resources = {.cpu_period_us = 100000,
                                      .cpu_quota_us = 50000,
                                      .cpu_shares = 1024,
                                      .memory_limit_bytes = 104857600,
                                      .cpuset_cpus = "1",
                                      .cpuset_mems = "0"};
    char *text;

    assert_int_equal(cgroup_apply_resources(&tree->env, FIXTURE_CTR, &resources, 2, NULL), 0);
    text = read_text(dir, "cpu.max");
    assert_string_equal(text, "50000 100000");
    free(text);
    text = read_text(dir, "cpu.weight");
    assert_string_equal(text, "39");
    free(text);
    text = read_text(dir, "memory.max");
    assert_string_equal(text, "104857600");
    free(text);
    text = read_text(dir, "cpuset.cpus");
    assert_string_equal(text, "1");
    free(text);
}

static void v2_apply_unlimited(void **state)
{
    struct tree *tree = *state;
    _cleanup_free_ char *dir = cgroup_dir(tree->env.unified, FIXTURE_CTR);
    struct job_resources resources = {.cpu_quota_us = -1, .memory_limit_bytes = -1};
    char *text;

    assert_int_equal(cgroup_apply_resources(&tree->env, FIXTURE_CTR, &resources, 2, NULL), 0);
    text = read_text(dir, "cpu.max");
    assert_string_equal(text, "max 100000");
    free(text);
    text = read_text(dir, "memory.max");
    assert_string_equal(text, "max");
    free(text);
    text = read_text(dir, "cpu.weight");
    assert_string_equal(text, "100\n");
    free(text);
}

/* Windows-style rates become a quota: 50 % of a 2-CPU host is one CPU per period. */
static void v2_apply_cpu_maximum(void **state)
{
    struct tree *tree = *state;
    _cleanup_free_ char *dir = cgroup_dir(tree->env.unified, FIXTURE_CTR);
    struct job_resources maximum = {.cpu_maximum = 5000};
    struct job_resources count = {.cpu_count = 3, .cpu_period_us = 50000};
    char *text;

    assert_int_equal(cgroup_apply_resources(&tree->env, FIXTURE_CTR, &maximum, 2, NULL), 0);
    text = read_text(dir, "cpu.max");
    assert_string_equal(text, "100000 100000");
    free(text);
    assert_int_equal(cgroup_apply_resources(&tree->env, FIXTURE_CTR, &count, 2, NULL), 0);
    text = read_text(dir, "cpu.max");
    assert_string_equal(text, "150000 50000");
    free(text);
}

static void v2_create_and_remove(void **state)
{
    struct tree *tree = *state;
    _cleanup_strv_ char **created = NULL;
    _cleanup_free_ char *pod = xasprintf("%s/kubepods/besteffort/pod-new", tree->root);
    _cleanup_free_ char *leaf = xasprintf("%s/kubepods/besteffort/pod-fixture/ctr-b", tree->root);
    _cleanup_free_ char *leaf_subtree = xasprintf("%s/cgroup.subtree_control", leaf);
    struct stat st;

    assert_int_equal(
        cgroup_create(&tree->env, "kubepods/besteffort/pod-new", false, &created, NULL), 0);
    assert_int_equal(strv_length(created), 1);
    assert_string_equal(created[0], pod);
    assert_int_equal(
        cgroup_create(&tree->env, "kubepods/besteffort/pod-fixture/ctr-b", true, &created, NULL),
        0);
    assert_int_equal(strv_length(created), 2);
    assert_string_equal(created[1], leaf);
    /* The leaf must not enable controllers for children: it holds the processes. */
    assert_int_equal(stat(leaf, &st), 0);
    assert_true(access(leaf_subtree, F_OK) != 0);

    assert_int_equal(cgroup_remove_created(created, NULL), 0);
    assert_int_not_equal(stat(pod, &st), 0);
    assert_int_not_equal(stat(leaf, &st), 0);
    /* The fixture's own cgroups stay. */
    assert_int_equal(stat(tree->env.unified, &st), 0);
}

static void v2_create_existing_records_nothing(void **state)
{
    struct tree *tree = *state;
    _cleanup_strv_ char **created = NULL;

    assert_int_equal(cgroup_create(&tree->env, FIXTURE_CTR, true, &created, NULL), 0);
    assert_int_equal(strv_length(created), 0);
}

/* ---- cgroup v1 tree ---- */

static void v1_stats(void **state)
{
    struct tree *tree = *state;
    struct job_stats stats;
    uint64_t oom_kills = 0;

    assert_int_equal(cgroup_read_stats(&tree->env, "pod/ctr", &stats, NULL), 0);
    assert_int_equal(stats.cpu_usage_ns, 987654321);
    assert_true(stats.has_memory);
    assert_int_equal(stats.memory_usage_bytes, 8388608);
    assert_int_equal(stats.memory_working_set_bytes, 8388608 - 1048576);
    assert_int_equal(stats.memory_rss_bytes, 3145728);
    assert_int_equal(stats.page_faults, 555);
    assert_int_equal(stats.major_page_faults, 7);
    assert_int_equal(stats.pids, 2);
    assert_int_equal(cgroup_read_oom_kills(&tree->env, "pod/ctr", &oom_kills, NULL), 0);
    assert_int_equal(oom_kills, 2);
}

static void v1_populated_from_procs(void **state)
{
    struct tree *tree = *state;
    bool populated = false;

    assert_int_equal(cgroup_populated(&tree->env, "pod/ctr", &populated, NULL), 0);
    assert_true(populated);
    write_text(tree->root, "memory/pod/ctr/cgroup.procs", "");
    write_text(tree->root, "cpu/pod/ctr/cgroup.procs", "");
    write_text(tree->root, "cpuacct/pod/ctr/cgroup.procs", "");
    write_text(tree->root, "pids/pod/ctr/cgroup.procs", "");
    write_text(tree->root, "cpuset/pod/ctr/cgroup.procs", "");
    assert_int_equal(cgroup_populated(&tree->env, "pod/ctr", &populated, NULL), 0);
    assert_false(populated);
}

static void v1_apply_limits(void **state)
{
    struct tree *tree = *state;
    _cleanup_free_ char *cpu = xasprintf("%s/cpu/pod/ctr", tree->root);
    _cleanup_free_ char *memory = xasprintf("%s/memory/pod/ctr", tree->root);
    struct job_resources resources = {.cpu_period_us = 100000,
                                      .cpu_quota_us = 25000,
                                      .cpu_shares = 512,
                                      .memory_limit_bytes = 67108864};
    char *text;

    assert_int_equal(cgroup_apply_resources(&tree->env, "pod/ctr", &resources, 2, NULL), 0);
    text = read_text(cpu, "cpu.cfs_quota_us");
    assert_string_equal(text, "25000");
    free(text);
    text = read_text(cpu, "cpu.cfs_period_us");
    assert_string_equal(text, "100000");
    free(text);
    text = read_text(cpu, "cpu.shares");
    assert_string_equal(text, "512");
    free(text);
    text = read_text(memory, "memory.limit_in_bytes");
    assert_string_equal(text, "67108864");
    free(text);
}

/* A new v1 cpuset cgroup copies cpus and mems from its parent, or no task could join it. */
static void v1_create_copies_cpuset(void **state)
{
    struct tree *tree = *state;
    _cleanup_strv_ char **created = NULL;
    _cleanup_free_ char *dir = xasprintf("%s/cpuset/newpod", tree->root);
    char *text;

    assert_int_equal(cgroup_create(&tree->env, "newpod", false, &created, NULL), 0);
    assert_int_equal(strv_length(created), 5);
    text = read_text(dir, "cpuset.cpus");
    assert_string_equal(text, "0-3\n");
    free(text);
    /* A plain directory with files in it cannot be removed, unlike a real cgroup. */
    assert_int_equal(cgroup_remove_created(created, NULL), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(path_cgroupfs),
        cmocka_unit_test(path_systemd),
        cmocka_unit_test(path_container),
        cmocka_unit_test(weight_from_shares),
        cmocka_unit_test(parse_keyed_lines),
        cmocka_unit_test(detect_empty_fails),
        cmocka_unit_test_setup_teardown(detect_v2_fixture, setup_v2, teardown_tree),
        cmocka_unit_test_setup_teardown(detect_v1_tree, setup_v1, teardown_tree),
        cmocka_unit_test_setup_teardown(detect_hybrid_tree, setup_v1, teardown_tree),
        cmocka_unit_test_setup_teardown(v2_stats, setup_v2, teardown_tree),
        cmocka_unit_test_setup_teardown(v2_membership, setup_v2, teardown_tree),
        cmocka_unit_test_setup_teardown(v2_kill_writes_file, setup_v2, teardown_tree),
        cmocka_unit_test_setup_teardown(v2_apply_limits, setup_v2, teardown_tree),
        cmocka_unit_test_setup_teardown(v2_apply_unlimited, setup_v2, teardown_tree),
        cmocka_unit_test_setup_teardown(v2_apply_cpu_maximum, setup_v2, teardown_tree),
        cmocka_unit_test_setup_teardown(v2_create_and_remove, setup_v2, teardown_tree),
        cmocka_unit_test_setup_teardown(v2_create_existing_records_nothing, setup_v2,
                                        teardown_tree),
        cmocka_unit_test_setup_teardown(v1_stats, setup_v1, teardown_tree),
        cmocka_unit_test_setup_teardown(v1_populated_from_procs, setup_v1, teardown_tree),
        cmocka_unit_test_setup_teardown(v1_apply_limits, setup_v1, teardown_tree),
        cmocka_unit_test_setup_teardown(v1_create_copies_cpuset, setup_v1, teardown_tree),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
