#include "runtime/linux/userdb.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "runtime/linux/cgroup.h"

/* Splits line at ':' into at most max fields; returns the number found. */
static size_t split_fields(char *line, char **fields, size_t max)
{
    size_t n = 0;

    while (n < max) {
        char *colon = strchr(line, ':');

        fields[n++] = line;
        if (colon == NULL)
            break;
        *colon = '\0';
        line = colon + 1;
    }
    return n;
}

/* Reads path and splits it into lines in place; *text owns them. */
static int read_lines(const char *path, char **text, struct error *err)
{
    _cleanup_free_ char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');

    if (slash == NULL)
        return error_set(err, ERROR_INTERNAL, "invalid path %s", path);
    *slash = '\0';
    return cgroup_read_file(dir[0] ? dir : "/", slash + 1, text, err);
}

int userdb_find_user(const char *passwd_path, const char *name, uid_t *uid, gid_t *gid,
                     struct error *err)
{
    _cleanup_free_ char *text = NULL;
    char *save = NULL;

    if (read_lines(passwd_path, &text, err) < 0)
        return error_prefix(err, "look up user \"%s\"", name);
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *fields[7];

        if (line[0] == '#' || split_fields(line, fields, 7) < 4 || strcmp(fields[0], name) != 0)
            continue;
        *uid = (uid_t)strtoul(fields[2], NULL, 10);
        *gid = (gid_t)strtoul(fields[3], NULL, 10);
        return 0;
    }
    return error_set(err, ERROR_NOT_FOUND, "user \"%s\" not found in %s", name, passwd_path);
}

static bool lists_member(char *members, const char *user)
{
    char *save = NULL;

    for (char *member = strtok_r(members, ",", &save); member;
         member = strtok_r(NULL, ",", &save)) {
        if (strcmp(member, user) == 0)
            return true;
    }
    return false;
}

static void add_group(gid_t *groups, size_t *n, size_t max, gid_t group)
{
    for (size_t i = 0; i < *n; i++) {
        if (groups[i] == group)
            return;
    }
    if (*n < max)
        groups[(*n)++] = group;
}

size_t userdb_user_groups(const char *group_path, const char *user, gid_t primary, gid_t *groups,
                          size_t max)
{
    _cleanup_free_ char *text = NULL;
    char *save = NULL;
    size_t n = 0;

    add_group(groups, &n, max, primary);
    if (read_lines(group_path, &text, NULL) < 0)
        return n;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *fields[4];

        if (line[0] == '#' || split_fields(line, fields, 4) < 4)
            continue;
        if (lists_member(fields[3], user))
            add_group(groups, &n, max, (gid_t)strtoul(fields[2], NULL, 10));
    }
    return n;
}

int userdb_find_uid(const char *passwd_path, uid_t uid, char **name, gid_t *gid)
{
    _cleanup_free_ char *text = NULL;
    char *save = NULL;

    if (read_lines(passwd_path, &text, NULL) < 0)
        return -1;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char *fields[7];
        char *end;
        unsigned long value;

        if (line[0] == '#' || split_fields(line, fields, 7) < 4)
            continue;
        value = strtoul(fields[2], &end, 10);
        if (end == fields[2] || *end != '\0' || value != uid)
            continue;
        *name = xstrdup(fields[0]);
        *gid = (gid_t)strtoul(fields[3], NULL, 10);
        return 0;
    }
    return -1;
}

size_t userdb_supplemental_groups(const char *group_path, const struct userdb_request *request,
                                  gid_t *groups, size_t max)
{
    size_t n = 0;

    add_group(groups, &n, max, request->gid);
    if (!request->strict && request->name != NULL)
        n = userdb_user_groups(group_path, request->name, request->gid, groups, max);
    for (size_t i = 0; i < request->n_groups; i++)
        add_group(groups, &n, max, (gid_t)request->groups[i]);
    return n;
}
