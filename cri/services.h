#ifndef HOSTCRI_CRI_SERVICES_H
#define HOSTCRI_CRI_SERVICES_H

#include <uv.h>

struct images;
struct runtime;
struct streaming_server;

/*
 * The subsystems that the RPC handlers use, created by main() before the server starts and
 * destroyed after it stops. Each pointer is NULL while its subsystem is not built in.
 */
struct cri_services {
    uv_loop_t *loop;
    const char *cgroup_driver;          /* "cgroupfs" or "systemd" */
    const char *config_json;            /* the effective configuration, for Status verbose */
    struct images *images;              /* images/images.h */
    struct runtime *runtime;            /* runtime/runtime.h */
    struct streaming_server *streaming; /* cri/streaming/ */
    char *pod_cidr;                     /* from UpdateRuntimeConfig, NULL until set */
};

#endif
