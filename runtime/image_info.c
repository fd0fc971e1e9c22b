#include "runtime/image_info.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "images/images.h"
#include "images/reference.h"

/* The first of the NULL-terminated repo_digests that belongs to repository name, or NULL. */
static const char *find_repo_digest(char *const *repo_digests, const char *name)
{
    size_t length = strlen(name);

    for (; repo_digests && *repo_digests; repo_digests++) {
        if (strncmp(*repo_digests, name, length) == 0 && (*repo_digests)[length] == '@')
            return *repo_digests;
    }
    return NULL;
}

/* True when reference names the image by its id ("sha256:<hex>", the hex, or a prefix of it). */
static bool is_image_id(const char *reference, const char *id)
{
    const char *hex = str_has_prefix(id, "sha256:") ? id + strlen("sha256:") : id;

    return str_has_prefix(id, reference) || str_has_prefix(hex, reference);
}

/*
 * Sets out->name and out->image_ref, which ContainerStatus reports as image and image_ref.
 *
 * containerd (internal/cri/server/container_status.go, v2) reports the image's first repo
 * tag and first repo digest, so a container created from one registry's tag can show another
 * registry's name when the same image was pulled through both. hostcri reports the reference
 * the container was created with (CreateContainer's ImageSpec.image, as sent), and as
 * image_ref the repo digest of that reference's repository, or the image id when the image
 * has none from it. A reference that is an image id names no repository, so it falls back to
 * containerd's rule: the first repo tag and the first repo digest.
 */
static int set_names(struct images *images, const char *reference,
                     const struct images_resolved *resolved, struct image_info *out,
                     struct error *err)
{
    _cleanup_reference_ struct image_reference parsed = IMAGE_REFERENCE_INIT;
    struct image_record record = {0};
    _cleanup_free_ char *name = NULL;
    const char *repo_digest;

    if (is_image_id(reference, resolved->id) || reference_parse(reference, &parsed, NULL) < 0) {
        out->name = xstrdup(resolved->repo_tag ? resolved->repo_tag : reference);
        out->image_ref = xstrdup(resolved->repo_digest ? resolved->repo_digest : resolved->id);
        return 0;
    }
    if (images_status(images, resolved->id, &record, err) < 0)
        return -1;
    name = reference_name(&parsed);
    repo_digest = find_repo_digest(record.repo_digests, name);
    out->name = xstrdup(reference);
    out->image_ref = xstrdup(repo_digest ? repo_digest : resolved->id);
    image_record_clear(&record);
    return 0;
}

int image_info_resolve(struct images *images, const char *reference, struct image_info *out,
                       struct error *err)
{
    struct images_resolved resolved = {0};

    memset(out, 0, sizeof(*out));
    if (images == NULL)
        return error_set(err, ERROR_UNAVAILABLE, "image %s: the image service is not available",
                         reference);
    if (images_resolve(images, reference, &resolved, err) < 0) {
        /* images_resolve names the reference already; say what to do about a missing one. */
        if (err && err->code == ERROR_NOT_FOUND)
            error_set(err, ERROR_NOT_FOUND, "image \"%s\" not found: pull it first (PullImage)",
                      reference);
        return -1;
    }

    if (set_names(images, reference, &resolved, out, err) < 0) {
        images_resolved_clear(&resolved);
        return -1;
    }
    out->id = xstrdup(resolved.id);
    out->entrypoint = strv_copy(resolved.config.entrypoint);
    out->cmd = strv_copy(resolved.config.cmd);
    out->env = strv_copy(resolved.config.env);
    out->working_dir = xstrdup_or_null(resolved.config.working_dir);
    out->user = xstrdup_or_null(resolved.config.user);
    out->stop_signal = xstrdup_or_null(resolved.config.stop_signal);
    out->layers = strv_copy(resolved.layer_dirs);
    images_resolved_clear(&resolved);
    return 0;
}

void image_info_clear(struct image_info *info)
{
    free(info->id);
    free(info->image_ref);
    free(info->name);
    strv_free(info->entrypoint);
    strv_free(info->cmd);
    strv_free(info->env);
    free(info->working_dir);
    free(info->user);
    free(info->stop_signal);
    strv_free(info->layers);
    memset(info, 0, sizeof(*info));
}
