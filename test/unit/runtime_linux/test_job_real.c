/*
 * The Linux job backend end to end on this machine: real cgroups under hostcri-test-<pid>, the
 * hostcri-monitor program from the build tree, mount namespaces and overlayfs. Needs root;
 * skips otherwise. Removes every cgroup and file it creates.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/job.h"
#include "runtime/linux/cgroup.h"

struct fixture {
    uv_loop_t loop;
    char dir[64];
    char *cgroup_parent;
    struct job_runtime *runtime;
    struct job_pod *pod;
    /* Filled by exit_cb. */
    int exits;
    struct job_exit_status status;
};

static void run(const char *command)
{
    assert_int_equal(system(command), 0);
}

static char *read_all(const char *path)
{
    FILE *file = fopen(path, "rb");
    char *data = xcalloc(1, 1 << 20);

    if (file == NULL)
        return data;
    assert_true(fread(data, 1, (1 << 20) - 1, file) < (1 << 20) - 1);
    fclose(file);
    return data;
}

static void write_file(const char *path, const char *text)
{
    FILE *file = fopen(path, "w");

    assert_non_null(file);
    fputs(text, file);
    fclose(file);
}

static int setup(void **state)
{
    struct fixture *fx = xcalloc(1, sizeof(*fx));
    const char *binary_dir = getenv("HOSTCRI_BINARY_DIR");
    _cleanup_free_ char *monitor = NULL;
    _cleanup_free_ char *state_dir = NULL;
    struct job_pod_spec pod_spec = {.sandbox_id = "sb1"};
    struct error err = ERROR_INIT;

    if (geteuid() != 0 || access("/sys/fs/cgroup", W_OK) != 0 || binary_dir == NULL) {
        free(fx);
        skip();
    }
    monitor = xasprintf("%s/runtime/linux/hostcri-monitor", binary_dir);
    strcpy(fx->dir, "/tmp/hostcri-job-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    state_dir = xasprintf("%s/state", fx->dir);
    fx->cgroup_parent = xasprintf("/hostcri-test-%d", (int)getpid());
    uv_loop_init(&fx->loop);
    {
        struct job_config config = {.state_dir = state_dir,
                                    .monitor_path = monitor,
                                    .default_cgroup_parent = fx->cgroup_parent,
                                    .leftover_grace_ms = 300};

        if (job_runtime_new(&fx->loop, &config, &fx->runtime, &err) < 0)
            fail_msg("job_runtime_new: %s", err.message);
    }
    if (job_pod_create(fx->runtime, &pod_spec, &fx->pod, &err) < 0)
        fail_msg("job_pod_create: %s", err.message);
    /* Reopening the pod, as after a daemon restart, keeps its cgroup and the record. */
    {
        _cleanup_free_ char *expected = xasprintf("%s/pod-sb1", fx->cgroup_parent);

        assert_string_equal(job_pod_cgroup(fx->pod), expected);
        job_pod_release(fx->pod);
        if (job_pod_open(fx->runtime, "sb1", &fx->pod, &err) < 0)
            fail_msg("job_pod_open: %s", err.message);
        assert_string_equal(job_pod_cgroup(fx->pod), expected);
    }
    *state = fx;
    return 0;
}

static void ignore_exit_cb(struct job_container *container, const struct job_exit_status *status,
                           void *data)
{
}

/* Kills and removes the containers a failed test left behind, so that its cgroups can go. */
static void remove_leftover_containers(struct fixture *fx)
{
    _cleanup_strv_ char **ids = NULL;

    assert_int_equal(job_runtime_list_containers(fx->runtime, &ids, NULL), 0);
    for (size_t i = 0; ids[i] != NULL; i++) {
        struct job_container *container = NULL;
        struct job_exit_status exited = {0};
        bool running = false;

        if (job_container_open(fx->runtime, ids[i], ignore_exit_cb, NULL, &container, &running,
                               &exited, NULL) < 0)
            continue;
        job_exit_status_clear(&exited);
        job_container_kill_all(container, NULL);
        for (int attempt = 0; attempt < 500; attempt++) {
            _cleanup_free_ int *pids = NULL;
            size_t n_pids = 0;

            if (job_container_pids(container, &pids, &n_pids, NULL) < 0 || n_pids == 0)
                break;
            usleep(10000);
        }
        job_container_remove(container, NULL);
        job_container_release(container);
    }
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    struct error err = ERROR_INIT;
    _cleanup_free_ char *command = xasprintf("rm -rf '%s'", fx->dir);
    _cleanup_free_ char *unified = xasprintf("/sys/fs/cgroup/unified%s", fx->cgroup_parent);
    _cleanup_free_ char *memory = xasprintf("/sys/fs/cgroup/memory%s", fx->cgroup_parent);

    remove_leftover_containers(fx);
    /* A monitor that reported a start failure may still be exiting; its cgroup must be empty
     * before job_runtime_free can remove it. */
    for (int i = 0; i < 500; i++) {
        _cleanup_free_ char *procs =
            xasprintf("/sys/fs/cgroup/unified%s/monitors/cgroup.procs", fx->cgroup_parent);
        _cleanup_free_ char *text = read_all(procs);

        if (text[0] == '\0')
            break;
        usleep(10000);
    }
    if (job_pod_remove(fx->pod, &err) < 0)
        fail_msg("job_pod_remove: %s", err.message);
    job_pod_release(fx->pod);
    job_runtime_free(fx->runtime);
    uv_run(&fx->loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&fx->loop), 0);
    /* Everything under the test parent was made by hostcri and is gone again. */
    assert_int_not_equal(access(unified, F_OK), 0);
    assert_int_not_equal(access(memory, F_OK), 0);
    job_exit_status_clear(&fx->status);
    run(command);
    free(fx->cgroup_parent);
    free(fx);
    return 0;
}

static void exit_cb(struct job_container *container, const struct job_exit_status *status,
                    void *data)
{
    struct fixture *fx = data;

    fx->exits++;
    job_exit_status_clear(&fx->status);
    fx->status = *status;
    fx->status.message = xstrdup_or_null(status->message);
}

static void guard_cb(uv_timer_t *timer)
{
    fail_msg("no exit notification from the job backend");
}

/* The outcome of the last start, filled by start_cb: the start and exit callbacks share their
 * data pointer, so the start's result lives here. */
static struct {
    int calls;
    int pid;
    struct error err;
} last_start;

static void start_cb(struct job_container *container, int init_pid, const struct error *err,
                     void *data)
{
    last_start.calls++;
    last_start.pid = init_pid;
    if (err != NULL)
        error_set(&last_start.err, err->code, "%s", err->message);
}

static void start_guard_cb(uv_timer_t *timer)
{
    fail_msg("no start notification from the job backend");
}

/*
 * Starts container and runs loop until its start callback: returns 0 with *pid, or -1 with
 * err, whether the start failed at once or from the loop. The callback never runs inside the
 * call.
 */
static int start_on_loop(uv_loop_t *loop, struct job_container *container,
                         const struct job_container_spec *spec, void *data, int *pid,
                         struct error *err)
{
    uv_timer_t guard;

    memset(&last_start, 0, sizeof(last_start));
    if (job_container_start(container, spec, start_cb, exit_cb, data, err) < 0)
        return -1;
    assert_int_equal(last_start.calls, 0);
    uv_timer_init(loop, &guard);
    uv_timer_start(&guard, start_guard_cb, 60000, 0);
    while (last_start.calls == 0)
        uv_run(loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(loop, UV_RUN_NOWAIT);
    assert_int_equal(last_start.calls, 1);
    *pid = last_start.pid;
    if (last_start.err.code != ERROR_OK) {
        if (err != NULL)
            error_move(err, &last_start.err);
        error_clear(&last_start.err);
        return -1;
    }
    return 0;
}

static int start_and_wait(struct fixture *fx, struct job_container *container,
                          const struct job_container_spec *spec, int *pid, struct error *err)
{
    return start_on_loop(&fx->loop, container, spec, fx, pid, err);
}

/* Runs the loop until exit_cb has run. */
static void wait_exit(struct fixture *fx)
{
    uv_timer_t guard;

    uv_timer_init(&fx->loop, &guard);
    uv_timer_start(&guard, guard_cb, 60000, 0);
    while (fx->exits == 0)
        uv_run(&fx->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    assert_int_equal(fx->exits, 1);
}

static struct job_container *create(struct fixture *fx, const char *id)
{
    struct job_container *container = NULL;
    struct error err = ERROR_INIT;

    if (job_container_create(fx->pod, id, &container, &err) < 0)
        fail_msg("job_container_create: %s", err.message);
    return container;
}

static void remove_container(struct fixture *fx, struct job_container *container)
{
    struct error err = ERROR_INIT;

    if (job_container_remove(container, &err) < 0)
        fail_msg("job_container_remove: %s", err.message);
    job_container_release(container);
}

static size_t count_pids(struct job_container *container)
{
    _cleanup_free_ int *pids = NULL;
    size_t n_pids = 0;

    assert_int_equal(job_container_pids(container, &pids, &n_pids, NULL), 0);
    return n_pids;
}

static size_t count_sleeps(struct job_container *container)
{
    _cleanup_free_ int *pids = NULL;
    size_t n_pids = 0;
    size_t sleeps = 0;

    assert_int_equal(job_container_pids(container, &pids, &n_pids, NULL), 0);
    for (size_t i = 0; i < n_pids; i++) {
        _cleanup_free_ char *path = xasprintf("/proc/%d/comm", pids[i]);
        _cleanup_free_ char *comm = read_all(path);

        sleeps += strcmp(comm, "sleep\n") == 0;
    }
    return sleeps;
}

static const char *const base_env[] = {"PATH=/usr/bin:/bin", NULL};

/* A process tree with setsid and double-forked children dies with the job; logs arrive. */
static void kill_all_process_tree(void **state)
{
    struct fixture *fx = *state;
    struct job_container *container = create(fx, "tree");
    _cleanup_free_ char *log_path = xasprintf("%s/logs/tree/0.log", fx->dir);
    _cleanup_free_ char *log = NULL;
    const char *argv[] = {"sh", "-c",
                          "echo out; echo err >&2; printf partial; sleep 300 & setsid sleep 301 & "
                          "(sleep 302 &); exec sleep 303",
                          NULL};
    struct job_container_spec spec = {
        .container_id = "tree", .argv = argv, .env = base_env, .log_path = log_path};
    struct error err = ERROR_INIT;
    int pid = 0;

    if (start_and_wait(fx, container, &spec, &pid, &err) < 0)
        fail_msg("job_container_start: %s", err.message);
    assert_true(pid > 0);
    assert_int_equal(job_container_init_pid(container), pid);
    /* The subshell of the double fork may still be there; wait for the four sleeps. */
    for (int i = 0; i < 500 && count_sleeps(container) < 4; i++)
        usleep(10000);
    assert_int_equal(count_sleeps(container), 4);

    assert_int_equal(job_container_kill_all(container, &err), 0);
    wait_exit(fx);
    assert_int_equal(fx->status.reason, JOB_EXIT_COMPLETED);
    assert_int_equal(fx->status.signal, SIGKILL);
    assert_int_equal(fx->status.exit_code, 137);
    assert_true(fx->status.finished_at_ns >= fx->status.started_at_ns);
    assert_int_equal(count_pids(container), 0);
    assert_int_not_equal(kill(pid, 0), 0);

    log = read_all(log_path);
    assert_non_null(strstr(log, " stdout F out\n"));
    assert_non_null(strstr(log, " stderr F err\n"));
    assert_non_null(strstr(log, " stdout F partial\n"));
    remove_container(fx, container);
}

/* When init exits, the processes left get SIGTERM and then SIGKILL after the grace period. */
static void leftovers_killed_after_init(void **state)
{
    struct fixture *fx = *state;
    struct job_container *container = create(fx, "leftover");
    const char *argv[] = {"sh", "-c", "sh -c 'trap \"\" TERM; sleep 300' & sleep 0.2; exit 3",
                          NULL};
    struct job_container_spec spec = {.container_id = "leftover", .argv = argv, .env = base_env};
    struct error err = ERROR_INIT;
    int pid = 0;

    if (start_and_wait(fx, container, &spec, &pid, &err) < 0)
        fail_msg("job_container_start: %s", err.message);
    wait_exit(fx);
    assert_int_equal(fx->status.exit_code, 3);
    assert_int_equal(fx->status.signal, 0);
    assert_int_equal(count_pids(container), 0);
    remove_container(fx, container);
}

static void start_error(struct fixture *fx, const char *id, struct job_container_spec *spec,
                        const char *expected)
{
    struct job_container *container = create(fx, id);
    _cleanup_free_ char *exit_path = xasprintf("%s/state/containers/%s/exit", fx->dir, id);
    struct error err = ERROR_INIT;
    int pid = 0;

    assert_int_equal(start_and_wait(fx, container, spec, &pid, &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
    assert_non_null(strstr(err.message, expected));
    error_clear(&err);
    assert_int_equal(fx->exits, 0);
    /* The monitor also leaves the failure in the exit file for a restarted daemon. */
    {
        _cleanup_free_ char *text = read_all(exit_path);

        assert_non_null(strstr(text, "reason=start_error"));
    }
    remove_container(fx, container);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    assert_int_equal(fx->exits, 0);
}

/* A container released while its start is pending never gets the start callback; its monitor
 * keeps running (the teardown kills and removes it). */
static void release_cancels_pending_start(void **state)
{
    struct fixture *fx = *state;
    struct job_container *container = create(fx, "released");
    const char *argv[] = {"sleep", "300", NULL};
    struct job_container_spec spec = {.container_id = "released", .argv = argv, .env = base_env};
    struct error err = ERROR_INIT;

    memset(&last_start, 0, sizeof(last_start));
    if (job_container_start(container, &spec, start_cb, exit_cb, fx, &err) < 0)
        fail_msg("job_container_start: %s", err.message);
    assert_int_equal(job_container_start(container, &spec, start_cb, exit_cb, fx, &err), -1);
    assert_int_equal(err.code, ERROR_FAILED_PRECONDITION);
    error_clear(&err);
    job_container_release(container);
    for (int i = 0; i < 50; i++) {
        usleep(10000);
        uv_run(&fx->loop, UV_RUN_NOWAIT);
    }
    assert_int_equal(last_start.calls, 0);
    assert_int_equal(fx->exits, 0);
}

static void missing_program_fails_start(void **state)
{
    const char *argv[] = {"hostcri-no-such-program", "x", NULL};
    struct job_container_spec spec = {.container_id = "missing", .argv = argv, .env = base_env};

    start_error(*state, "missing", &spec, "\"hostcri-no-such-program\" not found in PATH");
}

static void unknown_user_fails_start(void **state)
{
    const char *argv[] = {"true", NULL};
    struct job_container_spec spec = {.container_id = "nouser",
                                      .argv = argv,
                                      .env = base_env,
                                      .user = {.username = "hostcri-no-such-user"}};

    start_error(*state, "nouser", &spec, "user \"hostcri-no-such-user\" not found in /etc/passwd");
}

/* The rootfs is an overlay of the layers in a private namespace; volumes are bound into it. */
static void overlay_rootfs_and_volume(void **state)
{
    struct fixture *fx = *state;
    struct job_container *container = create(fx, "rootfs");
    _cleanup_free_ char *setup_command = xasprintf(
        "cd '%s' && mkdir -p base top vol ctr && echo base > base/hello && echo base > base/keep "
        "&& echo top > top/hello && echo volume > vol/data",
        fx->dir);
    _cleanup_free_ char *base = xasprintf("%s/base", fx->dir);
    _cleanup_free_ char *top = xasprintf("%s/top", fx->dir);
    _cleanup_free_ char *container_dir = xasprintf("%s/ctr", fx->dir);
    _cleanup_free_ char *mount_point = xasprintf("%s/hpc", fx->dir);
    _cleanup_free_ char *volume = xasprintf("%s/vol", fx->dir);
    _cleanup_free_ char *volume_target = xasprintf("%s/mnt/volume", fx->dir);
    _cleanup_free_ char *log_path = xasprintf("%s/rootfs.log", fx->dir);
    _cleanup_free_ char *upper_file = xasprintf("%s/ctr/upper/written", fx->dir);
    _cleanup_free_ char *script =
        xasprintf("cat hello keep '%s/data' && echo new > written && pwd", volume_target);
    _cleanup_free_ char *log = NULL;
    _cleanup_free_ char *mountinfo = NULL;
    _cleanup_free_ char *expected_pwd = xasprintf(" stdout F %s\n", mount_point);
    const char *layers[] = {base, top};
    const char *argv[] = {"sh", "-c", script, NULL};
    struct job_mount mounts[] = {{.host_path = volume,
                                  .container_path = volume_target,
                                  .readonly = true,
                                  .propagation = JOB_PROPAGATION_HOST_TO_CONTAINER}};
    struct job_container_spec spec = {.container_id = "rootfs",
                                      .argv = argv,
                                      .env = base_env,
                                      .rootfs = {.layers = layers,
                                                 .n_layers = 2,
                                                 .container_dir = container_dir,
                                                 .mount_point = mount_point},
                                      .mounts = mounts,
                                      .n_mounts = 1,
                                      .log_path = log_path};
    struct error err = ERROR_INIT;
    int pid = 0;

    run(setup_command);
    if (start_and_wait(fx, container, &spec, &pid, &err) < 0)
        fail_msg("job_container_start: %s", err.message);
    wait_exit(fx);
    log = read_all(log_path);
    assert_int_equal(fx->status.exit_code, 0);
    assert_non_null(strstr(log, " stdout F top\n"));
    assert_non_null(strstr(log, " stdout F base\n"));
    assert_non_null(strstr(log, " stdout F volume\n"));
    assert_non_null(strstr(log, expected_pwd));
    /* Writes land in the container's upper directory; the host never saw the mounts. */
    assert_int_equal(access(upper_file, F_OK), 0);
    mountinfo = read_all("/proc/self/mountinfo");
    assert_null(strstr(mountinfo, mount_point));
    remove_container(fx, container);
}

/* A released handle (a daemon restart) is found again through the state directory. */
static void reopen_running_container(void **state)
{
    struct fixture *fx = *state;
    struct job_container *container = create(fx, "reopen");
    const char *argv[] = {"sleep", "300", NULL};
    struct job_container_spec spec = {.container_id = "reopen", .argv = argv, .env = base_env};
    struct job_exit_status exited = {0};
    struct error err = ERROR_INIT;
    _cleanup_strv_ char **ids = NULL;
    bool running = false;
    int pid = 0;

    if (start_and_wait(fx, container, &spec, &pid, &err) < 0)
        fail_msg("job_container_start: %s", err.message);
    job_container_release(container);
    uv_run(&fx->loop, UV_RUN_NOWAIT);

    assert_int_equal(job_runtime_list_containers(fx->runtime, &ids, &err), 0);
    assert_int_equal(strv_length(ids), 1);
    assert_string_equal(ids[0], "reopen");
    if (job_container_open(fx->runtime, "reopen", exit_cb, fx, &container, &running, &exited,
                           &err) < 0)
        fail_msg("job_container_open: %s", err.message);
    assert_true(running);
    assert_int_equal(job_container_init_pid(container), pid);
    assert_int_equal(job_container_signal(container, SIGTERM, &err), 0);
    wait_exit(fx);
    assert_int_equal(fx->status.exit_code, 143);
    assert_int_equal(fx->status.signal, SIGTERM);
    assert_int_equal(job_container_signal(container, SIGTERM, &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
    error_clear(&err);
    remove_container(fx, container);
}

/*
 * The monitor outlives the daemon: a child process plays the daemon, starts a container and
 * exits without any cleanup; this process then finds the container still running.
 */
static void container_survives_daemon_exit(void **state)
{
    struct fixture *fx = *state;
    _cleanup_free_ char *state_dir = xasprintf("%s/state", fx->dir);
    _cleanup_free_ char *monitor =
        xasprintf("%s/runtime/linux/hostcri-monitor", getenv("HOSTCRI_BINARY_DIR"));
    struct job_container *container = NULL;
    struct job_exit_status exited = {0};
    struct error err = ERROR_INIT;
    bool running = false;
    int status = 0;
    pid_t daemon = fork();

    assert_true(daemon >= 0);
    if (daemon == 0) {
        const char *argv[] = {"sleep", "300", NULL};
        struct job_container_spec spec = {
            .container_id = "survivor", .argv = argv, .env = base_env};
        struct job_config config = {.state_dir = state_dir,
                                    .monitor_path = monitor,
                                    .default_cgroup_parent = fx->cgroup_parent};
        struct job_pod_spec pod_spec = {.sandbox_id = "sb1"};
        struct job_runtime *runtime = NULL;
        struct job_pod *pod = NULL;
        uv_loop_t loop;
        int pid = 0;

        uv_loop_init(&loop);
        if (job_runtime_new(&loop, &config, &runtime, NULL) < 0 ||
            job_pod_create(runtime, &pod_spec, &pod, NULL) < 0 ||
            job_container_create(pod, "survivor", &container, NULL) < 0 ||
            start_on_loop(&loop, container, &spec, NULL, &pid, NULL) < 0)
            _exit(1);
        _exit(0);
    }
    assert_int_equal(waitpid(daemon, &status, 0), daemon);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);

    if (job_container_open(fx->runtime, "survivor", exit_cb, fx, &container, &running, &exited,
                           &err) < 0)
        fail_msg("job_container_open: %s", err.message);
    assert_true(running);
    assert_true(job_container_init_pid(container) > 0);
    assert_int_equal(kill(job_container_init_pid(container), 0), 0);
    assert_int_equal(job_container_kill_all(container, &err), 0);
    wait_exit(fx);
    assert_int_equal(fx->status.exit_code, 137);
    remove_container(fx, container);
}

/* After a reboot the monitor is gone and left no exit file: the reason is Unknown. */
static void reopen_after_reboot_unknown(void **state)
{
    struct fixture *fx = *state;
    struct job_container *container = create(fx, "rebooted");
    _cleanup_free_ char *pid_file = xasprintf("%s/state/containers/rebooted/monitor.pid", fx->dir);
    struct job_exit_status exited = {0};
    struct error err = ERROR_INIT;
    bool running = true;

    job_container_release(container);
    /* Before any start, the container is reported as never started, not as exited. */
    if (job_container_open(fx->runtime, "rebooted", exit_cb, fx, &container, &running, &exited,
                           &err) < 0)
        fail_msg("job_container_open: %s", err.message);
    assert_false(running);
    assert_int_equal(exited.reason, JOB_EXIT_NOT_STARTED);
    job_exit_status_clear(&exited);
    job_container_release(container);
    /* A pid that exists but with another start time, as after a reboot. */
    write_file(pid_file, "1 12345\n");
    if (job_container_open(fx->runtime, "rebooted", exit_cb, fx, &container, &running, &exited,
                           &err) < 0)
        fail_msg("job_container_open: %s", err.message);
    assert_false(running);
    assert_int_equal(exited.reason, JOB_EXIT_UNKNOWN);
    assert_non_null(exited.message);
    job_exit_status_clear(&exited);
    remove_container(fx, container);

    assert_int_equal(
        job_container_open(fx->runtime, "never", exit_cb, fx, &container, &running, &exited, &err),
        -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
    error_clear(&err);
}

/* A memory limit that the container exceeds gives reason OOMKilled. */
static void memory_limit_oom_killed(void **state)
{
    struct fixture *fx = *state;
    struct job_container *container = create(fx, "oom");
    const char *argv[] = {"sh", "-c", "head -c 300000000 /dev/zero | tail -n 1 > /dev/null", NULL};
    struct job_container_spec spec = {.container_id = "oom",
                                      .argv = argv,
                                      .env = base_env,
                                      .resources = {.memory_limit_bytes = 32 * 1024 * 1024}};
    struct job_stats stats;
    struct error err = ERROR_INIT;
    int pid = 0;

    if (start_and_wait(fx, container, &spec, &pid, &err) < 0)
        fail_msg("job_container_start: %s", err.message);
    assert_int_equal(job_container_stats(container, &stats, &err), 0);
    wait_exit(fx);
    assert_int_equal(fx->status.reason, JOB_EXIT_OOM_KILLED);
    assert_int_not_equal(fx->status.exit_code, 0);
    remove_container(fx, container);
}

static bool file_contains(const char *path, const char *text)
{
    _cleanup_free_ char *data = read_all(path);

    return strstr(data, text) != NULL;
}

/* After the kubelet renames the log, ReopenContainerLog makes the monitor write a new one. */
static void reopen_log_after_rotation(void **state)
{
    struct fixture *fx = *state;
    struct job_container *container = create(fx, "rotate");
    _cleanup_free_ char *log_path = xasprintf("%s/rotate.log", fx->dir);
    _cleanup_free_ char *rotated = xasprintf("%s/rotate.log.1", fx->dir);
    const char *argv[] = {"sh", "-c", "while :; do echo tick; sleep 0.02; done", NULL};
    struct job_container_spec spec = {
        .container_id = "rotate", .argv = argv, .env = base_env, .log_path = log_path};
    struct error err = ERROR_INIT;
    int pid = 0;

    if (start_and_wait(fx, container, &spec, &pid, &err) < 0)
        fail_msg("job_container_start: %s", err.message);
    for (int i = 0; i < 500 && !file_contains(log_path, "F tick"); i++)
        usleep(10000);
    assert_true(file_contains(log_path, "F tick"));
    assert_int_equal(rename(log_path, rotated), 0);
    assert_int_equal(job_container_reopen_log(container, &err), 0);
    for (int i = 0; i < 500 && !file_contains(log_path, "F tick"); i++)
        usleep(10000);
    assert_true(file_contains(log_path, "F tick"));
    assert_int_equal(job_container_kill_all(container, &err), 0);
    wait_exit(fx);
    assert_int_equal(job_container_reopen_log(container, &err), -1);
    assert_int_equal(err.code, ERROR_FAILED_PRECONDITION);
    error_clear(&err);
    remove_container(fx, container);
}

/* With a tty, init's output comes from a terminal, and its CRLF line ends become plain lines. */
static void tty_container_output(void **state)
{
    struct fixture *fx = *state;
    struct job_container *container = create(fx, "tty");
    _cleanup_free_ char *log_path = xasprintf("%s/tty.log", fx->dir);
    _cleanup_free_ char *log = NULL;
    const char *argv[] = {"sh", "-c", "tty; echo to-stderr >&2", NULL};
    struct job_container_spec spec = {
        .container_id = "tty", .argv = argv, .env = base_env, .log_path = log_path, .tty = true};
    struct error err = ERROR_INIT;
    int pid = 0;

    if (start_and_wait(fx, container, &spec, &pid, &err) < 0)
        fail_msg("job_container_start: %s", err.message);
    wait_exit(fx);
    assert_int_equal(fx->status.exit_code, 0);
    log = read_all(log_path);
    assert_non_null(strstr(log, " stdout F /dev/pts/"));
    assert_non_null(strstr(log, " stdout F to-stderr\n"));
    assert_null(strstr(log, "\r"));
    remove_container(fx, container);
}

/* The systemd driver: slice names expand to nested directories, containers are scopes. */
/* On a pure v2 layout (the unified mount used alone) the monitor starts in its cgroup through
 * clone3(CLONE_INTO_CGROUP), and the init process lands in the container's cgroup. */
static void pure_v2_layout_start(void **state)
{
    struct fixture *fx = *state;
    _cleanup_free_ char *state_dir = xasprintf("%s/v2-state", fx->dir);
    _cleanup_free_ char *monitor =
        xasprintf("%s/runtime/linux/hostcri-monitor", getenv("HOSTCRI_BINARY_DIR"));
    _cleanup_free_ char *parent = xasprintf("/hostcri-v2test-%d", (int)getpid());
    _cleanup_free_ char *parent_dir = xasprintf("/sys/fs/cgroup/unified%s", parent);
    _cleanup_free_ char *monitor_pid_path = xasprintf("%s/containers/v2/monitor.pid", state_dir);
    _cleanup_free_ char *expected_monitor = xasprintf("0::%s/monitors\n", parent);
    _cleanup_free_ char *expected_init = xasprintf("0::%s/pod-v2-pod/v2\n", parent);
    _cleanup_free_ char *log_path = xasprintf("%s/v2.log", fx->dir);
    const char *argv[] = {"sh", "-c", "cat /proc/self/cgroup; exec sleep 300", NULL};
    struct job_config config = {.state_dir = state_dir,
                                .monitor_path = monitor,
                                .cgroup_root = "/sys/fs/cgroup/unified",
                                .default_cgroup_parent = parent};
    struct job_pod_spec pod_spec = {.sandbox_id = "v2-pod"};
    struct job_container_spec spec = {
        .container_id = "v2", .argv = argv, .env = base_env, .log_path = log_path};
    struct job_runtime *runtime = NULL;
    struct job_pod *pod = NULL;
    struct job_container *container = NULL;
    struct error err = ERROR_INIT;
    int pid = 0;

    if (access("/sys/fs/cgroup/unified/cgroup.controllers", F_OK) != 0)
        skip();
    if (job_runtime_new(&fx->loop, &config, &runtime, &err) < 0)
        fail_msg("job_runtime_new: %s", err.message);
    assert_string_equal(job_runtime_layout_name(runtime), "cgroup v2");
    if (job_pod_create(runtime, &pod_spec, &pod, &err) < 0)
        fail_msg("job_pod_create: %s", err.message);
    if (job_container_create(pod, "v2", &container, &err) < 0)
        fail_msg("job_container_create: %s", err.message);
    if (start_and_wait(fx, container, &spec, &pid, &err) < 0)
        fail_msg("job_container_start: %s", err.message);
    {
        _cleanup_free_ char *monitor_pid = read_all(monitor_pid_path);
        _cleanup_free_ char *cgroup_path = xasprintf("/proc/%d/cgroup", atoi(monitor_pid));
        _cleanup_free_ char *monitor_cgroup = read_all(cgroup_path);

        /* The v2 line; the v1 lines stay the daemon's, as this runtime sees no v1. */
        assert_non_null(strstr(monitor_cgroup, expected_monitor));
    }
    for (int i = 0; i < 500; i++) {
        _cleanup_free_ char *log = read_all(log_path);

        if (strstr(log, "0::") != NULL)
            break;
        usleep(10000);
    }
    {
        _cleanup_free_ char *log = read_all(log_path);
        _cleanup_free_ char *line = xasprintf(" stdout F %s", expected_init);

        assert_non_null(strstr(log, line));
    }
    assert_int_equal(job_container_kill_all(container, &err), 0);
    wait_exit(fx);
    remove_container(fx, container);
    if (job_pod_remove(pod, &err) < 0)
        fail_msg("job_pod_remove: %s", err.message);
    job_pod_release(pod);
    for (int i = 0; i < 500; i++) {
        _cleanup_free_ char *procs = xasprintf("%s/monitors/cgroup.procs", parent_dir);
        _cleanup_free_ char *text = read_all(procs);

        if (text[0] == '\0')
            break;
        usleep(10000);
    }
    job_runtime_free(runtime);
    assert_int_not_equal(access(parent_dir, F_OK), 0);
}

static void systemd_driver_slices(void **state)
{
    struct fixture *fx = *state;
    _cleanup_free_ char *state_dir = xasprintf("%s/systemd-state", fx->dir);
    _cleanup_free_ char *monitor =
        xasprintf("%s/runtime/linux/hostcri-monitor", getenv("HOSTCRI_BINARY_DIR"));
    _cleanup_free_ char *top = xasprintf("hostcritest%d.slice", (int)getpid());
    _cleanup_free_ char *pod_slice =
        xasprintf("hostcritest%d-besteffort-pod1.slice", (int)getpid());
    _cleanup_free_ char *expected =
        xasprintf("0::/hostcritest%1$d.slice/hostcritest%1$d-besteffort.slice/"
                  "hostcritest%1$d-besteffort-pod1.slice/hostcri-sd.scope\n",
                  (int)getpid());
    _cleanup_free_ char *top_dir = xasprintf("/sys/fs/cgroup/unified/%s", top);
    _cleanup_free_ char *log_path = xasprintf("%s/sd.log", fx->dir);
    _cleanup_free_ char *log = NULL;
    const char *argv[] = {"cat", "/proc/self/cgroup", NULL};
    struct job_config config = {.state_dir = state_dir,
                                .monitor_path = monitor,
                                .cgroup_driver = JOB_CGROUP_DRIVER_SYSTEMD,
                                .default_cgroup_parent = top};
    struct job_pod_spec pod_spec = {.sandbox_id = "sd-pod", .cgroup_parent = pod_slice};
    struct job_container_spec spec = {
        .container_id = "sd", .argv = argv, .env = base_env, .log_path = log_path};
    struct job_runtime *runtime = NULL;
    struct job_pod *pod = NULL;
    struct job_container *container = NULL;
    struct error err = ERROR_INIT;
    int pid = 0;

    if (access("/sys/fs/cgroup/unified", F_OK) != 0)
        skip();
    if (job_runtime_new(&fx->loop, &config, &runtime, &err) < 0)
        fail_msg("job_runtime_new: %s", err.message);
    if (job_pod_create(runtime, &pod_spec, &pod, &err) < 0)
        fail_msg("job_pod_create: %s", err.message);
    assert_string_equal(job_pod_cgroup(pod), pod_slice);
    if (job_container_create(pod, "sd", &container, &err) < 0)
        fail_msg("job_container_create: %s", err.message);
    if (start_and_wait(fx, container, &spec, &pid, &err) < 0)
        fail_msg("job_container_start: %s", err.message);
    wait_exit(fx);
    log = read_all(log_path);
    assert_int_equal(fx->status.exit_code, 0);
    assert_non_null(strstr(log, expected));
    remove_container(fx, container);
    if (job_pod_remove(pod, &err) < 0)
        fail_msg("job_pod_remove: %s", err.message);
    job_pod_release(pod);
    /* The monitor's cgroup goes with the runtime once the monitor has exited. */
    for (int i = 0; i < 500; i++) {
        _cleanup_free_ char *procs = xasprintf("%s/hostcri-monitors.scope/cgroup.procs", top_dir);
        _cleanup_free_ char *text = read_all(procs);

        if (text[0] == '\0')
            break;
        usleep(10000);
    }
    job_runtime_free(runtime);
    assert_int_not_equal(access(top_dir, F_OK), 0);
}

static void send_attach_frame(int fd, int type, const void *data, size_t length)
{
    unsigned char header[JOB_ATTACH_HEADER_SIZE] = {
        (unsigned char)type, 0, 0, (unsigned char)(length >> 8), (unsigned char)length};

    assert_int_equal(write(fd, header, sizeof(header)), sizeof(header));
    if (length > 0)
        assert_int_equal(write(fd, data, length), (ssize_t)length);
}

/* Reads frames from an attach connection until text appeared in a frame of type, or the
 * connection ends. Returns whether it appeared. */
static bool read_attach_until(int fd, int type, const char *text)
{
    _cleanup_free_ char *seen = xcalloc(1, 1 << 16);
    size_t seen_length = 0;
    unsigned char header[JOB_ATTACH_HEADER_SIZE];

    while (read(fd, header, sizeof(header)) == (ssize_t)sizeof(header)) {
        size_t length = (size_t)header[3] << 8 | header[4];
        char payload[JOB_ATTACH_MAX_PAYLOAD];
        size_t done = 0;

        assert_true(length <= sizeof(payload));
        while (done < length) {
            ssize_t n = read(fd, payload + done, length - done);

            assert_true(n > 0);
            done += (size_t)n;
        }
        if (header[0] != type || seen_length + length >= (1 << 16) - 1)
            continue;
        memcpy(seen + seen_length, payload, length);
        seen_length += length;
        if (strstr(seen, text) != NULL)
            return true;
    }
    return false;
}

/* Attach: output arrives as frames, stdin reaches init, CLOSE_STDIN gives it end of file. */
static void attach_stdin_and_output(void **state)
{
    struct fixture *fx = *state;
    struct job_container *container = create(fx, "attach");
    const char *argv[] = {"sh", "-c", "read line; echo got:$line; cat; echo bye >&2", NULL};
    struct job_container_spec spec = {
        .container_id = "attach", .argv = argv, .env = base_env, .stdin_open = true};
    struct error err = ERROR_INIT;
    uv_os_fd_t fd = -1;
    int pid = 0;

    if (start_and_wait(fx, container, &spec, &pid, &err) < 0)
        fail_msg("job_container_start: %s", err.message);
    if (job_container_attach(container, &fd, &err) < 0)
        fail_msg("job_container_attach: %s", err.message);
    send_attach_frame(fd, JOB_ATTACH_STDIN, "hello\n", 6);
    assert_true(read_attach_until(fd, JOB_ATTACH_STDOUT, "got:hello\n"));
    send_attach_frame(fd, JOB_ATTACH_CLOSE_STDIN, NULL, 0);
    assert_true(read_attach_until(fd, JOB_ATTACH_STDERR, "bye\n"));
    close(fd);
    wait_exit(fx);
    assert_int_equal(fx->status.exit_code, 0);
    assert_int_equal(job_container_attach(container, &fd, &err), -1);
    assert_int_equal(err.code, ERROR_FAILED_PRECONDITION);
    error_clear(&err);
    remove_container(fx, container);
}

/* Input larger than the pipe is buffered by the monitor and arrives complete, then EOF. */
static void attach_large_stdin(void **state)
{
    struct fixture *fx = *state;
    struct job_container *container = create(fx, "bigin");
    const char *argv[] = {"sh", "-c", "sleep 0.2; wc -c", NULL};
    struct job_container_spec spec = {
        .container_id = "bigin", .argv = argv, .env = base_env, .stdin_open = true};
    _cleanup_free_ char *chunk = xmalloc(30000);
    struct error err = ERROR_INIT;
    uv_os_fd_t fd = -1;
    int pid = 0;

    memset(chunk, 'i', 30000);
    if (start_and_wait(fx, container, &spec, &pid, &err) < 0)
        fail_msg("job_container_start: %s", err.message);
    if (job_container_attach(container, &fd, &err) < 0)
        fail_msg("job_container_attach: %s", err.message);
    for (int i = 0; i < 10; i++)
        send_attach_frame(fd, JOB_ATTACH_STDIN, chunk, 30000);
    send_attach_frame(fd, JOB_ATTACH_CLOSE_STDIN, NULL, 0);
    assert_true(read_attach_until(fd, JOB_ATTACH_STDOUT, "300000\n"));
    close(fd);
    wait_exit(fx);
    assert_int_equal(fx->status.exit_code, 0);
    remove_container(fx, container);
}

/* With a tty, RESIZE changes the terminal size that init sees. */
static void attach_resize_tty(void **state)
{
    struct fixture *fx = *state;
    struct job_container *container = create(fx, "resize");
    const char *argv[] = {"sh", "-c", "read x; stty size", NULL};
    const unsigned char size[] = {0, 33, 0, 77};
    struct job_container_spec spec = {
        .container_id = "resize", .argv = argv, .env = base_env, .stdin_open = true, .tty = true};
    struct error err = ERROR_INIT;
    uv_os_fd_t fd = -1;
    int pid = 0;

    if (start_and_wait(fx, container, &spec, &pid, &err) < 0)
        fail_msg("job_container_start: %s", err.message);
    if (job_container_attach(container, &fd, &err) < 0)
        fail_msg("job_container_attach: %s", err.message);
    send_attach_frame(fd, JOB_ATTACH_RESIZE, size, sizeof(size));
    send_attach_frame(fd, JOB_ATTACH_STDIN, "go\n", 3);
    assert_true(read_attach_until(fd, JOB_ATTACH_STDOUT, "33 77"));
    close(fd);
    wait_exit(fx);
    assert_int_equal(fx->status.exit_code, 0);
    remove_container(fx, container);
}

struct exec_result {
    int exits;
    int exit_code;
    int signal;
};

static void exec_exit_cb(struct job_exec *exec, int exit_code, int signal, void *data)
{
    struct exec_result *result = data;

    result->exits++;
    result->exit_code = exit_code;
    result->signal = signal;
}

static void wait_exec(struct fixture *fx, struct exec_result *result)
{
    uv_timer_t guard;

    uv_timer_init(&fx->loop, &guard);
    uv_timer_start(&guard, guard_cb, 60000, 0);
    while (result->exits == 0)
        uv_run(&fx->loop, UV_RUN_ONCE);
    uv_close((uv_handle_t *)&guard, NULL);
    uv_run(&fx->loop, UV_RUN_NOWAIT);
    assert_int_equal(result->exits, 1);
}

static char *read_fd(int fd)
{
    char *data = xcalloc(1, 4096);
    size_t length = 0;
    ssize_t n;

    while (length < 4095 && (n = read(fd, data + length, 4095 - length)) > 0)
        length += (size_t)n;
    close(fd);
    return data;
}

/* Exec runs in the container's mount namespace, cgroup, user and working directory. */
static void exec_in_running_container(void **state)
{
    struct fixture *fx = *state;
    struct job_container *container = create(fx, "execs");
    _cleanup_free_ char *setup_command =
        xasprintf("cd '%s' && mkdir -p layer ctr && echo in-rootfs > layer/hello", fx->dir);
    _cleanup_free_ char *layer = xasprintf("%s/layer", fx->dir);
    _cleanup_free_ char *container_dir = xasprintf("%s/ctr", fx->dir);
    _cleanup_free_ char *mount_point = xasprintf("%s/hpc", fx->dir);
    _cleanup_free_ char *expected_cgroup = NULL;
    const char *layers[] = {layer};
    const char *argv[] = {"sleep", "300", NULL};
    const char *cat_argv[] = {"sh", "-c", "cat hello; id -u; cat /proc/self/cgroup; echo e >&2",
                              NULL};
    const char *tty_argv[] = {"sh", "-c", "tty; stty size", NULL};
    const char *missing_argv[] = {"hostcri-no-such-program", NULL};
    struct job_container_spec spec = {
        .container_id = "execs",
        .argv = argv,
        .env = base_env,
        .user = {.has_uid = true, .uid = 65534, .has_gid = true, .gid = 65534},
        .rootfs = {.layers = layers,
                   .n_layers = 1,
                   .container_dir = container_dir,
                   .mount_point = mount_point}};
    struct job_exec_spec exec_spec = {.argv = cat_argv};
    struct job_exec_io io;
    struct exec_result result = {0};
    struct job_exec *exec = NULL;
    struct error err = ERROR_INIT;
    _cleanup_free_ char *out = NULL;
    _cleanup_free_ char *errors = NULL;
    _cleanup_free_ char *terminal = NULL;
    int pid = 0;

    run(setup_command);
    if (start_and_wait(fx, container, &spec, &pid, &err) < 0)
        fail_msg("job_container_start: %s", err.message);

    if (job_exec_start(container, &exec_spec, exec_exit_cb, &result, &exec, &io, &err) < 0)
        fail_msg("job_exec_start: %s", err.message);
    assert_true(job_exec_pid(exec) > 0);
    assert_int_equal(io.stdin_fd, -1);
    wait_exec(fx, &result);
    assert_int_equal(result.exit_code, 0);
    out = read_fd(io.stdout_fd);
    errors = read_fd(io.stderr_fd);
    expected_cgroup = xasprintf("%s/pod-sb1/execs\n", fx->cgroup_parent);
    assert_non_null(strstr(out, "in-rootfs\n65534\n"));
    assert_non_null(strstr(out, expected_cgroup));
    assert_string_equal(errors, "e\n");
    assert_int_equal(job_exec_resize(exec, 30, 100, &err), -1);
    assert_int_equal(err.code, ERROR_FAILED_PRECONDITION);
    error_clear(&err);
    job_exec_release(exec);

    exec_spec = (struct job_exec_spec){.argv = tty_argv, .tty = true, .rows = 40, .cols = 132};
    result = (struct exec_result){0};
    if (job_exec_start(container, &exec_spec, exec_exit_cb, &result, &exec, &io, &err) < 0)
        fail_msg("job_exec_start with a tty: %s", err.message);
    assert_int_equal(io.stderr_fd, -1);
    wait_exec(fx, &result);
    assert_int_equal(result.exit_code, 0);
    /* read_fd stops at the EIO that follows the last output of a closed terminal. */
    terminal = read_fd(io.stdout_fd);
    assert_non_null(strstr(terminal, "/dev/pts/"));
    assert_non_null(strstr(terminal, "40 132"));
    job_exec_release(exec);

    exec_spec = (struct job_exec_spec){.argv = missing_argv};
    assert_int_equal(job_exec_start(container, &exec_spec, exec_exit_cb, &result, &exec, &io, &err),
                     -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
    error_clear(&err);

    assert_int_equal(job_container_kill_all(container, &err), 0);
    wait_exit(fx);
    exec_spec = (struct job_exec_spec){.argv = cat_argv};
    assert_int_equal(job_exec_start(container, &exec_spec, exec_exit_cb, &result, &exec, &io, &err),
                     -1);
    assert_int_equal(err.code, ERROR_FAILED_PRECONDITION);
    error_clear(&err);
    remove_container(fx, container);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(kill_all_process_tree, setup, teardown),
        cmocka_unit_test_setup_teardown(leftovers_killed_after_init, setup, teardown),
        cmocka_unit_test_setup_teardown(missing_program_fails_start, setup, teardown),
        cmocka_unit_test_setup_teardown(release_cancels_pending_start, setup, teardown),
        cmocka_unit_test_setup_teardown(unknown_user_fails_start, setup, teardown),
        cmocka_unit_test_setup_teardown(overlay_rootfs_and_volume, setup, teardown),
        cmocka_unit_test_setup_teardown(reopen_running_container, setup, teardown),
        cmocka_unit_test_setup_teardown(reopen_after_reboot_unknown, setup, teardown),
        cmocka_unit_test_setup_teardown(container_survives_daemon_exit, setup, teardown),
        cmocka_unit_test_setup_teardown(memory_limit_oom_killed, setup, teardown),
        cmocka_unit_test_setup_teardown(exec_in_running_container, setup, teardown),
        cmocka_unit_test_setup_teardown(reopen_log_after_rotation, setup, teardown),
        cmocka_unit_test_setup_teardown(tty_container_output, setup, teardown),
        cmocka_unit_test_setup_teardown(systemd_driver_slices, setup, teardown),
        cmocka_unit_test_setup_teardown(pure_v2_layout_start, setup, teardown),
        cmocka_unit_test_setup_teardown(attach_stdin_and_output, setup, teardown),
        cmocka_unit_test_setup_teardown(attach_resize_tty, setup, teardown),
        cmocka_unit_test_setup_teardown(attach_large_stdin, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
