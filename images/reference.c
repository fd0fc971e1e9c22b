#include "images/reference.h"

#include <stdlib.h>
#include <string.h>

#include "common/digest.h"
#include "common/util.h"

#define REFERENCE_NAME_MAX 255
#define REFERENCE_TAG_MAX 128

static bool is_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

static bool is_alnum(char c)
{
    return is_lower_alnum(c) || (c >= 'A' && c <= 'Z');
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool has_upper(const char *s, size_t length)
{
    for (size_t i = 0; i < length; i++)
        if (s[i] >= 'A' && s[i] <= 'Z')
            return true;
    return false;
}

/* One path component: [a-z0-9]+ joined by ".", "_", "__" or a run of "-". */
static bool is_path_component(const char *s, size_t length)
{
    size_t i = 0;

    while (i < length) {
        if (!is_lower_alnum(s[i]))
            return false;
        while (i < length && is_lower_alnum(s[i]))
            i++;
        if (i == length)
            return true;
        if (s[i] == '-') {
            while (i < length && s[i] == '-')
                i++;
        } else if (s[i] == '_' && i + 1 < length && s[i + 1] == '_') {
            i += 2;
        } else if (s[i] == '.' || s[i] == '_') {
            i++;
        } else {
            return false;
        }
        if (i == length)
            return false;
    }
    return length > 0;
}

static bool is_path(const char *path)
{
    const char *start = path;

    for (;;) {
        const char *slash = strchr(start, '/');
        size_t length = slash ? (size_t)(slash - start) : strlen(start);

        if (!is_path_component(start, length))
            return false;
        if (slash == NULL)
            return true;
        start = slash + 1;
    }
}

/* A DNS label: alphanumerics, with hyphens inside but not at either end. */
static bool is_domain_label(const char *s, size_t length)
{
    if (length == 0 || !is_alnum(s[0]) || !is_alnum(s[length - 1]))
        return false;
    for (size_t i = 0; i < length; i++)
        if (!is_alnum(s[i]) && s[i] != '-')
            return false;
    return true;
}

static bool is_host(const char *s, size_t length)
{
    size_t start = 0;

    if (length >= 2 && s[0] == '[') {
        if (s[length - 1] != ']' || length == 2)
            return false;
        for (size_t i = 1; i + 1 < length; i++)
            if (!is_hex(s[i]) && s[i] != ':')
                return false;
        return true;
    }
    for (size_t i = 0; i <= length; i++) {
        if (i == length || s[i] == '.') {
            if (!is_domain_label(s + start, i - start))
                return false;
            start = i + 1;
        }
    }
    return true;
}

/* host[:port], where host is a DNS name or a bracketed IPv6 address. */
static bool is_domain(const char *domain)
{
    const char *bracket = strrchr(domain, ']');
    const char *colon = strrchr(bracket ? bracket : domain, ':');
    size_t host_length = colon ? (size_t)(colon - domain) : strlen(domain);

    if (colon != NULL) {
        if (colon[1] == '\0')
            return false;
        for (const char *p = colon + 1; *p; p++)
            if (!is_digit(*p))
                return false;
    }
    return is_host(domain, host_length);
}

static bool is_tag(const char *tag)
{
    size_t length = strlen(tag);

    if (length == 0 || length > REFERENCE_TAG_MAX)
        return false;
    if (!is_alnum(tag[0]) && tag[0] != '_')
        return false;
    for (size_t i = 1; i < length; i++)
        if (!is_alnum(tag[i]) && tag[i] != '_' && tag[i] != '.' && tag[i] != '-')
            return false;
    return true;
}

static bool is_hex_id(const char *s)
{
    if (strlen(s) != DIGEST_SHA256_HEX_LENGTH)
        return false;
    for (const char *p = s; *p; p++)
        if (!is_digit(*p) && !(*p >= 'a' && *p <= 'f'))
            return false;
    return true;
}

bool reference_is_image_id(const char *s)
{
    if (s == NULL)
        return false;
    if (str_has_prefix(s, "sha256:"))
        s += strlen("sha256:");
    return is_hex_id(s);
}

/*
 * Splits name into domain and path with Docker's rule: the first component is a domain when
 * it contains "." or ":", is "localhost", or has an uppercase letter.
 */
static void split_domain(const char *name, char **domain, char **path)
{
    const char *slash = strchr(name, '/');
    size_t first_length = slash ? (size_t)(slash - name) : 0;

    if (slash == NULL ||
        (memchr(name, '.', first_length) == NULL && memchr(name, ':', first_length) == NULL &&
         !(first_length == 9 && strncmp(name, "localhost", 9) == 0) &&
         !has_upper(name, first_length))) {
        *domain = xstrdup(REFERENCE_DOCKER_HUB_DOMAIN);
        *path = xstrdup(name);
        return;
    }
    *domain = xstrndup(name, first_length);
    *path = xstrdup(slash + 1);
}

static void normalize_docker_hub(struct image_reference *ref)
{
    if (strcmp(ref->domain, "index.docker.io") == 0) {
        free(ref->domain);
        ref->domain = xstrdup(REFERENCE_DOCKER_HUB_DOMAIN);
    }
    if (strcmp(ref->domain, REFERENCE_DOCKER_HUB_DOMAIN) == 0 && strchr(ref->path, '/') == NULL) {
        char *prefixed = xasprintf("library/%s", ref->path);

        free(ref->path);
        ref->path = prefixed;
    }
}

/* Splits "name[:tag]" at the last ":" that follows the last "/". */
static char *split_tag(char *name)
{
    char *slash = strrchr(name, '/');
    char *colon = strrchr(slash ? slash : name, ':');

    if (colon == NULL)
        return NULL;
    *colon = '\0';
    return colon + 1;
}

static int parse_name(const char *text, const char *name, struct image_reference *ref,
                      struct error *err)
{
    if (name[0] == '\0')
        return error_set(err, ERROR_INVALID_ARGUMENT, "invalid image reference \"%s\": empty name",
                         text);
    if (strlen(name) > REFERENCE_NAME_MAX)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid image reference \"%s\": name longer than %d characters", text,
                         REFERENCE_NAME_MAX);

    split_domain(name, &ref->domain, &ref->path);
    if (!is_domain(ref->domain))
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid image reference \"%s\": invalid registry domain \"%s\"", text,
                         ref->domain);
    if (has_upper(ref->path, strlen(ref->path)))
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid image reference \"%s\": repository name must be lowercase", text);
    if (!is_path(ref->path))
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid image reference \"%s\": invalid repository path \"%s\"", text,
                         ref->path);
    normalize_docker_hub(ref);
    return 0;
}

static int parse_reference(const char *text, struct image_reference *ref, struct error *err)
{
    _cleanup_free_ char *copy = xstrdup(text);
    char *at = strchr(copy, '@');
    const char *tag;

    if (at != NULL) {
        *at = '\0';
        if (digest_parse(at + 1, NULL, NULL, err) < 0)
            return error_prefix(err, "invalid image reference \"%s\"", text);
        ref->digest = xstrdup(at + 1);
    }

    tag = split_tag(copy);
    if (tag != NULL && !is_tag(tag))
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid image reference \"%s\": invalid tag \"%s\"", text, tag);
    if (tag != NULL)
        ref->tag = xstrdup(tag);
    else if (ref->digest == NULL)
        ref->tag = xstrdup("latest");

    return parse_name(text, copy, ref, err);
}

int reference_parse(const char *text, struct image_reference *ref, struct error *err)
{
    if (str_empty(text))
        return error_set(err, ERROR_INVALID_ARGUMENT, "invalid image reference \"\": empty");
    if (is_hex_id(text))
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid image reference \"%s\": a 64-hex string is an image id, not "
                         "a repository name",
                         text);

    if (parse_reference(text, ref, err) < 0) {
        reference_clear(ref);
        return -1;
    }
    return 0;
}

void reference_clear(struct image_reference *ref)
{
    free(ref->domain);
    free(ref->path);
    free(ref->tag);
    free(ref->digest);
    *ref = (struct image_reference)IMAGE_REFERENCE_INIT;
}

void reference_copy(struct image_reference *dst, const struct image_reference *src)
{
    dst->domain = xstrdup_or_null(src->domain);
    dst->path = xstrdup_or_null(src->path);
    dst->tag = xstrdup_or_null(src->tag);
    dst->digest = xstrdup_or_null(src->digest);
}

char *reference_name(const struct image_reference *ref)
{
    return xasprintf("%s/%s", ref->domain, ref->path);
}

static char *format_reference(const char *name, const struct image_reference *ref)
{
    return xasprintf("%s%s%s%s%s", name, ref->tag ? ":" : "", ref->tag ? ref->tag : "",
                     ref->digest ? "@" : "", ref->digest ? ref->digest : "");
}

char *reference_string(const struct image_reference *ref)
{
    _cleanup_free_ char *name = reference_name(ref);

    return format_reference(name, ref);
}

char *reference_tagged_string(const struct image_reference *ref)
{
    if (ref->tag == NULL)
        return NULL;
    return xasprintf("%s/%s:%s", ref->domain, ref->path, ref->tag);
}

char *reference_digested_string(const struct image_reference *ref, const char *digest)
{
    return xasprintf("%s/%s@%s", ref->domain, ref->path, digest);
}

/* True when name, read again, would get the docker.io domain. */
static bool reads_as_docker_hub(const char *name)
{
    _cleanup_free_ char *domain = NULL;
    _cleanup_free_ char *path = NULL;

    split_domain(name, &domain, &path);
    return strcmp(domain, REFERENCE_DOCKER_HUB_DOMAIN) == 0;
}

char *reference_familiar_string(const struct image_reference *ref)
{
    _cleanup_free_ char *name = NULL;

    if (strcmp(ref->domain, REFERENCE_DOCKER_HUB_DOMAIN) != 0)
        name = reference_name(ref);
    else if (str_has_prefix(ref->path, "library/") &&
             strchr(ref->path + strlen("library/"), '/') == NULL)
        name = xstrdup(ref->path + strlen("library/"));
    else
        name = xstrdup(ref->path);
    /* "docker.io/my.org/app" keeps its domain: "my.org/app" would name another registry. */
    if (strcmp(ref->domain, REFERENCE_DOCKER_HUB_DOMAIN) == 0 && !reads_as_docker_hub(name)) {
        free(name);
        name = reference_name(ref);
    }
    return format_reference(name, ref);
}

const char *reference_api_host(const struct image_reference *ref)
{
    if (strcmp(ref->domain, REFERENCE_DOCKER_HUB_DOMAIN) == 0)
        return REFERENCE_DOCKER_HUB_API_HOST;
    return ref->domain;
}

const char *reference_fetch_ref(const struct image_reference *ref)
{
    return ref->digest ? ref->digest : ref->tag;
}
