#include "images/hosts_toml.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"
#include "common/util.h"

/* Files larger than this are not host configurations. */
#define HOSTS_TOML_MAX (256 * 1024)

struct toml_parser {
    const char *p;
    const char *path;
    unsigned line;
};

static void skip_blank(struct toml_parser *parser)
{
    while (*parser->p == ' ' || *parser->p == '\t')
        parser->p++;
}

/* Skips spaces, newlines and comments (inside arrays, values may span lines). */
static void skip_blank_lines(struct toml_parser *parser)
{
    for (;;) {
        skip_blank(parser);
        if (*parser->p == '#') {
            while (*parser->p != '\0' && *parser->p != '\n')
                parser->p++;
        }
        if (*parser->p == '\r' || *parser->p == '\n') {
            if (*parser->p == '\n')
                parser->line++;
            parser->p++;
            continue;
        }
        return;
    }
}

static int syntax_error(struct toml_parser *parser, struct error *err, const char *what)
{
    return error_set(err, ERROR_INVALID_ARGUMENT, "%s:%u: %s", parser->path, parser->line, what);
}

static char *parse_string(struct toml_parser *parser)
{
    struct strbuf value = STRBUF_INIT;

    if (*parser->p != '"')
        return NULL;
    parser->p++;
    while (*parser->p != '"') {
        if (*parser->p == '\0' || *parser->p == '\n') {
            strbuf_free(&value);
            return NULL;
        }
        if (*parser->p == '\\' && parser->p[1] != '\0')
            parser->p++;
        strbuf_append_char(&value, *parser->p++);
    }
    parser->p++;
    return strbuf_steal(&value);
}

/*
 * A parsed value: a string, a boolean, or an array. Arrays keep their strings flattened in
 * order ([["a", "b"]] gives a, b), which is all the keys used here need.
 */
struct toml_value {
    char **strings;
    size_t count;
    bool is_bool;
    bool boolean;
};

static void value_clear(struct toml_value *value)
{
    for (size_t i = 0; i < value->count; i++)
        free(value->strings[i]);
    free(value->strings);
    memset(value, 0, sizeof(*value));
}

static void value_push(struct toml_value *value, char *s)
{
    value->strings = xrealloc(value->strings, (value->count + 1) * sizeof(char *));
    value->strings[value->count++] = s;
}

static int parse_value(struct toml_parser *parser, struct toml_value *value, struct error *err)
{
    skip_blank(parser);
    if (*parser->p == '"') {
        char *s = parse_string(parser);

        if (s == NULL)
            return syntax_error(parser, err, "unterminated string");
        value_push(value, s);
        return 0;
    }
    if (strncmp(parser->p, "true", 4) == 0 || strncmp(parser->p, "false", 5) == 0) {
        value->is_bool = true;
        value->boolean = parser->p[0] == 't';
        parser->p += value->boolean ? 4 : 5;
        return 0;
    }
    if (*parser->p != '[')
        return syntax_error(parser, err, "expected a string, a boolean or an array");
    parser->p++;
    for (;;) {
        skip_blank_lines(parser);
        if (*parser->p == ']') {
            parser->p++;
            return 0;
        }
        if (parse_value(parser, value, err) < 0)
            return -1;
        skip_blank_lines(parser);
        if (*parser->p == ',')
            parser->p++;
        else if (*parser->p != ']')
            return syntax_error(parser, err, "expected ',' or ']' in an array");
    }
}

static char *parse_key(struct toml_parser *parser)
{
    const char *start = parser->p;

    if (*parser->p == '"')
        return parse_string(parser);
    while (*parser->p != '\0' &&
           (isalnum((unsigned char)*parser->p) || *parser->p == '_' || *parser->p == '-'))
        parser->p++;
    return parser->p == start ? NULL : xstrndup(start, (size_t)(parser->p - start));
}

static void set_string(char **slot, char *value)
{
    free(*slot);
    *slot = value;
}

static void apply_key(struct hosts_toml_host *host, const char *key, struct toml_value *value)
{
    if (strcmp(key, "server") == 0 && value->count > 0) {
        set_string(&host->url, steal_pointer(&value->strings[0]));
    } else if (strcmp(key, "ca") == 0 && value->count > 0) {
        set_string(&host->ca_file, steal_pointer(&value->strings[0]));
    } else if (strcmp(key, "client") == 0 && value->count > 0) {
        set_string(&host->client_cert, steal_pointer(&value->strings[0]));
        /* A single file contains both the certificate and the key. */
        set_string(
            &host->client_key,
            xstrdup(value->count > 1 && value->strings[1] ? value->strings[1] : host->client_cert));
    } else if (strcmp(key, "skip_verify") == 0 && value->is_bool) {
        host->skip_verify = value->boolean;
    } else if (strcmp(key, "capabilities") == 0) {
        host->can_pull = false;
        for (size_t i = 0; i < value->count; i++) {
            if (value->strings[i] && strcmp(value->strings[i], "pull") == 0)
                host->can_pull = true;
        }
    }
}

/* Parses a table header: [host."url"] selects a host; any other table is ignored (NULL). */
static int parse_header(struct toml_parser *parser, struct hosts_toml *out,
                        struct hosts_toml_host **current, struct error *err)
{
    _cleanup_free_ char *first = NULL;
    _cleanup_free_ char *url = NULL;

    parser->p++;
    skip_blank(parser);
    first = parse_key(parser);
    *current = NULL;
    if (first != NULL && strcmp(first, "host") == 0 && *parser->p == '.') {
        parser->p++;
        url = parse_key(parser);
        skip_blank(parser);
    }
    /* Only [host."url"] itself selects a host; [host."url".header] and others are skipped. */
    if (*parser->p != ']')
        free(steal_pointer(&url));
    while (*parser->p != '\0' && *parser->p != '\n' && *parser->p != ']')
        parser->p++;
    if (*parser->p != ']')
        return syntax_error(parser, err, "unterminated table header");
    parser->p++;
    if (url != NULL) {
        struct hosts_toml_host *host;

        out->hosts = xrealloc(out->hosts, (out->host_count + 1) * sizeof(*out->hosts));
        host = &out->hosts[out->host_count++];
        memset(host, 0, sizeof(*host));
        host->url = steal_pointer(&url);
        host->can_pull = true;
        *current = host;
    }
    return 0;
}

int hosts_toml_parse(const char *text, const char *path, struct hosts_toml *out, struct error *err)
{
    struct toml_parser parser = {text, path, 1};
    struct hosts_toml_host *current = &out->server;
    bool in_ignored_table = false;

    memset(out, 0, sizeof(*out));
    out->server.can_pull = true;
    for (;;) {
        _cleanup_free_ char *key = NULL;
        struct toml_value value = {0};

        skip_blank_lines(&parser);
        if (*parser.p == '\0')
            return 0;
        if (*parser.p == '[') {
            if (parse_header(&parser, out, &current, err) < 0)
                goto fail;
            in_ignored_table = current == NULL;
            continue;
        }
        key = parse_key(&parser);
        skip_blank(&parser);
        if (key == NULL || *parser.p != '=') {
            syntax_error(&parser, err, "expected key = value");
            goto fail;
        }
        parser.p++;
        if (parse_value(&parser, &value, err) < 0) {
            value_clear(&value);
            goto fail;
        }
        if (!in_ignored_table)
            apply_key(current, key, &value);
        value_clear(&value);
    }
fail:
    hosts_toml_clear(out);
    return -1;
}

int hosts_toml_load(const char *path, struct hosts_toml *out, struct error *err)
{
    FILE *file = fopen(path, "re");
    _cleanup_free_ char *text = NULL;
    size_t length;

    memset(out, 0, sizeof(*out));
    if (file == NULL) {
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        return error_set_errno(err, ERROR_INTERNAL, errno, "open %s", path);
    }
    text = xmalloc(HOSTS_TOML_MAX + 1);
    length = fread(text, 1, HOSTS_TOML_MAX + 1, file);
    fclose(file);
    if (length > HOSTS_TOML_MAX)
        return error_set(err, ERROR_INVALID_ARGUMENT, "%s is larger than %d bytes", path,
                         HOSTS_TOML_MAX);
    text[length] = '\0';
    return hosts_toml_parse(text, path, out, err);
}

static void host_clear(struct hosts_toml_host *host)
{
    free(host->url);
    free(host->ca_file);
    free(host->client_cert);
    free(host->client_key);
    memset(host, 0, sizeof(*host));
}

void hosts_toml_clear(struct hosts_toml *toml)
{
    host_clear(&toml->server);
    for (size_t i = 0; i < toml->host_count; i++)
        host_clear(&toml->hosts[i]);
    free(toml->hosts);
    memset(toml, 0, sizeof(*toml));
}
