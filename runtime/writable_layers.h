#ifndef HOSTCRI_RUNTIME_WRITABLE_LAYERS_H
#define HOSTCRI_RUNTIME_WRITABLE_LAYERS_H

#include <stdbool.h>
#include <stdint.h>

struct runtime;

/* Disk use of every container's writable layer together, for ImageFsInfo. */
struct runtime_writable_layers_usage {
    char *mountpoint; /* the directory holding the layers: <root>/containers */
    uint64_t used_bytes;
    uint64_t inodes_used;
    int64_t timestamp_ns; /* of the oldest measurement included; 0 when none is done yet */
    bool measured;        /* false until every container's layer has been measured once */
};

/*
 * Sums the last measurements of the containers' writable layers and starts new ones on the
 * thread pool where they are due, so the next call sees fresher figures. Loop thread only.
 * The caller frees out->mountpoint.
 */
void runtime_writable_layers_usage(struct runtime *runtime,
                                   struct runtime_writable_layers_usage *out);

#endif
