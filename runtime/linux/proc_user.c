#include "runtime/linux/proc_user.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* Finds the line "<name>:" in status and returns the text after the colon, or NULL. */
static const char *find_field(const char *status, const char *name)
{
    _cleanup_free_ char *key = xasprintf("\n%s:", name);
    const char *found = strstr(status, key);

    return found ? found + strlen(key) : NULL;
}

static int read_status(int pid, char **text, struct error *err)
{
    _cleanup_free_ char *path = xasprintf("/proc/%d/status", pid);
    FILE *file = fopen(path, "re");
    size_t capacity = 0;
    ssize_t length;

    if (file == NULL)
        return error_set_errno(err, errno == ENOENT ? ERROR_NOT_FOUND : ERROR_INTERNAL, errno,
                               "open %s", path);
    /* The status file has no NUL bytes, so getdelim with '\0' reads all of it. */
    *text = NULL;
    length = getdelim(text, &capacity, '\0', file);
    fclose(file);
    if (length <= 0) {
        free(*text);
        *text = NULL;
        return error_set(err, ERROR_INTERNAL, "read %s: empty", path);
    }
    return 0;
}

int proc_user_read(int pid, struct proc_user *out, struct error *err)
{
    _cleanup_free_ char *text = NULL;
    const char *uid_line;
    const char *gid_line;
    const char *groups_line;
    unsigned long value;
    char *end;

    memset(out, 0, sizeof(*out));
    if (read_status(pid, &text, err) < 0)
        return -1;
    uid_line = find_field(text, "Uid");
    gid_line = find_field(text, "Gid");
    groups_line = find_field(text, "Groups");
    if (uid_line == NULL || gid_line == NULL || groups_line == NULL)
        return error_set(err, ERROR_INTERNAL, "/proc/%d/status has no Uid, Gid or Groups line",
                         pid);
    out->uid = (uint32_t)strtoul(uid_line, NULL, 10);
    out->gid = (uint32_t)strtoul(gid_line, NULL, 10);
    for (const char *cursor = groups_line; *cursor != '\n' && *cursor != '\0'; cursor = end) {
        value = strtoul(cursor, &end, 10);
        if (end == cursor)
            break;
        out->groups = xrealloc(out->groups, (out->n_groups + 1) * sizeof(*out->groups));
        out->groups[out->n_groups++] = (uint32_t)value;
    }
    return 0;
}
