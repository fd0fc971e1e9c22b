#ifndef HOSTCRI_RUNTIME_WINDOWS_WINENV_WINDOWS_H
#define HOSTCRI_RUNTIME_WINDOWS_WINENV_WINDOWS_H

/* The Windows part of winenv.h: a user's default environment (Windows build only). */

#include <windows.h>

#include "common/error.h"

/*
 * Returns the environment of a container process that runs as token (NULL: the caller's own
 * user), as winenv_merge builds it: the user's default variables from CreateEnvironmentBlock,
 * which leaves out the caller's environment, then container_env (NULL-terminated "NAME=value",
 * may be NULL). Stores the NULL-terminated vector in *env (caller frees with strv_free) and
 * returns 0, or returns -1 when the default environment cannot be read.
 */
int winenv_windows_build(HANDLE token, const char *const *container_env, char ***env,
                         struct error *err);

#endif
