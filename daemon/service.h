#ifndef HOSTCRI_DAEMON_SERVICE_H
#define HOSTCRI_DAEMON_SERVICE_H

/*
 * The daemon under its service manager: the Windows service control manager
 * (service_windows.c) or systemd with Type=notify (service_systemd.c). main.c makes the same
 * calls on both systems; on Linux they send sd_notify states or do nothing.
 */

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

/* The service's name in the Windows service control manager. */
#define SERVICE_NAME "hostcri"

/* The flag --register-service puts on the service's command line (Windows only). */
#define SERVICE_RUN_FLAG "--service"

/* The daemon itself: serves until it is stopped and returns the process exit code. */
typedef int (*service_daemon_fn)(int argc, char **argv);

/* Starts the daemon's drain, as SIGTERM does. Runs on the loop thread. */
typedef void (*service_stop_cb)(void *data);

/*
 * Runs "--register-service [FLAGS]" or "--unregister-service" when argv[1] is one of them.
 * Returns true with *exit_code set (0 on success) when it was, false for any other argv.
 * Messages go to stdout and stderr. On Linux both commands fail with a pointer to the systemd
 * unit.
 */
bool service_run_command(int argc, char **argv, int *exit_code);

/*
 * Runs daemon(argc, argv) and returns its exit code. When argv contains "--service" (Windows
 * only), the main thread becomes the service control dispatcher and daemon runs on the
 * service's thread without that flag; the service is reported STOPPED with daemon's exit code
 * when it returns. Without "--service" daemon runs on the calling thread.
 */
int service_run(int argc, char **argv, service_daemon_fn daemon);

/* True while the daemon runs as a Windows service, which has no console to log to. */
bool service_is_active(void);

/*
 * Makes a stop or shutdown request from the service control manager call stop_cb(data) on
 * loop's thread, once. drain_ms is the time the drain may take, which the service control
 * manager is told to wait. Does nothing on Linux, where systemd sends SIGTERM. Call
 * service_unwatch_stop from the loop thread before the loop ends.
 */
void service_watch_stop(uv_loop_t *loop, uint64_t drain_ms, service_stop_cb stop_cb, void *data);

/* Closes the loop handles of service_watch_stop. Safe to call when it was never called. */
void service_unwatch_stop(void);

/* Reports that the CRI endpoint serves: READY=1 to systemd, SERVICE_RUNNING to Windows. */
void service_report_running(void);

/*
 * Reports that the daemon drains its calls and may take drain_ms: STOPPING=1 to systemd,
 * SERVICE_STOP_PENDING to Windows.
 */
void service_report_stopping(uint64_t drain_ms);

#endif
