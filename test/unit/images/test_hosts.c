#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/util.h"
#include "images/hosts.h"
#include "images/hosts_toml.h"

static char certs_dir[] = "/tmp/hostcri-test-hosts-XXXXXX";

static void write_file(const char *dir, const char *name, const char *text)
{
    _cleanup_free_ char *folder = xasprintf("%s/%s", certs_dir, dir);
    _cleanup_free_ char *path = xasprintf("%s/%s", folder, name);
    FILE *file;

    mkdir(folder, 0755);
    file = fopen(path, "w");
    assert_non_null(file);
    fputs(text, file);
    fclose(file);
}

static int setup(void **state)
{
    if (mkdtemp(certs_dir) == NULL)
        return -1;
    write_file("tls.example:5000", "ca.crt", "not a real certificate\n");
    write_file("tls.example:5000", "client.cert", "cert\n");
    write_file("tls.example:5000", "client.key", "key\n");
    write_file("plain.example:5000", "hosts.toml",
               "server = \"http://plain.example:5000\"\n"
               "[host.\"http://plain.example:5000\"]\n"
               "  capabilities = [\"pull\", \"resolve\", \"push\"]\n");
    write_file("mirrored.example", "hosts.toml",
               "# mirrors first\n"
               "server = \"https://mirrored.example\"\n"
               "[host.\"https://push-only.example\"]\n"
               "  capabilities = [\"push\"]\n"
               "[host.\"https://mirror.example/v2\"]\n"
               "  capabilities = [\"pull\", \"resolve\"]\n"
               "  ca = [\"/etc/mirror-ca.crt\"]\n"
               "  client = [[\"/etc/c.cert\", \"/etc/c.key\"]]\n"
               "  skip_verify = true\n"
               "[host.\"https://mirror.example/v2\".header]\n"
               "  x-custom = [\"ignored\"]\n");
    return 0;
}

static int teardown(void **state)
{
    _cleanup_free_ char *command = xasprintf("rm -rf '%s'", certs_dir);

    return system(command) == 0 ? 0 : -1;
}

static void test_hosts_default_https(void **state)
{
    struct registry_endpoint *endpoints = NULL;
    size_t n = 0;

    assert_int_equal(hosts_endpoints(certs_dir, NULL, 0, "docker.io", "registry-1.docker.io",
                                     &endpoints, &n, NULL),
                     0);
    assert_int_equal(n, 1);
    assert_string_equal(endpoints[0].base_url, "https://registry-1.docker.io");
    assert_false(endpoints[0].is_mirror);
    assert_false(endpoints[0].skip_verify);
    assert_null(endpoints[0].ca_file);
    hosts_endpoints_free(endpoints, n);
}

static void test_hosts_certs_d_files(void **state)
{
    struct registry_endpoint *endpoints = NULL;
    size_t n = 0;

    assert_int_equal(hosts_endpoints(certs_dir, NULL, 0, "tls.example:5000", "tls.example:5000",
                                     &endpoints, &n, NULL),
                     0);
    assert_int_equal(n, 1);
    assert_non_null(strstr(endpoints[0].ca_file, "tls.example:5000/ca.crt"));
    assert_non_null(strstr(endpoints[0].client_cert, "tls.example:5000/client.cert"));
    assert_non_null(strstr(endpoints[0].client_key, "tls.example:5000/client.key"));
    hosts_endpoints_free(endpoints, n);
}

static void test_hosts_insecure_fallbacks(void **state)
{
    struct images_registry_config config = {.host = (char *)"local:5000", .insecure = true};
    struct registry_endpoint *endpoints = NULL;
    size_t n = 0;

    assert_int_equal(
        hosts_endpoints(certs_dir, &config, 1, "local:5000", "local:5000", &endpoints, &n, NULL),
        0);
    assert_int_equal(n, 3);
    assert_string_equal(endpoints[0].base_url, "https://local:5000");
    assert_false(endpoints[0].skip_verify);
    assert_string_equal(endpoints[1].base_url, "https://local:5000");
    assert_true(endpoints[1].skip_verify);
    assert_string_equal(endpoints[2].base_url, "http://local:5000");
    assert_ptr_equal(endpoints[2].config, &config);
    hosts_endpoints_free(endpoints, n);
}

static void test_hosts_secure_has_no_http(void **state)
{
    struct images_registry_config config = {.host = (char *)"local:5000"};
    struct registry_endpoint *endpoints = NULL;
    size_t n = 0;

    assert_int_equal(
        hosts_endpoints(certs_dir, &config, 1, "local:5000", "local:5000", &endpoints, &n, NULL),
        0);
    for (size_t i = 0; i < n; i++)
        assert_false(str_has_prefix(endpoints[i].base_url, "http:"));
    hosts_endpoints_free(endpoints, n);
}

static void test_hosts_config_mirrors_first(void **state)
{
    char *mirrors[] = {(char *)"mirror-a:5000", (char *)"http://mirror-b/", NULL};
    struct images_registry_config configs[2] = {
        {.host = (char *)"docker.io", .mirrors = mirrors},
        {.host = (char *)"mirror-a:5000", .username = (char *)"u", .password = (char *)"p"},
    };
    struct registry_endpoint *endpoints = NULL;
    size_t n = 0;

    assert_int_equal(hosts_endpoints(certs_dir, configs, 2, "docker.io", "registry-1.docker.io",
                                     &endpoints, &n, NULL),
                     0);
    assert_int_equal(n, 3);
    assert_string_equal(endpoints[0].base_url, "https://mirror-a:5000");
    assert_true(endpoints[0].is_mirror);
    assert_ptr_equal(endpoints[0].config, &configs[1]);
    assert_string_equal(endpoints[1].base_url, "http://mirror-b");
    assert_true(endpoints[1].is_mirror);
    assert_null(endpoints[1].config);
    assert_string_equal(endpoints[2].base_url, "https://registry-1.docker.io");
    assert_ptr_equal(endpoints[2].config, &configs[0]);
    hosts_endpoints_free(endpoints, n);
}

static void test_hosts_toml_plain_server(void **state)
{
    struct registry_endpoint *endpoints = NULL;
    size_t n = 0;

    assert_int_equal(hosts_endpoints(certs_dir, NULL, 0, "plain.example:5000", "plain.example:5000",
                                     &endpoints, &n, NULL),
                     0);
    assert_int_equal(n, 1);
    assert_string_equal(endpoints[0].base_url, "http://plain.example:5000");
    assert_false(endpoints[0].is_mirror);
    hosts_endpoints_free(endpoints, n);
}

static void test_hosts_toml_mirror(void **state)
{
    struct registry_endpoint *endpoints = NULL;
    size_t n = 0;

    assert_int_equal(hosts_endpoints(certs_dir, NULL, 0, "mirrored.example", "mirrored.example",
                                     &endpoints, &n, NULL),
                     0);
    assert_int_equal(n, 2);
    assert_string_equal(endpoints[0].base_url, "https://mirror.example");
    assert_true(endpoints[0].is_mirror);
    assert_true(endpoints[0].skip_verify);
    assert_string_equal(endpoints[0].ca_file, "/etc/mirror-ca.crt");
    assert_string_equal(endpoints[0].client_cert, "/etc/c.cert");
    assert_string_equal(endpoints[0].client_key, "/etc/c.key");
    assert_string_equal(endpoints[1].base_url, "https://mirrored.example");
    assert_false(endpoints[1].is_mirror);
    hosts_endpoints_free(endpoints, n);
}

static void test_hosts_toml_syntax_error(void **state)
{
    struct hosts_toml toml;
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(hosts_toml_parse("server = \"x\"\nca = [\"a\"", "h.toml", &toml, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "h.toml:2"));
}

static void test_hosts_find_config_docker_hub(void **state)
{
    struct images_registry_config config = {.host = (char *)"docker.io"};

    assert_ptr_equal(hosts_find_config(&config, 1, "registry-1.docker.io"), &config);
    assert_ptr_equal(hosts_find_config(&config, 1, "index.docker.io"), &config);
    assert_null(hosts_find_config(&config, 1, "quay.io"));
}

static void test_hosts_bad_mirror(void **state)
{
    char *mirrors[] = {(char *)"ftp://mirror", NULL};
    struct images_registry_config config = {.host = (char *)"r", .mirrors = mirrors};
    struct registry_endpoint *endpoints = NULL;
    size_t n = 0;
    _cleanup_error_ struct error err = ERROR_INIT;

    assert_int_equal(hosts_endpoints(NULL, &config, 1, "r", "r", &endpoints, &n, &err), -1);
    assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    assert_non_null(strstr(err.message, "ftp://mirror"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hosts_default_https),
        cmocka_unit_test(test_hosts_certs_d_files),
        cmocka_unit_test(test_hosts_insecure_fallbacks),
        cmocka_unit_test(test_hosts_secure_has_no_http),
        cmocka_unit_test(test_hosts_config_mirrors_first),
        cmocka_unit_test(test_hosts_toml_plain_server),
        cmocka_unit_test(test_hosts_toml_mirror),
        cmocka_unit_test(test_hosts_toml_syntax_error),
        cmocka_unit_test(test_hosts_find_config_docker_hub),
        cmocka_unit_test(test_hosts_bad_mirror),
    };

    return cmocka_run_group_tests(tests, setup, teardown);
}
