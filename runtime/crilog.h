#ifndef HOSTCRI_RUNTIME_CRILOG_H
#define HOSTCRI_RUNTIME_CRILOG_H

/*
 * The CRI container log writer, used by the monitor. Each record is one line:
 *
 *     <RFC 3339 UTC time with nanoseconds> <stdout|stderr> <P|F> <text>\n
 *
 * Output is split at newlines; a CR right before the LF is removed. A line longer than the
 * maximum line size becomes P (partial) records of that size followed by an F (full) record
 * with the rest. Output that ends without a newline still gets its F record when the stream is
 * closed. Bytes pass through unchanged, binary ones included. Records are collected in a buffer
 * and written with one write per flush, so a fast writer costs one system call per batch.
 *
 * A writer is not thread-safe; the monitor uses it from its single thread. It depends only on
 * the C library, so the monitor can link it without libuv.
 */

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/strbuf.h"

/* The kubelet's default maximum line size (containerd's max_container_log_line_size). */
#define CRILOG_DEFAULT_MAX_LINE 16384

/* Buffered records are written once they pass this size, which bounds the writer's memory
 * when a container prints many short lines. */
#define CRILOG_FLUSH_THRESHOLD 65536

enum crilog_stream {
    CRILOG_STDOUT = 0,
    CRILOG_STDERR = 1,
};

/* Text of a stream that has not reached a newline yet. */
struct crilog_pending {
    char *data; /* max_line bytes */
    size_t length;
};

struct crilog {
    int fd;     /* the log file, or -1 when output is discarded */
    char *path; /* NULL when output is discarded */
    size_t max_line;
    struct crilog_pending pending[2];
    struct strbuf out; /* records not written yet */
    int write_errno;   /* first error of a write made by crilog_append, for crilog_flush */
    int64_t stamp_ns;  /* the time that stamp holds */
    int64_t flush_error_logged_ns; /* when crilog_flush_or_log last logged an error, or 0 */
    char stamp[40];
};

/*
 * Opens path for appending (creating it with mode 0640) and initializes log. path NULL makes a
 * writer that discards everything. max_line 0 means CRILOG_DEFAULT_MAX_LINE. On failure log is
 * left cleared and crilog_close is still safe.
 */
int crilog_open(struct crilog *log, const char *path, size_t max_line, struct error *err);

/*
 * Turns data of stream into records stamped with now_ns (nanoseconds since the Unix epoch) and
 * adds them to the output buffer. Text after the last newline waits in the stream's pending
 * buffer. The buffer is written when it passes CRILOG_FLUSH_THRESHOLD; a failure of that write
 * is returned by the next crilog_flush.
 */
void crilog_append(struct crilog *log, enum crilog_stream stream, const void *data, size_t length,
                   int64_t now_ns);

/* Emits the pending text of stream, if any, as an F record: the stream reached end of file. */
void crilog_end_stream(struct crilog *log, enum crilog_stream stream, int64_t now_ns);

/*
 * Writes the buffered records with one write (more only after a short write). On a write error
 * (here or in an earlier crilog_append) the records are dropped, so the caller can keep
 * draining the container's output.
 */
int crilog_flush(struct crilog *log, struct error *err);

/*
 * Flushes like crilog_flush, but logs a failure with container_id instead of returning it, at
 * most once a minute. The records are dropped all the same, so the monitor keeps draining the
 * output and a container does not block on a full pipe while its log cannot be written.
 */
void crilog_flush_or_log(struct crilog *log, const char *container_id);

/* Flushes, then closes and reopens the file at the same path (after the kubelet rotated it). */
int crilog_reopen(struct crilog *log, struct error *err);

/* Formats now_ns as "2006-01-02T15:04:05.000000000Z" into buf (at least 31 bytes). */
void crilog_format_time(int64_t now_ns, char *buf, size_t size);

/* Ends both streams, flushes and closes the file, and frees the buffers. */
void crilog_close(struct crilog *log, int64_t now_ns);

#endif
