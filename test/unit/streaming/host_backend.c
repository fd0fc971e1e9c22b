/*
 * Test backend: host processes instead of containers (see host_backend.h).
 */
#include "host_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <pty.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "common/util.h"

struct host_process {
    uv_process_t process;
    struct host_backend *backend;
    streaming_exit_cb exit_cb;
    void *exit_data;
    int tty_fd; /* master side kept for resize, -1 without a tty */
    bool exited;
    bool detached;
};

static void process_closed_cb(uv_handle_t *handle)
{
    struct host_process *process = handle->data;

    if (process->tty_fd >= 0)
        close(process->tty_fd);
    free(process);
}

static void process_exit_cb(uv_process_t *handle, int64_t exit_status, int term_signal)
{
    struct host_process *process = handle->data;
    int code = term_signal ? 128 + term_signal : (int)exit_status;

    process->exited = true;
    if (process->detached) {
        uv_close((uv_handle_t *)handle, process_closed_cb);
        return;
    }
    /* The server may detach from inside the callback; detach then closes the handle. */
    process->exit_cb(process->exit_data, code, NULL);
}

/* Creates the pipes (or terminal) for the requested streams; child ends go to stdio. */
static int make_stdio(const struct streaming_request *request,
                      const struct streaming_window_size *size, uv_stdio_container_t stdio[3],
                      struct streaming_io *io, int child_fds[3], struct error *err)
{
    *io = (struct streaming_io){-1, -1, -1, -1};
    for (int i = 0; i < 3; i++) {
        stdio[i].flags = UV_IGNORE;
        child_fds[i] = -1;
    }
    if (request->tty) {
        struct winsize ws = {.ws_row = size ? size->height : 24, .ws_col = size ? size->width : 80};
        int master, slave;

        if (openpty(&master, &slave, NULL, NULL, &ws) < 0)
            return error_set_errno(err, ERROR_INTERNAL, errno, "openpty");
        fcntl(master, F_SETFD, FD_CLOEXEC);
        io->tty_fd = master;
        for (int i = 0; i < 3; i++) {
            stdio[i].flags = UV_INHERIT_FD;
            stdio[i].data.fd = slave;
        }
        child_fds[0] = slave;
        return 0;
    }

    static const unsigned bits[3] = {STREAMING_STDIN, STREAMING_STDOUT, STREAMING_STDERR};
    int *parent_ends[3] = {&io->stdin_fd, &io->stdout_fd, &io->stderr_fd};
    for (int i = 0; i < 3; i++) {
        uv_file fds[2];

        if (!(request->streams & bits[i]))
            continue;
        if (uv_pipe(fds, 0, 0) < 0)
            return error_set(err, ERROR_INTERNAL, "create a pipe");
        /* fds[0] reads, fds[1] writes: the child reads stdin and writes the outputs. */
        *parent_ends[i] = i == 0 ? fds[1] : fds[0];
        child_fds[i] = i == 0 ? fds[0] : fds[1];
        stdio[i].flags = UV_INHERIT_FD;
        stdio[i].data.fd = child_fds[i];
    }
    return 0;
}

static void close_fds(int fds[3])
{
    for (int i = 0; i < 3; i++) {
        if (fds[i] >= 0)
            close(fds[i]);
    }
}

static int spawn(struct host_backend *backend, const char *const *argv, bool tty,
                 const struct streaming_request *request, const struct streaming_window_size *size,
                 streaming_exit_cb exit_cb, void *exit_data, void **handle, struct streaming_io *io,
                 struct error *err)
{
    uv_stdio_container_t stdio[3];
    int child_fds[3];
    size_t argc = 0;

    if (make_stdio(request, size, stdio, io, child_fds, err) < 0)
        return -1;
    while (argv[argc] != NULL)
        argc++;
    /* "setsid -c" makes the terminal the controlling one, which uv_spawn cannot do. */
    const char **args = xcalloc(argc + 3, sizeof(*args));
    size_t n = 0;
    if (tty) {
        args[n++] = "setsid";
        args[n++] = "-c";
    }
    for (size_t i = 0; i < argc; i++)
        args[n++] = argv[i];

    struct host_process *process = xcalloc(1, sizeof(*process));
    uv_process_options_t options = {
        .exit_cb = process_exit_cb,
        .file = args[0],
        .args = (char **)args,
        .stdio_count = 3,
        .stdio = stdio,
    };
    process->backend = backend;
    process->exit_cb = exit_cb;
    process->exit_data = exit_data;
    process->tty_fd = tty ? dup(io->tty_fd) : -1;
    process->process.data = process;
    int rc = uv_spawn(backend->loop, &process->process, &options);
    free(args);
    close_fds(child_fds);
    if (rc < 0) {
        struct streaming_io failed = *io;
        int fds[3] = {failed.stdin_fd, failed.stdout_fd, failed.stderr_fd};

        close_fds(fds);
        if (failed.tty_fd >= 0)
            close(failed.tty_fd);
        process->detached = true;
        uv_close((uv_handle_t *)&process->process, process_closed_cb);
        return error_set(err, ERROR_INTERNAL, "start %s: %s", argv[0], uv_strerror(rc));
    }
    backend->started++;
    *handle = process;
    return 0;
}

static int host_exec(void *data, const struct streaming_request *request,
                     const struct streaming_window_size *size, streaming_exit_cb exit_cb,
                     void *exit_data, void **handle, struct streaming_io *io, struct error *err)
{
    return spawn(data, request->cmd, request->tty, request, size, exit_cb, exit_data, handle, io,
                 err);
}

static int host_attach(void *data, const struct streaming_request *request,
                       streaming_exit_cb exit_cb, void *exit_data, void **handle,
                       struct streaming_io *io, struct error *err)
{
    struct host_backend *backend = data;

    return spawn(backend, backend->attach_argv, request->tty, request, NULL, exit_cb, exit_data,
                 handle, io, err);
}

static int host_resize(void *data, void *handle, const struct streaming_window_size *size,
                       struct error *err)
{
    struct host_backend *backend = data;
    struct host_process *process = handle;
    struct winsize ws = {.ws_row = size->height, .ws_col = size->width};

    if (process->tty_fd < 0 || ioctl(process->tty_fd, TIOCSWINSZ, &ws) < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "set the terminal size");
    backend->resizes++;
    return 0;
}

static void host_detach(void *data, void *handle, bool kill)
{
    struct host_backend *backend = data;
    struct host_process *process = handle;

    backend->detached++;
    process->detached = true;
    if (process->exited) {
        uv_close((uv_handle_t *)&process->process, process_closed_cb);
        return;
    }
    if (kill) {
        backend->killed++;
        uv_process_kill(&process->process, SIGKILL);
    }
    /* Without kill (attach) the stand-in container keeps running until it exits by itself. */
}

const struct streaming_backend host_backend_ops = {
    .exec = host_exec,
    .attach = host_attach,
    .resize = host_resize,
    .detach = host_detach,
};
