#ifndef HOSTCRI_RUNTIME_LINUX_USERDB_H
#define HOSTCRI_RUNTIME_LINUX_USERDB_H

/*
 * User and group lookup by reading passwd and group files directly, as container runtimes do
 * for a container's /etc. The monitor uses it instead of getpwnam and getgrouplist, which go
 * through NSS and cannot load its modules in the statically linked monitor.
 * NOTE: users that exist only in other NSS sources (LDAP, systemd-userdb) are not found.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "common/error.h"

/*
 * Finds name in passwd_path ("name:x:uid:gid:...") and sets *uid and *gid. ERROR_NOT_FOUND
 * when no line has that name, ERROR_INTERNAL when the file cannot be read.
 */
int userdb_find_user(const char *passwd_path, const char *name, uid_t *uid, gid_t *gid,
                     struct error *err);

/*
 * Stores primary and then every group of group_path whose member list names user into
 * groups (at most max entries, duplicates skipped). Returns the count; a missing file gives
 * just the primary group.
 */
size_t userdb_user_groups(const char *group_path, const char *user, gid_t primary, gid_t *groups,
                          size_t max);

/*
 * Finds the first line of passwd_path with uid, and stores its user name in *name (caller
 * frees) and its primary group in *gid. Returns 0, or -1 when no line has that uid or the
 * file cannot be read.
 */
int userdb_find_uid(const char *passwd_path, uid_t uid, char **name, gid_t *gid);

/* The user and groups of a process to start, before the supplemental groups are computed. */
struct userdb_request {
    const char *name;       /* the user's passwd name, or NULL when it has no passwd line */
    gid_t gid;              /* the primary group the process runs with */
    bool strict;            /* SupplementalGroupsPolicy Strict: no groups from group_path */
    const uint32_t *groups; /* the request's supplemental groups */
    size_t n_groups;
};

/*
 * Stores the supplemental groups of request into groups (at most max, duplicates skipped) and
 * returns the count: the primary group first, then, unless request->strict, every group of
 * group_path whose member list names the user, then the request's groups. containerd computes
 * the same set for the SupplementalGroupsPolicy values Merge and Strict (WithAdditionalGIDs and
 * ensureAdditionalGids in pkg/oci/spec_opts.go).
 */
size_t userdb_supplemental_groups(const char *group_path, const struct userdb_request *request,
                                  gid_t *groups, size_t max);

#endif
