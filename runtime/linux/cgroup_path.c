#include "runtime/linux/cgroup.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"
#include "common/util.h"

/* Joins the components of a cgroupfs path with single slashes, rejecting "." and "..". */
static int normalize_cgroupfs(const char *parent, char **path, struct error *err)
{
    _cleanup_free_ char *copy = xstrdup(parent);
    struct strbuf out = STRBUF_INIT;
    char *save = NULL;

    for (char *part = strtok_r(copy, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
        if (strcmp(part, ".") == 0 || strcmp(part, "..") == 0) {
            strbuf_free(&out);
            return error_set(err, ERROR_INVALID_ARGUMENT,
                             "invalid cgroup parent \"%s\": \".\" and \"..\" are not allowed",
                             parent);
        }
        if (out.length > 0)
            strbuf_append_char(&out, '/');
        strbuf_append_str(&out, part);
    }
    *path = strbuf_steal(&out);
    return 0;
}

/*
 * Expands a systemd slice name: "a-b-c.slice" lives in "a.slice/a-b.slice/a-b-c.slice", and
 * "-.slice" is the root.
 */
static int expand_slice(const char *slice, char **path, struct error *err)
{
    size_t length = strlen(slice);
    const char *suffix = ".slice";
    size_t suffix_length = strlen(suffix);
    _cleanup_free_ char *stem = NULL;
    struct strbuf out = STRBUF_INIT;

    if (length <= suffix_length || strcmp(slice + length - suffix_length, suffix) != 0)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid systemd cgroup parent \"%s\": expected a name ending in .slice",
                         slice);
    if (strcmp(slice, "-.slice") == 0) {
        *path = xstrdup("");
        return 0;
    }
    stem = xstrndup(slice, length - suffix_length);
    if (stem[0] == '-' || stem[strlen(stem) - 1] == '-' || strstr(stem, "--") != NULL)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid systemd cgroup parent \"%s\": empty part in the slice name",
                         slice);
    for (const char *dash = strchr(stem, '-');; dash = strchr(dash + 1, '-')) {
        size_t prefix = dash ? (size_t)(dash - stem) : strlen(stem);

        if (out.length > 0)
            strbuf_append_char(&out, '/');
        strbuf_append(&out, stem, prefix);
        strbuf_append_str(&out, suffix);
        if (dash == NULL)
            break;
    }
    *path = strbuf_steal(&out);
    return 0;
}

/* Returns true when every component of a normalized path names a slice. */
static bool all_slices(const char *path)
{
    static const char suffix[] = ".slice";

    for (const char *part = path; *part != '\0';) {
        const char *end = strchrnul(part, '/');

        if ((size_t)(end - part) <= strlen(suffix) ||
            strncmp(end - strlen(suffix), suffix, strlen(suffix)) != 0)
            return false;
        part = *end == '/' ? end + 1 : end;
    }
    return true;
}

int cgroup_path_from_parent(enum job_cgroup_driver driver, const char *parent, char **path,
                            struct error *err)
{
    if (driver == JOB_CGROUP_DRIVER_SYSTEMD && strchr(parent, '/') == NULL)
        return expand_slice(parent, path, err);
    if (normalize_cgroupfs(parent, path, err) < 0)
        return -1;
    /* A systemd driver given a cgroupfs path means the kubelet and hostcri disagree. */
    if (driver == JOB_CGROUP_DRIVER_SYSTEMD && !all_slices(*path)) {
        free(*path);
        *path = NULL;
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid systemd cgroup parent \"%s\": expected a slice name such as "
                         "kubepods-besteffort.slice; a cgroupfs path means that the kubelet "
                         "uses the cgroupfs driver: set hostcri's cgroup_driver to the "
                         "kubelet's cgroupDriver",
                         parent);
    }
    return 0;
}

char *cgroup_container_path(enum job_cgroup_driver driver, const char *pod_path, const char *id)
{
    const char *separator = str_empty(pod_path) ? "" : "/";

    if (driver == JOB_CGROUP_DRIVER_SYSTEMD)
        return xasprintf("%s%shostcri-%s.scope", pod_path, separator, id);
    return xasprintf("%s%s%s", pod_path, separator, id);
}
