/* dir_lock.h with LockFileEx, for Windows. */
#ifdef _WIN32
#include "common/dir_lock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <windows.h>

#include "common/error_windows.h"
#include "common/text_windows.h"
#include "common/util.h"

struct dir_lock {
    HANDLE file;
};

/*
 * LockFileEx locks are mandatory: other processes cannot read locked bytes. So the lock covers
 * one byte at 4 GiB, far past the pid text at offset 0, which stays readable. Windows allows
 * locks past the end of a file.
 */
static void lock_region(OVERLAPPED *overlapped)
{
    memset(overlapped, 0, sizeof(*overlapped));
    overlapped->Offset = 0;
    overlapped->OffsetHigh = 1;
}

static int report_holder(HANDLE file, const char *dir, const char *path, struct error *err)
{
    char text[32];
    DWORD length = 0;
    OVERLAPPED at_start = {0};

    if (!ReadFile(file, text, sizeof(text) - 1, &length, &at_start))
        length = 0;
    text[length] = '\0';
    return dir_lock_report_holder(dir, path, text, err);
}

static BOOL write_pid(HANDLE file)
{
    char text[32];
    int length = snprintf(text, sizeof(text), "%lu\r\n", (unsigned long)GetCurrentProcessId());
    OVERLAPPED at_start = {0};
    DWORD written = 0;

    if (SetFilePointer(file, 0, NULL, FILE_BEGIN) == INVALID_SET_FILE_POINTER ||
        !SetEndOfFile(file))
        return FALSE;
    return WriteFile(file, text, (DWORD)length, &written, &at_start) && written == (DWORD)length;
}

int dir_lock_acquire(const char *dir, struct dir_lock **out, struct error *err)
{
    _cleanup_free_ char *path = xasprintf("%s\\%s", dir, DIR_LOCK_FILE_NAME);
    _cleanup_free_ wchar_t *wide_path = text_windows_utf8_to_wide(path);
    OVERLAPPED region;
    HANDLE file;
    struct dir_lock *lock;

    if (wide_path == NULL)
        return error_set(err, ERROR_INVALID_ARGUMENT, "lock file %s: invalid UTF-8", path);
    /* The handle is not inheritable (no SECURITY_ATTRIBUTES), so children do not keep it. */
    file = CreateFileW(wide_path, GENERIC_READ | GENERIC_WRITE,
                       FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_ALWAYS,
                       FILE_ATTRIBUTE_NORMAL, NULL);
    if (file == INVALID_HANDLE_VALUE)
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "open lock file %s", path);
    lock_region(&region);
    if (!LockFileEx(file, LOCKFILE_EXCLUSIVE_LOCK | LOCKFILE_FAIL_IMMEDIATELY, 0, 1, 0, &region)) {
        DWORD code = GetLastError();
        int rc = code == ERROR_LOCK_VIOLATION
                     ? report_holder(file, dir, path, err)
                     : error_set_windows(err, ERROR_INTERNAL, code, "lock %s", path);

        CloseHandle(file);
        return rc;
    }
    if (!write_pid(file)) {
        DWORD code = GetLastError();

        CloseHandle(file);
        return error_set_windows(err, ERROR_INTERNAL, code, "write the pid into %s", path);
    }
    lock = xcalloc(1, sizeof(*lock));
    lock->file = file;
    *out = lock;
    return 0;
}

void dir_lock_release(struct dir_lock *lock)
{
    OVERLAPPED region;

    if (lock == NULL)
        return;
    lock_region(&region);
    UnlockFileEx(lock->file, 0, 1, 0, &region);
    CloseHandle(lock->file);
    free(lock);
}
#endif
