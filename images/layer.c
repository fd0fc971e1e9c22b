#include "images/layer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "common/log.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "images/content_fs.h"
#include "images/layer_os.h"

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_META_PREFIX ".wh..wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
#define LAYER_READ_BLOCK (128 * 1024)

/* A set of strings (the paths one layer created), for whiteouts in LAYER_UNPACK_FLAT. */
struct path_set {
    char **slots;
    size_t capacity; /* a power of two */
    size_t count;
};

static size_t hash_string(const char *s)
{
    size_t h = 14695981039346656037ULL;

    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static char **path_set_slot(const struct path_set *set, const char *path)
{
    size_t i = hash_string(path) & (set->capacity - 1);

    while (set->slots[i] && strcmp(set->slots[i], path) != 0)
        i = (i + 1) & (set->capacity - 1);
    return &set->slots[i];
}

static bool path_set_contains(const struct path_set *set, const char *path)
{
    return set->capacity > 0 && *path_set_slot(set, path) != NULL;
}

static void path_set_add(struct path_set *set, const char *path)
{
    char **slot;

    if ((set->count + 1) * 2 > set->capacity) {
        struct path_set bigger = {xcalloc(set->capacity ? set->capacity * 2 : 64, sizeof(char *)),
                                  set->capacity ? set->capacity * 2 : 64, set->count};

        for (size_t i = 0; i < set->capacity; i++)
            if (set->slots[i])
                *path_set_slot(&bigger, set->slots[i]) = set->slots[i];
        free(set->slots);
        *set = bigger;
    }
    slot = path_set_slot(set, path);
    if (*slot == NULL) {
        *slot = xstrdup(path);
        set->count++;
    }
}

static void path_set_free(struct path_set *set)
{
    for (size_t i = 0; i < set->capacity; i++)
        free(set->slots[i]);
    free(set->slots);
}

/* A directory whose times are set after the last entry, when nothing changes it any more. */
struct deferred_dir {
    char *path;
    struct layer_os_entry times;
};

/* The state of one unpack. */
struct unpack {
    const char *blob_path;
    enum layer_unpack_mode mode;
    enum layer_format format;
    struct layer_os_root *root;
    struct archive *compressed; /* gzip/zstd/none filters, raw format: the tar byte stream */
    struct archive *tar;        /* tar format read from the compressed archive's data */
    struct digest_ctx *diff_hash;
    char buffer[LAYER_READ_BLOCK];
    bool stream_failed;
    struct path_set created;
    struct deferred_dir *dirs;
    size_t dir_count;
    size_t dir_capacity;
    struct layer_unpack_stats stats;
};

static void note_created(const char *path, void *data)
{
    struct unpack *u = data;

    if (u->mode == LAYER_UNPACK_FLAT)
        path_set_add(&u->created, path);
}

/*
 * Cleans an entry name into a path relative to the layer root: leading "/" and "." and empty
 * components are dropped. Returns NULL for a ".." component or an overlong name.
 */
static char *clean_entry_path(const char *name)
{
    _cleanup_strbuf_ struct strbuf buf = STRBUF_INIT;
    const char *p = name;

    if (strlen(name) >= PATH_MAX)
        return NULL;
    while (*p) {
        size_t length = strcspn(p, "/");

        if (length == 2 && p[0] == '.' && p[1] == '.')
            return NULL;
        if (length > 0 && !(length == 1 && p[0] == '.')) {
            if (buf.length > 0)
                strbuf_append_char(&buf, '/');
            strbuf_append(&buf, p, length);
        }
        p += length;
        while (*p == '/')
            p++;
    }
    return strbuf_steal(&buf);
}

/* Splits a cleaned path into its directory ("" for the root) and its last component. */
static char *dir_of(const char *path, const char **base)
{
    const char *slash = strrchr(path, '/');

    *base = slash ? slash + 1 : path;
    return slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
}

static char *join_path(const char *dir, const char *name)
{
    return dir[0] ? xasprintf("%s/%s", dir, name) : xstrdup(name);
}

/*
 * LAYER_FORMAT_WINDOWS: rewrites a cleaned path under "Files/" to the path inside Files/ ("" for
 * Files itself). Returns false for paths outside Files/ (Hives/, UtilityVM/, ...).
 */
static bool strip_windows_files(char *path)
{
    size_t length = strcspn(path, "/");

    if (length != 5 || strncasecmp(path, "Files", 5) != 0)
        return false;
    if (path[length] == '\0')
        path[0] = '\0';
    else
        memmove(path, path + length + 1, strlen(path + length + 1) + 1);
    return true;
}

/* Maps an OS error about an entry to the unpack's error. */
static int entry_error(struct unpack *u, int rc, const char *name, struct error *err)
{
    if (rc == -ELOOP || rc == -ENOTDIR || rc == -EXDEV)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "layer %s: entry \"%s\" leads through a symlink or a non-directory, "
                         "so it could land outside the layer",
                         u->blob_path, name);
    if (rc == -EILSEQ)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "layer %s: entry \"%s\" has a name that this file system cannot store "
                         "(a \\ separator, a drive or stream colon, a reserved character, or a "
                         "trailing dot or space)",
                         u->blob_path, name);
    if (rc == -ENOTSUP)
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "layer %s: cannot create entry \"%s\": this host's file system does not "
                         "support its type",
                         u->blob_path, name);
    if (rc == -ENOSPC)
        return error_set_errno(err, ERROR_RESOURCE_EXHAUSTED, rc,
                               "layer %s: cannot create entry \"%s\"", u->blob_path, name);
    return error_set_errno(err, ERROR_INTERNAL, rc, "layer %s: cannot create entry \"%s\"",
                           u->blob_path, name);
}

static la_ssize_t read_tar_stream(struct archive *a, void *data, const void **block)
{
    struct unpack *u = data;
    la_ssize_t n = archive_read_data(u->compressed, u->buffer, sizeof(u->buffer));

    if (n < 0) {
        u->stream_failed = true;
        archive_set_error(a, EIO, "%s", archive_error_string(u->compressed));
        return -1;
    }
    digest_ctx_update(u->diff_hash, u->buffer, (size_t)n);
    *block = u->buffer;
    return n;
}

static int archive_failure(struct unpack *u, struct archive *a, struct error *err)
{
    const char *message = archive_error_string(u->stream_failed ? u->compressed : a);

    return error_set(err, ERROR_DATA_LOSS, "layer %s: corrupt or unsupported archive: %s",
                     u->blob_path, message ? message : "unknown error");
}

static int open_archives(struct unpack *u, struct error *err)
{
    struct archive_entry *entry;

    u->compressed = archive_read_new();
    archive_read_support_filter_gzip(u->compressed);
    archive_read_support_filter_zstd(u->compressed);
    archive_read_support_format_raw(u->compressed);
    if (archive_read_open_filename(u->compressed, u->blob_path, LAYER_READ_BLOCK) != ARCHIVE_OK) {
        if (archive_errno(u->compressed) == ENOENT)
            return error_set(err, ERROR_NOT_FOUND, "layer blob %s not found", u->blob_path);
        return archive_failure(u, u->compressed, err);
    }
    if (archive_read_next_header(u->compressed, &entry) != ARCHIVE_OK)
        return archive_failure(u, u->compressed, err);

    u->tar = archive_read_new();
    archive_read_support_format_tar(u->tar);
    archive_read_support_format_empty(u->tar);
    if (archive_read_open(u->tar, u, NULL, read_tar_stream, NULL) != ARCHIVE_OK)
        return archive_failure(u, u->tar, err);
    return 0;
}

/* Reads what follows the end of the tar so that the diff ID covers the whole stream. */
static int drain_stream(struct unpack *u, struct error *err)
{
    for (;;) {
        la_ssize_t n = archive_read_data(u->compressed, u->buffer, sizeof(u->buffer));

        if (n < 0)
            return archive_failure(u, u->compressed, err);
        if (n == 0)
            return 0;
        digest_ctx_update(u->diff_hash, u->buffer, (size_t)n);
    }
}

/* The extended attributes kept, as the header comment of layer.h lists them. */
static bool keep_xattr(const char *name)
{
    /* overlayfs reads *.overlay.* attributes (opaque, redirect, metacopy) from lower layers. */
    if (str_has_prefix(name, "trusted.overlay.") || str_has_prefix(name, "user.overlay."))
        return false;
    return str_has_prefix(name, "user.") || str_has_prefix(name, "trusted.") ||
           strcmp(name, "security.capability") == 0;
}

static struct layer_os_xattr *collect_xattrs(struct archive_entry *ae, size_t *count)
{
    size_t total = (size_t)archive_entry_xattr_reset(ae);
    struct layer_os_xattr *xattrs = xcalloc(total + 1, sizeof(*xattrs));
    struct layer_os_xattr x;

    *count = 0;
    while (archive_entry_xattr_next(ae, &x.name, &x.value, &x.size) == ARCHIVE_OK) {
        if (keep_xattr(x.name) && *count < total)
            xattrs[(*count)++] = x;
    }
    return xattrs;
}

static int entry_type(struct archive_entry *ae, enum layer_os_type *type)
{
    if (archive_entry_hardlink(ae) != NULL) {
        *type = LAYER_OS_HARDLINK;
        return 0;
    }
    switch (archive_entry_filetype(ae)) {
    case AE_IFREG:
        *type = LAYER_OS_FILE;
        return 0;
    case AE_IFDIR:
        *type = LAYER_OS_DIR;
        return 0;
    case AE_IFLNK:
        *type = LAYER_OS_SYMLINK;
        return 0;
    case AE_IFCHR:
        *type = LAYER_OS_CHAR;
        return 0;
    case AE_IFBLK:
        *type = LAYER_OS_BLOCK;
        return 0;
    case AE_IFIFO:
        *type = LAYER_OS_FIFO;
        return 0;
    default:
        return -1;
    }
}

static void fill_entry(struct archive_entry *ae, const char *path, struct layer_os_entry *e)
{
    e->path = path;
    e->mode = (uint32_t)archive_entry_perm(ae);
    e->uid = archive_entry_uid(ae);
    e->gid = archive_entry_gid(ae);
    e->mtime_sec = archive_entry_mtime(ae);
    e->mtime_nsec = archive_entry_mtime_nsec(ae);
    e->atime_sec = archive_entry_atime_is_set(ae) ? archive_entry_atime(ae) : e->mtime_sec;
    e->atime_nsec = archive_entry_atime_is_set(ae) ? archive_entry_atime_nsec(ae) : e->mtime_nsec;
    e->link_target = archive_entry_symlink(ae);
    e->dev_major = (uint32_t)archive_entry_rdevmajor(ae);
    e->dev_minor = (uint32_t)archive_entry_rdevminor(ae);
}

static int copy_file_data(struct unpack *u, int fd, const struct layer_os_entry *e,
                          struct error *err)
{
    for (;;) {
        const void *block;
        size_t size;
        la_int64_t offset;
        int r = archive_read_data_block(u->tar, &block, &size, &offset);
        int rc;

        if (r == ARCHIVE_EOF)
            return 0;
        if (r < ARCHIVE_WARN)
            return archive_failure(u, u->tar, err);
        rc = layer_os_file_write(fd, block, size, offset);
        if (rc < 0)
            return entry_error(u, rc, e->path, err);
    }
}

static int write_file(struct unpack *u, int fd, struct archive_entry *ae,
                      const struct layer_os_entry *e, struct error *err)
{
    int64_t size = archive_entry_size(ae);
    int rc;

    if (copy_file_data(u, fd, e, err) < 0) {
        close(fd);
        return -1;
    }
    rc = layer_os_file_finish(fd, e, size);
    if (rc < 0)
        return entry_error(u, rc, e->path, err);
    u->stats.size += (uint64_t)size;
    return 0;
}

static void defer_dir_times(struct unpack *u, const struct layer_os_entry *e)
{
    struct deferred_dir *d;

    if (e->path[0] == '\0')
        return;
    if (u->dir_count == u->dir_capacity) {
        u->dir_capacity = u->dir_capacity ? u->dir_capacity * 2 : 64;
        u->dirs = xrealloc(u->dirs, u->dir_capacity * sizeof(*u->dirs));
    }
    d = &u->dirs[u->dir_count++];
    d->path = xstrdup(e->path);
    d->times = *e;
    d->times.path = d->path;
    d->times.xattrs = NULL;
    d->times.xattr_count = 0;
    d->times.link_target = NULL;
}

static int check_hardlink(struct unpack *u, struct archive_entry *ae, const char *name,
                          char **target, struct error *err)
{
    const char *raw = archive_entry_hardlink(ae);

    *target = clean_entry_path(raw);
    if (*target != NULL && u->format == LAYER_FORMAT_WINDOWS && !strip_windows_files(*target))
        (*target)[0] = '\0';
    if (*target == NULL || (*target)[0] == '\0')
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "layer %s: entry \"%s\" is a hard link to \"%s\", outside the layer",
                         u->blob_path, name, raw);
    return 0;
}

static int create_entry(struct unpack *u, struct archive_entry *ae, const char *name,
                        const char *path, struct error *err)
{
    _cleanup_free_ struct layer_os_xattr *xattrs = NULL;
    _cleanup_free_ char *target = NULL;
    struct layer_os_entry e = {0};
    int fd = -1;
    int rc;

    if (entry_type(ae, &e.type) < 0) {
        log_debug("layer %s: entry \"%s\" of type %o skipped", u->blob_path, name,
                  (unsigned)archive_entry_filetype(ae));
        return 0;
    }
    if (path[0] == '\0' && e.type != LAYER_OS_DIR)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "layer %s: entry \"%s\" replaces the layer root with a non-directory",
                         u->blob_path, name);
    fill_entry(ae, path, &e);
    if (e.type == LAYER_OS_HARDLINK) {
        if (check_hardlink(u, ae, name, &target, err) < 0)
            return -1;
        e.link_target = target;
    }
    xattrs = collect_xattrs(ae, &e.xattr_count);
    e.xattrs = xattrs;

    note_created(path, u);
    rc = layer_os_create(u->root, &e, &fd, note_created, u);
    if (rc == -ENOENT && e.type == LAYER_OS_HARDLINK)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "layer %s: entry \"%s\" is a hard link to \"%s\", which does not exist",
                         u->blob_path, name, target);
    if (rc == -EPERM && e.type == LAYER_OS_HARDLINK)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "layer %s: entry \"%s\" is a hard link to \"%s\", which is a directory",
                         u->blob_path, name, target);
    if (rc < 0)
        return entry_error(u, rc, name, err);
    if (e.type == LAYER_OS_FILE)
        return write_file(u, fd, ae, &e, err);
    if (e.type == LAYER_OS_DIR)
        defer_dir_times(u, &e);
    return 0;
}

struct child_list {
    char **names;
    bool *is_dir;
    size_t count;
};

static void add_child(const char *name, bool is_dir, void *data)
{
    struct child_list *list = data;

    list->names = xrealloc(list->names, (list->count + 1) * sizeof(char *));
    list->is_dir = xrealloc(list->is_dir, (list->count + 1) * sizeof(bool));
    list->names[list->count] = xstrdup(name);
    list->is_dir[list->count] = is_dir;
    list->count++;
}

/*
 * LAYER_UNPACK_FLAT opaque directory: removes what lower layers left in dir, keeping entries
 * this layer created (and the lower content inside them is removed as well).
 */
static int remove_lower_entries(struct unpack *u, const char *dir, const char *name,
                                struct error *err)
{
    struct child_list children = {0};
    int rc = layer_os_list(u->root, dir, add_child, &children);

    for (size_t i = 0; rc == 0 && i < children.count; i++) {
        _cleanup_free_ char *child = join_path(dir, children.names[i]);

        if (!path_set_contains(&u->created, child))
            rc = layer_os_remove(u->root, child);
        else if (children.is_dir[i] && remove_lower_entries(u, child, name, err) < 0)
            rc = 1;
    }
    for (size_t i = 0; i < children.count; i++)
        free(children.names[i]);
    free(children.names);
    free(children.is_dir);
    if (rc == 1)
        return -1;
    return rc < 0 ? entry_error(u, rc, name, err) : 0;
}

static int apply_opaque(struct unpack *u, const char *name, const char *dir, struct error *err)
{
    int rc;

    if (u->mode == LAYER_UNPACK_FLAT)
        return remove_lower_entries(u, dir, name, err);
    rc = layer_os_set_opaque(u->root, dir, note_created, u);
    if (rc < 0)
        return entry_error(u, rc, name, err);
    return 0;
}

static int apply_whiteout(struct unpack *u, struct archive_entry *ae, const char *name,
                          const char *target, struct error *err)
{
    bool kept = false;
    int rc;

    if (u->mode == LAYER_UNPACK_FLAT) {
        /* A whiteout applies to lower layers only, never to what this layer created. */
        if (path_set_contains(&u->created, target))
            return 0;
        rc = layer_os_remove(u->root, target);
    } else {
        rc = layer_os_whiteout(u->root, target, archive_entry_uid(ae), archive_entry_gid(ae), &kept,
                               note_created, u);
    }
    if (rc < 0)
        return entry_error(u, rc, name, err);
    if (kept)
        log_debug("layer %s: whiteout \"%s\" ignored: the same layer creates its target",
                  u->blob_path, name);
    return 0;
}

/* Handles an entry whose last component starts with ".wh.". */
static int process_whiteout(struct unpack *u, struct archive_entry *ae, const char *name,
                            const char *path, struct error *err)
{
    const char *base;
    _cleanup_free_ char *dir = dir_of(path, &base);
    _cleanup_free_ char *target = NULL;

    if (strcmp(base, WHITEOUT_OPAQUE) == 0)
        return apply_opaque(u, name, dir, err);
    if (str_has_prefix(base, WHITEOUT_META_PREFIX)) {
        /* aufs bookkeeping such as ".wh..wh.plnk" carries no content. */
        log_debug("layer %s: entry \"%s\" skipped", u->blob_path, name);
        return 0;
    }
    if (base[strlen(WHITEOUT_PREFIX)] == '\0')
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "layer %s: whiteout entry \"%s\" names no file", u->blob_path, name);
    target = join_path(dir, base + strlen(WHITEOUT_PREFIX));
    return apply_whiteout(u, ae, name, target, err);
}

static int process_entry(struct unpack *u, struct archive_entry *ae, struct error *err)
{
    const char *name = archive_entry_pathname(ae);
    _cleanup_free_ char *path = NULL;
    const char *slash;

    if (name == NULL)
        return error_set(err, ERROR_DATA_LOSS, "layer %s: entry without a name", u->blob_path);
    path = clean_entry_path(name);
    if (path == NULL)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "layer %s: entry \"%s\" has a \"..\" component or is too long, so it "
                         "could land outside the layer",
                         u->blob_path, name);
    u->stats.entries++;
    if (u->format == LAYER_FORMAT_WINDOWS && !strip_windows_files(path)) {
        log_debug("layer %s: entry \"%s\" is outside Files/ and skipped", u->blob_path, name);
        return 0;
    }

    slash = strrchr(path, '/');
    if (str_has_prefix(slash ? slash + 1 : path, WHITEOUT_PREFIX))
        return process_whiteout(u, ae, name, path, err);
    return create_entry(u, ae, name, path, err);
}

static int apply_dir_times(struct unpack *u, struct error *err)
{
    for (size_t i = u->dir_count; i-- > 0;) {
        int rc = layer_os_set_times(u->root, u->dirs[i].path, &u->dirs[i].times);

        /* A later entry of the layer may have replaced or removed the directory. */
        if (rc < 0 && rc != -ENOENT)
            return entry_error(u, rc, u->dirs[i].path, err);
    }
    return 0;
}

static int read_entries(struct unpack *u, struct error *err)
{
    for (;;) {
        struct archive_entry *ae;
        int r = archive_read_next_header(u->tar, &ae);

        if (r == ARCHIVE_EOF)
            return 0;
        if (r < ARCHIVE_WARN)
            return archive_failure(u, u->tar, err);
        if (process_entry(u, ae, err) < 0)
            return -1;
    }
}

static int check_diff_id(struct unpack *u, const char *expected, struct error *err)
{
    digest_ctx_final(u->diff_hash, u->stats.diff_id);
    if (expected != NULL && strcmp(expected, u->stats.diff_id) != 0)
        return error_set(err, ERROR_DATA_LOSS, "layer %s: diff ID mismatch: expected %s, actual %s",
                         u->blob_path, expected, u->stats.diff_id);
    return 0;
}

static int run_unpack(struct unpack *u, const char *target_dir, const char *expected_diff_id,
                      struct error *err)
{
    int rc = layer_os_root_open(target_dir, &u->root);

    if (rc < 0)
        return error_set_errno(err, rc == -ENOENT ? ERROR_NOT_FOUND : ERROR_INTERNAL, rc,
                               "open layer target %s", target_dir);
    if (open_archives(u, err) < 0 || read_entries(u, err) < 0 || drain_stream(u, err) < 0 ||
        apply_dir_times(u, err) < 0)
        return -1;
    return check_diff_id(u, expected_diff_id, err);
}

static void unpack_free(struct unpack *u)
{
    if (u->tar)
        archive_read_free(u->tar);
    if (u->compressed)
        archive_read_free(u->compressed);
    layer_os_root_close(u->root);
    digest_ctx_free(u->diff_hash);
    path_set_free(&u->created);
    for (size_t i = 0; i < u->dir_count; i++)
        free(u->dirs[i].path);
    free(u->dirs);
    free(u);
}

int layer_unpack(const char *blob_path, const char *target_dir,
                 const struct layer_unpack_options *options, struct layer_unpack_stats *stats,
                 struct error *err)
{
    struct unpack *u = xcalloc(1, sizeof(*u));
    int rc;

    u->blob_path = blob_path;
    u->mode = options ? options->mode : LAYER_UNPACK_OVERLAY;
    u->format = options ? options->format : LAYER_FORMAT_PLAIN;
    u->diff_hash = digest_ctx_new(DIGEST_SHA256);
    rc = run_unpack(u, target_dir, options ? options->expected_diff_id : NULL, err);
    if (rc == 0 && stats)
        *stats = u->stats;
    unpack_free(u);
    return rc;
}
