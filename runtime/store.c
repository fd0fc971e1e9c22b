#include "runtime/store.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <uv.h>

#include "common/log.h"
#include "common/util.h"

struct store {
    sqlite3 *db;
    char *path;
};

/* Version 1: the tables below. Bump it and add a migration when a column changes. */
#define STORE_SCHEMA_VERSION 1

static const char schema_sql[] =
    "CREATE TABLE IF NOT EXISTS sandboxes ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " config BLOB NOT NULL,"
    " state INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL,"
    " runtime_handler TEXT NOT NULL DEFAULT '');"
    "CREATE TABLE IF NOT EXISTS containers ("
    " id TEXT PRIMARY KEY NOT NULL,"
    " sandbox_id TEXT NOT NULL,"
    " config BLOB NOT NULL,"
    " state INTEGER NOT NULL,"
    " created_at INTEGER NOT NULL DEFAULT 0,"
    " started_at INTEGER NOT NULL DEFAULT 0,"
    " finished_at INTEGER NOT NULL DEFAULT 0,"
    " exit_code INTEGER NOT NULL DEFAULT 0,"
    " reason TEXT,"
    " message TEXT,"
    " pid INTEGER NOT NULL DEFAULT 0,"
    " image TEXT NOT NULL DEFAULT '',"
    " image_id TEXT NOT NULL DEFAULT '',"
    " image_ref TEXT NOT NULL DEFAULT '',"
    " log_path TEXT,"
    " process TEXT);"
    "CREATE INDEX IF NOT EXISTS containers_by_sandbox ON containers(sandbox_id);"
    "CREATE TABLE IF NOT EXISTS set_aside ("
    " kind TEXT NOT NULL,"
    " id TEXT,"
    " reason TEXT NOT NULL,"
    " set_aside_at INTEGER NOT NULL,"
    " row_json TEXT);";

/* Fails with the database's current error message. */
static int store_fail(struct store *store, const char *what, struct error *err)
{
    return error_set(err, ERROR_INTERNAL, "runtime store %s: %s: %s", store->path, what,
                     sqlite3_errmsg(store->db));
}

static int store_exec(struct store *store, const char *sql, struct error *err)
{
    char *message = NULL;

    if (sqlite3_exec(store->db, sql, NULL, NULL, &message) != SQLITE_OK) {
        error_set(err, ERROR_INTERNAL, "runtime store %s: %s", store->path,
                  message ? message : sqlite3_errmsg(store->db));
        sqlite3_free(message);
        return -1;
    }
    return 0;
}

static int store_check_version(struct store *store, struct error *err)
{
    sqlite3_stmt *stmt = NULL;
    int version = 0;

    if (sqlite3_prepare_v2(store->db, "PRAGMA user_version", -1, &stmt, NULL) != SQLITE_OK)
        return store_fail(store, "read the schema version", err);
    if (sqlite3_step(stmt) == SQLITE_ROW)
        version = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);

    if (version > STORE_SCHEMA_VERSION)
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "runtime store %s has schema version %d, newer than this hostcri's %d",
                         store->path, version, STORE_SCHEMA_VERSION);
    return 0;
}

/* Opens path and prepares the schema; on failure *corrupt tells whether the file is no
 * database or a damaged one. */
static int store_try_open(struct store *store, bool *corrupt, struct error *err)
{
    int rc =
        sqlite3_open_v2(store->path, &store->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);

    *corrupt = false;
    if (rc != SQLITE_OK)
        return error_set(err, ERROR_INTERNAL, "open runtime store %s: %s", store->path,
                         store->db ? sqlite3_errmsg(store->db) : "out of memory");
    sqlite3_busy_timeout(store->db, 5000);
    /*
     * In WAL mode, synchronous=NORMAL keeps every committed transaction through a crash or a
     * kill -9 of the daemon (the WAL is written before the commit returns) and skips the fsync
     * per commit, which cost a few milliseconds on every container start and stop. A power
     * loss can roll back the last commits but does not corrupt the file. The containers are
     * gone after a power loss anyway, and the recovery at start marks them exited.
     */
    if (store_exec(store, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", err) < 0 ||
        store_check_version(store, err) < 0 || store_exec(store, schema_sql, err) < 0 ||
        store_exec(store, "PRAGMA user_version=1", err) < 0) {
        rc = sqlite3_errcode(store->db);
        *corrupt = rc == SQLITE_NOTADB || rc == SQLITE_CORRUPT;
        return -1;
    }
    return 0;
}

/* Renames a damaged database (and its WAL files) to <path>.corrupt-<ns>, keeping it for a
 * post-mortem. */
static int set_aside_file(const char *path, struct error *err)
{
    int64_t now = time_now_ns();
    static const char *const suffixes[] = {"", "-wal", "-shm"};

    for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
        _cleanup_free_ char *from = xasprintf("%s%s", path, suffixes[i]);
        _cleanup_free_ char *to = xasprintf("%s.corrupt-%lld%s", path, (long long)now, suffixes[i]);
        uv_fs_t req;
        int rc = uv_fs_rename(NULL, &req, from, to, NULL);

        uv_fs_req_cleanup(&req);
        if (rc < 0 && rc != UV_ENOENT)
            return error_set(err, ERROR_INTERNAL, "rename the damaged runtime store %s: %s", from,
                             uv_strerror(rc));
    }
    return 0;
}

int store_open(const char *path, struct store **out, struct error *err)
{
    struct store *store = xcalloc(1, sizeof(*store));
    _cleanup_error_ struct error first = ERROR_INIT;
    bool corrupt = false;

    store->path = xstrdup(path);
    if (store_try_open(store, &corrupt, &first) == 0) {
        *out = store;
        return 0;
    }
    sqlite3_close(store->db);
    store->db = NULL;
    if (!corrupt || set_aside_file(path, err) < 0) {
        if (!corrupt)
            error_move(err, &first);
        store_close(store);
        return -1;
    }
    /* A damaged file must not keep the daemon down: start over with an empty store. */
    log_error("runtime store %s is damaged (%s): set it aside and started an empty one; the "
              "containers it listed are no longer known",
              path, first.message);
    if (store_try_open(store, &corrupt, err) < 0) {
        store_close(store);
        return -1;
    }
    *out = store;
    return 0;
}

void store_close(struct store *store)
{
    if (store == NULL)
        return;
    sqlite3_close(store->db);
    free(store->path);
    free(store);
}

static int bind_text(sqlite3_stmt *stmt, int index, const char *text)
{
    if (text == NULL)
        return sqlite3_bind_null(stmt, index);
    return sqlite3_bind_text(stmt, index, text, -1, SQLITE_TRANSIENT);
}

static int bind_message(sqlite3_stmt *stmt, int index, const ProtobufCMessage *message)
{
    size_t size = message ? protobuf_c_message_get_packed_size(message) : 0;
    _cleanup_free_ uint8_t *bytes = xmalloc(size);

    if (message)
        protobuf_c_message_pack(message, bytes);
    return sqlite3_bind_blob(stmt, index, bytes, (int)size, SQLITE_TRANSIENT);
}

/* Runs a prepared statement that returns no rows and finalizes it. */
static int step_done(struct store *store, sqlite3_stmt *stmt, const char *what, struct error *err)
{
    int rc = sqlite3_step(stmt);

    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
        return store_fail(store, what, err);
    return 0;
}

int store_put_sandbox(struct store *store, const struct store_sandbox_record *record,
                      struct error *err)
{
    static const char sql[] = "INSERT OR REPLACE INTO sandboxes"
                              " (id, config, state, created_at, runtime_handler)"
                              " VALUES (?1, ?2, ?3, ?4, ?5)";
    sqlite3_stmt *stmt = NULL;

    if (sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return store_fail(store, "prepare the sandbox write", err);
    bind_text(stmt, 1, record->id);
    bind_message(stmt, 2, &record->config->base);
    sqlite3_bind_int(stmt, 3, (int)record->state);
    sqlite3_bind_int64(stmt, 4, record->created_at);
    bind_text(stmt, 5, record->runtime_handler ? record->runtime_handler : "");
    if (step_done(store, stmt, "write sandbox", err) < 0)
        return error_prefix(err, "sandbox %s", record->id);
    return 0;
}

int store_put_container(struct store *store, const struct store_container_record *record,
                        struct error *err)
{
    static const char sql[] =
        "INSERT OR REPLACE INTO containers"
        " (id, sandbox_id, config, state, created_at, started_at, finished_at, exit_code,"
        "  reason, message, pid, image, image_id, image_ref, log_path, process)"
        " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)";
    sqlite3_stmt *stmt = NULL;

    if (sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return store_fail(store, "prepare the container write", err);
    bind_text(stmt, 1, record->id);
    bind_text(stmt, 2, record->sandbox_id);
    bind_message(stmt, 3, &record->config->base);
    sqlite3_bind_int(stmt, 4, (int)record->state);
    sqlite3_bind_int64(stmt, 5, record->created_at);
    sqlite3_bind_int64(stmt, 6, record->started_at);
    sqlite3_bind_int64(stmt, 7, record->finished_at);
    sqlite3_bind_int(stmt, 8, record->exit_code);
    bind_text(stmt, 9, record->reason);
    bind_text(stmt, 10, record->message);
    sqlite3_bind_int64(stmt, 11, record->pid);
    bind_text(stmt, 12, record->image ? record->image : "");
    bind_text(stmt, 13, record->image_id ? record->image_id : "");
    bind_text(stmt, 14, record->image_ref ? record->image_ref : "");
    bind_text(stmt, 15, record->log_path);
    bind_text(stmt, 16, record->process);
    if (step_done(store, stmt, "write container", err) < 0)
        return error_prefix(err, "container %s", record->id);
    return 0;
}

static int delete_where(struct store *store, const char *sql, const char *id, struct error *err)
{
    sqlite3_stmt *stmt = NULL;

    if (sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return store_fail(store, "prepare a delete", err);
    bind_text(stmt, 1, id);
    return step_done(store, stmt, "delete", err);
}

static int delete_where_rowid(struct store *store, const char *sql, int64_t rowid,
                              struct error *err)
{
    sqlite3_stmt *stmt = NULL;

    if (sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return store_fail(store, "prepare a delete", err);
    sqlite3_bind_int64(stmt, 1, rowid);
    return step_done(store, stmt, "delete", err);
}

int store_delete_container(struct store *store, const char *id, struct error *err)
{
    if (delete_where(store, "DELETE FROM containers WHERE id = ?1", id, err) < 0)
        return error_prefix(err, "container %s", id);
    return 0;
}

int store_delete_sandbox(struct store *store, const char *id, struct error *err)
{
    if (store_exec(store, "BEGIN IMMEDIATE", err) < 0)
        return -1;
    if (delete_where(store, "DELETE FROM containers WHERE sandbox_id = ?1", id, err) < 0 ||
        delete_where(store, "DELETE FROM sandboxes WHERE id = ?1", id, err) < 0) {
        store_exec(store, "ROLLBACK", NULL);
        return error_prefix(err, "sandbox %s", id);
    }
    return store_exec(store, "COMMIT", err);
}

int store_count_set_aside(struct store *store, struct error *err)
{
    sqlite3_stmt *stmt = NULL;
    int count = -1;

    if (sqlite3_prepare_v2(store->db, "SELECT count(*) FROM set_aside", -1, &stmt, NULL) !=
        SQLITE_OK)
        return store_fail(store, "count set-aside rows", err);
    if (sqlite3_step(stmt) == SQLITE_ROW)
        count = sqlite3_column_int(stmt, 0);
    sqlite3_finalize(stmt);
    if (count < 0)
        return store_fail(store, "count set-aside rows", err);
    return count;
}

void store_sandbox_record_clear(struct store_sandbox_record *record)
{
    free(record->id);
    if (record->config)
        protobuf_c_message_free_unpacked(&record->config->base, NULL);
    free(record->runtime_handler);
    memset(record, 0, sizeof(*record));
}

void store_container_record_clear(struct store_container_record *record)
{
    free(record->id);
    free(record->sandbox_id);
    if (record->config)
        protobuf_c_message_free_unpacked(&record->config->base, NULL);
    free(record->reason);
    free(record->message);
    free(record->image);
    free(record->image_id);
    free(record->image_ref);
    free(record->log_path);
    free(record->process);
    memset(record, 0, sizeof(*record));
}

/* A row that store_load could not read, moved to set_aside once the scan is over. */
struct bad_row {
    int64_t rowid;
    char *id;
    char *reason;
};

struct bad_rows {
    struct bad_row *rows;
    size_t count;
};

static void bad_rows_add(struct bad_rows *bad, int64_t rowid, const char *id, char *reason)
{
    bad->rows = xrealloc(bad->rows, (bad->count + 1) * sizeof(*bad->rows));
    bad->rows[bad->count++] = (struct bad_row){rowid, xstrdup_or_null(id), reason};
}

static void bad_rows_free(struct bad_rows *bad)
{
    for (size_t i = 0; i < bad->count; i++) {
        free(bad->rows[i].id);
        free(bad->rows[i].reason);
    }
    free(bad->rows);
}

static char *column_text(sqlite3_stmt *stmt, int column)
{
    const unsigned char *text = sqlite3_column_text(stmt, column);

    return text ? xstrdup((const char *)text) : NULL;
}

static void *column_message(sqlite3_stmt *stmt, int column,
                            const ProtobufCMessageDescriptor *descriptor)
{
    const void *bytes = sqlite3_column_blob(stmt, column);
    int size = sqlite3_column_bytes(stmt, column);

    return protobuf_c_message_unpack(descriptor, NULL, (size_t)size, bytes ? bytes : "");
}

/* Reads one sandbox row into *record; returns NULL or the reason the row is unreadable. */
static char *read_sandbox_row(sqlite3_stmt *stmt, struct store_sandbox_record *record)
{
    int state = sqlite3_column_int(stmt, 3);

    record->id = column_text(stmt, 1);
    if (str_empty(record->id))
        return xstrdup("the id is empty");
    record->config = column_message(stmt, 2, &runtime__v1__pod_sandbox_config__descriptor);
    if (record->config == NULL)
        return xstrdup("the config is not a valid PodSandboxConfig message");
    if (record->config->metadata == NULL)
        return xstrdup("the config has no metadata");
    if (state != RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY &&
        state != RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY)
        return xasprintf("invalid state %d", state);
    record->state = (Runtime__V1__PodSandboxState)state;
    record->created_at = sqlite3_column_int64(stmt, 4);
    record->runtime_handler = column_text(stmt, 5);
    return NULL;
}

static bool id_in(char *const *ids, const char *id)
{
    for (size_t i = 0; ids && ids[i]; i++) {
        if (strcmp(ids[i], id) == 0)
            return true;
    }
    return false;
}

/* Reads one container row into *record; returns NULL or the reason the row is unreadable. */
static char *read_container_row(sqlite3_stmt *stmt, char *const *sandbox_ids,
                                struct store_container_record *record)
{
    int state = sqlite3_column_int(stmt, 4);

    record->id = column_text(stmt, 1);
    if (str_empty(record->id))
        return xstrdup("the id is empty");
    record->sandbox_id = column_text(stmt, 2);
    if (str_empty(record->sandbox_id) || !id_in(sandbox_ids, record->sandbox_id))
        return xasprintf("its sandbox %s is missing or unreadable",
                         record->sandbox_id ? record->sandbox_id : "(none)");
    record->config = column_message(stmt, 3, &runtime__v1__container_config__descriptor);
    if (record->config == NULL)
        return xstrdup("the config is not a valid ContainerConfig message");
    if (record->config->metadata == NULL)
        return xstrdup("the config has no metadata");
    if (state < RUNTIME__V1__CONTAINER_STATE__CONTAINER_CREATED ||
        state > RUNTIME__V1__CONTAINER_STATE__CONTAINER_UNKNOWN)
        return xasprintf("invalid state %d", state);
    record->state = (Runtime__V1__ContainerState)state;
    record->created_at = sqlite3_column_int64(stmt, 5);
    record->started_at = sqlite3_column_int64(stmt, 6);
    record->finished_at = sqlite3_column_int64(stmt, 7);
    record->exit_code = sqlite3_column_int(stmt, 8);
    record->reason = column_text(stmt, 9);
    record->message = column_text(stmt, 10);
    record->pid = sqlite3_column_int64(stmt, 11);
    record->image = column_text(stmt, 12);
    record->image_id = column_text(stmt, 13);
    record->image_ref = column_text(stmt, 14);
    record->log_path = column_text(stmt, 15);
    record->process = column_text(stmt, 16);
    return NULL;
}

static int load_sandboxes(struct store *store, store_sandbox_cb cb, void *data, char ***ids,
                          struct bad_rows *bad, struct error *err)
{
    static const char sql[] =
        "SELECT rowid, id, config, state, created_at, runtime_handler FROM sandboxes";
    sqlite3_stmt *stmt = NULL;
    size_t count = 0;
    int rc;

    if (sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return store_fail(store, "read sandboxes", err);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct store_sandbox_record record = {0};
        char *reason = read_sandbox_row(stmt, &record);

        if (reason) {
            bad_rows_add(bad, sqlite3_column_int64(stmt, 0), record.id, reason);
            store_sandbox_record_clear(&record);
            continue;
        }
        *ids = xrealloc(*ids, (count + 2) * sizeof(char *));
        (*ids)[count++] = xstrdup(record.id);
        (*ids)[count] = NULL;
        cb(&record, data);
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
        return store_fail(store, "read sandboxes", err);
    return 0;
}

static int load_containers(struct store *store, store_container_cb cb, void *data,
                           char *const *sandbox_ids, struct bad_rows *bad, struct error *err)
{
    static const char sql[] =
        "SELECT rowid, id, sandbox_id, config, state, created_at, started_at, finished_at,"
        " exit_code, reason, message, pid, image, image_id, image_ref, log_path, process"
        " FROM containers ORDER BY created_at";
    sqlite3_stmt *stmt = NULL;
    int rc;

    if (sqlite3_prepare_v2(store->db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return store_fail(store, "read containers", err);
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
        struct store_container_record record = {0};
        char *reason = read_container_row(stmt, sandbox_ids, &record);

        if (reason) {
            bad_rows_add(bad, sqlite3_column_int64(stmt, 0), record.id, reason);
            store_container_record_clear(&record);
            continue;
        }
        cb(&record, data);
    }
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE)
        return store_fail(store, "read containers", err);
    return 0;
}

/* Moves the bad rows of table to set_aside, keeping their columns as JSON, in one transaction. */
static int set_aside(struct store *store, const char *kind, const char *table,
                     const struct bad_rows *bad, struct error *err)
{
    _cleanup_free_ char *copy_sql = xasprintf(
        "INSERT INTO set_aside (kind, id, reason, set_aside_at, row_json)"
        " SELECT ?1, ?2, ?3, ?4, json_object('id', id, 'state', state, 'config', hex(config))"
        " FROM %s WHERE rowid = ?5",
        table);
    _cleanup_free_ char *delete_sql = xasprintf("DELETE FROM %s WHERE rowid = ?1", table);

    for (size_t i = 0; i < bad->count; i++) {
        const struct bad_row *row = &bad->rows[i];
        sqlite3_stmt *stmt = NULL;

        log_error_id(kind, row->id ? row->id : "(none)",
                     "set aside the unreadable %s record in %s: %s", kind, store->path,
                     row->reason);
        if (store_exec(store, "BEGIN IMMEDIATE", err) < 0)
            return -1;
        if (sqlite3_prepare_v2(store->db, copy_sql, -1, &stmt, NULL) != SQLITE_OK) {
            store_exec(store, "ROLLBACK", NULL);
            return store_fail(store, "prepare the set-aside copy", err);
        }
        sqlite3_bind_text(stmt, 1, kind, -1, SQLITE_STATIC);
        bind_text(stmt, 2, row->id);
        sqlite3_bind_text(stmt, 3, row->reason, -1, SQLITE_STATIC);
        sqlite3_bind_int64(stmt, 4, time_now_ns());
        sqlite3_bind_int64(stmt, 5, row->rowid);
        if (step_done(store, stmt, "copy a row to set_aside", err) < 0 ||
            delete_where_rowid(store, delete_sql, row->rowid, err) < 0) {
            store_exec(store, "ROLLBACK", NULL);
            return -1;
        }
        if (store_exec(store, "COMMIT", err) < 0)
            return -1;
    }
    return 0;
}

int store_load(struct store *store, store_sandbox_cb sandbox_cb, store_container_cb container_cb,
               void *data, struct error *err)
{
    _cleanup_strv_ char **sandbox_ids = NULL;
    struct bad_rows bad_sandboxes = {0};
    struct bad_rows bad_containers = {0};
    int rc = -1;

    if (load_sandboxes(store, sandbox_cb, data, &sandbox_ids, &bad_sandboxes, err) < 0 ||
        load_containers(store, container_cb, data, sandbox_ids, &bad_containers, err) < 0)
        goto out;
    if (set_aside(store, "sandbox", "sandboxes", &bad_sandboxes, err) < 0 ||
        set_aside(store, "container", "containers", &bad_containers, err) < 0)
        goto out;
    rc = 0;
out:
    bad_rows_free(&bad_sandboxes);
    bad_rows_free(&bad_containers);
    return rc;
}
