/*
 * Fuzzes the request path of the gRPC server: HTTP/2 frames, headers, gRPC length prefixes
 * and protobuf request messages. Each input is what a client sends after the connection
 * preface; it reaches a real connection whose socket peer is a socketpair, and only the
 * runtime info handlers are installed (the other RPCs answer UNIMPLEMENTED).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "cri/methods.h"
#include "cri/runtime_info.h"
#include "cri/server_internal.h"

/* The connection preface and an empty SETTINGS frame, which must come first. */
static const char client_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
                                     "\x00\x00\x00\x04\x00\x00\x00\x00\x00";

static struct cri_server *server;
static struct cri_services services;
static struct rpc_method *methods;
static size_t method_count;

static void start_server(void)
{
    static char endpoint[128];
    struct cri_server_options options = {
        .endpoint = endpoint,
        .max_recv_message_size = 64 * 1024,
        .max_send_message_size = 64 * 1024,
        .max_concurrent_streams = 100,
    };
    const struct rpc_method *all = cri_methods(&method_count);
    struct error err = ERROR_INIT;

    log_configure(LOG_LEVEL_ERROR, LOG_FORMAT_TEXT);
    methods = xmalloc(method_count * sizeof(*methods));
    memcpy(methods, all, method_count * sizeof(*methods));
    for (size_t i = 0; i < method_count; i++) {
        rpc_handler handler = methods[i].handler;

        if (handler != runtime_info_version && handler != runtime_info_status &&
            handler != runtime_info_runtime_config && handler != runtime_info_update_runtime_config)
            methods[i].handler = NULL;
    }
    services.loop = uv_default_loop();
    services.cgroup_driver = "cgroupfs";
    services.config_json = "{}";
    snprintf(endpoint, sizeof(endpoint), "unix:///tmp/hostcri-fuzz-%d.sock", (int)getpid());
    if (cri_server_start(uv_default_loop(), &options, methods, method_count, &services, &server,
                         &err) < 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct cri_connection *connection;
    int fds[2];

    if (server == NULL)
        start_server();
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
        abort();

    connection = xcalloc(1, sizeof(*connection));
    uv_pipe_init(server->loop, &connection->pipe, 0);
    uv_pipe_open(&connection->pipe, fds[0]);
    if (server_adopt_connection(server, connection) == 0) {
        connection_receive(connection, (const uint8_t *)client_preface, sizeof(client_preface) - 1);
        if (!connection->closing)
            connection_receive(connection, data, size);
        uv_run(server->loop, UV_RUN_NOWAIT);
        /* The connection may have closed and been freed inside the loop run. */
        if (server->connection_count > 0 && !connection->closing)
            connection_close(connection);
    }
    close(fds[1]);
    while (server->connection_count > 0)
        uv_run(server->loop, UV_RUN_ONCE);
    free(services.pod_cidr);
    services.pod_cidr = NULL;
    return 0;
}
