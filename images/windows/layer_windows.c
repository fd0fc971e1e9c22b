/*
 * layer_os.h on Windows. Every path is checked one component at a time before use: a component
 * that is a reparse point (symlink, junction) fails with -ELOOP and one that is not a directory
 * with -ENOTDIR, so nothing outside the root is reached. Only this process changes the tree
 * while it unpacks, as on Linux. Names that Windows would read as more than one component, or
 * rewrite, fail with -EILSEQ: "\\" (a separator), ":" (a drive or an alternate data stream),
 * the reserved characters <>"|?* and control characters, and a trailing dot or space.
 *
 * Owners, modes and extended attributes have no Windows equivalent here and are not applied;
 * times are. Device nodes and FIFOs are skipped. Whiteouts stay in the layer directory in their
 * tar form: an empty file ".wh.<name>", and ".wh..wh..opq" in an opaque directory (Windows has
 * no overlayfs; a flattened copy applies them, see images/layer.h).
 */
#include "images/layer_os.h"

#include <errno.h>
#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <windows.h>

#include "common/log.h"
#include "common/text_windows.h"
#include "common/util.h"
#include "images/windows/fs_windows.h"

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"

struct layer_os_root {
    wchar_t *path; /* "\\?\C:\...", without a trailing separator */
};

typedef void (*created_fn)(const char *path, void *data);

int layer_os_root_open(const char *dir, struct layer_os_root **out)
{
    wchar_t *path = fs_windows_path(dir);
    DWORD attributes;

    if (path == NULL)
        return -EINVAL;
    attributes = GetFileAttributesW(path);
    if (attributes == INVALID_FILE_ATTRIBUTES || !(attributes & FILE_ATTRIBUTE_DIRECTORY)) {
        int rc =
            attributes == INVALID_FILE_ATTRIBUTES ? -fs_windows_errno(GetLastError()) : -ENOTDIR;

        free(path);
        return rc;
    }
    if (path[wcslen(path) - 1] == L'\\')
        path[wcslen(path) - 1] = L'\0';
    *out = xcalloc(1, sizeof(**out));
    (*out)->path = path;
    return 0;
}

void layer_os_root_close(struct layer_os_root *root)
{
    if (root == NULL)
        return;
    free(root->path);
    free(root);
}

/* 0 when name is one plain Windows file name, else -EILSEQ. */
static int check_name(const char *name)
{
    size_t length = strlen(name);

    if (length == 0 || name[length - 1] == '.' || name[length - 1] == ' ')
        return -EILSEQ;
    for (const char *p = name; *p; p++) {
        if ((unsigned char)*p < 0x20 || strchr("\\:<>\"|?*", *p) != NULL)
            return -EILSEQ;
    }
    return 0;
}

/* Appends the component name (checked) to the wide path *path. */
static int append_component(wchar_t **path, const char *name)
{
    _cleanup_free_ wchar_t *wide = NULL;
    wchar_t *joined;
    int rc = check_name(name);

    if (rc < 0)
        return rc;
    wide = text_windows_utf8_to_wide(name);
    if (wide == NULL)
        return -EILSEQ;
    joined = fs_windows_join(*path, wide);
    free(*path);
    *path = joined;
    return 0;
}

/* Checks that attributes describe a directory that is no reparse point. */
static int check_directory(DWORD attributes)
{
    if (attributes & FILE_ATTRIBUTE_REPARSE_POINT)
        return -ELOOP;
    if (!(attributes & FILE_ATTRIBUTE_DIRECTORY))
        return -ENOTDIR;
    return 0;
}

/*
 * Builds the wide path of the directory dir_path ("" is the root), checking each component;
 * with create, makes missing components (reported through created).
 */
static int dir_path_of(const struct layer_os_root *root, const char *dir_path, bool create,
                       created_fn created, void *data, wchar_t **out)
{
    _cleanup_free_ char *copy = xstrdup(dir_path);
    wchar_t *path = xmemdup(root->path, (wcslen(root->path) + 1) * sizeof(wchar_t));
    char *save = NULL;

    for (char *name = strtok_r(copy, "/", &save); name; name = strtok_r(NULL, "/", &save)) {
        DWORD attributes;
        int rc = append_component(&path, name);

        if (rc < 0) {
            free(path);
            return rc;
        }
        attributes = GetFileAttributesW(path);
        if (attributes == INVALID_FILE_ATTRIBUTES && create &&
            GetLastError() == ERROR_FILE_NOT_FOUND) {
            if (!CreateDirectoryW(path, NULL)) {
                rc = -fs_windows_errno(GetLastError());
                free(path);
                return rc;
            }
            if (created) {
                _cleanup_free_ char *prefix =
                    xstrndup(dir_path, (size_t)(name - copy) + strlen(name));

                created(prefix, data);
            }
            continue;
        }
        rc = attributes == INVALID_FILE_ATTRIBUTES ? -fs_windows_errno(GetLastError())
                                                   : check_directory(attributes);
        if (rc < 0) {
            free(path);
            return rc;
        }
    }
    *out = path;
    return 0;
}

/* The wide path of the entry at path, after checking and (with create) making its parents. */
static int entry_path_of(const struct layer_os_root *root, const char *path, bool create,
                         created_fn created, void *data, wchar_t **out)
{
    const char *slash = strrchr(path, '/');
    _cleanup_free_ char *parent = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
    int rc = dir_path_of(root, parent, create, created, data, out);

    if (rc < 0)
        return rc;
    rc = append_component(out, slash ? slash + 1 : path);
    if (rc < 0) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* Seconds and nanoseconds since 1970 as a FILETIME (100 ns units since 1601). */
static FILETIME to_filetime(int64_t sec, long nsec)
{
    ULARGE_INTEGER value;
    FILETIME time;

    value.QuadPart = (ULONGLONG)((sec + 11644473600LL) * 10000000LL + nsec / 100);
    time.dwLowDateTime = value.LowPart;
    time.dwHighDateTime = value.HighPart;
    return time;
}

static int set_handle_times(HANDLE handle, const struct layer_os_entry *e)
{
    FILETIME access = to_filetime(e->atime_sec, e->atime_nsec);
    FILETIME modify = to_filetime(e->mtime_sec, e->mtime_nsec);

    if (e->mtime_sec < 0)
        return 0;
    return SetFileTime(handle, NULL, &access, &modify) ? 0 : -fs_windows_errno(GetLastError());
}

/* Sets the times of the entry at path without following a reparse point there. */
static int set_path_times(const wchar_t *path, const struct layer_os_entry *e)
{
    HANDLE handle = CreateFileW(
        path, FILE_WRITE_ATTRIBUTES, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL,
        OPEN_EXISTING, FILE_FLAG_BACKUP_SEMANTICS | FILE_FLAG_OPEN_REPARSE_POINT, NULL);
    int rc;

    if (handle == INVALID_HANDLE_VALUE)
        return -fs_windows_errno(GetLastError());
    rc = set_handle_times(handle, e);
    CloseHandle(handle);
    return rc;
}

static int create_symlink(const wchar_t *path, const struct layer_os_entry *e)
{
    _cleanup_free_ wchar_t *target = text_windows_utf8_to_wide(e->link_target);
    size_t length;
    DWORD flags = SYMBOLIC_LINK_FLAG_ALLOW_UNPRIVILEGED_CREATE;

    if (target == NULL)
        return -EILSEQ;
    for (wchar_t *p = target; *p; p++)
        if (*p == L'/')
            *p = L'\\';
    /* The target's type is unknown before it exists; a trailing separator marks a directory. */
    length = wcslen(target);
    if (length > 0 && target[length - 1] == L'\\')
        flags |= SYMBOLIC_LINK_FLAG_DIRECTORY;
    if (!CreateSymbolicLinkW(path, target, flags))
        return -fs_windows_errno(GetLastError());
    /* Wine 8 returns success from CreateSymbolicLinkW without creating anything. */
    if (GetFileAttributesW(path) == INVALID_FILE_ATTRIBUTES) {
        log_warn("layer entry %s: CreateSymbolicLinkW reported success but created no symlink",
                 e->path);
        return -ENOTSUP;
    }
    return set_path_times(path, e);
}

static int create_hardlink(struct layer_os_root *root, const wchar_t *path,
                           const struct layer_os_entry *e)
{
    _cleanup_free_ wchar_t *target = NULL;
    DWORD attributes;
    int rc = entry_path_of(root, e->link_target, false, NULL, NULL, &target);

    if (rc < 0)
        return rc;
    attributes = GetFileAttributesW(target);
    if (attributes == INVALID_FILE_ATTRIBUTES)
        return -fs_windows_errno(GetLastError());
    if (attributes & FILE_ATTRIBUTE_DIRECTORY)
        return -EPERM;
    if (attributes & FILE_ATTRIBUTE_REPARSE_POINT)
        return -ELOOP;
    return CreateHardLinkW(path, target, NULL) ? 0 : -fs_windows_errno(GetLastError());
}

static int create_at(struct layer_os_root *root, const wchar_t *path,
                     const struct layer_os_entry *e, int *fd)
{
    DWORD attributes = GetFileAttributesW(path);
    bool exists = attributes != INVALID_FILE_ATTRIBUTES;
    int rc;

    if (exists && !(e->type == LAYER_OS_DIR && check_directory(attributes) == 0)) {
        rc = fs_windows_remove_tree(path);
        if (rc < 0)
            return rc;
        exists = false;
    }
    switch (e->type) {
    case LAYER_OS_FILE:
        *fd = _wopen(path, _O_WRONLY | _O_CREAT | _O_EXCL | _O_BINARY | _O_NOINHERIT,
                     _S_IREAD | _S_IWRITE);
        return *fd < 0 ? -errno : 0;
    case LAYER_OS_DIR:
        if (!exists && !CreateDirectoryW(path, NULL))
            return -fs_windows_errno(GetLastError());
        return 0;
    case LAYER_OS_SYMLINK:
        return create_symlink(path, e);
    case LAYER_OS_HARDLINK:
        return create_hardlink(root, path, e);
    default:
        log_debug("layer entry %s: device nodes and FIFOs do not exist on Windows; skipped",
                  e->path);
        return 0;
    }
}

int layer_os_create(struct layer_os_root *root, const struct layer_os_entry *e, int *fd,
                    created_fn created, void *data)
{
    _cleanup_free_ wchar_t *path = NULL;
    int rc;

    *fd = -1;
    if (e->path[0] == '\0')
        return e->type == LAYER_OS_DIR ? 0 : -EISDIR;
    rc = entry_path_of(root, e->path, true, created, data, &path);
    if (rc < 0)
        return rc;
    return create_at(root, path, e, fd);
}

int layer_os_file_write(int fd, const void *data, size_t length, int64_t offset)
{
    const char *p = data;

    if (_lseeki64(fd, offset, SEEK_SET) < 0)
        return -errno;
    while (length > 0) {
        unsigned int chunk = length > 0x40000000 ? 0x40000000 : (unsigned int)length;
        int n = _write(fd, p, chunk);

        if (n < 0)
            return -errno;
        p += n;
        length -= (size_t)n;
    }
    return 0;
}

int layer_os_file_finish(int fd, const struct layer_os_entry *e, int64_t size)
{
    int rc = _chsize_s(fd, size) != 0 ? -errno : 0;

    if (rc == 0)
        rc = set_handle_times((HANDLE)_get_osfhandle(fd), e);
    if (rc == 0 && _commit(fd) < 0)
        rc = -errno;
    _close(fd);
    return rc;
}

int layer_os_set_times(struct layer_os_root *root, const char *path, const struct layer_os_entry *e)
{
    _cleanup_free_ wchar_t *wide = NULL;
    int rc = path[0] == '\0' ? dir_path_of(root, "", false, NULL, NULL, &wide)
                             : entry_path_of(root, path, false, NULL, NULL, &wide);

    return rc < 0 ? rc : set_path_times(wide, e);
}

/* Creates the empty marker file name in the directory dir. */
static int create_marker(const wchar_t *dir, const char *name)
{
    _cleanup_free_ wchar_t *wide_name = text_windows_utf8_to_wide(name);
    _cleanup_free_ wchar_t *path = NULL;
    HANDLE handle;

    if (wide_name == NULL)
        return -EILSEQ;
    path = fs_windows_join(dir, wide_name);
    handle = CreateFileW(path, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS,
                         FILE_ATTRIBUTE_NORMAL | FILE_FLAG_OPEN_REPARSE_POINT, NULL);
    if (handle == INVALID_HANDLE_VALUE)
        return -fs_windows_errno(GetLastError());
    CloseHandle(handle);
    return 0;
}

int layer_os_whiteout(struct layer_os_root *root, const char *path, int64_t uid, int64_t gid,
                      bool *kept, created_fn created, void *data)
{
    const char *slash = strrchr(path, '/');
    const char *name = slash ? slash + 1 : path;
    _cleanup_free_ char *parent = slash ? xstrndup(path, (size_t)(slash - path)) : xstrdup("");
    _cleanup_free_ char *marker = xasprintf(WHITEOUT_PREFIX "%s", name);
    _cleanup_free_ wchar_t *dir = NULL;
    _cleanup_free_ wchar_t *target = NULL;
    int rc = dir_path_of(root, parent, true, created, data, &dir);

    *kept = false;
    if (rc == 0)
        rc = entry_path_of(root, path, false, NULL, NULL, &target);
    if (rc < 0)
        return rc;
    if (GetFileAttributesW(target) != INVALID_FILE_ATTRIBUTES) {
        *kept = true;
        return 0;
    }
    rc = check_name(marker);
    return rc < 0 ? rc : create_marker(dir, marker);
}

int layer_os_set_opaque(struct layer_os_root *root, const char *dir_path, created_fn created,
                        void *data)
{
    _cleanup_free_ wchar_t *dir = NULL;
    int rc = dir_path_of(root, dir_path, true, created, data, &dir);

    return rc < 0 ? rc : create_marker(dir, WHITEOUT_OPAQUE);
}

int layer_os_remove(struct layer_os_root *root, const char *path)
{
    _cleanup_free_ wchar_t *wide = NULL;
    int rc = entry_path_of(root, path, false, NULL, NULL, &wide);

    if (rc == -ENOENT || rc == -ENOTDIR)
        return 0;
    return rc < 0 ? rc : fs_windows_remove_tree(wide);
}

struct list_call {
    void (*fn)(const char *name, bool is_dir, void *data);
    void *data;
};

static int list_one(const wchar_t *name, unsigned long attributes, void *data)
{
    struct list_call *call = data;
    _cleanup_free_ char *utf8 = text_windows_wide_to_utf8(name);
    bool is_dir =
        (attributes & FILE_ATTRIBUTE_DIRECTORY) && !(attributes & FILE_ATTRIBUTE_REPARSE_POINT);

    if (utf8 != NULL)
        call->fn(utf8, is_dir, call->data);
    return 0;
}

int layer_os_list(struct layer_os_root *root, const char *dir_path,
                  void (*fn)(const char *name, bool is_dir, void *data), void *data)
{
    _cleanup_free_ wchar_t *dir = NULL;
    struct list_call call = {fn, data};
    int rc = dir_path_of(root, dir_path, false, NULL, NULL, &dir);

    if (rc == -ENOENT || rc == -ENOTDIR)
        return 0;
    return rc < 0 ? rc : fs_windows_list(dir, list_one, &call);
}

int layer_os_sync(const char *path)
{
    /* layer_os_file_finish flushed each file; NTFS journals the directory entries. */
    (void)path;
    return 0;
}
