#include "cri/image_service.h"

/* Placeholders until the handlers are built: each answers UNIMPLEMENTED naming its RPC. */

void image_service_list_images(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void image_service_image_status(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void image_service_pull_image(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void image_service_remove_image(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}

void image_service_image_fs_info(struct rpc_call *call, const void *request)
{
    rpc_call_failf(call, ERROR_UNIMPLEMENTED, "%s is not implemented yet", rpc_call_method(call)->path);
}
