/* dir_lock.h with flock(2), for Linux and other POSIX systems. */
#ifndef _WIN32
#include "common/dir_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "common/util.h"

struct dir_lock {
    int fd;
};

static int report_holder(int fd, const char *dir, const char *path, struct error *err)
{
    char text[32];
    ssize_t length = pread(fd, text, sizeof(text) - 1, 0);

    text[length > 0 ? length : 0] = '\0';
    return dir_lock_report_holder(dir, path, text, err);
}

static int write_pid(int fd)
{
    char text[32];
    int length = snprintf(text, sizeof(text), "%ld\n", (long)getpid());

    if (ftruncate(fd, 0) < 0)
        return -1;
    if (pwrite(fd, text, (size_t)length, 0) != length)
        return -1;
    return 0;
}

int dir_lock_acquire(const char *dir, struct dir_lock **out, struct error *err)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, DIR_LOCK_FILE_NAME);
    _cleanup_close_ int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644);
    struct dir_lock *lock;

    if (fd < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "open lock file %s", path);
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            return report_holder(fd, dir, path, err);
        return error_set_errno(err, ERROR_INTERNAL, errno, "lock %s", path);
    }
    if (write_pid(fd) < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "write the pid into %s", path);
    lock = xcalloc(1, sizeof(*lock));
    lock->fd = steal_fd(&fd);
    *out = lock;
    return 0;
}

void dir_lock_release(struct dir_lock *lock)
{
    if (lock == NULL)
        return;
    close(lock->fd); /* closing the last descriptor drops the flock */
    free(lock);
}
#endif
