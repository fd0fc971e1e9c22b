/*
 * Exec and attach sessions: the process side of the remote command protocols.
 */
#include "cri/streaming/remotecommand.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "common/log.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "cri/streaming/conn.h"
#include "cri/streaming/request.h"

/* After the process exits, how long its output may take to reach EOF (a child that kept the
 * pipe open would otherwise hold the session forever). */
#define OUTPUT_DRAIN_MS 5000
/* Bytes of unparsed resize messages kept; one message is about 30 bytes. */
#define RESIZE_BUFFER_MAX 4096
/*
 * How long a tty exec waits for the client's first terminal size before it starts without
 * one. Clients with a terminal (kubectl, crictl) send the size right after the streams are up,
 * so the wait normally ends within a round trip.
 */
#define INITIAL_SIZE_WAIT_MS 1000

struct rc_pipe {
    uv_pipe_t pipe;
    struct rc_session *session;
    enum rc_stream stream;
    bool open;    /* handle initialized and not closed */
    bool reading; /* output: read started and not at EOF */
};

struct rc_session {
    uv_loop_t *loop;
    const struct streaming_backend *backend;
    void *backend_data;
    struct streaming_request *request;
    struct rc_options options;
    const struct rc_transport_ops *ops;
    void *transport;
    const char *id; /* container id, for logs */

    void *handle;         /* backend's, between a successful start and detach */
    bool start_requested; /* by rc_session_start; a tty exec may still wait for its size */
    bool started;
    bool exited;
    int exit_code;
    char *exit_error;
    bool finished;
    bool transport_gone;
    bool outputs_paused;

    struct rc_pipe in;  /* stdin, or unused with a tty */
    struct rc_pipe out; /* stdout, or the tty (read and written) */
    struct rc_pipe err;
    uv_timer_t drain_timer;
    uv_timer_t size_timer; /* ends the wait of a tty exec for its first terminal size */
    int handles_open;

    struct strbuf pending_stdin; /* stdin received before the start */
    bool stdin_closed;           /* by the client, applied or pending */
    size_t stdin_backlog;
    bool input_paused;

    struct strbuf resize_buffer;
    struct streaming_window_size size;
    bool size_known;
};

struct stdin_write {
    uv_write_t req;
    struct rc_session *session;
    size_t length;
    char data[];
};

static void check_done(struct rc_session *session);
static void start_now(struct rc_session *session);

static void maybe_free(struct rc_session *session)
{
    if (!session->transport_gone || session->handles_open > 0)
        return;
    streaming_request_free(session->request);
    free(session->exit_error);
    strbuf_free(&session->pending_stdin);
    strbuf_free(&session->resize_buffer);
    free(session);
}

static void handle_closed_cb(uv_handle_t *handle)
{
    struct rc_session *session = handle->data;

    session->handles_open--;
    maybe_free(session);
}

static void pipe_closed_cb(uv_handle_t *handle)
{
    struct rc_pipe *pipe = handle->data;

    pipe->session->handles_open--;
    maybe_free(pipe->session);
}

static void close_pipe(struct rc_pipe *pipe)
{
    if (!pipe->open)
        return;
    pipe->open = false;
    pipe->reading = false;
    uv_close((uv_handle_t *)&pipe->pipe, pipe_closed_cb);
}

/* The message of a failed command, as the reference server words it. */
static char *exit_message(const struct rc_session *session)
{
    _cleanup_strbuf_ struct strbuf argv = STRBUF_INIT;

    for (size_t i = 0; i < session->request->cmd_count; i++)
        strbuf_appendf(&argv, "%s%s", i ? " " : "", session->request->cmd[i]);
    return xasprintf("command terminated with non-zero exit code: error executing command [%s], "
                     "exit code %d",
                     argv.data ? argv.data : "", session->exit_code);
}

static char *failure_message(const struct rc_session *session)
{
    const char *what = session->request->kind == STREAMING_ATTACH
                           ? "error attaching to container"
                           : "error executing command in container";

    return xasprintf("Internal error occurred: %s: %s", what, session->exit_error);
}

static bool nonzero_exit(const struct rc_session *session)
{
    return session->exit_code != 0 && session->request->kind == STREAMING_EXEC;
}

/* Builds the v4 Status JSON of the result. */
static char *status_json(struct rc_session *session)
{
    json_t *status;

    if (session->exit_error != NULL) {
        _cleanup_free_ char *message = failure_message(session);

        status = json_pack("{s:{},s:s,s:s,s:s,s:{s:[{s:s}]},s:i}", "metadata", "status", "Failure",
                           "message", message, "reason", "InternalError", "details", "causes",
                           "message", session->exit_error, "code", 500);
    } else if (nonzero_exit(session)) {
        _cleanup_free_ char *code = xasprintf("%d", session->exit_code);
        _cleanup_free_ char *message = exit_message(session);

        status = json_pack("{s:{},s:s,s:s,s:s,s:{s:[{s:s,s:s}]}}", "metadata", "status", "Failure",
                           "message", message, "reason", "NonZeroExitCode", "details", "causes",
                           "reason", "ExitCode", "message", code);
    } else {
        status = json_pack("{s:{},s:s}", "metadata", "status", "Success");
    }
    if (status == NULL)
        abort(); /* json_pack fails only on a bad format or allocation failure */
    char *text = json_dumps(status, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(status);
    return text;
}

/* Writes the result on the error stream, as the protocol version has it. */
static void send_status(struct rc_session *session)
{
    if (session->options.version >= 4) {
        _cleanup_free_ char *json = status_json(session);

        session->ops->send(session->transport, RC_STREAM_ERROR, json, strlen(json));
        return;
    }
    /* v1-v3 carry only a failure, as text; exit codes are lost. */
    _cleanup_free_ char *text = NULL;
    if (session->exit_error != NULL)
        text = failure_message(session);
    else if (nonzero_exit(session))
        text = exit_message(session);
    if (text != NULL)
        session->ops->send(session->transport, RC_STREAM_ERROR, text, strlen(text));
}

static void finish(struct rc_session *session)
{
    if (session->finished)
        return;
    session->finished = true;
    uv_timer_stop(&session->drain_timer);
    if (session->handle != NULL) {
        session->backend->detach(session->backend_data, session->handle, false);
        session->handle = NULL;
    }
    if (!session->transport_gone) {
        send_status(session);
        session->ops->finish(session->transport);
    }
    close_pipe(&session->in);
    close_pipe(&session->out);
    close_pipe(&session->err);
}

static bool outputs_done(const struct rc_session *session)
{
    return !session->out.reading && !session->err.reading;
}

static void check_done(struct rc_session *session)
{
    if (session->finished || !session->started)
        return;
    bool had_output = session->request->streams & (STREAMING_STDOUT | STREAMING_STDERR);
    if (!outputs_done(session))
        return;
    /* An attach ends when the container's output ends; an exec when its process exits. */
    if (session->exited || (session->request->kind == STREAMING_ATTACH && had_output))
        finish(session);
}

static void output_ended(struct rc_pipe *pipe)
{
    struct rc_session *session = pipe->session;

    if (!pipe->reading)
        return;
    pipe->reading = false;
    uv_read_stop((uv_stream_t *)&pipe->pipe);
    /* With a tty the same handle also carries stdin, so it stays open until the end. */
    if (!session->request->tty)
        close_pipe(pipe);
    if (!session->transport_gone)
        session->ops->close_stream(session->transport, pipe->stream);
    check_done(session);
}

static void alloc_cb(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    buf->base = xmalloc(65536);
    buf->len = 65536;
}

static void output_read_cb(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct rc_pipe *pipe = stream->data;
    struct rc_session *session = pipe->session;

    if (nread > 0 && !session->transport_gone) {
        session->ops->send(session->transport, pipe->stream, buf->base, (size_t)nread);
        if (session->ops->backlog(session->transport) > LINK_BACKLOG_HIGH &&
            !session->outputs_paused) {
            session->outputs_paused = true;
            if (session->out.reading)
                uv_read_stop((uv_stream_t *)&session->out.pipe);
            if (session->err.reading)
                uv_read_stop((uv_stream_t *)&session->err.pipe);
        }
    } else if (nread < 0) {
        /* EOF, or EIO from a terminal whose other side is closed. */
        output_ended(pipe);
    }
    free(buf->base);
}

static void resume_outputs(struct rc_session *session)
{
    session->outputs_paused = false;
    if (session->out.reading)
        uv_read_start((uv_stream_t *)&session->out.pipe, alloc_cb, output_read_cb);
    if (session->err.reading)
        uv_read_start((uv_stream_t *)&session->err.pipe, alloc_cb, output_read_cb);
}

void rc_session_drain(struct rc_session *session)
{
    if (session->outputs_paused && !session->finished)
        resume_outputs(session);
}

static int open_pipe(struct rc_session *session, struct rc_pipe *pipe, int fd,
                     enum rc_stream stream, bool output)
{
    pipe->session = session;
    pipe->stream = stream;
    uv_pipe_init(session->loop, &pipe->pipe, 0);
    pipe->pipe.data = pipe;
    session->handles_open++;
    pipe->open = true;
    int rc = uv_pipe_open(&pipe->pipe, fd);
    if (rc < 0) {
        close(fd);
        close_pipe(pipe);
        return rc;
    }
    if (output) {
        pipe->reading = true;
        uv_read_start((uv_stream_t *)&pipe->pipe, alloc_cb, output_read_cb);
    }
    return 0;
}

/* The handle stdin is written to: the stdin pipe, or the terminal. */
static uv_stream_t *stdin_stream(struct rc_session *session)
{
    if (session->request->tty && !session->in.open)
        return session->out.open ? (uv_stream_t *)&session->out.pipe : NULL;
    return session->in.open ? (uv_stream_t *)&session->in.pipe : NULL;
}

static void stdin_shutdown_cb(uv_shutdown_t *req, int status)
{
    struct rc_pipe *pipe = req->data;

    free(req);
    close_pipe(pipe);
}

static void close_stdin(struct rc_session *session)
{
    if (session->request->tty) {
        /* The terminal also carries the output; its stdin ends with the process. */
        log_debug_id("container", session->id, "streaming: stdin EOF ignored on a terminal");
        return;
    }
    if (!session->in.open)
        return;

    uv_shutdown_t *req = xcalloc(1, sizeof(*req));
    req->data = &session->in;
    /* The shutdown waits for queued writes; a pipe then reports ENOTSOCK, which is fine. */
    if (uv_shutdown(req, (uv_stream_t *)&session->in.pipe, stdin_shutdown_cb) < 0) {
        free(req);
        close_pipe(&session->in);
    }
}

static void stdin_write_cb(uv_write_t *req, int status)
{
    struct stdin_write *write = (struct stdin_write *)req;
    struct rc_session *session = write->session;

    session->stdin_backlog -= write->length;
    free(write);
    if (status < 0 && status != UV_ECANCELED)
        log_debug_id("container", session->id, "streaming: stdin write failed: %s",
                     uv_strerror(status));
    if (session->input_paused && session->stdin_backlog <= LINK_BACKLOG_LOW &&
        !session->transport_gone) {
        session->input_paused = false;
        session->ops->pause_input(session->transport, false);
    }
}

static void write_stdin(struct rc_session *session, const void *data, size_t length)
{
    uv_stream_t *stream = stdin_stream(session);

    if (stream == NULL || length == 0)
        return;
    struct stdin_write *write = xmalloc(sizeof(*write) + length);
    write->session = session;
    write->length = length;
    memcpy(write->data, data, length);
    uv_buf_t buf = uv_buf_init(write->data, (unsigned int)length);
    if (uv_write(&write->req, stream, &buf, 1, stdin_write_cb) < 0) {
        free(write);
        return;
    }
    session->stdin_backlog += length;
    if (session->stdin_backlog > LINK_BACKLOG_HIGH && !session->input_paused &&
        !session->transport_gone) {
        session->input_paused = true;
        session->ops->pause_input(session->transport, true);
    }
}

void rc_session_stdin(struct rc_session *session, const void *data, size_t length)
{
    if (!(session->request->streams & STREAMING_STDIN) || session->stdin_closed ||
        session->finished)
        return;
    if (!session->started) {
        strbuf_append(&session->pending_stdin, data, length);
        /* The process does not exist yet: stop reading the client rather than buffer more. */
        if (session->pending_stdin.length > LINK_BACKLOG_HIGH && !session->input_paused) {
            session->input_paused = true;
            session->ops->pause_input(session->transport, true);
        }
        return;
    }
    write_stdin(session, data, length);
}

void rc_session_stdin_close(struct rc_session *session)
{
    if (session->stdin_closed)
        return;
    session->stdin_closed = true;
    if (session->started && !session->finished)
        close_stdin(session);
}

static void apply_size(struct rc_session *session)
{
    struct error err = ERROR_INIT;

    if (session->handle == NULL || !session->request->tty)
        return;
    if (session->backend->resize(session->backend_data, session->handle, &session->size, &err) <
        0) {
        log_warn_id("container", session->id, "streaming: resize to %ux%u failed: %s",
                    session->size.width, session->size.height, err.message);
        error_clear(&err);
    }
}

/* Parses one {"Width":W,"Height":H} object. Zero sizes are ignored, as containerd does. */
static void parse_resize(struct rc_session *session, const char *text, size_t length)
{
    json_error_t error;
    json_t *object = json_loadb(text, length, 0, &error);
    json_int_t width = json_integer_value(json_object_get(object, "Width"));
    json_int_t height = json_integer_value(json_object_get(object, "Height"));

    if (object == NULL || width <= 0 || height <= 0 || width > 65535 || height > 65535) {
        log_debug_id("container", session->id, "streaming: ignored resize message");
        json_decref(object);
        return;
    }
    json_decref(object);
    session->size.width = (uint16_t)width;
    session->size.height = (uint16_t)height;
    session->size_known = true;
    if (session->started)
        apply_size(session);
    else if (session->start_requested)
        start_now(session); /* the size a tty exec waited for */
}

void rc_session_resize(struct rc_session *session, const void *data, size_t length)
{
    struct strbuf *buffer = &session->resize_buffer;

    if (!session->request->tty || session->finished)
        return;
    strbuf_append(buffer, data, length);
    /* The objects hold only numbers, so each one ends at the next '}'. */
    for (;;) {
        char *end = memchr(buffer->data, '}', buffer->length);

        if (end == NULL)
            break;
        size_t object_length = (size_t)(end - buffer->data) + 1;
        parse_resize(session, buffer->data, object_length);
        strbuf_consume(buffer, object_length);
    }
    if (buffer->length > RESIZE_BUFFER_MAX)
        strbuf_reset(buffer);
}

static void drain_timeout_cb(uv_timer_t *timer)
{
    struct rc_session *session = timer->data;

    log_debug_id("container", session->id, "streaming: output still open after the exit");
    if (session->out.reading)
        output_ended(&session->out);
    if (session->err.reading)
        output_ended(&session->err);
}

static void exit_cb(void *data, int exit_code, const char *error)
{
    struct rc_session *session = data;

    session->exited = true;
    session->exit_code = exit_code;
    if (error != NULL || exit_code < 0)
        session->exit_error = xstrdup(error ? error : "unknown error");
    else if (exit_code > 255)
        session->exit_code = 255; /* clients parse the code as 8 bits */
    log_debug_id("container", session->id, "streaming: %s ended with code %d",
                 streaming_kind_path(session->request->kind), exit_code);
    if (!session->finished && !outputs_done(session))
        uv_timer_start(&session->drain_timer, drain_timeout_cb, OUTPUT_DRAIN_MS, 0);
    check_done(session);
}

static int start_backend(struct rc_session *session, struct streaming_io *io, struct error *err)
{
    const struct streaming_window_size *size = session->size_known ? &session->size : NULL;

    if (session->request->kind == STREAMING_ATTACH)
        return session->backend->attach(session->backend_data, session->request, exit_cb, session,
                                        &session->handle, io, err);
    return session->backend->exec(session->backend_data, session->request, size, exit_cb, session,
                                  &session->handle, io, err);
}

static void open_io(struct rc_session *session, const struct streaming_io *io)
{
    if (session->request->tty) {
        if (io->tty_fd >= 0)
            open_pipe(session, &session->out, io->tty_fd, RC_STREAM_STDOUT, true);
        /* A pseudo console (Windows) takes its input on a pipe of its own. */
        if (io->stdin_fd >= 0)
            open_pipe(session, &session->in, io->stdin_fd, RC_STREAM_STDIN, false);
        return;
    }
    if (io->stdin_fd >= 0)
        open_pipe(session, &session->in, io->stdin_fd, RC_STREAM_STDIN, false);
    if (io->stdout_fd >= 0)
        open_pipe(session, &session->out, io->stdout_fd, RC_STREAM_STDOUT, true);
    if (io->stderr_fd >= 0)
        open_pipe(session, &session->err, io->stderr_fd, RC_STREAM_STDERR, true);
}

static void start_now(struct rc_session *session)
{
    struct streaming_io io = {-1, -1, -1, -1};
    struct error err = ERROR_INIT;

    if (session->started || session->transport_gone)
        return;
    uv_timer_stop(&session->size_timer);
    session->started = true;
    if (start_backend(session, &io, &err) < 0) {
        log_warn_id("container", session->id, "streaming: %s failed: %s",
                    streaming_kind_path(session->request->kind), err.message);
        session->handle = NULL;
        session->exited = true;
        session->exit_error = xstrdup(err.message ? err.message : "unknown error");
        error_clear(&err);
        finish(session);
        return;
    }

    open_io(session, &io);
    if (session->pending_stdin.length > 0)
        write_stdin(session, session->pending_stdin.data, session->pending_stdin.length);
    strbuf_free(&session->pending_stdin);
    if (session->input_paused && session->stdin_backlog <= LINK_BACKLOG_LOW) {
        session->input_paused = false;
        session->ops->pause_input(session->transport, false);
    }
    if (session->options.close_stdin_at_start)
        session->stdin_closed = true;
    if (session->stdin_closed)
        close_stdin(session);
    if (session->size_known && session->request->kind == STREAMING_ATTACH)
        apply_size(session);
    check_done(session);
}

static void size_timeout_cb(uv_timer_t *timer)
{
    struct rc_session *session = timer->data;

    log_debug_id("container", session->id,
                 "streaming: no terminal size from the client, "
                 "starting the exec without one");
    start_now(session);
}

/*
 * A tty exec whose client can send sizes (protocol v3 and later) waits for the first one. The
 * process then starts with the client's terminal size. A resize just after the start would
 * come too late for a program that reads the size at once.
 */
static bool waits_for_size(const struct rc_session *session)
{
    return session->request->kind == STREAMING_EXEC && session->request->tty &&
           session->options.version >= 3 && !session->size_known;
}

void rc_session_start(struct rc_session *session)
{
    if (session->start_requested || session->transport_gone)
        return;
    session->start_requested = true;
    if (waits_for_size(session)) {
        uv_timer_start(&session->size_timer, size_timeout_cb, INITIAL_SIZE_WAIT_MS, 0);
        return;
    }
    start_now(session);
}

struct rc_session *rc_session_new(uv_loop_t *loop, const struct streaming_backend *backend,
                                  void *backend_data, struct streaming_request *request,
                                  const struct rc_options *options,
                                  const struct rc_transport_ops *ops, void *transport)
{
    struct rc_session *session = xcalloc(1, sizeof(*session));

    session->loop = loop;
    session->backend = backend;
    session->backend_data = backend_data;
    session->request = request;
    session->options = *options;
    session->ops = ops;
    session->transport = transport;
    session->id = request->container_id;
    uv_timer_init(loop, &session->drain_timer);
    session->drain_timer.data = session;
    uv_timer_init(loop, &session->size_timer);
    session->size_timer.data = session;
    session->handles_open = 2;
    return session;
}

void rc_session_detach(struct rc_session *session)
{
    session->transport_gone = true;
    if (session->handle != NULL) {
        bool kill = !session->exited && session->request->kind == STREAMING_EXEC;

        if (kill)
            log_info_id("container", session->id,
                        "streaming: client left, stopping the exec process");
        session->backend->detach(session->backend_data, session->handle, kill);
        session->handle = NULL;
    }
    session->finished = true;
    uv_timer_stop(&session->drain_timer);
    uv_timer_stop(&session->size_timer);
    close_pipe(&session->in);
    close_pipe(&session->out);
    close_pipe(&session->err);
    uv_close((uv_handle_t *)&session->drain_timer, handle_closed_cb);
    uv_close((uv_handle_t *)&session->size_timer, handle_closed_cb);
}

bool rc_session_finished(const struct rc_session *session)
{
    return session->finished;
}
