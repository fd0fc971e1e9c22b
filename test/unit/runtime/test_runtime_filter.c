/*
 * Unit tests of the runtime's pure rules: label selectors, id prefixes, the state machines,
 * signals, the host-process rule and the stored process format.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/util.h"
#include "runtime/filter.h"
#include "runtime/pbjson.h"
#include "runtime/process.h"
#include "runtime/sandbox_rules.h"
#include "runtime/signals.h"
#include "runtime/state.h"

#define ENTRY(k, v)                                                                                \
    {                                                                                              \
        PROTOBUF_C_MESSAGE_INIT(NULL), (char *)(k), (char *)(v)                                    \
    }

static void labels_selector(void **state)
{
    struct filter_map_entry app = ENTRY("app", "web");
    struct filter_map_entry tier = ENTRY("tier", "front");
    struct filter_map_entry want_app = ENTRY("app", "web");
    struct filter_map_entry want_other = ENTRY("app", "db");
    struct filter_map_entry want_missing = ENTRY("zone", "a");
    struct filter_map_entry *labels[] = {&app, &tier};
    struct filter_map_entry *match[] = {&want_app};
    struct filter_map_entry *mismatch[] = {&want_other};
    struct filter_map_entry *missing[] = {&want_app, &want_missing};

    assert_true(filter_labels_match(labels, 2, NULL, 0));
    assert_true(filter_labels_match(labels, 2, match, 1));
    assert_false(filter_labels_match(labels, 2, mismatch, 1));
    assert_false(filter_labels_match(labels, 2, missing, 2));
    assert_false(filter_labels_match(NULL, 0, match, 1));
    assert_string_equal(filter_map_get(labels, 2, "tier"), "front");
    assert_null(filter_map_get(labels, 2, "none"));
}

struct item {
    const char *id;
};

static const char *item_id(const void *item)
{
    return ((const struct item *)item)->id;
}

static void id_prefix_lookup(void **state)
{
    struct item a = {"abc123"}, b = {"abd456"}, c = {"ff0000"};
    void *items[] = {&a, &b, &c};
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(filter_find_by_prefix(items, 3, item_id, "abc123", "container", &err), 0);
    assert_int_equal(filter_find_by_prefix(items, 3, item_id, "abd", "container", &err), 1);
    assert_int_equal(filter_find_by_prefix(items, 3, item_id, "f", "container", &err), 2);

    assert_int_equal(filter_find_by_prefix(items, 3, item_id, "ab", "container", &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "ambiguous"));
    error_clear(&err);

    assert_int_equal(filter_find_by_prefix(items, 3, item_id, "99", "sandbox", &err), -1);
    assert_int_equal(err.code, ERROR_NOT_FOUND);
    assert_non_null(strstr(err.message, "sandbox \"99\" not found"));
    error_clear(&err);

    assert_int_equal(filter_find_by_prefix(items, 3, item_id, "", "container", &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_true(filter_id_has_prefix("abc", NULL));
    assert_true(filter_id_has_prefix("abc", "ab"));
    assert_false(filter_id_has_prefix("abc", "b"));
}

#define C(s) RUNTIME__V1__CONTAINER_STATE__CONTAINER_##s

static void container_transitions(void **state)
{
    assert_true(container_state_transition_allowed(C(CREATED), C(RUNNING)));
    assert_true(container_state_transition_allowed(C(CREATED), C(EXITED)));
    assert_true(container_state_transition_allowed(C(RUNNING), C(EXITED)));
    assert_true(container_state_transition_allowed(C(UNKNOWN), C(EXITED)));
    assert_false(container_state_transition_allowed(C(EXITED), C(RUNNING)));
    assert_false(container_state_transition_allowed(C(EXITED), C(CREATED)));
    assert_false(container_state_transition_allowed(C(RUNNING), C(CREATED)));
    assert_false(container_state_transition_allowed(C(CREATED), C(CREATED)));
    assert_string_equal(container_state_name(C(RUNNING)), "CONTAINER_RUNNING");
    assert_string_equal(container_exit_reason(0, false), "Completed");
    assert_string_equal(container_exit_reason(1, false), "Error");
    assert_string_equal(container_exit_reason(137, true), "OOMKilled");
}

static void sandbox_transitions(void **state)
{
    assert_true(sandbox_state_transition_allowed(RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY,
                                                 RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY));
    assert_false(sandbox_state_transition_allowed(RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY,
                                                  RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY));
    assert_string_equal(sandbox_state_name(RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY),
                        "SANDBOX_NOTREADY");
}

static void signal_names(void **state)
{
    assert_int_equal(signal_parse("SIGTERM"), 15);
    assert_int_equal(signal_parse("term"), 15);
    assert_int_equal(signal_parse("SIGKILL"), 9);
    assert_int_equal(signal_parse("9"), 9);
    assert_int_equal(signal_parse("SIGUSR1"), 10);
    assert_int_equal(signal_parse("SIGRTMIN+3"), 37);
    assert_int_equal(signal_parse("RTMAX-1"), 63);
    assert_int_equal(signal_parse("SIGNOPE"), 0);
    assert_int_equal(signal_parse("65"), 0);
    assert_int_equal(signal_parse(""), 0);
    assert_int_equal(signal_from_cri(RUNTIME__V1__SIGNAL__SIGNAL_SIGTERM), 15);
    assert_int_equal(signal_from_cri(RUNTIME__V1__SIGNAL__SIGNAL_SIGQUIT), 3);
    assert_int_equal(signal_from_cri(RUNTIME__V1__SIGNAL__SIGNAL_SIGRTMIN), 34);
    assert_int_equal(signal_from_cri(RUNTIME__V1__SIGNAL__SIGNAL_SIGRTMAX), 64);
    assert_int_equal(signal_from_cri(RUNTIME__V1__SIGNAL__SIGNAL_RUNTIME_DEFAULT), 0);
    assert_string_equal(signal_name(15), "SIGTERM");
}

static void host_process_rule(void **state)
{
    Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
    Runtime__V1__PodSandboxConfig config = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
    Runtime__V1__LinuxPodSandboxConfig linux_config = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
    Runtime__V1__LinuxSandboxSecurityContext sc = RUNTIME__V1__LINUX_SANDBOX_SECURITY_CONTEXT__INIT;
    Runtime__V1__NamespaceOption ns = RUNTIME__V1__NAMESPACE_OPTION__INIT;
    Runtime__V1__WindowsPodSandboxConfig windows = RUNTIME__V1__WINDOWS_POD_SANDBOX_CONFIG__INIT;
    Runtime__V1__WindowsSandboxSecurityContext wsc =
        RUNTIME__V1__WINDOWS_SANDBOX_SECURITY_CONTEXT__INIT;
    _cleanup_error_ struct error err = ERROR_INIT;

    md.name = "pod";
    md.namespace_ = "ns";
    md.uid = "uid";
    config.metadata = &md;
    assert_false(sandbox_rules_is_host_process(&config));
    assert_int_equal(sandbox_rules_check_host_process(&config, false, &err), -1);
    assert_int_equal(err.code, ERROR_FAILED_PRECONDITION);
    assert_non_null(strstr(err.message, "hostNetwork: true"));
    assert_int_equal(sandbox_rules_check_host_process(&config, true, NULL), 0);

    config.linux = &linux_config;
    linux_config.security_context = &sc;
    sc.namespace_options = &ns;
    ns.network = RUNTIME__V1__NAMESPACE_MODE__POD;
    assert_false(sandbox_rules_is_host_process(&config));
    ns.network = RUNTIME__V1__NAMESPACE_MODE__NODE;
    assert_true(sandbox_rules_is_host_process(&config));

    config.linux = NULL;
    config.windows = &windows;
    windows.security_context = &wsc;
    wsc.host_process = 1;
    assert_true(sandbox_rules_is_host_process(&config));
    assert_int_equal(sandbox_rules_check_config(&config, NULL), 0);
    md.uid = "";
    assert_int_equal(sandbox_rules_check_config(&config, &err), -1);
    assert_non_null(strstr(err.message, "config.metadata.uid"));
}

static void sandbox_name_identity(void **state)
{
    Runtime__V1__PodSandboxMetadata a = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
    Runtime__V1__PodSandboxMetadata b = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;

    a.name = b.name = "pod";
    a.namespace_ = b.namespace_ = "ns";
    a.uid = b.uid = "u1";
    assert_true(sandbox_rules_same_name(&a, &b));
    b.attempt = 1;
    assert_false(sandbox_rules_same_name(&a, &b));
    b.attempt = 0;
    b.uid = "u2";
    assert_false(sandbox_rules_same_name(&a, &b));
}

static void process_round_trip(void **state)
{
    uint32_t groups[] = {10, 20};
    struct process_mount mounts[] = {{"/host", "/ctr", true, 1, false},
                                     {"/host", "/rro", true, 0, true}};
    struct container_process in = {
        .argv = (char *[]){"/bin/sh", "-c", "echo hi", NULL},
        .env = (char *[]){"A=1", NULL},
        .working_dir = "/hpc",
        .has_uid = true,
        .uid = 1000,
        .groups = groups,
        .n_groups = 2,
        .strict_groups = true,
        .mounts = mounts,
        .n_mounts = 2,
        .layers = (char *[]){"/l1", "/l2", NULL},
        .stop_signal = 3,
        .has_oom_score_adj = true,
        .oom_score_adj = -100,
        .resources = {.memory_limit_bytes = 1 << 20, .cpuset_cpus = "0-1"},
    };
    _cleanup_free_ char *json = process_to_json(&in);
    struct container_process out;
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(process_from_json(json, &out, &err), 0);
    assert_string_equal(out.argv[2], "echo hi");
    assert_null(out.argv[3]);
    assert_string_equal(out.env[0], "A=1");
    assert_string_equal(out.working_dir, "/hpc");
    assert_true(out.has_uid);
    assert_int_equal(out.uid, 1000);
    assert_false(out.has_gid);
    assert_null(out.username);
    assert_int_equal(out.n_groups, 2);
    assert_int_equal(out.groups[1], 20);
    assert_true(out.strict_groups);
    assert_int_equal(out.n_mounts, 2);
    assert_string_equal(out.mounts[0].container_path, "/ctr");
    assert_true(out.mounts[0].readonly);
    assert_int_equal(out.mounts[0].propagation, 1);
    assert_false(out.mounts[0].recursive_readonly);
    assert_true(out.mounts[1].recursive_readonly);
    assert_string_equal(out.layers[1], "/l2");
    assert_int_equal(out.stop_signal, 3);
    assert_true(out.has_oom_score_adj);
    assert_int_equal(out.oom_score_adj, -100);
    assert_int_equal(out.resources.memory_limit_bytes, 1 << 20);
    assert_string_equal(out.resources.cpuset_cpus, "0-1");
    assert_null(out.resources.cpuset_mems);
    process_clear(&out);

    assert_int_equal(process_from_json("{\"argv\": 3}", &out, &err), -1);
    assert_int_equal(err.code, ERROR_DATA_LOSS);
    error_clear(&err);
    assert_int_equal(process_from_json("not json", &out, &err), -1);
}

static void config_as_json(void **state)
{
    Runtime__V1__PodSandboxMetadata md = RUNTIME__V1__POD_SANDBOX_METADATA__INIT;
    Runtime__V1__PodSandboxConfig config = RUNTIME__V1__POD_SANDBOX_CONFIG__INIT;
    Runtime__V1__PodSandboxConfig__LabelsEntry label =
        RUNTIME__V1__POD_SANDBOX_CONFIG__LABELS_ENTRY__INIT;
    Runtime__V1__PodSandboxConfig__LabelsEntry *labels[] = {&label};
    Runtime__V1__LinuxPodSandboxConfig linux_config = RUNTIME__V1__LINUX_POD_SANDBOX_CONFIG__INIT;
    Runtime__V1__LinuxSandboxSecurityContext sc = RUNTIME__V1__LINUX_SANDBOX_SECURITY_CONTEXT__INIT;
    Runtime__V1__NamespaceOption ns = RUNTIME__V1__NAMESPACE_OPTION__INIT;
    json_t *json;

    md.name = "pod";
    md.attempt = 2;
    config.metadata = &md;
    label.key = "app";
    label.value = "web";
    config.labels = labels;
    config.n_labels = 1;
    ns.network = RUNTIME__V1__NAMESPACE_MODE__NODE;
    sc.namespace_options = &ns;
    linux_config.security_context = &sc;
    config.linux = &linux_config;

    json = pbjson_from_message(&config.base);
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json, "metadata"), "name")), "pod");
    assert_int_equal(
        json_integer_value(json_object_get(json_object_get(json, "metadata"), "attempt")), 2);
    assert_null(json_object_get(json_object_get(json, "metadata"), "uid"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(json, "labels"), "app")),
                        "web");
    assert_string_equal(
        json_string_value(json_object_get(
            json_object_get(json_object_get(json_object_get(json, "linux"), "security_context"),
                            "namespace_options"),
            "network")),
        "NODE");
    assert_null(json_object_get(json, "hostname"));
    json_decref(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(labels_selector),       cmocka_unit_test(id_prefix_lookup),
        cmocka_unit_test(container_transitions), cmocka_unit_test(sandbox_transitions),
        cmocka_unit_test(signal_names),          cmocka_unit_test(host_process_rule),
        cmocka_unit_test(sandbox_name_identity), cmocka_unit_test(process_round_trip),
        cmocka_unit_test(config_as_json),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
