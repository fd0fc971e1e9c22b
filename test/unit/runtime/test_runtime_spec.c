/* Unit tests of runtime/spec.c: command merge, environment, substitution, working directory. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "runtime/spec.h"

static char *entrypoint[] = {"/entry", "--flag", NULL};
static char *cmd[] = {"default-arg", NULL};
static char *command[] = {"/bin/run"};
static char *args[] = {"a1", "a2"};

static void assert_strv_equal(char **actual, const char *const *expected)
{
    size_t i = 0;

    for (; expected[i]; i++) {
        assert_non_null(actual[i]);
        assert_string_equal(actual[i], expected[i]);
    }
    assert_null(actual[i]);
}

static void merge_table(void **state)
{
    static const struct {
        const char *name;
        char **entrypoint;
        char **cmd;
        size_t n_command;
        size_t n_args;
        const char *expected[6];
    } cases[] = {
        {"command replaces entrypoint and cmd", entrypoint, cmd, 1, 0, {"/bin/run", NULL}},
        {"command and args", entrypoint, cmd, 1, 2, {"/bin/run", "a1", "a2", NULL}},
        {"args after entrypoint", entrypoint, cmd, 0, 2, {"/entry", "--flag", "a1", "a2", NULL}},
        {"entrypoint and cmd", entrypoint, cmd, 0, 0, {"/entry", "--flag", "default-arg", NULL}},
        {"cmd alone", NULL, cmd, 0, 0, {"default-arg", NULL}},
        {"args without entrypoint", NULL, cmd, 0, 2, {"a1", "a2", NULL}},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        char **argv = NULL;
        struct error err = ERROR_INIT;

        print_message("case: %s\n", cases[i].name);
        assert_int_equal(spec_merge_command(cases[i].entrypoint, cases[i].cmd, command,
                                            cases[i].n_command, args, cases[i].n_args, &argv, &err),
                         0);
        assert_strv_equal(argv, cases[i].expected);
        strv_free(argv);
    }
}

static void merge_empty_is_error(void **state)
{
    char **argv = NULL;
    _cleanup_error_ struct error err = ERROR_INIT;
    char *empty_string[] = {"", NULL};

    assert_int_equal(spec_merge_command(NULL, NULL, NULL, 0, NULL, 0, &argv, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "no command"));
    assert_null(argv);
    error_clear(&err);
    assert_int_equal(spec_merge_command(empty_string, NULL, NULL, 0, NULL, 0, &argv, &err), -1);
}

static void env_request_wins(void **state)
{
    char *image_env[] = {"PATH=/usr/bin", "A=image", "B=keep", NULL};
    struct spec_env_entry request[] = {
        {"A", "request", 7},
        {"C", "new", 3},
        {"C", "later", 5},
        {"EMPTY", NULL, 0},
    };
    const char *expected[] = {"PATH=/usr/bin", "A=request", "B=keep", "C=later", "EMPTY=", NULL};
    _cleanup_strv_ char **env = NULL;
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(spec_merge_env(image_env, request, ARRAY_SIZE(request), &env, &err), 0);
    assert_strv_equal(env, expected);
    assert_string_equal(spec_env_get(env, "A"), "request");
    assert_null(spec_env_get(env, "MISSING"));
}

static void env_invalid_key(void **state)
{
    struct spec_env_entry bad_key[] = {{"A=B", "x", 1}};
    struct spec_env_entry empty_key[] = {{"", "x", 1}};
    struct spec_env_entry nul_value[] = {{"K", "a\0b", 3}};
    _cleanup_strv_ char **env = NULL;
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(spec_merge_env(NULL, bad_key, 1, &env, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    error_clear(&err);
    assert_int_equal(spec_merge_env(NULL, empty_key, 1, &env, &err), -1);
    error_clear(&err);
    assert_int_equal(spec_merge_env(NULL, nul_value, 1, &env, &err), -1);
    assert_null(env);
}

static void substitute_forms(void **state)
{
    static const struct {
        const char *input;
        const char *expected;
    } cases[] = {
        {"$CONTAINER_SANDBOX_MOUNT_POINT/bin/sh", "/hpc/bin/sh"},
        {"${CONTAINER_SANDBOX_MOUNT_POINT}/bin/sh", "/hpc/bin/sh"},
        {"%CONTAINER_SANDBOX_MOUNT_POINT%/x", "/hpc/x"},
        {"$env:CONTAINER_SANDBOX_MOUNT_POINT/x", "/hpc/x"},
        {"a=$CONTAINER_SANDBOX_MOUNT_POINT:b=$CONTAINER_SANDBOX_MOUNT_POINT", "a=/hpc:b=/hpc"},
        {"$CONTAINER_SANDBOX_MOUNT_POINTX", "$CONTAINER_SANDBOX_MOUNT_POINTX"},
        {"$CONTAINER_SANDBOX", "$CONTAINER_SANDBOX"},
        {"no variable", "no variable"},
        {"", ""},
        {"$", "$"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_free_ char *out = spec_substitute_mount_point(cases[i].input, "/hpc/");

        assert_string_equal(out, cases[i].expected);
    }
}

static void substitute_env_values_only(void **state)
{
    char **env = spec_strv_copy((char *[]){"CONTAINER_SANDBOX_MOUNT_POINT=/hpc/",
                                           "X=${CONTAINER_SANDBOX_MOUNT_POINT}/data"},
                                2);

    spec_substitute_env(env, "/hpc/");
    assert_string_equal(env[0], "CONTAINER_SANDBOX_MOUNT_POINT=/hpc/");
    assert_string_equal(env[1], "X=/hpc/data");
    strv_free(env);
}

static void working_dir_choice(void **state)
{
    static const struct {
        const char *request;
        const char *image;
        const char *expected;
    } cases[] = {
        {NULL, NULL, "/hpc"},
        {"", "/image/dir", "/hpc/image/dir"},
        {NULL, "$CONTAINER_SANDBOX_MOUNT_POINT/x", "/hpc/x"},
        {NULL, "rel", "/hpc/rel"},
        {"/req", "/image/dir", "/req"},
        {"$CONTAINER_SANDBOX_MOUNT_POINT/work", NULL, "/hpc/work"},
        {"relative/dir", NULL, "/hpc/relative/dir"},
        {"/trailing/", NULL, "/trailing"},
        {"/", NULL, "/"},
    };

    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_free_ char *dir = spec_working_dir(cases[i].request, cases[i].image, "/hpc/");

        assert_string_equal(dir, cases[i].expected);
    }
}

static void path_extended(void **state)
{
    char **env = spec_strv_copy((char *[]){"PATH=/usr/bin:/bin"}, 1);
    char **no_path = spec_strv_copy(NULL, 0);

    spec_extend_path(&env, "/hpc/", "/default");
    assert_string_equal(spec_env_get(env, "PATH"), "/usr/bin:/bin:/hpc:/hpc/bin");
    spec_extend_path(&no_path, "/hpc", "/default");
    assert_string_equal(spec_env_get(no_path, "PATH"), "/default:/hpc:/hpc/bin");
    strv_free(env);
    strv_free(no_path);
}

static void image_user_forms(void **state)
{
    struct spec_image_user user;
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(spec_parse_image_user("", &user, &err), 0);
    assert_false(user.has_uid);
    assert_null(user.username);

    assert_int_equal(spec_parse_image_user("1000", &user, &err), 0);
    assert_true(user.has_uid);
    assert_int_equal(user.uid, 1000);
    assert_false(user.has_gid);

    assert_int_equal(spec_parse_image_user("1000:50", &user, &err), 0);
    assert_int_equal(user.gid, 50);
    assert_true(user.has_gid);

    assert_int_equal(spec_parse_image_user("nobody:65534", &user, &err), 0);
    assert_string_equal(user.username, "nobody");
    assert_false(user.has_uid);
    assert_int_equal(user.gid, 65534);
    spec_image_user_clear(&user);

    assert_int_equal(spec_parse_image_user("nobody:nogroup", &user, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "run_as_group"));
    error_clear(&err);
    assert_int_equal(spec_parse_image_user(":1", &user, &err), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(merge_table),        cmocka_unit_test(merge_empty_is_error),
        cmocka_unit_test(env_request_wins),   cmocka_unit_test(env_invalid_key),
        cmocka_unit_test(substitute_forms),   cmocka_unit_test(substitute_env_values_only),
        cmocka_unit_test(working_dir_choice), cmocka_unit_test(path_extended),
        cmocka_unit_test(image_user_forms),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
