/*
 * Streaming requests: the RPC-time validation rules and the copies kept under a token.
 */
#include "cri/streaming/request.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

static int validate_streams(const char *container_id, bool tty, unsigned streams, struct error *err)
{
    if (str_empty(container_id))
        return error_set(err, ERROR_INVALID_ARGUMENT, "missing required container_id");
    if (tty && (streams & STREAMING_STDERR))
        return error_set(err, ERROR_INVALID_ARGUMENT, "tty and stderr cannot both be true");
    if ((streams & (STREAMING_STDIN | STREAMING_STDOUT | STREAMING_STDERR)) == 0)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "one of stdin, stdout, or stderr must be set");
    return 0;
}

int streaming_validate_exec_request(const char *container_id, size_t cmd_count, bool tty,
                                    unsigned streams, struct error *err)
{
    if (validate_streams(container_id, tty, streams, err) < 0)
        return -1;
    if (cmd_count == 0)
        return error_set(err, ERROR_INVALID_ARGUMENT, "missing required cmd");
    return 0;
}

int streaming_validate_attach_request(const char *container_id, bool tty, unsigned streams,
                                      struct error *err)
{
    return validate_streams(container_id, tty, streams, err);
}

int streaming_validate_port_forward_request(const char *pod_sandbox_id, const int32_t *ports,
                                            size_t port_count, struct error *err)
{
    if (str_empty(pod_sandbox_id))
        return error_set(err, ERROR_INVALID_ARGUMENT, "missing required pod_sandbox_id");
    for (size_t i = 0; i < port_count; i++) {
        if (ports[i] < 1 || ports[i] > 65535)
            return error_set(err, ERROR_INVALID_ARGUMENT, "invalid port %d: expected 1-65535",
                             ports[i]);
    }
    return 0;
}

struct streaming_request *streaming_request_copy(const struct streaming_request *request)
{
    struct streaming_request *copy = xcalloc(1, sizeof(*copy));
    char **cmd = xcalloc(request->cmd_count + 1, sizeof(*cmd));

    copy->kind = request->kind;
    copy->container_id = xstrdup_or_null(request->container_id);
    for (size_t i = 0; i < request->cmd_count; i++)
        cmd[i] = xstrdup(request->cmd[i]);
    copy->cmd = (const char *const *)cmd;
    copy->cmd_count = request->cmd_count;
    copy->tty = request->tty;
    copy->streams = request->streams;
    copy->pod_sandbox_id = xstrdup_or_null(request->pod_sandbox_id);
    if (request->port_count > 0)
        copy->ports = xmemdup(request->ports, request->port_count * sizeof(*request->ports));
    copy->port_count = request->port_count;
    return copy;
}

void streaming_request_free(struct streaming_request *request)
{
    if (request == NULL)
        return;
    free((char *)request->container_id);
    for (size_t i = 0; i < request->cmd_count; i++)
        free((char *)request->cmd[i]);
    free((void *)request->cmd);
    free((char *)request->pod_sandbox_id);
    free((void *)request->ports);
    free(request);
}

const char *streaming_kind_path(enum streaming_kind kind)
{
    switch (kind) {
    case STREAMING_EXEC:
        return "exec";
    case STREAMING_ATTACH:
        return "attach";
    case STREAMING_PORT_FORWARD:
        return "portforward";
    }
    return "unknown";
}
