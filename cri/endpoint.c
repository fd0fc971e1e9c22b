#include "cri/endpoint.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#ifndef _WIN32
#include <unistd.h>
#endif

#include "common/log.h"
#include "common/strbuf.h"
#include "common/util.h"
#ifdef _WIN32
#include "cri/endpoint_windows.h"
#endif

char *endpoint_pipe_name(const char *endpoint, int *is_unix_socket, struct error *err)
{
    const char *rest;

    if (str_has_prefix(endpoint, "unix://")) {
        rest = endpoint + strlen("unix://");
        if (rest[0] != '/')
            goto invalid;
        *is_unix_socket = 1;
        return xstrdup(rest);
    }
    if (endpoint[0] == '/') {
        *is_unix_socket = 1;
        return xstrdup(endpoint);
    }
    if (str_has_prefix(endpoint, "npipe://")) {
        struct strbuf name = STRBUF_INIT;

        rest = endpoint + strlen("npipe://");
        while (*rest == '/')
            rest++;
        if (!str_has_prefix(rest, "./pipe/") || rest[strlen("./pipe/")] == '\0')
            goto invalid;
        strbuf_append_str(&name, "\\\\");
        for (const char *p = rest; *p; p++)
            strbuf_append_char(&name, *p == '/' ? '\\' : *p);
        *is_unix_socket = 0;
        return strbuf_steal(&name);
    }
invalid:
    error_set(err, ERROR_INVALID_ARGUMENT,
              "invalid endpoint \"%s\": use unix:///path/to/socket or npipe:////./pipe/name",
              endpoint);
    return NULL;
}

#ifndef _WIN32
static int make_parent_directory(const char *path, struct error *err)
{
    _cleanup_free_ char *parent = xstrdup(path);
    char *slash = strrchr(parent, '/');

    if (slash == NULL || slash == parent)
        return 0;
    *slash = '\0';
    for (char *p = parent + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(parent, 0755) < 0 && errno != EEXIST)
            return error_set_errno(err, ERROR_INTERNAL, errno, "create directory %s", parent);
        *p = '/';
    }
    if (mkdir(parent, 0711) < 0 && errno != EEXIST)
        return error_set_errno(err, ERROR_INTERNAL, errno, "create directory %s", parent);
    return 0;
}

struct probe {
    uv_connect_t request;
    int status;
};

static void probe_connect_cb(uv_connect_t *request, int status)
{
    struct probe *probe = request->data;

    probe->status = status;
}

/* Returns 1 when a server accepts connections on the socket at path, 0 when none does. */
static int socket_is_live(const char *path)
{
    uv_loop_t loop;
    uv_pipe_t client;
    struct probe probe = {.status = 1};

    uv_loop_init(&loop);
    uv_pipe_init(&loop, &client, 0);
    probe.request.data = &probe;
    uv_pipe_connect(&probe.request, &client, path, probe_connect_cb);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&client, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return probe.status == 0;
}

static int bind_unix_socket(uv_pipe_t *pipe, const char *path, struct error *err)
{
    mode_t old_umask;
    int rc;

    if (make_parent_directory(path, err) < 0)
        return -1;
    /* The umask makes the socket 0660 from the start: no window with a wider mode. */
    old_umask = umask(0117);
    rc = uv_pipe_bind(pipe, path);
    if (rc == UV_EADDRINUSE) {
        if (socket_is_live(path)) {
            umask(old_umask);
            return error_set(err, ERROR_ALREADY_EXISTS,
                             "another server is already listening on %s: stop it, or start "
                             "hostcri with another --listen endpoint",
                             path);
        }
        log_info("replacing stale socket file %s", path);
        unlink(path);
        rc = uv_pipe_bind(pipe, path);
    }
    umask(old_umask);
    if (rc < 0)
        return error_set(err, ERROR_INTERNAL, "bind %s: %s", path, uv_strerror(rc));
    if (chmod(path, 0660) < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "chmod 0660 %s", path);
    return 0;
}
#endif

int endpoint_listen(uv_pipe_t *pipe, const char *name, int is_unix_socket,
                    uv_connection_cb connection_cb, struct error *err)
{
    int rc;

#ifndef _WIN32
    if (is_unix_socket && bind_unix_socket(pipe, name, err) < 0)
        return -1;
#else
    /*
     * uv_pipe_bind cannot give the pipe a security descriptor, so endpoint_windows.c creates
     * the pipe instances and hands connected ones to the server itself.
     */
    (void)connection_cb;
    if (is_unix_socket)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "unix socket endpoint %s is not supported on Windows: use "
                         "npipe:////./pipe/<name>",
                         name);
    return endpoint_windows_listen(pipe, name, err);
#endif
    rc = uv_listen((uv_stream_t *)pipe, 511, connection_cb);
    if (rc < 0)
        return error_set(err, ERROR_INTERNAL, "listen on %s: %s", name, uv_strerror(rc));
    return 0;
}
