#include "images/content_store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"
#include "images/content_fs.h"

struct content_store {
    char *blobs_dir;  /* <root>/content/blobs */
    char *ingest_dir; /* <root>/content/ingest */
};

struct content_writer {
    struct content_store *store;
    char *expected_digest;
    int64_t expected_size;
    int64_t offset;
    struct digest_ctx *hash;
    char *temp_path;
    int fd;
    bool failed;
};

static const enum digest_algorithm store_algorithms[] = {DIGEST_SHA256, DIGEST_SHA512};

static int remove_ingest_entry(const char *name, void *data)
{
    const struct content_store *store = data;
    _cleanup_free_ char *path = xasprintf("%s/%s", store->ingest_dir, name);
    int rc = content_fs_remove_tree(path);

    if (rc < 0)
        log_warn("content store: cannot remove leftover ingest file %s: %s", path, strerror(-rc));
    else
        log_info("content store: removed leftover ingest file %s", path);
    return 0;
}

static int make_dirs(const struct content_store *store, struct error *err)
{
    const char *dirs[] = {store->blobs_dir, store->ingest_dir};
    int rc;

    for (size_t i = 0; i < ARRAY_SIZE(dirs); i++) {
        rc = content_fs_mkdir_p(dirs[i], 0700);
        if (rc < 0)
            return error_set_errno(err, ERROR_INTERNAL, rc, "create content directory %s", dirs[i]);
    }
    for (size_t i = 0; i < ARRAY_SIZE(store_algorithms); i++) {
        _cleanup_free_ char *dir =
            xasprintf("%s/%s", store->blobs_dir, digest_algorithm_name(store_algorithms[i]));

        rc = content_fs_mkdir_p(dir, 0700);
        if (rc < 0)
            return error_set_errno(err, ERROR_INTERNAL, rc, "create content directory %s", dir);
    }
    return 0;
}

int content_store_open(const char *root, struct content_store **out, struct error *err)
{
    struct content_store *store = xcalloc(1, sizeof(*store));
    int rc;

    store->blobs_dir = xasprintf("%s/content/blobs", root);
    store->ingest_dir = xasprintf("%s/content/ingest", root);
    if (make_dirs(store, err) < 0) {
        content_store_close(store);
        return -1;
    }
    rc = content_fs_list_dir(store->ingest_dir, remove_ingest_entry, store);
    if (rc < 0) {
        error_set_errno(err, ERROR_INTERNAL, rc, "list %s", store->ingest_dir);
        content_store_close(store);
        return -1;
    }
    *out = store;
    return 0;
}

void content_store_close(struct content_store *store)
{
    if (store == NULL)
        return;
    free(store->blobs_dir);
    free(store->ingest_dir);
    free(store);
}

char *content_store_blob_path(const struct content_store *store, const char *digest,
                              struct error *err)
{
    enum digest_algorithm algorithm;
    const char *hex;

    if (digest_parse(digest, &algorithm, &hex, err) < 0)
        return NULL;
    return xasprintf("%s/%s/%s", store->blobs_dir, digest_algorithm_name(algorithm), hex);
}

bool content_store_exists(const struct content_store *store, const char *digest)
{
    _cleanup_free_ char *path = content_store_blob_path(store, digest, NULL);
    struct stat st;

    return path != NULL && stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int content_store_size(const struct content_store *store, const char *digest, int64_t *size,
                       struct error *err)
{
    _cleanup_free_ char *path = content_store_blob_path(store, digest, err);
    struct stat st;

    if (path == NULL)
        return -1;
    if (stat(path, &st) < 0)
        return error_set_errno(err, errno == ENOENT ? ERROR_NOT_FOUND : ERROR_INTERNAL, errno,
                               "blob %s", digest);
    *size = (int64_t)st.st_size;
    return 0;
}

static int read_all(int fd, char *buffer, size_t length, const char *digest, struct error *err)
{
    size_t done = 0;

    while (done < length) {
        ssize_t n = read(fd, buffer + done, length - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return error_set_errno(err, ERROR_INTERNAL, errno, "read blob %s", digest);
        if (n == 0)
            return error_set(err, ERROR_DATA_LOSS, "blob %s is shorter than its size", digest);
        done += (size_t)n;
    }
    return 0;
}

int content_store_read(const struct content_store *store, const char *digest, size_t max_size,
                       char **data, size_t *length, struct error *err)
{
    _cleanup_free_ char *path = content_store_blob_path(store, digest, err);
    _cleanup_free_ char *buffer = NULL;
    _cleanup_close_ int fd = -1;
    enum digest_algorithm algorithm;
    char actual[DIGEST_STRING_MAX];
    struct stat st;

    if (path == NULL || digest_parse(digest, &algorithm, NULL, err) < 0)
        return -1;
    fd = open(path, O_RDONLY | CONTENT_FS_OPEN_FLAGS);
    if (fd < 0)
        return error_set_errno(err, errno == ENOENT ? ERROR_NOT_FOUND : ERROR_INTERNAL, errno,
                               "blob %s", digest);
    if (fstat(fd, &st) < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "stat blob %s", digest);
    if ((uint64_t)st.st_size > max_size)
        return error_set(err, ERROR_OUT_OF_RANGE,
                         "blob %s has %lld bytes, more than the %zu allowed", digest,
                         (long long)st.st_size, max_size);

    buffer = xmalloc((size_t)st.st_size + 1);
    if (read_all(fd, buffer, (size_t)st.st_size, digest, err) < 0)
        return -1;
    buffer[st.st_size] = '\0';
    digest_buffer(algorithm, buffer, (size_t)st.st_size, actual);
    if (strcmp(actual, digest) != 0)
        return error_set(err, ERROR_DATA_LOSS, "blob %s is corrupt: its content has digest %s",
                         digest, actual);
    *length = (size_t)st.st_size;
    *data = steal_pointer(&buffer);
    return 0;
}

int content_store_put(struct content_store *store, const char *expected_digest, const void *data,
                      size_t length, char out_digest[DIGEST_STRING_MAX], struct error *err)
{
    struct content_writer *writer = NULL;
    char computed[DIGEST_STRING_MAX];

    if (expected_digest == NULL) {
        digest_buffer(DIGEST_SHA256, data, length, computed);
        expected_digest = computed;
    }
    if (content_writer_open(store, expected_digest, (int64_t)length, &writer, err) < 0)
        return -1;
    if (content_writer_write(writer, data, length, err) < 0) {
        content_writer_abort(writer);
        return -1;
    }
    if (out_digest)
        snprintf(out_digest, DIGEST_STRING_MAX, "%s", expected_digest);
    if (content_writer_commit(writer, err) < 0) {
        if (out_digest)
            out_digest[0] = '\0';
        return -1;
    }
    return 0;
}

int content_store_delete(struct content_store *store, const char *digest, struct error *err)
{
    _cleanup_free_ char *path = content_store_blob_path(store, digest, err);

    if (path == NULL)
        return -1;
    if (unlink(path) < 0)
        return error_set_errno(err, errno == ENOENT ? ERROR_NOT_FOUND : ERROR_INTERNAL, errno,
                               "delete blob %s", digest);
    return 0;
}

struct list_state {
    enum digest_algorithm algorithm;
    char **digests;
    size_t count;
    size_t capacity; /* slots in digests, the NULL terminator included */
};

static int add_listed_blob(const char *name, void *data)
{
    struct list_state *state = data;
    char *digest = xasprintf("%s:%s", digest_algorithm_name(state->algorithm), name);

    if (!digest_is_valid(digest)) {
        free(digest);
        return 0;
    }
    if (state->count + 2 > state->capacity) {
        state->capacity *= 2;
        state->digests = xrealloc(state->digests, state->capacity * sizeof(char *));
    }
    state->digests[state->count++] = digest;
    state->digests[state->count] = NULL;
    return 0;
}

int content_store_list(const struct content_store *store, char ***digests, struct error *err)
{
    struct list_state state = {.digests = xcalloc(16, sizeof(char *)), .capacity = 16};

    for (size_t i = 0; i < ARRAY_SIZE(store_algorithms); i++) {
        _cleanup_free_ char *dir =
            xasprintf("%s/%s", store->blobs_dir, digest_algorithm_name(store_algorithms[i]));
        int rc;

        state.algorithm = store_algorithms[i];
        rc = content_fs_list_dir(dir, add_listed_blob, &state);
        if (rc < 0 && rc != -ENOENT) {
            strv_free(state.digests);
            return error_set_errno(err, ERROR_INTERNAL, rc, "list %s", dir);
        }
    }
    *digests = state.digests;
    return 0;
}

int content_writer_open(struct content_store *store, const char *expected_digest,
                        int64_t expected_size, struct content_writer **out, struct error *err)
{
    struct content_writer *writer;
    enum digest_algorithm algorithm;
    const char *hex;
    _cleanup_free_ char *prefix = NULL;
    char *temp_path = NULL;
    int fd;

    if (digest_parse(expected_digest, &algorithm, &hex, err) < 0)
        return -1;
    if (expected_size < -1)
        return error_set(err, ERROR_INVALID_ARGUMENT, "blob %s: invalid expected size %lld",
                         expected_digest, (long long)expected_size);

    /* The digest in the name identifies a leftover file, and the suffix keeps writers apart. */
    prefix = xasprintf("%.16s-", hex);
    fd = content_fs_create_temp(store->ingest_dir, prefix, &temp_path);
    if (fd < 0)
        return error_set_errno(err, ERROR_INTERNAL, fd, "create ingest file in %s",
                               store->ingest_dir);

    writer = xcalloc(1, sizeof(*writer));
    writer->store = store;
    writer->expected_digest = xstrdup(expected_digest);
    writer->expected_size = expected_size;
    writer->hash = digest_ctx_new(algorithm);
    writer->temp_path = temp_path;
    writer->fd = fd;
    *out = writer;
    return 0;
}

static int write_all(int fd, const char *data, size_t length)
{
    while (length > 0) {
        ssize_t n = write(fd, data, length);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -errno;
        data += n;
        length -= (size_t)n;
    }
    return 0;
}

int content_writer_write(struct content_writer *writer, const void *data, size_t length,
                         struct error *err)
{
    int rc;

    if (writer->failed)
        return error_set(err, ERROR_FAILED_PRECONDITION, "blob %s: write after a failed write",
                         writer->expected_digest);
    if (writer->expected_size >= 0 &&
        (uint64_t)writer->offset + length > (uint64_t)writer->expected_size) {
        writer->failed = true;
        return error_set(err, ERROR_DATA_LOSS,
                         "blob %s: received more than the expected %lld bytes",
                         writer->expected_digest, (long long)writer->expected_size);
    }
    rc = write_all(writer->fd, data, length);
    if (rc < 0) {
        writer->failed = true;
        return error_set_errno(err, rc == -ENOSPC ? ERROR_RESOURCE_EXHAUSTED : ERROR_INTERNAL, rc,
                               "write blob %s to %s", writer->expected_digest, writer->temp_path);
    }
    digest_ctx_update(writer->hash, data, length);
    writer->offset += (int64_t)length;
    return 0;
}

int64_t content_writer_offset(const struct content_writer *writer)
{
    return writer->offset;
}

static void writer_free(struct content_writer *writer)
{
    if (writer->fd >= 0)
        close(writer->fd);
    if (writer->temp_path)
        unlink(writer->temp_path);
    digest_ctx_free(writer->hash);
    free(writer->temp_path);
    free(writer->expected_digest);
    free(writer);
}

static int verify_content(struct content_writer *writer, struct error *err)
{
    char actual[DIGEST_STRING_MAX];

    if (writer->failed)
        return error_set(err, ERROR_FAILED_PRECONDITION, "blob %s: commit after a failed write",
                         writer->expected_digest);
    if (writer->expected_size >= 0 && writer->offset != writer->expected_size)
        return error_set(err, ERROR_DATA_LOSS, "blob %s: expected %lld bytes, received %lld",
                         writer->expected_digest, (long long)writer->expected_size,
                         (long long)writer->offset);
    digest_ctx_final(writer->hash, actual);
    if (strcmp(actual, writer->expected_digest) != 0)
        return error_set(err, ERROR_DATA_LOSS, "blob digest mismatch: expected %s, actual %s",
                         writer->expected_digest, actual);
    return 0;
}

/* Syncs the temporary file and renames it to its blob path. */
static int install_blob(struct content_writer *writer, struct error *err)
{
    _cleanup_free_ char *path =
        content_store_blob_path(writer->store, writer->expected_digest, err);
    _cleanup_free_ char *dir = NULL;
    int rc;

    if (path == NULL)
        return -1;
    rc = content_fs_make_read_only(writer->fd);
    if (rc == 0)
        rc = content_fs_sync_fd(writer->fd);
    if (rc < 0)
        return error_set_errno(err, ERROR_INTERNAL, rc, "sync %s", writer->temp_path);
    close(steal_fd(&writer->fd));

    rc = content_fs_rename_replace(writer->temp_path, path);
    if (rc < 0)
        return error_set_errno(err, ERROR_INTERNAL, rc, "rename %s to %s", writer->temp_path, path);
    free(steal_pointer(&writer->temp_path));
    dir = xstrndup(path, (size_t)(strrchr(path, '/') - path));
    rc = content_fs_sync_dir(dir);
    if (rc < 0)
        return error_set_errno(err, ERROR_INTERNAL, rc, "sync %s", dir);
    return 0;
}

int content_writer_commit(struct content_writer *writer, struct error *err)
{
    int rc = verify_content(writer, err);

    /* Another writer may have committed the same blob meanwhile; its copy is as good. */
    if (rc == 0 && !content_store_exists(writer->store, writer->expected_digest))
        rc = install_blob(writer, err);
    writer_free(writer);
    return rc;
}

void content_writer_abort(struct content_writer *writer)
{
    if (writer != NULL)
        writer_free(writer);
}
