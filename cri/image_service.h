#ifndef HOSTCRI_CRI_IMAGE_SERVICE_H
#define HOSTCRI_CRI_IMAGE_SERVICE_H

#include "cri/rpc.h"

/* RPC handlers (see cri/rpc.h for the contract); request is the decoded request message. */
void image_service_list_images(struct rpc_call *call, const void *request);
void image_service_image_status(struct rpc_call *call, const void *request);
void image_service_pull_image(struct rpc_call *call, const void *request);
void image_service_remove_image(struct rpc_call *call, const void *request);
void image_service_image_fs_info(struct rpc_call *call, const void *request);

#endif
