#ifndef HOSTCRI_CRI_METHODS_H
#define HOSTCRI_CRI_METHODS_H

#include <stddef.h>

#include "cri/rpc.h"

/*
 * Builds the method table: every RPC of runtime.v1.RuntimeService and runtime.v1.ImageService
 * as the generated service descriptors list them, with the handler hostcri has for it or NULL
 * (answered UNIMPLEMENTED). The table is built once and lives until exit. Loop thread only.
 */
const struct rpc_method *cri_methods(size_t *count);

#endif
