#include "runtime/spec_hostprocess.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/strbuf.h"
#include "common/util.h"
#include "runtime/spec.h"

static bool is_separator(char c)
{
    return c == '\\' || c == '/';
}

static bool has_drive(const char *path)
{
    return ((path[0] >= 'A' && path[0] <= 'Z') || (path[0] >= 'a' && path[0] <= 'z')) &&
           path[1] == ':';
}

/* Returns the length of path without its trailing separators (a lone separator stays). */
static size_t trimmed_length(const char *path)
{
    size_t length = strlen(path);

    while (length > 1 && is_separator(path[length - 1]))
        length--;
    return length;
}

char *spec_hostprocess_rootfs_dir(const char *root, const char *container_id)
{
    return xasprintf("%.*s\\%s", (int)trimmed_length(root), root, container_id);
}

bool spec_hostprocess_is_named_pipe(const char *path)
{
    static const char prefix[] = "\\\\.\\pipe\\";

    for (size_t i = 0; i < sizeof(prefix) - 1; i++) {
        char c = path[i];

        if (c == '\0')
            return false;
        if (is_separator(prefix[i]) ? !is_separator(c) : (c | 0x20) != prefix[i])
            return false;
    }
    return true;
}

int spec_hostprocess_check_mount_destination(const char *container_path, struct error *err)
{
    const char *rest = has_drive(container_path) ? container_path + 2 : container_path;

    if (has_drive(container_path) && rest[0] == '\0')
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "mount container_path \"%s\" is a whole drive: name a directory such "
                         "as C:\\data",
                         container_path);
    if (!is_separator(rest[0]))
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "mount container_path \"%s\" is not absolute: start it with C:\\ or \\",
                         container_path);
    return 0;
}

char *spec_hostprocess_mount_link(const char *rootfs_dir, const char *container_path)
{
    _cleanup_strbuf_ struct strbuf link = STRBUF_INIT;
    const char *p = has_drive(container_path) ? container_path + 2 : container_path;

    strbuf_append(&link, rootfs_dir, trimmed_length(rootfs_dir));
    while (*p) {
        if (is_separator(*p)) {
            while (is_separator(*p))
                p++;
            if (*p)
                strbuf_append_char(&link, '\\');
            continue;
        }
        strbuf_append_char(&link, *p++);
    }
    return strbuf_steal(&link);
}

/* ---- Environment ------------------------------------------------------------------------- */

static size_t name_length(const char *entry)
{
    const char *equals = strchr(entry, '=');

    return equals ? (size_t)(equals - entry) : strlen(entry);
}

static ssize_t env_index(char *const *env, const char *name)
{
    size_t length = strlen(name);

    for (size_t i = 0; env && env[i]; i++) {
        if (name_length(env[i]) == length && strncasecmp(env[i], name, length) == 0)
            return (ssize_t)i;
    }
    return -1;
}

static const char *env_value(char *const *env, const char *name)
{
    ssize_t index = env_index(env, name);

    return index < 0 ? NULL : env[index] + strlen(name) + 1;
}

/* Sets name=value, keeping the position and the spelling of an existing entry's name. */
static void env_set(char ***env, const char *name, const char *value)
{
    ssize_t index = env_index(*env, name);
    size_t length = strv_length(*env);

    if (index >= 0) {
        char *entry = xasprintf("%.*s=%s", (int)strlen(name), (*env)[index], value);

        free((*env)[index]);
        (*env)[index] = entry;
        return;
    }
    *env = xrealloc(*env, (length + 2) * sizeof(char *));
    (*env)[length] = xasprintf("%s=%s", name, value);
    (*env)[length + 1] = NULL;
}

static void drop_empty_values(char **env)
{
    size_t kept = 0;

    for (size_t i = 0; env && env[i]; i++) {
        const char *equals = strchr(env[i], '=');

        if (equals == NULL || equals[1] == '\0')
            free(env[i]);
        else
            env[kept++] = env[i];
    }
    if (env)
        env[kept] = NULL;
}

char *spec_hostprocess_extend_path(const char *path, const char *rootfs_dir,
                                   const char *system_root)
{
    size_t path_length = strlen(path);

    return xasprintf("%s%s%.*s\\;%s\\System32\\WindowsPowerShell\\v1.0\\;%s\\System32\\Wbem", path,
                     path_length == 0 || path[path_length - 1] == ';' ? "" : ";",
                     (int)trimmed_length(rootfs_dir), rootfs_dir, system_root, system_root);
}

void spec_hostprocess_finish_env(char ***env, const char *rootfs_dir, const char *default_path,
                                 const char *system_root)
{
    _cleanup_free_ char *mount_point =
        xasprintf("%.*s\\", (int)trimmed_length(rootfs_dir), rootfs_dir);
    const char *path;

    if (*env == NULL)
        *env = xcalloc(1, sizeof(char *));
    drop_empty_values(*env);
    path = env_value(*env, "PATH");
    if (path == NULL)
        path = default_path;
    if (path != NULL) {
        _cleanup_free_ char *extended = spec_hostprocess_extend_path(path, rootfs_dir, system_root);

        env_set(env, "PATH", extended);
    }
    if (env_value(*env, "PATHEXT") == NULL)
        env_set(env, "PATHEXT", SPEC_HOSTPROCESS_PATHEXT);
    if (env_value(*env, "SYSTEMROOT") == NULL)
        env_set(env, "SYSTEMROOT", system_root);
    env_set(env, SPEC_MOUNT_POINT_VARIABLE, mount_point);
}

/* ---- Program lookup ---------------------------------------------------------------------- */

/* Returns true when the last component of name has an extension ("x.exe", not ".\x"). */
static bool has_extension(const char *name)
{
    const char *dot = strrchr(name, '.');

    return dot && dot[1] != '\0' && !strpbrk(dot, "\\/") && dot != name && !is_separator(dot[-1]);
}

/* Tries candidate, and with no extension each PATHEXT entry. Stores the match in *out. */
static bool try_candidate(const char *candidate, const char *pathext,
                          spec_hostprocess_is_file_fn is_file, void *data, char **out)
{
    if (has_extension(candidate)) {
        if (!is_file(candidate, data))
            return false;
        *out = xstrdup(candidate);
        return true;
    }
    for (const char *ext = pathext;;) {
        const char *end = strchr(ext, ';');
        size_t length = end ? (size_t)(end - ext) : strlen(ext);
        _cleanup_free_ char *path = xasprintf("%s%.*s", candidate, (int)length, ext);

        if (is_file(path, data)) {
            *out = steal_pointer(&path);
            return true;
        }
        if (end == NULL)
            return false;
        ext = end + 1;
    }
}

static bool try_in_dir(const char *dir, size_t dir_length, const char *name, const char *pathext,
                       spec_hostprocess_is_file_fn is_file, void *data, char **out)
{
    _cleanup_free_ char *candidate = NULL;

    while (dir_length > 1 && is_separator(dir[dir_length - 1]))
        dir_length--;
    if (dir_length == 0)
        return false;
    candidate = xasprintf("%.*s\\%s", (int)dir_length, dir, name);
    return try_candidate(candidate, pathext, is_file, data, out);
}

static bool try_path_list(const char *list, const char *name, const char *pathext,
                          spec_hostprocess_is_file_fn is_file, void *data, char **out)
{
    for (const char *dir = list; dir;) {
        const char *end = strchr(dir, ';');
        size_t length = end ? (size_t)(end - dir) : strlen(dir);

        if (try_in_dir(dir, length, name, pathext, is_file, data, out))
            return true;
        dir = end ? end + 1 : NULL;
    }
    return false;
}

int spec_hostprocess_find_program(const char *program, const char *working_dir,
                                  const char *rootfs_dir, char *const *env, const char *system_root,
                                  spec_hostprocess_is_file_fn is_file, void *data, char **out,
                                  struct error *err)
{
    const char *pathext = env_value(env, "PATHEXT");
    const char *path = env_value(env, "PATH");
    _cleanup_free_ char *system_dirs =
        xasprintf("%s\\System32;%s\\System;%s", system_root, system_root, system_root);

    *out = NULL;
    if (str_empty(program))
        return error_set(err, ERROR_INVALID_ARGUMENT, "no program to start");
    if (pathext == NULL)
        pathext = SPEC_HOSTPROCESS_PATHEXT;
    if (has_drive(program) || is_separator(program[0])) {
        if (try_candidate(program, pathext, is_file, data, out))
            return 0;
        return error_set(err, ERROR_NOT_FOUND, "program %s not found", program);
    }
    if (strpbrk(program, "\\/")) {
        if (try_in_dir(working_dir, strlen(working_dir), program, pathext, is_file, data, out) ||
            try_in_dir(rootfs_dir, strlen(rootfs_dir), program, pathext, is_file, data, out))
            return 0;
        return error_set(err, ERROR_NOT_FOUND,
                         "program %s not found in the working directory %s or in %s", program,
                         working_dir, rootfs_dir);
    }
    if (try_in_dir(working_dir, strlen(working_dir), program, pathext, is_file, data, out) ||
        (path && try_path_list(path, program, pathext, is_file, data, out)) ||
        try_path_list(system_dirs, program, pathext, is_file, data, out))
        return 0;
    return error_set(err, ERROR_NOT_FOUND,
                     "program %s not found in the working directory %s, in PATH %s or in %s",
                     program, working_dir, path ? path : "(unset)", system_dirs);
}
