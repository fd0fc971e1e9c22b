#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cri/methods.h"

static const struct rpc_method *find(const struct rpc_method *table, size_t count, const char *path)
{
    for (size_t i = 0; i < count; i++) {
        if (strcmp(table[i].path, path) == 0)
            return &table[i];
    }
    return NULL;
}

static void table_lists_every_rpc(void **state)
{
    size_t count;
    const struct rpc_method *table = cri_methods(&count);
    static const char *const expected[] = {
        "/runtime.v1.RuntimeService/Version",
        "/runtime.v1.RuntimeService/RunPodSandbox",
        "/runtime.v1.RuntimeService/GetContainerEvents",
        "/runtime.v1.RuntimeService/UpdatePodSandboxResources",
        "/runtime.v1.RuntimeService/RuntimeConfig",
        "/runtime.v1.ImageService/PullImage",
        "/runtime.v1.ImageService/ImageFsInfo",
    };

    (void)state;
    /* RuntimeService and ImageService of the newest CRI v1 have more than 40 RPCs together. */
    assert_true(count > 40);
    for (size_t i = 0; i < sizeof(expected) / sizeof(expected[0]); i++)
        assert_non_null(find(table, count, expected[i]));
}

static void streaming_kinds_marked(void **state)
{
    size_t count;
    const struct rpc_method *table = cri_methods(&count);

    (void)state;
    assert_int_equal(find(table, count, "/runtime.v1.RuntimeService/GetContainerEvents")->kind,
                     RPC_SERVER_STREAMING);
    assert_int_equal(find(table, count, "/runtime.v1.RuntimeService/Version")->kind, RPC_UNARY);
}

static void descriptors_match_names(void **state)
{
    size_t count;
    const struct rpc_method *table = cri_methods(&count);
    const struct rpc_method *version;

    (void)state;
    version = find(table, count, "/runtime.v1.RuntimeService/Version");
    assert_string_equal(version->request_descriptor->name, "runtime.v1.VersionRequest");
    assert_string_equal(version->response_descriptor->name, "runtime.v1.VersionResponse");
    assert_non_null(version->handler);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(table_lists_every_rpc),
        cmocka_unit_test(streaming_kinds_marked),
        cmocka_unit_test(descriptors_match_names),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
