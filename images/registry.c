#include "images/registry.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "common/log.h"
#include "common/strbuf.h"
#include "common/util.h"
#include "images/manifest.h"
#include "images/registry_http.h"

#define MAX_REDIRECTS 10
#define MAX_TOKEN_RESPONSE (1024 * 1024)
#define MAX_BACKOFF_MS 10000

const char *const registry_manifest_accept = "Accept: " MANIFEST_ACCEPT_HEADER;

struct registry_client {
    uv_loop_t *loop;
    const struct registry_client_options *options;
    struct registry_http *http;
    struct auth_token_cache *tokens;
    char **basic_hosts; /* "<host>\n<fingerprint>" of endpoints that sent a Basic challenge */
    /*
     * "<domain>\n<index>": the registry's own endpoint that last worked when an earlier one
     * (HTTPS with verification) failed to connect, so that later fetches of an insecure
     * registry start there instead of failing the TLS handshake again.
     */
    char **sticky_endpoints;
    struct registry_fetch *fetches;
};

/* Usefulness of an error to the user, so that the final message names the most telling failure. */
enum error_rank {
    RANK_NONE = 0,
    RANK_CONNECTION = 1,
    RANK_NOT_FOUND = 2,
    RANK_STATUS = 3,
    RANK_REGISTRY_BONUS = 10, /* failures of the registry itself beat those of its mirrors */
};

struct registry_fetch {
    struct registry_client *client;
    struct registry_fetch *prev;
    struct registry_fetch *next;

    char *domain;
    char *repository;
    char *reference;
    enum registry_object kind;
    bool head;
    char *scope;
    struct auth_credentials request_credentials;
    struct registry_endpoint *endpoints;
    size_t endpoint_count;
    size_t endpoint_index;

    /* State of the current endpoint. */
    struct auth_credentials credentials;
    char *fingerprint;
    unsigned attempt;
    unsigned redirects;
    char *url;
    bool off_origin;
    bool auth_tried;
    bool delivered;

    struct registry_http_request *request;
    struct registry_http_request *token_request;
    struct strbuf token_body;
    struct auth_challenge challenge;
    bool token_post;
    uv_timer_t timer;

    struct error best_error;
    int best_rank;

    registry_body_cb body_cb;
    registry_restart_cb restart_cb;
    registry_done_cb done_cb;
    void *data;
};

static void start_attempt(struct registry_fetch *fetch);
static void start_token_request(struct registry_fetch *fetch, bool post);
static void remember_sticky(struct registry_fetch *fetch);

const char *registry_status_text(long status)
{
    switch (status) {
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 416:
        return "Range Not Satisfiable";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "";
    }
}

static enum error_code status_error_code(long status)
{
    if (status == 401)
        return ERROR_UNAUTHENTICATED;
    if (status == 403)
        return ERROR_PERMISSION_DENIED;
    if (status == 404)
        return ERROR_NOT_FOUND;
    if (status == 429)
        return ERROR_RESOURCE_EXHAUSTED;
    if (status >= 500)
        return ERROR_UNAVAILABLE;
    return ERROR_UNKNOWN;
}

static uint64_t monotonic_ns(void)
{
    return uv_hrtime();
}

static const struct registry_endpoint *current_endpoint(const struct registry_fetch *fetch)
{
    return &fetch->endpoints[fetch->endpoint_index];
}

static char *object_name(const struct registry_fetch *fetch)
{
    if (fetch->kind == REGISTRY_MANIFEST)
        return xstrdup("the manifest");
    return xasprintf("blob %s", fetch->reference);
}

/* The "message" of the first entry of a registry's JSON error body, or NULL. */
static char *registry_error_detail(const char *body)
{
    json_t *root = json_loads(body, 0, NULL);
    json_t *first = json_array_get(json_object_get(root, "errors"), 0);
    const char *message = json_string_value(json_object_get(first, "message"));
    char *detail = message != NULL && strlen(message) < 200 ? xstrdup(message) : NULL;

    json_decref(root);
    return detail;
}

/* Final steps: report and free. */

static void fetch_free(struct registry_fetch *fetch);

static void timer_close_cb(uv_handle_t *handle)
{
    struct registry_fetch *fetch = handle->data;

    free(fetch->domain);
    free(fetch->repository);
    free(fetch->reference);
    free(fetch->scope);
    auth_credentials_clear(&fetch->request_credentials);
    auth_credentials_clear(&fetch->credentials);
    hosts_endpoints_free(fetch->endpoints, fetch->endpoint_count);
    free(fetch->fingerprint);
    free(fetch->url);
    strbuf_free(&fetch->token_body);
    auth_challenge_clear(&fetch->challenge);
    error_clear(&fetch->best_error);
    free(fetch);
}

static void fetch_free(struct registry_fetch *fetch)
{
    struct registry_client *client = fetch->client;

    if (fetch->request != NULL)
        registry_http_cancel(fetch->request);
    if (fetch->token_request != NULL)
        registry_http_cancel(fetch->token_request);
    fetch->request = fetch->token_request = NULL;
    if (fetch->prev != NULL)
        fetch->prev->next = fetch->next;
    else
        client->fetches = fetch->next;
    if (fetch->next != NULL)
        fetch->next->prev = fetch->prev;
    uv_timer_stop(&fetch->timer);
    uv_close((uv_handle_t *)&fetch->timer, timer_close_cb);
}

static void finish_ok(struct registry_fetch *fetch, const struct registry_http_response *response)
{
    struct registry_fetch_result result = {
        .content_type = response->content_type,
        .content_digest = response->content_digest,
        .endpoint_host = current_endpoint(fetch)->host,
    };

    if (fetch->endpoint_index > 0)
        remember_sticky(fetch);
    fetch->done_cb(&result, NULL, fetch->data);
    fetch_free(fetch);
}

static void finish_error(struct registry_fetch *fetch, const struct error *err)
{
    fetch->done_cb(NULL, err, fetch->data);
    fetch_free(fetch);
}

/* Endpoint selection. */

static void load_credentials(struct registry_fetch *fetch)
{
    const struct registry_endpoint *endpoint = current_endpoint(fetch);

    auth_credentials_clear(&fetch->credentials);
    free(fetch->fingerprint);
    if (!endpoint->is_mirror && !auth_credentials_empty(&fetch->request_credentials)) {
        auth_credentials_copy(&fetch->credentials, &fetch->request_credentials);
    } else if (endpoint->config != NULL) {
        fetch->credentials.username = xstrdup_or_null(endpoint->config->username);
        fetch->credentials.password = xstrdup_or_null(endpoint->config->password);
        fetch->credentials.identity_token = xstrdup_or_null(endpoint->config->identity_token);
    }
    fetch->fingerprint = auth_credentials_fingerprint(&fetch->credentials);
}

static void retry_timer_cb(uv_timer_t *timer);

/* The slot of the domain's sticky entry in client->sticky_endpoints, or NULL. */
static char **find_sticky(struct registry_client *client, const char *domain)
{
    size_t length = strlen(domain);

    for (size_t i = 0; client->sticky_endpoints && client->sticky_endpoints[i]; i++) {
        if (strncmp(client->sticky_endpoints[i], domain, length) == 0 &&
            client->sticky_endpoints[i][length] == '\n')
            return &client->sticky_endpoints[i];
    }
    return NULL;
}

/* Jumps over the registry's own endpoints that failed to connect in an earlier fetch. */
static void apply_sticky(struct registry_fetch *fetch)
{
    char **slot = find_sticky(fetch->client, fetch->domain);
    size_t index;

    if (slot == NULL || current_endpoint(fetch)->is_mirror)
        return;
    index = strtoul(*slot + strlen(fetch->domain) + 1, NULL, 10);
    if (index > fetch->endpoint_index && index < fetch->endpoint_count)
        fetch->endpoint_index = index;
}

static void remember_sticky(struct registry_fetch *fetch)
{
    struct registry_client *client = fetch->client;
    char **slot = find_sticky(client, fetch->domain);
    size_t n = strv_length(client->sticky_endpoints);

    if (current_endpoint(fetch)->is_mirror)
        return;
    if (slot == NULL) {
        client->sticky_endpoints = xrealloc(client->sticky_endpoints, (n + 2) * sizeof(char *));
        client->sticky_endpoints[n + 1] = NULL;
        slot = &client->sticky_endpoints[n];
    } else {
        free(*slot);
    }
    *slot = xasprintf("%s\n%zu", fetch->domain, fetch->endpoint_index);
}

/* Drops the domain's sticky entry when its endpoint no longer connects. */
static void forget_sticky(struct registry_fetch *fetch)
{
    char **slot = find_sticky(fetch->client, fetch->domain);
    char **last;

    if (slot == NULL)
        return;
    last = slot;
    while (last[1] != NULL)
        last++;
    free(*slot);
    *slot = *last;
    *last = NULL;
}

/* Starts on the current endpoint; deferred runs the first attempt from the loop. */
static void begin_endpoint(struct registry_fetch *fetch, bool deferred)
{
    free(fetch->url);
    fetch->url = NULL;
    fetch->attempt = 0;
    fetch->redirects = 0;
    fetch->off_origin = false;
    fetch->auth_tried = false;
    apply_sticky(fetch);
    load_credentials(fetch);
    if (deferred)
        uv_timer_start(&fetch->timer, retry_timer_cb, 0, 0);
    else
        start_attempt(fetch);
}

/*
 * Handles a failure at the current endpoint: moves on to the next endpoint when that is
 * allowed (after any failure of a mirror, after a connection failure of the registry), or
 * reports the most telling error seen. Takes the contents of err.
 */
static void fail_endpoint(struct registry_fetch *fetch, struct error *err, int rank)
{
    const struct registry_endpoint *endpoint = current_endpoint(fetch);
    bool has_next = fetch->endpoint_index + 1 < fetch->endpoint_count;
    bool move_on;

    if (!endpoint->is_mirror)
        rank += RANK_REGISTRY_BONUS;
    if (!endpoint->is_mirror && rank % RANK_REGISTRY_BONUS == RANK_CONNECTION)
        forget_sticky(fetch);
    move_on = has_next && (endpoint->is_mirror || rank % RANK_REGISTRY_BONUS == RANK_CONNECTION);
    if (move_on)
        log_warn("%s; trying %s%s", err->message,
                 fetch->endpoints[fetch->endpoint_index + 1].base_url,
                 fetch->endpoints[fetch->endpoint_index + 1].skip_verify
                     ? " without certificate verification"
                     : "");
    if (rank > fetch->best_rank) {
        error_clear(&fetch->best_error);
        error_move(&fetch->best_error, err);
        fetch->best_rank = rank;
    }
    error_clear(err);
    if (move_on) {
        fetch->endpoint_index++;
        begin_endpoint(fetch, false);
        return;
    }
    finish_error(fetch, &fetch->best_error);
}

static void fail_status(struct registry_fetch *fetch, long status, const char *error_body)
{
    _cleanup_error_ struct error err = ERROR_INIT;
    _cleanup_free_ char *what = object_name(fetch);
    _cleanup_free_ char *detail = error_body ? registry_error_detail(error_body) : NULL;

    error_set(&err, status_error_code(status), "registry %s returned %ld %s for %s%s%s",
              current_endpoint(fetch)->host, status, registry_status_text(status), what,
              detail ? ": " : "", detail ? detail : "");
    fail_endpoint(fetch, &err, status == 404 ? RANK_NOT_FOUND : RANK_STATUS);
}

/* Retries. */

static void retry_timer_cb(uv_timer_t *timer)
{
    start_attempt(timer->data);
}

static bool is_retryable_curl_code(int code)
{
    switch (code) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
}

/* Schedules another attempt at the same endpoint. Returns false when the retries are spent. */
static bool schedule_retry(struct registry_fetch *fetch, const char *reason)
{
    const struct registry_client_options *options = fetch->client->options;
    uint64_t delay = options->retry_backoff_ms;
    _cleanup_free_ char *what = object_name(fetch);

    if (fetch->attempt >= options->retries)
        return false;
    for (unsigned i = 0; i < fetch->attempt && delay < MAX_BACKOFF_MS; i++)
        delay *= 2;
    if (delay > MAX_BACKOFF_MS)
        delay = MAX_BACKOFF_MS;
    fetch->attempt++;
    log_warn("registry %s: %s for %s; retry %u of %u in %llu ms", current_endpoint(fetch)->host,
             reason, what, fetch->attempt, options->retries, (unsigned long long)delay);
    free(fetch->url);
    fetch->url = NULL;
    fetch->off_origin = false;
    fetch->redirects = 0;
    uv_timer_start(&fetch->timer, retry_timer_cb, delay, 0);
    return true;
}

/* Authorization. */

static char *basic_host_key(const struct registry_fetch *fetch)
{
    return xasprintf("%s\n%s", current_endpoint(fetch)->host, fetch->fingerprint);
}

static bool wants_basic(const struct registry_fetch *fetch)
{
    _cleanup_free_ char *key = basic_host_key(fetch);
    char **hosts = fetch->client->basic_hosts;

    for (size_t i = 0; hosts != NULL && hosts[i] != NULL; i++) {
        if (strcmp(hosts[i], key) == 0)
            return true;
    }
    return false;
}

static void remember_basic(struct registry_fetch *fetch)
{
    struct registry_client *client = fetch->client;
    size_t n = strv_length(client->basic_hosts);

    if (wants_basic(fetch))
        return;
    client->basic_hosts = xrealloc(client->basic_hosts, (n + 2) * sizeof(char *));
    client->basic_hosts[n] = basic_host_key(fetch);
    client->basic_hosts[n + 1] = NULL;
}

/* The Authorization header for a request to the current endpoint's origin, or NULL. */
static char *authorization_header(struct registry_fetch *fetch)
{
    const char *token = auth_token_cache_get(fetch->client->tokens, current_endpoint(fetch)->host,
                                             fetch->scope, fetch->fingerprint, monotonic_ns());

    if (token != NULL)
        return xasprintf("Authorization: Bearer %s", token);
    if (wants_basic(fetch) && auth_credentials_have_password(&fetch->credentials))
        return auth_basic_header(&fetch->credentials);
    return NULL;
}

static void cache_token(struct registry_fetch *fetch, const char *token, int64_t expires_in_s)
{
    uint64_t expires_at = monotonic_ns() + (uint64_t)expires_in_s * 1000000000ULL;

    auth_token_cache_put(fetch->client->tokens, current_endpoint(fetch)->host, fetch->scope,
                         fetch->fingerprint, token, expires_at);
}

/* Handles a 401 response from the endpoint's origin. */
static void handle_unauthorized(struct registry_fetch *fetch,
                                const struct registry_http_response *response,
                                const char *error_body)
{
    auth_challenge_clear(&fetch->challenge);
    if (fetch->auth_tried || fetch->off_origin ||
        auth_challenge_parse(response->www_authenticate, &fetch->challenge, NULL) < 0) {
        auth_token_cache_drop(fetch->client->tokens, current_endpoint(fetch)->host, fetch->scope,
                              fetch->fingerprint);
        fail_status(fetch, response->status, error_body);
        return;
    }
    fetch->auth_tried = true;

    if (fetch->challenge.scheme == AUTH_SCHEME_BASIC) {
        if (!auth_credentials_have_password(&fetch->credentials)) {
            fail_status(fetch, response->status, error_body);
            return;
        }
        remember_basic(fetch);
        start_attempt(fetch);
        return;
    }
    if (fetch->credentials.registry_token != NULL) {
        cache_token(fetch, fetch->credentials.registry_token, 60);
        start_attempt(fetch);
        return;
    }
    start_token_request(fetch, fetch->credentials.identity_token != NULL);
}

/* Redirects. */

/* "scheme://host:port" of url with the default port filled in, or NULL. */
static char *url_origin(const char *url)
{
    CURLU *handle = curl_url();
    char *scheme = NULL;
    char *host = NULL;
    char *port = NULL;
    char *origin = NULL;

    if (curl_url_set(handle, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(handle, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(handle, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
        curl_url_get(handle, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
        origin = xasprintf("%s://%s:%s", scheme, host, port);
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(handle);
    return origin;
}

/* Resolves location against base. Returns a new string, or NULL when it is not a valid URL. */
static char *resolve_location(const char *base, const char *location)
{
    CURLU *handle = curl_url();
    char *resolved = NULL;
    char *copy = NULL;

    if (curl_url_set(handle, CURLUPART_URL, base, 0) == CURLUE_OK &&
        curl_url_set(handle, CURLUPART_URL, location, 0) == CURLUE_OK &&
        curl_url_get(handle, CURLUPART_URL, &resolved, 0) == CURLUE_OK)
        copy = xstrdup(resolved);
    curl_free(resolved);
    curl_url_cleanup(handle);
    return copy;
}

static char *endpoint_url(const struct registry_fetch *fetch)
{
    const char *kind = fetch->kind == REGISTRY_MANIFEST ? "manifests" : "blobs";

    return xasprintf("%s/v2/%s/%s/%s", current_endpoint(fetch)->base_url, fetch->repository, kind,
                     fetch->reference);
}

static void follow_redirect(struct registry_fetch *fetch, const char *location)
{
    _cleanup_free_ char *current = fetch->url ? xstrdup(fetch->url) : endpoint_url(fetch);
    _cleanup_free_ char *next = resolve_location(current, location);
    _cleanup_free_ char *endpoint_origin = url_origin(current_endpoint(fetch)->base_url);
    _cleanup_free_ char *next_origin = next ? url_origin(next) : NULL;
    _cleanup_error_ struct error err = ERROR_INIT;
    _cleanup_free_ char *what = object_name(fetch);
    const char *host = current_endpoint(fetch)->host;

    if (next_origin == NULL || ++fetch->redirects > MAX_REDIRECTS) {
        error_set(&err, ERROR_UNKNOWN, "registry %s sent an invalid redirect or too many for %s",
                  host, what);
        fail_endpoint(fetch, &err, RANK_STATUS);
        return;
    }
    if (str_has_prefix(current, "https:") && !str_has_prefix(next, "https:") &&
        !current_endpoint(fetch)->skip_verify) {
        error_set(&err, ERROR_PERMISSION_DENIED,
                  "registry %s redirected %s from https to plain http", host, what);
        fail_endpoint(fetch, &err, RANK_STATUS);
        return;
    }
    /* Credentials stay with the endpoint: a redirect elsewhere (pre-signed URLs) gets none. */
    fetch->off_origin = strcmp(next_origin, endpoint_origin) != 0;
    free(fetch->url);
    fetch->url = steal_pointer(&next);
    start_attempt(fetch);
}

/* The main request. */

static int fetch_body_cb(void *data, const char *bytes, size_t length)
{
    struct registry_fetch *fetch = data;

    fetch->delivered = true;
    return fetch->body_cb(fetch->data, bytes, length);
}

/* Returns the hint to append to a TLS failure's message, or "" for other failures. */
static char *tls_failure_hint(const struct registry_fetch *fetch, int curl_code,
                              const char *curl_error)
{
    const struct registry_endpoint *endpoint = current_endpoint(fetch);
    const char *certs_dir = fetch->client->options->certs_dir;

    if (curl_code == CURLE_PEER_FAILED_VERIFICATION && endpoint->ca_file != NULL)
        return xasprintf(" (the certificate does not verify against %s: put the CA that signed "
                         "the registry's certificate there, or set insecure: true for \"%s\" "
                         "under registries:)",
                         endpoint->ca_file, endpoint->host);
    if (curl_code == CURLE_PEER_FAILED_VERIFICATION && certs_dir != NULL)
        return xasprintf(" (put the registry's CA certificate in %s/%s/ca.crt, or set insecure: "
                         "true for \"%s\" under registries:)",
                         certs_dir, endpoint->host, endpoint->host);
    if (curl_code == CURLE_PEER_FAILED_VERIFICATION)
        return xasprintf(" (set images.certs_dir and put the registry's CA certificate in "
                         "<images.certs_dir>/%s/ca.crt, or set insecure: true for \"%s\" under "
                         "registries:)",
                         endpoint->host, endpoint->host);
    if (curl_code == CURLE_SSL_CONNECT_ERROR && strstr(curl_error, "wrong version number"))
        return xasprintf(" (the registry may speak plain HTTP: set insecure: true for \"%s\" "
                         "under registries:)",
                         endpoint->host);
    return xstrdup("");
}

static void handle_connection_failure(struct registry_fetch *fetch,
                                      const struct registry_http_response *response)
{
    _cleanup_error_ struct error err = ERROR_INIT;
    _cleanup_free_ char *what = object_name(fetch);
    _cleanup_free_ char *hint = NULL;

    if (is_retryable_curl_code(response->curl_code) && schedule_retry(fetch, response->curl_error))
        return;
    hint = tls_failure_hint(fetch, response->curl_code, response->curl_error);
    error_set(&err, ERROR_UNAVAILABLE, "registry %s: fetching %s failed: %s%s",
              current_endpoint(fetch)->host, what, response->curl_error, hint);
    fail_endpoint(fetch, &err, RANK_CONNECTION);
}

static void attempt_done_cb(const struct registry_http_response *response, const char *error_body,
                            void *data)
{
    struct registry_fetch *fetch = data;
    long status = response->status;
    char reason[64];

    fetch->request = NULL;
    if (response->aborted) {
        struct error err = {ERROR_ABORTED, (char *)"the consumer aborted the transfer"};

        finish_error(fetch, &err);
        return;
    }
    if (response->curl_code != CURLE_OK) {
        handle_connection_failure(fetch, response);
        return;
    }
    if (status >= 200 && status < 300) {
        finish_ok(fetch, response);
        return;
    }
    if (status >= 300 && status < 400 && response->location != NULL) {
        follow_redirect(fetch, response->location);
        return;
    }
    if (status == 401) {
        handle_unauthorized(fetch, response, error_body);
        return;
    }
    snprintf(reason, sizeof(reason), "HTTP %ld", status);
    if (status >= 500 && schedule_retry(fetch, reason))
        return;
    fail_status(fetch, status, error_body);
}

static void start_attempt(struct registry_fetch *fetch)
{
    const struct registry_endpoint *endpoint = current_endpoint(fetch);
    const struct registry_client_options *options = fetch->client->options;
    _cleanup_free_ char *url = fetch->url ? xstrdup(fetch->url) : endpoint_url(fetch);
    _cleanup_free_ char *authorization = fetch->off_origin ? NULL : authorization_header(fetch);
    const char *headers[3] = {NULL, NULL, NULL};
    size_t n = 0;
    struct registry_http_options http_options = {
        .method = fetch->head ? REGISTRY_HTTP_HEAD : REGISTRY_HTTP_GET,
        .url = url,
        .headers = headers,
        .connect_timeout_ms = options->connect_timeout_ms,
        .stall_timeout_ms = options->stall_timeout_ms,
        .total_timeout_ms = fetch->kind == REGISTRY_MANIFEST ? options->request_timeout_ms : 0,
    };
    _cleanup_error_ struct error err = ERROR_INIT;

    /*
     * A redirect target (the registry's own storage, or a pre-signed URL) is trusted like the
     * registry, but the client certificate, a credential, stays with the registry.
     */
    http_options.tls.ca_file = endpoint->ca_file;
    http_options.tls.skip_verify = endpoint->skip_verify;
    if (!fetch->off_origin) {
        http_options.tls.client_cert = endpoint->client_cert;
        http_options.tls.client_key = endpoint->client_key;
    }
    if (fetch->kind == REGISTRY_MANIFEST)
        headers[n++] = registry_manifest_accept;
    if (authorization != NULL)
        headers[n++] = authorization;
    if (fetch->delivered && fetch->restart_cb != NULL)
        fetch->restart_cb(fetch->data);
    fetch->delivered = false;

    if (registry_http_start(fetch->client->http, &http_options, fetch_body_cb, attempt_done_cb,
                            fetch, &fetch->request, &err) < 0) {
        finish_error(fetch, &err);
        return;
    }
    if (authorization != NULL)
        memset(authorization, 0, strlen(authorization));
}

/* Token requests. */

static const char *realm_host_tls(struct registry_fetch *fetch, struct registry_http_tls *tls,
                                  char **realm_ca)
{
    const struct registry_endpoint *endpoint = current_endpoint(fetch);
    _cleanup_free_ char *scheme = NULL;
    _cleanup_free_ char *authority = NULL;
    const char *certs_dir = fetch->client->options->certs_dir;

    *realm_ca = NULL;
    if (hosts_split_url(fetch->challenge.realm, &scheme, &authority) == 0 && certs_dir != NULL) {
        char *path = xasprintf("%s/%s/ca.crt", certs_dir, authority);

        if (access(path, R_OK) == 0)
            *realm_ca = path;
        else
            free(path);
    }
    /* A realm without its own certs.d entry is trusted like the registry that named it. */
    tls->ca_file = *realm_ca ? *realm_ca : endpoint->ca_file;
    tls->skip_verify = endpoint->skip_verify;
    return fetch->challenge.realm;
}

static int token_body_cb(void *data, const char *bytes, size_t length)
{
    struct registry_fetch *fetch = data;

    if (fetch->token_body.length + length > MAX_TOKEN_RESPONSE)
        return -1;
    strbuf_append(&fetch->token_body, bytes, length);
    return 0;
}

static void fail_token(struct registry_fetch *fetch, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fail_token(struct registry_fetch *fetch, const char *fmt, ...)
{
    _cleanup_error_ struct error err = ERROR_INIT;
    _cleanup_free_ char *detail = NULL;
    _cleanup_free_ char *scheme = NULL;
    _cleanup_free_ char *realm_host = NULL;
    _cleanup_free_ char *what = NULL;
    va_list args;

    va_start(args, fmt);
    detail = xvasprintf(fmt, args);
    va_end(args);
    if (hosts_split_url(fetch->challenge.realm, &scheme, &realm_host) < 0)
        realm_host = xstrdup("(invalid realm)");
    what = object_name(fetch);
    error_set(&err, ERROR_UNAUTHENTICATED, "registry %s: token server %s %s for %s",
              current_endpoint(fetch)->host, realm_host, detail, what);
    fail_endpoint(fetch, &err, RANK_STATUS);
}

static void token_done_cb(const struct registry_http_response *response, const char *error_body,
                          void *data)
{
    struct registry_fetch *fetch = data;
    _cleanup_free_ char *token = NULL;
    _cleanup_error_ struct error err = ERROR_INIT;
    int64_t expires_in = 0;

    fetch->token_request = NULL;
    if (response->curl_code != CURLE_OK) {
        fail_token(fetch, "failed: %s", response->curl_error);
        return;
    }
    if (fetch->token_post && (response->status == 404 || response->status == 405) &&
        auth_credentials_have_password(&fetch->credentials)) {
        /* The realm does not take OAuth2 POSTs: ask with GET and Basic instead. */
        start_token_request(fetch, false);
        return;
    }
    if (response->status != 200) {
        fail_token(fetch, "returned %ld %s", response->status,
                   registry_status_text(response->status));
        return;
    }
    if (auth_token_parse_response(fetch->token_body.data ? fetch->token_body.data : "",
                                  fetch->token_body.length, &token, &expires_in, &err) < 0) {
        fail_token(fetch, "sent an invalid response: %s", err.message);
        return;
    }
    cache_token(fetch, token, expires_in);
    memset(token, 0, strlen(token));
    start_attempt(fetch);
}

static void start_token_request(struct registry_fetch *fetch, bool post)
{
    const struct registry_client_options *options = fetch->client->options;
    const char *scope = fetch->challenge.scope ? fetch->challenge.scope : fetch->scope;
    _cleanup_free_ char *realm_ca = NULL;
    _cleanup_free_ char *url = NULL;
    _cleanup_free_ char *form = NULL;
    _cleanup_free_ char *basic = NULL;
    const char *headers[2] = {NULL, NULL};
    struct registry_http_options http_options = {
        .method = post ? REGISTRY_HTTP_POST : REGISTRY_HTTP_GET,
        .headers = headers,
        .connect_timeout_ms = options->connect_timeout_ms,
        .stall_timeout_ms = options->stall_timeout_ms,
        .total_timeout_ms = options->request_timeout_ms,
    };
    _cleanup_error_ struct error err = ERROR_INIT;

    realm_host_tls(fetch, &http_options.tls, &realm_ca);
    if (post) {
        url = xstrdup(fetch->challenge.realm);
        form = auth_token_post_form(&fetch->challenge, scope, &fetch->credentials);
        http_options.body = form;
    } else {
        url = auth_token_get_url(&fetch->challenge, scope);
        if (auth_credentials_have_password(&fetch->credentials))
            headers[0] = basic = auth_basic_header(&fetch->credentials);
    }
    http_options.url = url;
    fetch->token_post = post;
    strbuf_reset(&fetch->token_body);

    if (registry_http_start(fetch->client->http, &http_options, token_body_cb, token_done_cb, fetch,
                            &fetch->token_request, &err) < 0)
        finish_error(fetch, &err);
    if (form != NULL)
        memset(form, 0, strlen(form));
    if (basic != NULL)
        memset(basic, 0, strlen(basic));
}

/* Client and fetch lifecycle. */

int registry_client_new(uv_loop_t *loop, const struct registry_client_options *options,
                        struct registry_client **out, struct error *err)
{
    struct registry_client *client = xcalloc(1, sizeof(*client));

    client->loop = loop;
    client->options = options;
    if (registry_http_new(loop, &client->http, err) < 0) {
        free(client);
        return -1;
    }
    client->tokens = auth_token_cache_new();
    *out = client;
    return 0;
}

void registry_client_close(struct registry_client *client)
{
    if (client == NULL)
        return;
    while (client->fetches != NULL)
        fetch_free(client->fetches);
    registry_http_close(client->http);
    auth_token_cache_free(client->tokens);
    strv_free(client->basic_hosts);
    strv_free(client->sticky_endpoints);
    free(client);
}

int registry_fetch_start(struct registry_client *client,
                         const struct registry_fetch_request *request, registry_body_cb body_cb,
                         registry_restart_cb restart_cb, registry_done_cb done_cb, void *data,
                         struct registry_fetch **out, struct error *err)
{
    const struct registry_client_options *options = client->options;
    struct registry_fetch *fetch = xcalloc(1, sizeof(*fetch));

    if (hosts_endpoints(options->certs_dir, options->registries, options->registry_count,
                        request->domain, request->api_host, &fetch->endpoints,
                        &fetch->endpoint_count, err) < 0) {
        free(fetch);
        return -1;
    }
    fetch->client = client;
    fetch->domain = xstrdup(request->domain);
    fetch->repository = xstrdup(request->repository);
    fetch->reference = xstrdup(request->reference);
    fetch->kind = request->kind;
    fetch->head = request->head;
    fetch->scope = auth_pull_scope(request->repository);
    auth_credentials_copy(&fetch->request_credentials, request->credentials);
    fetch->body_cb = body_cb;
    fetch->restart_cb = restart_cb;
    fetch->done_cb = done_cb;
    fetch->data = data;
    uv_timer_init(client->loop, &fetch->timer);
    fetch->timer.data = fetch;

    fetch->next = client->fetches;
    if (client->fetches != NULL)
        client->fetches->prev = fetch;
    client->fetches = fetch;
    if (out != NULL)
        *out = fetch;
    /* The first attempt runs from the loop, so that done never runs before this returns. */
    begin_endpoint(fetch, true);
    return 0;
}

void registry_fetch_cancel(struct registry_fetch *fetch)
{
    fetch_free(fetch);
}
