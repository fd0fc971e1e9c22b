#ifndef HOSTCRI_CRI_STREAMING_HTTP_H
#define HOSTCRI_CRI_STREAMING_HTTP_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"
#include "common/strbuf.h"

/*
 * The HTTP/1.1 request head of a streaming upgrade, and the few responses the server sends
 * before the connection switches protocols. Request bodies are not supported: bytes after the
 * head belong to the upgraded protocol.
 */

#define HTTP_MAX_HEAD 16384
#define HTTP_MAX_HEADERS 64

struct http_header {
    char *name;
    char *value;
};

struct http_request {
    char *method;
    char *target; /* request target as sent, query included */
    char *path;   /* target without the query */
    int minor_version;
    struct http_header *headers;
    size_t header_count;
};

/*
 * Returns the length of the head at the start of data, up to and including the empty line, or
 * 0 when the head is not complete yet. Accepts bare LF line ends as Go's server does.
 */
size_t http_head_length(const char *data, size_t length);

/*
 * Parses a complete head (from http_head_length) into *request. Returns 0, or -1 with err on a
 * malformed request line or header, more than HTTP_MAX_HEADERS headers, or HTTP other than 1.x.
 */
int http_request_parse(const char *head, size_t length, struct http_request *request,
                       struct error *err);

void http_request_free(struct http_request *request);

/* Returns the value of the first header named name (case-insensitive), or NULL. */
const char *http_request_header(const struct http_request *request, const char *name);

/*
 * Returns the values of every header named name, split on commas, trimmed, empties dropped, as
 * a NULL-terminated list (caller frees with strv_free). Never NULL.
 */
char **http_request_header_values(const struct http_request *request, const char *name);

/* True when some comma-separated value of the headers named name equals token (any case). */
bool http_request_header_has_token(const struct http_request *request, const char *name,
                                   const char *token);

/* True when a value of a header named name contains needle (any case), as Go's checks do. */
bool http_request_header_contains(const struct http_request *request, const char *name,
                                  const char *needle);

/*
 * Appends a complete response: status line, extra_headers (NULL-terminated "Name: value"
 * lines, may be NULL), and a text/plain body with its Content-Length when body is not NULL.
 */
void http_write_response(struct strbuf *out, int status, const char *const *extra_headers,
                         const char *body);

/* The reason phrase of the status codes this server sends. */
const char *http_status_reason(int status);

#endif
