#ifndef HOSTCRI_RUNTIME_WINDOWS_MONITOR_WINDOWS_H
#define HOSTCRI_RUNTIME_WINDOWS_MONITOR_WINDOWS_H

/*
 * State of hostcri-monitor.exe, shared by its setup (monitor_windows.c) and its event loop
 * (monitor_windows_loop.c). Not part of the daemon.
 */

#include <stdbool.h>
#include <stdint.h>

#include <windows.h>

#include "common/strbuf.h"
#include "runtime/crilog.h"
#include "runtime/windows/winmon_spec.h"
#include "runtime/windows/winuser.h"

#define MONITOR_READ_CHUNK 16384
#define MONITOR_LINE_MAX 256

/* Completion keys of the monitor's port. */
enum monitor_key {
    MONITOR_KEY_JOB = 1,
    MONITOR_KEY_STDOUT = 2,
    MONITOR_KEY_STDERR = 3,
    MONITOR_KEY_CONTROL = 4, /* the control pipe and the attach connections made from it */
    MONITOR_KEY_STDIN = 5,
};

#define MONITOR_MAX_ATTACH 8
/* Output queued for an attach client that reads too slowly; past this it is disconnected. */
#define MONITOR_ATTACH_QUEUE_MAX (1024 * 1024)

/*
 * Overlapped writes to a pipe without blocking: bytes wait in queued while one write is in
 * flight. Its completion comes to the port with the pipe's key and &overlapped.
 */
struct monitor_writer {
    OVERLAPPED overlapped;
    bool busy;
    struct strbuf in_flight;
    struct strbuf queued;
};

/* One attach connection: output frames go out, input frames come in. */
struct monitor_attach_client {
    HANDLE pipe;  /* NULL when the slot is free */
    bool closing; /* the handle is closed; the slot waits for its pending I/O */
    int pending;  /* overlapped operations not completed yet */
    OVERLAPPED read_overlapped;
    struct monitor_writer writer;
    size_t length;
    unsigned char input[JOB_ATTACH_HEADER_SIZE + JOB_ATTACH_MAX_PAYLOAD];
};

/* One output stream of the init process: the monitor's overlapped end of its pipe. */
struct monitor_stream {
    HANDLE pipe; /* NULL once closed */
    OVERLAPPED overlapped;
    enum crilog_stream stream;
    char buffer[MONITOR_READ_CHUNK];
};

/* The control pipe: one client at a time sends one command line and gets one reply line. */
struct monitor_control {
    HANDLE pipe;
    OVERLAPPED overlapped;
    bool listened; /* an instance was created before: the name is the monitor's */
    bool connected;
    bool replied; /* the reply went out; the client may now close */
    size_t length;
    char line[MONITOR_LINE_MAX];
};

struct monitor {
    const char *state_dir;
    HANDLE report; /* the daemon's start report pipe until the report is sent, then NULL */
    char *exit_path;
    char *user_record_path;
    struct winmon_spec spec;
    struct winuser_logon logon;
    struct crilog log;
    HANDLE port;
    HANDLE job;
    HANDLE pod_job;
    HANDLE init_process;
    DWORD init_pid;
    struct monitor_stream streams[2];
    struct monitor_control control;
    struct monitor_attach_client clients[MONITOR_MAX_ATTACH];
    HANDLE stdin_pipe;    /* the monitor's end of init's stdin, or NULL */
    void *pseudo_console; /* init's console with a tty, until the job is empty */
    struct monitor_writer stdin_writer;
    bool init_exited;
    bool job_empty;
    bool memory_limit_hit;
    DWORD init_code;
    int killed_signal; /* 9 after a kill request, else 0 */
    int64_t started_at_ns;
    int64_t finished_at_ns;
    int64_t terminate_at_ns; /* when the processes left after init are terminated, or 0 */
    int64_t drain_until_ns;  /* output may still arrive until then after the job is empty */
};

/* The real Windows account operations for the monitor's container (winuser_windows.c). */
void monitor_user_ops(struct monitor *monitor, struct winuser_ops *ops);

/* Deletes the temporary user of a group logon, if one was made. */
void monitor_delete_user(struct monitor *monitor);

/* Takes over the control pipe's connected client as an attach client. Returns 0, or -1 when
 * every slot is taken. */
int monitor_attach_add(struct monitor *monitor, HANDLE pipe);

/* Sends output of stream to every attach client as frames; slow clients are dropped. */
void monitor_attach_send(struct monitor *monitor, enum crilog_stream stream, const char *data,
                         size_t length);

/* Handles a completion on an attach connection or on stdin; returns false when overlapped
 * belongs to neither. */
bool monitor_attach_done(struct monitor *monitor, OVERLAPPED *overlapped, BOOL ok, DWORD bytes);

/* Starts reading from a new attach client. */
void monitor_attach_read(struct monitor *monitor, struct monitor_attach_client *client);

/* Closes the pseudo console of a tty, on a thread because ClosePseudoConsole waits for the
 * monitor to read the last output. */
void monitor_close_pseudo_console(struct monitor *monitor);

/* Queues data for init's stdin; nothing happens when stdin is closed. */
void monitor_write_stdin(struct monitor *monitor, const void *data, size_t length);

/* Closes init's stdin (after CLOSE_STDIN, or at the end). */
void monitor_close_stdin(struct monitor *monitor);

/* Creates the control pipe and starts accepting a client. Failure only disables control. */
void monitor_control_listen(struct monitor *monitor);

/* Starts an overlapped read on stream; a closed pipe ends the stream. */
void monitor_stream_read(struct monitor *monitor, struct monitor_stream *stream);

/* Sends a graceful stop to the init process's group: CTRL_BREAK_EVENT and WM_CLOSE. Returns 0
 * when at least one was delivered, else -1 with err set. */
int monitor_send_stop(struct monitor *monitor, struct error *err);

/* Runs until init has exited, the job is empty and the output is drained, then writes the exit
 * file and returns. */
void monitor_run(struct monitor *monitor);

#endif
