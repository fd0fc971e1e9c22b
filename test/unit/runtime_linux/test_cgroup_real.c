/*
 * Real cgroup tests on this machine: they need root and a writable /sys/fs/cgroup, and skip
 * otherwise. Every cgroup they make lives under hostcri-test-<pid> and is removed at the end.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/linux/cgroup.h"
#include "runtime/linux/spawn.h"

#define CGROUP_ROOT "/sys/fs/cgroup"
#define TREE_COMMAND                                                                               \
    "sleep 300 & setsid sleep 301 & (sleep 302 &); (setsid sh -c 'sleep 303 &' &); exec sleep 304"

struct job_fixture {
    struct cgroup_env env;
    char *path;
    char **created;
};

static bool can_run(void)
{
    return geteuid() == 0 && access(CGROUP_ROOT, W_OK) == 0;
}

static int setup_job(void **state)
{
    struct job_fixture *fx = xcalloc(1, sizeof(*fx));
    struct error err = ERROR_INIT;

    if (!can_run()) {
        free(fx);
        skip();
    }
    assert_int_equal(cgroup_env_detect(CGROUP_ROOT, &fx->env, &err), 0);
    fx->path = xasprintf("hostcri-test-%d/job", (int)getpid());
    assert_int_equal(cgroup_create(&fx->env, fx->path, true, &fx->created, &err), 0);
    assert_true(strv_length(fx->created) >= 2);
    *state = fx;
    return 0;
}

/*
 * The hybrid host's v2 mount used as if it were a pure v2 host: v1 hierarchies are left out,
 * so creation, membership, clone3, cgroup.kill, cgroup.events and cpu.stat all run the v2 code
 * on the kernel. Only the v2 controller files (memory, pids, cpu.max) are missing, because this
 * kernel binds those controllers to v1; the fixture tests cover them.
 */
static int setup_v2_only(void **state)
{
    struct job_fixture *fx = xcalloc(1, sizeof(*fx));
    struct error err = ERROR_INIT;

    if (!can_run()) {
        free(fx);
        skip();
    }
    assert_int_equal(cgroup_env_detect(CGROUP_ROOT, &fx->env, &err), 0);
    if (fx->env.unified == NULL) {
        cgroup_env_clear(&fx->env);
        free(fx);
        skip();
    }
    for (int i = 0; i < CGROUP_V1_COUNT; i++) {
        free(fx->env.v1[i]);
        fx->env.v1[i] = NULL;
    }
    fx->env.layout = CGROUP_LAYOUT_V2;
    fx->path = xasprintf("hostcri-test-%d/v2job", (int)getpid());
    assert_int_equal(cgroup_create(&fx->env, fx->path, true, &fx->created, &err), 0);
    assert_int_equal(strv_length(fx->created), 2);
    *state = fx;
    return 0;
}

static int teardown_job(void **state)
{
    struct job_fixture *fx = *state;
    struct error err = ERROR_INIT;
    bool empty = false;

    cgroup_kill(&fx->env, fx->path, NULL);
    cgroup_wait_empty(&fx->env, fx->path, 5000, &empty, NULL);
    while (waitpid(-1, NULL, WNOHANG) > 0)
        ;
    assert_int_equal(cgroup_remove_created(fx->created, &err), 0);
    for (size_t i = 0; fx->created[i] != NULL; i++)
        assert_int_not_equal(access(fx->created[i], F_OK), 0);
    strv_free(fx->created);
    free(fx->path);
    cgroup_env_clear(&fx->env);
    free(fx);
    return 0;
}

/* Starts sh -c command in the job. Returns the pid of sh. */
static pid_t start_in_job(struct job_fixture *fx, const char *command)
{
    const char *argv[] = {"sh", "-c", command, NULL};
    const char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    int procs_fds[CGROUP_V1_COUNT + 1];
    struct spawn_request request = {.argv = argv,
                                    .envp = envp,
                                    .stdio = {-1, -1, -1},
                                    .new_session = true,
                                    .mnt_ns_fd = -1,
                                    .procs_fds = procs_fds};
    int n_fds = spawn_open_procs_fds(&fx->env, fx->path, procs_fds, ARRAY_SIZE(procs_fds), NULL);
    _cleanup_close_ int cgroup_fd = cgroup_open_unified(&fx->env, fx->path, NULL);
    struct error err = ERROR_INIT;
    pid_t pid = 0;

    assert_true(n_fds > 0);
    request.n_procs_fds = (size_t)n_fds;
    request.cgroup_fd = cgroup_fd;
    assert_int_equal(spawn_start(&request, &pid, NULL, &err), 0);
    for (int i = 0; i < n_fds; i++)
        close(procs_fds[i]);
    return pid;
}

/* Counts the processes in the job whose command is sleep. */
static size_t count_sleeps(struct job_fixture *fx)
{
    _cleanup_free_ int *pids = NULL;
    size_t n_pids = 0;
    size_t sleeps = 0;

    assert_int_equal(cgroup_read_pids(&fx->env, fx->path, &pids, &n_pids, NULL), 0);
    for (size_t i = 0; i < n_pids; i++) {
        _cleanup_free_ char *dir = xasprintf("/proc/%d", pids[i]);
        _cleanup_free_ char *comm = NULL;

        if (cgroup_read_file(dir, "comm", &comm, NULL) == 0 && strcmp(comm, "sleep\n") == 0)
            sleeps++;
    }
    return sleeps;
}

/* Waits until n sleep processes run in the job (the shells fork them in the background). */
static void wait_for_sleeps(struct job_fixture *fx, size_t n)
{
    for (int i = 0; i < 500 && count_sleeps(fx) < n; i++)
        usleep(10000);
    assert_int_equal(count_sleeps(fx), n);
}

/* True when /proc/<pid>/cgroup puts pid in the job in the hierarchy line that starts with key. */
static bool pid_in_job(struct job_fixture *fx, pid_t pid, const char *key)
{
    _cleanup_free_ char *dir = xasprintf("/proc/%d", (int)pid);
    _cleanup_free_ char *text = NULL;
    _cleanup_free_ char *wanted = xasprintf("%s/%s\n", key, fx->path);

    if (cgroup_read_file(dir, "cgroup", &text, NULL) < 0)
        return false;
    return strstr(text, wanted) != NULL;
}

/*
 * Kills the tree with cgroup_kill and checks that every process died by SIGKILL: this process
 * is a subreaper, so the double-forked and setsid children come back to it.
 */
static void kill_and_check(struct job_fixture *fx)
{
    bool empty = false;
    bool populated = true;
    int killed = 0;
    int status;
    pid_t pid;

    assert_int_equal(cgroup_populated(&fx->env, fx->path, &populated, NULL), 0);
    assert_true(populated);
    assert_int_equal(cgroup_kill(&fx->env, fx->path, NULL), 0);
    assert_int_equal(cgroup_wait_empty(&fx->env, fx->path, 10000, &empty, NULL), 0);
    assert_true(empty);
    assert_int_equal(cgroup_populated(&fx->env, fx->path, &populated, NULL), 0);
    assert_false(populated);
    /* The intermediate shells of the double forks exit normally; every sleep is killed. */
    while ((pid = waitpid(-1, &status, 0)) > 0) {
        if (WIFEXITED(status)) {
            assert_int_equal(WEXITSTATUS(status), 0);
            continue;
        }
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGKILL);
        killed++;
    }
    assert_int_equal(errno, ECHILD);
    assert_true(killed >= 5);
}

static void kill_tree_hybrid(void **state)
{
    struct job_fixture *fx = *state;
    pid_t sh;

    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    sh = start_in_job(fx, TREE_COMMAND);
    wait_for_sleeps(fx, 5);
    if (fx->env.unified != NULL)
        assert_true(pid_in_job(fx, sh, "0::"));
    if (fx->env.v1[CGROUP_V1_MEMORY] != NULL)
        assert_true(pid_in_job(fx, sh, "memory:"));
    kill_and_check(fx);
}

static void kill_tree_v2_only(void **state)
{
    struct job_fixture *fx = *state;
    struct job_stats stats;
    pid_t sh;

    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    sh = start_in_job(fx, TREE_COMMAND);
    wait_for_sleeps(fx, 5);
    assert_true(pid_in_job(fx, sh, "0::"));
    /* Not in a v1 hierarchy: the v1 memory line still shows the test's own cgroup. */
    assert_false(pid_in_job(fx, sh, "memory:"));
    assert_int_equal(cgroup_read_stats(&fx->env, fx->path, &stats, NULL), 0);
    assert_false(stats.has_memory);
    assert_true(stats.has_pids);
    assert_true(stats.pids >= 5);
    kill_and_check(fx);
}

/* The kill of kernels before 5.14: the v2 freezer, then SIGKILL to each member. */
static void kill_tree_v2_freezer(void **state)
{
    struct job_fixture *fx = *state;
    bool empty = false;
    int killed = 0;
    int status;

    if (fx->env.unified == NULL)
        skip();
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    start_in_job(fx, TREE_COMMAND);
    wait_for_sleeps(fx, 5);
    assert_int_equal(cgroup_kill_frozen_v2(&fx->env, fx->path, NULL), 0);
    assert_int_equal(cgroup_wait_empty(&fx->env, fx->path, 10000, &empty, NULL), 0);
    assert_true(empty);
    while (waitpid(-1, &status, 0) > 0)
        killed += WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    assert_true(killed >= 5);
}

/* The v1 path: no v2 hierarchy, so the kill goes through the freezer. */
static void kill_tree_v1_freezer(void **state)
{
    struct job_fixture *fx = *state;
    char *unified = fx->env.unified;
    enum cgroup_layout layout = fx->env.layout;

    if (fx->env.v1[CGROUP_V1_FREEZER] == NULL)
        skip();
    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    fx->env.unified = NULL;
    fx->env.layout = CGROUP_LAYOUT_V1;
    start_in_job(fx, TREE_COMMAND);
    wait_for_sleeps(fx, 5);
    kill_and_check(fx);
    fx->env.unified = unified;
    fx->env.layout = layout;
}

static void signal_each_member(void **state)
{
    struct job_fixture *fx = *state;
    bool empty = false;
    int status;

    assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
    start_in_job(fx, "sleep 300 & exec sleep 301");
    wait_for_sleeps(fx, 2);
    assert_int_equal(cgroup_signal_each(&fx->env, fx->path, SIGTERM, NULL), 0);
    assert_int_equal(cgroup_wait_empty(&fx->env, fx->path, 10000, &empty, NULL), 0);
    assert_true(empty);
    while (waitpid(-1, &status, 0) > 0) {
        assert_true(WIFSIGNALED(status));
        assert_int_equal(WTERMSIG(status), SIGTERM);
    }
}

static void stats_and_limits(void **state)
{
    struct job_fixture *fx = *state;
    struct job_resources resources = {.cpu_period_us = 100000,
                                      .cpu_quota_us = 50000,
                                      .cpu_shares = 512,
                                      .memory_limit_bytes = 64 * 1024 * 1024};
    struct job_stats stats;
    struct error err = ERROR_INIT;
    uint64_t oom_kills = 99;
    int status;
    pid_t sh;

    sh = start_in_job(fx, "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; exec sleep 300");
    assert_int_equal(cgroup_apply_resources(&fx->env, fx->path, &resources, 2, &err), 0);
    assert_int_equal(cgroup_read_stats(&fx->env, fx->path, &stats, &err), 0);
    assert_true(stats.has_pids);
    assert_true(stats.pids >= 1);
    if (fx->env.v1[CGROUP_V1_MEMORY] != NULL || fx->env.layout == CGROUP_LAYOUT_V2) {
        assert_true(stats.has_memory);
        assert_true(stats.memory_usage_bytes > 0);
    }
    assert_int_equal(cgroup_read_oom_kills(&fx->env, fx->path, &oom_kills, &err), 0);
    assert_int_equal(oom_kills, 0);
    kill(sh, SIGKILL);
    waitpid(sh, &status, 0);
    assert_int_equal(cgroup_read_stats(&fx->env, fx->path, &stats, &err), 0);
    assert_true(stats.cpu_usage_ns > 0);
}

static void spawn_missing_program(void **state)
{
    struct job_fixture *fx = *state;
    const char *argv[] = {"hostcri-no-such-program", NULL};
    const char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    struct spawn_request request = {
        .argv = argv, .envp = envp, .stdio = {-1, -1, -1}, .mnt_ns_fd = -1, .cgroup_fd = -1};
    struct error err = ERROR_INIT;
    pid_t pid = 0;

    (void)fx;
    assert_int_equal(spawn_start(&request, &pid, NULL, &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
    assert_non_null(strstr(err.message, "hostcri-no-such-program"));
    assert_non_null(strstr(err.message, "/usr/bin:/bin"));
    error_clear(&err);

    argv[0] = "/nonexistent/prog";
    assert_int_equal(spawn_start(&request, &pid, NULL, &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
    error_clear(&err);

    argv[0] = "/tmp";
    assert_int_equal(spawn_start(&request, &pid, NULL, &err), -1);
    assert_int_equal(err.code, ERROR_PERMISSION_DENIED);
    error_clear(&err);
}

static void spawn_missing_cwd(void **state)
{
    const char *argv[] = {"true", NULL};
    const char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    struct spawn_request request = {.argv = argv,
                                    .envp = envp,
                                    .cwd = "/nonexistent-hostcri-dir",
                                    .stdio = {-1, -1, -1},
                                    .mnt_ns_fd = -1,
                                    .cgroup_fd = -1};
    struct error err = ERROR_INIT;
    pid_t pid = 0;

    assert_int_equal(spawn_start(&request, &pid, NULL, &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
    assert_non_null(strstr(err.message, "/nonexistent-hostcri-dir"));
    error_clear(&err);
}

/* PATH is searched in order, past missing directories; the user and directory are set. */
static void spawn_path_lookup_and_user(void **state)
{
    const char *argv[] = {"sh", "-c", "[ \"$(id -u):$(id -g)\" = 65534:65534 ] && [ $PWD = /tmp ]",
                          NULL};
    const char *envp[] = {"PATH=/nonexistent:/usr/bin:/bin", NULL};
    gid_t groups[] = {65534};
    struct spawn_request request = {.argv = argv,
                                    .envp = envp,
                                    .cwd = "/tmp",
                                    .set_user = true,
                                    .uid = 65534,
                                    .gid = 65534,
                                    .groups = groups,
                                    .n_groups = 1,
                                    .stdio = {-1, -1, -1},
                                    .mnt_ns_fd = -1,
                                    .cgroup_fd = -1};
    struct error err = ERROR_INIT;
    pid_t pid = 0;
    int status;

    if (geteuid() != 0)
        skip();
    assert_int_equal(spawn_start(&request, &pid, NULL, &err), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
}

static void *wait_on_pipe(void *data)
{
    char byte;

    return read(*(int *)data, &byte, 1) < 0 ? NULL : data;
}

/* clone3 from a process with threads (as the daemon has) still sets the user of the child. */
static void spawn_user_from_threaded_process(void **state)
{
    struct job_fixture *fx = *state;
    const char *argv[] = {"sh", "-c", "[ \"$(id -u):$(id -G)\" = \"65534:65534 4242\" ]", NULL};
    const char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    gid_t groups[] = {65534, 4242};
    int procs_fds[CGROUP_V1_COUNT + 1];
    int n_fds = spawn_open_procs_fds(&fx->env, fx->path, procs_fds, ARRAY_SIZE(procs_fds), NULL);
    _cleanup_close_ int cgroup_fd = cgroup_open_unified(&fx->env, fx->path, NULL);
    struct spawn_request request = {.argv = argv,
                                    .envp = envp,
                                    .set_user = true,
                                    .uid = 65534,
                                    .gid = 65534,
                                    .groups = groups,
                                    .n_groups = 2,
                                    .stdio = {-1, -1, -1},
                                    .mnt_ns_fd = -1,
                                    .cgroup_fd = cgroup_fd,
                                    .procs_fds = procs_fds,
                                    .n_procs_fds = (size_t)n_fds};
    struct error err = ERROR_INIT;
    int pipe_fds[2];
    pthread_t thread;
    pid_t pid = 0;
    int status;

    assert_true(n_fds > 0);
    assert_int_equal(pipe(pipe_fds), 0);
    assert_int_equal(pthread_create(&thread, NULL, wait_on_pipe, &pipe_fds[0]), 0);
    if (spawn_start(&request, &pid, NULL, &err) < 0)
        fail_msg("spawn_start: %s", err.message);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(write(pipe_fds[1], "x", 1), 1);
    assert_int_equal(pthread_join(thread, NULL), 0);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    for (int i = 0; i < n_fds; i++)
        close(procs_fds[i]);
}

/* Raising oom_score_adj works; lowering it below the current value needs CAP_SYS_RESOURCE. */
static void spawn_oom_score_adj(void **state)
{
    const char *argv[] = {"sh", "-c", "[ $(cat /proc/self/oom_score_adj) = 500 ]", NULL};
    const char *envp[] = {"PATH=/usr/bin:/bin", NULL};
    struct spawn_request request = {.argv = argv,
                                    .envp = envp,
                                    .stdio = {-1, -1, -1},
                                    .mnt_ns_fd = -1,
                                    .cgroup_fd = -1,
                                    .has_oom_score_adj = true,
                                    .oom_score_adj = 500};
    struct error err = ERROR_INIT;
    bool clamped = true;
    pid_t pid = 0;
    int status;

    assert_int_equal(spawn_start(&request, &pid, &clamped, &err), 0);
    assert_false(clamped);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);

    request.oom_score_adj = -1000;
    argv[2] = "true";
    assert_int_equal(spawn_start(&request, &pid, &clamped, &err), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    /* Whether lowering is allowed depends on CAP_SYS_RESOURCE; either way the start succeeds. */
    (void)clamped;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(kill_tree_hybrid, setup_job, teardown_job),
        cmocka_unit_test_setup_teardown(kill_tree_v1_freezer, setup_job, teardown_job),
        cmocka_unit_test_setup_teardown(kill_tree_v2_only, setup_v2_only, teardown_job),
        cmocka_unit_test_setup_teardown(kill_tree_v2_freezer, setup_job, teardown_job),
        cmocka_unit_test_setup_teardown(signal_each_member, setup_job, teardown_job),
        cmocka_unit_test_setup_teardown(stats_and_limits, setup_job, teardown_job),
        cmocka_unit_test_setup_teardown(spawn_missing_program, setup_job, teardown_job),
        cmocka_unit_test(spawn_missing_cwd),
        cmocka_unit_test(spawn_path_lookup_and_user),
        cmocka_unit_test(spawn_oom_score_adj),
        cmocka_unit_test_setup_teardown(spawn_user_from_threaded_process, setup_job, teardown_job),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
