#ifndef HOSTCRI_CRI_ENDPOINT_H
#define HOSTCRI_CRI_ENDPOINT_H

#include <uv.h>

#include "common/error.h"

/*
 * Turns an endpoint URL into the name uv_pipe_bind takes: "unix:///run/x.sock" or a plain
 * absolute path gives the socket path; "npipe:////./pipe/name" or "npipe://./pipe/name" gives
 * "\\.\pipe\name". Returns a new string, or NULL with err set for any other form.
 */
char *endpoint_pipe_name(const char *endpoint, int *is_unix_socket, struct error *err);

/*
 * Binds pipe (initialized on its loop) to name and starts listening with connection_cb. For a
 * unix socket: creates the parent directory, replaces a stale socket file, rejects a live one
 * (another server answers on it), and sets mode 0660. Returns 0, or -1 with err set.
 */
int endpoint_listen(uv_pipe_t *pipe, const char *name, int is_unix_socket,
                    uv_connection_cb connection_cb, struct error *err);

#endif
