#ifndef HOSTCRI_RUNTIME_WINDOWS_WINMON_SPEC_H
#define HOSTCRI_RUNTIME_WINDOWS_WINMON_SPEC_H

/*
 * What the daemon and a container's hostcri-monitor.exe exchange, as bytes: the spec file, the
 * exit file, the one-line start report and the commands of the control pipe. Portable C, so the
 * unit tests run it on Linux; the file and pipe I/O is in winmon_files.c.
 *
 * Files in the container's state directory (<state_dir>\containers\<id>\):
 *
 *   spec         what to start, written by the daemon in the key and value format of
 *                runtime/monitor_format.h
 *   sandbox      the sandbox id, written by job_container_create
 *   monitor.pid  "<pid> <creation time>" of the monitor (FILETIME units), so a reused pid is
 *                not mistaken for it
 *   init.pid     the same for the init process
 *   exit         how init ended (runtime/monitor_format.h), replaced atomically by the
 *                monitor
 *   user         the temporary local user made for a group name, until it is deleted
 *   monitor.log  the monitor's own log
 *
 * Start report (monitor to daemon, one line on an inherited pipe): "OK <init pid>" or
 * "ERR <gRPC code> <message>". Control pipe (daemon to monitor, one line each way):
 * "signal <n>", "kill", "reopen", "token <daemon pid>" or "attach", answered "OK" or
 * "ERR <gRPC code> <message>". "token" gets "OK <handle>": the container's logon token
 * duplicated into the daemon, or 0 when the container runs as the monitor's own user;
 * after "attach" and "OK" the connection carries attach frames (runtime/job.h).
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "common/strbuf.h"
#include "runtime/job.h"

#define WINMON_SPEC_FILE "spec"
#define WINMON_SANDBOX_FILE "sandbox"
#define WINMON_PID_FILE "monitor.pid"
#define WINMON_INIT_PID_FILE "init.pid"
#define WINMON_EXIT_FILE "exit"
#define WINMON_USER_FILE "user"
#define WINMON_LOG_FILE "monitor.log"

/* Prefix of the control pipe's name; the container id follows. */
#define WINMON_PIPE_PREFIX "\\\\.\\pipe\\hostcri-monitor-"

/* Everything the monitor needs to start a container. */
struct winmon_spec {
    char *id;
    char *job_name;     /* the container's job object, created by the daemon */
    char *pod_job_name; /* the pod's job object the container job nests in, or NULL */
    char **argv;        /* NULL-terminated */
    char **env;         /* NULL-terminated, or NULL for the monitor's environment */
    char *cwd;          /* NULL means the monitor's */
    char *username;     /* run_as_username, or NULL for the monitor's own user */
    char *log_path;     /* CRI log, or NULL to discard output */
    char *exit_file;    /* NULL means "exit" in the state directory */
    int grace_ms;       /* time left to the other processes after init exits */
    bool tty;
    bool stdin_open;
    bool stdin_once;
};

/* Appends the encoded spec to out. */
void winmon_spec_encode(const struct winmon_spec *spec, struct strbuf *out);

/*
 * Decodes length bytes of data into *spec (cleared first; free with winmon_spec_clear).
 * ERROR_INVALID_ARGUMENT for a key without a value or a spec without id, job or arguments.
 */
int winmon_spec_decode(const char *data, size_t length, struct winmon_spec *spec,
                       struct error *err);

/* Frees every field of a decoded spec and zeroes it. */
void winmon_spec_clear(struct winmon_spec *spec);

/*
 * Parses a start report line (with or without its newline). Returns 0 with *pid set for
 * "OK <pid>", or -1 with err holding the monitor's code and message for "ERR", and
 * ERROR_INTERNAL for anything else.
 */
int winmon_report_parse(const char *line, uint32_t *pid, struct error *err);

/* Parses the reply to a control command: 0 for "OK" (alone or followed by a space and a
 * value), -1 with err set otherwise. */
int winmon_reply_parse(const char *line, struct error *err);

/* Formats "ERR <code> <message>\n" into a new string (free), newlines made spaces. */
char *winmon_error_line(const struct error *err);

#endif
