#ifndef HOSTCRI_IMAGES_HOSTS_H
#define HOSTCRI_IMAGES_HOSTS_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

/*
 * Per-host registry configuration and the endpoints a pull tries for a registry.
 *
 * For a registry the endpoints are, in order:
 *   1. the mirrors of its images_registry_config entry;
 *   2. the [host."<url>"] entries of <certs_dir>/<host[:port]>/hosts.toml (containerd's
 *      format, see hosts_toml.h) that can pull;
 *   3. the registry itself: the `server` of hosts.toml, else https://<api host>; a server
 *      written as http:// is used over plain HTTP;
 *   4. only for a host configured insecure: the host over HTTPS without certificate
 *      verification, then over plain HTTP.
 * TLS files come from hosts.toml, else from the Docker/containerd certs.d layout:
 * <certs_dir>/<host[:port]>/ca.crt is trusted in addition to the system CA store, and
 * client.cert with client.key is the client certificate.
 */

/* Configuration of one registry host, filled from the daemon's configuration file. */
struct images_registry_config {
    /* host[:port] as written in image references ("registry.example:5000", "docker.io"). */
    char *host;
    /*
     * NULL-terminated list of mirror base URLs ("https://mirror.example:5000"), tried in order
     * before the host. A URL without a scheme means https; an http:// URL is used as written.
     * NULL for none.
     */
    char **mirrors;
    /* Allow plain HTTP and HTTPS without certificate verification for this host. Default false. */
    bool insecure;
    /* Credentials used when the PullImage request carries none; each NULL when unset. */
    char *username;
    char *password;
    char *identity_token;
};

/* Deep copy of src into *dst. */
void hosts_registry_config_copy(struct images_registry_config *dst,
                                const struct images_registry_config *src);

/* Frees the strings of config and clears it. */
void hosts_registry_config_clear(struct images_registry_config *config);

/* One place a registry's API is served from. */
struct registry_endpoint {
    char *base_url;    /* "https://127.0.0.1:5000", without "/v2" and without a trailing '/' */
    char *host;        /* host[:port] of base_url, for certs.d, token cache and messages */
    bool is_mirror;    /* a configured mirror rather than the registry itself */
    bool skip_verify;  /* HTTPS without certificate verification (insecure hosts only) */
    char *ca_file;     /* <certs_dir>/<host>/ca.crt when it exists, else NULL */
    char *client_cert; /* <certs_dir>/<host>/client.cert when it and client.key exist */
    char *client_key;  /* <certs_dir>/<host>/client.key */
    /* Configuration entry of this endpoint's host (credentials), or NULL; borrowed. */
    const struct images_registry_config *config;
};

/*
 * Finds the entry for host in registries (count entries), or NULL. "docker.io",
 * "index.docker.io" and "registry-1.docker.io" name the same host.
 */
const struct images_registry_config *
hosts_find_config(const struct images_registry_config *registries, size_t count, const char *host);

/*
 * Builds the endpoint list for a registry: domain is the reference's domain ("docker.io",
 * "127.0.0.1:5000"), api_host the host that serves its API ("registry-1.docker.io" for
 * docker.io, else the domain). certs_dir may be NULL. *endpoints (count in *n) is owned by
 * the caller, who frees it with hosts_endpoints_free; the config pointers borrow from
 * registries. Fails with INVALID_ARGUMENT on a mirror URL that cannot be parsed.
 */
int hosts_endpoints(const char *certs_dir, const struct images_registry_config *registries,
                    size_t count, const char *domain, const char *api_host,
                    struct registry_endpoint **endpoints, size_t *n, struct error *err);

/* Frees the n endpoints of hosts_endpoints and the array. */
void hosts_endpoints_free(struct registry_endpoint *endpoints, size_t n);

/*
 * Splits an http(s) URL into scheme ("http" or "https") and authority (host[:port]).
 * Returns 0, or -1 when url has no http or https scheme or no host. Both outputs are owned
 * by the caller.
 */
int hosts_split_url(const char *url, char **scheme, char **authority);

#endif
