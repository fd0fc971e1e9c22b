#include "common/net_address.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

int net_address_parse(const char *address, struct sockaddr_storage *out)
{
    const char *colon = strrchr(address, ':');
    struct sockaddr_storage unused;
    _cleanup_free_ char *host = NULL;
    char *end;
    long port;

    if (out == NULL)
        out = &unused;
    if (colon == NULL || colon[1] == '\0')
        return -1;
    port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 1 || port > 65535)
        return -1;
    if (address[0] == '[') {
        /* At least one character between the brackets, and "]" right before the colon. */
        if (colon - address < 3 || colon[-1] != ']')
            return -1;
        host = xstrndup(address + 1, (size_t)(colon - address - 2));
        return uv_ip6_addr(host, (int)port, (struct sockaddr_in6 *)out) == 0 ? 0 : -1;
    }
    host = xstrndup(address, (size_t)(colon - address));
    return uv_ip4_addr(host, (int)port, (struct sockaddr_in *)out) == 0 ? 0 : -1;
}
