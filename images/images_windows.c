/*
 * The image subsystem of the Windows build until images/ is ported: images_open opens nothing,
 * so the daemon serves the runtime-info RPCs and ImageService calls fail with UNAVAILABLE. The
 * Linux build compiles this file to nothing.
 */
#ifdef _WIN32

#include "images/images.h"

#include <string.h>

#include "common/log.h"

void images_config_init_defaults(struct images_config *config)
{
    memset(config, 0, sizeof(*config));
}

int images_open(uv_loop_t *loop, const struct images_config *config, struct images **out,
                struct error *err)
{
    (void)loop;
    (void)config;
    (void)err;
    log_warn("the image service is not ported to Windows yet: image calls fail with UNAVAILABLE");
    *out = NULL;
    return 0;
}

void images_close(struct images *images)
{
    (void)images;
}

#endif
