/*
 * A fake image subsystem (the parts of images/images.h the runtime uses): one image,
 * "test/busybox:1.0", whose config the test sets through fake_image_config.
 */

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "fake_images.h"
#include "images/images.h"

struct image_config fake_image_config;
static images_in_use_cb in_use_cb;
static void *in_use_data;

int images_resolve(struct images *images, const char *ref_or_id, struct images_resolved *out,
                   struct error *err)
{
    memset(out, 0, sizeof(*out));
    if (strcmp(ref_or_id, FAKE_IMAGE_NAME) != 0 && strcmp(ref_or_id, FAKE_IMAGE_ID) != 0)
        return error_set(err, ERROR_NOT_FOUND, "image %s not found", ref_or_id);
    out->id = xstrdup(FAKE_IMAGE_ID);
    out->repo_tag = xstrdup(FAKE_IMAGE_NAME);
    out->repo_digest = xstrdup(FAKE_IMAGE_DIGEST);
    out->config.entrypoint = strv_copy(fake_image_config.entrypoint);
    out->config.cmd = strv_copy(fake_image_config.cmd);
    out->config.env = strv_copy(fake_image_config.env);
    out->config.working_dir = xstrdup_or_null(fake_image_config.working_dir);
    out->config.user = xstrdup_or_null(fake_image_config.user);
    out->config.stop_signal = xstrdup_or_null(fake_image_config.stop_signal);
    out->layer_dirs = strv_copy((char *[]){"/layers/1/fs", NULL});
    out->layer_count = 1;
    return 0;
}

/* The fake image's record, with only its id, repo tag and repo digest filled. */
int images_status(struct images *images, const char *ref_or_id, struct image_record *out,
                  struct error *err)
{
    (void)images;
    memset(out, 0, sizeof(*out));
    if (strcmp(ref_or_id, FAKE_IMAGE_NAME) != 0 && strcmp(ref_or_id, FAKE_IMAGE_ID) != 0)
        return error_set(err, ERROR_NOT_FOUND, "image %s not found", ref_or_id);
    out->id = xstrdup(FAKE_IMAGE_ID);
    out->repo_tags = strv_copy((char *[]){"docker.io/" FAKE_IMAGE_NAME, NULL});
    out->repo_digests = strv_copy((char *[]){FAKE_IMAGE_DIGEST, NULL});
    return 0;
}

void image_record_clear(struct image_record *record)
{
    free(record->id);
    strv_free(record->repo_tags);
    strv_free(record->repo_digests);
    memset(record, 0, sizeof(*record));
}

void images_resolved_clear(struct images_resolved *resolved)
{
    free(resolved->id);
    free(resolved->repo_tag);
    free(resolved->repo_digest);
    strv_free(resolved->config.entrypoint);
    strv_free(resolved->config.cmd);
    strv_free(resolved->config.env);
    free(resolved->config.working_dir);
    free(resolved->config.user);
    free(resolved->config.stop_signal);
    strv_free(resolved->layer_dirs);
    memset(resolved, 0, sizeof(*resolved));
}

void images_set_in_use_hook(struct images *images, images_in_use_cb cb, void *data)
{
    in_use_cb = cb;
    in_use_data = data;
}

bool fake_images_in_use(const char *image_id, char **container_id)
{
    return in_use_cb && in_use_cb(in_use_data, image_id, container_id);
}
