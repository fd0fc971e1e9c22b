/*
 * The service interface of daemon/service.h for Linux: systemd learns the daemon's state through
 * sd_notify (notify.c) and stops it with SIGTERM, which main.c handles. The Windows build
 * compiles this file to nothing and uses service_windows.c.
 */
#ifndef _WIN32

#include "daemon/service.h"

#include <stdio.h>
#include <string.h>

#include "daemon/notify.h"

bool service_run_command(int argc, char **argv, int *exit_code)
{
    if (argc < 2 || (strcmp(argv[1], "--register-service") != 0 &&
                     strcmp(argv[1], "--unregister-service") != 0))
        return false;
    fprintf(stderr,
            "hostcri: %s exists on Windows only; on Linux install the systemd unit "
            "hostcri.service (cmake --install) and run: systemctl enable --now hostcri\n",
            argv[1]);
    *exit_code = 2;
    return true;
}

int service_run(int argc, char **argv, service_daemon_fn daemon)
{
    return daemon(argc, argv);
}

bool service_is_active(void)
{
    return false;
}

void service_watch_stop(uv_loop_t *loop, uint64_t drain_ms, service_stop_cb stop_cb, void *data)
{
    (void)loop;
    (void)drain_ms;
    (void)stop_cb;
    (void)data;
}

void service_unwatch_stop(void)
{
}

void service_report_running(void)
{
    notify_service_manager("READY=1");
}

void service_report_stopping(uint64_t drain_ms)
{
    (void)drain_ms;
    notify_service_manager("STOPPING=1");
}

#endif
