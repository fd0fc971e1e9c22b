/*
 * Unit tests of the Windows HostProcess rules (runtime/spec_hostprocess.c and the Windows pod
 * rule of runtime/sandbox_rules.c). They are pure string functions, so they run on Linux.
 */

#include <ctype.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "runtime/sandbox_rules.h"
#include "runtime/spec.h"
#include "runtime/spec_hostprocess.h"

#define ROOTFS "C:\\hpc\\0123abcd"

static void rootfs_dir_joins_root_and_id(void **state)
{
    _cleanup_free_ char *plain = spec_hostprocess_rootfs_dir("C:\\hpc", "0123abcd");
    _cleanup_free_ char *trailing = spec_hostprocess_rootfs_dir("D:\\roots\\\\", "0123abcd");

    assert_string_equal(plain, ROOTFS);
    assert_string_equal(trailing, "D:\\roots\\0123abcd");
}

static void named_pipe_detection(void **state)
{
    assert_true(spec_hostprocess_is_named_pipe("\\\\.\\pipe\\docker_engine"));
    assert_true(spec_hostprocess_is_named_pipe("//./pipe/docker_engine"));
    assert_true(spec_hostprocess_is_named_pipe("\\\\.\\PIPE\\x"));
    assert_false(spec_hostprocess_is_named_pipe("\\\\.\\pipe"));
    assert_false(spec_hostprocess_is_named_pipe("C:\\pipe\\x"));
    assert_false(spec_hostprocess_is_named_pipe("\\\\server\\pipe\\x"));
    assert_false(spec_hostprocess_is_named_pipe(""));
}

static void mount_destination_rules(void **state)
{
    static const struct {
        const char *path;
        int rc;
    } cases[] = {
        {"C:\\data", 0},   {"c:/var/run/secrets", 0},
        {"\\data", 0},     {"/etc/config", 0},
        {"C:", -1},        {"c:", -1},
        {"data", -1},      {"C:data", -1},
        {"D:\\logs\\", 0},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_error_ struct error err = ERROR_INIT;

        print_message("case: %s\n", cases[i].path);
        assert_int_equal(spec_hostprocess_check_mount_destination(cases[i].path, &err),
                         cases[i].rc);
        if (cases[i].rc < 0)
            assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    }
}

static void mount_link_under_rootfs(void **state)
{
    static const struct {
        const char *container_path;
        const char *expected;
    } cases[] = {
        {"C:\\var\\run\\secrets", ROOTFS "\\var\\run\\secrets"},
        {"/etc/config", ROOTFS "\\etc\\config"},
        {"c:/var/run//x\\", ROOTFS "\\var\\run\\x"},
        {"\\data", ROOTFS "\\data"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_free_ char *link = spec_hostprocess_mount_link(ROOTFS, cases[i].container_path);

        assert_string_equal(link, cases[i].expected);
    }
}

static char **env_of(const char *const *entries)
{
    return spec_strv_copy((char *const *)entries, strv_length((char *const *)entries));
}

static void env_path_appends_rootfs_and_system_dirs(void **state)
{
    static const char *const entries[] = {"Path=C:\\Windows\\system32;C:\\Windows", NULL};
    _cleanup_strv_ char **env = env_of(entries);

    spec_hostprocess_finish_env(&env, ROOTFS, "C:\\default", "C:\\WINDOWS");
    assert_string_equal(env[0], "Path=C:\\Windows\\system32;C:\\Windows;" ROOTFS
                                "\\;C:\\WINDOWS\\System32\\WindowsPowerShell\\v1.0\\;"
                                "C:\\WINDOWS\\System32\\Wbem");
}

static void env_path_default_and_trailing_semicolon(void **state)
{
    static const char *const with_semicolon[] = {"PATH=C:\\tools;", NULL};
    _cleanup_strv_ char **env = NULL;
    _cleanup_strv_ char **env2 = env_of(with_semicolon);

    spec_hostprocess_finish_env(&env, ROOTFS, "C:\\default", "C:\\Windows");
    assert_string_equal(spec_env_get(env, "PATH"),
                        "C:\\default;" ROOTFS "\\;C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\;"
                        "C:\\Windows\\System32\\Wbem");
    spec_hostprocess_finish_env(&env2, ROOTFS, "C:\\default", "C:\\Windows");
    assert_string_equal(spec_env_get(env2, "PATH"),
                        "C:\\tools;" ROOTFS "\\;C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\;"
                        "C:\\Windows\\System32\\Wbem");
}

static void env_mount_point_pathext_systemroot(void **state)
{
    static const char *const entries[] = {"EMPTY=", "KEEP=1", "PathExt=.EXE", NULL};
    _cleanup_strv_ char **env = env_of(entries);

    spec_hostprocess_finish_env(&env, ROOTFS "\\", "C:\\default", "C:\\Windows");
    assert_null(spec_env_get(env, "EMPTY"));
    assert_string_equal(spec_env_get(env, "KEEP"), "1");
    assert_string_equal(env[1], "PathExt=.EXE");
    assert_string_equal(spec_env_get(env, "SYSTEMROOT"), "C:\\Windows");
    assert_string_equal(spec_env_get(env, SPEC_MOUNT_POINT_VARIABLE), ROOTFS "\\");
}

static void env_pathext_default(void **state)
{
    _cleanup_strv_ char **env = NULL;

    spec_hostprocess_finish_env(&env, ROOTFS, "", "C:\\Windows");
    assert_string_equal(spec_env_get(env, "PATHEXT"), ".COM;.EXE;.BAT;.CMD;");
    assert_string_equal(spec_env_get(env, "PATH"),
                        ROOTFS "\\;C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\;"
                               "C:\\Windows\\System32\\Wbem");
}

static void substitution_forms_on_windows_paths(void **state)
{
    static const struct {
        const char *text;
        const char *expected;
    } cases[] = {
        {"%CONTAINER_SANDBOX_MOUNT_POINT%\\bin\\x.exe", ROOTFS "\\bin\\x.exe"},
        {"$env:CONTAINER_SANDBOX_MOUNT_POINT\\tools", ROOTFS "\\tools"},
        {"%CONTAINER_SANDBOX_MOUNT_POINT%/bin/x.exe", ROOTFS "/bin/x.exe"},
        {"cmd /c %CONTAINER_SANDBOX_MOUNT_POINT%\\a.bat", "cmd /c " ROOTFS "\\a.bat"},
        {"$env:CONTAINER_SANDBOX_MOUNT_POINTX", "$env:CONTAINER_SANDBOX_MOUNT_POINTX"},
        {"%CONTAINER_SANDBOX_MOUNT_POINT", "%CONTAINER_SANDBOX_MOUNT_POINT"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        /* The mount point's trailing backslash is dropped before the substitution. */
        _cleanup_free_ char *out = spec_substitute_mount_point(cases[i].text, ROOTFS "\\");

        assert_string_equal(out, cases[i].expected);
    }
}

/* Compares two Windows paths as the file system does: without case, either slash. */
static bool same_path(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        char x = *a == '/' ? '\\' : (char)tolower((unsigned char)*a);
        char y = *b == '/' ? '\\' : (char)tolower((unsigned char)*b);

        if (x != y)
            return false;
    }
    return *a == *b;
}

/* A fake file system in which the paths listed in data are the regular files. */
static bool fake_is_file(const char *path, void *data)
{
    const char *const *files = data;

    for (size_t i = 0; files[i]; i++) {
        if (same_path(files[i], path))
            return true;
    }
    return false;
}

static const char *const fake_files[] = {
    "C:\\Windows\\System32\\cmd.exe",  "C:\\tools\\agnhost",
    ROOTFS "\\bin\\uname.exe",         ROOTFS "\\work\\run.bat",
    "C:\\Program Files\\app\\app.exe", NULL,
};

static int find(const char *program, const char *working_dir, char **found, struct error *err)
{
    static const char *const entries[] = {"PATH=C:\\tools;C:\\Windows\\System32", NULL};
    _cleanup_strv_ char **env = env_of(entries);

    return spec_hostprocess_find_program(program, working_dir, ROOTFS, env, "C:\\Windows",
                                         fake_is_file, (void *)fake_files, found, err);
}

static void find_program_table(void **state)
{
    static const struct {
        const char *program;
        const char *working_dir;
        const char *expected;
    } cases[] = {
        {"cmd", ROOTFS, "C:\\Windows\\System32\\cmd.EXE"},
        {"CMD.EXE", ROOTFS, "C:\\Windows\\System32\\CMD.EXE"},
        {"agnhost", ROOTFS, "C:\\tools\\agnhost"},
        {"bin\\uname.exe", ROOTFS, ROOTFS "\\bin\\uname.exe"},
        {"bin/uname", "C:\\Windows", ROOTFS "\\bin/uname.EXE"},
        {"run", ROOTFS "\\work", ROOTFS "\\work\\run.BAT"},
        {"C:\\Program Files\\app\\app", ROOTFS, "C:\\Program Files\\app\\app.EXE"},
        {ROOTFS "\\bin\\uname.exe", "C:\\", ROOTFS "\\bin\\uname.exe"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_free_ char *found = NULL;
        _cleanup_error_ struct error err = ERROR_INIT;

        print_message("case: %s in %s\n", cases[i].program, cases[i].working_dir);
        assert_int_equal(find(cases[i].program, cases[i].working_dir, &found, &err), 0);
        assert_string_equal(found, cases[i].expected);
    }
}

static void find_program_missing(void **state)
{
    _cleanup_free_ char *found = NULL;
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(find("foobar.exe", ROOTFS, &found, &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
    assert_non_null(strstr(err.message, "foobar.exe"));
    assert_non_null(strstr(err.message, "C:\\tools"));
    assert_null(found);
    error_clear(&err);
    assert_int_equal(find("C:\\missing\\x.exe", ROOTFS, &found, &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
    error_clear(&err);
    assert_int_equal(find("", ROOTFS, &found, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
}

static void windows_pod_needs_host_process(void **state)
{
    Runtime__V1__PodSandboxMetadata metadata = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
    Runtime__V1__PodSandboxConfig config = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
    Runtime__V1__WindowsPodSandboxConfig windows = RUNTIME__V1__WINDOWS_POD_SANDBOX_CONFIG__INIT;
    Runtime__V1__WindowsSandboxSecurityContext sc =
        RUNTIME__V1__WINDOWS_SANDBOX_SECURITY_CONTEXT__INIT;
    _cleanup_error_ struct error err = ERROR_INIT;

    metadata.name = "web";
    metadata.namespace_ = "default";
    config.metadata = &metadata;
    assert_int_equal(sandbox_rules_check_windows_host_process(&config, &err), -1);
    assert_int_equal(err.code, ERROR_FAILED_PRECONDITION);
    assert_non_null(strstr(err.message, "default/web"));
    assert_non_null(strstr(err.message, "hostProcess: true"));
    error_clear(&err);

    config.windows = &windows;
    windows.security_context = &sc;
    assert_int_equal(sandbox_rules_check_windows_host_process(&config, &err), -1);
    error_clear(&err);
    sc.host_process = true;
    assert_int_equal(sandbox_rules_check_windows_host_process(&config, &err), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rootfs_dir_joins_root_and_id),
        cmocka_unit_test(named_pipe_detection),
        cmocka_unit_test(mount_destination_rules),
        cmocka_unit_test(mount_link_under_rootfs),
        cmocka_unit_test(env_path_appends_rootfs_and_system_dirs),
        cmocka_unit_test(env_path_default_and_trailing_semicolon),
        cmocka_unit_test(env_mount_point_pathext_systemroot),
        cmocka_unit_test(env_pathext_default),
        cmocka_unit_test(substitution_forms_on_windows_paths),
        cmocka_unit_test(find_program_table),
        cmocka_unit_test(find_program_missing),
        cmocka_unit_test(windows_pod_needs_host_process),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
