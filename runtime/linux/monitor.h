#ifndef HOSTCRI_RUNTIME_LINUX_MONITOR_H
#define HOSTCRI_RUNTIME_LINUX_MONITOR_H

/* State of the hostcri-monitor program, shared by its setup (monitor.c), its attach socket
 * (monitor_attach.c) and its event loop (monitor_loop.c). Not part of the daemon. */

#include <stdbool.h>
#include <poll.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"
#include "common/strbuf.h"
#include "runtime/crilog.h"
#include "runtime/linux/cgroup.h"
#include "runtime/linux/monitor_files.h"
#include "runtime/linux/spawn.h"

#define MONITOR_ATTACH_SOCKET "attach.sock"
#define MONITOR_MAX_ATTACH 8
/*
 * Output held for one attached client whose socket is full, in bytes. The daemon reads its
 * monitor connection as fast as its loop runs, so the queue covers the daemon's scheduling
 * delays: in test_attach_large_output on a 2-core host at load 8, the monitor copied `yes` output
 * at about 100 MB/s while the daemon relayed about 25 MB/s, which queued 3.5 MiB of a 4 MiB burst.
 * A client that falls further behind is disconnected, so that the container's output and its CRI
 * log never wait for it. The pages are mapped only while a client lags (8 lagging clients, 32 MiB
 * at most).
 */
#define MONITOR_ATTACH_QUEUE (4 * 1024 * 1024)
/* How long the monitor keeps sending queued output to its clients after the container ended. */
#define MONITOR_ATTACH_DRAIN_MS 2000

/*
 * Output frames that an attached client's socket did not take yet, in order: a ring buffer of
 * MONITOR_ATTACH_QUEUE bytes, mapped only while the client lags behind the container.
 */
struct monitor_attach_queue {
    unsigned char *data; /* NULL while the queue is empty */
    size_t head;         /* offset of the oldest byte */
    size_t length;
};

/* One attached client: its socket, the frame bytes received but not yet handled, and the
 * output waiting to be sent to it. */
struct monitor_attach_client {
    int fd; /* -1 when the slot is free */
    unsigned char *buffer;
    size_t length;
    struct monitor_attach_queue queue;
};

struct monitor {
    const char *state_dir;
    int report_fd; /* the daemon's start report pipe until the report is sent, then -1 */
    char *exit_path;
    char *init_pid_path;
    struct monitor_spec spec;
    struct cgroup_env cgroups;
    struct crilog log;
    struct spawn_request request;
    gid_t *groups;
    int procs_fds[CGROUP_V1_COUNT + 1];
    size_t n_procs_fds;
    int signal_fd;
    int stdout_fd; /* read ends, or the terminal master with a tty; -1 once closed */
    int stderr_fd;
    int stdin_fd;                /* write end kept for attach, or -1 */
    struct strbuf stdin_pending; /* attach input that init has not read yet */
    bool stdin_close_pending;    /* close stdin once stdin_pending is written */
    int events_fd;               /* the job's cgroup.events (v2), polled for "populated 0" */
    int attach_fd;               /* listening socket for attach, or -1 */
    struct monitor_attach_client clients[MONITOR_MAX_ATTACH];
    uint64_t oom_kills_at_start;
    pid_t init_pid;
    int init_status;
    bool init_exited;
    int64_t started_at_ns;
    int64_t finished_at_ns;
};

/* Blocks the signals the loop reads through a signalfd (SIGCHLD, SIGUSR1, SIGTERM, SIGINT,
 * SIGHUP) and opens it. */
int monitor_block_signals(struct monitor *monitor, struct error *err);

/* Opens a pseudo-terminal: the slave becomes the init process's stdio, the master the
 * monitor's output (and input when stdin is open). */
int monitor_open_tty(struct monitor *monitor, struct error *err);

/* Creates the attach socket in the state directory. Failure only disables attach. */
void monitor_attach_listen(struct monitor *monitor);

/* Adds the attach sockets to fds (room for 1 + MONITOR_MAX_ATTACH entries). */
void monitor_attach_poll_fds(struct monitor *monitor, struct pollfd *fds, nfds_t *n);

/* Accepts new clients and handles the frames of those that are readable. */
void monitor_attach_handle(struct monitor *monitor, const struct pollfd *fds, nfds_t n);

/* Writes buffered attach input to init's stdin as far as it takes it without blocking. */
void monitor_attach_flush_stdin(struct monitor *monitor);

/* Sends output of stream to every client as frames. Output that a client's socket does not
 * take is queued for it; a client whose queue is full is disconnected. */
void monitor_attach_send(struct monitor *monitor, int stream, const char *data, size_t length);

/* Sends what is queued for the clients, for at most MONITOR_ATTACH_DRAIN_MS, then closes the
 * attach socket and every client, and removes the socket file. */
void monitor_attach_close(struct monitor *monitor);

/* Runs until init has exited, the job is empty and the output is drained, then writes the exit
 * file and returns. */
void monitor_run(struct monitor *monitor);

#endif
