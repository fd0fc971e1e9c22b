#include "images/registry_http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "common/log.h"
#include "common/strbuf.h"
#include "common/util.h"

/* The start of an error body kept for messages (registries send short JSON errors). */
#define ERROR_BODY_MAX 4096

struct socket_watch {
    uv_poll_t poll;
    curl_socket_t fd;
    struct registry_http *http;
    struct socket_watch *prev;
    struct socket_watch *next;
};

struct registry_http_request {
    struct registry_http *http;
    CURL *easy;
    struct curl_slist *headers;
    char *post_body;
    registry_http_body_cb body_cb;
    registry_http_done_cb done_cb;
    void *data;
    bool cancelled;

    long status;
    char *location;
    char *www_authenticate;
    char *content_type;
    char *content_digest;
    int64_t content_length;
    bool aborted;
    struct strbuf error_body;
    char curl_error[CURL_ERROR_SIZE];

    struct registry_http_request *prev;
    struct registry_http_request *next;
};

struct registry_http {
    uv_loop_t *loop;
    CURLM *multi;
    uv_timer_t timer;
    struct registry_http_request *requests;
    struct socket_watch *watches;
    size_t active;
    int in_curl;      /* inside curl_multi_socket_action, where handles must not be removed */
    int dispatching;  /* inside check_done, which must see the multi handle until it returns */
    bool close_asked; /* registry_http_close ran inside a callback; finish it afterwards */
};

static void check_done(struct registry_http *http);
static void finish_close(struct registry_http *http);

static void link_request(struct registry_http *http, struct registry_http_request *request)
{
    request->next = http->requests;
    if (http->requests != NULL)
        http->requests->prev = request;
    http->requests = request;
    http->active++;
}

static void unlink_request(struct registry_http *http, struct registry_http_request *request)
{
    if (request->prev != NULL)
        request->prev->next = request->next;
    else
        http->requests = request->next;
    if (request->next != NULL)
        request->next->prev = request->prev;
    request->prev = request->next = NULL;
    http->active--;
}

static void free_request(struct registry_http_request *request)
{
    if (request->easy != NULL)
        curl_easy_cleanup(request->easy);
    curl_slist_free_all(request->headers);
    if (request->post_body != NULL) {
        /* POST bodies are token requests holding secrets. */
        memset(request->post_body, 0, strlen(request->post_body));
        free(request->post_body);
    }
    free(request->location);
    free(request->www_authenticate);
    free(request->content_type);
    free(request->content_digest);
    strbuf_free(&request->error_body);
    free(request);
}

/* Socket and timer integration (curl's CURLMOPT_SOCKETFUNCTION and CURLMOPT_TIMERFUNCTION). */

static void run_socket_action(struct registry_http *http, curl_socket_t fd, int flags)
{
    int running = 0;

    http->in_curl++;
    curl_multi_socket_action(http->multi, fd, flags, &running);
    http->in_curl--;
    check_done(http);
}

static void poll_cb(uv_poll_t *handle, int status, int events)
{
    struct socket_watch *watch = handle->data;
    int flags = 0;

    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    run_socket_action(watch->http, watch->fd, flags);
}

static void watch_close_cb(uv_handle_t *handle)
{
    free(handle->data);
}

static void close_watch(struct registry_http *http, struct socket_watch *watch)
{
    if (watch->prev != NULL)
        watch->prev->next = watch->next;
    else
        http->watches = watch->next;
    if (watch->next != NULL)
        watch->next->prev = watch->prev;
    uv_close((uv_handle_t *)&watch->poll, watch_close_cb);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    struct registry_http *http = userp;
    struct socket_watch *watch = socketp;
    int events = 0;

    if (what == CURL_POLL_REMOVE) {
        if (watch != NULL) {
            curl_multi_assign(http->multi, fd, NULL);
            close_watch(http, watch);
        }
        return 0;
    }
    if (watch == NULL) {
        watch = xcalloc(1, sizeof(*watch));
        if (uv_poll_init_socket(http->loop, &watch->poll, fd) < 0) {
            free(watch);
            return -1;
        }
        watch->poll.data = watch;
        watch->fd = fd;
        watch->http = http;
        watch->next = http->watches;
        if (http->watches != NULL)
            http->watches->prev = watch;
        http->watches = watch;
        curl_multi_assign(http->multi, fd, watch);
    }
    if (what & CURL_POLL_IN)
        events |= UV_READABLE;
    if (what & CURL_POLL_OUT)
        events |= UV_WRITABLE;
    uv_poll_start(&watch->poll, events, poll_cb);
    return 0;
}

static void timer_cb(uv_timer_t *timer)
{
    run_socket_action(timer->data, CURL_SOCKET_TIMEOUT, 0);
}

static int timer_function(CURLM *multi, long timeout_ms, void *userp)
{
    struct registry_http *http = userp;

    if (timeout_ms < 0)
        uv_timer_stop(&http->timer);
    else
        uv_timer_start(&http->timer, timer_cb, (uint64_t)timeout_ms, 0);
    return 0;
}

/* Per-request curl callbacks. */

static char *header_value(const char *line, size_t length, size_t name_length)
{
    const char *start = line + name_length;
    const char *end = line + length;

    while (start < end && (*start == ' ' || *start == '\t'))
        start++;
    while (end > start && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    return xstrndup(start, (size_t)(end - start));
}

static void store_header(char **slot, const char *line, size_t length, size_t name_length)
{
    free(*slot);
    *slot = header_value(line, length, name_length);
}

/* Joins repeated headers with ", ", as HTTP allows for list-valued fields. */
static void append_header(char **slot, const char *line, size_t length, size_t name_length)
{
    _cleanup_free_ char *value = header_value(line, length, name_length);
    char *joined;

    if (*slot == NULL) {
        *slot = steal_pointer(&value);
        return;
    }
    joined = xasprintf("%s, %s", *slot, value);
    free(*slot);
    *slot = joined;
}

static void reset_headers(struct registry_http_request *request)
{
    free(request->location);
    free(request->www_authenticate);
    free(request->content_type);
    free(request->content_digest);
    request->location = request->www_authenticate = NULL;
    request->content_type = request->content_digest = NULL;
    request->content_length = -1;
}

static bool has_name(const char *line, size_t length, const char *name)
{
    size_t name_length = strlen(name);

    return length > name_length && strncasecmp(line, name, name_length) == 0;
}

static size_t header_cb(char *line, size_t size, size_t count, void *userdata)
{
    struct registry_http_request *request = userdata;
    size_t length = size * count;

    if (length > 5 && strncmp(line, "HTTP/", 5) == 0) {
        const char *space = memchr(line, ' ', length);

        /* A new status line: an interim 1xx response came before, so start over. */
        reset_headers(request);
        request->status = space != NULL ? strtol(space + 1, NULL, 10) : 0;
    } else if (has_name(line, length, "location:")) {
        store_header(&request->location, line, length, 9);
    } else if (has_name(line, length, "www-authenticate:")) {
        append_header(&request->www_authenticate, line, length, 17);
    } else if (has_name(line, length, "content-type:")) {
        store_header(&request->content_type, line, length, 13);
    } else if (has_name(line, length, "docker-content-digest:")) {
        store_header(&request->content_digest, line, length, 22);
    } else if (has_name(line, length, "content-length:")) {
        _cleanup_free_ char *value = header_value(line, length, 15);

        request->content_length = strtoll(value, NULL, 10);
    }
    return length;
}

static size_t write_cb(char *bytes, size_t size, size_t count, void *userdata)
{
    struct registry_http_request *request = userdata;
    size_t length = size * count;

    if (request->cancelled)
        return 0;
    if (request->status >= 200 && request->status < 300) {
        if (request->body_cb != NULL && request->body_cb(request->data, bytes, length) < 0) {
            request->aborted = true;
            return 0;
        }
        return length;
    }
    if (request->error_body.length < ERROR_BODY_MAX) {
        size_t room = ERROR_BODY_MAX - request->error_body.length;

        strbuf_append(&request->error_body, bytes, length < room ? length : room);
    }
    return length;
}

static void dispatch_done(struct registry_http_request *request, CURLcode result)
{
    struct registry_http_response response = {
        .curl_code = (int)result,
        .curl_error = "",
        .status = request->status,
        .location = request->location,
        .www_authenticate = request->www_authenticate,
        .content_type = request->content_type,
        .content_digest = request->content_digest,
        .content_length = request->content_length,
        .aborted = request->aborted,
    };

    if (result != CURLE_OK)
        response.curl_error =
            request->curl_error[0] != '\0' ? request->curl_error : curl_easy_strerror(result);
    request->done_cb(&response, request->error_body.data ? request->error_body.data : "",
                     request->data);
}

static void check_done(struct registry_http *http)
{
    CURLMsg *message;
    int left;

    if (http->in_curl > 0 || http->dispatching > 0)
        return;
    http->dispatching++;
    while ((message = curl_multi_info_read(http->multi, &left)) != NULL) {
        struct registry_http_request *request = NULL;
        CURLcode result = message->data.result;

        if (message->msg != CURLMSG_DONE)
            continue;
        curl_easy_getinfo(message->easy_handle, CURLINFO_PRIVATE, (char **)&request);
        curl_multi_remove_handle(http->multi, message->easy_handle);
        unlink_request(http, request);
        if (!request->cancelled && !http->close_asked)
            dispatch_done(request, result);
        free_request(request);
    }
    http->dispatching--;
    if (http->close_asked)
        finish_close(http);
}

/* Public functions. */

int registry_http_new(uv_loop_t *loop, struct registry_http **out, struct error *err)
{
    struct registry_http *http;
    static bool curl_ready;

    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            return error_set(err, ERROR_INTERNAL, "curl_global_init failed");
        curl_ready = true;
    }
    http = xcalloc(1, sizeof(*http));
    http->loop = loop;
    http->multi = curl_multi_init();
    if (http->multi == NULL) {
        free(http);
        return error_set(err, ERROR_INTERNAL, "curl_multi_init failed");
    }
    uv_timer_init(loop, &http->timer);
    http->timer.data = http;
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(http->multi, CURLMOPT_SOCKETDATA, http);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERFUNCTION, timer_function);
    curl_multi_setopt(http->multi, CURLMOPT_TIMERDATA, http);
    curl_multi_setopt(http->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    *out = http;
    return 0;
}

static void set_tls_options(CURL *easy, const struct registry_http_tls *tls)
{
    curl_version_info_data *version = curl_version_info(CURLVERSION_NOW);

    if (tls->ca_file != NULL) {
        /*
         * CURLOPT_CAINFO replaces the default bundle, so the system store comes back through
         * the hashed certificate directory, which the OpenSSL backend reads as well.
         */
        curl_easy_setopt(easy, CURLOPT_CAINFO, tls->ca_file);
        if (version->capath != NULL)
            curl_easy_setopt(easy, CURLOPT_CAPATH, version->capath);
        else
            curl_easy_setopt(easy, CURLOPT_CAPATH, "/etc/ssl/certs");
    }
    if (tls->client_cert != NULL && tls->client_key != NULL) {
        curl_easy_setopt(easy, CURLOPT_SSLCERT, tls->client_cert);
        curl_easy_setopt(easy, CURLOPT_SSLKEY, tls->client_key);
    }
    if (tls->skip_verify) {
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(easy, CURLOPT_SSL_VERIFYHOST, 0L);
    }
}

static CURL *make_easy(struct registry_http_request *request,
                       const struct registry_http_options *options)
{
    CURL *easy = curl_easy_init();

    if (easy == NULL)
        return NULL;
    curl_easy_setopt(easy, CURLOPT_URL, options->url);
    curl_easy_setopt(easy, CURLOPT_PRIVATE, request);
    curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, request->curl_error);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, request);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, request);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(easy, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    curl_easy_setopt(easy, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(easy, CURLOPT_USERAGENT, "hostcri/" HOSTCRI_VERSION);
    if (options->connect_timeout_ms > 0)
        curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, (long)options->connect_timeout_ms);
    if (options->stall_timeout_ms > 0) {
        long seconds = (long)((options->stall_timeout_ms + 999) / 1000);

        curl_easy_setopt(easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
        curl_easy_setopt(easy, CURLOPT_LOW_SPEED_TIME, seconds);
    }
    if (options->total_timeout_ms > 0)
        curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, (long)options->total_timeout_ms);
    if (options->method == REGISTRY_HTTP_HEAD)
        curl_easy_setopt(easy, CURLOPT_NOBODY, 1L);
    if (options->method == REGISTRY_HTTP_POST) {
        request->post_body = xstrdup(options->body ? options->body : "");
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, request->post_body);
    }
    set_tls_options(easy, &options->tls);
    for (size_t i = 0; options->headers != NULL && options->headers[i] != NULL; i++)
        request->headers = curl_slist_append(request->headers, options->headers[i]);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, request->headers);
    return easy;
}

int registry_http_start(struct registry_http *http, const struct registry_http_options *options,
                        registry_http_body_cb body_cb, registry_http_done_cb done_cb, void *data,
                        struct registry_http_request **out, struct error *err)
{
    struct registry_http_request *request = xcalloc(1, sizeof(*request));

    request->http = http;
    request->body_cb = body_cb;
    request->done_cb = done_cb;
    request->data = data;
    request->content_length = -1;
    request->easy = make_easy(request, options);
    if (request->easy == NULL) {
        free_request(request);
        return error_set(err, ERROR_INTERNAL, "curl_easy_init failed");
    }
    if (curl_multi_add_handle(http->multi, request->easy) != CURLM_OK) {
        free_request(request);
        return error_set(err, ERROR_INTERNAL, "curl_multi_add_handle failed");
    }
    link_request(http, request);
    if (out != NULL)
        *out = request;
    return 0;
}

void registry_http_cancel(struct registry_http_request *request)
{
    struct registry_http *http = request->http;

    if (http->in_curl > 0) {
        /* Inside a curl callback handles must stay: the next write or check_done drops it. */
        request->cancelled = true;
        return;
    }
    curl_multi_remove_handle(http->multi, request->easy);
    unlink_request(http, request);
    free_request(request);
}

size_t registry_http_active(const struct registry_http *http)
{
    return http->active;
}

static void timer_close_cb(uv_handle_t *handle)
{
    free(handle->data);
}

static void finish_close(struct registry_http *http)
{
    while (http->requests != NULL) {
        struct registry_http_request *request = http->requests;

        curl_multi_remove_handle(http->multi, request->easy);
        unlink_request(http, request);
        free_request(request);
    }
    curl_multi_cleanup(http->multi);
    http->multi = NULL;
    while (http->watches != NULL)
        close_watch(http, http->watches);
    uv_timer_stop(&http->timer);
    uv_close((uv_handle_t *)&http->timer, timer_close_cb);
}

void registry_http_close(struct registry_http *http)
{
    if (http == NULL)
        return;
    if (http->in_curl > 0 || http->dispatching > 0) {
        http->close_asked = true;
        return;
    }
    finish_close(http);
}
