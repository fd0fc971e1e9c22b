#ifndef HOSTCRI_RUNTIME_WINDOWS_WINUSER_H
#define HOSTCRI_RUNTIME_WINDOWS_WINUSER_H

/*
 * The user a container runs as (run_as_username), as the Windows backend chooses it:
 * - NT AUTHORITY\SYSTEM, NT AUTHORITY\LOCAL SERVICE and NT AUTHORITY\NETWORK SERVICE (any
 *   case) by a service logon without password;
 * - the name of a local group through a temporary local user that is a member of that group,
 *   named after the first 20 characters of the container id and deleted with the container;
 * - any other name fails with ERROR_NOT_FOUND.
 * A token that a logon returns is checked before use: its user must be the account that was
 * asked for.
 *
 * The logic is portable C and reaches Windows only through struct winuser_ops, so the unit
 * tests run it on Linux with fakes; winuser_windows.c holds the real operations.
 */

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

/* Longest Windows user name. */
#define WINUSER_NAME_MAX 20

/* The Windows calls behind the logic. Each fallible one returns 0 or -1 with err set. */
struct winuser_ops {
    void *data; /* passed to every operation */
    /* Sets *exists when name is a local group (NetLocalGroupGetInfo). */
    int (*group_exists)(void *data, const char *name, bool *exists, struct error *err);
    /* Creates a normal local user whose password never expires (NetUserAdd). */
    int (*user_add)(void *data, const char *user, const char *password, struct error *err);
    /* Adds user to the local group (NetLocalGroupAddMembers). */
    int (*group_add_member)(void *data, const char *group, const char *user, struct error *err);
    /* Deletes a local user; a user that does not exist is success (NetUserDel). */
    int (*user_delete)(void *data, const char *user, struct error *err);
    /* Logs on user of domain: a service logon without password when service is set, else an
     * interactive logon with password (LogonUserW). *token is owned by the caller. */
    int (*logon)(void *data, const char *user, const char *domain, const char *password,
                 bool service, void **token, struct error *err);
    /* The string SID of the token's user (GetTokenInformation); *sid owned by the caller. */
    int (*token_sid)(void *data, void *token, char **sid, struct error *err);
    /* The string SID of a local account (LookupAccountNameW); *sid owned by the caller. */
    int (*account_sid)(void *data, const char *name, char **sid, struct error *err);
    void (*token_close)(void *data, void *token);
    /* Fills password (size bytes, NUL included) with a random password. */
    int (*random_password)(void *data, char *password, size_t size, struct error *err);
    /* Records the temporary user before it is created (user NULL: removes the record). */
    int (*record_user)(void *data, const char *user, struct error *err);
};

/* A logon: the token and the temporary user made for it, if any. */
struct winuser_logon {
    void *token;          /* owned; close with ops->token_close */
    char *temporary_user; /* NULL unless a group name made a temporary user */
};

/*
 * Logs on as name for container_id. On success *logon holds the token (and the temporary user
 * for a group name). ERROR_INVALID_ARGUMENT for an empty name or more than one backslash,
 * ERROR_NOT_FOUND for a name that is neither an NT AUTHORITY service account nor a local group,
 * ERROR_PERMISSION_DENIED when a logon fails or returns a token for another account. A
 * temporary user is deleted again when a later step fails.
 */
int winuser_logon(const struct winuser_ops *ops, const char *name, const char *container_id,
                  struct winuser_logon *logon, struct error *err);

/* Closes the token of logon; the temporary user stays until winuser_delete_temporary. */
void winuser_logon_clear(const struct winuser_ops *ops, struct winuser_logon *logon);

/* Deletes the temporary user and its record. A user already gone is success. */
int winuser_delete_temporary(const struct winuser_ops *ops, const char *user, struct error *err);

/* The temporary user name for container_id: its first WINUSER_NAME_MAX characters. Returns
 * a new string. */
char *winuser_temporary_name(const char *container_id);

#endif
