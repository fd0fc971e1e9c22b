#ifndef HOSTCRI_IMAGES_CONTENT_STORE_H
#define HOSTCRI_IMAGES_CONTENT_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/digest.h"
#include "common/error.h"

/*
 * Blobs (manifests, configs, layers) stored by digest:
 *
 *   <root>/content/blobs/<algorithm>/<hex>   committed blobs, read-only (mode 0444)
 *   <root>/content/ingest/                   temporary files of writers in progress
 *
 * A blob appears under blobs/ only through content_writer_commit, after its bytes were
 * hashed, counted and synced to disk, so a blob file is always complete and correct. Files
 * left in ingest/ by a killed daemon are removed by content_store_open.
 *
 * Threads: the store is immutable after open, so every function may run on any thread
 * (blocking file I/O: large work belongs on the libuv thread pool). One writer is used by
 * one thread at a time; several writers, even for the same digest, may run at once.
 */

struct content_store;
struct content_writer;

/*
 * Opens (creating as needed) the content store under root and empties its ingest folder, so
 * open it once per root in a process, before any writer starts.
 * Returns 0 and the store in *out (free with content_store_close), or -1 with ERROR_INTERNAL.
 */
int content_store_open(const char *root, struct content_store **out, struct error *err);

/* Frees the store. Blobs stay on disk. Safe on NULL. */
void content_store_close(struct content_store *store);

/*
 * Path where the blob of digest is (or would be) stored. Returns NULL with
 * ERROR_INVALID_ARGUMENT when digest is not a valid digest. Caller frees.
 */
char *content_store_blob_path(const struct content_store *store, const char *digest,
                              struct error *err);

/* True when a committed blob with digest exists (false for an invalid digest). */
bool content_store_exists(const struct content_store *store, const char *digest);

/*
 * Stores the size of the blob in *size. Returns 0, or -1 with ERROR_NOT_FOUND when it is
 * not in the store, ERROR_INVALID_ARGUMENT for an invalid digest.
 */
int content_store_size(const struct content_store *store, const char *digest, int64_t *size,
                       struct error *err);

/*
 * Reads a whole blob of at most max_size bytes into memory (for manifests and configs) and
 * checks its digest again. Returns 0 with a NUL-terminated copy in *data (caller frees) and
 * its length in *length; -1 with ERROR_NOT_FOUND when missing, ERROR_OUT_OF_RANGE when
 * larger than max_size, ERROR_DATA_LOSS when the file no longer matches its digest.
 */
int content_store_read(const struct content_store *store, const char *digest, size_t max_size,
                       char **data, size_t *length, struct error *err);

/*
 * Writes a whole in-memory blob (a manifest, a config) through a writer. expected_digest may
 * be NULL, and then the computed sha256 digest is the name. Stores the digest in out_digest
 * when it is not NULL. Returns 0, or -1 (ERROR_DATA_LOSS when data does not match).
 */
int content_store_put(struct content_store *store, const char *expected_digest, const void *data,
                      size_t length, char out_digest[DIGEST_STRING_MAX], struct error *err);

/*
 * Removes the blob of digest. Returns 0, or -1 with ERROR_NOT_FOUND when it is not there
 * (callers that do not care may ignore that code), ERROR_INTERNAL on I/O errors.
 */
int content_store_delete(struct content_store *store, const char *digest, struct error *err);

/*
 * Lists the digests of all committed blobs, for garbage collection. Returns 0 and a
 * NULL-terminated array (free with strv_free) in *digests, or -1 with ERROR_INTERNAL.
 * Files in blobs/ whose names are not valid digests are skipped.
 */
int content_store_list(const struct content_store *store, char ***digests, struct error *err);

/*
 * Starts writing a blob. expected_digest is required (sha256 or sha512; it also names the
 * algorithm); expected_size is the byte count from the descriptor, or -1 when unknown.
 * Returns 0 and the writer in *out, or -1 (ERROR_INVALID_ARGUMENT for a bad digest or a
 * negative size other than -1, ERROR_INTERNAL when the temporary file cannot be made).
 */
int content_writer_open(struct content_store *store, const char *expected_digest,
                        int64_t expected_size, struct content_writer **out, struct error *err);

/*
 * Appends data to the temporary file and to the running hash. Returns 0, or -1 with
 * ERROR_DATA_LOSS when more than expected_size bytes arrive, ERROR_INTERNAL on a write error
 * (ERROR_RESOURCE_EXHAUSTED when the disk is full). After a failure the writer only accepts
 * content_writer_abort.
 */
int content_writer_write(struct content_writer *writer, const void *data, size_t length,
                         struct error *err);

/* Bytes written so far. */
int64_t content_writer_offset(const struct content_writer *writer);

/*
 * Finishes the blob: checks size and digest, syncs the file, and renames it into blobs/.
 * Always frees writer. A mismatch removes the temporary file and returns -1 with
 * ERROR_DATA_LOSS and a message that names the expected and the actual digest (or size).
 * When the blob already exists the new copy is discarded and 0 is returned.
 */
int content_writer_commit(struct content_writer *writer, struct error *err);

/* Discards the temporary file and frees writer. Safe on NULL. */
void content_writer_abort(struct content_writer *writer);

#endif
