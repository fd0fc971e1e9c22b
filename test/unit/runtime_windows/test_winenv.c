#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <string.h>

#include "common/util.h"
#include "runtime/spec_hostprocess.h"
#include "runtime/windows/winenv.h"

static void assert_env(char **env, const char *const *expected)
{
    size_t i = 0;

    for (; expected[i]; i++) {
        assert_non_null(env[i]);
        assert_string_equal(env[i], expected[i]);
    }
    assert_null(env[i]);
}

static void user_variables_come_first(void **state)
{
    const char *user[] = {"USERPROFILE=C:\\Users\\a", "TEMP=C:\\Temp", NULL};
    const char *container[] = {"FOO=bar", NULL};
    const char *expected[] = {"USERPROFILE=C:\\Users\\a", "TEMP=C:\\Temp", "FOO=bar",
                              "SYSTEMROOT=C:\\Windows", NULL};
    _cleanup_strv_ char **env = winenv_merge(user, container, "C:\\Windows");

    (void)state;
    assert_env(env, expected);
}

static void later_value_wins_at_earlier_position(void **state)
{
    const char *user[] = {"Path=C:\\user", "TEMP=C:\\Temp", "SystemRoot=C:\\WINDOWS", NULL};
    const char *container[] = {"temp=C:\\mine", "PATH=C:\\container", "X=1", "x=2", NULL};
    const char *expected[] = {"PATH=C:\\container", "temp=C:\\mine", "SystemRoot=C:\\WINDOWS",
                              "x=2", NULL};
    _cleanup_strv_ char **env = winenv_merge(user, container, "C:\\Windows");

    (void)state;
    assert_env(env, expected);
}

static void names_compare_whole(void **state)
{
    const char *container[] = {"PATH=a", "PATHEXT=.EXE", "PAT=b", NULL};
    const char *expected[] = {"PATH=a", "PATHEXT=.EXE", "PAT=b", "SYSTEMROOT=D:\\W", NULL};
    _cleanup_strv_ char **env = winenv_merge(NULL, container, "D:\\W");

    (void)state;
    assert_env(env, expected);
}

static void drive_variables_and_entries_without_equals(void **state)
{
    const char *user[] = {"=C:=C:\\x", "=D:=D:\\y", "odd", NULL};
    const char *container[] = {"=c:=C:\\z", "odd", NULL};
    const char *expected[] = {"=c:=C:\\z", "=D:=D:\\y", "odd", "odd", "SYSTEMROOT=C:\\Windows",
                              NULL};
    _cleanup_strv_ char **env = winenv_merge(user, container, "C:\\Windows");

    (void)state;
    assert_env(env, expected);
}

static void empty_parts(void **state)
{
    const char *expected[] = {"SYSTEMROOT=C:\\Windows", NULL};
    _cleanup_strv_ char **env = winenv_merge(NULL, NULL, "C:\\Windows");

    (void)state;
    assert_env(env, expected);
}

/*
 * hcsshim's Test_RunContainer_JobContainer_Environment: a container PATH of
 * "C:\Windows\system32;C:\Windows" prints, after the user's own Path,
 * "C:\Windows\system32;C:\Windows;C:\hpc\;C:\WINDOWS\System32\WindowsPowerShell\v1.0\;
 * C:\WINDOWS\System32\Wbem".
 */
static void hcsshim_path_example(void **state)
{
    const char *user[] = {"ALLUSERSPROFILE=C:\\ProgramData",
                          "Path=C:\\WINDOWS\\system32;C:\\WINDOWS;C:\\Users\\a\\bin", NULL};
    char **container = xcalloc(3, sizeof(char *));
    const char *expected[] = {
        "ALLUSERSPROFILE=C:\\ProgramData",
        "PATH=C:\\Windows\\system32;C:\\Windows;C:\\hpc\\;"
        "C:\\WINDOWS\\System32\\WindowsPowerShell\\v1.0\\;C:\\WINDOWS\\System32\\Wbem",
        "PATHEXT=.COM;.EXE;.BAT;.CMD;",
        "SYSTEMROOT=C:\\WINDOWS",
        "CONTAINER_SANDBOX_MOUNT_POINT=C:\\hpc\\",
        NULL};
    _cleanup_strv_ char **env = NULL;

    (void)state;
    container[0] = xstrdup("PATH=C:\\Windows\\system32;C:\\Windows");
    spec_hostprocess_finish_env(&container, "C:\\hpc", NULL, "C:\\WINDOWS");
    env = winenv_merge(user, (const char *const *)container, "C:\\WINDOWS");
    strv_free(container);
    assert_env(env, expected);
}

static void tty_exec_gets_xterm(void **state)
{
    const char *container[] = {"TERM=dumb", "A=1", NULL};
    const char *expected[] = {"TERM=xterm", "A=1", "SYSTEMROOT=C:\\Windows", NULL};
    _cleanup_strv_ char **exec_env = winenv_exec_env(container, true);
    _cleanup_strv_ char **plain = winenv_exec_env(container, false);
    _cleanup_strv_ char **env = winenv_merge(NULL, (const char *const *)exec_env, "C:\\Windows");
    _cleanup_strv_ char **none = winenv_exec_env(NULL, true);

    (void)state;
    assert_env(env, expected);
    assert_env(plain, container);
    assert_string_equal(none[0], WINENV_TTY_TERM);
    assert_null(none[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(user_variables_come_first),
        cmocka_unit_test(later_value_wins_at_earlier_position),
        cmocka_unit_test(names_compare_whole),
        cmocka_unit_test(drive_variables_and_entries_without_equals),
        cmocka_unit_test(empty_parts),
        cmocka_unit_test(hcsshim_path_example),
        cmocka_unit_test(tty_exec_gets_xterm),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
