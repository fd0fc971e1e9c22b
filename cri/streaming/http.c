/*
 * A strict, small HTTP/1.1 request-head parser and response writer for the upgrade requests of
 * the streaming server.
 */
#include "cri/streaming/http.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"

size_t http_head_length(const char *data, size_t length)
{
    for (size_t i = 0; i + 1 < length; i++) {
        if (data[i] != '\n')
            continue;
        if (data[i + 1] == '\n')
            return i + 2;
        if (data[i + 1] == '\r' && i + 2 < length && data[i + 2] == '\n')
            return i + 3;
    }
    return 0;
}

static bool is_token_char(unsigned char c)
{
    return c > 0x20 && c < 0x7f && strchr("()<>@,;:\\\"/[]?={}", c) == NULL;
}

/* Returns the next line of head (without its line end) and advances *pos past it. */
static char *next_line(const char *head, size_t length, size_t *pos)
{
    const char *start = head + *pos;
    const char *end = memchr(start, '\n', length - *pos);

    if (end == NULL)
        return NULL;
    *pos = (size_t)(end - head) + 1;
    if (end > start && end[-1] == '\r')
        end--;
    return xstrndup(start, (size_t)(end - start));
}

static int parse_request_line(char *line, struct http_request *request, struct error *err)
{
    char *first_space = strchr(line, ' ');
    char *second_space = first_space ? strchr(first_space + 1, ' ') : NULL;

    if (second_space == NULL || first_space == line || second_space == first_space + 1)
        return error_set(err, ERROR_INVALID_ARGUMENT, "malformed HTTP request line");
    *first_space = *second_space = '\0';
    for (char *c = line; *c; c++) {
        if (!is_token_char((unsigned char)*c))
            return error_set(err, ERROR_INVALID_ARGUMENT, "malformed HTTP method");
    }
    const char *version = second_space + 1;
    if (strncmp(version, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)version[7]) ||
        version[8] != '\0')
        return error_set(err, ERROR_INVALID_ARGUMENT, "unsupported HTTP version \"%s\"", version);
    const char *target = first_space + 1;
    if (target[0] != '/')
        return error_set(err, ERROR_INVALID_ARGUMENT, "malformed HTTP request target");
    for (const char *c = target; *c; c++) {
        if ((unsigned char)*c <= 0x20 || (unsigned char)*c >= 0x7f)
            return error_set(err, ERROR_INVALID_ARGUMENT, "malformed HTTP request target");
    }

    request->method = xstrdup(line);
    request->target = xstrdup(target);
    request->path = xstrndup(target, strcspn(target, "?#"));
    request->minor_version = version[7] - '0';
    return 0;
}

static int parse_header_line(char *line, struct http_request *request, struct error *err)
{
    char *colon = strchr(line, ':');

    if (line[0] == ' ' || line[0] == '\t')
        return error_set(err, ERROR_INVALID_ARGUMENT, "folded HTTP header lines are not allowed");
    if (colon == NULL || colon == line)
        return error_set(err, ERROR_INVALID_ARGUMENT, "malformed HTTP header line");
    for (char *c = line; c < colon; c++) {
        if (!is_token_char((unsigned char)*c))
            return error_set(err, ERROR_INVALID_ARGUMENT, "malformed HTTP header name");
    }
    if (request->header_count >= HTTP_MAX_HEADERS)
        return error_set(err, ERROR_INVALID_ARGUMENT, "more than %d HTTP headers",
                         HTTP_MAX_HEADERS);

    char *value = colon + 1;
    char *end = value + strlen(value);
    while (*value == ' ' || *value == '\t')
        value++;
    while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    for (char *c = value; c < end; c++) {
        if ((unsigned char)*c < 0x20 && *c != '\t')
            return error_set(err, ERROR_INVALID_ARGUMENT, "control character in HTTP header");
    }

    struct http_header *header = &request->headers[request->header_count++];
    header->name = xstrndup(line, (size_t)(colon - line));
    header->value = xstrndup(value, (size_t)(end - value));
    return 0;
}

int http_request_parse(const char *head, size_t length, struct http_request *request,
                       struct error *err)
{
    size_t pos = 0;
    _cleanup_free_ char *request_line = next_line(head, length, &pos);

    memset(request, 0, sizeof(*request));
    request->headers = xcalloc(HTTP_MAX_HEADERS, sizeof(*request->headers));
    if (request_line == NULL || parse_request_line(request_line, request, err) < 0)
        return request_line ? -1 : error_set(err, ERROR_INVALID_ARGUMENT, "empty HTTP request");

    for (;;) {
        _cleanup_free_ char *line = next_line(head, length, &pos);

        if (line == NULL)
            return error_set(err, ERROR_INVALID_ARGUMENT, "HTTP request head is not terminated");
        if (line[0] == '\0')
            return 0;
        if (parse_header_line(line, request, err) < 0)
            return -1;
    }
}

void http_request_free(struct http_request *request)
{
    free(request->method);
    free(request->target);
    free(request->path);
    for (size_t i = 0; i < request->header_count; i++) {
        free(request->headers[i].name);
        free(request->headers[i].value);
    }
    free(request->headers);
    memset(request, 0, sizeof(*request));
}

const char *http_request_header(const struct http_request *request, const char *name)
{
    for (size_t i = 0; i < request->header_count; i++) {
        if (strcasecmp(request->headers[i].name, name) == 0)
            return request->headers[i].value;
    }
    return NULL;
}

char **http_request_header_values(const struct http_request *request, const char *name)
{
    size_t count = 0, capacity = 4;
    char **values = xcalloc(capacity + 1, sizeof(*values));

    for (size_t i = 0; i < request->header_count; i++) {
        if (strcasecmp(request->headers[i].name, name) != 0)
            continue;
        for (const char *p = request->headers[i].value; *p != '\0';) {
            size_t span = strcspn(p, ",");
            const char *start = p, *end = p + span;

            while (start < end && (*start == ' ' || *start == '\t'))
                start++;
            while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
                end--;
            if (end > start) {
                if (count == capacity) {
                    capacity *= 2;
                    values = xrealloc(values, (capacity + 1) * sizeof(*values));
                }
                values[count++] = xstrndup(start, (size_t)(end - start));
                values[count] = NULL;
            }
            p += span;
            if (*p == ',')
                p++;
        }
    }
    return values;
}

bool http_request_header_has_token(const struct http_request *request, const char *name,
                                   const char *token)
{
    _cleanup_strv_ char **values = http_request_header_values(request, name);

    for (size_t i = 0; values[i] != NULL; i++) {
        if (strcasecmp(values[i], token) == 0)
            return true;
    }
    return false;
}

/* strcasestr, which MinGW lacks. */
static bool contains_ignore_case(const char *haystack, const char *needle)
{
    size_t length = strlen(needle);

    for (; *haystack != '\0'; haystack++) {
        if (strncasecmp(haystack, needle, length) == 0)
            return true;
    }
    return length == 0;
}

bool http_request_header_contains(const struct http_request *request, const char *name,
                                  const char *needle)
{
    for (size_t i = 0; i < request->header_count; i++) {
        if (strcasecmp(request->headers[i].name, name) == 0 &&
            contains_ignore_case(request->headers[i].value, needle))
            return true;
    }
    return false;
}

const char *http_status_reason(int status)
{
    switch (status) {
    case 101:
        return "Switching Protocols";
    case 400:
        return "Bad Request";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    }
    return "Unknown";
}

void http_write_response(struct strbuf *out, int status, const char *const *extra_headers,
                         const char *body)
{
    strbuf_appendf(out, "HTTP/1.1 %d %s\r\n", status, http_status_reason(status));
    for (size_t i = 0; extra_headers && extra_headers[i]; i++)
        strbuf_appendf(out, "%s\r\n", extra_headers[i]);
    if (body != NULL) {
        strbuf_appendf(out,
                       "Content-Type: text/plain; charset=utf-8\r\n"
                       "X-Content-Type-Options: nosniff\r\n"
                       "Content-Length: %zu\r\n",
                       strlen(body));
    }
    strbuf_append_str(out, "\r\n");
    if (body != NULL)
        strbuf_append_str(out, body);
}
