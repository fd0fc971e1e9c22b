/*
 * content_fs.h on Windows: wide-character Win32 calls on "\\?\" paths. Directory entries need
 * no separate flush on NTFS (its metadata is journaled), and blobs stay writable so that
 * DeleteFileW removes them without an attribute change.
 */
#include "images/content_fs.h"

#include <errno.h>
#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <windows.h>

#include <bcrypt.h>

#include "common/text_windows.h"
#include "common/util.h"
#include "images/windows/fs_windows.h"

#define TEMP_ATTEMPTS 100

/* The length of the "\\?\C:\" or "\\?\UNC\server\share\" part that is never created. */
static size_t volume_prefix_length(const wchar_t *path)
{
    size_t skip = 4; /* "\\?\" */
    int separators = 0;

    if (wcsncmp(path + skip, L"UNC\\", 4) != 0)
        return skip + 3; /* "C:\" */
    skip += 4;
    while (path[skip] != L'\0' && separators < 2) {
        if (path[skip] == L'\\')
            separators++;
        skip++;
    }
    return skip;
}

int content_fs_mkdir_p(const char *path, unsigned int mode)
{
    _cleanup_free_ wchar_t *wide = fs_windows_path(path);
    size_t start;

    if (wide == NULL)
        return -EINVAL;
    start = volume_prefix_length(wide);
    for (size_t i = start; i <= wcslen(wide); i++) {
        wchar_t saved = wide[i];

        if (saved != L'\\' && saved != L'\0')
            continue;
        wide[i] = L'\0';
        if (i > start && !CreateDirectoryW(wide, NULL) &&
            GetLastError() != WIN32_ERROR_ALREADY_EXISTS)
            return -fs_windows_errno(GetLastError());
        wide[i] = saved;
    }
    return 0;
}

/* "<dir>/<prefix>" plus six random letters and digits. */
static char *temp_name(const char *dir, const char *prefix)
{
    static const char letters[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    unsigned char random[6] = {0};
    char suffix[7];

    BCryptGenRandom(NULL, random, sizeof(random), BCRYPT_USE_SYSTEM_PREFERRED_RNG);
    for (size_t i = 0; i < 6; i++)
        suffix[i] = letters[random[i] % (sizeof(letters) - 1)];
    suffix[6] = '\0';
    return xasprintf("%s/%s%s", dir, prefix, suffix);
}

int content_fs_create_temp(const char *dir, const char *prefix, char **path)
{
    for (int attempt = 0; attempt < TEMP_ATTEMPTS; attempt++) {
        char *name = temp_name(dir, prefix);
        _cleanup_free_ wchar_t *wide = fs_windows_path(name);
        int fd = wide ? _wopen(wide, _O_WRONLY | _O_CREAT | _O_EXCL | _O_BINARY | _O_NOINHERIT,
                               _S_IREAD | _S_IWRITE)
                      : -1;

        if (fd >= 0) {
            *path = name;
            return fd;
        }
        free(name);
        if (wide == NULL)
            return -EINVAL;
        if (errno != EEXIST)
            return -errno;
    }
    return -EEXIST;
}

int content_fs_create_temp_dir(const char *parent, const char *prefix, char **path)
{
    for (int attempt = 0; attempt < TEMP_ATTEMPTS; attempt++) {
        char *name = temp_name(parent, prefix);
        _cleanup_free_ wchar_t *wide = fs_windows_path(name);
        DWORD error;

        if (wide != NULL && CreateDirectoryW(wide, NULL)) {
            *path = name;
            return 0;
        }
        free(name);
        if (wide == NULL)
            return -EINVAL;
        error = GetLastError();
        if (error != WIN32_ERROR_ALREADY_EXISTS)
            return -fs_windows_errno(error);
    }
    return -EEXIST;
}

int content_fs_sync_fd(int fd)
{
    return _commit(fd) < 0 ? -errno : 0;
}

int content_fs_sync_dir(const char *path)
{
    (void)path;
    return 0;
}

int content_fs_make_read_only(int fd)
{
    (void)fd;
    return 0;
}

int content_fs_remove_tree(const char *path)
{
    _cleanup_free_ wchar_t *wide = fs_windows_path(path);

    return wide ? fs_windows_remove_tree(wide) : -EINVAL;
}

int content_fs_remove_at(int dir_fd, const char *name)
{
    (void)dir_fd;
    (void)name;
    return -ENOSYS;
}

static int move(const char *from, const char *to, DWORD flags)
{
    _cleanup_free_ wchar_t *wide_from = fs_windows_path(from);
    _cleanup_free_ wchar_t *wide_to = fs_windows_path(to);

    if (wide_from == NULL || wide_to == NULL)
        return -EINVAL;
    return MoveFileExW(wide_from, wide_to, flags) ? 0 : -fs_windows_errno(GetLastError());
}

int content_fs_rename_noreplace(const char *from, const char *to)
{
    return move(from, to, 0);
}

int content_fs_rename_replace(const char *from, const char *to)
{
    return move(from, to, MOVEFILE_REPLACE_EXISTING);
}

struct list_call {
    int (*fn)(const char *name, void *data);
    void *data;
};

static int list_one(const wchar_t *name, unsigned long attributes, void *data)
{
    struct list_call *call = data;
    _cleanup_free_ char *utf8 = text_windows_wide_to_utf8(name);

    return utf8 ? call->fn(utf8, call->data) : 0;
}

int content_fs_list_dir(const char *dir, int (*fn)(const char *name, void *data), void *data)
{
    _cleanup_free_ wchar_t *wide = fs_windows_path(dir);
    struct list_call call = {fn, data};
    DWORD attributes;
    int rc;

    if (wide == NULL)
        return -EINVAL;
    attributes = GetFileAttributesW(wide);
    if (attributes == INVALID_FILE_ATTRIBUTES)
        return -fs_windows_errno(GetLastError());
    if (!(attributes & FILE_ATTRIBUTE_DIRECTORY))
        return -ENOTDIR;
    rc = fs_windows_list(wide, list_one, &call);
    return rc < 0 ? rc : 0;
}
