#ifndef HOSTCRI_CRI_STREAMING_REQUEST_H
#define HOSTCRI_CRI_STREAMING_REQUEST_H

#include "cri/streaming/server.h"

/* Deep copy of a request: every string and array is owned by the copy. */
struct streaming_request *streaming_request_copy(const struct streaming_request *request);

/* Frees a copy made by streaming_request_copy. NULL is allowed. */
void streaming_request_free(struct streaming_request *request);

/* Returns "exec", "attach" or "portforward", the URL path segment of kind. */
const char *streaming_kind_path(enum streaming_kind kind);

#endif
