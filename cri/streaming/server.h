#ifndef HOSTCRI_CRI_STREAMING_SERVER_H
#define HOSTCRI_CRI_STREAMING_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common/error.h"

/*
 * The CRI streaming server. The Exec, Attach and PortForward RPC handlers validate their
 * request (streaming_validate_*), then call streaming_server_issue_url and return the URL. The
 * client (kubelet, crictl) connects to that URL within the token lifetime and upgrades the HTTP
 * connection to SPDY/3.1 or WebSocket; the server then runs the command through the backend or
 * forwards TCP connections to the pod's ports on the loopback interface.
 *
 * Everything runs on the thread of the loop passed to streaming_server_start. The process must
 * ignore SIGPIPE (the daemon does), because clients and pods close connections at any time.
 *
 * An Exec handler, for example:
 *
 *     struct streaming_request request = {
 *         .kind = STREAMING_EXEC, .container_id = req->container_id,
 *         .cmd = (const char *const *)req->cmd, .cmd_count = req->n_cmd,
 *         .tty = req->tty, .streams = streams,
 *     };
 *     if (streaming_validate_exec_request(req->container_id, req->n_cmd, req->tty, streams,
 *                                         &err) < 0 ||
 *         (the runtime's check that the container runs) < 0 ||
 *         streaming_server_issue_url(server, &request, &response.url, &err) < 0) {
 *         rpc_call_fail(call, &err);
 *         return;
 *     }
 *
 * where streams holds STREAMING_STDIN, STREAMING_STDOUT and STREAMING_STDERR for the request's
 * stdin, stdout and stderr flags.
 */

enum streaming_kind {
    STREAMING_EXEC,
    STREAMING_ATTACH,
    STREAMING_PORT_FORWARD,
};

/* Bits of streaming_request.streams. */
#define STREAMING_STDIN 0x1u
#define STREAMING_STDOUT 0x2u
#define STREAMING_STDERR 0x4u

/*
 * The part of an ExecRequest, AttachRequest or PortForwardRequest that the stream needs.
 * issue_url copies it, so the caller keeps ownership of what it passes.
 */
struct streaming_request {
    enum streaming_kind kind;
    const char *container_id; /* exec, attach */
    const char *const *cmd;   /* exec: argv, cmd_count entries */
    size_t cmd_count;
    bool tty;                   /* exec, attach */
    unsigned streams;           /* exec, attach: STREAMING_STDIN | STREAMING_STDOUT | ... */
    const char *pod_sandbox_id; /* port-forward */
    const int32_t *ports;       /* port-forward: used by WebSocket clients only */
    size_t port_count;
};

/*
 * Checks the rules the CRI sets for the RPC: a container id, tty and stderr not both set, at
 * least one stream, and a command for exec. Returns 0, or -1 with ERROR_INVALID_ARGUMENT. Whether
 * the container runs is for the caller to check.
 */
int streaming_validate_exec_request(const char *container_id, size_t cmd_count, bool tty,
                                    unsigned streams, struct error *err);
int streaming_validate_attach_request(const char *container_id, bool tty, unsigned streams,
                                      struct error *err);
/* Checks that the pod sandbox id is set and every port is in 1-65535 (the list may be empty). */
int streaming_validate_port_forward_request(const char *pod_sandbox_id, const int32_t *ports,
                                            size_t port_count, struct error *err);

struct streaming_window_size {
    uint16_t width;
    uint16_t height;
};

/*
 * The descriptors of a started process (exec) or of a running container (attach). Ownership
 * passes to the streaming server, which closes them. Without a tty: stdin_fd is written,
 * stdout_fd and stderr_fd are read, each -1 when that stream was not requested. With a tty:
 * tty_fd is the terminal's master side, read for output and written for input, and the other
 * three are -1; a pseudo console (Windows) has a separate input, given as stdin_fd. They are C
 * runtime descriptors on Windows too.
 */
struct streaming_io {
    int stdin_fd;
    int stdout_fd;
    int stderr_fd;
    int tty_fd;
};

/*
 * Reports the end of a process or of an attached container, once, from the loop thread.
 * exit_code is 0-255 (128 + signal number for a signal) with error NULL, or -1 with error
 * describing why the command could not run to completion. For attach the code is ignored.
 */
typedef void (*streaming_exit_cb)(void *exit_data, int exit_code, const char *error);

/*
 * The runtime side, provided by the caller of streaming_server_start. All callbacks run on the
 * loop thread. handle is the backend's own object for one exec or attach.
 */
struct streaming_backend {
    /*
     * Starts request->cmd in container request->container_id with request->tty and the
     * requested streams. size is the initial terminal size, or NULL when the client has not
     * sent one yet. On success returns 0, fills *io and *handle, and calls exit_cb(exit_data,
     * ...) later, once, unless detach comes first. Returns -1 with err on failure.
     */
    int (*exec)(void *backend_data, const struct streaming_request *request,
                const struct streaming_window_size *size, streaming_exit_cb exit_cb,
                void *exit_data, void **handle, struct streaming_io *io, struct error *err);

    /*
     * Connects to the standard streams of the container's init process (held by its monitor),
     * as exec does. exit_cb reports the container's exit.
     */
    int (*attach)(void *backend_data, const struct streaming_request *request,
                  streaming_exit_cb exit_cb, void *exit_data, void **handle,
                  struct streaming_io *io, struct error *err);

    /* Sets the terminal size of a tty exec or attach. Returns 0 or -1 with err. */
    int (*resize)(void *backend_data, void *handle, const struct streaming_window_size *size,
                  struct error *err);

    /*
     * Ends the server's use of handle, exactly once per successful exec or attach: after
     * exit_cb, or earlier when the client went away. kill is true when the client left an exec
     * whose process still runs (the backend kills it); attach never kills the container.
     * exit_cb is not called after detach, and the backend frees handle.
     */
    void (*detach)(void *backend_data, void *handle, bool kill);
};

struct streaming_config {
    const char *address;         /* listen address, IPv4 or IPv6 literal; default "127.0.0.1" */
    uint16_t port;               /* 0 picks a free port */
    const char *tls_cert_file;   /* PEM certificate chain; NULL serves plain HTTP */
    const char *tls_key_file;    /* PEM private key, required with tls_cert_file */
    uint64_t token_ttl_ms;       /* lifetime of an issued URL; default 60,000 */
    size_t max_pending_requests; /* issued and unused URLs; default 1000 */
    size_t max_connections;      /* open client connections; default 256 */
    uint64_t request_timeout_ms; /* to receive the HTTP request head; default 30,000 */
    uint64_t stream_creation_timeout_ms; /* for the client's SPDY streams; default 30,000 */
    uint64_t idle_timeout_ms;            /* upgraded connection without traffic; default 4 hours */
};

/* Fills config with the defaults above. */
void streaming_config_init(struct streaming_config *config);

struct streaming_server;

/*
 * Starts listening on config->address:config->port in loop. The backend table and config are
 * copied (strings too); backend_data stays the caller's. Returns 0 with *out set, or -1 with
 * err (address in use, unreadable certificate, invalid address).
 */
int streaming_server_start(uv_loop_t *loop, const struct streaming_config *config,
                           const struct streaming_backend *backend, void *backend_data,
                           struct streaming_server **out, struct error *err);

/*
 * Stores a copy of request under a new single-use token and returns in *url_out (caller frees)
 * the absolute URL: "http://127.0.0.1:<port>/exec/<token>" and so on, "https" with TLS.
 * Returns -1 with ERROR_RESOURCE_EXHAUSTED when max_pending_requests URLs are outstanding.
 */
int streaming_server_issue_url(struct streaming_server *server,
                               const struct streaming_request *request, char **url_out,
                               struct error *err);

/* The base URL, "http://127.0.0.1:43647", owned by the server. */
const char *streaming_server_base_url(const struct streaming_server *server);

/*
 * Stops listening, closes every connection and detaches every running session (exec processes
 * are killed through the backend). The server is freed once its handles are closed, which
 * happens while the loop runs; server must not be used after this call. NULL is allowed.
 */
void streaming_server_stop(struct streaming_server *server);

#endif
