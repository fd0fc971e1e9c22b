/* Unit tests of the HostProcess pod annotations (runtime/pod_annotations.c). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "runtime/pod_annotations.h"

/* A pod config with one annotation. */
struct pod {
    Runtime__V1__PodSandboxConfig config;
    Runtime__V1__PodSandboxConfig__AnnotationsEntry entry;
    Runtime__V1__PodSandboxConfig__AnnotationsEntry *entries[1];
};

static void pod_init(struct pod *pod, const char *key, const char *value)
{
    runtime__v1__pod_sandbox_config__init(&pod->config);
    runtime__v1__pod_sandbox_config__annotations_entry__init(&pod->entry);
    pod->entry.key = (char *)key;
    pod->entry.value = (char *)value;
    pod->entries[0] = &pod->entry;
    pod->config.annotations = pod->entries;
    pod->config.n_annotations = 1;
}

static void inherit_user_only_for_true(void **state)
{
    struct pod pod;

    (void)state;
    pod_init(&pod, POD_ANNOTATION_INHERIT_USER, "true");
    assert_true(pod_annotations_inherit_user(&pod.config));
    pod_init(&pod, POD_ANNOTATION_INHERIT_USER, "True");
    assert_false(pod_annotations_inherit_user(&pod.config));
    pod_init(&pod, POD_ANNOTATION_INHERIT_USER, "false");
    assert_false(pod_annotations_inherit_user(&pod.config));
    pod_init(&pod, POD_ANNOTATION_INHERIT_USER, "");
    assert_false(pod_annotations_inherit_user(&pod.config));
    pod_init(&pod, "microsoft.com/other", "true");
    assert_false(pod_annotations_inherit_user(&pod.config));
    assert_false(pod_annotations_inherit_user(NULL));
}

static void windows_locations_accepted(void **state)
{
    static const char *const values[] = {"C:\\hpc-pods", "c:\\hpc\\pods\\", "D:\\",
                                         "D:/pods",      "E:\\a b\\c.d",    "C:\\x..y\\...z"};

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(values); i++) {
        _cleanup_error_ struct error err = ERROR_INIT;

        if (pod_annotations_check_rootfs_location(values[i], true, &err) != 0)
            fail_msg("%s rejected: %s", values[i], err.message);
    }
}

/* Each rejected value with a part of the reason that the message must name. */
static void windows_locations_rejected(void **state)
{
    static const struct {
        const char *value;
        const char *reason;
    } cases[] = {
        {"hpc", "not absolute"},
        {"\\hpc", "not absolute"},
        {"C:", "not absolute"},
        {"C:hpc", "not absolute"},
        {"\\\\server\\share\\hpc", "UNC"},
        {"\\\\?\\C:\\hpc", "UNC"},
        {"\\\\.\\C:\\hpc", "UNC"},
        {"//server/share", "UNC"},
        {"C:\\hpc\\..\\Windows", "\"..\""},
        {"C:\\..", "\"..\""},
        {"C:\\.\\hpc", "\".\""},
        {"C:\\hpc:stream", "character"},
        {"C:\\hp*c", "character"},
        {"C:\\hpc\n", "character"},
        {"/hpc", "not absolute"},
    };

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
        _cleanup_error_ struct error err = ERROR_INIT;

        assert_int_equal(pod_annotations_check_rootfs_location(cases[i].value, true, &err), -1);
        assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
        if (strstr(err.message, cases[i].reason) == NULL)
            fail_msg("%s: message \"%s\" lacks \"%s\"", cases[i].value, err.message,
                     cases[i].reason);
        assert_non_null(strstr(err.message, POD_ANNOTATION_ROOTFS_LOCATION));
        assert_non_null(strstr(err.message, cases[i].value));
    }
}

static void linux_locations(void **state)
{
    static const char *const accepted[] = {"/hpc-pods", "/var/lib/pods/", "/processes", "/devx"};
    static const char *const rejected[] = {"hpc",     "/",    "//",      "/proc",  "/proc/x",
                                           "/sys/fs", "/dev", "/a/../b", "/a/./b", "C:\\hpc"};

    (void)state;
    for (size_t i = 0; i < ARRAY_SIZE(accepted); i++) {
        _cleanup_error_ struct error err = ERROR_INIT;

        if (pod_annotations_check_rootfs_location(accepted[i], false, &err) != 0)
            fail_msg("%s rejected: %s", accepted[i], err.message);
    }
    for (size_t i = 0; i < ARRAY_SIZE(rejected); i++) {
        _cleanup_error_ struct error err = ERROR_INIT;

        if (pod_annotations_check_rootfs_location(rejected[i], false, &err) != -1)
            fail_msg("%s accepted", rejected[i]);
        assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    }
}

static void rootfs_location_from_config(void **state)
{
    _cleanup_error_ struct error err = ERROR_INIT;
    const char *location = "unset";
    struct pod pod;

    (void)state;
    pod_init(&pod, "other", "x");
    assert_int_equal(pod_annotations_rootfs_location(&pod.config, true, &location, &err), 0);
    assert_null(location);
    pod_init(&pod, POD_ANNOTATION_ROOTFS_LOCATION, "");
    assert_int_equal(pod_annotations_rootfs_location(&pod.config, true, &location, &err), 0);
    assert_null(location);
    pod_init(&pod, POD_ANNOTATION_ROOTFS_LOCATION, "C:\\pods");
    assert_int_equal(pod_annotations_rootfs_location(&pod.config, true, &location, &err), 0);
    assert_string_equal(location, "C:\\pods");
    pod_init(&pod, POD_ANNOTATION_ROOTFS_LOCATION, "pods");
    assert_int_equal(pod_annotations_rootfs_location(&pod.config, true, &location, &err), -1);
    assert_null(location);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(inherit_user_only_for_true),  cmocka_unit_test(windows_locations_accepted),
        cmocka_unit_test(windows_locations_rejected),  cmocka_unit_test(linux_locations),
        cmocka_unit_test(rootfs_location_from_config),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
