#ifndef HOSTCRI_RUNTIME_STORE_H
#define HOSTCRI_RUNTIME_STORE_H

#include <stdint.h>

#include "api/api.pb-c.h"
#include "common/error.h"

/*
 * The runtime's persistent records: one SQLite database in WAL mode (<root>/runtime.db) with a
 * row per sandbox and per container. The CRI configs are kept as the packed protobuf bytes the
 * kubelet sent, so a status after a restart reports exactly what was requested. Every write
 * is one transaction, so a crash leaves either the old or the new row.
 *
 * All functions run on the loop thread (SQLite calls are short: one row each).
 */

struct store;

/* A sandbox row. Every pointer is owned by the record (store_sandbox_record_clear). */
struct store_sandbox_record {
    char *id;
    Runtime__V1__PodSandboxConfig *config; /* unpacked; protobuf_c_message_free_unpacked */
    Runtime__V1__PodSandboxState state;
    int64_t created_at; /* ns since the epoch */
    char *runtime_handler;
};

/* A container row. Every pointer is owned by the record (store_container_record_clear). */
struct store_container_record {
    char *id;
    char *sandbox_id;
    Runtime__V1__ContainerConfig *config; /* unpacked; protobuf_c_message_free_unpacked */
    Runtime__V1__ContainerState state;
    int64_t created_at; /* ns since the epoch; 0 when not reached */
    int64_t started_at;
    int64_t finished_at;
    int32_t exit_code;
    char *reason;    /* NULL until the container exits */
    char *message;   /* NULL or the cause of the exit */
    int64_t pid;     /* host pid of the init process while running, else 0 */
    char *image;     /* the image reference of the request */
    char *image_id;  /* the image id ("sha256:...") */
    char *image_ref; /* the repo digest ("name@sha256:...") or the image id */
    char *log_path;  /* the CRI log file, or NULL */
    char *process;   /* JSON of the resolved process (container.c owns the format) */
};

/*
 * Opens or creates the database at path in WAL mode and creates missing tables. A file that
 * is not a database or is damaged is renamed to <path>.corrupt-<ns> and logged as an error,
 * and an empty store takes its place. On success *out is owned by the caller (store_close).
 * Fails with ERROR_INTERNAL naming path.
 */
int store_open(const char *path, struct store **out, struct error *err);

/* Closes the database. NULL is allowed. */
void store_close(struct store *store);

/* Inserts or replaces the row of record->id. */
int store_put_sandbox(struct store *store, const struct store_sandbox_record *record,
                      struct error *err);

/* Inserts or replaces the row of record->id. */
int store_put_container(struct store *store, const struct store_container_record *record,
                        struct error *err);

/* Deletes a container's row; a missing row is not an error. */
int store_delete_container(struct store *store, const char *id, struct error *err);

/* Deletes a sandbox and all its containers in one transaction; a missing row is not an error. */
int store_delete_sandbox(struct store *store, const char *id, struct error *err);

/*
 * Callbacks of store_load, called once per readable row, sandboxes first. Each takes
 * ownership of *record (moves the fields out or calls the clear function).
 */
typedef void (*store_sandbox_cb)(struct store_sandbox_record *record, void *data);
typedef void (*store_container_cb)(struct store_container_record *record, void *data);

/*
 * Reads every row. A row that cannot be read is moved to the set_aside table with the reason
 * and logged as an error, so that one bad row never stops the daemon. Such a row has a config
 * that does not unpack, an invalid state, or (for a container) a missing sandbox. Returns 0,
 * or -1 when the database itself cannot be read.
 */
int store_load(struct store *store, store_sandbox_cb sandbox_cb, store_container_cb container_cb,
               void *data, struct error *err);

/* Number of rows in the set_aside table (for tests and diagnostics), or -1 with err. */
int store_count_set_aside(struct store *store, struct error *err);

void store_sandbox_record_clear(struct store_sandbox_record *record);
void store_container_record_clear(struct store_container_record *record);

#endif
