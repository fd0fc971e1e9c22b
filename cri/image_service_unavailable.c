/*
 * The ImageService handlers of a Windows build whose images/ is not ported yet
 * (HOSTCRI_WINDOWS_IMAGE_SERVICE_PORTED off in images/CMakeLists.txt): each call fails with
 * UNAVAILABLE. Once the images are ported, cri/CMakeLists.txt builds image_service.c instead of
 * this file.
 */
#ifdef _WIN32

#include "cri/image_service.h"
#include "cri/rpc_unavailable.h"

UNAVAILABLE_ON_WINDOWS(image_service_list_images)
UNAVAILABLE_ON_WINDOWS(image_service_image_status)
UNAVAILABLE_ON_WINDOWS(image_service_pull_image)
UNAVAILABLE_ON_WINDOWS(image_service_remove_image)
UNAVAILABLE_ON_WINDOWS(image_service_image_fs_info)

#endif
