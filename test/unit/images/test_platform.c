#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "common/util.h"
#include "images/platform.h"

struct normalize_case {
    const char *spec;
    const char *expected;
};

static const struct normalize_case normalize_cases[] = {
    {"linux/x86_64", "linux/amd64"},     {"linux/x86-64", "linux/amd64"},
    {"linux/amd64/v1", "linux/amd64"},   {"linux/amd64/v3", "linux/amd64/v3"},
    {"Linux/AMD64", "linux/amd64"},      {"linux/i686", "linux/386"},
    {"linux/aarch64", "linux/arm64/v8"}, {"linux/arm64", "linux/arm64/v8"},
    {"linux/arm64/8", "linux/arm64/v8"}, {"linux/armhf", "linux/arm/v7"},
    {"linux/armel", "linux/arm/v6"},     {"linux/arm", "linux/arm/v7"},
    {"linux/arm/6", "linux/arm/v6"},     {"linux/armv7l", "linux/arm/v7"},
    {"windows/amd64", "windows/amd64"},  {"macos/arm64", "darwin/arm64/v8"},
    {"windows/x86", "windows/386"},      {"windows/AMD64", "windows/amd64"},
};

static void test_platform_normalize(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(normalize_cases); i++) {
        _cleanup_platform_ struct platform p = PLATFORM_INIT;
        _cleanup_free_ char *text = NULL;

        assert_int_equal(platform_parse(normalize_cases[i].spec, &p, NULL), 0);
        text = platform_format(&p);
        assert_string_equal(text, normalize_cases[i].expected);
    }
}

static void test_platform_parse_invalid(void **state)
{
    const char *const invalid[] = {"", "linux", "linux/amd64/v1/x", "/"};

    for (size_t i = 0; i < ARRAY_SIZE(invalid); i++) {
        _cleanup_platform_ struct platform p = PLATFORM_INIT;
        _cleanup_error_ struct error err = ERROR_INIT;

        assert_int_equal(platform_parse(invalid[i], &p, &err), -1);
        assert_int_equal(err.code, ERROR_INVALID_ARGUMENT);
    }
}

static void test_platform_host(void **state)
{
    _cleanup_platform_ struct platform p = PLATFORM_INIT;

    platform_host(&p);
    assert_string_equal(p.os, "linux");
    assert_non_null(p.architecture);
    assert_string_not_equal(p.architecture, "x86_64");
    assert_string_not_equal(p.architecture, "aarch64");
}

static void test_platform_windows_os_version(void **state)
{
    _cleanup_free_ char *full = platform_windows_os_version(10, 0, 20348, true, 2227);
    _cleanup_free_ char *no_revision = platform_windows_os_version(10, 0, 17763, false, 99);
    _cleanup_free_ char *zero = platform_windows_os_version(10, 0, 26100, true, 0);

    assert_string_equal(full, "10.0.20348.2227");
    assert_string_equal(no_revision, "10.0.17763");
    assert_string_equal(zero, "10.0.26100.0");
}

/* One selection: the host, the entries ("os/arch[/variant][@os.version]"), the expected index. */
struct select_case {
    const char *name;
    const char *host;
    const char *host_version;
    const char *entries[8];
    int expected; /* -1: no match */
};

static const struct select_case select_cases[] = {
    {"amd64 exact", "linux/amd64", NULL, {"linux/arm64", "linux/amd64", "windows/amd64"}, 1},
    {"x86_64 entry", "linux/amd64", NULL, {"linux/x86_64"}, 0},
    {"amd64 falls back to 386", "linux/amd64", NULL, {"linux/arm64", "linux/386"}, 1},
    {"amd64 prefers itself over 386", "linux/amd64", NULL, {"linux/386", "linux/amd64"}, 1},
    {"amd64 v3 host takes v2", "linux/amd64/v3", NULL, {"linux/amd64/v4", "linux/amd64/v2"}, 1},
    {"amd64 v3 prefers v3", "linux/amd64/v3", NULL, {"linux/amd64", "linux/amd64/v3"}, 1},
    {"amd64 v1 host rejects v2", "linux/amd64", NULL, {"linux/amd64/v2"}, -1},
    {"arm64 without variant is v8", "linux/arm64", NULL, {"linux/arm/v7", "linux/arm64/v8"}, 1},
    {"arm64 falls back to arm v7", "linux/aarch64", NULL, {"linux/arm/v7", "linux/arm/v6"}, 0},
    {"arm v7 takes v6", "linux/arm/v7", NULL, {"linux/arm64", "linux/arm/v6"}, 1},
    {"arm v6 rejects v7", "linux/arm/v6", NULL, {"linux/arm/v7"}, -1},
    {"os must match", "linux/amd64", NULL, {"windows/amd64", "darwin/amd64"}, -1},
    {"no entries", "linux/amd64", NULL, {NULL}, -1},
    {"attestation skipped", "linux/amd64", NULL, {"unknown/unknown", "linux/amd64"}, 1},
    {"windows exact version",
     "windows/amd64",
     "10.0.17763.5830",
     {"windows/amd64@10.0.17763.5820", "windows/amd64@10.0.17763.5830",
      "windows/amd64@10.0.17763.5840"},
     1},
    {"windows exact version wins in any order",
     "windows/amd64",
     "10.0.17763.5830",
     {"windows/amd64@10.0.17763.5830", "windows/amd64@10.0.17763.5840",
      "windows/amd64@10.0.17763.5820"},
     0},
    {"windows highest revision not above host",
     "windows/amd64",
     "10.0.17763.5830",
     {"windows/amd64@10.0.17763.5000", "windows/amd64@10.0.17763.5900",
      "windows/amd64@10.0.17763.5500"},
     2},
    {"windows lowest revision above host",
     "windows/amd64",
     "10.0.17763.5830",
     {"windows/amd64@10.0.17763.6000", "windows/amd64@10.0.17763.5900"},
     1},
    {"windows same build before other builds",
     "windows/amd64",
     "10.0.20348.2227",
     {"windows/amd64@10.0.17763.5830", "windows/amd64@10.0.20348.1", "windows/amd64"},
     1},
    {"windows entry without version before other builds",
     "windows/amd64",
     "10.0.20348.2227",
     {"windows/amd64@10.0.17763.5830", "windows/amd64", "windows/amd64@10.0.26100.1"},
     1},
    {"windows lower build before higher build",
     "windows/amd64",
     "10.0.20348.2227",
     {"windows/amd64@10.0.26100.1", "windows/amd64@10.0.17763.5830"},
     1},
    {"windows closest lower build",
     "windows/amd64",
     "10.0.26100.100",
     {"windows/amd64@10.0.17763.5830", "windows/amd64@10.0.20348.2227"},
     1},
    {"windows closest higher build",
     "windows/amd64",
     "10.0.17763.100",
     {"windows/amd64@10.0.26100.1", "windows/amd64@10.0.20348.2227"},
     1},
    {"windows ltsc2019 and ltsc2022 list",
     "windows/amd64",
     "10.0.20348.2700",
     {"linux/amd64", "windows/amd64@10.0.17763.6054", "windows/amd64@10.0.20348.2582"},
     2},
    {"windows host without version takes newest",
     "windows/amd64",
     NULL,
     {"windows/amd64@10.0.17763.6054", "windows/amd64@10.0.20348.2582", "windows/amd64"},
     1},
    {"windows entry with the host version before one without",
     "windows/amd64",
     "10.0.20348.2227",
     {"windows/amd64", "windows/amd64@10.0.20348.2227"},
     1},
    {"windows entry without version when no build matches",
     "windows/amd64",
     "10.0.20348.2227",
     {"windows/amd64@10.0.17763.5830", "windows/amd64", "linux/amd64"},
     1},
    {"windows host without revision matches revision 0 best",
     "windows/amd64",
     "10.0.19045",
     {"windows/amd64@10.0.19045.3930", "windows/amd64@10.0.17763.1"},
     0},
    {"windows arch still decides first",
     "windows/amd64",
     "10.0.17763.5830",
     {"windows/arm64@10.0.17763.5830", "windows/amd64@10.0.20348.1"},
     1},
};

static void parse_entry(const char *text, struct platform *p)
{
    _cleanup_free_ char *copy = xstrdup(text);
    char *at = strchr(copy, '@');

    if (at)
        *at = '\0';
    assert_int_equal(platform_parse(copy, p, NULL), 0);
    if (at)
        p->os_version = xstrdup(at + 1);
}

static void run_select_case(const struct select_case *c)
{
    struct platform entries[8] = {{0}};
    const struct platform *pointers[8] = {NULL};
    _cleanup_platform_ struct platform host = PLATFORM_INIT;
    _cleanup_error_ struct error err = ERROR_INIT;
    size_t count = 0;
    size_t chosen = 99;
    int rc;

    parse_entry(c->host, &host);
    host.os_version = xstrdup_or_null(c->host_version);
    for (; count < ARRAY_SIZE(c->entries) && c->entries[count]; count++) {
        parse_entry(c->entries[count], &entries[count]);
        pointers[count] = &entries[count];
    }

    rc = platform_select(&host, pointers, count, &chosen, &err);
    if (c->expected < 0) {
        assert_int_equal(rc, -1);
        assert_int_equal(err.code, ERROR_NOT_FOUND);
        assert_non_null(strstr(err.message, host.os));
    } else {
        assert_int_equal(rc, 0);
        assert_int_equal(chosen, (size_t)c->expected);
    }
    for (size_t i = 0; i < count; i++)
        platform_clear(&entries[i]);
}

static void test_platform_select_table(void **state)
{
    for (size_t i = 0; i < ARRAY_SIZE(select_cases); i++) {
        print_message("%s\n", select_cases[i].name);
        run_select_case(&select_cases[i]);
    }
}

static void test_platform_select_skips_null(void **state)
{
    _cleanup_platform_ struct platform host = PLATFORM_INIT;
    _cleanup_platform_ struct platform entry = PLATFORM_INIT;
    const struct platform *entries[] = {NULL, &entry};
    size_t chosen = 0;

    assert_int_equal(platform_parse("linux/amd64", &host, NULL), 0);
    assert_int_equal(platform_parse("linux/amd64", &entry, NULL), 0);
    assert_int_equal(platform_select(&host, entries, 2, &chosen, NULL), 0);
    assert_int_equal(chosen, 1);
    assert_true(platform_matches(&host, &entry));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_platform_normalize),
        cmocka_unit_test(test_platform_parse_invalid),
        cmocka_unit_test(test_platform_host),
        cmocka_unit_test(test_platform_windows_os_version),
        cmocka_unit_test(test_platform_select_table),
        cmocka_unit_test(test_platform_select_skips_null),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
