/*
 * The Windows account operations behind winuser.c. netapi32 is loaded when first needed, so
 * the programs import only the DLLs every process maps and a missing function is an error.
 */
#include "runtime/windows/winuser_windows.h"

#include <stdlib.h>
#include <string.h>

#include <bcrypt.h>
#include <lm.h>
#include <sddl.h>

#include "common/error_windows.h"
#include "common/text_windows.h"
#include "common/util.h"
#include "runtime/windows/winmon_files.h"

struct netapi {
    bool loaded;
    __typeof__(&NetLocalGroupGetInfo) local_group_get_info;
    __typeof__(&NetUserAdd) user_add;
    __typeof__(&NetLocalGroupAddMembers) local_group_add_members;
    __typeof__(&NetUserDel) user_del;
    __typeof__(&NetApiBufferFree) buffer_free;
};

static struct netapi netapi;

static int load_netapi(struct error *err)
{
    HMODULE module;

    if (netapi.loaded)
        return 0;
    module = LoadLibraryW(L"netapi32.dll");
    if (module == NULL)
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "load netapi32.dll");
#define LOAD(field, name)                                                                          \
    netapi.field = (__typeof__(netapi.field))(void (*)(void))GetProcAddress(module, name)
    LOAD(local_group_get_info, "NetLocalGroupGetInfo");
    LOAD(user_add, "NetUserAdd");
    LOAD(local_group_add_members, "NetLocalGroupAddMembers");
    LOAD(user_del, "NetUserDel");
    LOAD(buffer_free, "NetApiBufferFree");
#undef LOAD
    if (!netapi.local_group_get_info || !netapi.user_add || !netapi.local_group_add_members ||
        !netapi.user_del || !netapi.buffer_free)
        return error_set(err, ERROR_INTERNAL, "netapi32.dll lacks the local account functions");
    netapi.loaded = true;
    return 0;
}

/* Converts name; returns NULL with err set for text that is not UTF-8. */
static wchar_t *wide_name(const char *name, struct error *err)
{
    wchar_t *wide = text_windows_utf8_to_wide(name);

    if (wide == NULL)
        error_set(err, ERROR_INVALID_ARGUMENT, "account name %s is not UTF-8", name);
    return wide;
}

static int group_exists(void *data, const char *name, bool *exists, struct error *err)
{
    _cleanup_free_ wchar_t *wide = NULL;
    LPBYTE info = NULL;
    NET_API_STATUS status;

    (void)data;
    *exists = false;
    if (load_netapi(err) < 0 || (wide = wide_name(name, err)) == NULL)
        return -1;
    status = netapi.local_group_get_info(NULL, wide, 0, &info);
    if (info != NULL)
        netapi.buffer_free(info);
    if (status == NERR_Success)
        *exists = true;
    else if (status != NERR_GroupNotFound && status != ERROR_NO_SUCH_ALIAS)
        return error_set_windows(err, ERROR_INTERNAL, status, "NetLocalGroupGetInfo %s", name);
    return 0;
}

static int user_add(void *data, const char *user, const char *password, struct error *err)
{
    _cleanup_free_ wchar_t *wide_user = NULL;
    _cleanup_free_ wchar_t *wide_password = NULL;
    USER_INFO_1 info = {0};
    NET_API_STATUS status;

    (void)data;
    if (load_netapi(err) < 0 || (wide_user = wide_name(user, err)) == NULL ||
        (wide_password = wide_name(password, err)) == NULL)
        return -1;
    info.usri1_name = wide_user;
    info.usri1_password = wide_password;
    info.usri1_priv = USER_PRIV_USER;
    info.usri1_flags = UF_SCRIPT | UF_NORMAL_ACCOUNT | UF_DONT_EXPIRE_PASSWD;
    status = netapi.user_add(NULL, 1, (LPBYTE)&info, NULL);
    SecureZeroMemory(wide_password, wcslen(wide_password) * sizeof(wchar_t));
    if (status != NERR_Success)
        return error_set_windows(err, ERROR_INTERNAL, status, "NetUserAdd %s", user);
    return 0;
}

static int group_add_member(void *data, const char *group, const char *user, struct error *err)
{
    _cleanup_free_ wchar_t *wide_group = NULL;
    _cleanup_free_ wchar_t *wide_user = NULL;
    LOCALGROUP_MEMBERS_INFO_3 member;
    NET_API_STATUS status;

    (void)data;
    if (load_netapi(err) < 0 || (wide_group = wide_name(group, err)) == NULL ||
        (wide_user = wide_name(user, err)) == NULL)
        return -1;
    member.lgrmi3_domainandname = wide_user;
    status = netapi.local_group_add_members(NULL, wide_group, 3, (LPBYTE)&member, 1);
    if (status != NERR_Success)
        return error_set_windows(err, ERROR_INTERNAL, status, "add %s to local group %s", user,
                                 group);
    return 0;
}

static int user_delete(void *data, const char *user, struct error *err)
{
    _cleanup_free_ wchar_t *wide = NULL;
    NET_API_STATUS status;

    (void)data;
    if (load_netapi(err) < 0 || (wide = wide_name(user, err)) == NULL)
        return -1;
    status = netapi.user_del(NULL, wide);
    if (status != NERR_Success && status != NERR_UserNotFound)
        return error_set_windows(err, ERROR_INTERNAL, status, "NetUserDel %s", user);
    return 0;
}

static int logon(void *data, const char *user, const char *domain, const char *password,
                 bool service, void **token, struct error *err)
{
    _cleanup_free_ wchar_t *wide_user = NULL;
    _cleanup_free_ wchar_t *wide_domain = NULL;
    _cleanup_free_ wchar_t *wide_password = NULL;
    HANDLE handle = NULL;

    (void)data;
    if ((wide_user = wide_name(user, err)) == NULL ||
        (wide_domain = wide_name(domain, err)) == NULL ||
        (password && (wide_password = wide_name(password, err)) == NULL))
        return -1;
    if (!LogonUserW(wide_user, wide_domain, wide_password,
                    service ? LOGON32_LOGON_SERVICE : LOGON32_LOGON_INTERACTIVE,
                    LOGON32_PROVIDER_DEFAULT, &handle))
        return error_set_windows(err, ERROR_PERMISSION_DENIED, GetLastError(), "LogonUserW");
    if (wide_password)
        SecureZeroMemory(wide_password, wcslen(wide_password) * sizeof(wchar_t));
    *token = handle;
    return 0;
}

static int sid_string(PSID sid, char **out, struct error *err)
{
    char *text = NULL;

    if (!ConvertSidToStringSidA(sid, &text))
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "ConvertSidToStringSidA");
    *out = xstrdup(text);
    LocalFree(text);
    return 0;
}

static int token_sid(void *data, void *token, char **sid, struct error *err)
{
    DWORD size = 0;
    _cleanup_free_ TOKEN_USER *user = NULL;

    (void)data;
    GetTokenInformation(token, TokenUser, NULL, 0, &size);
    if (size == 0)
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "read the token's user");
    user = xmalloc(size);
    if (!GetTokenInformation(token, TokenUser, user, size, &size))
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "read the token's user");
    return sid_string(user->User.Sid, sid, err);
}

static int account_sid(void *data, const char *name, char **sid, struct error *err)
{
    _cleanup_free_ wchar_t *wide = NULL;
    _cleanup_free_ void *buffer = NULL;
    wchar_t domain[256];
    DWORD size = 0;
    DWORD domain_size = ARRAY_SIZE(domain);
    SID_NAME_USE use;

    (void)data;
    if ((wide = wide_name(name, err)) == NULL)
        return -1;
    LookupAccountNameW(NULL, wide, NULL, &size, domain, &domain_size, &use);
    if (size == 0)
        return error_set_windows(err, ERROR_NOT_FOUND, GetLastError(), "look up account %s", name);
    buffer = xmalloc(size);
    domain_size = ARRAY_SIZE(domain);
    if (!LookupAccountNameW(NULL, wide, buffer, &size, domain, &domain_size, &use))
        return error_set_windows(err, ERROR_NOT_FOUND, GetLastError(), "look up account %s", name);
    return sid_string(buffer, sid, err);
}

static void token_close(void *data, void *token)
{
    (void)data;
    CloseHandle(token);
}

/* A password that meets the default complexity rules: every character class, then random. */
static int random_password(void *data, char *password, size_t size, struct error *err)
{
    static const char alphabet[] = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789-_.!";
    unsigned char random[64];
    NTSTATUS status;

    (void)data;
    if (size < 8 || size > sizeof(random))
        return error_set(err, ERROR_INTERNAL, "invalid password size %zu", size);
    status = BCryptGenRandom(NULL, random, (ULONG)size, BCRYPT_USE_SYSTEM_PREFERRED_RNG);
    if (!BCRYPT_SUCCESS(status))
        return error_set(err, ERROR_INTERNAL, "BCryptGenRandom failed with status 0x%lx",
                         (unsigned long)status);
    memcpy(password, "Aa1!", 4);
    for (size_t i = 4; i < size - 1; i++)
        password[i] = alphabet[random[i] % (sizeof(alphabet) - 1)];
    password[size - 1] = '\0';
    SecureZeroMemory(random, sizeof(random));
    return 0;
}

static int record_user(void *data, const char *user, struct error *err)
{
    const char *path = data;

    if (user == NULL) {
        winmon_delete(path);
        return 0;
    }
    return winmon_write_atomic(path, user, strlen(user), err);
}

void winuser_windows_ops(struct winuser_ops *ops, const char *record_path)
{
    *ops = (struct winuser_ops){
        .data = (void *)record_path,
        .group_exists = group_exists,
        .user_add = user_add,
        .group_add_member = group_add_member,
        .user_delete = user_delete,
        .logon = logon,
        .token_sid = token_sid,
        .account_sid = account_sid,
        .token_close = token_close,
        .random_password = random_password,
        .record_user = record_user,
    };
}

int winuser_windows_delete_recorded(const char *record_path, struct error *err)
{
    _cleanup_strbuf_ struct strbuf user = STRBUF_INIT;
    struct winuser_ops ops;

    if (winmon_read_file(record_path, &user, err) < 0) {
        if (err != NULL && err->code == ERROR_NOT_FOUND) {
            error_clear(err);
            return 0;
        }
        return -1;
    }
    winuser_windows_ops(&ops, record_path);
    return winuser_delete_temporary(&ops, user.data ? user.data : "", err);
}
