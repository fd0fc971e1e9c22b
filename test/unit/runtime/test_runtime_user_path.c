/*
 * Unit tests of the PATH of a Windows container that sets none: the core leaves PATH out
 * (spec_hostprocess_finish_env without a default), and the job backend extends the Path of the
 * user's default environment (winenv_merge, whose user_env stands for CreateEnvironmentBlock).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "runtime/spec.h"
#include "runtime/spec_hostprocess.h"
#include "runtime/windows/winenv.h"

#define ROOTFS "C:\\hpc\\0123"
#define SUFFIX                                                                                     \
    ROOTFS "\\;C:\\WINDOWS\\System32\\WindowsPowerShell\\v1.0\\;C:\\WINDOWS\\System32\\Wbem"

/* Finishes a container environment of entries as the core does, without a default PATH. */
static char **finished_env(const char *const *entries)
{
    char **env = spec_strv_copy((char *const *)entries, strv_length((char *const *)entries));

    spec_hostprocess_finish_env(&env, ROOTFS, NULL, "C:\\WINDOWS");
    return env;
}

static void extend_path_separators(void **state)
{
    _cleanup_free_ char *plain = spec_hostprocess_extend_path("C:\\a", ROOTFS "\\", "C:\\WINDOWS");
    _cleanup_free_ char *ending = spec_hostprocess_extend_path("C:\\a;", ROOTFS, "C:\\WINDOWS");
    _cleanup_free_ char *empty = spec_hostprocess_extend_path("", ROOTFS, "C:\\WINDOWS");

    (void)state;
    assert_string_equal(plain, "C:\\a;" SUFFIX);
    assert_string_equal(ending, "C:\\a;" SUFFIX);
    assert_string_equal(empty, SUFFIX);
}

static void core_leaves_path_unset(void **state)
{
    static const char *const entries[] = {"A=1", NULL};
    _cleanup_strv_ char **env = finished_env(entries);

    (void)state;
    assert_null(spec_env_get(env, "PATH"));
    assert_string_equal(spec_env_get(env, SPEC_MOUNT_POINT_VARIABLE), ROOTFS "\\");
}

static void user_path_is_extended(void **state)
{
    static const char *const entries[] = {"A=1", NULL};
    const char *user[] = {"ALLUSERSPROFILE=C:\\ProgramData",
                          "Path=C:\\WINDOWS\\system32;C:\\WINDOWS;C:\\Users\\a\\bin", "B=2", NULL};
    _cleanup_strv_ char **container = finished_env(entries);
    _cleanup_strv_ char **env = winenv_merge(user, (const char *const *)container, "C:\\WINDOWS");

    (void)state;
    assert_string_equal(env[0], "ALLUSERSPROFILE=C:\\ProgramData");
    assert_string_equal(env[1], "Path=C:\\WINDOWS\\system32;C:\\WINDOWS;C:\\Users\\a\\bin;" SUFFIX);
    assert_string_equal(env[2], "B=2");
}

static void no_user_path_gives_suffix(void **state)
{
    static const char *const entries[] = {"A=1", NULL};
    const char *user[] = {"TEMP=C:\\Temp", NULL};
    _cleanup_strv_ char **container = finished_env(entries);
    _cleanup_strv_ char **env = winenv_merge(user, (const char *const *)container, "C:\\WINDOWS");
    size_t paths = 0;

    (void)state;
    for (size_t i = 0; env[i]; i++) {
        if (strncmp(env[i], "PATH=", 5) == 0) {
            assert_string_equal(env[i], "PATH=" SUFFIX);
            paths++;
        }
    }
    assert_int_equal(paths, 1);
}

static void container_path_replaces_user_path(void **state)
{
    static const char *const entries[] = {"path=C:\\tools", NULL};
    const char *user[] = {"Path=C:\\WINDOWS\\system32", NULL};
    _cleanup_strv_ char **container = finished_env(entries);
    _cleanup_strv_ char **env = winenv_merge(user, (const char *const *)container, "C:\\WINDOWS");

    (void)state;
    assert_string_equal(env[0], "path=C:\\tools;" SUFFIX);
}

/* Without CONTAINER_SANDBOX_MOUNT_POINT the environment is no container's: Path stays. */
static void plain_process_keeps_user_path(void **state)
{
    const char *user[] = {"Path=C:\\WINDOWS\\system32", NULL};
    const char *container[] = {"A=1", NULL};
    _cleanup_strv_ char **env = winenv_merge(user, container, "C:\\WINDOWS");

    (void)state;
    assert_string_equal(env[0], "Path=C:\\WINDOWS\\system32");
    assert_string_equal(env[1], "A=1");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(extend_path_separators),
        cmocka_unit_test(core_leaves_path_unset),
        cmocka_unit_test(user_path_is_extended),
        cmocka_unit_test(no_user_path_gives_suffix),
        cmocka_unit_test(container_path_replaces_user_path),
        cmocka_unit_test(plain_process_keeps_user_path),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
