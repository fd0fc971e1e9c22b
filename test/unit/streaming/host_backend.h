#ifndef HOSTCRI_TEST_STREAMING_HOST_BACKEND_H
#define HOSTCRI_TEST_STREAMING_HOST_BACKEND_H

#include <stdbool.h>

#include "cri/streaming/server.h"

/*
 * A streaming backend for tests that runs commands as plain host processes with uv_spawn.
 * It stands in for a container: the container id is only logged. An exec runs request->cmd;
 * an attach starts attach_argv (a stand-in for the container's init process) at attach time.
 * With a tty the process gets a new pseudo-terminal as its controlling terminal.
 */
struct host_backend {
    uv_loop_t *loop;
    const char *const *attach_argv;
    int started;  /* processes spawned */
    int killed;   /* detached with kill = true */
    int detached; /* detach calls */
    int resizes;  /* successful resize calls */
};

extern const struct streaming_backend host_backend_ops;

#endif
