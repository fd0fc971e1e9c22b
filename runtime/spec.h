#ifndef HOSTCRI_RUNTIME_SPEC_H
#define HOSTCRI_RUNTIME_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/*
 * Pure helpers that turn a CRI container config and an image config into the process that
 * the container runs: argv, environment and working directory. No I/O, no global state, so
 * that the Linux and Windows backends share them and unit tests can cover every case.
 *
 * String vectors are NULL-terminated arrays of heap strings (common/util.h strv_free).
 */

/* The environment variable that holds the container's root file system path. */
#define SPEC_MOUNT_POINT_VARIABLE "CONTAINER_SANDBOX_MOUNT_POINT"

/*
 * Merges the image's Entrypoint and Cmd with the CRI command and args the way Docker does:
 *   - command set: command + args (the image's Entrypoint and Cmd are both ignored);
 *   - only args set: Entrypoint + args (the image's Cmd is ignored);
 *   - neither: Entrypoint + Cmd.
 * entrypoint and cmd are NULL-terminated (either may be NULL); command and args are arrays of
 * n_command and n_args strings. Stores a new vector in *argv_out (the caller frees it with
 * strv_free) and returns 0, or returns -1 with INVALID_ARGUMENT when the result is empty.
 */
int spec_merge_command(char *const *entrypoint, char *const *cmd, char *const *command,
                       size_t n_command, char *const *args, size_t n_args, char ***argv_out,
                       struct error *err);

/* One request environment variable; value is not NUL-terminated (CRI sends bytes). */
struct spec_env_entry {
    const char *key;
    const void *value;
    size_t value_length;
};

/*
 * Merges the image environment ("KEY=VALUE" strings, NULL-terminated, may be NULL) with the
 * request's variables: a request variable replaces the image's value of the same key in its
 * place, new keys follow in request order, and a later duplicate replaces an earlier one.
 * A request key that is empty or contains '=' is INVALID_ARGUMENT, as is a value with a NUL
 * byte. Stores a new vector in *env_out (caller frees with strv_free) and returns 0, or -1.
 */
int spec_merge_env(char *const *image_env, const struct spec_env_entry *request_env,
                   size_t n_request_env, char ***env_out, struct error *err);

/*
 * Sets KEY=value in an environment vector made by spec_merge_env, replacing an existing
 * entry of that key. *env is reallocated.
 */
void spec_env_set(char ***env, const char *key, const char *value);

/* Returns the value of key in env (a pointer into the vector), or NULL. */
const char *spec_env_get(char *const *env, const char *key);

/*
 * Returns a new string where every $CONTAINER_SANDBOX_MOUNT_POINT,
 * ${CONTAINER_SANDBOX_MOUNT_POINT}, %CONTAINER_SANDBOX_MOUNT_POINT% and
 * $env:CONTAINER_SANDBOX_MOUNT_POINT in text is replaced by mount_point with its trailing
 * separator removed, so that "$CONTAINER_SANDBOX_MOUNT_POINT/bin/sh" becomes "/hpc/bin/sh".
 * The $NAME and $env:NAME forms match only when the next character cannot continue a
 * variable name. The caller frees the result.
 */
char *spec_substitute_mount_point(const char *text, const char *mount_point);

/* Applies spec_substitute_mount_point to every string of a NULL-terminated vector in place. */
void spec_substitute_strv(char **strv, const char *mount_point);

/*
 * Substitutes the mount point in the value part of every "KEY=VALUE" entry of env in place
 * (keys are left alone).
 */
void spec_substitute_env(char **env, const char *mount_point);

/*
 * Chooses the working directory: the request's, else the image's, else the mount point.
 * The mount-point variable is substituted, and a relative path is taken relative to the
 * mount point. The request's absolute path is a host path, as in the Windows bind mode. The
 * image's WORKDIR names a directory of the image, so it is taken inside the mount point
 * ("/app" becomes "/hpc/app"), where it exists. Returns a new string without a trailing
 * separator (except for the root).
 */
char *spec_working_dir(const char *request_dir, const char *image_dir, const char *mount_point);

/*
 * Appends the mount point and its bin directory to the PATH entry of env, adding a PATH of
 * default_path first when env has none. The host's directories stay first, so a host program
 * wins over an image program of the same name.
 */
void spec_extend_path(char ***env, const char *mount_point, const char *default_path);

/* Returns a heap copy of a vector of n strings as a NULL-terminated vector. */
char **spec_strv_copy(char *const *strings, size_t n);

/* The user part of an image config's USER. */
struct spec_image_user {
    char *username; /* NULL, or a user name to resolve on the host */
    bool has_uid;
    uint32_t uid;
    bool has_gid;
    uint32_t gid;
};

/*
 * Parses an image USER: "", "name", "uid", "uid:gid" or "name:gid". A group given by name
 * ("name:group") is INVALID_ARGUMENT because host-process containers resolve names only for
 * users: set run_as_group instead. Fills *out (clear it with spec_image_user_clear).
 */
int spec_parse_image_user(const char *user, struct spec_image_user *out, struct error *err);

void spec_image_user_clear(struct spec_image_user *user);

/*
 * Checks the rules of a recursive read-only mount (CRI Mount.recursive_read_only), which are
 * containerd's (withMounts in internal/cri/opts/spec_linux_opts.go): it must be readonly and
 * have private propagation (propagation is the CRI MountPropagation value, 0 for
 * PROPAGATION_PRIVATE). Returns 0, or -1 with INVALID_ARGUMENT naming container_path and the
 * field to change. A mount without recursive_readonly passes.
 */
int spec_check_recursive_readonly(const char *container_path, bool readonly,
                                  bool recursive_readonly, int propagation, struct error *err);

/*
 * Sets *strict from a CRI SupplementalGroupsPolicy value: false for Merge (0), true for Strict
 * (1). Any other value is INVALID_ARGUMENT.
 */
int spec_supplemental_groups_policy(int policy, bool *strict, struct error *err);

#endif
