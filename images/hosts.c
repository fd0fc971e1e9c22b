#include "images/hosts.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/util.h"
#include "images/hosts_toml.h"

static const char *const docker_hub_names[] = {"docker.io", "index.docker.io",
                                               "registry-1.docker.io"};

void hosts_registry_config_copy(struct images_registry_config *dst,
                                const struct images_registry_config *src)
{
    dst->host = xstrdup_or_null(src->host);
    dst->mirrors = strv_copy(src->mirrors);
    dst->insecure = src->insecure;
    dst->username = xstrdup_or_null(src->username);
    dst->password = xstrdup_or_null(src->password);
    dst->identity_token = xstrdup_or_null(src->identity_token);
}

void hosts_registry_config_clear(struct images_registry_config *config)
{
    free(config->host);
    strv_free(config->mirrors);
    free(config->username);
    free(config->password);
    free(config->identity_token);
    memset(config, 0, sizeof(*config));
}

static bool is_docker_hub(const char *host)
{
    for (size_t i = 0; i < ARRAY_SIZE(docker_hub_names); i++) {
        if (strcmp(host, docker_hub_names[i]) == 0)
            return true;
    }
    return false;
}

static bool same_host(const char *a, const char *b)
{
    return strcasecmp(a, b) == 0 || (is_docker_hub(a) && is_docker_hub(b));
}

const struct images_registry_config *
hosts_find_config(const struct images_registry_config *registries, size_t count, const char *host)
{
    for (size_t i = 0; i < count; i++) {
        if (registries[i].host != NULL && same_host(registries[i].host, host))
            return &registries[i];
    }
    return NULL;
}

int hosts_split_url(const char *url, char **scheme, char **authority)
{
    const char *rest;
    size_t length;

    if (strncasecmp(url, "https://", 8) == 0) {
        *scheme = xstrdup("https");
        rest = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        *scheme = xstrdup("http");
        rest = url + 7;
    } else {
        return -1;
    }
    length = strcspn(rest, "/?#");
    if (length == 0 || memchr(rest, '@', length) != NULL) {
        free(*scheme);
        *scheme = NULL;
        return -1;
    }
    *authority = xstrndup(rest, length);
    return 0;
}

/* A file under <certs_dir>/<host>/, or NULL when it does not exist. */
static char *certs_file(const char *certs_dir, const char *host, const char *name)
{
    char *path;

    if (certs_dir == NULL)
        return NULL;
    path = xasprintf("%s/%s/%s", certs_dir, host, name);
    if (access(path, R_OK) == 0)
        return path;
    free(path);
    return NULL;
}

/* Looks up TLS files under the endpoint's host, then under alias (the reference's domain). */
static void find_tls_files(struct registry_endpoint *endpoint, const char *certs_dir,
                           const char *alias)
{
    const char *dirs[2] = {endpoint->host, alias};

    for (size_t i = 0; i < ARRAY_SIZE(dirs) && dirs[i] != NULL; i++) {
        char *cert = certs_file(certs_dir, dirs[i], "client.cert");
        char *key = certs_file(certs_dir, dirs[i], "client.key");

        if (endpoint->ca_file == NULL)
            endpoint->ca_file = certs_file(certs_dir, dirs[i], "ca.crt");
        if (endpoint->client_cert == NULL && cert != NULL && key != NULL) {
            endpoint->client_cert = steal_pointer(&cert);
            endpoint->client_key = steal_pointer(&key);
        }
        free(cert);
        free(key);
    }
}

struct endpoint_list {
    struct registry_endpoint *items;
    size_t count;
};

static struct registry_endpoint *add_endpoint(struct endpoint_list *list, const char *scheme,
                                              const char *authority)
{
    struct registry_endpoint *endpoint;

    list->items = xrealloc(list->items, (list->count + 1) * sizeof(*list->items));
    endpoint = &list->items[list->count++];
    memset(endpoint, 0, sizeof(*endpoint));
    endpoint->base_url = xasprintf("%s://%s", scheme, authority);
    endpoint->host = xstrdup(authority);
    return endpoint;
}

static int add_mirror(struct endpoint_list *list, const char *url, const char *certs_dir,
                      const struct images_registry_config *registries, size_t count,
                      struct error *err)
{
    _cleanup_free_ char *with_scheme = NULL;
    _cleanup_free_ char *scheme = NULL;
    _cleanup_free_ char *authority = NULL;
    struct registry_endpoint *endpoint;

    if (strstr(url, "://") == NULL)
        url = with_scheme = xasprintf("https://%s", url);
    if (hosts_split_url(url, &scheme, &authority) < 0)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "registry mirror \"%s\" is not an http or https URL", url);

    endpoint = add_endpoint(list, scheme, authority);
    endpoint->is_mirror = true;
    endpoint->config = hosts_find_config(registries, count, authority);
    endpoint->skip_verify = endpoint->config != NULL && endpoint->config->insecure;
    find_tls_files(endpoint, certs_dir, NULL);
    return 0;
}

static char *strip_url(const char *url)
{
    size_t length = strlen(url);

    while (length > 0 && url[length - 1] == '/')
        length--;
    if (length >= 3 && strncmp(url + length - 3, "/v2", 3) == 0)
        length -= 3;
    return xstrndup(url, length);
}

/* Adds an endpoint from a hosts.toml entry; TLS files default to certs.d of its host. */
static int add_toml_host(struct endpoint_list *list, const struct hosts_toml_host *host,
                         const char *certs_dir, const char *alias, struct error *err)
{
    _cleanup_free_ char *url = strip_url(host->url);
    _cleanup_free_ char *scheme = NULL;
    _cleanup_free_ char *authority = NULL;
    struct registry_endpoint *endpoint;

    if (hosts_split_url(url, &scheme, &authority) < 0)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "hosts.toml: \"%s\" is not an http or https URL", host->url);
    endpoint = add_endpoint(list, scheme, authority);
    free(endpoint->base_url);
    endpoint->base_url = steal_pointer(&url);
    endpoint->skip_verify = host->skip_verify;
    endpoint->ca_file = xstrdup_or_null(host->ca_file);
    if (host->client_cert != NULL) {
        endpoint->client_cert = xstrdup(host->client_cert);
        endpoint->client_key = xstrdup(host->client_key);
    }
    find_tls_files(endpoint, certs_dir, alias);
    return 0;
}

static bool same_url(const char *a, const char *b)
{
    _cleanup_free_ char *x = strip_url(a);
    _cleanup_free_ char *y = strip_url(b);

    return strcasecmp(x, y) == 0;
}

/* Adds the hosts of <certs_dir>/<domain>/hosts.toml and the registry's own endpoint. */
static int add_configured_hosts(struct endpoint_list *list, const char *certs_dir,
                                const struct images_registry_config *registries, size_t count,
                                const char *domain, const char *api_host, struct error *err)
{
    const struct images_registry_config *config = hosts_find_config(registries, count, domain);
    _cleanup_free_ char *path = certs_dir ? xasprintf("%s/%s/hosts.toml", certs_dir, domain) : NULL;
    _cleanup_free_ char *default_server = xasprintf("https://%s", api_host);
    struct hosts_toml toml = {0};
    const char *server_url;
    bool server_listed = false;
    int rc = 0;

    if (path != NULL && hosts_toml_load(path, &toml, err) < 0)
        return -1;
    server_url = toml.server.url ? toml.server.url : default_server;
    for (size_t i = 0; i < toml.host_count && rc == 0; i++) {
        bool is_server = same_url(toml.hosts[i].url, server_url);

        if (!toml.hosts[i].can_pull)
            continue;
        rc = add_toml_host(list, &toml.hosts[i], certs_dir, is_server ? domain : NULL, err);
        if (rc == 0) {
            struct registry_endpoint *endpoint = &list->items[list->count - 1];

            endpoint->is_mirror = !is_server;
            endpoint->config =
                is_server ? config : hosts_find_config(registries, count, endpoint->host);
            server_listed = server_listed || is_server;
        }
    }
    if (rc == 0 && !server_listed) {
        struct hosts_toml_host server = toml.server;

        server.url = (char *)server_url;
        rc = add_toml_host(list, &server, certs_dir, domain, err);
        if (rc == 0)
            list->items[list->count - 1].config = config;
    }
    hosts_toml_clear(&toml);
    return rc;
}

int hosts_endpoints(const char *certs_dir, const struct images_registry_config *registries,
                    size_t count, const char *domain, const char *api_host,
                    struct registry_endpoint **endpoints, size_t *n, struct error *err)
{
    const struct images_registry_config *config = hosts_find_config(registries, count, domain);
    struct endpoint_list list = {NULL, 0};
    struct registry_endpoint *endpoint;

    for (size_t i = 0; config != NULL && config->mirrors != NULL && config->mirrors[i]; i++) {
        if (add_mirror(&list, config->mirrors[i], certs_dir, registries, count, err) < 0)
            goto fail;
    }
    if (add_configured_hosts(&list, certs_dir, registries, count, domain, api_host, err) < 0)
        goto fail;

    if (config != NULL && config->insecure) {
        endpoint = add_endpoint(&list, "https", api_host);
        endpoint->config = config;
        endpoint->skip_verify = true;
        find_tls_files(endpoint, certs_dir, domain);

        endpoint = add_endpoint(&list, "http", api_host);
        endpoint->config = config;
    }
    *endpoints = list.items;
    *n = list.count;
    return 0;

fail:
    hosts_endpoints_free(list.items, list.count);
    return -1;
}

void hosts_endpoints_free(struct registry_endpoint *endpoints, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(endpoints[i].base_url);
        free(endpoints[i].host);
        free(endpoints[i].ca_file);
        free(endpoints[i].client_cert);
        free(endpoints[i].client_key);
    }
    free(endpoints);
}
