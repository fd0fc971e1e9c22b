#include "runtime/crilog.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#ifndef O_CLOEXEC
#define O_CLOEXEC 0
#endif

static const char *const stream_names[] = {"stdout", "stderr"};

static int open_log_file(const char *path, struct error *err)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);

    if (fd < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "open container log %s", path);
    return fd;
}

int crilog_open(struct crilog *log, const char *path, size_t max_line, struct error *err)
{
    memset(log, 0, sizeof(*log));
    log->fd = -1;
    log->max_line = max_line ? max_line : CRILOG_DEFAULT_MAX_LINE;
    if (path != NULL) {
        log->fd = open_log_file(path, err);
        if (log->fd < 0)
            return -1;
        log->path = xstrdup(path);
    }
    for (size_t i = 0; i < ARRAY_SIZE(log->pending); i++)
        log->pending[i].data = xmalloc(log->max_line);
    return 0;
}

void crilog_format_time(int64_t now_ns, char *buf, size_t size)
{
    time_t seconds = (time_t)(now_ns / 1000000000);
    long nanos = (long)(now_ns % 1000000000);
    struct tm utc;

#ifdef _WIN32
    gmtime_s(&utc, &seconds);
#else
    gmtime_r(&seconds, &utc);
#endif
    snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%09ldZ", utc.tm_year + 1900, utc.tm_mon + 1,
             utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, nanos);
}

/* Writes the buffer; returns 0 or an errno value. The buffer is emptied either way. */
static int write_out(struct crilog *log)
{
    size_t done = 0;
    int result = 0;

    while (log->fd >= 0 && done < log->out.length) {
        ssize_t n = write(log->fd, log->out.data + done, log->out.length - done);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            result = n < 0 ? errno : EIO;
            break;
        }
        done += (size_t)n;
    }
    strbuf_reset(&log->out);
    return result;
}

/* Adds one record with the pending text of stream and empties it. */
static void emit_record(struct crilog *log, enum crilog_stream stream, char tag, int64_t now_ns)
{
    struct crilog_pending *pending = &log->pending[stream];
    char header[64];
    int length;

    /* Records of one batch share a time, so it is formatted once. */
    if (now_ns != log->stamp_ns || log->stamp[0] == '\0') {
        crilog_format_time(now_ns, log->stamp, sizeof(log->stamp));
        log->stamp_ns = now_ns;
    }
    length = snprintf(header, sizeof(header), "%s %s %c ", log->stamp, stream_names[stream], tag);
    strbuf_append(&log->out, header, (size_t)length);
    strbuf_append(&log->out, pending->data, pending->length);
    strbuf_append_char(&log->out, '\n');
    pending->length = 0;
    if (log->out.length >= CRILOG_FLUSH_THRESHOLD) {
        int errnum = write_out(log);

        if (errnum != 0 && log->write_errno == 0)
            log->write_errno = errnum;
    }
}

/* Moves length bytes (which must fit) into the pending buffer of stream. */
static void add_pending(struct crilog *log, enum crilog_stream stream, const char *data,
                        size_t length)
{
    struct crilog_pending *pending = &log->pending[stream];

    memcpy(pending->data + pending->length, data, length);
    pending->length += length;
}

/* Takes one segment of text without a newline: full buffers become P records. */
static void append_segment(struct crilog *log, enum crilog_stream stream, const char *data,
                           size_t length, int64_t now_ns)
{
    struct crilog_pending *pending = &log->pending[stream];

    while (pending->length + length > log->max_line) {
        size_t room = log->max_line - pending->length;

        add_pending(log, stream, data, room);
        data += room;
        length -= room;
        emit_record(log, stream, 'P', now_ns);
    }
    add_pending(log, stream, data, length);
}

void crilog_append(struct crilog *log, enum crilog_stream stream, const void *data, size_t length,
                   int64_t now_ns)
{
    const char *cursor = data;
    const char *end = cursor + length;

    while (cursor < end) {
        const char *newline = memchr(cursor, '\n', (size_t)(end - cursor));
        const char *segment_end = newline ? newline : end;
        struct crilog_pending *pending = &log->pending[stream];

        append_segment(log, stream, cursor, (size_t)(segment_end - cursor), now_ns);
        if (newline == NULL)
            break;
        if (pending->length > 0 && pending->data[pending->length - 1] == '\r')
            pending->length--;
        emit_record(log, stream, 'F', now_ns);
        cursor = newline + 1;
    }
}

void crilog_end_stream(struct crilog *log, enum crilog_stream stream, int64_t now_ns)
{
    if (log->pending[stream].data != NULL && log->pending[stream].length > 0)
        emit_record(log, stream, 'F', now_ns);
}

int crilog_flush(struct crilog *log, struct error *err)
{
    int errnum = write_out(log);

    if (errnum == 0)
        errnum = log->write_errno;
    log->write_errno = 0;
    if (errnum != 0)
        return error_set_errno(err, ERROR_INTERNAL, errnum, "write container log %s", log->path);
    return 0;
}

void crilog_flush_or_log(struct crilog *log, const char *container_id)
{
    struct error err = ERROR_INIT;

    if (crilog_flush(log, &err) == 0)
        return;
    if (time_now_ns() - log->flush_error_logged_ns > INT64_C(60000000000)) {
        log_error("container %s: %s", container_id, err.message);
        log->flush_error_logged_ns = time_now_ns();
    }
    error_clear(&err);
}

int crilog_reopen(struct crilog *log, struct error *err)
{
    int fd;

    if (log->path == NULL)
        return 0;
    crilog_flush(log, NULL);
    fd = open_log_file(log->path, err);
    if (fd < 0)
        return -1;
    if (log->fd >= 0)
        close(log->fd);
    log->fd = fd;
    return 0;
}

void crilog_close(struct crilog *log, int64_t now_ns)
{
    crilog_end_stream(log, CRILOG_STDOUT, now_ns);
    crilog_end_stream(log, CRILOG_STDERR, now_ns);
    crilog_flush(log, NULL);
    if (log->fd >= 0)
        close(log->fd);
    log->fd = -1;
    for (size_t i = 0; i < ARRAY_SIZE(log->pending); i++) {
        free(log->pending[i].data);
        log->pending[i].data = NULL;
    }
    free(log->path);
    log->path = NULL;
    strbuf_free(&log->out);
}
