/*
 * layer_disk_usage on Windows: a walk that adds up file sizes rounded up to the cluster size
 * and counts entries. Reparse points are counted but not entered. Each hard link of a file
 * counts in full, because FindFirstFileW gives no file identity.
 */
#include "images/layer.h"

#include <errno.h>
#include <stdlib.h>
#include <windows.h>

#include "common/util.h"
#include "images/windows/fs_windows.h"

struct usage {
    uint64_t bytes;
    uint64_t inodes;
    uint64_t cluster;
    const wchar_t *dir;
};

static int count_entry(const wchar_t *name, unsigned long attributes, void *data);

static void walk(struct usage *u, const wchar_t *dir)
{
    const wchar_t *saved = u->dir;

    u->dir = dir;
    fs_windows_list(dir, count_entry, u);
    u->dir = saved;
}

static int count_entry(const wchar_t *name, unsigned long attributes, void *data)
{
    struct usage *u = data;
    _cleanup_free_ wchar_t *path = fs_windows_join(u->dir, name);
    WIN32_FILE_ATTRIBUTE_DATA info;

    u->inodes++;
    if (attributes & FILE_ATTRIBUTE_REPARSE_POINT)
        return 0;
    if (attributes & FILE_ATTRIBUTE_DIRECTORY) {
        walk(u, path);
        return 0;
    }
    if (GetFileAttributesExW(path, GetFileExInfoStandard, &info)) {
        uint64_t size = (uint64_t)info.nFileSizeHigh << 32 | info.nFileSizeLow;

        u->bytes += (size + u->cluster - 1) / u->cluster * u->cluster;
    }
    return 0;
}

/* The cluster size of the volume of path, or 4096 when it cannot be read. */
static uint64_t cluster_size(const wchar_t *path)
{
    wchar_t volume[MAX_PATH + 1];
    DWORD sectors, bytes, free_clusters, clusters;

    if (GetVolumePathNameW(path, volume, MAX_PATH + 1) &&
        GetDiskFreeSpaceW(volume, &sectors, &bytes, &free_clusters, &clusters) &&
        sectors * bytes > 0)
        return (uint64_t)sectors * bytes;
    return 4096;
}

int layer_disk_usage(const char *path, uint64_t *bytes, uint64_t *inodes, struct error *err)
{
    _cleanup_free_ wchar_t *wide = fs_windows_path(path);
    struct usage u = {0};
    DWORD attributes;

    *bytes = 0;
    *inodes = 0;
    if (wide == NULL)
        return error_set(err, ERROR_INTERNAL, "disk usage of %s: invalid path", path);
    attributes = GetFileAttributesW(wide);
    if (attributes == INVALID_FILE_ATTRIBUTES) {
        int errnum = fs_windows_errno(GetLastError());

        return errnum == ENOENT ? 0 : error_set_errno(err, ERROR_INTERNAL, errnum, "stat %s", path);
    }
    u.cluster = cluster_size(wide);
    u.inodes = 1;
    if (attributes & FILE_ATTRIBUTE_DIRECTORY) {
        if (!(attributes & FILE_ATTRIBUTE_REPARSE_POINT))
            walk(&u, wide);
    } else {
        u.dir = L"";
        u.inodes = 0;
        count_entry(wide, attributes, &u);
    }
    *bytes = u.bytes;
    *inodes = u.inodes;
    return 0;
}
