#include "runtime/windows/winenv.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "runtime/spec.h"
#include "runtime/spec_hostprocess.h"

/* Length of entry's name: up to the first "=" after the first character, or -1 for no "=". */
static ptrdiff_t name_length(const char *entry)
{
    const char *equals = entry[0] ? strchr(entry + 1, '=') : NULL;

    return equals ? equals - entry : -1;
}

static bool same_name(const char *a, ptrdiff_t a_length, const char *b)
{
    return name_length(b) == a_length && strncasecmp(a, b, (size_t)a_length) == 0;
}

/* Puts entry in out[*count]: in place of an earlier entry of the same name, else at the end. */
static void add_entry(char **out, size_t *count, const char *entry)
{
    ptrdiff_t length = name_length(entry);

    for (size_t i = 0; length >= 0 && i < *count; i++) {
        if (same_name(entry, length, out[i])) {
            free(out[i]);
            out[i] = xstrdup(entry);
            return;
        }
    }
    out[(*count)++] = xstrdup(entry);
}

/* Returns the index of name in the first count entries of env, or -1. */
static ptrdiff_t find_name(const char *const *env, size_t count, const char *name)
{
    for (size_t i = 0; env && i < count && env[i]; i++) {
        if (same_name(name, (ptrdiff_t)strlen(name), env[i]))
            return (ptrdiff_t)i;
    }
    return -1;
}

static bool has_name(char *const *env, size_t count, const char *name)
{
    return find_name((const char *const *)env, count, name) >= 0;
}

/*
 * Extends the user's Path (out[0..*count)) when the container sets none: the core leaves PATH
 * out then, so that the user's own Path comes first, as CreateEnvironmentBlock gives it.
 */
static void extend_user_path(char **out, size_t *count, const char *const *container_env,
                             const char *system_root)
{
    size_t container_count = strv_length((char *const *)container_env);
    ptrdiff_t mount_point = find_name(container_env, container_count, SPEC_MOUNT_POINT_VARIABLE);
    ptrdiff_t path;
    _cleanup_free_ char *extended = NULL;
    _cleanup_free_ char *name = NULL;

    if (mount_point < 0 || find_name(container_env, container_count, "PATH") >= 0)
        return;
    path = find_name((const char *const *)out, *count, "PATH");
    extended = spec_hostprocess_extend_path(
        path < 0 ? "" : out[path] + strlen("PATH="),
        container_env[mount_point] + strlen(SPEC_MOUNT_POINT_VARIABLE "="), system_root);
    if (path < 0) {
        out[(*count)++] = xasprintf("PATH=%s", extended);
        return;
    }
    /* Keeps the user's spelling of the name ("Path"). */
    name = xasprintf("%.*s", (int)strlen("PATH"), out[path]);
    free(out[path]);
    out[path] = xasprintf("%s=%s", name, extended);
}

char **winenv_merge(const char *const *user_env, const char *const *container_env,
                    const char *system_root)
{
    size_t capacity =
        strv_length((char *const *)user_env) + strv_length((char *const *)container_env) + 3;
    char **out = xcalloc(capacity, sizeof(*out));
    size_t count = 0;

    for (size_t i = 0; user_env && user_env[i]; i++)
        add_entry(out, &count, user_env[i]);
    for (size_t i = 0; container_env && container_env[i]; i++)
        add_entry(out, &count, container_env[i]);
    extend_user_path(out, &count, container_env, system_root);
    if (!has_name(out, count, "SYSTEMROOT"))
        out[count++] = xasprintf("SYSTEMROOT=%s", system_root);
    out[count] = NULL;
    return out;
}

char **winenv_exec_env(const char *const *env, bool tty)
{
    size_t length = strv_length((char *const *)env);
    char **out = xcalloc(length + 2, sizeof(*out));

    for (size_t i = 0; i < length; i++)
        out[i] = xstrdup(env[i]);
    if (tty)
        out[length] = xstrdup(WINENV_TTY_TERM);
    return out;
}
