/*
 * Unit tests of the CRI runtime features: the recursive read-only mount rules and the
 * supplemental groups policy (runtime/spec.c), the groups each policy gives
 * (runtime/linux/userdb.c) and the credentials read back from /proc (runtime/linux/proc_user.c).
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "runtime/linux/proc_user.h"
#include "runtime/linux/userdb.h"
#include "runtime/spec.h"

enum { PRIVATE = 0, HOST_TO_CONTAINER = 1, BIDIRECTIONAL = 2 };

static void rro_valid_combinations(void **state)
{
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(spec_check_recursive_readonly("/data", true, true, PRIVATE, &err), 0);
    /* Without recursive_read_only the other fields are not restricted. */
    assert_int_equal(spec_check_recursive_readonly("/data", false, false, BIDIRECTIONAL, &err), 0);
    assert_int_equal(spec_check_recursive_readonly("/data", true, false, HOST_TO_CONTAINER, &err),
                     0);
}

static void rro_needs_readonly(void **state)
{
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(spec_check_recursive_readonly("/data", false, true, PRIVATE, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "/data"));
    assert_non_null(strstr(err.message, "set readonly to true"));
    error_clear(&err);
}

static void rro_needs_private_propagation(void **state)
{
    static const struct {
        int propagation;
        const char *name;
    } cases[] = {
        {HOST_TO_CONTAINER, "PROPAGATION_HOST_TO_CONTAINER"},
        {BIDIRECTIONAL, "PROPAGATION_BIDIRECTIONAL"},
        {9, "unknown (9)"},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        struct error err = ERROR_INIT;

        assert_int_equal(
            spec_check_recursive_readonly("/data", true, true, cases[i].propagation, &err), -1);
        assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
        assert_non_null(strstr(err.message, "/data"));
        assert_non_null(strstr(err.message, cases[i].name));
        assert_non_null(strstr(err.message, "PROPAGATION_PRIVATE"));
        error_clear(&err);
    }
}

static void groups_policy_values(void **state)
{
    struct error err = ERROR_INIT;
    bool strict = true;

    (void)state;
    assert_int_equal(spec_supplemental_groups_policy(0, &strict, &err), 0);
    assert_false(strict);
    assert_int_equal(spec_supplemental_groups_policy(1, &strict, &err), 0);
    assert_true(strict);
    assert_int_equal(spec_supplemental_groups_policy(2, &strict, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "supplemental_groups_policy 2"));
    error_clear(&err);
}

/* Writes text to a new temporary file and returns its path (caller unlinks and frees). */
static char *write_temp(const char *text)
{
    char *path = xstrdup("/tmp/hostcri-userdb-XXXXXX");
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    return path;
}

static const char group_file[] = "root:x:0:\n"
                                 "app:x:1000:\n"
                                 "image-group:x:50000:other,app\n"
                                 "# a comment:x:1:app\n"
                                 "not-app:x:50001:root,apple\n";

static void policy_groups(void **state)
{
    _cleanup_free_ char *path = write_temp(group_file);
    const uint32_t requested[] = {60000, 50000};
    struct userdb_request request = {
        .name = "app", .gid = 1000, .groups = requested, .n_groups = 2};
    gid_t groups[8];
    size_t n;

    (void)state;
    n = userdb_supplemental_groups(path, &request, groups, ARRAY_SIZE(groups));
    assert_int_equal(n, 3);
    assert_int_equal(groups[0], 1000);
    assert_int_equal(groups[1], 50000);
    assert_int_equal(groups[2], 60000);

    request.strict = true;
    n = userdb_supplemental_groups(path, &request, groups, ARRAY_SIZE(groups));
    assert_int_equal(n, 3);
    assert_int_equal(groups[0], 1000);
    assert_int_equal(groups[1], 60000);
    assert_int_equal(groups[2], 50000);

    /* A user without a passwd line has no member groups, with either policy. */
    request.strict = false;
    request.name = NULL;
    request.n_groups = 0;
    n = userdb_supplemental_groups(path, &request, groups, ARRAY_SIZE(groups));
    assert_int_equal(n, 1);
    assert_int_equal(groups[0], 1000);
    unlink(path);
}

static void find_uid_lines(void **state)
{
    _cleanup_free_ char *path = write_temp("root:x:0:0:root:/root:/bin/sh\n"
                                           "bad:x:10x:5:bad:/:/bin/sh\n"
                                           "app:x:1000:1001:app:/home/app:/bin/sh\n");
    char *name = NULL;
    gid_t gid = 0;

    (void)state;
    assert_int_equal(userdb_find_uid(path, 1000, &name, &gid), 0);
    assert_string_equal(name, "app");
    assert_int_equal(gid, 1001);
    free(name);
    assert_int_equal(userdb_find_uid(path, 10, &name, &gid), -1);
    assert_int_equal(userdb_find_uid("/nonexistent/passwd", 0, &name, &gid), -1);
    unlink(path);
}

static void proc_user_of_self(void **state)
{
    gid_t expected[256];
    int n_expected = getgroups(256, expected);
    struct proc_user user;
    struct error err = ERROR_INIT;

    (void)state;
    assert_true(n_expected >= 0);
    assert_int_equal(proc_user_read((int)getpid(), &user, &err), 0);
    assert_int_equal(user.uid, getuid());
    assert_int_equal(user.gid, getgid());
    assert_int_equal(user.n_groups, (size_t)n_expected);
    for (size_t i = 0; i < user.n_groups; i++)
        assert_int_equal(user.groups[i], expected[i]);
    free(user.groups);
}

static void proc_user_of_missing_process(void **state)
{
    struct proc_user user;
    struct error err = ERROR_INIT;

    (void)state;
    /* The kernel's pid_max is at most 4194304 (2^22), so this pid never exists. */
    assert_int_equal(proc_user_read(99999999, &user, &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
    assert_null(user.groups);
    error_clear(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rro_valid_combinations),
        cmocka_unit_test(rro_needs_readonly),
        cmocka_unit_test(rro_needs_private_propagation),
        cmocka_unit_test(groups_policy_values),
        cmocka_unit_test(policy_groups),
        cmocka_unit_test(find_uid_lines),
        cmocka_unit_test(proc_user_of_self),
        cmocka_unit_test(proc_user_of_missing_process),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
