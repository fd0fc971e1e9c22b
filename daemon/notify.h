#ifndef HOSTCRI_DAEMON_NOTIFY_H
#define HOSTCRI_DAEMON_NOTIFY_H

/*
 * Sends a state line ("READY=1", "STOPPING=1") to the service manager when the daemon runs
 * under systemd with Type=notify (NOTIFY_SOCKET is set); does nothing otherwise or on Windows.
 * Failures are logged, never fatal.
 */
void notify_service_manager(const char *state);

#endif
