/*
 * hostcri: the daemon's entry point. Reads the configuration, opens the subsystems, serves CRI
 * until SIGTERM or SIGINT, then drains the calls in flight and exits 0.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "common/log.h"
#include "common/util.h"
#include "cri/methods.h"
#include "cri/server.h"
#include "cri/services.h"
#include "daemon/config.h"

struct daemon {
    uv_loop_t *loop;
    struct hostcri_config config;
    struct cri_services services;
    struct cri_server *server;
    uv_signal_t sigterm;
    uv_signal_t sigint;
    bool stopping;
};

static void close_handle_cb(uv_handle_t *handle)
{
    (void)handle;
}

static void server_stopped_cb(struct cri_server *server, void *data)
{
    struct daemon *daemon = data;

    (void)server;
    log_info("CRI server stopped");
    uv_close((uv_handle_t *)&daemon->sigterm, close_handle_cb);
    uv_close((uv_handle_t *)&daemon->sigint, close_handle_cb);
}

static void signal_cb(uv_signal_t *handle, int signum)
{
    struct daemon *daemon = handle->data;

    if (daemon->stopping) {
        log_info("received signal %d again while stopping; still draining", signum);
        return;
    }
    daemon->stopping = true;
    log_info("received signal %d: stopping", signum);
    cri_server_stop(daemon->server, daemon->config.shutdown_grace_ms, server_stopped_cb, daemon);
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

int main(int argc, char **argv)
{
    struct daemon daemon = {0};
    struct error err = ERROR_INIT;
    bool exit_now;
    int exit_code = 0;
    char *config_json;

    config_init_defaults(&daemon.config);
    if (config_parse_args(&daemon.config, argc, argv, &exit_now, &exit_code, &err) < 0) {
        fprintf(stderr, "hostcri: %s\n", err.message);
        error_clear(&err);
        config_free(&daemon.config);
        return 2;
    }
    if (exit_now) {
        config_free(&daemon.config);
        return exit_code;
    }
    log_configure(daemon.config.log_level, daemon.config.log_format);
#ifndef _WIN32
    /* A client that goes away mid-write must cost its connection, not the daemon. */
    signal(SIGPIPE, SIG_IGN);
#endif

    daemon.loop = uv_default_loop();
    config_json = config_to_json(&daemon.config);
    daemon.services.loop = daemon.loop;
    daemon.services.cgroup_driver = daemon.config.cgroup_driver;
    daemon.services.config_json = config_json;

    if (start_server(&daemon, &err) < 0) {
        log_error("cannot start: %s", err.message);
        error_clear(&err);
        free(config_json);
        config_free(&daemon.config);
        return 1;
    }
    watch_signals(&daemon);
    log_info("hostcri %s started (root %s, state %s)", HOSTCRI_VERSION, daemon.config.root_dir,
             daemon.config.state_dir);

    uv_run(daemon.loop, UV_RUN_DEFAULT);

    cri_server_free(daemon.server);
    free(daemon.services.pod_cidr);
    free(config_json);
    config_free(&daemon.config);
    if (uv_loop_close(daemon.loop) != 0)
        log_warn("event loop closed with handles still open");
    log_info("hostcri stopped");
    return 0;
}
