/* The directory of unpacked layers: the layer_store_init ... layer_flatten part of layer.h. */
#include "images/layer.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "images/content_fs.h"
#include "images/layer_os.h"

#define TEMP_PREFIX ".tmp-"

static char *layers_dir(const char *root)
{
    return xasprintf("%s/layers", root);
}

/* "<root>/layers/<hex>", or NULL with ERROR_INVALID_ARGUMENT. */
static char *layer_dir(const char *root, const char *chain_id, struct error *err)
{
    const char *hex;

    if (digest_parse(chain_id, NULL, &hex, err) < 0)
        return NULL;
    return xasprintf("%s/layers/%s", root, hex);
}

static int remove_leftover(const char *name, void *data)
{
    const char *dir = data;
    _cleanup_free_ char *path = NULL;
    int rc;

    if (!str_has_prefix(name, TEMP_PREFIX))
        return 0;
    path = xasprintf("%s/%s", dir, name);
    rc = content_fs_remove_tree(path);
    if (rc < 0)
        log_warn("layer store: cannot remove leftover %s: %s", path, strerror(-rc));
    else
        log_info("layer store: removed leftover %s", path);
    return 0;
}

int layer_store_init(const char *root, struct error *err)
{
    _cleanup_free_ char *dir = layers_dir(root);
    int rc = content_fs_mkdir_p(dir, 0700);

    if (rc < 0)
        return error_set_errno(err, ERROR_INTERNAL, rc, "create layer directory %s", dir);
    rc = content_fs_list_dir(dir, remove_leftover, dir);
    if (rc < 0)
        return error_set_errno(err, ERROR_INTERNAL, rc, "list %s", dir);
    return 0;
}

char *layer_fs_path(const char *root, const char *chain_id, struct error *err)
{
    _cleanup_free_ char *dir = layer_dir(root, chain_id, err);

    return dir ? xasprintf("%s/fs", dir) : NULL;
}

bool layer_exists(const char *root, const char *chain_id)
{
    _cleanup_free_ char *fs = layer_fs_path(root, chain_id, NULL);
    struct stat st;

    return fs != NULL && stat(fs, &st) == 0 && S_ISDIR(st.st_mode);
}

static int write_size_file(const char *dir, uint64_t size, struct error *err)
{
    _cleanup_free_ char *path = xasprintf("%s/size", dir);
    _cleanup_close_ int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | CONTENT_FS_OPEN_FLAGS, 0644);
    char text[32];
    int length = snprintf(text, sizeof(text), "%" PRIu64 "\n", size);

    if (fd < 0 || write(fd, text, (size_t)length) != length)
        return error_set_errno(err, ERROR_INTERNAL, errno, "write %s", path);
    return 0;
}

/* Makes "<parent>/<prefix>XXXXXX"; stores the path in *out. */
static int make_temp_dir(const char *parent, const char *prefix, char **out, struct error *err)
{
    int rc = content_fs_create_temp_dir(parent, prefix, out);

    if (rc < 0)
        return error_set_errno(err, ERROR_INTERNAL, rc, "create temporary directory in %s", parent);
    return 0;
}

/* Unpacks into <temp>/fs and records the size; the caller renames temp into place. */
static int fill_layer_dir(const char *temp, const char *blob_path,
                          const struct layer_unpack_options *options,
                          struct layer_unpack_stats *stats, struct error *err)
{
    _cleanup_free_ char *fs = xasprintf("%s/fs", temp);
    int rc;

    rc = content_fs_mkdir_p(fs, 0755);
    if (rc < 0)
        return error_set_errno(err, ERROR_INTERNAL, rc, "create %s", fs);
    if (layer_unpack(blob_path, fs, options, stats, err) < 0)
        return -1;
    if (write_size_file(temp, stats->size, err) < 0)
        return -1;
    /* The rename below must not become visible before the files it names reach the disk. */
    rc = layer_os_sync(temp);
    if (rc < 0)
        return error_set_errno(err, ERROR_INTERNAL, rc, "sync %s", temp);
    return 0;
}

enum layer_format layer_format_for_os(const char *config_os)
{
    return config_os != NULL && strcasecmp(config_os, "windows") == 0 ? LAYER_FORMAT_WINDOWS
                                                                      : LAYER_FORMAT_PLAIN;
}

int layer_create(const char *root, const char *chain_id, const char *blob_path,
                 const char *expected_diff_id, enum layer_format format,
                 struct layer_unpack_stats *stats, struct error *err)
{
    struct layer_unpack_options options = {LAYER_UNPACK_OVERLAY, expected_diff_id, format};
    _cleanup_free_ char *final = layer_dir(root, chain_id, err);
    _cleanup_free_ char *parent = layers_dir(root);
    _cleanup_free_ char *prefix = NULL;
    _cleanup_free_ char *temp = NULL;
    struct layer_unpack_stats local;
    int rc;

    if (final == NULL)
        return -1;
    prefix = xasprintf(TEMP_PREFIX "%.12s-", strrchr(final, '/') + 1);
    if (make_temp_dir(parent, prefix, &temp, err) < 0)
        return -1;
    if (fill_layer_dir(temp, blob_path, &options, stats ? stats : &local, err) < 0) {
        content_fs_remove_tree(temp);
        return -1;
    }

    rc = content_fs_rename_noreplace(temp, final);
    if (rc == -EEXIST || rc == -ENOTEMPTY) {
        log_debug("layer %s was created meanwhile; discarding this copy", chain_id);
        content_fs_remove_tree(temp);
        return 0;
    }
    if (rc < 0) {
        content_fs_remove_tree(temp);
        return error_set_errno(err, ERROR_INTERNAL, rc, "rename %s to %s", temp, final);
    }
    rc = content_fs_sync_dir(parent);
    if (rc < 0)
        return error_set_errno(err, ERROR_INTERNAL, rc, "sync %s", parent);
    return 0;
}

int layer_size(const char *root, const char *chain_id, uint64_t *size, struct error *err)
{
    _cleanup_free_ char *dir = layer_dir(root, chain_id, err);
    _cleanup_free_ char *path = NULL;
    FILE *file;
    int matched;

    if (dir == NULL)
        return -1;
    if (!layer_exists(root, chain_id))
        return error_set(err, ERROR_NOT_FOUND, "layer %s not found", chain_id);
    path = xasprintf("%s/size", dir);
    file = fopen(path, "r");
    if (file == NULL)
        return error_set_errno(err, ERROR_INTERNAL, errno, "open %s", path);
    matched = fscanf(file, "%" SCNu64, size);
    fclose(file);
    if (matched != 1)
        return error_set(err, ERROR_INTERNAL, "layer %s: %s is not a number", chain_id, path);
    return 0;
}

int layer_remove(const char *root, const char *chain_id, struct error *err)
{
    _cleanup_free_ char *final = layer_dir(root, chain_id, err);
    _cleanup_free_ char *temp = NULL;
    int rc;

    if (final == NULL)
        return -1;
    if (!layer_exists(root, chain_id))
        return error_set(err, ERROR_NOT_FOUND, "layer %s not found", chain_id);
    temp = xasprintf("%s/layers/" TEMP_PREFIX "removing-%s", root, strrchr(final, '/') + 1);
    if (rename(final, temp) < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "rename %s to %s", final, temp);
    rc = content_fs_remove_tree(temp);
    if (rc < 0)
        return error_set_errno(err, ERROR_INTERNAL, rc, "remove %s", temp);
    return 0;
}

struct layer_listing {
    const char *root;
    char **chain_ids;
    size_t count;
};

static int add_listed_layer(const char *name, void *data)
{
    struct layer_listing *listing = data;
    const char *algorithm = strlen(name) == 128 ? "sha512" : "sha256";
    char *chain_id = xasprintf("%s:%s", algorithm, name);

    if (!digest_is_valid(chain_id) || !layer_exists(listing->root, chain_id)) {
        free(chain_id);
        return 0;
    }
    listing->chain_ids = xrealloc(listing->chain_ids, (listing->count + 2) * sizeof(char *));
    listing->chain_ids[listing->count++] = chain_id;
    listing->chain_ids[listing->count] = NULL;
    return 0;
}

int layer_list(const char *root, char ***chain_ids, struct error *err)
{
    _cleanup_free_ char *dir = layers_dir(root);
    struct layer_listing listing = {root, xcalloc(1, sizeof(char *)), 0};
    int rc = content_fs_list_dir(dir, add_listed_layer, &listing);

    if (rc < 0 && rc != -ENOENT) {
        strv_free(listing.chain_ids);
        return error_set_errno(err, ERROR_INTERNAL, rc, "list %s", dir);
    }
    *chain_ids = listing.chain_ids;
    return 0;
}

static void add_stats(struct layer_unpack_stats *total, const struct layer_unpack_stats *one)
{
    total->size += one->size;
    total->entries += one->entries;
    memcpy(total->diff_id, one->diff_id, sizeof(total->diff_id));
}

static int apply_layers(const char *const *blob_paths, const char *const *diff_ids, size_t count,
                        enum layer_format format, const char *dir, struct layer_unpack_stats *total,
                        struct error *err)
{
    for (size_t i = 0; i < count; i++) {
        struct layer_unpack_options options = {LAYER_UNPACK_FLAT, diff_ids ? diff_ids[i] : NULL,
                                               format};
        struct layer_unpack_stats one;

        if (layer_unpack(blob_paths[i], dir, &options, &one, err) < 0)
            return error_prefix(err, "flatten layer %zu", i);
        add_stats(total, &one);
    }
    return 0;
}

int layer_flatten(const char *const *blob_paths, const char *const *diff_ids, size_t count,
                  enum layer_format format, const char *target_dir,
                  struct layer_unpack_stats *stats, struct error *err)
{
    _cleanup_free_ char *parent = NULL;
    _cleanup_free_ char *prefix = NULL;
    _cleanup_free_ char *temp = NULL;
    struct layer_unpack_stats total = {0};
    const char *slash = strrchr(target_dir, '/');
    int rc;

    parent = slash ? xstrndup(target_dir, (size_t)(slash - target_dir)) : xstrdup(".");
    prefix = xasprintf(TEMP_PREFIX "%s-", slash ? slash + 1 : target_dir);
    if (make_temp_dir(parent, prefix, &temp, err) < 0)
        return -1;
    /* The temporary directory is 0700, but a root file system is 0755 unless a layer sets another
     * mode. */
    if (chmod(temp, 0755) < 0) {
        error_set_errno(err, ERROR_INTERNAL, errno, "chmod %s", temp);
        content_fs_remove_tree(temp);
        return -1;
    }
    if (apply_layers(blob_paths, diff_ids, count, format, temp, &total, err) < 0) {
        content_fs_remove_tree(temp);
        return -1;
    }
    rc = layer_os_sync(temp);
    if (rc == 0)
        rc = content_fs_rename_noreplace(temp, target_dir);
    if (rc < 0) {
        content_fs_remove_tree(temp);
        return error_set_errno(err, rc == -EEXIST ? ERROR_ALREADY_EXISTS : ERROR_INTERNAL, rc,
                               "flatten into %s", target_dir);
    }
    if (stats)
        *stats = total;
    return 0;
}
