/*
 * Attach: a relay between the framed stream of a container's monitor (job_container_attach)
 * and plain stream descriptors for the streaming server, one per requested stream.
 */

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "runtime/runtime_internal.h"

#ifdef _WIN32
#include <io.h>
#else
#include <sys/socket.h>
#include <unistd.h>
#endif

/*
 * Output bytes queued toward one relay (the streaming server's end) before the attach stops
 * reading the monitor. The monitor then queues for this attach and disconnects it past its own
 * bound, so that a slow client costs the daemon and the monitor at most about these two
 * amounts of memory.
 */
#define RELAY_BACKLOG_HIGH (1024 * 1024)
/* Queued bytes at which reading the monitor resumes. */
#define RELAY_BACKLOG_LOW (256 * 1024)

enum relay_stream {
    RELAY_STDIN, /* or the terminal, which carries input and output */
    RELAY_STDOUT,
    RELAY_STDERR,
    RELAY_COUNT,
};

struct runtime_attach {
    char *container_id;
    uv_pipe_t monitor; /* the framed connection to the monitor */
    bool monitor_open;
    uv_pipe_t relays[RELAY_COUNT];
    bool relay_open[RELAY_COUNT];
    bool tty;
    bool monitor_paused;  /* reading the monitor stopped until the relays drain */
    struct strbuf frames; /* bytes from the monitor not yet dispatched */
    int open_handles;
    bool ended;  /* the end callback ran, or must not run any more */
    bool closed; /* runtime_attach_close was called */
    runtime_attach_end_cb end_cb;
    void *data;
};

struct attach_write {
    uv_write_t req;
    char *bytes;
};

static void attach_free(struct runtime_attach *attach)
{
    strbuf_free(&attach->frames);
    free(attach->container_id);
    free(attach);
}

static void handle_close_cb(uv_handle_t *handle)
{
    struct runtime_attach *attach = handle->data;

    if (--attach->open_handles == 0)
        attach_free(attach);
}

static void close_handle(struct runtime_attach *attach, uv_handle_t *handle)
{
    if (!uv_is_closing(handle))
        uv_close(handle, handle_close_cb);
}

/* Runs the end callback once: the container exited or the monitor dropped the connection. */
static void attach_end(struct runtime_attach *attach)
{
    if (attach->ended)
        return;
    attach->ended = true;
    attach->end_cb(attach->data);
}

static void monitor_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf);

/* The largest number of output bytes queued toward one relay. */
static size_t relay_backlog(struct runtime_attach *attach)
{
    size_t backlog = 0;

    for (int i = 0; i < RELAY_COUNT; i++) {
        size_t size;

        if (!attach->relay_open[i])
            continue;
        size = uv_stream_get_write_queue_size((uv_stream_t *)&attach->relays[i]);
        if (size > backlog)
            backlog = size;
    }
    return backlog;
}

/* Stops reading the monitor once a relay has more than RELAY_BACKLOG_HIGH bytes queued. */
static void pause_monitor_if_backlogged(struct runtime_attach *attach)
{
    if (attach->monitor_paused || relay_backlog(attach) <= RELAY_BACKLOG_HIGH)
        return;
    uv_read_stop((uv_stream_t *)&attach->monitor);
    attach->monitor_paused = true;
}

static void resume_monitor_if_drained(struct runtime_attach *attach)
{
    if (!attach->monitor_paused || attach->closed || relay_backlog(attach) > RELAY_BACKLOG_LOW)
        return;
    attach->monitor_paused = false;
    uv_read_start((uv_stream_t *)&attach->monitor, alloc_cb, monitor_read_cb);
}

static void write_cb(uv_write_t *req, int status)
{
    struct attach_write *write = req->data;
    struct runtime_attach *attach = req->handle->data;

    free(write->bytes);
    free(write);
    if (status == 0)
        resume_monitor_if_drained(attach);
}

/* Queues a copy of bytes on stream; a failure drops them (the peer is gone). */
static void queue_write(uv_stream_t *stream, const void *bytes, size_t length)
{
    struct attach_write *write = xcalloc(1, sizeof(*write));
    uv_buf_t buf;

    write->bytes = xmemdup(bytes, length);
    write->req.data = write;
    buf = uv_buf_init(write->bytes, (unsigned)length);
    if (uv_write(&write->req, stream, &buf, 1, write_cb) < 0) {
        free(write->bytes);
        free(write);
    }
}

static void send_frame(struct runtime_attach *attach, enum job_attach_frame type,
                       const void *payload, size_t length)
{
    unsigned char header[JOB_ATTACH_HEADER_SIZE] = {
        (unsigned char)type,          (unsigned char)(length >> 24), (unsigned char)(length >> 16),
        (unsigned char)(length >> 8), (unsigned char)length,
    };
    _cleanup_free_ char *frame = xmalloc(sizeof(header) + length);

    memcpy(frame, header, sizeof(header));
    if (length > 0)
        memcpy(frame + sizeof(header), payload, length);
    queue_write((uv_stream_t *)&attach->monitor, frame, sizeof(header) + length);
}

static void alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    static char buffer[JOB_ATTACH_MAX_PAYLOAD];

    /* The loop reads one stream at a time, so one buffer serves every relay. */
    *buf = uv_buf_init(buffer, sizeof(buffer));
}

/* Hands each complete frame from the monitor to the relay of its stream. */
static void dispatch_frames(struct runtime_attach *attach)
{
    while (attach->frames.length >= JOB_ATTACH_HEADER_SIZE) {
        const unsigned char *p = (const unsigned char *)attach->frames.data;
        size_t length = ((size_t)p[1] << 24) | ((size_t)p[2] << 16) | ((size_t)p[3] << 8) | p[4];
        enum relay_stream target = p[0] == JOB_ATTACH_STDERR ? RELAY_STDERR : RELAY_STDOUT;

        if (attach->frames.length < JOB_ATTACH_HEADER_SIZE + length)
            return;
        if (attach->tty)
            target = RELAY_STDIN; /* the terminal's one descriptor */
        if ((p[0] == JOB_ATTACH_STDOUT || p[0] == JOB_ATTACH_STDERR) &&
            attach->relay_open[target] && length > 0)
            queue_write((uv_stream_t *)&attach->relays[target], p + JOB_ATTACH_HEADER_SIZE, length);
        strbuf_consume(&attach->frames, JOB_ATTACH_HEADER_SIZE + length);
    }
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
    free(req);
}

/*
 * Half-closes the relays that carry output (the terminal's too), once their queued bytes are
 * written, so that the caller reads EOF right after the container's last output.
 */
static void end_outputs(struct runtime_attach *attach)
{
    enum relay_stream outputs[] = {RELAY_STDOUT, RELAY_STDERR, RELAY_STDIN};

    for (size_t i = 0; i < ARRAY_SIZE(outputs); i++) {
        enum relay_stream stream = outputs[i];
        uv_shutdown_t *req;

        if (!attach->relay_open[stream] || (stream == RELAY_STDIN && !attach->tty))
            continue;
        req = xcalloc(1, sizeof(*req));
        if (uv_shutdown(req, (uv_stream_t *)&attach->relays[stream], shutdown_cb) < 0)
            free(req);
    }
}

static void monitor_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct runtime_attach *attach = stream->data;

    if (nread > 0) {
        strbuf_append(&attach->frames, buf->base, (size_t)nread);
        dispatch_frames(attach);
        pause_monitor_if_backlogged(attach);
        return;
    }
    if (nread < 0) {
        uv_read_stop(stream);
        end_outputs(attach);
        attach_end(attach);
    }
}

static void input_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct runtime_attach *attach = stream->data;

    if (nread > 0) {
        send_frame(attach, JOB_ATTACH_STDIN, buf->base, (size_t)nread);
        return;
    }
    if (nread < 0) {
        uv_read_stop(stream);
        send_frame(attach, JOB_ATTACH_CLOSE_STDIN, NULL, 0);
    }
}

/* Wraps fd in pipe, which owns fd on success. *opened is set once pipe needs closing. */
static int open_pipe(struct runtime *runtime, struct runtime_attach *attach, uv_pipe_t *pipe,
                     bool *opened, int fd, struct error *err)
{
    int rc = uv_pipe_init(runtime->loop, pipe, 0);

    if (rc < 0) {
        close(fd);
        return error_set(err, ERROR_INTERNAL, "attach: %s", uv_strerror(rc));
    }
    pipe->data = attach;
    attach->open_handles++;
    *opened = true;
    rc = uv_pipe_open(pipe, fd);
    if (rc < 0) {
        close(fd);
        return error_set(err, ERROR_INTERNAL, "attach: %s", uv_strerror(rc));
    }
    return 0;
}

/* A connected pair of descriptors, both ends read and written: a socket pair, or on Windows
 * a duplex overlapped named pipe (C runtime descriptors, as uv_pipe_open takes there). */
static int relay_pair(int pair[2])
{
#ifdef _WIN32
    int flags = UV_NONBLOCK_PIPE | UV_READABLE_PIPE | UV_WRITABLE_PIPE;

    return uv_pipe(pair, flags, flags);
#else
    return uv_socketpair(SOCK_STREAM, 0, pair, 0, 0);
#endif
}

/* The monitor's end as a descriptor for uv_pipe_open; closes it on failure (-1). */
static int monitor_file(uv_os_fd_t fd)
{
#ifdef _WIN32
    int file = _open_osfhandle((intptr_t)fd, 0);

    if (file < 0)
        CloseHandle(fd);
    return file;
#else
    return fd;
#endif
}

/* Creates the relay of one stream; *caller_fd is the caller's end. */
static int open_relay(struct runtime *runtime, struct runtime_attach *attach,
                      enum relay_stream stream, int *caller_fd, struct error *err)
{
    int pair[2];
    int rc = relay_pair(pair);

    if (rc < 0)
        return error_set(err, ERROR_INTERNAL, "attach: relay pair: %s", uv_strerror(rc));
    *caller_fd = pair[0];
    if (open_pipe(runtime, attach, &attach->relays[stream], &attach->relay_open[stream], pair[1],
                  err) < 0)
        return -1;
    if (stream == RELAY_STDIN)
        uv_read_start((uv_stream_t *)&attach->relays[stream], alloc_cb, input_read_cb);
    return 0;
}

static int open_relays(struct runtime *runtime, struct runtime_attach *attach,
                       const struct runtime_attach_request *request, struct runtime_attach_io *io,
                       struct error *err)
{
    if (attach->tty)
        return open_relay(runtime, attach, RELAY_STDIN, &io->tty_fd, err);
    if (request->in && open_relay(runtime, attach, RELAY_STDIN, &io->stdin_fd, err) < 0)
        return -1;
    if (request->out && open_relay(runtime, attach, RELAY_STDOUT, &io->stdout_fd, err) < 0)
        return -1;
    if (request->err && open_relay(runtime, attach, RELAY_STDERR, &io->stderr_fd, err) < 0)
        return -1;
    return 0;
}

static void close_caller_fds(struct runtime_attach_io *io)
{
    int *fds[] = {&io->stdin_fd, &io->stdout_fd, &io->stderr_fd, &io->tty_fd};

    for (size_t i = 0; i < ARRAY_SIZE(fds); i++) {
        if (*fds[i] >= 0)
            close(*fds[i]);
        *fds[i] = -1;
    }
}

int runtime_container_attach(struct runtime *runtime, const char *id,
                             const struct runtime_attach_request *request,
                             runtime_attach_end_cb end_cb, void *data, struct runtime_attach **out,
                             struct runtime_attach_io *io, struct error *err)
{
    struct container *container = runtime_find_container(runtime, id, err);
    struct runtime_attach *attach;
    uv_os_fd_t monitor_fd;
    int monitor;

    *io = (struct runtime_attach_io){-1, -1, -1, -1};
    if (container == NULL)
        return -1;
    if (container->record.state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING ||
        container->job == NULL)
        return error_set(err, ERROR_FAILED_PRECONDITION, "container %s is not running",
                         container->record.id);
    if (job_container_attach(container->job, &monitor_fd, err) < 0)
        return error_prefix(err, "attach to container %s", container->record.id);

    if ((monitor = monitor_file(monitor_fd)) < 0)
        return error_set(err, ERROR_INTERNAL,
                         "attach to container %s: no descriptor for its monitor",
                         container->record.id);
    attach = xcalloc(1, sizeof(*attach));
    attach->container_id = xstrdup(container->record.id);
    attach->tty = request->tty;
    attach->end_cb = end_cb;
    attach->data = data;
    if (open_pipe(runtime, attach, &attach->monitor, &attach->monitor_open, monitor, err) < 0 ||
        open_relays(runtime, attach, request, io, err) < 0) {
        attach->ended = true;
        close_caller_fds(io);
        runtime_attach_close(attach);
        return -1;
    }
    uv_read_start((uv_stream_t *)&attach->monitor, alloc_cb, monitor_read_cb);
    log_debug_id("container", attach->container_id, "attached%s", attach->tty ? " (tty)" : "");
    *out = attach;
    return 0;
}

int runtime_attach_resize(struct runtime_attach *attach, uint16_t rows, uint16_t cols,
                          struct error *err)
{
    unsigned char size[4] = {(unsigned char)(rows >> 8), (unsigned char)rows,
                             (unsigned char)(cols >> 8), (unsigned char)cols};

    if (!attach->tty)
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "attach to container %s has no terminal to resize", attach->container_id);
    send_frame(attach, JOB_ATTACH_RESIZE, size, sizeof(size));
    return 0;
}

void runtime_attach_close(struct runtime_attach *attach)
{
    attach->ended = true;
    attach->closed = true;
    if (attach->open_handles == 0) {
        attach_free(attach);
        return;
    }
    if (attach->monitor_open)
        close_handle(attach, (uv_handle_t *)&attach->monitor);
    for (int i = 0; i < RELAY_COUNT; i++) {
        if (attach->relay_open[i])
            close_handle(attach, (uv_handle_t *)&attach->relays[i]);
    }
}
