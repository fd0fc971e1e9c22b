#ifndef HOSTCRI_CRI_IMAGE_SERVICE_H
#define HOSTCRI_CRI_IMAGE_SERVICE_H

#include "cri/rpc.h"

/*
 * ImageService RPC handlers (see cri/rpc.h for the contract); request is the decoded request
 * message. Each uses rpc_call_services(call)->images and fails with UNAVAILABLE when the
 * daemon runs without the image subsystem.
 */

/* ListImages: every image, or the one image that filter.image names (by tag, digest or id). */
void image_service_list_images(struct rpc_call *call, const void *request);

/*
 * ImageStatus: repo tags and digests, size, uid or username from the config's User, pinned,
 * and with verbose the config as JSON in info["info"]. An unknown image is an empty response.
 */
void image_service_image_status(struct rpc_call *call, const void *request);

/* PullImage: completes from the pull's callback with the image id ("sha256:" of the config). */
void image_service_pull_image(struct rpc_call *call, const void *request);

/*
 * RemoveImage: by id, tag or digest; a tag of an image with other tags is only untagged; an
 * image a container uses is FAILED_PRECONDITION; an unknown image succeeds.
 */
void image_service_remove_image(struct rpc_call *call, const void *request);

/* ImageFsInfo: bytes and inodes of the image store, measured on the thread pool. */
void image_service_image_fs_info(struct rpc_call *call, const void *request);

#endif
