/*
 * A user's default environment, from userenv.dll. The DLL is loaded when first needed, so the
 * programs import only the DLLs every process maps and a missing function is an error.
 */
#include "runtime/windows/winenv_windows.h"

#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include <userenv.h>

#include "common/error_windows.h"
#include "common/text_windows.h"
#include "common/util.h"
#include "runtime/windows/winenv.h"

struct userenv_api {
    bool loaded;
    __typeof__(&CreateEnvironmentBlock) create;
    __typeof__(&DestroyEnvironmentBlock) destroy;
};

static struct userenv_api userenv;

static int load_userenv(struct error *err)
{
    HMODULE module;

    if (userenv.loaded)
        return 0;
    module = LoadLibraryW(L"userenv.dll");
    if (module == NULL)
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "load userenv.dll");
    userenv.create = (__typeof__(userenv.create))(void (*)(void))GetProcAddress(
        module, "CreateEnvironmentBlock");
    userenv.destroy = (__typeof__(userenv.destroy))(void (*)(void))GetProcAddress(
        module, "DestroyEnvironmentBlock");
    if (userenv.create == NULL || userenv.destroy == NULL)
        return error_set(err, ERROR_INTERNAL, "userenv.dll lacks CreateEnvironmentBlock");
    userenv.loaded = true;
    return 0;
}

/* Copies the strings of a Unicode environment block into a NULL-terminated UTF-8 vector. */
static int block_to_strv(const wchar_t *block, char ***out, struct error *err)
{
    size_t count = 0;
    size_t capacity = 16;
    char **env = xcalloc(capacity, sizeof(*env));

    for (const wchar_t *p = block; *p; p += wcslen(p) + 1) {
        char *entry = text_windows_wide_to_utf8(p);

        if (entry == NULL) {
            strv_free(env);
            return error_set(err, ERROR_INTERNAL, "the user's default environment is not UTF-16");
        }
        if (count + 1 == capacity) {
            capacity *= 2;
            env = xrealloc(env, capacity * sizeof(*env));
        }
        env[count++] = entry;
        env[count] = NULL;
    }
    *out = env;
    return 0;
}

/* Reads the default environment of token, or of the caller's own token when token is NULL. */
static int default_environment(HANDLE token, char ***out, struct error *err)
{
    HANDLE own = NULL;
    void *block = NULL;
    int rc;

    if (load_userenv(err) < 0)
        return -1;
    if (token == NULL) {
        if (!OpenProcessToken(GetCurrentProcess(),
                              TOKEN_QUERY | TOKEN_DUPLICATE | TOKEN_IMPERSONATE, &own))
            return error_set_windows(err, ERROR_INTERNAL, GetLastError(),
                                     "open the process token for its default environment");
        token = own;
    }
    if (!userenv.create(&block, token, FALSE)) {
        rc = error_set_windows(err, ERROR_INTERNAL, GetLastError(),
                               "read the user's default environment (CreateEnvironmentBlock)");
    } else {
        rc = block_to_strv(block, out, err);
        userenv.destroy(block);
    }
    if (own != NULL)
        CloseHandle(own);
    return rc;
}

/* The Windows directory, from the caller's environment. */
static const char *system_root(void)
{
    const char *value = getenv("SystemRoot");

    return value == NULL || value[0] == '\0' ? "C:\\Windows" : value;
}

int winenv_windows_build(HANDLE token, const char *const *container_env, char ***env,
                         struct error *err)
{
    _cleanup_strv_ char **user_env = NULL;

    if (default_environment(token, &user_env, err) < 0)
        return -1;
    *env = winenv_merge((const char *const *)user_env, container_env, system_root());
    return 0;
}
