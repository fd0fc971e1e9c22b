#ifndef HOSTCRI_CRI_RPC_UNAVAILABLE_H
#define HOSTCRI_CRI_RPC_UNAVAILABLE_H

/*
 * Defines an RPC handler that fails every call with UNAVAILABLE, naming the method, for the
 * services a Windows build does not have yet.
 */

#include "cri/rpc.h"

#define UNAVAILABLE_ON_WINDOWS(handler)                                                            \
    void handler(struct rpc_call *call, const void *request)                                       \
    {                                                                                              \
        (void)request;                                                                             \
        rpc_call_failf(call, ERROR_UNAVAILABLE, "%s is not available in the Windows build yet",    \
                       rpc_call_method(call)->path);                                               \
    }

#endif
