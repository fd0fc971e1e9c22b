#ifndef HOSTCRI_RUNTIME_WINDOWS_PROCESS_WINDOWS_H
#define HOSTCRI_RUNTIME_WINDOWS_PROCESS_WINDOWS_H

/* Starting a process inside a job object (Windows build only). */

#include <stdbool.h>
#include <stdint.h>

#include <windows.h>

#include "common/error.h"

/* The pseudo console (ConPTY) functions of kernel32. */
struct process_windows_conpty {
    HRESULT(WINAPI *create)(COORD size, HANDLE input, HANDLE output, DWORD flags, void **console);
    HRESULT(WINAPI *resize)(void *console, COORD size);
    VOID(WINAPI *close)(void *console);
};

/*
 * Returns the pseudo console functions, or NULL when this Windows lacks them (before 10 1809).
 * They are looked up at run time, because a direct import would keep the program from loading
 * on older versions. Not thread-safe on the first call.
 */
const struct process_windows_conpty *process_windows_conpty(void);

/*
 * Joins argv into a command line that CommandLineToArgvW and the Microsoft C runtime split
 * back into the same arguments: an argument with spaces, tabs or quotes is quoted, and
 * backslashes before a quote are doubled. Returns a new UTF-16 string (free), or NULL when an
 * argument is not valid UTF-8.
 */
wchar_t *process_windows_command_line(const char *const *argv);

/*
 * Builds a CREATE_UNICODE_ENVIRONMENT block from "NAME=value" strings: each string, a NUL, and
 * a final NUL. Returns a new block (free), or NULL when a string is not valid UTF-8.
 */
wchar_t *process_windows_environment(const char *const *env);

struct process_windows_spec {
    const char *const *argv; /* NULL-terminated; argv[0] is found on the PATH of env */
    const char *const *env;  /* NULL-terminated "NAME=value"; NULL inherits the daemon's */
    /* Set: env follows the default environment of token's user (winenv_windows_build) instead
     * of standing alone. */
    bool user_environment;
    const char *working_dir; /* NULL inherits the daemon's */
    HANDLE job;              /* the job object the process starts in */
    HANDLE parent_job;       /* NULL, or a job that job becomes nested in */
    HANDLE stdin_handle;     /* inheritable, or NULL for the NUL device */
    HANDLE stdout_handle;    /* inheritable, or NULL for the NUL device */
    HANDLE stderr_handle;    /* inheritable, or NULL for the NUL device */
    HANDLE token; /* the user to run as (CreateProcessAsUserW), or NULL for the caller's */
    /* Set: the process shares the caller's console, in a process group of its own, so that the
     * caller can send it CTRL_BREAK_EVENT. Unset: it gets a console of its own without a window. */
    bool share_console;
    /* A pseudo console (HPCON) that becomes the process's console and standard handles, or
     * NULL. */
    void *pseudo_console;
};

/*
 * Creates spec's process suspended and already inside spec->job, nested in spec->parent_job
 * when that is set (PROC_THREAD_ATTRIBUTE_JOB_LIST, Windows 10 and later; earlier versions
 * assign the jobs before the process runs), then resumes it. Only the standard handles are
 * inherited. On success returns 0 with the process handle in
 * *process (owned by the caller) and its id in *pid. ERROR_NOT_FOUND when the program does not
 * exist, ERROR_INVALID_ARGUMENT for an empty argv or non-UTF-8 text.
 */
int process_windows_start(const struct process_windows_spec *spec, HANDLE *process, DWORD *pid,
                          struct error *err);

#endif
