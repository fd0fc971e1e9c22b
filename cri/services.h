#ifndef HOSTCRI_CRI_SERVICES_H
#define HOSTCRI_CRI_SERVICES_H

#include <uv.h>

struct hostcri_config;
struct images;
struct runtime;
struct streaming_server;

/*
 * The subsystems that the RPC handlers use, created by main() before the server starts and
 * destroyed after it stops. Each pointer is NULL while its subsystem is not built in.
 */
struct cri_services {
    uv_loop_t *loop;
    const struct hostcri_config *config;
    struct images *images;               /* images/images.h */
    struct runtime *runtime;             /* runtime/runtime.h */
    struct streaming_server *streaming;  /* cri/streaming/ */
    char *pod_cidr;                      /* from UpdateRuntimeConfig, NULL until set */
};

#endif
