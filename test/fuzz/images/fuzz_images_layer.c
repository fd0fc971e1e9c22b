/*
 * Unpacks arbitrary bytes as a layer blob into a fresh directory, in overlay and in
 * flattened mode, and removes everything after each run. Checks that nothing was created
 * next to the target directory.
 */
#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"
#include "images/content_fs.h"
#include "images/layer.h"

static char base[64];

static int count_entry(const char *name, void *data)
{
    (*(int *)data)++;
    return 0;
}

static void write_blob(const char *path, const uint8_t *data, size_t size)
{
    FILE *file = fopen(path, "w");

    if (file == NULL || fwrite(data, 1, size, file) != size)
        abort();
    fclose(file);
}

static void unpack_once(const char *blob, const char *outer, enum layer_unpack_mode mode)
{
    _cleanup_free_ char *target = xasprintf("%s/target", outer);
    struct layer_unpack_options options = {mode, NULL, LAYER_FORMAT_PLAIN};
    struct error err = ERROR_INIT;
    int count = 0;

    if (mkdir(outer, 0755) < 0 || mkdir(target, 0755) < 0)
        abort();
    layer_unpack(blob, target, &options, NULL, &err);
    error_clear(&err);
    /* The only entry next to the target must be the target itself. */
    if (content_fs_list_dir(outer, count_entry, &count) < 0 || count != 1)
        abort();
    if (content_fs_remove_tree(outer) < 0)
        abort();
}

static void remove_base(void)
{
    content_fs_remove_tree(base);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    _cleanup_free_ char *blob = NULL;
    _cleanup_free_ char *outer = NULL;

    if (base[0] == '\0') {
        snprintf(base, sizeof(base), "/tmp/hostcri-fuzz-layer-XXXXXX");
        if (mkdtemp(base) == NULL)
            abort();
        atexit(remove_base);
    }
    blob = xasprintf("%s/blob", base);
    outer = xasprintf("%s/outer", base);
    write_blob(blob, data, size);
    unpack_once(blob, outer, LAYER_UNPACK_OVERLAY);
    unpack_once(blob, outer, LAYER_UNPACK_FLAT);
    unlink(blob);
    return 0;
}
