#include "runtime/spec.h"

#include <stdbool.h>
#include <stdlib.h>
#include <sys/types.h>
#include <string.h>
#include <strings.h>

#include "common/strbuf.h"
#include "common/util.h"

#ifdef _WIN32
#define SPEC_PATH_LIST_SEPARATOR ";"
#define SPEC_DIR_SEPARATOR "\\"
#else
#define SPEC_PATH_LIST_SEPARATOR ":"
#define SPEC_DIR_SEPARATOR "/"
#endif

static void strv_append_all(char ***strv, size_t *length, char *const *strings, size_t n)
{
    *strv = xrealloc(*strv, (*length + n + 1) * sizeof(char *));
    for (size_t i = 0; i < n; i++)
        (*strv)[(*length)++] = xstrdup(strings[i]);
    (*strv)[*length] = NULL;
}

char **spec_strv_copy(char *const *strings, size_t n)
{
    char **copy = NULL;
    size_t length = 0;

    strv_append_all(&copy, &length, strings, n);
    return copy;
}

int spec_merge_command(char *const *entrypoint, char *const *cmd, char *const *command,
                       size_t n_command, char *const *args, size_t n_args, char ***argv_out,
                       struct error *err)
{
    char **argv = NULL;
    size_t length = 0;

    if (n_command > 0) {
        strv_append_all(&argv, &length, command, n_command);
        strv_append_all(&argv, &length, args, n_args);
    } else if (n_args > 0) {
        strv_append_all(&argv, &length, entrypoint, strv_length(entrypoint));
        strv_append_all(&argv, &length, args, n_args);
    } else {
        strv_append_all(&argv, &length, entrypoint, strv_length(entrypoint));
        strv_append_all(&argv, &length, cmd, strv_length(cmd));
    }

    if (length == 0 || str_empty(argv[0])) {
        strv_free(argv);
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "no command specified: set the container's command or args, or use an "
                         "image with an Entrypoint or Cmd");
    }
    *argv_out = argv;
    return 0;
}

static size_t env_key_length(const char *entry)
{
    const char *equals = strchr(entry, '=');

    return equals ? (size_t)(equals - entry) : strlen(entry);
}

/* Compares environment variable names, which Windows treats without regard to case. */
static bool same_key(const char *a, const char *b, size_t length)
{
#ifdef _WIN32
    return strncasecmp(a, b, length) == 0;
#else
    return memcmp(a, b, length) == 0;
#endif
}

static ssize_t env_find(char *const *env, const char *key, size_t key_length)
{
    for (size_t i = 0; env && env[i]; i++) {
        if (env_key_length(env[i]) == key_length && same_key(env[i], key, key_length))
            return (ssize_t)i;
    }
    return -1;
}

static void env_put(char ***env, char *entry)
{
    size_t length = strv_length(*env);
    ssize_t index = env_find(*env, entry, env_key_length(entry));

    if (index >= 0) {
        free((*env)[index]);
        (*env)[index] = entry;
        return;
    }
    *env = xrealloc(*env, (length + 2) * sizeof(char *));
    (*env)[length] = entry;
    (*env)[length + 1] = NULL;
}

void spec_env_set(char ***env, const char *key, const char *value)
{
    env_put(env, xasprintf("%s=%s", key, value));
}

const char *spec_env_get(char *const *env, const char *key)
{
    ssize_t index = env_find(env, key, strlen(key));
    const char *equals;

    if (index < 0)
        return NULL;
    equals = strchr(env[index], '=');
    return equals ? equals + 1 : "";
}

static int check_env_entry(const struct spec_env_entry *entry, struct error *err)
{
    if (str_empty(entry->key))
        return error_set(err, ERROR_INVALID_ARGUMENT, "invalid environment variable: empty key");
    if (strchr(entry->key, '='))
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid environment variable \"%s\": the key contains '='", entry->key);
    if (entry->value_length > 0 && memchr(entry->value, '\0', entry->value_length))
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid environment variable \"%s\": the value contains a NUL byte",
                         entry->key);
    return 0;
}

int spec_merge_env(char *const *image_env, const struct spec_env_entry *request_env,
                   size_t n_request_env, char ***env_out, struct error *err)
{
    _cleanup_strv_ char **env = xcalloc(1, sizeof(char *));

    for (size_t i = 0; image_env && image_env[i]; i++) {
        if (image_env[i][0] == '=' || image_env[i][0] == '\0')
            continue;
        env_put(&env, xstrdup(image_env[i]));
    }
    for (size_t i = 0; i < n_request_env; i++) {
        const struct spec_env_entry *entry = &request_env[i];

        if (check_env_entry(entry, err) < 0)
            return -1;
        env_put(&env, xasprintf("%s=%.*s", entry->key, (int)entry->value_length,
                                entry->value_length ? (const char *)entry->value : ""));
    }
    *env_out = steal_pointer(&env);
    return 0;
}

static bool is_name_char(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* Returns the length of the mount-point reference at text, or 0 when there is none. */
static size_t mount_point_reference_length(const char *text)
{
    static const struct {
        const char *form;
        bool needs_name_end;
    } forms[] = {
        {"${" SPEC_MOUNT_POINT_VARIABLE "}", false},
        {"%" SPEC_MOUNT_POINT_VARIABLE "%", false},
        {"$env:" SPEC_MOUNT_POINT_VARIABLE, true},
        {"$" SPEC_MOUNT_POINT_VARIABLE, true},
    };

    for (size_t i = 0; i < ARRAY_SIZE(forms); i++) {
        size_t length = strlen(forms[i].form);

        if (strncmp(text, forms[i].form, length) != 0)
            continue;
        if (forms[i].needs_name_end && is_name_char(text[length]))
            continue;
        return length;
    }
    return 0;
}

static size_t trimmed_length(const char *mount_point)
{
    size_t length = strlen(mount_point);

    while (length > 1 && (mount_point[length - 1] == '/' || mount_point[length - 1] == '\\'))
        length--;
    return length;
}

char *spec_substitute_mount_point(const char *text, const char *mount_point)
{
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;
    size_t mount_length = trimmed_length(mount_point);

    for (const char *p = text; *p;) {
        size_t reference = (*p == '$' || *p == '%') ? mount_point_reference_length(p) : 0;

        if (reference > 0) {
            strbuf_append(&out, mount_point, mount_length);
            p += reference;
        } else {
            strbuf_append_char(&out, *p++);
        }
    }
    return strbuf_steal(&out);
}

void spec_substitute_strv(char **strv, const char *mount_point)
{
    for (size_t i = 0; strv && strv[i]; i++) {
        char *replaced = spec_substitute_mount_point(strv[i], mount_point);

        free(strv[i]);
        strv[i] = replaced;
    }
}

void spec_substitute_env(char **env, const char *mount_point)
{
    for (size_t i = 0; env && env[i]; i++) {
        size_t key_length = env_key_length(env[i]);
        const char *value = env[i][key_length] == '=' ? env[i] + key_length + 1 : "";
        _cleanup_free_ char *replaced = spec_substitute_mount_point(value, mount_point);
        char *entry = xasprintf("%.*s=%s", (int)key_length, env[i], replaced);

        free(env[i]);
        env[i] = entry;
    }
}

static bool is_absolute(const char *path)
{
#ifdef _WIN32
    if (((path[0] | 0x20) >= 'a' && (path[0] | 0x20) <= 'z') && path[1] == ':')
        return true;
    return path[0] == '\\' || path[0] == '/';
#else
    return path[0] == '/';
#endif
}

/* Returns path after its drive letter ("C:"), which only Windows paths have. */
static const char *without_drive(const char *path)
{
#ifdef _WIN32
    if (path[0] != '\0' && path[1] == ':')
        return path + 2;
#endif
    return path;
}

char *spec_working_dir(const char *request_dir, const char *image_dir, const char *mount_point)
{
    bool from_image = str_empty(request_dir) && !str_empty(image_dir);
    const char *chosen = !str_empty(request_dir) ? request_dir
                         : from_image            ? image_dir
                                                 : mount_point;
    _cleanup_free_ char *substituted = spec_substitute_mount_point(chosen, mount_point);
    char *dir;
    size_t length;

    if (from_image && strcmp(substituted, image_dir) == 0 && is_absolute(image_dir))
        dir = xasprintf("%.*s%s", (int)trimmed_length(mount_point), mount_point,
                        without_drive(image_dir));
    else if (is_absolute(substituted))
        dir = xstrdup(substituted);
    else
        dir = xasprintf("%.*s" SPEC_DIR_SEPARATOR "%s", (int)trimmed_length(mount_point),
                        mount_point, substituted);
    length = trimmed_length(dir);
    dir[length] = '\0';
    return dir;
}

void spec_extend_path(char ***env, const char *mount_point, const char *default_path)
{
    const char *path = spec_env_get(*env, "PATH");
    int mount_length = (int)trimmed_length(mount_point);
    _cleanup_free_ char *extended = NULL;

    if (path == NULL)
        path = default_path;
    extended = xasprintf("%s%s%.*s" SPEC_PATH_LIST_SEPARATOR "%.*s" SPEC_DIR_SEPARATOR "bin", path,
                         str_empty(path) ? "" : SPEC_PATH_LIST_SEPARATOR, mount_length, mount_point,
                         mount_length, mount_point);
    spec_env_set(env, "PATH", extended);
}

static bool parse_id(const char *text, size_t length, uint32_t *out)
{
    uint64_t value = 0;

    if (length == 0 || length > 10)
        return false;
    for (size_t i = 0; i < length; i++) {
        if (text[i] < '0' || text[i] > '9')
            return false;
        value = value * 10 + (uint64_t)(text[i] - '0');
    }
    if (value > UINT32_MAX)
        return false;
    *out = (uint32_t)value;
    return true;
}

int spec_parse_image_user(const char *user, struct spec_image_user *out, struct error *err)
{
    const char *colon;
    size_t user_length;

    memset(out, 0, sizeof(*out));
    if (str_empty(user))
        return 0;
    colon = strchr(user, ':');
    user_length = colon ? (size_t)(colon - user) : strlen(user);
    if (user_length == 0)
        return error_set(err, ERROR_INVALID_ARGUMENT, "invalid image USER \"%s\": no user", user);
    if (colon && !parse_id(colon + 1, strlen(colon + 1), &out->gid))
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid image USER \"%s\": the group must be a numeric gid; set "
                         "run_as_group in the container's security context instead",
                         user);
    out->has_gid = colon != NULL;
    if (parse_id(user, user_length, &out->uid))
        out->has_uid = true;
    else
        out->username = xstrndup(user, user_length);
    return 0;
}

void spec_image_user_clear(struct spec_image_user *user)
{
    free(user->username);
    memset(user, 0, sizeof(*user));
}

static const char *propagation_name(int propagation)
{
    switch (propagation) {
    case 0:
        return "PROPAGATION_PRIVATE";
    case 1:
        return "PROPAGATION_HOST_TO_CONTAINER";
    case 2:
        return "PROPAGATION_BIDIRECTIONAL";
    default:
        return "unknown";
    }
}

int spec_check_recursive_readonly(const char *container_path, bool readonly,
                                  bool recursive_readonly, int propagation, struct error *err)
{
    if (!recursive_readonly)
        return 0;
    if (!readonly)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "mount %s: recursive_read_only needs readonly; set readonly to true or "
                         "clear recursive_read_only",
                         container_path);
    if (propagation != 0)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "mount %s: recursive_read_only needs propagation PROPAGATION_PRIVATE, "
                         "not %s (%d); set the propagation to PROPAGATION_PRIVATE or clear "
                         "recursive_read_only",
                         container_path, propagation_name(propagation), propagation);
    return 0;
}

int spec_supplemental_groups_policy(int policy, bool *strict, struct error *err)
{
    if (policy != 0 && policy != 1)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid supplemental_groups_policy %d: use Merge (0) or Strict (1)",
                         policy);
    *strict = policy == 1;
    return 0;
}
