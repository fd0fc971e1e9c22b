/*
 * The streaming server of the Windows build until cri/streaming/ is ported (it needs OpenSSL
 * and wslay): streaming_server_start starts nothing, so Exec, Attach and PortForward stay
 * unavailable. The Linux build compiles this file to nothing.
 */
#ifdef _WIN32

#include <string.h>

#include "common/log.h"
#include "cri/streaming/server.h"

void streaming_config_init(struct streaming_config *config)
{
    memset(config, 0, sizeof(*config));
}

int streaming_server_start(uv_loop_t *loop, const struct streaming_config *config,
                           const struct streaming_backend *backend, void *backend_data,
                           struct streaming_server **out, struct error *err)
{
    (void)loop;
    (void)config;
    (void)backend;
    (void)backend_data;
    (void)err;
    log_warn("the streaming server is not ported to Windows yet: Exec, Attach and PortForward "
             "are unavailable");
    *out = NULL;
    return 0;
}

int streaming_server_issue_url(struct streaming_server *server,
                               const struct streaming_request *request, char **url_out,
                               struct error *err)
{
    (void)server;
    (void)request;
    *url_out = NULL;
    return error_set(err, ERROR_UNAVAILABLE, "the streaming server is not ported to Windows yet");
}

const char *streaming_server_base_url(const struct streaming_server *server)
{
    (void)server;
    return "(none: not ported to Windows yet)";
}

void streaming_server_stop(struct streaming_server *server)
{
    (void)server;
}

#endif
