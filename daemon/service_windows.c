/*
 * The service interface of daemon/service.h for Windows: registration with the service control
 * manager (SCM), the service's main function, and stop and shutdown requests that start the
 * same drain as SIGTERM on Linux. The Linux build compiles this file to nothing.
 *
 * Threads: the SCM calls control_handler on the dispatcher thread (the process's main thread)
 * and service_main on a thread of its own, which runs the daemon and its libuv loop. The
 * handler reaches the loop only through uv_async_send.
 */
#ifdef _WIN32

#include "daemon/service.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>

#include "common/error_windows.h"
#include "common/log.h"
#include "common/text_windows.h"
#include "common/util.h"
#include "daemon/config.h"
#include "runtime/windows/process_windows.h"

#define SERVICE_NAME_W L"" SERVICE_NAME
#define SERVICE_DISPLAY_NAME_W L"hostcri container runtime"
#define SERVICE_DESCRIPTION_W                                                                      \
    L"Kubernetes CRI v1 runtime that runs pods as host processes in job objects. The kubelet "     \
    L"connects to it through the named pipe in its --listen flag."

/* The systemd unit's RestartSec=2: the delay before the SCM restarts a failed daemon. */
#define RESTART_DELAY_MS 2000
/* A day without failures resets the SCM's failure count to 0. */
#define FAILURE_RESET_SECONDS 86400
/* Time on top of the drain for closing the subsystems, as TimeoutStopSec=30 leaves in the unit. */
#define STOP_MARGIN_MS 20000
/* How long start-up may take before the pipe serves (opening the stores, the runtime). */
#define START_WAIT_HINT_MS 60000
/* How long --unregister-service waits for a running service to stop. */
#define UNREGISTER_STOP_TIMEOUT_MS 120000

static struct {
    CRITICAL_SECTION lock; /* guards status, the handle, and async_ready */
    bool active;
    SERVICE_STATUS_HANDLE handle;
    SERVICE_STATUS status;

    int argc;
    char **argv;
    service_daemon_fn daemon;
    int exit_code;

    bool stop_requested;
    uint64_t drain_ms;
    bool async_ready; /* async may be sent to */
    uv_async_t async;
    uv_timer_t checkpoint_timer;
    service_stop_cb stop_cb;
    void *stop_data;
} service;

/* Sets the reported state and sends it to the SCM. Call with service.lock held. */
static void set_status_locked(DWORD state, DWORD wait_hint_ms)
{
    if (service.handle == NULL)
        return;
    if (state != service.status.dwCurrentState)
        service.status.dwCheckPoint = 0;
    else if (state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING)
        service.status.dwCheckPoint++;
    service.status.dwCurrentState = state;
    service.status.dwWaitHint = wait_hint_ms;
    service.status.dwControlsAccepted =
        state == SERVICE_RUNNING
            ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN | SERVICE_ACCEPT_PRESHUTDOWN
            : 0;
    if (!SetServiceStatus(service.handle, &service.status))
        log_warn("SetServiceStatus to state %lu failed: Windows error %lu", (unsigned long)state,
                 (unsigned long)GetLastError());
}

static void set_status(DWORD state, DWORD wait_hint_ms)
{
    EnterCriticalSection(&service.lock);
    set_status_locked(state, wait_hint_ms);
    LeaveCriticalSection(&service.lock);
}

/* The time a stop may take: the drain and closing the subsystems, in milliseconds. */
static DWORD wait_hint(uint64_t drain_ms)
{
    uint64_t hint = drain_ms + STOP_MARGIN_MS;

    return hint > MAXDWORD ? MAXDWORD : (DWORD)hint;
}

/* Runs on the dispatcher thread for each request of the SCM. */
static DWORD WINAPI control_handler(DWORD control, DWORD event_type, LPVOID event_data,
                                    LPVOID context)
{
    (void)event_type;
    (void)event_data;
    (void)context;
    switch (control) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN:
    case SERVICE_CONTROL_PRESHUTDOWN:
        EnterCriticalSection(&service.lock);
        if (!service.stop_requested) {
            service.stop_requested = true;
            set_status_locked(SERVICE_STOP_PENDING, wait_hint(service.drain_ms));
            if (service.async_ready)
                uv_async_send(&service.async);
        }
        LeaveCriticalSection(&service.lock);
        return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE:
        EnterCriticalSection(&service.lock);
        if (service.handle != NULL)
            SetServiceStatus(service.handle, &service.status);
        LeaveCriticalSection(&service.lock);
        return NO_ERROR;
    default:
        return ERROR_CALL_NOT_IMPLEMENTED;
    }
}

/* Advances the checkpoint while the daemon drains, which tells the SCM that the stop progresses. */
static void checkpoint_timer_cb(uv_timer_t *timer)
{
    (void)timer;
    set_status(SERVICE_STOP_PENDING, wait_hint(service.drain_ms));
}

static void stop_async_cb(uv_async_t *async)
{
    (void)async;
    log_info("the service control manager requested a stop");
    uv_timer_start(&service.checkpoint_timer, checkpoint_timer_cb, 1000, 1000);
    service.stop_cb(service.stop_data);
}

static void close_handle_cb(uv_handle_t *handle)
{
    (void)handle;
}

void service_watch_stop(uv_loop_t *loop, uint64_t drain_ms, service_stop_cb stop_cb, void *data)
{
    if (!service.active)
        return;
    service.stop_cb = stop_cb;
    service.stop_data = data;
    uv_async_init(loop, &service.async, stop_async_cb);
    uv_timer_init(loop, &service.checkpoint_timer);
    EnterCriticalSection(&service.lock);
    service.drain_ms = drain_ms;
    service.async_ready = true;
    /* A request that came during start-up is handled now. */
    if (service.stop_requested)
        uv_async_send(&service.async);
    LeaveCriticalSection(&service.lock);
}

void service_unwatch_stop(void)
{
    bool was_ready;

    if (!service.active)
        return;
    EnterCriticalSection(&service.lock);
    was_ready = service.async_ready;
    service.async_ready = false;
    LeaveCriticalSection(&service.lock);
    if (!was_ready)
        return;
    uv_close((uv_handle_t *)&service.async, close_handle_cb);
    uv_close((uv_handle_t *)&service.checkpoint_timer, close_handle_cb);
}

void service_report_running(void)
{
    if (!service.active)
        return;
    EnterCriticalSection(&service.lock);
    /* A stop requested during start-up keeps the service in STOP_PENDING. */
    if (!service.stop_requested)
        set_status_locked(SERVICE_RUNNING, 0);
    LeaveCriticalSection(&service.lock);
    log_info("reported SERVICE_RUNNING to the service control manager");
}

void service_report_stopping(uint64_t drain_ms)
{
    if (!service.active)
        return;
    EnterCriticalSection(&service.lock);
    service.drain_ms = drain_ms;
    service.stop_requested = true;
    set_status_locked(SERVICE_STOP_PENDING, wait_hint(service.drain_ms));
    LeaveCriticalSection(&service.lock);
}

bool service_is_active(void)
{
    return service.active;
}

/* The ServiceMain of the SCM: runs the daemon and reports its end with its exit code. */
static void WINAPI service_main(DWORD argc, LPWSTR *argv)
{
    const wchar_t *name = argc > 0 && argv[0] != NULL ? argv[0] : SERVICE_NAME_W;
    SERVICE_STATUS_HANDLE handle = RegisterServiceCtrlHandlerExW(name, control_handler, NULL);

    if (handle == NULL) {
        service.exit_code = 1;
        return;
    }
    EnterCriticalSection(&service.lock);
    service.handle = handle;
    service.status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    set_status_locked(SERVICE_START_PENDING, START_WAIT_HINT_MS);
    LeaveCriticalSection(&service.lock);

    /* NOTE: start parameters (sc start hostcri ARGS) are ignored; flags come from ImagePath. */
    service.exit_code = service.daemon(service.argc, service.argv);

    EnterCriticalSection(&service.lock);
    /* A non-zero exit code counts as a failure, so the SCM's recovery actions restart it. */
    service.status.dwWin32ExitCode =
        service.exit_code == 0 ? NO_ERROR : ERROR_SERVICE_SPECIFIC_ERROR;
    service.status.dwServiceSpecificExitCode = (DWORD)service.exit_code;
    set_status_locked(SERVICE_STOPPED, 0);
    LeaveCriticalSection(&service.lock);
}

/* Returns argv without its "--service" flags, in new memory, and their count in *removed. */
static char **argv_without_run_flag(int argc, char **argv, int *removed)
{
    char **copy = xcalloc((size_t)argc + 1, sizeof(*copy));
    int count = 0;

    for (int i = 0; i < argc; i++) {
        if (i > 0 && strcmp(argv[i], SERVICE_RUN_FLAG) == 0)
            continue;
        copy[count++] = argv[i];
    }
    *removed = argc - count;
    return copy;
}

int service_run(int argc, char **argv, service_daemon_fn daemon)
{
    SERVICE_TABLE_ENTRYW table[] = {{(LPWSTR)SERVICE_NAME_W, service_main}, {NULL, NULL}};
    _cleanup_free_ char **daemon_argv = NULL;
    int removed;
    char message[256];

    daemon_argv = argv_without_run_flag(argc, argv, &removed);
    if (removed == 0)
        return daemon(argc, argv);

    InitializeCriticalSection(&service.lock);
    service.active = true;
    service.argc = argc - removed;
    service.argv = daemon_argv;
    service.daemon = daemon;
    if (!StartServiceCtrlDispatcherW(table)) {
        DWORD error = GetLastError();

        if (error == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT)
            fprintf(stderr,
                    "hostcri: %s is for the service control manager only: start the service "
                    "with \"sc start %s\", or run hostcri.exe without %s in a console\n",
                    SERVICE_RUN_FLAG, SERVICE_NAME, SERVICE_RUN_FLAG);
        else
            fprintf(stderr, "hostcri: StartServiceCtrlDispatcherW failed: %s\n",
                    windows_error_string(error, message, sizeof(message)));
        return 1;
    }
    return service.exit_code;
}

/* Closes an SCM or service handle that is not NULL; for the cleanup attribute. */
static void close_service_handle(SC_HANDLE *handle)
{
    if (*handle != NULL)
        CloseServiceHandle(*handle);
}
#define _cleanup_service_handle_ __attribute__((cleanup(close_service_handle)))

/* Returns the absolute form of path in new memory, or a copy of path when that fails. */
static char *absolute_path(const char *path)
{
    _cleanup_free_ wchar_t *wide = text_windows_utf8_to_wide(path);
    _cleanup_free_ wchar_t *buffer = NULL;
    DWORD length;
    char *absolute;

    if (wide == NULL)
        return xstrdup(path);
    length = GetFullPathNameW(wide, 0, NULL, NULL);
    if (length == 0)
        return xstrdup(path);
    buffer = xcalloc(length, sizeof(*buffer));
    if (GetFullPathNameW(wide, length, buffer, NULL) >= length)
        return xstrdup(path);
    absolute = text_windows_wide_to_utf8(buffer);
    return absolute ? absolute : xstrdup(path);
}

/*
 * Builds the service's command line: this program's full path, "--service", and flags with a
 * relative --config made absolute, because a service starts in the system directory.
 * Returns new UTF-16 (free), or NULL with err set.
 */
static wchar_t *build_command_line(int flag_count, char **flags, struct error *err)
{
    _cleanup_free_ wchar_t *exe = xcalloc(32768, sizeof(*exe));
    _cleanup_strv_ char **argv = xcalloc((size_t)flag_count + 3, sizeof(*argv));
    DWORD length = GetModuleFileNameW(NULL, exe, 32768);
    size_t count = 0;
    wchar_t *command_line;

    if (length == 0 || length >= 32768) {
        error_set_windows(err, ERROR_INTERNAL, GetLastError(), "GetModuleFileNameW");
        return NULL;
    }
    argv[count] = text_windows_wide_to_utf8(exe);
    if (argv[count++] == NULL) {
        error_set(err, ERROR_INVALID_ARGUMENT, "the program's path is not valid UTF-16");
        return NULL;
    }
    argv[count++] = xstrdup(SERVICE_RUN_FLAG);
    for (int i = 0; i < flag_count; i++) {
        if (strcmp(flags[i], "--config") == 0 && i + 1 < flag_count) {
            argv[count++] = xstrdup(flags[i]);
            argv[count++] = absolute_path(flags[++i]);
        } else if (str_has_prefix(flags[i], "--config=")) {
            _cleanup_free_ char *path = absolute_path(flags[i] + strlen("--config="));

            argv[count++] = xasprintf("--config=%s", path);
        } else {
            argv[count++] = xstrdup(flags[i]);
        }
    }
    command_line = process_windows_command_line((const char *const *)argv);
    if (command_line == NULL)
        error_set(err, ERROR_INVALID_ARGUMENT, "a flag of the service is not valid UTF-8");
    return command_line;
}

/*
 * Parses the flags as the daemon will, so a mistake fails now and not at each service start.
 * argv[0] is "--register-service". Stores the shutdown grace period in *drain_ms.
 */
static int check_service_flags(int argc, char **argv, uint64_t *drain_ms, struct error *err)
{
    struct hostcri_config config;
    bool exit_now;
    int exit_code;
    int rc;

    config_init_defaults(&config);
    rc = config_parse_args(&config, argc, argv, &exit_now, &exit_code, err);
    *drain_ms = config.shutdown_grace_ms;
    config_free(&config);
    if (rc < 0)
        return error_prefix(err, "invalid service flags");
    if (exit_now)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "--help and --version are not flags of the service");
    return 0;
}

/*
 * Sets the description, restarts on failure (as Restart=on-failure does for the systemd unit,
 * including a stop with a non-zero exit code), and the pre-shutdown timeout that gives the
 * drain its grace period when Windows shuts down. A setting that fails is a warning: the
 * service runs without it.
 */
static void configure_service(SC_HANDLE handle, uint64_t drain_ms)
{
    SERVICE_DESCRIPTIONW description = {.lpDescription = (LPWSTR)SERVICE_DESCRIPTION_W};
    SC_ACTION actions[] = {
        {SC_ACTION_RESTART, RESTART_DELAY_MS},
        {SC_ACTION_RESTART, RESTART_DELAY_MS},
        {SC_ACTION_RESTART, RESTART_DELAY_MS},
    };
    SERVICE_FAILURE_ACTIONSW failure_actions = {
        .dwResetPeriod = FAILURE_RESET_SECONDS,
        .cActions = ARRAY_SIZE(actions),
        .lpsaActions = actions,
    };
    SERVICE_FAILURE_ACTIONS_FLAG failure_flag = {.fFailureActionsOnNonCrashFailures = TRUE};
    SERVICE_PRESHUTDOWN_INFO preshutdown = {.dwPreshutdownTimeout = wait_hint(drain_ms)};
    const struct {
        DWORD level;
        void *info;
        const char *name;
    } settings[] = {
        {SERVICE_CONFIG_DESCRIPTION, &description, "description"},
        {SERVICE_CONFIG_FAILURE_ACTIONS, &failure_actions, "recovery actions"},
        {SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, &failure_flag, "recovery on a non-zero exit code"},
        {SERVICE_CONFIG_PRESHUTDOWN_INFO, &preshutdown, "pre-shutdown timeout"},
    };
    char message[256];

    for (size_t i = 0; i < ARRAY_SIZE(settings); i++) {
        if (ChangeServiceConfig2W(handle, settings[i].level, settings[i].info))
            continue;
        fprintf(stderr, "hostcri: warning: setting the %s of service %s failed: %s\n",
                settings[i].name, SERVICE_NAME,
                windows_error_string(GetLastError(), message, sizeof(message)));
    }
}

/*
 * "--register-service [FLAGS]": argv[0] is "--register-service". Creates the automatic-start
 * service that runs this program with "--service" and FLAGS as LocalSystem.
 */
static int service_register(int argc, char **argv, struct error *err)
{
    _cleanup_service_handle_ SC_HANDLE manager = NULL;
    _cleanup_service_handle_ SC_HANDLE handle = NULL;
    _cleanup_free_ wchar_t *command_line = NULL;
    _cleanup_free_ char *command_line_utf8 = NULL;
    uint64_t drain_ms;

    if (check_service_flags(argc, argv, &drain_ms, err) < 0)
        return -1;
    command_line = build_command_line(argc - 1, argv + 1, err);
    if (command_line == NULL)
        return -1;
    manager = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT | SC_MANAGER_CREATE_SERVICE);
    if (manager == NULL)
        return error_set_windows(err, ERROR_PERMISSION_DENIED, GetLastError(),
                                 "open the service control manager (run as Administrator)");
    handle = CreateServiceW(manager, SERVICE_NAME_W, SERVICE_DISPLAY_NAME_W, SERVICE_ALL_ACCESS,
                            SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START, SERVICE_ERROR_NORMAL,
                            command_line, NULL, NULL, NULL, NULL, NULL);
    if (handle == NULL && GetLastError() == ERROR_SERVICE_EXISTS)
        return error_set(err, ERROR_ALREADY_EXISTS,
                         "service %s already exists: run hostcri.exe --unregister-service first",
                         SERVICE_NAME);
    if (handle == NULL)
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "create service %s",
                                 SERVICE_NAME);
    configure_service(handle, drain_ms);
    command_line_utf8 = text_windows_wide_to_utf8(command_line);
    printf("registered service %s (automatic start): %s\n", SERVICE_NAME,
           command_line_utf8 ? command_line_utf8 : "");
    return 0;
}

/* Stops the service unless it is stopped, and waits up to UNREGISTER_STOP_TIMEOUT_MS. */
static int stop_service_and_wait(SC_HANDLE handle, struct error *err)
{
    SERVICE_STATUS status;

    if (!QueryServiceStatus(handle, &status))
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "query service %s",
                                 SERVICE_NAME);
    if (status.dwCurrentState == SERVICE_STOPPED)
        return 0;
    printf("stopping service %s\n", SERVICE_NAME);
    if (status.dwCurrentState != SERVICE_STOP_PENDING &&
        !ControlService(handle, SERVICE_CONTROL_STOP, &status) &&
        GetLastError() != ERROR_SERVICE_NOT_ACTIVE)
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "stop service %s",
                                 SERVICE_NAME);
    for (int waited_ms = 0; waited_ms < UNREGISTER_STOP_TIMEOUT_MS; waited_ms += 250) {
        if (!QueryServiceStatus(handle, &status))
            return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "query service %s",
                                     SERVICE_NAME);
        if (status.dwCurrentState == SERVICE_STOPPED)
            return 0;
        Sleep(250);
    }
    return error_set(err, ERROR_DEADLINE_EXCEEDED,
                     "service %s did not stop within %d s: stop it with \"sc stop %s\" and retry",
                     SERVICE_NAME, UNREGISTER_STOP_TIMEOUT_MS / 1000, SERVICE_NAME);
}

/* "--unregister-service": stops the service when it runs, then deletes it. */
static int service_unregister(struct error *err)
{
    _cleanup_service_handle_ SC_HANDLE manager = NULL;
    _cleanup_service_handle_ SC_HANDLE handle = NULL;

    manager = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
    if (manager == NULL)
        return error_set_windows(err, ERROR_PERMISSION_DENIED, GetLastError(),
                                 "open the service control manager (run as Administrator)");
    handle = OpenServiceW(manager, SERVICE_NAME_W, DELETE | SERVICE_STOP | SERVICE_QUERY_STATUS);
    if (handle == NULL && GetLastError() == ERROR_SERVICE_DOES_NOT_EXIST)
        return error_set(err, ERROR_NOT_FOUND, "service %s is not registered", SERVICE_NAME);
    if (handle == NULL)
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "open service %s",
                                 SERVICE_NAME);
    if (stop_service_and_wait(handle, err) < 0)
        return -1;
    if (!DeleteService(handle) && GetLastError() != ERROR_SERVICE_MARKED_FOR_DELETE)
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "delete service %s",
                                 SERVICE_NAME);
    printf("unregistered service %s\n", SERVICE_NAME);
    return 0;
}

bool service_run_command(int argc, char **argv, int *exit_code)
{
    struct error err = ERROR_INIT;
    int rc;

    if (argc < 2)
        return false;
    if (strcmp(argv[1], "--register-service") == 0)
        rc = service_register(argc - 1, argv + 1, &err);
    else if (strcmp(argv[1], "--unregister-service") == 0 && argc == 2)
        rc = service_unregister(&err);
    else if (strcmp(argv[1], "--unregister-service") == 0)
        rc = error_set(&err, ERROR_INVALID_ARGUMENT, "--unregister-service takes no flags");
    else
        return false;
    if (rc < 0) {
        fprintf(stderr, "hostcri: %s\n", err.message);
        error_clear(&err);
    }
    *exit_code = rc < 0 ? 1 : 0;
    return true;
}

#endif
