#ifndef HOSTCRI_RUNTIME_WINDOWS_WINENV_H
#define HOSTCRI_RUNTIME_WINDOWS_WINENV_H

/*
 * The environment of a HostProcess container's processes, as the Windows backend builds it.
 * First come the default variables of the user the process runs as: its profile and the system
 * variables, never the daemon's own. Then come the container's variables, which the runtime
 * core has already finished (spec_hostprocess_finish_env). A later variable replaces an earlier
 * one of the same name in any case, at the earlier one's position. SYSTEMROOT is added when
 * neither part has it. A container that sets no PATH gets the user's own Path, extended as the
 * core extends a container's PATH (spec_hostprocess_extend_path).
 *
 * Portable C with no Windows headers, so the Linux unit tests cover it; winenv_windows.c reads
 * the user's default environment.
 */

#include <stdbool.h>

/* The variable that an exec with a terminal gets, as containerd sets it. */
#define WINENV_TTY_TERM "TERM=xterm"

/*
 * Returns user_env followed by container_env ("NAME=value" strings, each NULL-terminated and
 * either may be NULL) with duplicates removed: names compare without regard to case, and the
 * later entry takes the earlier one's place. An entry without "=" is kept as it is. A name may
 * start with "=" ("=C:=C:\x"). SYSTEMROOT=system_root is appended when missing. When
 * container_env sets CONTAINER_SANDBOX_MOUNT_POINT but no PATH, the user's Path keeps its
 * place and spelling and is extended with that directory and the system_root folders of
 * spec_hostprocess_extend_path (or PATH is those alone when user_env has none either). Caller
 * frees the vector (strv_free).
 */
char **winenv_merge(const char *const *user_env, const char *const *container_env,
                    const char *system_root);

/*
 * Returns a copy of env (NULL-terminated, may be NULL) with WINENV_TTY_TERM appended when tty
 * is set, so that it replaces the container's TERM in winenv_merge. Caller frees (strv_free).
 */
char **winenv_exec_env(const char *const *env, bool tty);

#endif
