/* net_address_parse: the IP:PORT listen addresses of the configuration. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "common/net_address.h"

static void valid_addresses_parse(void **state)
{
    struct sockaddr_storage address;
    const struct sockaddr_in *ipv4 = (const struct sockaddr_in *)&address;
    const struct sockaddr_in6 *ipv6 = (const struct sockaddr_in6 *)&address;

    (void)state;
    assert_int_equal(net_address_parse("127.0.0.1:9464", &address), 0);
    assert_int_equal(address.ss_family, AF_INET);
    assert_int_equal(ntohs(ipv4->sin_port), 9464);
    assert_int_equal(net_address_parse("[::1]:65535", &address), 0);
    assert_int_equal(address.ss_family, AF_INET6);
    assert_int_equal(ntohs(ipv6->sin6_port), 65535);
    assert_int_equal(net_address_parse("0.0.0.0:1", NULL), 0);
}

static void invalid_addresses_rejected(void **state)
{
    static const char *const invalid[] = {
        "",        "127.0.0.1",     "127.0.0.1:",   "127.0.0.1:0",  "127.0.0.1:65536",
        ":9464",   "localhost:80",  "[::1]",        "[]:80",        "::1:80",
        "[::1:80", "127.0.0.1:80x", "127.0.0.1:-1", "300.0.0.1:80", "[::1]x:80",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(invalid) / sizeof(invalid[0]); i++) {
        if (net_address_parse(invalid[i], NULL) == 0)
            fail_msg("\"%s\" was accepted", invalid[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_addresses_parse),
        cmocka_unit_test(invalid_addresses_rejected),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
