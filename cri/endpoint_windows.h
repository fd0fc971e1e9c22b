#ifndef HOSTCRI_CRI_ENDPOINT_WINDOWS_H
#define HOSTCRI_CRI_ENDPOINT_WINDOWS_H

/* The named-pipe listener of the Windows build (endpoint_windows.c). */

#include <uv.h>

#include "common/error.h"

/* Security descriptor of the pipe: full access for Administrators and SYSTEM only. */
#define ENDPOINT_PIPE_SDDL "D:P(A;;GA;;;BA)(A;;GA;;;SY)"

/* Pipe instances kept waiting for a client at any time. */
#define ENDPOINT_PIPE_PENDING_INSTANCES 4

/*
 * Serves the named pipe name ("\\.\pipe\x") for the cri_server in listener->data. hostcri
 * creates every pipe instance itself with ENDPOINT_PIPE_SDDL, the first one with
 * FILE_FLAG_FIRST_PIPE_INSTANCE, and rejects remote clients. Because Wine does not enforce
 * FILE_FLAG_FIRST_PIPE_INSTANCE, it first tries to connect to the name. It fails with
 * ERROR_ALREADY_EXISTS when a server accepts that connection, or when the pipe exists but is
 * busy or denies access.
 *
 * Each connected instance is opened as a libuv pipe and handed to server_adopt_connection.
 * listener stays an unbound handle: closing it (cri_server_stop does) stops the listener on
 * the next loop iteration, which closes the waiting instances. Returns 0, or -1 with err set
 * and nothing left open. Loop thread only.
 *
 * NOTE: tested under Wine only, which enforces neither the DACL nor the first-instance flag.
 * On Windows the DACL also governs creating further instances, so hostcri must run as SYSTEM
 * or as an elevated administrator.
 */
int endpoint_windows_listen(uv_pipe_t *listener, const char *name, struct error *err);

#endif
