#include "runtime/pod_annotations.h"

#include <string.h>

#include "common/util.h"

const char *pod_annotations_get(const Runtime__V1__PodSandboxConfig *config, const char *key)
{
    for (size_t i = 0; config && i < config->n_annotations; i++) {
        const Runtime__V1__PodSandboxConfig__AnnotationsEntry *entry = config->annotations[i];

        if (entry->key && strcmp(entry->key, key) == 0)
            return entry->value ? entry->value : "";
    }
    return NULL;
}

bool pod_annotations_inherit_user(const Runtime__V1__PodSandboxConfig *config)
{
    const char *value = pod_annotations_get(config, POD_ANNOTATION_INHERIT_USER);

    return value && strcmp(value, "true") == 0;
}

static bool is_separator(char c, bool windows_rules)
{
    return c == '/' || (windows_rules && c == '\\');
}

/* Returns the length of the path component that starts at path. */
static size_t component_length(const char *path, bool windows_rules)
{
    size_t length = 0;

    while (path[length] && !is_separator(path[length], windows_rules))
        length++;
    return length;
}

/* Returns true when a component of path (from its first separator on) is "." or "..". */
static bool has_dot_component(const char *path, bool windows_rules)
{
    for (const char *p = path; *p;) {
        size_t length = component_length(p, windows_rules);

        if ((length == 1 && p[0] == '.') || (length == 2 && p[0] == '.' && p[1] == '.'))
            return true;
        p += length;
        while (is_separator(*p, windows_rules))
            p++;
    }
    return false;
}

static int invalid(struct error *err, const char *value, const char *reason, const char *fix)
{
    return error_set(err, ERROR_INVALID_ARGUMENT,
                     "invalid pod annotation %s=\"%s\": %s; set it to %s, or leave it out to use "
                     "the runtime's rootfs_mount_point",
                     POD_ANNOTATION_ROOTFS_LOCATION, value, reason, fix);
}

static int check_windows(const char *value, struct error *err)
{
    static const char fix[] = "an absolute local folder such as C:\\hpc-pods";
    bool drive = ((value[0] >= 'A' && value[0] <= 'Z') || (value[0] >= 'a' && value[0] <= 'z')) &&
                 value[1] == ':';

    if (is_separator(value[0], true) && is_separator(value[1], true))
        return invalid(err, value, "UNC and device paths are not supported", fix);
    if (!drive || !is_separator(value[2], true))
        return invalid(err, value, "the path is not absolute (it needs a drive and a \\)", fix);
    for (const char *p = value + 2; *p; p++) {
        if ((unsigned char)*p < 0x20 || strchr("<>\"|?*:", *p))
            return invalid(err, value,
                           "the path holds a character that Windows file names "
                           "cannot hold",
                           fix);
    }
    if (has_dot_component(value + 3, true))
        return invalid(err, value, "the path has a \".\" or \"..\" component", fix);
    return 0;
}

static int check_linux(const char *value, struct error *err)
{
    static const char fix[] = "an absolute directory such as /hpc-pods";
    static const char *const kernel_dirs[] = {"proc", "sys", "dev"};
    const char *first = value;
    size_t length;

    if (value[0] != '/')
        return invalid(err, value, "the path is not absolute", fix);
    if (has_dot_component(value, false))
        return invalid(err, value, "the path has a \".\" or \"..\" component", fix);
    while (*first == '/')
        first++;
    if (*first == '\0')
        return invalid(err, value, "the root file system cannot be mounted over /", fix);
    length = component_length(first, false);
    for (size_t i = 0; i < ARRAY_SIZE(kernel_dirs); i++) {
        if (length == strlen(kernel_dirs[i]) && strncmp(first, kernel_dirs[i], length) == 0)
            return invalid(err, value, "the path is in a kernel file system", fix);
    }
    return 0;
}

int pod_annotations_check_rootfs_location(const char *value, bool windows_rules, struct error *err)
{
    return windows_rules ? check_windows(value, err) : check_linux(value, err);
}

int pod_annotations_rootfs_location(const Runtime__V1__PodSandboxConfig *config, bool windows_rules,
                                    const char **location, struct error *err)
{
    const char *value = pod_annotations_get(config, POD_ANNOTATION_ROOTFS_LOCATION);

    *location = NULL;
    if (str_empty(value))
        return 0;
    if (pod_annotations_check_rootfs_location(value, windows_rules, err) < 0)
        return -1;
    *location = value;
    return 0;
}
