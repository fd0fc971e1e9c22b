#ifndef HOSTCRI_RUNTIME_LINUX_USERDB_H
#define HOSTCRI_RUNTIME_LINUX_USERDB_H

/*
 * User and group lookup by reading passwd and group files directly, as container runtimes do
 * for a container's /etc. The monitor uses it instead of getpwnam and getgrouplist, which go
 * through NSS and cannot load its modules in the statically linked monitor.
 * NOTE: users that exist only in other NSS sources (LDAP, systemd-userdb) are not found.
 */

#include <stddef.h>
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

#endif
