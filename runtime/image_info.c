#include "runtime/image_info.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "images/images.h"

static char **copy_strv(char *const *strv)
{
    size_t n = strv_length(strv);
    char **copy;

    if (strv == NULL)
        return NULL;
    copy = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        copy[i] = xstrdup(strv[i]);
    return copy;
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

    out->id = xstrdup(resolved.id);
    out->image_ref = xstrdup(resolved.repo_digest ? resolved.repo_digest : resolved.id);
    out->name = xstrdup(resolved.repo_tag ? resolved.repo_tag : reference);
    out->entrypoint = copy_strv(resolved.config.entrypoint);
    out->cmd = copy_strv(resolved.config.cmd);
    out->env = copy_strv(resolved.config.env);
    out->working_dir = xstrdup_or_null(resolved.config.working_dir);
    out->user = xstrdup_or_null(resolved.config.user);
    out->stop_signal = xstrdup_or_null(resolved.config.stop_signal);
    out->layers = copy_strv(resolved.layer_dirs);
    if (out->layers == NULL)
        out->layers = xcalloc(1, sizeof(char *));
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
