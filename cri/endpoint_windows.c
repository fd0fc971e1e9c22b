/*
 * The named-pipe listener of the Windows build. libuv 1.44's uv_pipe_bind creates every pipe
 * instance with the default security descriptor (read access for Everyone) and has no way to
 * pass another. So hostcri creates the instances itself and waits for clients on thread-pool
 * waits. It gives each connected instance to libuv with uv_pipe_open. The Linux build compiles
 * this file to nothing.
 */
#ifdef _WIN32

#include "cri/endpoint_windows.h"

#include <fcntl.h>
#include <io.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>

#include <sddl.h>

#include "common/error_windows.h"
#include "common/log.h"
#include "common/text_windows.h"
#include "common/util.h"
#include "cri/server_internal.h"

struct pipe_listener;

/* One pipe instance waiting for a client. */
struct pipe_instance {
    struct pipe_listener *listener;
    HANDLE pipe;           /* INVALID_HANDLE_VALUE while the slot is empty */
    OVERLAPPED overlapped; /* hEvent (manual reset) is set when a client connects */
    HANDLE wait;           /* thread-pool wait on overlapped.hEvent; NULL when none */
    bool connected_early;  /* the client connected before ConnectNamedPipe was called */
};

struct pipe_listener {
    uv_loop_t *loop;
    uv_pipe_t *handle; /* the server's listener handle: closing it stops this listener */
    struct cri_server *server;
    wchar_t *name;
    char *display_name;
    PSECURITY_DESCRIPTOR security_descriptor; /* from ENDPOINT_PIPE_SDDL, LocalFree'd */
    struct pipe_instance instances[ENDPOINT_PIPE_PENDING_INSTANCES];
    uv_async_t async; /* sent by the thread-pool waits */
    uv_check_t check; /* notices that handle is closing */
    int open_handles;
};

/*
 * True when a server already owns name: it accepts a connection, or it exists but every
 * instance is busy or its security descriptor rejects us.
 */
static bool pipe_name_in_use(const wchar_t *name)
{
    HANDLE client = CreateFileW(name, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                                SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION, NULL);
    DWORD error;

    if (client != INVALID_HANDLE_VALUE) {
        CloseHandle(client);
        return true;
    }
    error = GetLastError();
    return error == ERROR_PIPE_BUSY || error == ERROR_ACCESS_DENIED;
}

static void instance_wait_cb(PVOID context, BOOLEAN timed_out)
{
    struct pipe_instance *instance = context;

    (void)timed_out;
    /* A thread-pool thread: uv_async_send is the one libuv call allowed here. */
    uv_async_send(&instance->listener->async);
}

static void instance_stop_waiting(struct pipe_instance *instance)
{
    /* INVALID_HANDLE_VALUE: return only after a running instance_wait_cb has finished. */
    if (instance->wait != NULL)
        UnregisterWaitEx(instance->wait, INVALID_HANDLE_VALUE);
    instance->wait = NULL;
}

/* Closes the instance in the slot, waiting for its ConnectNamedPipe to end first. */
static void instance_close(struct pipe_instance *instance)
{
    DWORD bytes;

    instance_stop_waiting(instance);
    if (instance->pipe == INVALID_HANDLE_VALUE)
        return;
    /* The kernel writes to overlapped until the cancelled call completes. */
    if (!instance->connected_early && CancelIoEx(instance->pipe, &instance->overlapped))
        GetOverlappedResult(instance->pipe, &instance->overlapped, &bytes, TRUE);
    CloseHandle(instance->pipe);
    instance->pipe = INVALID_HANDLE_VALUE;
    instance->connected_early = false;
}

static int instance_connect(struct pipe_instance *instance, struct error *err)
{
    HANDLE event = instance->overlapped.hEvent;

    memset(&instance->overlapped, 0, sizeof(instance->overlapped));
    instance->overlapped.hEvent = event;
    ResetEvent(event);
    if (ConnectNamedPipe(instance->pipe, &instance->overlapped)) {
        instance->connected_early = true;
    } else if (GetLastError() == ERROR_PIPE_CONNECTED) {
        instance->connected_early = true;
    } else if (GetLastError() != ERROR_IO_PENDING) {
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "ConnectNamedPipe %s",
                                 instance->listener->display_name);
    }
    if (instance->connected_early)
        SetEvent(event);
    if (!RegisterWaitForSingleObject(&instance->wait, event, instance_wait_cb, instance, INFINITE,
                                     WT_EXECUTEONLYONCE | WT_EXECUTEINWAITTHREAD)) {
        instance->wait = NULL;
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(),
                                 "RegisterWaitForSingleObject for %s",
                                 instance->listener->display_name);
    }
    return 0;
}

/* Creates a pipe instance in the empty slot and starts waiting for a client on it. */
static int instance_open(struct pipe_instance *instance, bool first, struct error *err)
{
    struct pipe_listener *listener = instance->listener;
    SECURITY_ATTRIBUTES attributes = {
        .nLength = sizeof(attributes),
        .lpSecurityDescriptor = listener->security_descriptor,
        .bInheritHandle = FALSE,
    };
    DWORD open_mode = PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED;
    DWORD pipe_mode = PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS;

    if (first)
        open_mode |= FILE_FLAG_FIRST_PIPE_INSTANCE;
    instance->pipe = CreateNamedPipeW(listener->name, open_mode, pipe_mode,
                                      PIPE_UNLIMITED_INSTANCES, 65536, 65536, 0, &attributes);
    if (instance->pipe == INVALID_HANDLE_VALUE) {
        if (first && GetLastError() == ERROR_ACCESS_DENIED)
            return error_set(err, ERROR_ALREADY_EXISTS,
                             "another server already owns the pipe %s: stop it, or start "
                             "hostcri with another --listen endpoint",
                             listener->display_name);
        /* Further instances need access that ENDPOINT_PIPE_SDDL grants to the two groups. */
        if (GetLastError() == ERROR_ACCESS_DENIED)
            return error_set(err, ERROR_PERMISSION_DENIED,
                             "create another instance of the pipe %s: access denied, because "
                             "only Administrators and SYSTEM may: run hostcri as SYSTEM or as "
                             "an elevated administrator",
                             listener->display_name);
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "create the pipe %s",
                                 listener->display_name);
    }
    if (instance_connect(instance, err) < 0) {
        instance_close(instance);
        return -1;
    }
    return 0;
}

/* Hands a connected pipe instance to the gRPC server as a new connection. */
static void adopt_pipe(struct pipe_listener *listener, HANDLE pipe)
{
    struct cri_connection *connection;
    int fd = _open_osfhandle((intptr_t)pipe, _O_BINARY);
    int rc;

    if (fd < 0) {
        log_warn("accepting a connection on %s failed: no file descriptor for the pipe",
                 listener->display_name);
        CloseHandle(pipe);
        return;
    }
    connection = xcalloc(1, sizeof(*connection));
    uv_pipe_init(listener->loop, &connection->pipe, 0);
    connection->pipe.data = connection;
    rc = uv_pipe_open(&connection->pipe, fd);
    if (rc < 0) {
        log_warn("accepting a connection on %s failed: %s", listener->display_name,
                 uv_strerror(rc));
        _close(fd);
        uv_close((uv_handle_t *)&connection->pipe, (uv_close_cb)free);
        return;
    }
    server_adopt_connection(listener->server, connection);
}

static void accept_instance(struct pipe_instance *instance)
{
    struct pipe_listener *listener = instance->listener;
    struct error err = ERROR_INIT;
    DWORD bytes;
    HANDLE pipe;
    bool connected;

    instance_stop_waiting(instance);
    connected = instance->connected_early ||
                GetOverlappedResult(instance->pipe, &instance->overlapped, &bytes, FALSE);
    if (!connected)
        log_warn("waiting for a client on %s failed: Windows error %lu", listener->display_name,
                 (unsigned long)GetLastError());
    pipe = instance->pipe;
    instance->pipe = INVALID_HANDLE_VALUE;
    instance->connected_early = false;
    if (connected)
        adopt_pipe(listener, pipe);
    else
        CloseHandle(pipe);

    if (instance_open(instance, false, &err) < 0) {
        /* NOTE: the slot stays empty; with every slot empty no client can connect. */
        log_error("cannot create another instance of %s: %s", listener->display_name, err.message);
        error_clear(&err);
    }
}

static void async_cb(uv_async_t *async)
{
    struct pipe_listener *listener = async->data;

    /* A stopping server takes no new connections; check_cb closes the instances. */
    if (uv_is_closing((uv_handle_t *)listener->handle))
        return;
    for (size_t i = 0; i < ARRAY_SIZE(listener->instances); i++) {
        struct pipe_instance *instance = &listener->instances[i];

        if (instance->pipe != INVALID_HANDLE_VALUE &&
            WaitForSingleObject(instance->overlapped.hEvent, 0) == WAIT_OBJECT_0)
            accept_instance(instance);
    }
}

static void listener_free(struct pipe_listener *listener)
{
    for (size_t i = 0; i < ARRAY_SIZE(listener->instances); i++) {
        instance_close(&listener->instances[i]);
        if (listener->instances[i].overlapped.hEvent != NULL)
            CloseHandle(listener->instances[i].overlapped.hEvent);
    }
    if (listener->security_descriptor != NULL)
        LocalFree(listener->security_descriptor);
    free(listener->name);
    free(listener->display_name);
    free(listener);
}

static void listener_handle_closed_cb(uv_handle_t *handle)
{
    struct pipe_listener *listener = handle->data;

    if (--listener->open_handles == 0)
        listener_free(listener);
}

static void check_cb(uv_check_t *check)
{
    struct pipe_listener *listener = check->data;

    if (!uv_is_closing((uv_handle_t *)listener->handle))
        return;
    log_debug("closing the pipe %s", listener->display_name);
    for (size_t i = 0; i < ARRAY_SIZE(listener->instances); i++)
        instance_close(&listener->instances[i]);
    uv_close((uv_handle_t *)&listener->async, listener_handle_closed_cb);
    uv_close((uv_handle_t *)&listener->check, listener_handle_closed_cb);
}

static int listener_init(struct pipe_listener *listener, const char *name, struct error *err)
{
    listener->name = text_windows_utf8_to_wide(name);
    if (listener->name == NULL)
        return error_set(err, ERROR_INVALID_ARGUMENT, "invalid pipe name %s: not UTF-8", name);
    if (pipe_name_in_use(listener->name))
        return error_set(err, ERROR_ALREADY_EXISTS,
                         "another server already owns the pipe %s: stop it, or start hostcri "
                         "with another --listen endpoint",
                         name);
    if (!ConvertStringSecurityDescriptorToSecurityDescriptorA(ENDPOINT_PIPE_SDDL, SDDL_REVISION_1,
                                                              &listener->security_descriptor, NULL))
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(),
                                 "convert the security descriptor %s", ENDPOINT_PIPE_SDDL);
    for (size_t i = 0; i < ARRAY_SIZE(listener->instances); i++) {
        struct pipe_instance *instance = &listener->instances[i];

        instance->listener = listener;
        instance->pipe = INVALID_HANDLE_VALUE;
        instance->overlapped.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
        if (instance->overlapped.hEvent == NULL)
            return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "CreateEvent");
    }
    return 0;
}

int endpoint_windows_listen(uv_pipe_t *listener_handle, const char *name, struct error *err)
{
    struct pipe_listener *listener = xcalloc(1, sizeof(*listener));

    listener->loop = listener_handle->loop;
    listener->handle = listener_handle;
    listener->server = listener_handle->data;
    listener->display_name = xstrdup(name);
    if (listener_init(listener, name, err) < 0) {
        listener_free(listener);
        return -1;
    }
    /* The async handle must exist before the first wait can fire. */
    uv_async_init(listener->loop, &listener->async, async_cb);
    listener->async.data = listener;
    uv_check_init(listener->loop, &listener->check);
    listener->check.data = listener;
    listener->open_handles = 2;
    for (size_t i = 0; i < ARRAY_SIZE(listener->instances); i++) {
        if (instance_open(&listener->instances[i], i == 0, err) < 0) {
            for (size_t j = 0; j < i; j++)
                instance_close(&listener->instances[j]);
            uv_close((uv_handle_t *)&listener->async, listener_handle_closed_cb);
            uv_close((uv_handle_t *)&listener->check, listener_handle_closed_cb);
            return -1;
        }
    }
    uv_check_start(&listener->check, check_cb);
    return 0;
}

#endif
