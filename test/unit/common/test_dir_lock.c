/* Unit tests of the directory lock and the error that names its holder. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/dir_lock.h"
#include "common/util.h"

static void report_names_pid(void **state)
{
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(
        dir_lock_report_holder("/var/lib/x", "/var/lib/x/hostcri.lock", "4242\r\n", &err), -1);
    assert_int_equal(err.code, ERROR_FAILED_PRECONDITION);
    assert_string_equal(err.message, "directory /var/lib/x is in use by another hostcri daemon "
                                     "(pid 4242 holds /var/lib/x/hostcri.lock): give each daemon "
                                     "its own --root and --state");
    error_clear(&err);
}

static void report_without_pid(void **state)
{
    static const char *const texts[] = {"", "0\n", "-5\n", "garbage"};
    struct error err = ERROR_INIT;

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(texts); i++) {
        assert_int_equal(dir_lock_report_holder("/d", "/d/hostcri.lock", texts[i], &err), -1);
        assert_int_equal(err.code, ERROR_FAILED_PRECONDITION);
        assert_string_equal(err.message, "directory /d is in use by another hostcri daemon (it "
                                         "holds /d/hostcri.lock): give each daemon its own "
                                         "--root and --state");
        error_clear(&err);
    }
}

/* flock locks belong to the open file, so a second acquire in the same process conflicts. */
static void second_acquire_names_holder(void **state)
{
    _cleanup_free_ char *dir = xasprintf("/tmp/hostcri-dir-lock-%d", (int)getpid());
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, DIR_LOCK_FILE_NAME);
    _cleanup_free_ char *expected = xasprintf("(pid %d holds %s)", (int)getpid(), path);
    struct dir_lock *lock = NULL;
    struct dir_lock *second = NULL;
    struct error err = ERROR_INIT;

    (void)state;
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(dir_lock_acquire(dir, &lock, &err), 0);
    assert_int_equal(dir_lock_acquire(dir, &second, &err), -1);
    assert_null(second);
    assert_int_equal(err.code, ERROR_FAILED_PRECONDITION);
    assert_non_null(strstr(err.message, expected));
    error_clear(&err);
    dir_lock_release(lock);
    assert_int_equal(dir_lock_acquire(dir, &second, &err), 0);
    dir_lock_release(second);
    unlink(path);
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(report_names_pid),
        cmocka_unit_test(report_without_pid),
        cmocka_unit_test(second_acquire_names_holder),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
