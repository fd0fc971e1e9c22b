#ifndef HOSTCRI_RUNTIME_IMAGE_INFO_H
#define HOSTCRI_RUNTIME_IMAGE_INFO_H

#include "common/error.h"

struct images;

/* The parts of an image that CreateContainer uses. Every string and vector is owned. */
struct image_info {
    char *id;          /* "sha256:<hex>" of the config */
    char *image_ref;   /* the repo digest ("name@sha256:...") of name's repository, or the id */
    char *name;        /* the reference as requested; the first repo tag for an image id */
    char **entrypoint; /* NULL-terminated, may be NULL */
    char **cmd;
    char **env;
    char *working_dir;
    char *user;
    char *stop_signal;
    char **layers; /* unpacked layer directories, base layer first; NULL-terminated */
};

/*
 * Resolves an image reference or id (full or a unique prefix) among the pulled images.
 * NOT_FOUND when the image is not pulled. Fills *out (image_info_clear frees it).
 */
int image_info_resolve(struct images *images, const char *reference, struct image_info *out,
                       struct error *err);

void image_info_clear(struct image_info *info);

#endif
