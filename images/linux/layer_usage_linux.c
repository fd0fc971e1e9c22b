/* layer_disk_usage on Linux: a walk with fstatat that counts st_blocks and inodes. */
#include "images/layer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

/* Inodes with more than one link already counted, so that hard links count once. */
struct inode_set {
    struct inode_key {
        dev_t dev;
        ino_t ino;
    } * keys;
    size_t count;
    size_t capacity;
};

static bool inode_seen(struct inode_set *set, dev_t dev, ino_t ino)
{
    for (size_t i = 0; i < set->count; i++)
        if (set->keys[i].dev == dev && set->keys[i].ino == ino)
            return true;
    if (set->count == set->capacity) {
        set->capacity = set->capacity ? set->capacity * 2 : 64;
        set->keys = xrealloc(set->keys, set->capacity * sizeof(*set->keys));
    }
    set->keys[set->count++] = (struct inode_key){dev, ino};
    return false;
}

struct usage {
    uint64_t bytes;
    uint64_t inodes;
    dev_t device;
    struct inode_set linked;
};

static void count(struct usage *u, const struct stat *st)
{
    if (st->st_nlink > 1 && !S_ISDIR(st->st_mode) && inode_seen(&u->linked, st->st_dev, st->st_ino))
        return;
    u->bytes += (uint64_t)st->st_blocks * 512;
    u->inodes++;
}

static int walk(int dir_fd, struct usage *u)
{
    DIR *dir = fdopendir(dir_fd);
    struct dirent *entry;
    int rc = 0;

    if (dir == NULL) {
        close(dir_fd);
        return -errno;
    }
    while (rc == 0 && (entry = readdir(dir)) != NULL) {
        struct stat st;
        int child;

        if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
            continue;
        if (fstatat(dirfd(dir), entry->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
            continue; /* removed while walking */
        count(u, &st);
        if (!S_ISDIR(st.st_mode) || st.st_dev != u->device)
            continue;
        child = openat(dirfd(dir), entry->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (child >= 0)
            rc = walk(child, u);
    }
    closedir(dir);
    return rc;
}

int layer_disk_usage(const char *path, uint64_t *bytes, uint64_t *inodes, struct error *err)
{
    struct usage u = {0};
    struct stat st;
    int fd, rc = 0;

    *bytes = 0;
    *inodes = 0;
    if (lstat(path, &st) < 0)
        return errno == ENOENT ? 0 : error_set_errno(err, ERROR_INTERNAL, errno, "stat %s", path);
    u.device = st.st_dev;
    count(&u, &st);
    if (S_ISDIR(st.st_mode)) {
        fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        rc = fd < 0 ? -errno : walk(fd, &u);
    }
    free(u.linked.keys);
    if (rc < 0)
        return error_set_errno(err, ERROR_INTERNAL, rc, "disk usage of %s", path);
    *bytes = u.bytes;
    *inodes = u.inodes;
    return 0;
}
