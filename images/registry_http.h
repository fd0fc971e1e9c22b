#ifndef HOSTCRI_IMAGES_REGISTRY_HTTP_H
#define HOSTCRI_IMAGES_REGISTRY_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common/error.h"

/*
 * HTTP requests on libcurl's multi interface, driven by a libuv loop: curl's sockets are
 * watched with uv_poll_t and its timeout with a uv_timer_t, so transfers run on the loop
 * thread without blocking it. HTTP/1.1 and HTTP/2 (over TLS, multiplexed when the server
 * allows it). Redirects are not followed: the caller sees 3xx responses with their Location
 * and decides what headers the next request gets. curl's proxy environment variables
 * (http_proxy, https_proxy, no_proxy) apply as curl applies them by default.
 *
 * Everything here runs on the loop thread.
 */

struct registry_http;
struct registry_http_request;

enum registry_http_method {
    REGISTRY_HTTP_GET,
    REGISTRY_HTTP_HEAD,
    REGISTRY_HTTP_POST,
};

/* TLS settings of one request. Every path is NULL when unused. */
struct registry_http_tls {
    const char *ca_file;     /* trusted in addition to the system CA store */
    const char *client_cert; /* PEM client certificate */
    const char *client_key;  /* PEM key of client_cert */
    bool skip_verify;        /* no certificate or host name verification */
};

struct registry_http_options {
    enum registry_http_method method;
    const char *url;
    /* Extra request header lines ("Accept: ...", "Authorization: ..."); NULL-terminated or NULL. */
    const char *const *headers;
    const char *body; /* POST body, or NULL */
    struct registry_http_tls tls;
    uint64_t connect_timeout_ms; /* 0 for curl's default */
    /* Abort when fewer than 1 byte per second arrives for this long; 0 disables it. */
    uint64_t stall_timeout_ms;
    /* Abort when the whole request takes longer; 0 for no limit. */
    uint64_t total_timeout_ms;
};

/* The outcome of a request, valid during the done callback only. */
struct registry_http_response {
    int curl_code;                /* CURLE_OK when an HTTP response arrived */
    const char *curl_error;       /* curl's text for curl_code, "" when none */
    long status;                  /* HTTP status, 0 when none arrived */
    const char *location;         /* Location header, or NULL */
    const char *www_authenticate; /* WWW-Authenticate headers joined by ", ", or NULL */
    const char *content_type;     /* Content-Type header, or NULL */
    const char *content_digest;   /* Docker-Content-Digest header, or NULL */
    int64_t content_length;       /* Content-Length, or -1 */
    bool aborted;                 /* the body callback stopped the transfer */
};

/*
 * Receives body bytes of a response whose status is 2xx (other bodies are kept for the done
 * callback's error text only, up to 4 KiB). Returns 0 to continue, -1 to abort the transfer.
 */
typedef int (*registry_http_body_cb)(void *data, const char *bytes, size_t length);

/*
 * Runs once per started request, from the loop, after the transfer ended. error_body holds
 * the start of a non-2xx body (NUL-terminated, possibly empty). The request is freed after
 * the callback returns.
 */
typedef void (*registry_http_done_cb)(const struct registry_http_response *response,
                                      const char *error_body, void *data);

/*
 * Creates a client on loop. Returns 0 with *out set, or -1 when curl cannot be set up.
 * Close it with registry_http_close.
 */
int registry_http_new(uv_loop_t *loop, struct registry_http **out, struct error *err);

/*
 * Starts a request. Returns 0 and later runs done exactly once from the loop (unless the
 * request is cancelled first), or returns -1 without running any callback. *out, when not
 * NULL, receives a handle for registry_http_cancel that is valid until done runs.
 */
int registry_http_start(struct registry_http *http, const struct registry_http_options *options,
                        registry_http_body_cb body_cb, registry_http_done_cb done_cb, void *data,
                        struct registry_http_request **out, struct error *err);

/* Stops a started request; its done callback never runs. */
void registry_http_cancel(struct registry_http_request *request);

/* Number of requests in flight. */
size_t registry_http_active(const struct registry_http *http);

/*
 * Cancels every request (their callbacks do not run), closes the libuv handles and frees the
 * client once they are closed; run the loop afterwards so the close callbacks run.
 */
void registry_http_close(struct registry_http *http);

#endif
