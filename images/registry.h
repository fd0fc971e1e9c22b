#ifndef HOSTCRI_IMAGES_REGISTRY_H
#define HOSTCRI_IMAGES_REGISTRY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "common/error.h"
#include "images/auth.h"
#include "images/hosts.h"

/*
 * The registry client: fetches manifests and blobs with the OCI distribution API
 * (GET /v2/<repository>/manifests/<reference> and /v2/<repository>/blobs/<digest>).
 *
 * One fetch tries the registry's endpoints in order (mirrors first, see hosts.h). On each it
 * handles 401 challenges (Basic with credentials; Bearer by fetching a token from the realm
 * and caching it per host and scope), follows redirects itself (at most 10, dropping the
 * Authorization header when the redirect leaves the endpoint's origin, and refusing https to
 * http), and retries connection failures and 5xx with exponential backoff. 4xx (429 too)
 * responses are never retried. A failing mirror hands over to the next endpoint; the
 * registry itself hands over to its insecure fallbacks only after connection or TLS failures.
 *
 * Everything runs on the loop thread. Error messages name the registry host and the HTTP
 * status, and never contain credentials or tokens.
 */

struct registry_client;
struct registry_fetch;

/* Settings of the client; see struct images_config in images.h for units and defaults. */
struct registry_client_options {
    const char *certs_dir;
    const struct images_registry_config *registries;
    size_t registry_count;
    uint64_t connect_timeout_ms;
    uint64_t stall_timeout_ms;
    uint64_t request_timeout_ms; /* manifests and tokens; blobs have no total limit */
    unsigned retries;
    uint64_t retry_backoff_ms;
};

enum registry_object {
    REGISTRY_MANIFEST,
    REGISTRY_BLOB,
};

struct registry_fetch_request {
    const char *domain;     /* the reference's domain ("docker.io", "127.0.0.1:5000") */
    const char *api_host;   /* the host serving its API ("registry-1.docker.io", ...) */
    const char *repository; /* "library/busybox" */
    enum registry_object kind;
    const char *reference; /* manifests: tag or digest; blobs: digest */
    /* Credentials from the PullImage request, or NULL: then the host's configured ones. */
    const struct auth_credentials *credentials;
    /* Send HEAD instead of GET: only the headers (Docker-Content-Digest) are wanted. */
    bool head;
};

/* The result of a successful fetch, valid during the done callback only. */
struct registry_fetch_result {
    const char *content_type;   /* Content-Type of the response, or NULL */
    const char *content_digest; /* Docker-Content-Digest header, or NULL */
    const char *endpoint_host;  /* host[:port] of the endpoint that served it */
};

/* Receives body bytes of the successful response. Returns 0, or -1 to abort the fetch. */
typedef int (*registry_body_cb)(void *data, const char *bytes, size_t length);

/*
 * Runs before a retry, redirect or next endpoint when body bytes were already delivered:
 * the consumer drops them, because the body starts again from its first byte.
 */
typedef void (*registry_restart_cb)(void *data);

/*
 * Runs exactly once per started fetch: err is NULL on success; otherwise result is NULL.
 * When the body callback aborted the fetch, err has ERROR_ABORTED and the consumer's own
 * error is the one to report. The fetch is freed after the callback returns.
 */
typedef void (*registry_done_cb)(const struct registry_fetch_result *result,
                                 const struct error *err, void *data);

/*
 * Creates a client on loop. options and everything it points to must outlive the client.
 * Returns 0 with *out set, or -1.
 */
int registry_client_new(uv_loop_t *loop, const struct registry_client_options *options,
                        struct registry_client **out, struct error *err);

/*
 * Cancels every fetch (their callbacks do not run) and frees the client once its libuv
 * handles are closed; run the loop afterwards.
 */
void registry_client_close(struct registry_client *client);

/*
 * Starts a fetch. Returns 0 and later runs done exactly once from the loop (unless the fetch
 * is cancelled first), or returns -1 (bad mirror configuration) without running a callback.
 * request and its strings are copied. *out, when not NULL, is a handle for
 * registry_fetch_cancel that is valid until done runs.
 */
int registry_fetch_start(struct registry_client *client,
                         const struct registry_fetch_request *request, registry_body_cb body_cb,
                         registry_restart_cb restart_cb, registry_done_cb done_cb, void *data,
                         struct registry_fetch **out, struct error *err);

/* Stops a fetch; its callbacks never run again. Must not be called from its body callback. */
void registry_fetch_cancel(struct registry_fetch *fetch);

/* The Accept header of manifest requests: OCI and Docker manifests and indexes. */
extern const char *const registry_manifest_accept;

/* The reason phrase of an HTTP status ("Unauthorized"), or "" for an unusual code. */
const char *registry_status_text(long status);

#endif
