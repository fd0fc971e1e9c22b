/* Choosing the user of a Windows container (portable logic; see winuser.h). */
#include "runtime/windows/winuser.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"

#define NT_AUTHORITY "NT AUTHORITY"
#define PASSWORD_SIZE 40

/* The service accounts of NT AUTHORITY and their well-known SIDs. */
static const struct {
    const char *name;
    const char *sid;
} service_accounts[] = {
    {"SYSTEM", "S-1-5-18"},
    {"LOCAL SERVICE", "S-1-5-19"},
    {"NETWORK SERVICE", "S-1-5-20"},
};

char *winuser_temporary_name(const char *container_id)
{
    return xstrndup(container_id, WINUSER_NAME_MAX);
}

/* Logs on and checks that the token's user has expected_sid; *token is set only on success. */
static int logon_checked(const struct winuser_ops *ops, const char *user, const char *domain,
                         const char *password, const char *expected_sid, void **token,
                         struct error *err)
{
    _cleanup_free_ char *sid = NULL;
    void *candidate = NULL;

    if (ops->logon(ops->data, user, domain, password, password == NULL, &candidate, err) < 0)
        return error_prefix(err, "log on as %s\\%s", domain, user);
    if (ops->token_sid(ops->data, candidate, &sid, err) < 0) {
        ops->token_close(ops->data, candidate);
        error_prefix(err, "check the logon token of %s\\%s", domain, user);
        err->code = ERROR_PERMISSION_DENIED;
        return -1;
    }
    if (strcasecmp(sid, expected_sid) != 0) {
        ops->token_close(ops->data, candidate);
        return error_set(err, ERROR_PERMISSION_DENIED,
                         "log on as %s\\%s: the token belongs to %s instead of %s", domain, user,
                         sid, expected_sid);
    }
    *token = candidate;
    return 0;
}

static int logon_service(const struct winuser_ops *ops, const char *name, const char *user,
                         struct winuser_logon *logon, struct error *err)
{
    for (size_t i = 0; i < ARRAY_SIZE(service_accounts); i++) {
        if (strcasecmp(user, service_accounts[i].name) == 0)
            return logon_checked(ops, service_accounts[i].name, NT_AUTHORITY, NULL,
                                 service_accounts[i].sid, &logon->token, err);
    }
    return error_set(err, ERROR_NOT_FOUND,
                     "user %s not found: the NT AUTHORITY accounts are SYSTEM, LOCAL SERVICE and "
                     "NETWORK SERVICE",
                     name);
}

/* Creates the temporary member of group, logs it on, and deletes it again on failure. */
static int logon_group(const struct winuser_ops *ops, const char *group, const char *container_id,
                       struct winuser_logon *logon, struct error *err)
{
    _cleanup_free_ char *user = winuser_temporary_name(container_id);
    _cleanup_free_ char *sid = NULL;
    char password[PASSWORD_SIZE];

    if (ops->random_password(ops->data, password, sizeof(password), err) < 0 ||
        ops->record_user(ops->data, user, err) < 0)
        return error_prefix(err, "run as local group %s", group);
    if (ops->user_add(ops->data, user, password, err) < 0) {
        ops->record_user(ops->data, NULL, NULL);
        return error_prefix(err, "create temporary user %s for local group %s", user, group);
    }
    if (ops->group_add_member(ops->data, group, user, err) < 0 ||
        ops->account_sid(ops->data, user, &sid, err) < 0 ||
        logon_checked(ops, user, ".", password, sid, &logon->token, err) < 0) {
        error_prefix(err, "run as local group %s through temporary user %s", group, user);
        winuser_delete_temporary(ops, user, NULL);
        memset(password, 0, sizeof(password));
        return -1;
    }
    memset(password, 0, sizeof(password));
    logon->temporary_user = steal_pointer(&user);
    return 0;
}

int winuser_logon(const struct winuser_ops *ops, const char *name, const char *container_id,
                  struct winuser_logon *logon, struct error *err)
{
    const char *backslash = name ? strchr(name, '\\') : NULL;
    bool is_group = false;

    memset(logon, 0, sizeof(*logon));
    if (str_empty(name))
        return error_set(err, ERROR_INVALID_ARGUMENT, "empty run_as_username");
    if (backslash != NULL) {
        if (strchr(backslash + 1, '\\') != NULL)
            return error_set(err, ERROR_INVALID_ARGUMENT,
                             "invalid run_as_username %s: more than one backslash", name);
        if ((size_t)(backslash - name) == strlen(NT_AUTHORITY) &&
            strncasecmp(name, NT_AUTHORITY, strlen(NT_AUTHORITY)) == 0)
            return logon_service(ops, name, backslash + 1, logon, err);
    } else {
        if (ops->group_exists(ops->data, name, &is_group, err) < 0)
            return error_prefix(err, "look up local group %s", name);
        if (is_group)
            return logon_group(ops, name, container_id, logon, err);
    }
    return error_set(err, ERROR_NOT_FOUND,
                     "user %s not found: Windows containers run as NT AUTHORITY\\SYSTEM, "
                     "NT AUTHORITY\\LOCAL SERVICE, NT AUTHORITY\\NETWORK SERVICE or the name of a "
                     "local group",
                     name);
}

void winuser_logon_clear(const struct winuser_ops *ops, struct winuser_logon *logon)
{
    if (logon->token != NULL)
        ops->token_close(ops->data, logon->token);
    free(logon->temporary_user);
    memset(logon, 0, sizeof(*logon));
}

int winuser_delete_temporary(const struct winuser_ops *ops, const char *user, struct error *err)
{
    if (ops->user_delete(ops->data, user, err) < 0)
        return error_prefix(err, "delete temporary user %s", user);
    return ops->record_user(ops->data, NULL, err);
}
