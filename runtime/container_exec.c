/* ExecSync and the exec entry point of the streaming server: processes started in a container. */

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "runtime/exec_output.h"
#include "runtime/runtime_internal.h"
#include "runtime/signals.h"
#include "runtime/state.h"

#ifdef _WIN32
#include <io.h>
#define NO_OS_FD INVALID_HANDLE_VALUE
/* uv_pipe_open takes a C runtime descriptor; Windows hands out handles. */
static uv_file file_of(uv_os_fd_t fd)
{
    return _open_osfhandle((intptr_t)fd, 0);
}
#else
#define NO_OS_FD (-1)
static uv_file file_of(uv_os_fd_t fd)
{
    return fd;
}
#endif

/* The response limit when the configuration sets none: the daemon's default
 * grpc.max_send_message_size. */
#define EXEC_SYNC_DEFAULT_MAX_RESPONSE ((uint64_t)16 * 1024 * 1024)

/* How long ExecSync waits for output after the command exited (a child may hold the pipes). */
#define EXEC_SYNC_DRAIN_MS 500

static struct container *running_container(struct runtime *runtime, const char *id,
                                           struct error *err)
{
    struct container *container = runtime_find_container(runtime, id, err);

    if (container == NULL)
        return NULL;
    if (container->record.state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING ||
        container->job == NULL) {
        error_set(err, ERROR_FAILED_PRECONDITION,
                  "container %s is in state %s: a command can only run in a running container",
                  container->record.id, container_state_name(container->record.state));
        return NULL;
    }
    return container;
}

int runtime_container_exec(struct runtime *runtime, const char *id,
                           const struct job_exec_spec *spec, job_exec_exit_cb exit_cb, void *data,
                           struct job_exec **out, struct job_exec_io *io, struct error *err)
{
    struct container *container = running_container(runtime, id, err);

    if (container == NULL)
        return -1;
    /* The backend's message already names the container. */
    if (job_exec_start(container->job, spec, exit_cb, data, out, io, err) < 0)
        return -1;
    log_debug_id("container", container->record.id, "exec started: %s, pid %d", spec->argv[0],
                 job_exec_pid(*out));
    return 0;
}

/* One output stream of an ExecSync. */
struct exec_stream {
    uv_pipe_t pipe;
    struct strbuf data;
    bool open;      /* the pipe handle is initialized and not closed yet */
    size_t dropped; /* bytes read past EXEC_OUTPUT_MAX_STREAM, or trimmed to fit the response */
};

/* State of one ExecSync, freed when its last handle has closed. */
struct exec_sync {
    struct job_exec *exec;
    struct exec_stream streams[2]; /* stdout, stderr */
    uv_timer_t timer;
    bool timer_open;
    int open_handles;
    int streams_at_eof;
    bool exited;
    bool completed;
    int exit_code;
    int64_t timeout_seconds;
    char *container_id;
    runtime_exec_sync_cb cb;
    void *data;
    struct runtime *runtime;
    struct exec_sync *next; /* in runtime->exec_syncs until it completes */
};

static void exec_sync_free(struct exec_sync *op)
{
    strbuf_free(&op->streams[0].data);
    strbuf_free(&op->streams[1].data);
    free(op->container_id);
    free(op);
}

static void handle_close_cb(uv_handle_t *handle)
{
    struct exec_sync *op = handle->data;

    if (--op->open_handles == 0)
        exec_sync_free(op);
}

static void exec_sync_unlink(struct exec_sync *op)
{
    for (struct exec_sync **link = &op->runtime->exec_syncs; *link; link = &(*link)->next) {
        if (*link == op) {
            *link = op->next;
            return;
        }
    }
}

/* Releases the exec and closes every handle; the last close frees op. */
static void exec_sync_close(struct exec_sync *op)
{
    exec_sync_unlink(op);
    if (op->exec) {
        job_exec_release(op->exec);
        op->exec = NULL;
    }
    for (int i = 0; i < 2; i++) {
        if (op->streams[i].open) {
            op->streams[i].open = false;
            uv_close((uv_handle_t *)&op->streams[i].pipe, handle_close_cb);
        }
    }
    if (op->timer_open) {
        op->timer_open = false;
        uv_close((uv_handle_t *)&op->timer, handle_close_cb);
    }
}

/*
 * Trims the kept output so that the response fits the RPC server's send limit, and logs what
 * was dropped. Without the trim, two full streams would make a response the server rejects with
 * RESOURCE_EXHAUSTED, and the kubelet would get no output at all.
 */
static void trim_output(struct exec_sync *op)
{
    struct exec_stream *out = &op->streams[0];
    struct exec_stream *err = &op->streams[1];
    size_t stdout_length = out->data.length;
    size_t stderr_length = err->data.length;
    uint64_t max_response = op->runtime->max_send_message_size;

    if (max_response == 0)
        max_response = EXEC_SYNC_DEFAULT_MAX_RESPONSE;
    exec_output_fit(&stdout_length, &stderr_length, op->exit_code, max_response);
    out->dropped += out->data.length - stdout_length;
    err->dropped += err->data.length - stderr_length;
    for (int i = 0; i < 2; i++) {
        struct exec_stream *stream = &op->streams[i];
        size_t kept = i == 0 ? stdout_length : stderr_length;

        if (stream->data.data != NULL) {
            stream->data.length = kept;
            stream->data.data[kept] = '\0';
        }
    }
    if (out->dropped == 0 && err->dropped == 0)
        return;
    log_warn_id("container", op->container_id,
                "exec output trimmed: dropped %zu bytes of stdout and %zu bytes of stderr, "
                "kept %zu and %zu (at most %zu per stream, responses at most %llu bytes)",
                out->dropped, err->dropped, stdout_length, stderr_length, EXEC_OUTPUT_MAX_STREAM,
                (unsigned long long)max_response);
}

/* Runs the callback once, then closes everything. */
static void exec_sync_complete(struct exec_sync *op, const struct error *err)
{
    struct runtime_exec_result result;

    if (op->completed)
        return;
    op->completed = true;
    if (err == NULL)
        trim_output(op);
    result = (struct runtime_exec_result){
        .exit_code = op->exit_code,
        .stdout_data = op->streams[0].data.data ? op->streams[0].data.data : "",
        .stdout_length = op->streams[0].data.length,
        .stderr_data = op->streams[1].data.data ? op->streams[1].data.data : "",
        .stderr_length = op->streams[1].data.length,
    };
    op->cb(err ? NULL : &result, err, op->data);
    exec_sync_close(op);
}

static void exec_sync_check_done(struct exec_sync *op)
{
    if (op->exited && op->streams_at_eof == 2)
        exec_sync_complete(op, NULL);
}

static void alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    static char buffer[64 * 1024];

    /* The loop thread reads one stream at a time, so one static buffer serves all of them. */
    *buf = uv_buf_init(buffer, sizeof(buffer));
}

static void read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct exec_sync *op = stream->data;
    struct exec_stream *s = (struct exec_stream *)stream;

    if (nread > 0) {
        size_t room = EXEC_OUTPUT_MAX_STREAM - s->data.length;
        size_t take = (size_t)nread < room ? (size_t)nread : room;

        /* The rest is read and dropped: a full pipe would block the command. */
        strbuf_append(&s->data, buf->base, take);
        s->dropped += (size_t)nread - take;
        return;
    }
    if (nread == 0)
        return;
    /* EOF or a read error: this stream is over either way. */
    uv_read_stop(stream);
    op->streams_at_eof++;
    exec_sync_check_done(op);
}

static void drain_done_cb(uv_timer_t *timer)
{
    struct exec_sync *op = timer->data;

    log_debug_id("container", op->container_id,
                 "exec output still open %d ms after the command exited; returning what arrived",
                 EXEC_SYNC_DRAIN_MS);
    exec_sync_complete(op, NULL);
}

static void exec_exit_cb(struct job_exec *exec, int exit_code, int signal, void *data)
{
    struct exec_sync *op = data;

    op->exited = true;
    op->exit_code = exit_code;
    exec_sync_check_done(op);
    /*
     * A background child of the command can keep stdout or stderr open: wait a bounded time
     * for the rest of the output, then return without it.
     */
    if (!op->completed && op->timer_open) {
        uv_timer_stop(&op->timer);
        uv_timer_start(&op->timer, drain_done_cb, EXEC_SYNC_DRAIN_MS, 0);
    }
}

static void timeout_cb(uv_timer_t *timer)
{
    struct exec_sync *op = timer->data;
    _cleanup_error_ struct error kill_err = ERROR_INIT;
    struct error err = ERROR_INIT;

    if (op->exec && job_exec_signal(op->exec, SIGNAL_NUMBER_KILL, &kill_err) < 0)
        log_warn_id("container", op->container_id, "killing the timed-out exec failed: %s",
                    kill_err.message);
    error_set(&err, ERROR_DEADLINE_EXCEEDED, "command in container %s timed out after %lld s",
              op->container_id, (long long)op->timeout_seconds);
    exec_sync_complete(op, &err);
    error_clear(&err);
}

static int open_stream(struct runtime *runtime, struct exec_sync *op, int index, uv_os_fd_t fd,
                       struct error *err)
{
    struct exec_stream *s = &op->streams[index];
    int rc;

    if (fd == NO_OS_FD) {
        op->streams_at_eof++; /* the backend gave no such stream: nothing to read */
        return 0;
    }
    rc = uv_pipe_init(runtime->loop, &s->pipe, 0);
    if (rc == 0) {
        s->pipe.data = op;
        s->open = true;
        op->open_handles++;
        rc = uv_pipe_open(&s->pipe, file_of(fd));
    }
    if (rc == 0)
        rc = uv_read_start((uv_stream_t *)&s->pipe, alloc_cb, read_cb);
    if (rc < 0)
        return error_set(err, ERROR_INTERNAL, "read the exec output: %s", uv_strerror(rc));
    return 0;
}

int runtime_container_exec_sync(struct runtime *runtime, const char *id, const char *const *argv,
                                int64_t timeout_seconds, runtime_exec_sync_cb cb, void *data,
                                struct error *err)
{
    struct exec_sync *op = xcalloc(1, sizeof(*op));
    struct job_exec_spec spec = {.argv = argv};
    struct job_exec_io io = {NO_OS_FD, NO_OS_FD, NO_OS_FD};

    op->cb = cb;
    op->data = data;
    op->runtime = runtime;
    if (runtime_container_exec(runtime, id, &spec, exec_exit_cb, op, &op->exec, &io, err) < 0) {
        exec_sync_free(op);
        return -1;
    }
    op->container_id = xstrdup(runtime_find_container(runtime, id, NULL)->record.id);
    op->next = runtime->exec_syncs;
    runtime->exec_syncs = op;
    uv_timer_init(runtime->loop, &op->timer);
    op->timer.data = op;
    op->timer_open = true;
    op->open_handles++;
    op->timeout_seconds = timeout_seconds;
    if (timeout_seconds > 0)
        uv_timer_start(&op->timer, timeout_cb, (uint64_t)timeout_seconds * 1000, 0);
    if (open_stream(runtime, op, 0, io.stdout_fd, err) < 0 ||
        open_stream(runtime, op, 1, io.stderr_fd, err) < 0) {
        _cleanup_error_ struct error kill_err = ERROR_INIT;

        /* The callback never runs after a synchronous failure. */
        op->completed = true;
        job_exec_signal(op->exec, SIGNAL_NUMBER_KILL, &kill_err);
        exec_sync_close(op);
        return -1;
    }
    return 0;
}

void runtime_cancel_exec_syncs(struct runtime *runtime)
{
    struct error err = {ERROR_CANCELLED, (char *)"the runtime is shutting down"};

    while (runtime->exec_syncs) {
        struct exec_sync *op = runtime->exec_syncs;
        _cleanup_error_ struct error kill_err = ERROR_INIT;

        /* A released exec is still reaped when it ends, which would keep the loop running. */
        if (op->exec && !op->exited && job_exec_signal(op->exec, SIGNAL_NUMBER_KILL, &kill_err) < 0)
            log_warn_id("container", op->container_id, "killing an exec failed: %s",
                        kill_err.message);
        exec_sync_complete(op, &err);
    }
}
