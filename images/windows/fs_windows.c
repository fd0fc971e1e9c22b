/* The wide-path helpers of fs_windows.h. */
#include "images/windows/fs_windows.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "common/text_windows.h"
#include "common/util.h"

wchar_t *fs_windows_path(const char *path)
{
    _cleanup_free_ wchar_t *wide = text_windows_utf8_to_wide(path);
    _cleanup_free_ wchar_t *full = NULL;
    DWORD length;
    wchar_t *out;

    if (wide == NULL)
        return NULL;
    for (wchar_t *p = wide; *p; p++)
        if (*p == L'/')
            *p = L'\\';
    if (wcsncmp(wide, L"\\\\?\\", 4) == 0)
        return steal_pointer(&wide);
    length = GetFullPathNameW(wide, 0, NULL, NULL);
    if (length == 0)
        return NULL;
    full = xcalloc(length + 1, sizeof(wchar_t));
    if (GetFullPathNameW(wide, length + 1, full, NULL) == 0)
        return NULL;
    out = xcalloc(wcslen(full) + 9, sizeof(wchar_t));
    if (wcsncmp(full, L"\\\\", 2) == 0)
        swprintf(out, wcslen(full) + 9, L"\\\\?\\UNC\\%ls", full + 2);
    else
        swprintf(out, wcslen(full) + 9, L"\\\\?\\%ls", full);
    return out;
}

wchar_t *fs_windows_join(const wchar_t *dir, const wchar_t *name)
{
    size_t length = wcslen(dir) + wcslen(name) + 2;
    wchar_t *out = xcalloc(length, sizeof(wchar_t));
    bool slash = dir[0] != L'\0' && dir[wcslen(dir) - 1] != L'\\';

    swprintf(out, length, L"%ls%ls%ls", dir, slash ? L"\\" : L"", name);
    return out;
}

int fs_windows_errno(unsigned long windows_error)
{
    switch (windows_error) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_INVALID_DRIVE:
        return ENOENT;
    case ERROR_FILE_EXISTS:
    case WIN32_ERROR_ALREADY_EXISTS:
        return EEXIST;
    case ERROR_ACCESS_DENIED:
    case ERROR_SHARING_VIOLATION:
    case ERROR_LOCK_VIOLATION:
        return EACCES;
    case ERROR_DIR_NOT_EMPTY:
        return ENOTEMPTY;
    case ERROR_DISK_FULL:
    case ERROR_HANDLE_DISK_FULL:
        return ENOSPC;
    case ERROR_DIRECTORY:
        return ENOTDIR;
    case ERROR_INVALID_NAME:
    case ERROR_BAD_PATHNAME:
        return EILSEQ;
    case ERROR_NOT_SAME_DEVICE:
        return EXDEV;
    case ERROR_PRIVILEGE_NOT_HELD:
        return EPERM;
    case ERROR_FILENAME_EXCED_RANGE:
        return ENAMETOOLONG;
    case ERROR_NOT_SUPPORTED:
        return ENOTSUP;
    default:
        return EIO;
    }
}

static int remove_child(const wchar_t *name, unsigned long attributes, void *data)
{
    _cleanup_free_ wchar_t *path = fs_windows_join(data, name);

    return fs_windows_remove_tree(path);
}

int fs_windows_remove_tree(const wchar_t *path)
{
    DWORD attributes = GetFileAttributesW(path);
    int rc;

    if (attributes == INVALID_FILE_ATTRIBUTES) {
        DWORD error = GetLastError();

        return error == ERROR_FILE_NOT_FOUND || error == ERROR_PATH_NOT_FOUND
                   ? 0
                   : -fs_windows_errno(error);
    }
    if (attributes & FILE_ATTRIBUTE_READONLY)
        SetFileAttributesW(path, attributes & ~(DWORD)FILE_ATTRIBUTE_READONLY);
    if (!(attributes & FILE_ATTRIBUTE_DIRECTORY))
        return DeleteFileW(path) ? 0 : -fs_windows_errno(GetLastError());
    /* A directory reparse point (symlink, junction) goes without its target's content. */
    if (!(attributes & FILE_ATTRIBUTE_REPARSE_POINT)) {
        rc = fs_windows_list(path, remove_child, (void *)path);
        if (rc < 0)
            return rc;
    }
    return RemoveDirectoryW(path) ? 0 : -fs_windows_errno(GetLastError());
}

int fs_windows_list(const wchar_t *dir,
                    int (*fn)(const wchar_t *name, unsigned long attributes, void *data),
                    void *data)
{
    _cleanup_free_ wchar_t *pattern = fs_windows_join(dir, L"*");
    WIN32_FIND_DATAW found;
    HANDLE find = FindFirstFileW(pattern, &found);
    int rc = 0;

    if (find == INVALID_HANDLE_VALUE) {
        DWORD error = GetLastError();

        return error == ERROR_FILE_NOT_FOUND || error == ERROR_NO_MORE_FILES
                   ? 0
                   : -fs_windows_errno(error);
    }
    do {
        if (wcscmp(found.cFileName, L".") == 0 || wcscmp(found.cFileName, L"..") == 0)
            continue;
        rc = fn(found.cFileName, found.dwFileAttributes, data);
    } while (rc == 0 && FindNextFileW(find, &found));
    FindClose(find);
    return rc;
}
