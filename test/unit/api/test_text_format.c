/*
 * Unit tests of the text format printer and the descriptor look-ups. The expected texts
 * were produced by `protoc --decode` (protoc 3.21.12) from the same messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "api/api.pb-c.h"
#include "api/descriptors.h"
#include "api/text_format.h"
#include "common/strbuf.h"
#include "common/util.h"

/* Prints message and checks the text; the caller keeps ownership of message. */
static void assert_text(const void *message, const char *expected)
{
    _cleanup_strbuf_ struct strbuf out = STRBUF_INIT;

    api_text_format(message, &out);
    assert_string_equal(out.data ? out.data : "", expected);
}

static void test_default_scalars_omitted(void **state)
{
    Runtime__V1__VersionResponse response = RUNTIME__V1__VERSION_RESPONSE__INIT;

    assert_text(&response, "");
}

static void test_null_message_prints_nothing(void **state)
{
    assert_text(NULL, "");
}

static void test_empty_submessage_printed(void **state)
{
    Runtime__V1__ListPodSandboxRequest request = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
    Runtime__V1__PodSandboxFilter filter = RUNTIME__V1__POD_SANDBOX_FILTER__INIT;
    Runtime__V1__PodSandboxStateValue state_value = RUNTIME__V1__POD_SANDBOX_STATE_VALUE__INIT;

    state_value.state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
    filter.state = &state_value;
    request.filter = &filter;
    assert_text(&request, "filter {\n  state {\n  }\n}\n");
}

static void test_bytes_escaped_like_protoc(void **state)
{
    static const uint8_t output[] = "a\"b\\c\td\re\x01\x7f\xff'q";
    Runtime__V1__ExecSyncResponse response = RUNTIME__V1__EXEC_SYNC_RESPONSE__INIT;

    response.stdout.data = (uint8_t *)output;
    response.stdout.len = sizeof(output) - 1;
    response.exit_code = -7;
    assert_text(&response, "stdout: \"a\\\"b\\\\c\\td\\re\\001\\177\\377\\'q\"\nexit_code: -7\n");
}

static void test_utf8_string_escaped_octal(void **state)
{
    Runtime__V1__VersionRequest request = RUNTIME__V1__VERSION_REQUEST__INIT;

    request.version = "gr\xc3\xbc\xc3\x9f"
                      "e\nline";
    assert_text(&request, "version: \"gr\\303\\274\\303\\237e\\nline\"\n");
}

static void test_doubles_formatted_like_protoc(void **state)
{
    Runtime__V1__PsiData data = RUNTIME__V1__PSI_DATA__INIT;

    data.total = UINT64_MAX;
    data.avg10 = 0.1;
    data.avg60 = 1e300;
    data.avg300 = -2.5;
    assert_text(&data, "Total: 18446744073709551615\nAvg10: 0.1\nAvg60: 1e+300\nAvg300: -2.5\n");

    data.total = 0;
    data.avg10 = 0.1 + 0.2;
    data.avg60 = 123456789012.0;
    data.avg300 = 1e-7;
    assert_text(&data, "Avg10: 0.30000000000000004\nAvg60: 123456789012\nAvg300: 1e-07\n");

    data.avg10 = 1.0 / 0.0;
    data.avg60 = -1.0 / 0.0;
    data.avg300 = -0.0;
    assert_text(&data, "Avg10: inf\nAvg60: -inf\nAvg300: -0\n");
}

static void test_integers_printed_decimal(void **state)
{
    Runtime__V1__LinuxContainerResources resources = RUNTIME__V1__LINUX_CONTAINER_RESOURCES__INIT;
    Runtime__V1__HugepageLimit limit = RUNTIME__V1__HUGEPAGE_LIMIT__INIT;
    Runtime__V1__HugepageLimit *limits[] = {&limit};

    resources.memory_limit_in_bytes = INT64_MAX;
    resources.oom_score_adj = -1000;
    limit.page_size = "2MB";
    limit.limit = UINT64_MAX;
    resources.n_hugepage_limits = 1;
    resources.hugepage_limits = limits;
    assert_text(&resources, "memory_limit_in_bytes: 9223372036854775807\n"
                            "oom_score_adj: -1000\n"
                            "hugepage_limits {\n"
                            "  page_size: \"2MB\"\n"
                            "  limit: 18446744073709551615\n"
                            "}\n");
}

static void test_fields_in_number_order(void **state)
{
    Runtime__V1__LinuxSandboxSecurityContext context =
        RUNTIME__V1__LINUX_SANDBOX_SECURITY_CONTEXT__INIT;
    Runtime__V1__Int64Value user = RUNTIME__V1__INT64_VALUE__INIT;
    Runtime__V1__Int64Value group = RUNTIME__V1__INT64_VALUE__INIT;
    int64_t groups[] = {1, 2};

    /* run_as_group (8) is declared before readonly_rootfs (4) in api.proto. */
    user.value = 1000;
    group.value = 3000;
    context.run_as_user = &user;
    context.run_as_group = &group;
    context.readonly_rootfs = 1;
    context.n_supplemental_groups = 2;
    context.supplemental_groups = groups;
    context.supplemental_groups_policy = RUNTIME__V1__SUPPLEMENTAL_GROUPS_POLICY__Strict;
    assert_text(&context, "run_as_user {\n  value: 1000\n}\n"
                          "readonly_rootfs: true\n"
                          "supplemental_groups: 1\n"
                          "supplemental_groups: 2\n"
                          "run_as_group {\n  value: 3000\n}\n"
                          "supplemental_groups_policy: Strict\n");
}

static void test_enum_names_and_unknown_values(void **state)
{
    Runtime__V1__PortMapping mapping = RUNTIME__V1__PORT_MAPPING__INIT;

    mapping.protocol = RUNTIME__V1__PROTOCOL__UDP;
    assert_text(&mapping, "protocol: UDP\n");

    mapping.protocol = (Runtime__V1__Protocol)7;
    assert_text(&mapping, "protocol: 7\n");
}

static void test_map_entries_sorted_by_key(void **state)
{
    Runtime__V1__PodSandboxConfig config = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
    Runtime__V1__PodSandboxConfig__LabelsEntry entries[5] = {
        RUNTIME__V1__POD_SANDBOX_CONFIG__LABELS_ENTRY__INIT,
        RUNTIME__V1__POD_SANDBOX_CONFIG__LABELS_ENTRY__INIT,
        RUNTIME__V1__POD_SANDBOX_CONFIG__LABELS_ENTRY__INIT,
        RUNTIME__V1__POD_SANDBOX_CONFIG__LABELS_ENTRY__INIT,
        RUNTIME__V1__POD_SANDBOX_CONFIG__LABELS_ENTRY__INIT,
    };
    Runtime__V1__PodSandboxConfig__LabelsEntry *labels[] = {
        &entries[0], &entries[1], &entries[2], &entries[3], &entries[4],
    };

    /* Wire order b, a, b, \303\274, ""; protoc prints "", a, b (first), b (second), \303\274. */
    entries[0].key = "b";
    entries[0].value = "3";
    entries[1].key = "a";
    entries[1].value = "2";
    entries[2].key = "b";
    entries[2].value = "1";
    entries[3].key = "\xc3\xbc";
    entries[3].value = "5";
    entries[4].key = "";
    entries[4].value = "";
    config.n_labels = 5;
    config.labels = labels;
    assert_text(&config, "labels {\n  key: \"\"\n  value: \"\"\n}\n"
                         "labels {\n  key: \"a\"\n  value: \"2\"\n}\n"
                         "labels {\n  key: \"b\"\n  value: \"3\"\n}\n"
                         "labels {\n  key: \"b\"\n  value: \"1\"\n}\n"
                         "labels {\n  key: \"\\303\\274\"\n  value: \"5\"\n}\n");
}

static void test_unknown_fields_printed_as_numbers(void **state)
{
    /* version "v", then unknown fields 17 (bytes), 18 (varint), 19 (fixed32), 20 (fixed64). */
    static const uint8_t wire[] = {0x0a, 0x01, 0x76, 0x8a, 0x01, 0x01, 0x78, 0x90, 0x01,
                                   0x05, 0x9d, 0x01, 0x01, 0x02, 0x03, 0x04, 0xa1, 0x01,
                                   0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08};
    ProtobufCMessage *message = protobuf_c_message_unpack(&runtime__v1__version_request__descriptor,
                                                          NULL, sizeof(wire), wire);

    assert_non_null(message);
    assert_int_equal(api_unknown_field_count(message), 4);
    assert_text(message, "version: \"v\"\n17: \"x\"\n18: 5\n19: 0x04030201\n"
                         "20: 0x0807060504030201\n");
    protobuf_c_message_free_unpacked(message, NULL);
}

static void test_unknown_fields_counted_in_submessages(void **state)
{
    /* filter { state { 9: 1 } } as a ListPodSandboxRequest. */
    static const uint8_t wire[] = {0x0a, 0x04, 0x12, 0x02, 0x48, 0x01};
    ProtobufCMessage *message = protobuf_c_message_unpack(
        &runtime__v1__list_pod_sandbox_request__descriptor, NULL, sizeof(wire), wire);

    assert_non_null(message);
    assert_int_equal(api_unknown_field_count(message), 1);
    assert_text(message, "filter {\n  state {\n    9: 1\n  }\n}\n");
    protobuf_c_message_free_unpacked(message, NULL);
}

static void test_services_list_every_method(void **state)
{
    const ProtobufCServiceDescriptor *runtime = api_service_descriptor(0);
    const ProtobufCServiceDescriptor *image = api_service_descriptor(1);

    assert_non_null(runtime);
    assert_non_null(image);
    assert_null(api_service_descriptor(API_SERVICE_COUNT));
    assert_string_equal(runtime->name, "runtime.v1.RuntimeService");
    assert_string_equal(image->name, "runtime.v1.ImageService");
    assert_int_equal(runtime->n_methods, 37);
    assert_int_equal(image->n_methods, 6);
}

static void test_method_find_by_path(void **state)
{
    const ProtobufCMethodDescriptor *method;

    method = api_method_find("/runtime.v1.RuntimeService/Version");
    assert_non_null(method);
    assert_string_equal(method->input->name, "runtime.v1.VersionRequest");
    assert_string_equal(method->output->name, "runtime.v1.VersionResponse");

    method = api_method_find("/runtime.v1.ImageService/PullImage");
    assert_non_null(method);
    assert_string_equal(method->input->name, "runtime.v1.PullImageRequest");

    method = api_method_find("/runtime.v1.RuntimeService/UpdatePodSandboxResources");
    assert_non_null(method);

    assert_null(api_method_find("/runtime.v1.ImageService/Version"));
    assert_null(api_method_find("/runtime.v1.RuntimeServiceX/Version"));
    assert_null(api_method_find("/runtime.v1.RuntimeService"));
    assert_null(api_method_find("runtime.v1.RuntimeService/Version"));
    assert_null(api_method_find(NULL));
}

static void test_message_find_by_full_name(void **state)
{
    const ProtobufCMessageDescriptor *descriptor;

    descriptor = api_message_descriptor_find("runtime.v1.PodSandboxConfig");
    assert_ptr_equal(descriptor, &runtime__v1__pod_sandbox_config__descriptor);

    descriptor = api_message_descriptor_find("runtime.v1.PodSandboxConfig.LabelsEntry");
    assert_ptr_equal(descriptor, &runtime__v1__pod_sandbox_config__labels_entry__descriptor);

    descriptor = api_message_descriptor_find("runtime.v1.PsiData");
    assert_ptr_equal(descriptor, &runtime__v1__psi_data__descriptor);

    assert_null(api_message_descriptor_find("runtime.v1.NoSuchMessage"));
    assert_null(api_message_descriptor_find("PodSandboxConfig"));
    assert_null(api_message_descriptor_find(NULL));
}

/* The printer walks the field table in order, so that order must be by field number. */
static void assert_fields_sorted(const ProtobufCMessageDescriptor *descriptor, unsigned depth)
{
    assert_true(depth < 32);
    for (unsigned i = 0; i < descriptor->n_fields; i++) {
        const ProtobufCFieldDescriptor *field = &descriptor->fields[i];

        if (i > 0)
            assert_true(descriptor->fields[i - 1].id < field->id);
        if (field->type == PROTOBUF_C_TYPE_MESSAGE)
            assert_fields_sorted(field->descriptor, depth + 1);
    }
}

static void test_field_tables_sorted_by_number(void **state)
{
    for (size_t i = 0; i < API_SERVICE_COUNT; i++) {
        const ProtobufCServiceDescriptor *service = api_service_descriptor(i);

        for (unsigned j = 0; j < service->n_methods; j++) {
            assert_fields_sorted(service->methods[j].input, 0);
            assert_fields_sorted(service->methods[j].output, 0);
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_default_scalars_omitted),
        cmocka_unit_test(test_null_message_prints_nothing),
        cmocka_unit_test(test_empty_submessage_printed),
        cmocka_unit_test(test_bytes_escaped_like_protoc),
        cmocka_unit_test(test_utf8_string_escaped_octal),
        cmocka_unit_test(test_doubles_formatted_like_protoc),
        cmocka_unit_test(test_integers_printed_decimal),
        cmocka_unit_test(test_fields_in_number_order),
        cmocka_unit_test(test_enum_names_and_unknown_values),
        cmocka_unit_test(test_map_entries_sorted_by_key),
        cmocka_unit_test(test_unknown_fields_printed_as_numbers),
        cmocka_unit_test(test_unknown_fields_counted_in_submessages),
        cmocka_unit_test(test_services_list_every_method),
        cmocka_unit_test(test_method_find_by_path),
        cmocka_unit_test(test_message_find_by_full_name),
        cmocka_unit_test(test_field_tables_sorted_by_number),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
