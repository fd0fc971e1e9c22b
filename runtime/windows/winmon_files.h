#ifndef HOSTCRI_RUNTIME_WINDOWS_WINMON_FILES_H
#define HOSTCRI_RUNTIME_WINDOWS_WINMON_FILES_H

/*
 * File, process and pipe helpers that both the daemon's job backend and hostcri-monitor.exe
 * use (Windows build only). Paths are UTF-8.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <windows.h>

#include "common/error.h"
#include "common/strbuf.h"
#include "runtime/job.h"

/* The option of "hostcri-monitor.exe --ctrl-break <pid>", which sends CTRL_BREAK_EVENT to the
 * process group of pid from pid's console. */
#define WINMON_CTRL_BREAK_OPTION "--ctrl-break"

/* "<dir>\<name>". Returns a new string. */
char *winmon_path(const char *dir, const char *name);

/* Creates dir and its missing parents. */
int winmon_make_dirs(const char *dir, struct error *err);

/* Writes data to path atomically: a temporary file in the same directory, flushed, then
 * MoveFileExW over path. */
int winmon_write_atomic(const char *path, const char *data, size_t length, struct error *err);

/* Appends the whole file to buf. ERROR_NOT_FOUND when it does not exist. */
int winmon_read_file(const char *path, struct strbuf *buf, struct error *err);

/* True when path exists. */
bool winmon_exists(const char *path);

/* Deletes a file; a missing file is no error. */
void winmon_delete(const char *path);

/* Deletes dir and the files in it (one level, as the state directories are). */
void winmon_delete_dir(const char *dir);

/* Writes "<pid> <creation time>" of process (a handle with query rights) to path. */
int winmon_pid_file_write(const char *path, HANDLE process, struct error *err);

/*
 * Reads a pid file and opens that process with access, when it still runs and has the
 * recorded creation time (a reused pid has another). *process is NULL when it is gone.
 * ERROR_NOT_FOUND when the file does not exist.
 */
int winmon_pid_file_open(const char *path, DWORD access, DWORD *pid, HANDLE *process,
                         struct error *err);

/* Writes the exit file of status to path (atomically). */
int winmon_exit_file_write(const char *path, const struct job_exit_status *status,
                           struct error *err);

/* Reads an exit file into *status (message owned by the caller). ERROR_NOT_FOUND when
 * missing. */
int winmon_exit_file_read(const char *path, struct job_exit_status *status, struct error *err);

/*
 * Opens the CRI log for appending, shared for reading, writing and deletion, so that the
 * kubelet can rename it while the monitor writes. Returns a C runtime descriptor, or -1 with
 * err set.
 */
int winmon_open_log(const char *path, struct error *err);

/*
 * Sends one control command line to the monitor of container_id and reads its one-line reply
 * into *reply (owned by the caller), waiting up to 5 s for each. On success the pipe (opened
 * for overlapped I/O) is returned in *pipe when pipe is not NULL (for attach), else closed.
 * ERROR_FAILED_PRECONDITION when no monitor listens, ERROR_DEADLINE_EXCEEDED when it does not
 * reply in time.
 */
int winmon_control(const char *container_id, const char *command, HANDLE *pipe, char **reply,
                   struct error *err);

#endif
