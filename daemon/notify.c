#include "daemon/notify.h"

#include "common/log.h"

#ifndef _WIN32
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

void notify_service_manager(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un address = {.sun_family = AF_UNIX};
    socklen_t length;
    int fd;

    if (path == NULL || path[0] == '\0')
        return;
    if ((path[0] != '/' && path[0] != '@') || strlen(path) >= sizeof(address.sun_path)) {
        log_warn("NOTIFY_SOCKET=%s is not a socket path; cannot tell systemd %s", path, state);
        return;
    }
    memcpy(address.sun_path, path, strlen(path));
    /* "@name" is an abstract socket: a leading NUL byte and no terminating one. */
    if (path[0] == '@')
        address.sun_path[0] = '\0';
    length = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(path));

    fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0 ||
        sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&address, length) < 0)
        log_warn("telling systemd %s through %s failed: %s", state, path, strerror(errno));
    if (fd >= 0)
        close(fd);
}
#else
void notify_service_manager(const char *state)
{
    (void)state;
}
#endif
