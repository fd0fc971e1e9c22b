/* The monitor's attach socket: container output to clients, stdin and resizes from them. */
#include "runtime/linux/monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <termios.h>
#include <unistd.h>

#include "common/log.h"
#include "common/util.h"

#define CLIENT_BUFFER (JOB_ATTACH_HEADER_SIZE + JOB_ATTACH_MAX_PAYLOAD)
/* Attach input held for a container that reads its stdin slowly; more is dropped. */
#define MONITOR_STDIN_BUFFER (1024 * 1024)

/*
 * A socket address for path that stays short whatever the length of the state directory:
 * the directory is reached through /proc/self/fd/<dir_fd>. sun_path is limited to 108 bytes.
 */
static void short_address(struct sockaddr_un *address, int dir_fd, const char *name)
{
    memset(address, 0, sizeof(*address));
    address->sun_family = AF_UNIX;
    snprintf(address->sun_path, sizeof(address->sun_path), "/proc/self/fd/%d/%s", dir_fd, name);
}

void monitor_attach_listen(struct monitor *monitor)
{
    _cleanup_close_ int dir_fd = open(monitor->state_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    _cleanup_free_ char *path = xasprintf("%s/%s", monitor->state_dir, MONITOR_ATTACH_SOCKET);
    struct sockaddr_un address;
    int fd;

    for (int i = 0; i < MONITOR_MAX_ATTACH; i++)
        monitor->clients[i].fd = -1;
    monitor->attach_fd = -1;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || dir_fd < 0) {
        log_warn("container %s: attach disabled: %s", monitor->spec.id, strerror(errno));
        if (fd >= 0)
            close(fd);
        return;
    }
    unlink(path);
    short_address(&address, dir_fd, MONITOR_ATTACH_SOCKET);
    if (bind(fd, (struct sockaddr *)&address, sizeof(address)) < 0 || chmod(path, 0600) < 0 ||
        listen(fd, MONITOR_MAX_ATTACH) < 0) {
        log_warn("container %s: attach disabled: %s: %s", monitor->spec.id, path, strerror(errno));
        close(fd);
        return;
    }
    monitor->attach_fd = fd;
}

void monitor_attach_poll_fds(struct monitor *monitor, struct pollfd *fds, nfds_t *n)
{
    if (monitor->stdin_fd >= 0 && monitor->stdin_pending.length > 0)
        fds[(*n)++] = (struct pollfd){.fd = monitor->stdin_fd, .events = POLLOUT};
    if (monitor->attach_fd < 0)
        return;
    fds[(*n)++] = (struct pollfd){.fd = monitor->attach_fd, .events = POLLIN};
    for (int i = 0; i < MONITOR_MAX_ATTACH; i++) {
        const struct monitor_attach_client *client = &monitor->clients[i];

        if (client->fd >= 0)
            fds[(*n)++] = (struct pollfd){
                .fd = client->fd, .events = POLLIN | (client->queue.length > 0 ? POLLOUT : 0)};
    }
}

static void write_stdin_eof(int fd)
{
    const char eof = 0x04;

    if (write(fd, &eof, 1) < 0)
        log_debug("write EOF to the terminal: %s", strerror(errno));
}

static void close_stdin(struct monitor *monitor)
{
    /* Input still waiting goes first; the flush closes stdin after it. */
    if (monitor->stdin_pending.length > 0 && monitor->stdin_fd >= 0) {
        monitor->stdin_close_pending = true;
        return;
    }
    /* A terminal has no end of file of its own: send the EOF character (Ctrl-D) instead. */
    if (monitor->stdin_fd >= 0 && monitor->spec.tty)
        write_stdin_eof(monitor->stdin_fd);
    if (monitor->stdin_fd >= 0)
        close(monitor->stdin_fd);
    monitor->stdin_fd = -1;
    monitor->stdin_close_pending = false;
    strbuf_reset(&monitor->stdin_pending);
}

/* ---- Output queue of a client ----------------------------------------------------------- */

/*
 * Maps the ring buffer directly instead of with malloc, so that munmap returns every page to the
 * kernel once the client catches up. glibc would keep a freed block of this size on its heap,
 * because the first free of a mapped block raises its mmap threshold to that block's size.
 * Pages are faulted in only as output is queued.
 */
static int queue_map(struct monitor_attach_queue *queue)
{
    void *data = mmap(NULL, MONITOR_ATTACH_QUEUE, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

    if (data == MAP_FAILED)
        return -errno;
    queue->data = data;
    queue->head = 0;
    queue->length = 0;
    return 0;
}

static void queue_unmap(struct monitor_attach_queue *queue)
{
    if (queue->data != NULL)
        munmap(queue->data, MONITOR_ATTACH_QUEUE);
    *queue = (struct monitor_attach_queue){NULL, 0, 0};
}

/* Appends bytes at the tail of the ring. The caller has checked that they fit. */
static void queue_push(struct monitor_attach_queue *queue, const void *bytes, size_t length)
{
    size_t tail = (queue->head + queue->length) % MONITOR_ATTACH_QUEUE;
    size_t first = length < MONITOR_ATTACH_QUEUE - tail ? length : MONITOR_ATTACH_QUEUE - tail;

    memcpy(queue->data + tail, bytes, first);
    memcpy(queue->data, (const unsigned char *)bytes + first, length - first);
    queue->length += length;
}

/* Sends without blocking; returns the number of bytes sent (0 when the socket is full), or a
 * negative errno when the client is gone. */
static ssize_t send_parts(int fd, struct iovec *parts, size_t n_parts)
{
    struct msghdr message = {.msg_iov = parts, .msg_iovlen = n_parts};
    ssize_t n;

    do {
        n = sendmsg(fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    return n < 0 ? -errno : n;
}

/*
 * Sends as much of the client's queue as its socket takes now, and unmaps the queue once it is
 * empty. Returns 0, or a negative errno when the client is gone.
 */
static int queue_flush(struct monitor_attach_client *client)
{
    struct monitor_attach_queue *queue = &client->queue;

    while (queue->length > 0) {
        size_t first = queue->length < MONITOR_ATTACH_QUEUE - queue->head
                           ? queue->length
                           : MONITOR_ATTACH_QUEUE - queue->head;
        struct iovec parts[2] = {{queue->data + queue->head, first},
                                 {queue->data, queue->length - first}};
        ssize_t n = send_parts(client->fd, parts, parts[1].iov_len > 0 ? 2 : 1);

        if (n < 0)
            return (int)n;
        if (n == 0)
            return 0;
        queue->head = (queue->head + (size_t)n) % MONITOR_ATTACH_QUEUE;
        queue->length -= (size_t)n;
    }
    queue_unmap(queue);
    return 0;
}

/* ---- Clients ------------------------------------------------------------------------------ */

static void drop_client(struct monitor *monitor, struct monitor_attach_client *client)
{
    close(client->fd);
    client->fd = -1;
    free(client->buffer);
    client->buffer = NULL;
    client->length = 0;
    queue_unmap(&client->queue);
    /* With stdin_once, stdin ends with the first attach session. */
    if (monitor->spec.stdin_once)
        close_stdin(monitor);
}

static void accept_client(struct monitor *monitor)
{
    int fd = accept4(monitor->attach_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (fd < 0)
        return;
    for (int i = 0; i < MONITOR_MAX_ATTACH; i++) {
        if (monitor->clients[i].fd < 0) {
            monitor->clients[i].fd = fd;
            monitor->clients[i].buffer = xmalloc(CLIENT_BUFFER);
            monitor->clients[i].length = 0;
            return;
        }
    }
    log_warn("container %s: rejected an attach: %d clients are attached already", monitor->spec.id,
             MONITOR_MAX_ATTACH);
    close(fd);
}

/* Writes what stdin takes now; returns the number of bytes written, or -1 on an error. */
static ssize_t write_some(int fd, const void *data, size_t length)
{
    ssize_t n;

    do {
        n = write(fd, data, length);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && errno == EAGAIN)
        return 0;
    return n;
}

static void write_stdin(struct monitor *monitor, const unsigned char *data, size_t length)
{
    struct strbuf *pending = &monitor->stdin_pending;
    ssize_t n = 0;

    if (monitor->stdin_fd < 0 || monitor->stdin_close_pending)
        return;
    if (pending->length == 0)
        n = write_some(monitor->stdin_fd, data, length);
    if (n < 0) {
        log_warn("container %s: write to stdin: %s", monitor->spec.id, strerror(errno));
        close_stdin(monitor);
        return;
    }
    data += n;
    length -= (size_t)n;
    if (pending->length + length > MONITOR_STDIN_BUFFER) {
        log_warn("container %s: stdin: %zu bytes dropped because the container does not read "
                 "its input",
                 monitor->spec.id, length);
        return;
    }
    strbuf_append(pending, data, length);
}

void monitor_attach_flush_stdin(struct monitor *monitor)
{
    struct strbuf *pending = &monitor->stdin_pending;
    ssize_t n;

    if (monitor->stdin_fd < 0 || pending->length == 0)
        return;
    n = write_some(monitor->stdin_fd, pending->data, pending->length);
    if (n < 0) {
        log_warn("container %s: write to stdin: %s", monitor->spec.id, strerror(errno));
        strbuf_reset(pending);
        monitor->stdin_close_pending = false;
        close_stdin(monitor);
        return;
    }
    strbuf_consume(pending, (size_t)n);
    if (pending->length == 0 && monitor->stdin_close_pending)
        close_stdin(monitor);
}

static void handle_frame(struct monitor *monitor, int type, const unsigned char *payload,
                         size_t length)
{
    if (type == JOB_ATTACH_STDIN) {
        write_stdin(monitor, payload, length);
    } else if (type == JOB_ATTACH_CLOSE_STDIN) {
        close_stdin(monitor);
    } else if (type == JOB_ATTACH_RESIZE && length == 4 && monitor->spec.tty &&
               monitor->stdout_fd >= 0) {
        struct winsize size = {.ws_row = (unsigned short)(payload[0] << 8 | payload[1]),
                               .ws_col = (unsigned short)(payload[2] << 8 | payload[3])};

        ioctl(monitor->stdout_fd, TIOCSWINSZ, &size);
    }
}

/* Reads what the client sent and handles every complete frame. Returns -1 to drop it. */
static int read_client(struct monitor *monitor, struct monitor_attach_client *client)
{
    ssize_t n = read(client->fd, client->buffer + client->length, CLIENT_BUFFER - client->length);
    size_t offset = 0;

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 0;
    if (n <= 0)
        return -1;
    client->length += (size_t)n;
    while (client->length - offset >= JOB_ATTACH_HEADER_SIZE) {
        const unsigned char *header = client->buffer + offset;
        size_t length =
            (size_t)header[1] << 24 | (size_t)header[2] << 16 | (size_t)header[3] << 8 | header[4];

        if (length > JOB_ATTACH_MAX_PAYLOAD)
            return -1;
        if (client->length - offset < JOB_ATTACH_HEADER_SIZE + length)
            break;
        handle_frame(monitor, header[0], header + JOB_ATTACH_HEADER_SIZE, length);
        offset += JOB_ATTACH_HEADER_SIZE + length;
    }
    memmove(client->buffer, client->buffer + offset, client->length - offset);
    client->length -= offset;
    return 0;
}

void monitor_attach_handle(struct monitor *monitor, const struct pollfd *fds, nfds_t n)
{
    monitor_attach_flush_stdin(monitor);
    for (nfds_t i = 0; i < n; i++) {
        if (fds[i].revents == 0 || fds[i].fd == monitor->stdin_fd)
            continue;
        if (fds[i].fd == monitor->attach_fd) {
            accept_client(monitor);
            continue;
        }
        for (int c = 0; c < MONITOR_MAX_ATTACH; c++) {
            struct monitor_attach_client *client = &monitor->clients[c];

            if (client->fd != fds[i].fd)
                continue;
            if ((fds[i].revents & POLLOUT) && queue_flush(client) < 0) {
                drop_client(monitor, client);
                continue;
            }
            if ((fds[i].revents & ~POLLOUT) && read_client(monitor, client) < 0)
                drop_client(monitor, client);
        }
    }
}

/*
 * Sends one frame to client without blocking, after what is queued for it, and queues what its
 * socket does not take now. Returns 0, -ENOBUFS when the queue has no room for the rest of the
 * frame, or another negative errno when the client is gone.
 */
static int send_frame(struct monitor_attach_client *client, int type, const char *data,
                      size_t length)
{
    unsigned char header[JOB_ATTACH_HEADER_SIZE] = {
        (unsigned char)type, (unsigned char)(length >> 24), (unsigned char)(length >> 16),
        (unsigned char)(length >> 8), (unsigned char)length};
    struct iovec parts[2] = {{header, sizeof(header)}, {(void *)data, length}};
    size_t total = sizeof(header) + length;
    ssize_t sent = 0;
    int rc;

    if (client->queue.length > 0 && (rc = queue_flush(client)) < 0)
        return rc;
    if (client->queue.length == 0 && (sent = send_parts(client->fd, parts, 2)) < 0)
        return (int)sent;
    if ((size_t)sent == total)
        return 0;
    if (total - (size_t)sent > MONITOR_ATTACH_QUEUE - client->queue.length)
        return -ENOBUFS;
    if (client->queue.data == NULL && (rc = queue_map(&client->queue)) < 0)
        return rc;
    if ((size_t)sent < sizeof(header)) {
        queue_push(&client->queue, header + sent, sizeof(header) - (size_t)sent);
        queue_push(&client->queue, data, length);
    } else {
        queue_push(&client->queue, data + ((size_t)sent - sizeof(header)), total - (size_t)sent);
    }
    return 0;
}

void monitor_attach_send(struct monitor *monitor, int stream, const char *data, size_t length)
{
    int type = stream == CRILOG_STDERR ? JOB_ATTACH_STDERR : JOB_ATTACH_STDOUT;

    for (int c = 0; c < MONITOR_MAX_ATTACH; c++) {
        struct monitor_attach_client *client = &monitor->clients[c];

        for (size_t offset = 0; client->fd >= 0 && offset < length;) {
            size_t part = length - offset;
            int rc;

            if (part > JOB_ATTACH_MAX_PAYLOAD)
                part = JOB_ATTACH_MAX_PAYLOAD;
            rc = send_frame(client, type, data + offset, part);
            if (rc == -ENOBUFS) {
                log_warn("container %s: disconnected an attached client that fell more than "
                         "%d KiB behind the output",
                         monitor->spec.id, MONITOR_ATTACH_QUEUE / 1024);
            } else if (rc < 0) {
                log_debug("container %s: dropped an attached client: %s", monitor->spec.id,
                          strerror(-rc));
            }
            if (rc < 0) {
                drop_client(monitor, client);
                break;
            }
            offset += part;
        }
    }
}

/* Fills fds with the clients that have output queued; returns their number. */
static nfds_t queued_clients(struct monitor *monitor, struct pollfd *fds)
{
    nfds_t n = 0;

    for (int c = 0; c < MONITOR_MAX_ATTACH; c++) {
        const struct monitor_attach_client *client = &monitor->clients[c];

        if (client->fd >= 0 && client->queue.length > 0)
            fds[n++] = (struct pollfd){.fd = client->fd, .events = POLLOUT};
    }
    return n;
}

/*
 * Sends the output still queued for the clients once the container has ended, so that they
 * see all of it, for at most MONITOR_ATTACH_DRAIN_MS. Clients that fail lose their queue.
 */
static void drain_queues(struct monitor *monitor)
{
    int64_t deadline_ns = time_now_ns() + (int64_t)MONITOR_ATTACH_DRAIN_MS * 1000000;
    struct pollfd fds[MONITOR_MAX_ATTACH];
    nfds_t n;

    while ((n = queued_clients(monitor, fds)) > 0) {
        int64_t left_ms = (deadline_ns - time_now_ns()) / 1000000;

        if (left_ms <= 0)
            break;
        if (poll(fds, n, (int)left_ms) <= 0)
            continue;
        for (int c = 0; c < MONITOR_MAX_ATTACH; c++) {
            struct monitor_attach_client *client = &monitor->clients[c];

            if (client->fd >= 0 && client->queue.length > 0 && queue_flush(client) < 0)
                queue_unmap(&client->queue);
        }
    }
    for (int c = 0; c < MONITOR_MAX_ATTACH; c++) {
        if (monitor->clients[c].fd >= 0 && monitor->clients[c].queue.length > 0)
            log_warn("container %s: an attached client did not read the last %zu bytes of "
                     "output within %d ms",
                     monitor->spec.id, monitor->clients[c].queue.length, MONITOR_ATTACH_DRAIN_MS);
    }
}

void monitor_attach_close(struct monitor *monitor)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", monitor->state_dir, MONITOR_ATTACH_SOCKET);

    drain_queues(monitor);
    for (int c = 0; c < MONITOR_MAX_ATTACH; c++) {
        if (monitor->clients[c].fd >= 0) {
            close(monitor->clients[c].fd);
            free(monitor->clients[c].buffer);
            queue_unmap(&monitor->clients[c].queue);
            monitor->clients[c].fd = -1;
        }
    }
    if (monitor->attach_fd >= 0) {
        close(monitor->attach_fd);
        unlink(path);
    }
    monitor->attach_fd = -1;
    strbuf_free(&monitor->stdin_pending);
}
