#include "runtime/writable_layers.h"

#include <string.h>

#include "common/util.h"
#include "runtime/runtime_internal.h"

void runtime_writable_layers_usage(struct runtime *runtime,
                                   struct runtime_writable_layers_usage *out)
{
    memset(out, 0, sizeof(*out));
    out->mountpoint = xasprintf("%s/containers", runtime->root_dir);
    out->measured = true;
    for (size_t i = 0; i < runtime->n_containers; i++) {
        struct container *container = runtime->containers[i];

        container_measure_layer(container);
        if (container->layer_measured_ns <= 0) {
            out->measured = false;
            continue;
        }
        out->used_bytes += container->layer_bytes;
        out->inodes_used += container->layer_inodes;
        if (out->timestamp_ns == 0 || container->layer_measured_ns < out->timestamp_ns)
            out->timestamp_ns = container->layer_measured_ns;
    }
    if (out->timestamp_ns == 0)
        out->timestamp_ns = time_now_ns();
}
