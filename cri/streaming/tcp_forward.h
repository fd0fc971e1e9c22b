#ifndef HOSTCRI_CRI_STREAMING_TCP_FORWARD_H
#define HOSTCRI_CRI_STREAMING_TCP_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "cri/streaming/conn.h"

/*
 * One port-forward TCP connection to a port of a host-network pod. The server connects only to
 * the loopback interface: 127.0.0.1 first, then ::1 when IPv4 refuses.
 */

struct tcp_forward;

struct tcp_forward_callbacks {
    /* The connection is up (status 0) or failed (a libuv error code); once. */
    void (*connected)(void *data, int status);
    void (*data)(void *data, const char *bytes, size_t length);
    /* The pod's side ended (status 0 for EOF, or a libuv error code); once. */
    void (*ended)(void *data, int status);
    /* Bytes queued toward the pod went over TCP_FORWARD_HIGH (full true), or back under
     * TCP_FORWARD_LOW (full false). The owner stops reading its client meanwhile. */
    void (*full)(void *data, bool full);
};

#define TCP_FORWARD_HIGH (1024 * 1024)
#define TCP_FORWARD_LOW (256 * 1024)

/*
 * Starts connecting to port on the loopback interface. Callbacks run from the loop until
 * tcp_forward_close. Never NULL.
 */
struct tcp_forward *tcp_forward_open(uv_loop_t *loop, uint16_t port,
                                     const struct tcp_forward_callbacks *callbacks, void *data);

/* Sends bytes to the pod; bytes written before the connection is up are queued. */
void tcp_forward_write(struct tcp_forward *forward, const void *data, size_t length);

/* Half-closes toward the pod once queued bytes are sent (the client ended its side). */
void tcp_forward_shutdown(struct tcp_forward *forward);

/* Bytes queued toward the pod. */
size_t tcp_forward_backlog(const struct tcp_forward *forward);

/* Stops or resumes reading from the pod. */
void tcp_forward_pause(struct tcp_forward *forward, bool pause);

/* True between a full(true) and the matching full(false) callback. */
bool tcp_forward_is_full(const struct tcp_forward *forward);

/* Closes the connection; no callback runs after this, and the memory is freed later. */
void tcp_forward_close(struct tcp_forward *forward);

/*
 * Adds one (full true) or removes one (full false) forward whose pod side is full from
 * *full_count, the count of one client connection. Reading from link stops while the count is
 * above zero, so that the server does not queue unbounded bytes from the client for a slow pod.
 * With link NULL (the link is gone) only the count changes. Loop thread only.
 */
void tcp_forward_count_full(int *full_count, bool full, const struct streaming_link *link);

#endif
