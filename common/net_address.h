#ifndef HOSTCRI_COMMON_NET_ADDRESS_H
#define HOSTCRI_COMMON_NET_ADDRESS_H

#include <uv.h>

/*
 * Parses a listen address written "IPv4:PORT" or "[IPv6]:PORT", with a port from 1 to 65535,
 * into *out (may be NULL to only validate). Host names are not resolved. Returns 0, or -1 when
 * the address is malformed.
 */
int net_address_parse(const char *address, struct sockaddr_storage *out);

#endif
