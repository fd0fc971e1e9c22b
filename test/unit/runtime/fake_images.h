#ifndef HOSTCRI_TEST_FAKE_IMAGES_H
#define HOSTCRI_TEST_FAKE_IMAGES_H

#include <stdbool.h>

#include "images/manifest.h"

#define FAKE_IMAGE_NAME "test/busybox:1.0"
#define FAKE_IMAGE_ID "sha256:1111111111111111111111111111111111111111111111111111111111111111"
#define FAKE_IMAGE_DIGEST                                                                          \
    "docker.io/test/"                                                                              \
    "busybox@sha256:2222222222222222222222222222222222222222222222222222222222222222"

/* The config that images_resolve returns for the fake image; only the pointers are used. */
extern struct image_config fake_image_config;

/* Asks the in-use hook that the runtime registered. */
bool fake_images_in_use(const char *image_id, char **container_id);

#endif
