#ifndef HOSTCRI_RUNTIME_SPEC_HOSTPROCESS_H
#define HOSTCRI_RUNTIME_SPEC_HOSTPROCESS_H

#include <stdbool.h>

#include "common/error.h"

/*
 * The Windows HostProcess rules for a container's paths, environment and program. They are
 * pure string functions with no Windows headers, so the Linux unit tests cover them too. The
 * runtime applies them when it runs with the Windows rules (runtime->hostprocess_rules).
 *
 * Windows paths here use "\" and may start with a drive ("C:"). Environment variable names
 * compare without regard to case, as Windows compares them.
 */

/* PATHEXT of a container that sets none; the empty last entry lets extensionless programs run. */
#define SPEC_HOSTPROCESS_PATHEXT ".COM;.EXE;.BAT;.CMD;"

/*
 * Returns the container's root file system directory "<root>\<container_id>" (root's trailing
 * separators dropped), where the image's files go without the bind filter. Caller frees.
 */
char *spec_hostprocess_rootfs_dir(const char *root, const char *container_id);

/* Returns true when path names a named pipe: "\\.\pipe\..." (either slash, any case). */
bool spec_hostprocess_is_named_pipe(const char *path);

/*
 * Checks a mount's container path: "C:\x", "\x" or "/x", but not a bare drive such as "C:".
 * Returns 0, or -1 with INVALID_ARGUMENT.
 */
int spec_hostprocess_check_mount_destination(const char *container_path, struct error *err);

/*
 * Returns where a mount appears under the root file system: "<rootfs_dir>\<container_path>"
 * without the drive, with "/" turned into "\" and repeated separators collapsed, so that
 * "C:\var/run//x\" becomes "<rootfs_dir>\var\run\x". Caller frees.
 */
char *spec_hostprocess_mount_link(const char *rootfs_dir, const char *container_path);

/*
 * Returns path with "<rootfs_dir>\" and the PowerShell and Wbem directories under system_root
 * appended, after a ";" unless path is empty or ends with one. Caller frees.
 */
char *spec_hostprocess_extend_path(const char *path, const char *rootfs_dir,
                                   const char *system_root);

/*
 * Finishes a container's environment, a NULL-terminated vector of "NAME=value" heap strings
 * that *env owns (it is reallocated):
 *   - variables with an empty value are dropped;
 *   - PATH (default_path when missing) is extended with spec_hostprocess_extend_path. With
 *     neither, PATH stays unset, so that the job backend extends the Path of the user's
 *     default environment instead (winenv_merge);
 *   - PATHEXT is SPEC_HOSTPROCESS_PATHEXT and SYSTEMROOT is system_root when missing;
 *   - CONTAINER_SANDBOX_MOUNT_POINT is "<rootfs_dir>\", with its trailing backslash.
 */
void spec_hostprocess_finish_env(char ***env, const char *rootfs_dir, const char *default_path,
                                 const char *system_root);

/* Returns true when path is an existing regular file (not a directory). */
typedef bool (*spec_hostprocess_is_file_fn)(const char *path, void *data);

/*
 * Finds the file that program names, as CreateProcess would with the container's view:
 *   - with a drive or a leading separator, the path itself;
 *   - with a separator inside ("bin\x.exe"), relative to working_dir, then to rootfs_dir;
 *   - a bare name in working_dir, then each PATH directory of env, then system_root's
 *     System32, System and itself.
 * A name without an extension is tried with each PATHEXT entry of env (SPEC_HOSTPROCESS_PATHEXT
 * when unset); its empty entry tries the name itself. Stores the path in *out (caller frees)
 * and returns 0, or returns -1 with NOT_FOUND naming the places searched.
 */
int spec_hostprocess_find_program(const char *program, const char *working_dir,
                                  const char *rootfs_dir, char *const *env, const char *system_root,
                                  spec_hostprocess_is_file_fn is_file, void *data, char **out,
                                  struct error *err);

#endif
