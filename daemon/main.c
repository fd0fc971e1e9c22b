/*
 * hostcri: the daemon's entry point. Reads the configuration, opens the subsystems, serves CRI
 * until SIGTERM, SIGINT or a stop request of the Windows service control manager, then drains
 * the calls in flight and exits 0.
 */
#include <errno.h>
#include <signal.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "common/dir_lock.h"
#include "common/log.h"
#include "common/malloc_tuning.h"
#include "common/metrics.h"
#include "common/util.h"
#include "cri/methods.h"
#include "cri/runtime_service.h"
#include "cri/server.h"
#include "cri/services.h"
#include "cri/streaming/server.h"
#include "daemon/config.h"
#include "daemon/metrics_http.h"
#include "daemon/service.h"
#include "images/images.h"
#include "runtime/runtime.h"

struct daemon {
    uv_loop_t *loop;
    struct hostcri_config config;
    struct cri_services services;
    struct cri_server *server;
    struct metrics_http *metrics;
    struct dir_lock *root_lock;
    struct dir_lock *state_lock;
    uv_signal_t sigterm;
    uv_signal_t sigint;
    bool stopping;
};

static void close_subsystems(struct daemon *daemon);

static void close_handle_cb(uv_handle_t *handle)
{
    (void)handle;
}

static void server_stopped_cb(struct cri_server *server, void *data)
{
    struct daemon *daemon = data;

    (void)server;
    log_info("CRI server stopped");
    close_subsystems(daemon);
    uv_close((uv_handle_t *)&daemon->sigterm, close_handle_cb);
    uv_close((uv_handle_t *)&daemon->sigint, close_handle_cb);
    service_unwatch_stop();
}

/* Stops accepting connections and drains the calls in flight. Callers run it once. */
static void stop_daemon(struct daemon *daemon)
{
    daemon->stopping = true;
    service_report_stopping(daemon->config.shutdown_grace_ms);
    cri_server_stop(daemon->server, daemon->config.shutdown_grace_ms, server_stopped_cb, daemon);
}

static void signal_cb(uv_signal_t *handle, int signum)
{
    struct daemon *daemon = handle->data;

    if (daemon->stopping) {
        log_info("received signal %d again while stopping; still draining", signum);
        return;
    }
    log_info("received signal %d: stopping", signum);
    stop_daemon(daemon);
}

static void stop_request_cb(void *data)
{
    struct daemon *daemon = data;

    if (daemon->stopping) {
        log_info("received a stop request again while stopping; still draining");
        return;
    }
    stop_daemon(daemon);
}

static int open_images(struct daemon *daemon, struct error *err)
{
    const struct hostcri_config *config = &daemon->config;
    struct images_config images_config;

    images_config_init_defaults(&images_config);
    images_config.root_dir = config->root_dir;
    images_config.certs_dir = config->certs_dir;
    images_config.registries = config->registries;
    images_config.registry_count = config->registry_count;
    images_config.platform = config->platform;
    images_config.max_parallel_downloads = (unsigned)config->max_parallel_downloads;
    images_config.connect_timeout_ms = config->connect_timeout_ms;
    images_config.stall_timeout_ms = config->stall_timeout_ms;
    images_config.request_timeout_ms = config->request_timeout_ms;
    images_config.retries = (unsigned)config->retries;
    images_config.retry_backoff_ms = config->retry_backoff_ms;
    images_config.pinned_images = (const char *const *)config->pinned_images;
    if (images_open(daemon->loop, &images_config, &daemon->services.images, err) < 0)
        return error_prefix(err, "open the image store in %s", config->root_dir);
    return 0;
}

/*
 * Finds the monitor program when the configuration names none: next to the daemon's own
 * binary (an installed hostcri), or where the build tree puts it (build/runtime/linux/).
 * Returns a new string, or NULL to let the runtime use its compiled-in default.
 */
static char *find_monitor_beside_daemon(void)
{
    static const char *const candidates[] = {"hostcri-monitor", "runtime/linux/hostcri-monitor"};
    char exe[4096];
    size_t length = sizeof(exe);
    char *slash;

    if (uv_exepath(exe, &length) != 0)
        return NULL;
    slash = strrchr(exe, '/');
    if (slash == NULL)
        return NULL;
    *slash = '\0';
    for (size_t i = 0; i < ARRAY_SIZE(candidates); i++) {
        char *path = xasprintf("%s/%s", exe, candidates[i]);
        uv_fs_t request;

        if (uv_fs_access(NULL, &request, path, X_OK, NULL) == 0) {
            uv_fs_req_cleanup(&request);
            return path;
        }
        uv_fs_req_cleanup(&request);
        free(path);
    }
    return NULL;
}

/*
 * Checks that a monitor program named by --monitor-path or runtime.monitor_path can run,
 * because without it no container starts. The runtime only warns about the default path.
 */
static int check_monitor_path(const char *path, struct error *err)
{
    uv_fs_t request;
    int rc = uv_fs_access(NULL, &request, path, X_OK, NULL);

    uv_fs_req_cleanup(&request);
    if (rc < 0)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "monitor program %s (--monitor-path, runtime.monitor_path) is not "
                         "executable: %s",
                         path, uv_strerror(rc));
    return 0;
}

static int open_runtime(struct daemon *daemon, struct error *err)
{
    const struct hostcri_config *config = &daemon->config;
    struct runtime_config runtime_config;

    runtime_config_init_defaults(&runtime_config);
    runtime_config.root_dir = config->root_dir;
    runtime_config.state_dir = config->state_dir;
    runtime_config.cgroup_driver = strcmp(config->cgroup_driver, "systemd") == 0
                                       ? RUNTIME_CGROUP_DRIVER_SYSTEMD
                                       : RUNTIME_CGROUP_DRIVER_CGROUPFS;
    runtime_config.cgroup_root = config->cgroup_root;
    runtime_config.default_cgroup_parent = config->default_cgroup_parent;
    _cleanup_free_ char *found_monitor = NULL;

    if (config->monitor_path != NULL && check_monitor_path(config->monitor_path, err) < 0)
        return -1;
    if (config->monitor_path == NULL)
        found_monitor = find_monitor_beside_daemon();
    runtime_config.monitor_path = config->monitor_path ? config->monitor_path : found_monitor;
    runtime_config.rootfs_mount_point = config->rootfs_mount_point;
    runtime_config.accept_non_host_network_pods = config->accept_non_host_network_pods;
    runtime_config.runtime_handlers = (const char *const *)config->runtime_handlers;
    runtime_config.sandbox_stop_grace_ms = (int64_t)config->sandbox_stop_grace_ms;
    runtime_config.kill_timeout_ms = (int64_t)config->kill_timeout_ms;
    runtime_config.leftover_grace_ms = (int64_t)config->leftover_grace_ms;
    runtime_config.default_path = config->default_path;
    runtime_config.max_send_message_size = config->max_send_message_size;
    runtime_config.cpu_sample_interval_ms = (int64_t)config->cpu_sample_interval_ms;
    if (runtime_open(daemon->loop, &runtime_config, daemon->services.images,
                     &daemon->services.runtime, err) < 0)
        return error_prefix(err, "open the runtime");
    return 0;
}

static int start_streaming(struct daemon *daemon, struct error *err)
{
    const struct hostcri_config *config = &daemon->config;
    struct streaming_config streaming_config;

    streaming_config_init(&streaming_config);
    streaming_config.address = config->streaming_address;
    streaming_config.port = (uint16_t)config->streaming_port;
    streaming_config.tls_cert_file = config->streaming_tls_cert;
    streaming_config.tls_key_file = config->streaming_tls_key;
    streaming_config.token_ttl_ms = config->streaming_token_ttl_ms;
    if (config->streaming_port > 65535)
        return error_set(err, ERROR_INVALID_ARGUMENT, "invalid streaming port %lu: use 0 to 65535",
                         (unsigned long)config->streaming_port);
    if (streaming_server_start(daemon->loop, &streaming_config, runtime_service_streaming_backend(),
                               daemon->services.runtime, &daemon->services.streaming, err) < 0)
        return error_prefix(err, "start the streaming server on %s", config->streaming_address);
    return 0; /* the server logs its URL */
}

/* Closes the subsystems; their handles close on the following loop run. */
static void close_subsystems(struct daemon *daemon)
{
    if (daemon->services.streaming)
        streaming_server_stop(daemon->services.streaming);
    daemon->services.streaming = NULL;
    metrics_http_stop(daemon->metrics);
    daemon->metrics = NULL;
    runtime_close(daemon->services.runtime);
    daemon->services.runtime = NULL;
    if (daemon->services.images)
        images_close(daemon->services.images);
    daemon->services.images = NULL;
}

static double count_running_containers(void *data)
{
    struct daemon *daemon = data;
    Runtime__V1__ContainerFilter filter = RUNTIME__V1__CONTAINER_FILTER__INIT;
    Runtime__V1__ContainerStateValue state = RUNTIME__V1__CONTAINER_STATE_VALUE__INIT;
    Runtime__V1__ListContainersResponse *response = NULL;
    double count;

    if (daemon->services.runtime == NULL)
        return 0;
    state.state = RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING;
    filter.state = &state;
    if (runtime_container_list(daemon->services.runtime, &filter, &response, NULL) < 0)
        return 0;
    count = (double)response->n_containers;
    runtime_container_list_free(response);
    return count;
}

static double count_ready_sandboxes(void *data)
{
    struct daemon *daemon = data;
    Runtime__V1__PodSandboxFilter filter = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
    Runtime__V1__PodSandboxStateValue state = RUNTIME__V1__POD_SANDBOX_STATE_VALUE__INIT;
    Runtime__V1__ListPodSandboxResponse *response = NULL;
    double count;

    if (daemon->services.runtime == NULL)
        return 0;
    state.state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
    filter.state = &state;
    if (runtime_sandbox_list(daemon->services.runtime, &filter, &response, NULL) < 0)
        return 0;
    count = (double)response->n_items;
    runtime_message_free(response);
    return count;
}

static int start_metrics(struct daemon *daemon, struct error *err)
{
    if (daemon->config.metrics_address == NULL)
        return 0;
    metrics_gauge_register("hostcri_containers_running", "Containers in state RUNNING",
                           count_running_containers, daemon);
    /* Each running container has exactly one monitor process. */
    metrics_gauge_register("hostcri_monitors", "Container monitor processes running",
                           count_running_containers, daemon);
    metrics_gauge_register("hostcri_sandboxes_ready", "Pod sandboxes in state READY",
                           count_ready_sandboxes, daemon);
    return metrics_http_start(daemon->loop, daemon->config.metrics_address, &daemon->metrics, err);
}

static int start_server(struct daemon *daemon, struct error *err)
{
    struct cri_server_options options = {
        .endpoint = daemon->config.listen,
        .max_recv_message_size = daemon->config.max_recv_message_size,
        .max_send_message_size = daemon->config.max_send_message_size,
        .max_concurrent_streams = (unsigned)daemon->config.max_concurrent_streams,
    };
    const struct rpc_method *methods;
    size_t method_count;

    methods = cri_methods(&method_count);
    return cri_server_start(daemon->loop, &options, methods, method_count, &daemon->services,
                            &daemon->server, err);
}

static void watch_signals(struct daemon *daemon)
{
    uv_signal_init(daemon->loop, &daemon->sigterm);
    uv_signal_init(daemon->loop, &daemon->sigint);
    daemon->sigterm.data = daemon;
    daemon->sigint.data = daemon;
    uv_signal_start(&daemon->sigterm, signal_cb, SIGTERM);
    uv_signal_start(&daemon->sigint, signal_cb, SIGINT);
}

/* Creates the missing parent directories of path with mode, as mkdir -p does. Opening the file
 * reports errors. */
static void create_parent_dirs(const char *path, int mode)
{
    _cleanup_free_ char *dir = xstrdup(path);

    for (char *p = dir + 1; *p; p++) {
        char separator = *p;
        uv_fs_t request;

        if (separator != '/' && separator != '\\')
            continue;
        *p = '\0';
        /* "C:" names a drive, not a directory to create. */
        if (strlen(dir) != 2 || dir[1] != ':') {
            uv_fs_mkdir(NULL, &request, dir, mode, NULL);
            uv_fs_req_cleanup(&request);
        }
        *p = separator;
    }
}

/*
 * Sends the log to config->log_file, or to <state>/hostcri.log when the daemon runs as a Windows
 * service without one, because a service has no console. Returns 0, or -1 with err set.
 */
static int open_log_file(struct hostcri_config *config, struct error *err)
{
    if (config->log_file == NULL && service_is_active())
        config->log_file = xasprintf("%s%chostcri.log", config->state_dir,
                                     strchr(config->state_dir, '\\') ? '\\' : '/');
    if (config->log_file == NULL)
        return 0;
    create_parent_dirs(config->log_file, 0755);
#ifdef _WIN32
    /*
     * A service starts without standard handles, and freopen fails on such a stream, so the
     * log gets a new stream: stderr is a variable on Windows (common/posix_windows.h).
     */
    FILE *file = fopen(config->log_file, "a");

    if (file == NULL)
        return error_set_errno(err, ERROR_INVALID_ARGUMENT, errno, "open the log file %s",
                               config->log_file);
    stderr = file;
#else
    if (freopen(config->log_file, "a", stderr) == NULL)
        return error_set_errno(err, ERROR_INVALID_ARGUMENT, errno, "open the log file %s",
                               config->log_file);
#endif
    return 0;
}

/*
 * Locks dir for this daemon, creating it (mode 0700, as the image store does) when missing. A
 * second daemon on the same directory would read and delete the first one's records.
 */
static int lock_directory(const char *dir, struct dir_lock **out, struct error *err)
{
    _cleanup_free_ char *lock_path = xasprintf("%s/%s", dir, DIR_LOCK_FILE_NAME);

    create_parent_dirs(lock_path, 0700);
    return dir_lock_acquire(dir, out, err);
}

/* Locks the root and the state directory; the locks last until the daemon exits. */
static int lock_directories(struct daemon *daemon, struct error *err)
{
    const struct hostcri_config *config = &daemon->config;

    if (lock_directory(config->root_dir, &daemon->root_lock, err) < 0)
        return -1;
    if (strcmp(config->state_dir, config->root_dir) == 0)
        return 0;
    return lock_directory(config->state_dir, &daemon->state_lock, err);
}

static void unlock_directories(struct daemon *daemon)
{
    dir_lock_release(daemon->state_lock);
    daemon->state_lock = NULL;
    dir_lock_release(daemon->root_lock);
    daemon->root_lock = NULL;
}

/* "hostcri config default" and "hostcri config check FILE". Returns the exit code. */
static int run_config_command(int argc, char **argv)
{
    struct hostcri_config config;
    struct error err = ERROR_INIT;
    int rc = 0;

    if (argc == 3 && strcmp(argv[2], "default") == 0) {
        config_print_default(stdout);
        return 0;
    }
    if (argc != 4 || strcmp(argv[2], "check") != 0) {
        fprintf(stderr, "usage: %s config default | %s config check FILE\n", argv[0], argv[0]);
        return 2;
    }
    config_init_defaults(&config);
    if (config_load_file(&config, argv[3], &err) < 0) {
        fprintf(stderr, "hostcri: %s\n", err.message);
        error_clear(&err);
        rc = 2; /* the exit code of a daemon that starts with this file */
    } else {
        printf("%s: valid\n", argv[3]);
    }
    config_free(&config);
    return rc;
}

/*
 * Prints an invalid configuration's error on stderr. A Windows service first points stderr at its
 * log file, because it has no console.
 */
static void report_config_error(struct hostcri_config *config, struct error *err)
{
    struct error log_err = ERROR_INIT;

    if (service_is_active() && open_log_file(config, &log_err) < 0)
        error_clear(&log_err);
    fprintf(stderr, "hostcri: %s\n", err->message);
    error_clear(err);
}

/* The daemon: returns the exit code, 0 after a stop, 1 when it cannot start, 2 for bad flags. */
static int run_daemon(int argc, char **argv)
{
    struct daemon daemon = {0};
    struct error err = ERROR_INIT;
    bool exit_now;
    int exit_code = 0;
    char *config_json;

    config_init_defaults(&daemon.config);
    if (config_parse_args(&daemon.config, argc, argv, &exit_now, &exit_code, &err) < 0) {
        report_config_error(&daemon.config, &err);
        config_free(&daemon.config);
        return 2;
    }
    if (exit_now) {
        config_free(&daemon.config);
        return exit_code;
    }
    if (open_log_file(&daemon.config, &err) < 0) {
        fprintf(stderr, "hostcri: %s\n", err.message);
        error_clear(&err);
        config_free(&daemon.config);
        return 1;
    }
    log_configure(daemon.config.log_level, daemon.config.log_format);
    malloc_tune_for_daemon();
#ifndef _WIN32
    /* A client that goes away mid-write must cost its connection, not the daemon. */
    signal(SIGPIPE, SIG_IGN);
#endif

    if (lock_directories(&daemon, &err) < 0) {
        log_error("cannot start: %s", err.message);
        error_clear(&err);
        unlock_directories(&daemon);
        config_free(&daemon.config);
        return 1;
    }

    daemon.loop = uv_default_loop();
    config_json = config_to_json(&daemon.config);
    daemon.services.loop = daemon.loop;
    daemon.services.cgroup_driver = daemon.config.cgroup_driver;
    daemon.services.config_json = config_json;

    if (open_images(&daemon, &err) < 0 || open_runtime(&daemon, &err) < 0 ||
        start_streaming(&daemon, &err) < 0 || start_metrics(&daemon, &err) < 0 ||
        start_server(&daemon, &err) < 0) {
        log_error("cannot start: %s", err.message);
        error_clear(&err);
        close_subsystems(&daemon);
        uv_run(daemon.loop, UV_RUN_NOWAIT);
        free(config_json);
        unlock_directories(&daemon);
        config_free(&daemon.config);
        return 1;
    }
    watch_signals(&daemon);
    service_watch_stop(daemon.loop, daemon.config.shutdown_grace_ms, stop_request_cb, &daemon);
    service_report_running();
    log_info("hostcri %s started (config %s, root %s, state %s, cgroup driver %s, metrics %s)",
             HOSTCRI_VERSION, daemon.config.config_file ? daemon.config.config_file : "none",
             daemon.config.root_dir, daemon.config.state_dir, daemon.config.cgroup_driver,
             daemon.config.metrics_address ? daemon.config.metrics_address : "off");

    uv_run(daemon.loop, UV_RUN_DEFAULT);

    cri_server_free(daemon.server);
    free(daemon.services.pod_cidr);
    free(config_json);
    config_free(&daemon.config);
    if (uv_loop_close(daemon.loop) != 0)
        log_warn("event loop closed with handles still open");
    unlock_directories(&daemon);
    log_info("hostcri stopped");
    return 0;
}

int main(int argc, char **argv)
{
    int exit_code;

    if (argc >= 2 && strcmp(argv[1], "config") == 0)
        return run_config_command(argc, argv);
    if (service_run_command(argc, argv, &exit_code))
        return exit_code;
    return service_run(argc, argv, run_daemon);
}
