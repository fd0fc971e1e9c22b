#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "daemon/config.h"

static char *write_temp_yaml(const char *text)
{
    char *path = strdup("/tmp/hostcri-config-test-XXXXXX");
    int fd = mkstemp(path);
    FILE *file = fdopen(fd, "w");

    fputs(text, file);
    fclose(file);
    return path;
}

static int parse(struct hostcri_config *config, int argc, char **argv, struct error *err)
{
    bool exit_now;
    int exit_code;

    return config_parse_args(config, argc, argv, &exit_now, &exit_code, err);
}

static void defaults_match_documentation(void **state)
{
    struct hostcri_config config;

    (void)state;
    config_init_defaults(&config);
    assert_string_equal(config.listen, "unix:///run/hostcri/hostcri.sock");
    assert_string_equal(config.root_dir, "/var/lib/hostcri");
    assert_string_equal(config.state_dir, "/run/hostcri");
    assert_true(config.max_recv_message_size == 16 * 1024 * 1024);
    assert_true(config.max_send_message_size == 16 * 1024 * 1024);
    assert_string_equal(config.cgroup_driver, "cgroupfs");
    config_free(&config);
}

static void file_then_flags_override(void **state)
{
    char *path = write_temp_yaml("root: /srv/a\n"
                                 "cgroup_driver: systemd\n"
                                 "grpc:\n"
                                 "  max_recv_message_size: 1MiB\n"
                                 "  shutdown_grace_period: 250ms\n");
    char *argv[] = {"hostcri", "--config", path, "--root=/srv/b", "--log-level", "debug", NULL};
    struct hostcri_config config;
    struct error err = ERROR_INIT;

    (void)state;
    config_init_defaults(&config);
    assert_int_equal(parse(&config, 6, argv, &err), 0);
    assert_string_equal(config.root_dir, "/srv/b");
    assert_string_equal(config.cgroup_driver, "systemd");
    assert_true(config.max_recv_message_size == 1024 * 1024);
    assert_true(config.shutdown_grace_ms == 250);
    assert_int_equal(config.log_level, LOG_LEVEL_DEBUG);
    config_free(&config);
    unlink(path);
    free(path);
}

static void unknown_key_named(void **state)
{
    char *path = write_temp_yaml("grpc:\n  max_message: 5\n");
    char *argv[] = {"hostcri", "--config", path, NULL};
    struct hostcri_config config;
    struct error err = ERROR_INIT;

    (void)state;
    config_init_defaults(&config);
    assert_int_equal(parse(&config, 3, argv, &err), -1);
    assert_non_null(strstr(err.message, "grpc.max_message"));
    assert_non_null(strstr(err.message, path));
    error_clear(&err);
    config_free(&config);
    unlink(path);
    free(path);
}

static void invalid_value_named(void **state)
{
    static const char *const cases[][2] = {
        {"--max-recv-message-size=12XB", "grpc.max_recv_message_size"},
        {"--root=relative/dir", "root"},
        {"--cgroup-driver=none", "cgroup_driver"},
        {"--log-level=loud", "log_level"},
        {"--shutdown-grace-period=10", "grpc.shutdown_grace_period"},
        {"--listen=tcp://127.0.0.1:1", "listen"},
        {"--cpu-sample-interval=0s", "runtime.cpu_sample_interval"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *argv[] = {"hostcri", (char *)cases[i][0], NULL};
        struct hostcri_config config;
        struct error err = ERROR_INIT;

        config_init_defaults(&config);
        assert_int_equal(parse(&config, 2, argv, &err), -1);
        assert_non_null(strstr(err.message, cases[i][1]));
        assert_non_null(strchr(err.message, '"'));
        error_clear(&err);
        config_free(&config);
    }
}

static void unknown_flag_rejected(void **state)
{
    char *argv[] = {"hostcri", "--no-such-flag", "1", NULL};
    struct hostcri_config config;
    struct error err = ERROR_INIT;

    (void)state;
    config_init_defaults(&config);
    assert_int_equal(parse(&config, 3, argv, &err), -1);
    assert_non_null(strstr(err.message, "--no-such-flag"));
    error_clear(&err);
    config_free(&config);
}

static void invalid_yaml_reports_line(void **state)
{
    char *path = write_temp_yaml("root: /a\n  bad: [\n");
    struct hostcri_config config;
    struct error err = ERROR_INIT;

    (void)state;
    config_init_defaults(&config);
    assert_int_equal(config_load_file(&config, path, &err), -1);
    assert_non_null(strstr(err.message, "line"));
    error_clear(&err);
    config_free(&config);
    unlink(path);
    free(path);
}

static void json_has_every_key(void **state)
{
    struct hostcri_config config;
    char *json;

    (void)state;
    config_init_defaults(&config);
    json = config_to_json(&config);
    assert_non_null(strstr(json, "\"grpc.max_recv_message_size\":16777216"));
    assert_non_null(strstr(json, "\"listen\":\"unix:///run/hostcri/hostcri.sock\""));
    assert_non_null(strstr(json, "\"grpc.shutdown_grace_period_ms\":10000"));
    free(json);
    config_free(&config);
}

static void registries_and_lists(void **state)
{
    char *path = write_temp_yaml("registries:\n"
                                 "  \"127.0.0.1:5000\":\n"
                                 "    insecure: true\n"
                                 "    mirrors: [\"http://127.0.0.1:6000\", \"https://m.example\"]\n"
                                 "    username: alice\n"
                                 "    password: secret-value\n"
                                 "runtime:\n"
                                 "  runtime_handlers: [fast, slow]\n"
                                 "  accept_non_host_network_pods: true\n"
                                 "images:\n"
                                 "  pinned: [\"test/pause:1.0\"]\n");
    struct hostcri_config config;
    struct error err = ERROR_INIT;
    char *json;

    (void)state;
    config_init_defaults(&config);
    assert_int_equal(config_load_file(&config, path, &err), 0);
    assert_int_equal(config.registry_count, 1);
    assert_string_equal(config.registries[0].host, "127.0.0.1:5000");
    assert_true(config.registries[0].insecure);
    assert_string_equal(config.registries[0].mirrors[1], "https://m.example");
    assert_null(config.registries[0].mirrors[2]);
    assert_string_equal(config.registries[0].password, "secret-value");
    assert_string_equal(config.runtime_handlers[0], "fast");
    assert_string_equal(config.runtime_handlers[1], "slow");
    assert_true(config.accept_non_host_network_pods);
    assert_string_equal(config.pinned_images[0], "test/pause:1.0");

    /* The effective configuration never shows credentials. */
    json = config_to_json(&config);
    assert_null(strstr(json, "secret-value"));
    assert_null(strstr(json, "alice"));
    assert_non_null(strstr(json, "\"has_credentials\":true"));
    free(json);
    config_free(&config);
    unlink(path);
    free(path);
}

static void registry_unknown_key_named(void **state)
{
    char *path = write_temp_yaml("registries:\n  \"r.example\":\n    mirror: x\n");
    struct hostcri_config config;
    struct error err = ERROR_INIT;

    (void)state;
    config_init_defaults(&config);
    assert_int_equal(config_load_file(&config, path, &err), -1);
    assert_non_null(strstr(err.message, "registries.r.example.mirror"));
    error_clear(&err);
    config_free(&config);
    unlink(path);
    free(path);
}

static void registry_key_with_scheme_or_path_rejected(void **state)
{
    static const struct {
        const char *key;
        const char *message_part;
    } cases[] = {
        {"http://127.0.0.1:29700", "without the scheme, as in \"127.0.0.1:29700\""},
        {"r.example/library", "host[:port] only"},
        {"user@r.example", "host[:port] only"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        _cleanup_free_ char *yaml =
            xasprintf("registries:\n  \"%s\":\n    insecure: true\n", cases[i].key);
        char *path = write_temp_yaml(yaml);
        struct hostcri_config config;
        struct error err = ERROR_INIT;

        config_init_defaults(&config);
        assert_int_equal(config_load_file(&config, path, &err), -1);
        assert_non_null(strstr(err.message, cases[i].key));
        assert_non_null(strstr(err.message, cases[i].message_part));
        assert_non_null(strstr(err.message, "line 2"));
        error_clear(&err);
        config_free(&config);
        unlink(path);
        free(path);
    }
}

static void choice_error_lists_the_choices_in_words(void **state)
{
    char *argv[] = {"hostcri", "--cgroup-driver=cgroup", NULL};
    struct hostcri_config config;
    struct error err = ERROR_INIT;

    (void)state;
    config_init_defaults(&config);
    assert_int_equal(parse(&config, 2, argv, &err), -1);
    assert_non_null(strstr(err.message, "invalid value \"cgroup\" for cgroup_driver: use "
                                        "cgroupfs or systemd"));
    error_clear(&err);
    config_free(&config);
}

static void list_flag_is_comma_separated(void **state)
{
    char *argv[] = {"hostcri", "--runtime-handlers=a,b,c", "--accept-non-host-network-pods",
                    "maybe", NULL};
    struct hostcri_config config;
    struct error err = ERROR_INIT;

    (void)state;
    config_init_defaults(&config);
    assert_int_equal(parse(&config, 2, argv, &err), 0);
    assert_string_equal(config.runtime_handlers[2], "c");
    assert_int_equal(parse(&config, 4, argv, &err), -1);
    assert_non_null(strstr(err.message, "runtime.accept_non_host_network_pods"));
    error_clear(&err);
    config_free(&config);
}

static void default_output_loads(void **state)
{
    char *path = strdup("/tmp/hostcri-config-default-XXXXXX");
    int fd = mkstemp(path);
    FILE *file = fdopen(fd, "w");
    struct hostcri_config config;
    struct hostcri_config defaults;
    struct error err = ERROR_INIT;
    char *loaded_json;
    char *default_json;

    (void)state;
    config_print_default(file);
    fclose(file);
    config_init_defaults(&config);
    assert_int_equal(config_load_file(&config, path, &err), 0);
    config_init_defaults(&defaults);
    loaded_json = config_to_json(&config);
    default_json = config_to_json(&defaults);
    assert_string_equal(loaded_json, default_json);
    free(loaded_json);
    free(default_json);
    config_free(&config);
    config_free(&defaults);
    unlink(path);
    free(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(defaults_match_documentation),
        cmocka_unit_test(file_then_flags_override),
        cmocka_unit_test(unknown_key_named),
        cmocka_unit_test(invalid_value_named),
        cmocka_unit_test(unknown_flag_rejected),
        cmocka_unit_test(invalid_yaml_reports_line),
        cmocka_unit_test(json_has_every_key),
        cmocka_unit_test(registries_and_lists),
        cmocka_unit_test(registry_key_with_scheme_or_path_rejected),
        cmocka_unit_test(choice_error_lists_the_choices_in_words),
        cmocka_unit_test(registry_unknown_key_named),
        cmocka_unit_test(list_flag_is_comma_separated),
        cmocka_unit_test(default_output_loads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
