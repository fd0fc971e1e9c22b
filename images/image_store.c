#include "images/image_store.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <sqlite3.h>

#include "common/log.h"
#include "common/util.h"

struct image_store {
    sqlite3 *db;
    char *path;
};

enum name_kind {
    NAME_TAG = 0,
    NAME_DIGEST = 1,
};

static const char schema[] =
    "CREATE TABLE IF NOT EXISTS images ("
    "  id TEXT PRIMARY KEY,"
    "  manifest_digest TEXT NOT NULL,"
    "  size INTEGER NOT NULL,"
    "  config TEXT NOT NULL,"
    "  chain_ids TEXT NOT NULL,"
    "  diff_ids TEXT NOT NULL,"
    "  layer_digests TEXT NOT NULL,"
    "  blobs TEXT NOT NULL,"
    "  pinned INTEGER NOT NULL DEFAULT 0,"
    "  created INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS image_names ("
    "  name TEXT PRIMARY KEY,"
    "  image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,"
    "  kind INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS image_names_by_image ON image_names(image_id);"
    "CREATE TABLE IF NOT EXISTS layer_blobs ("
    "  diff_id TEXT NOT NULL,"
    "  digest TEXT NOT NULL,"
    "  PRIMARY KEY (diff_id, digest));";

static const char image_columns[] =
    "id, manifest_digest, size, config, chain_ids, diff_ids, layer_digests, blobs, pinned, created";

void image_record_clear(struct image_record *record)
{
    if (record == NULL)
        return;
    free(record->id);
    strv_free(record->repo_tags);
    strv_free(record->repo_digests);
    free(record->manifest_digest);
    free(record->config_json);
    strv_free(record->chain_ids);
    strv_free(record->diff_ids);
    strv_free(record->layer_digests);
    strv_free(record->blobs);
    memset(record, 0, sizeof(*record));
}

void image_record_copy(struct image_record *dst, const struct image_record *src)
{
    dst->id = xstrdup_or_null(src->id);
    dst->repo_tags = strv_copy(src->repo_tags);
    dst->repo_digests = strv_copy(src->repo_digests);
    dst->manifest_digest = xstrdup_or_null(src->manifest_digest);
    dst->size = src->size;
    dst->config_json = xstrdup_or_null(src->config_json);
    dst->chain_ids = strv_copy(src->chain_ids);
    dst->diff_ids = strv_copy(src->diff_ids);
    dst->layer_digests = strv_copy(src->layer_digests);
    dst->blobs = strv_copy(src->blobs);
    dst->pinned = src->pinned;
    dst->created_ns = src->created_ns;
}

void image_records_free(struct image_record *records, size_t count)
{
    for (size_t i = 0; i < count; i++)
        image_record_clear(&records[i]);
    free(records);
}

static int db_error(struct image_store *store, struct error *err, const char *what)
{
    return error_set(err, ERROR_INTERNAL, "image database %s: %s: %s", store->path, what,
                     sqlite3_errmsg(store->db));
}

static int exec_sql(struct image_store *store, const char *sql, struct error *err)
{
    if (sqlite3_exec(store->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_error(store, err, sql);
    return 0;
}

static void finalize_ptr(sqlite3_stmt **stmt)
{
    sqlite3_finalize(*stmt);
}

#define _cleanup_stmt_ __attribute__((cleanup(finalize_ptr)))

static int prepare(struct image_store *store, const char *sql, sqlite3_stmt **stmt,
                   struct error *err)
{
    if (sqlite3_prepare_v2(store->db, sql, -1, stmt, NULL) != SQLITE_OK)
        return db_error(store, err, "prepare");
    return 0;
}

int image_store_open(const char *path, struct image_store **out, struct error *err)
{
    struct image_store *store = xcalloc(1, sizeof(*store));

    store->path = xstrdup(path);
    if (sqlite3_open_v2(path, &store->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
        SQLITE_OK) {
        db_error(store, err, "open");
        image_store_close(store);
        return -1;
    }
    sqlite3_busy_timeout(store->db, 5000);
    if (exec_sql(store, "PRAGMA journal_mode=WAL", err) < 0 ||
        exec_sql(store, "PRAGMA synchronous=FULL", err) < 0 ||
        exec_sql(store, "PRAGMA foreign_keys=ON", err) < 0 || exec_sql(store, schema, err) < 0) {
        image_store_close(store);
        return -1;
    }
    *out = store;
    return 0;
}

void image_store_close(struct image_store *store)
{
    if (store == NULL)
        return;
    sqlite3_close(store->db);
    free(store->path);
    free(store);
}

/* Arrays are stored as JSON text. */

static char *strv_to_json(char *const *strv)
{
    json_t *array = json_array();
    char *text;

    for (size_t i = 0; strv != NULL && strv[i] != NULL; i++)
        json_array_append_new(array, json_string(strv[i]));
    text = json_dumps(array, JSON_COMPACT);
    json_decref(array);
    return text;
}

static char **strv_from_json(const char *text)
{
    json_t *array = json_loads(text ? text : "[]", 0, NULL);
    size_t n = json_array_size(array);
    char **strv = xcalloc(n + 1, sizeof(char *));
    size_t used = 0;

    for (size_t i = 0; i < n; i++) {
        const char *value = json_string_value(json_array_get(array, i));

        if (value != NULL)
            strv[used++] = xstrdup(value);
    }
    json_decref(array);
    return strv;
}

static char *column_text(sqlite3_stmt *stmt, int column)
{
    const unsigned char *text = sqlite3_column_text(stmt, column);

    return text ? xstrdup((const char *)text) : NULL;
}

static void read_row(sqlite3_stmt *stmt, struct image_record *out)
{
    out->id = column_text(stmt, 0);
    out->manifest_digest = column_text(stmt, 1);
    out->size = sqlite3_column_int64(stmt, 2);
    out->config_json = column_text(stmt, 3);
    out->chain_ids = strv_from_json((const char *)sqlite3_column_text(stmt, 4));
    out->diff_ids = strv_from_json((const char *)sqlite3_column_text(stmt, 5));
    out->layer_digests = strv_from_json((const char *)sqlite3_column_text(stmt, 6));
    out->blobs = strv_from_json((const char *)sqlite3_column_text(stmt, 7));
    out->pinned = sqlite3_column_int(stmt, 8) != 0;
    out->created_ns = sqlite3_column_int64(stmt, 9);
}

static void strv_push(char ***strv, size_t *n, const char *value)
{
    *strv = xrealloc(*strv, (*n + 2) * sizeof(char *));
    (*strv)[(*n)++] = xstrdup(value);
    (*strv)[*n] = NULL;
}

/* Fills the repo tags and digests of out from image_names. */
static int read_names(struct image_store *store, struct image_record *out, struct error *err)
{
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    size_t tags = 0;
    size_t digests = 0;
    int rc;

    if (prepare(store, "SELECT name, kind FROM image_names WHERE image_id = ? ORDER BY name", &stmt,
                err) < 0)
        return -1;
    sqlite3_bind_text(stmt, 1, out->id, -1, SQLITE_STATIC);
    out->repo_tags = xcalloc(1, sizeof(char *));
    out->repo_digests = xcalloc(1, sizeof(char *));
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(stmt, 0);

        if (sqlite3_column_int(stmt, 1) == NAME_DIGEST)
            strv_push(&out->repo_digests, &digests, name);
        else
            strv_push(&out->repo_tags, &tags, name);
    }
    if (rc != SQLITE_DONE)
        return db_error(store, err, "read names");
    return 0;
}

/* Runs a query for one image row with one text parameter; NOT_FOUND when there is none. */
static int get_one(struct image_store *store, const char *sql, const char *param, const char *what,
                   struct image_record *out, struct error *err)
{
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    if (prepare(store, sql, &stmt, err) < 0)
        return -1;
    sqlite3_bind_text(stmt, 1, param, -1, SQLITE_STATIC);
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE)
        return error_set(err, ERROR_NOT_FOUND, "image %s not found", what);
    if (rc != SQLITE_ROW)
        return db_error(store, err, "read image");
    read_row(stmt, out);
    if (sqlite3_step(stmt) == SQLITE_ROW) {
        image_record_clear(out);
        return error_set(err, ERROR_INVALID_ARGUMENT, "image id prefix %s is ambiguous", what);
    }
    if (read_names(store, out, err) < 0) {
        image_record_clear(out);
        return -1;
    }
    return 0;
}

int image_store_get(struct image_store *store, const char *id, struct image_record *out,
                    struct error *err)
{
    _cleanup_free_ char *sql = xasprintf("SELECT %s FROM images WHERE id = ?", image_columns);

    return get_one(store, sql, id, id, out, err);
}

int image_store_get_by_name(struct image_store *store, const char *name, struct image_record *out,
                            struct error *err)
{
    _cleanup_free_ char *sql = xasprintf(
        "SELECT %s FROM images WHERE id = (SELECT image_id FROM image_names WHERE name = ?)",
        image_columns);

    return get_one(store, sql, name, name, out, err);
}

int image_store_get_by_id_prefix(struct image_store *store, const char *prefix,
                                 struct image_record *out, struct error *err)
{
    _cleanup_free_ char *sql =
        xasprintf("SELECT %s FROM images WHERE substr(id, 1, ?2) = ?1 LIMIT 2", image_columns);
    _cleanup_free_ char *full = NULL;
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    int rc;

    memset(out, 0, sizeof(*out));
    full = str_has_prefix(prefix, "sha256:") ? xstrdup(prefix) : xasprintf("sha256:%s", prefix);
    if (strlen(full) < strlen("sha256:") + 3 ||
        strspn(full + 7, "0123456789abcdef") != strlen(full + 7))
        return error_set(err, ERROR_NOT_FOUND, "image %s not found", prefix);
    if (prepare(store, sql, &stmt, err) < 0)
        return -1;
    sqlite3_bind_text(stmt, 1, full, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 2, (int)strlen(full));
    rc = sqlite3_step(stmt);
    if (rc == SQLITE_DONE)
        return error_set(err, ERROR_NOT_FOUND, "image %s not found", prefix);
    if (rc != SQLITE_ROW)
        return db_error(store, err, "read image");
    read_row(stmt, out);
    if (sqlite3_step(stmt) == SQLITE_ROW) {
        image_record_clear(out);
        return error_set(err, ERROR_INVALID_ARGUMENT, "image id prefix %s is ambiguous", prefix);
    }
    if (read_names(store, out, err) < 0) {
        image_record_clear(out);
        return -1;
    }
    return 0;
}

int image_store_list(struct image_store *store, struct image_record **records, size_t *count,
                     struct error *err)
{
    _cleanup_free_ char *sql = xasprintf("SELECT %s FROM images ORDER BY id", image_columns);
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    struct image_record *list = NULL;
    size_t n = 0;
    int rc;

    if (prepare(store, sql, &stmt, err) < 0)
        return -1;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        list = xrealloc(list, (n + 1) * sizeof(*list));
        memset(&list[n], 0, sizeof(list[n]));
        read_row(stmt, &list[n]);
        n++;
        if (read_names(store, &list[n - 1], err) < 0) {
            image_records_free(list, n);
            return -1;
        }
    }
    if (rc != SQLITE_DONE) {
        image_records_free(list, n);
        return db_error(store, err, "list images");
    }
    *records = list;
    *count = n;
    return 0;
}

static int bind_and_step(struct image_store *store, sqlite3_stmt *stmt, struct error *err)
{
    if (sqlite3_step(stmt) != SQLITE_DONE)
        return db_error(store, err, "write");
    sqlite3_reset(stmt);
    sqlite3_clear_bindings(stmt);
    return 0;
}

static int put_row(struct image_store *store, const struct image_record *record, struct error *err)
{
    static const char sql[] =
        "INSERT INTO images (id, manifest_digest, size, config, chain_ids, diff_ids,"
        " layer_digests, blobs, pinned, created) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
        " ON CONFLICT(id) DO UPDATE SET manifest_digest = ?2, size = ?3, config = ?4,"
        " chain_ids = ?5, diff_ids = ?6, layer_digests = ?7, blobs = ?8,"
        " pinned = max(pinned, ?9)";
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    _cleanup_free_ char *chain_ids = strv_to_json(record->chain_ids);
    _cleanup_free_ char *diff_ids = strv_to_json(record->diff_ids);
    _cleanup_free_ char *layers = strv_to_json(record->layer_digests);
    _cleanup_free_ char *blobs = strv_to_json(record->blobs);

    if (prepare(store, sql, &stmt, err) < 0)
        return -1;
    sqlite3_bind_text(stmt, 1, record->id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, record->manifest_digest, -1, SQLITE_STATIC);
    sqlite3_bind_int64(stmt, 3, record->size);
    sqlite3_bind_text(stmt, 4, record->config_json, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 5, chain_ids, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 6, diff_ids, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 7, layers, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 8, blobs, -1, SQLITE_STATIC);
    sqlite3_bind_int(stmt, 9, record->pinned ? 1 : 0);
    sqlite3_bind_int64(stmt, 10, record->created_ns ? record->created_ns : time_now_ns());
    return bind_and_step(store, stmt, err);
}

static int put_names(struct image_store *store, const char *id, char *const *names,
                     enum name_kind kind, struct error *err)
{
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;

    if (prepare(store, "INSERT OR REPLACE INTO image_names (name, image_id, kind) VALUES (?, ?, ?)",
                &stmt, err) < 0)
        return -1;
    for (size_t i = 0; names != NULL && names[i] != NULL; i++) {
        sqlite3_bind_text(stmt, 1, names[i], -1, SQLITE_STATIC);
        sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
        sqlite3_bind_int(stmt, 3, kind);
        if (bind_and_step(store, stmt, err) < 0)
            return -1;
    }
    return 0;
}

/*
 * The blobs of record plus those the stored row keeps: the same image (config) pulled through
 * another manifest (a zstd or uncompressed variant) keeps the blobs of both, so that the repo
 * digests of both stay backed by stored blobs.
 */
static char **merged_blobs(struct image_store *store, const struct image_record *record)
{
    struct image_record existing = {0};
    size_t n = strv_length(record->blobs);
    char **blobs = strv_copy(record->blobs);

    if (image_store_get(store, record->id, &existing, NULL) < 0)
        return blobs;
    for (size_t i = 0; existing.blobs[i] != NULL; i++) {
        bool known = false;

        for (size_t j = 0; j < n && !known; j++)
            known = strcmp(blobs[j], existing.blobs[i]) == 0;
        if (!known)
            strv_push(&blobs, &n, existing.blobs[i]);
    }
    image_record_clear(&existing);
    return blobs;
}

int image_store_put(struct image_store *store, const struct image_record *record, struct error *err)
{
    struct image_record merged = *record;
    _cleanup_strv_ char **blobs = NULL;

    if (exec_sql(store, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    blobs = merged_blobs(store, record);
    merged.blobs = blobs;
    if (put_row(store, &merged, err) < 0 ||
        put_names(store, record->id, record->repo_tags, NAME_TAG, err) < 0 ||
        put_names(store, record->id, record->repo_digests, NAME_DIGEST, err) < 0 ||
        exec_sql(store, "COMMIT", err) < 0) {
        sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

static int run_with_text(struct image_store *store, const char *sql, const char *param,
                         struct error *err)
{
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;

    if (prepare(store, sql, &stmt, err) < 0)
        return -1;
    sqlite3_bind_text(stmt, 1, param, -1, SQLITE_STATIC);
    return bind_and_step(store, stmt, err);
}

int image_store_remove_name(struct image_store *store, const char *name, struct error *err)
{
    return run_with_text(store, "DELETE FROM image_names WHERE name = ?", name, err);
}

int image_store_remove(struct image_store *store, const char *id, struct error *err)
{
    if (exec_sql(store, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    if (run_with_text(store, "DELETE FROM image_names WHERE image_id = ?", id, err) < 0 ||
        run_with_text(store, "DELETE FROM images WHERE id = ?", id, err) < 0 ||
        exec_sql(store, "COMMIT", err) < 0) {
        sqlite3_exec(store->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return 0;
}

int image_store_set_pinned(struct image_store *store, const char *id, bool pinned,
                           struct error *err)
{
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;

    if (prepare(store, "UPDATE images SET pinned = ? WHERE id = ?", &stmt, err) < 0)
        return -1;
    sqlite3_bind_int(stmt, 1, pinned ? 1 : 0);
    sqlite3_bind_text(stmt, 2, id, -1, SQLITE_STATIC);
    if (bind_and_step(store, stmt, err) < 0)
        return -1;
    if (sqlite3_changes(store->db) == 0)
        return error_set(err, ERROR_NOT_FOUND, "image %s not found", id);
    return 0;
}

int image_store_add_layer_blob(struct image_store *store, const char *diff_id, const char *digest,
                               struct error *err)
{
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;

    if (prepare(store, "INSERT OR IGNORE INTO layer_blobs (diff_id, digest) VALUES (?, ?)", &stmt,
                err) < 0)
        return -1;
    sqlite3_bind_text(stmt, 1, diff_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(stmt, 2, digest, -1, SQLITE_STATIC);
    return bind_and_step(store, stmt, err);
}

int image_store_layer_blobs(struct image_store *store, const char *diff_id, char ***digests,
                            struct error *err)
{
    _cleanup_stmt_ sqlite3_stmt *stmt = NULL;
    char **list = xcalloc(1, sizeof(char *));
    size_t n = 0;
    int rc;

    if (prepare(store, "SELECT digest FROM layer_blobs WHERE diff_id = ? ORDER BY digest", &stmt,
                err) < 0) {
        free(list);
        return -1;
    }
    sqlite3_bind_text(stmt, 1, diff_id, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW)
        strv_push(&list, &n, (const char *)sqlite3_column_text(stmt, 0));
    if (rc != SQLITE_DONE) {
        strv_free(list);
        return db_error(store, err, "read layer blobs");
    }
    *digests = list;
    return 0;
}
