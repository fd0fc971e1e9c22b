/* State files, pid files and the control pipe client shared by the daemon and the monitor. */
#include "runtime/windows/winmon_files.h"

#include <fcntl.h>
#include <io.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/error_windows.h"
#include "common/text_windows.h"
#include "common/util.h"
#include "runtime/monitor_format.h"
#include "runtime/windows/winmon_spec.h"

#define REPLY_MAX 1024
#define PIPE_BUSY_TRIES 5
#define PIPE_BUSY_WAIT_MS 1000
/* The monitor replies at once; this bounds how long a stuck monitor can block the caller. */
#define CONTROL_TIMEOUT_MS 5000

char *winmon_path(const char *dir, const char *name)
{
    size_t length = strlen(dir);
    bool separator = length > 0 && (dir[length - 1] == '\\' || dir[length - 1] == '/');

    return xasprintf("%s%s%s", dir, separator ? "" : "\\", name);
}

int winmon_make_dirs(const char *dir, struct error *err)
{
    _cleanup_free_ char *copy = xstrdup(dir);

    for (char *c = copy; *c != '\0'; c++) {
        if (*c == '/')
            *c = '\\';
    }
    /* Skip the drive ("C:\") or the server and share of a UNC path. */
    for (char *slash = strchr(copy, '\\');; slash = strchr(slash + 1, '\\')) {
        _cleanup_free_ wchar_t *wide = NULL;

        if (slash == copy || (slash != NULL && slash[-1] == ':') ||
            (slash != NULL && slash[1] == '\\'))
            continue;
        if (slash != NULL)
            *slash = '\0';
        wide = text_windows_utf8_to_wide(copy);
        if (wide == NULL)
            return error_set(err, ERROR_INVALID_ARGUMENT, "directory %s is not UTF-8", dir);
        if (!CreateDirectoryW(wide, NULL) && GetLastError() != WIN32_ERROR_ALREADY_EXISTS)
            return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "create directory %s",
                                     copy);
        if (slash == NULL)
            return 0;
        *slash = '\\';
    }
}

int winmon_write_atomic(const char *path, const char *data, size_t length, struct error *err)
{
    _cleanup_free_ char *temporary = xasprintf("%s.tmp", path);
    _cleanup_free_ wchar_t *wide_temporary = text_windows_utf8_to_wide(temporary);
    _cleanup_free_ wchar_t *wide_path = text_windows_utf8_to_wide(path);
    HANDLE file;
    DWORD written = 0;
    BOOL ok;

    if (wide_temporary == NULL || wide_path == NULL)
        return error_set(err, ERROR_INVALID_ARGUMENT, "path %s is not UTF-8", path);
    file = CreateFileW(wide_temporary, GENERIC_WRITE, 0, NULL, CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL,
                       NULL);
    if (file == INVALID_HANDLE_VALUE)
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "create %s", temporary);
    ok = WriteFile(file, data, (DWORD)length, &written, NULL) && written == length &&
         FlushFileBuffers(file);
    if (!ok) {
        DWORD error = GetLastError();

        CloseHandle(file);
        DeleteFileW(wide_temporary);
        return error_set_windows(err, ERROR_INTERNAL, error, "write %s", temporary);
    }
    CloseHandle(file);
    if (!MoveFileExW(wide_temporary, wide_path,
                     MOVEFILE_REPLACE_EXISTING | MOVEFILE_WRITE_THROUGH)) {
        DWORD error = GetLastError();

        DeleteFileW(wide_temporary);
        return error_set_windows(err, ERROR_INTERNAL, error, "replace %s", path);
    }
    return 0;
}

int winmon_read_file(const char *path, struct strbuf *buf, struct error *err)
{
    _cleanup_free_ wchar_t *wide = text_windows_utf8_to_wide(path);
    HANDLE file;
    char chunk[8192];
    DWORD n = 0;

    if (wide == NULL)
        return error_set(err, ERROR_INVALID_ARGUMENT, "path %s is not UTF-8", path);
    file = CreateFileW(wide, GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                       NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
    if (file == INVALID_HANDLE_VALUE) {
        DWORD error = GetLastError();

        return error_set_windows(err,
                                 error == ERROR_FILE_NOT_FOUND || error == ERROR_PATH_NOT_FOUND
                                     ? ERROR_NOT_FOUND
                                     : ERROR_INTERNAL,
                                 error, "open %s", path);
    }
    while (ReadFile(file, chunk, sizeof(chunk), &n, NULL) && n > 0)
        strbuf_append(buf, chunk, n);
    CloseHandle(file);
    return 0;
}

bool winmon_exists(const char *path)
{
    _cleanup_free_ wchar_t *wide = text_windows_utf8_to_wide(path);

    return wide != NULL && GetFileAttributesW(wide) != INVALID_FILE_ATTRIBUTES;
}

void winmon_delete(const char *path)
{
    _cleanup_free_ wchar_t *wide = text_windows_utf8_to_wide(path);

    if (wide != NULL)
        DeleteFileW(wide);
}

void winmon_delete_dir(const char *dir)
{
    _cleanup_free_ char *pattern = winmon_path(dir, "*");
    _cleanup_free_ wchar_t *wide_pattern = text_windows_utf8_to_wide(pattern);
    _cleanup_free_ wchar_t *wide_dir = text_windows_utf8_to_wide(dir);
    WIN32_FIND_DATAW entry;
    HANDLE find;

    if (wide_pattern == NULL || wide_dir == NULL)
        return;
    find = FindFirstFileW(wide_pattern, &entry);
    if (find != INVALID_HANDLE_VALUE) {
        do {
            _cleanup_free_ char *name = text_windows_wide_to_utf8(entry.cFileName);
            _cleanup_free_ char *path = name ? winmon_path(dir, name) : NULL;

            if (path != NULL && !(entry.dwFileAttributes & FILE_ATTRIBUTE_DIRECTORY))
                winmon_delete(path);
        } while (FindNextFileW(find, &entry));
        FindClose(find);
    }
    RemoveDirectoryW(wide_dir);
}

/* ---- Pid files ------------------------------------------------------------------------------- */

static uint64_t creation_time(HANDLE process)
{
    FILETIME created, exited, kernel, user;

    if (!GetProcessTimes(process, &created, &exited, &kernel, &user))
        return 0;
    return ((uint64_t)created.dwHighDateTime << 32) | created.dwLowDateTime;
}

int winmon_pid_file_write(const char *path, HANDLE process, struct error *err)
{
    char text[64];
    int length = snprintf(text, sizeof(text), "%lu %llu\n", (unsigned long)GetProcessId(process),
                          (unsigned long long)creation_time(process));

    return winmon_write_atomic(path, text, (size_t)length, err);
}

int winmon_pid_file_open(const char *path, DWORD access, DWORD *pid, HANDLE *process,
                         struct error *err)
{
    _cleanup_strbuf_ struct strbuf buf = STRBUF_INIT;
    unsigned long value = 0;
    unsigned long long recorded = 0;
    HANDLE handle;

    *process = NULL;
    *pid = 0;
    if (winmon_read_file(path, &buf, err) < 0)
        return -1;
    if (buf.data == NULL || sscanf(buf.data, "%lu %llu", &value, &recorded) != 2 || value == 0)
        return error_set(err, ERROR_INTERNAL, "invalid pid file %s", path);
    *pid = (DWORD)value;
    handle =
        OpenProcess(access | SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD)value);
    if (handle == NULL)
        return 0;
    if (creation_time(handle) != recorded || WaitForSingleObject(handle, 0) == WAIT_OBJECT_0) {
        CloseHandle(handle);
        return 0;
    }
    *process = handle;
    return 0;
}

/* ---- Exit file ------------------------------------------------------------------------------- */

int winmon_exit_file_write(const char *path, const struct job_exit_status *status,
                           struct error *err)
{
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;

    monitor_format_exit_encode(status, &out);
    return winmon_write_atomic(path, out.data, out.length, err);
}

int winmon_exit_file_read(const char *path, struct job_exit_status *status, struct error *err)
{
    _cleanup_strbuf_ struct strbuf buf = STRBUF_INIT;

    memset(status, 0, sizeof(*status));
    if (winmon_read_file(path, &buf, err) < 0)
        return -1;
    if (buf.data == NULL)
        return error_set(err, ERROR_INTERNAL, "empty exit file %s", path);
    monitor_format_exit_decode(buf.data, status);
    return 0;
}

/* ---- CRI log --------------------------------------------------------------------------------- */

int winmon_open_log(const char *path, struct error *err)
{
    _cleanup_free_ wchar_t *wide = text_windows_utf8_to_wide(path);
    HANDLE file;
    int fd;

    if (wide == NULL)
        return error_set(err, ERROR_INVALID_ARGUMENT, "log path %s is not UTF-8", path);
    file = CreateFileW(wide, FILE_APPEND_DATA | SYNCHRONIZE,
                       FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE, NULL, OPEN_ALWAYS,
                       FILE_ATTRIBUTE_NORMAL, NULL);
    if (file == INVALID_HANDLE_VALUE)
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "open container log %s",
                                 path);
    fd = _open_osfhandle((intptr_t)file, _O_WRONLY | _O_APPEND | _O_BINARY);
    if (fd < 0) {
        CloseHandle(file);
        return error_set(err, ERROR_INTERNAL, "open container log %s: no free descriptor", path);
    }
    return fd;
}

/* ---- Control pipe ---------------------------------------------------------------------------- */

static int connect_control(const char *container_id, HANDLE *pipe, struct error *err)
{
    _cleanup_free_ char *name = xasprintf("%s%s", WINMON_PIPE_PREFIX, container_id);
    _cleanup_free_ wchar_t *wide = text_windows_utf8_to_wide(name);

    if (wide == NULL)
        return error_set(err, ERROR_INVALID_ARGUMENT, "container id %s is not UTF-8", container_id);
    for (int attempt = 0;; attempt++) {
        DWORD error;

        *pipe = CreateFileW(wide, GENERIC_READ | GENERIC_WRITE, 0, NULL, OPEN_EXISTING,
                            FILE_FLAG_OVERLAPPED, NULL);
        if (*pipe != INVALID_HANDLE_VALUE)
            return 0;
        error = GetLastError();
        if (error == ERROR_PIPE_BUSY && attempt < PIPE_BUSY_TRIES) {
            WaitNamedPipeW(wide, PIPE_BUSY_WAIT_MS);
            continue;
        }
        return error_set_windows(
            err, error == ERROR_FILE_NOT_FOUND ? ERROR_FAILED_PRECONDITION : ERROR_INTERNAL, error,
            "connect to the monitor of container %s at %s", container_id, name);
    }
}

/* Reads or writes size bytes of buffer on the overlapped pipe, waiting up to
 * CONTROL_TIMEOUT_MS. *done is the count transferred. */
static int transfer(HANDLE pipe, bool write, void *buffer, DWORD size, DWORD *done,
                    struct error *err)
{
    OVERLAPPED overlapped = {.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL)};
    BOOL ok;
    DWORD error = 0;

    *done = 0;
    if (overlapped.hEvent == NULL)
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "create an event");
    ok = write ? WriteFile(pipe, buffer, size, NULL, &overlapped)
               : ReadFile(pipe, buffer, size, NULL, &overlapped);
    if (!ok && GetLastError() != ERROR_IO_PENDING) {
        error = GetLastError();
    } else if (WaitForSingleObject(overlapped.hEvent, CONTROL_TIMEOUT_MS) != WAIT_OBJECT_0) {
        CancelIoEx(pipe, &overlapped);
        GetOverlappedResult(pipe, &overlapped, done, TRUE);
        CloseHandle(overlapped.hEvent);
        return error_set(err, ERROR_DEADLINE_EXCEEDED, "the monitor did not reply within %d s",
                         CONTROL_TIMEOUT_MS / 1000);
    } else if (!GetOverlappedResult(pipe, &overlapped, done, FALSE)) {
        error = GetLastError();
    }
    CloseHandle(overlapped.hEvent);
    if (error != 0)
        return error_set_windows(err, ERROR_INTERNAL, error, "%s the monitor's control pipe",
                                 write ? "write to" : "read from");
    return 0;
}

/* Reads up to a newline, one byte at a time so that nothing after it is consumed. */
static int read_line(HANDLE pipe, char **line, struct error *err)
{
    char buffer[REPLY_MAX];
    size_t length = 0;

    while (length < sizeof(buffer) - 1) {
        DWORD n = 0;

        if (transfer(pipe, false, buffer + length, 1, &n, err) < 0)
            return -1;
        if (n == 0)
            return error_set(err, ERROR_INTERNAL, "the monitor closed the control pipe");
        if (buffer[length++] == '\n')
            break;
    }
    buffer[length] = '\0';
    *line = xstrdup(buffer);
    return 0;
}

int winmon_control(const char *container_id, const char *command, HANDLE *pipe, char **reply,
                   struct error *err)
{
    _cleanup_free_ char *line = xasprintf("%s\n", command);
    HANDLE handle;
    DWORD written = 0;

    *reply = NULL;
    if (connect_control(container_id, &handle, err) < 0)
        return -1;
    if (transfer(handle, true, line, (DWORD)strlen(line), &written, err) < 0 ||
        written != strlen(line)) {
        if (err != NULL && err->code == ERROR_OK)
            error_set(err, ERROR_INTERNAL, "short write to the monitor's control pipe");
        CloseHandle(handle);
        return error_prefix(err, "send \"%s\" to the monitor of container %s", command,
                            container_id);
    }
    if (read_line(handle, reply, err) < 0) {
        CloseHandle(handle);
        return error_prefix(err, "container %s", container_id);
    }
    if (pipe != NULL)
        *pipe = handle;
    else
        CloseHandle(handle);
    return 0;
}
