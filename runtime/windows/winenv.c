#include "runtime/windows/winenv.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"

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

static bool has_name(char *const *env, size_t count, const char *name)
{
    for (size_t i = 0; i < count; i++) {
        if (same_name(name, (ptrdiff_t)strlen(name), env[i]))
            return true;
    }
    return false;
}

char **winenv_merge(const char *const *user_env, const char *const *container_env,
                    const char *system_root)
{
    size_t capacity =
        strv_length((char *const *)user_env) + strv_length((char *const *)container_env) + 2;
    char **out = xcalloc(capacity, sizeof(*out));
    size_t count = 0;

    for (size_t i = 0; user_env && user_env[i]; i++)
        add_entry(out, &count, user_env[i]);
    for (size_t i = 0; container_env && container_env[i]; i++)
        add_entry(out, &count, container_env[i]);
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
