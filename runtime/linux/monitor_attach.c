/* The monitor's attach socket: container output to clients, stdin and resizes from them. */
#include "runtime/linux/monitor.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
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
        if (monitor->clients[i].fd >= 0)
            fds[(*n)++] = (struct pollfd){.fd = monitor->clients[i].fd, .events = POLLIN};
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

static void drop_client(struct monitor *monitor, struct monitor_attach_client *client)
{
    close(client->fd);
    client->fd = -1;
    free(client->buffer);
    client->buffer = NULL;
    client->length = 0;
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

            if (client->fd == fds[i].fd && read_client(monitor, client) < 0)
                drop_client(monitor, client);
        }
    }
}

/* Sends one frame without blocking. Returns -1 when the client cannot take all of it. */
static int send_frame(int fd, int type, const char *data, size_t length)
{
    unsigned char header[JOB_ATTACH_HEADER_SIZE] = {
        (unsigned char)type, (unsigned char)(length >> 24), (unsigned char)(length >> 16),
        (unsigned char)(length >> 8), (unsigned char)length};
    struct iovec parts[2] = {{header, sizeof(header)}, {(void *)data, length}};
    struct msghdr message = {.msg_iov = parts, .msg_iovlen = 2};
    ssize_t n = sendmsg(fd, &message, MSG_DONTWAIT | MSG_NOSIGNAL);

    return n == (ssize_t)(sizeof(header) + length) ? 0 : -1;
}

void monitor_attach_send(struct monitor *monitor, int stream, const char *data, size_t length)
{
    int type = stream == CRILOG_STDERR ? JOB_ATTACH_STDERR : JOB_ATTACH_STDOUT;

    for (int c = 0; c < MONITOR_MAX_ATTACH; c++) {
        struct monitor_attach_client *client = &monitor->clients[c];

        for (size_t offset = 0; client->fd >= 0 && offset < length;) {
            size_t part = length - offset;

            if (part > JOB_ATTACH_MAX_PAYLOAD)
                part = JOB_ATTACH_MAX_PAYLOAD;
            if (send_frame(client->fd, type, data + offset, part) < 0) {
                log_warn("container %s: dropped an attached client that does not keep up",
                         monitor->spec.id);
                drop_client(monitor, client);
                break;
            }
            offset += part;
        }
    }
}

void monitor_attach_close(struct monitor *monitor)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", monitor->state_dir, MONITOR_ATTACH_SOCKET);

    for (int c = 0; c < MONITOR_MAX_ATTACH; c++) {
        if (monitor->clients[c].fd >= 0) {
            close(monitor->clients[c].fd);
            free(monitor->clients[c].buffer);
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
