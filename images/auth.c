#include "images/auth.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/base64.h"
#include "common/digest.h"
#include "common/strbuf.h"
#include "common/util.h"

/* Tokens that expire within this margin are treated as expired, so a request does not race it. */
#define TOKEN_EXPIRY_MARGIN_NS (5ULL * 1000000000ULL)
#define TOKEN_DEFAULT_EXPIRES_IN_S 60

static char *dup_nonempty(const char *s)
{
    return str_empty(s) ? NULL : xstrdup(s);
}

static int decode_basic_auth(const char *auth, struct auth_credentials *out, struct error *err)
{
    _cleanup_free_ unsigned char *decoded = NULL;
    size_t decoded_length = 0;
    char *colon;

    if (base64_decode(auth, strlen(auth), &decoded, &decoded_length) < 0)
        return error_set(err, ERROR_INVALID_ARGUMENT, "auth is not valid base64");
    if (memchr(decoded, '\0', decoded_length) != NULL) {
        base64_wipe(decoded, decoded_length);
        return error_set(err, ERROR_INVALID_ARGUMENT, "auth contains a NUL byte");
    }

    colon = strchr((char *)decoded, ':');
    if (colon == NULL || colon == (char *)decoded) {
        base64_wipe(decoded, decoded_length);
        return error_set(err, ERROR_INVALID_ARGUMENT, "auth is not base64 of user:password");
    }
    *colon = '\0';
    out->username = xstrdup((char *)decoded);
    out->password = xstrdup(colon + 1);
    base64_wipe(decoded, decoded_length);
    return 0;
}

int auth_credentials_from_cri(const char *username, const char *password, const char *auth,
                              const char *identity_token, const char *registry_token,
                              struct auth_credentials *out, struct error *err)
{
    memset(out, 0, sizeof(*out));
    if (!str_empty(username)) {
        out->username = xstrdup(username);
        out->password = dup_nonempty(password);
    } else if (!str_empty(auth) && decode_basic_auth(auth, out, err) < 0) {
        auth_credentials_clear(out);
        return -1;
    }
    out->identity_token = dup_nonempty(identity_token);
    out->registry_token = dup_nonempty(registry_token);
    return 0;
}

void auth_credentials_copy(struct auth_credentials *dst, const struct auth_credentials *src)
{
    memset(dst, 0, sizeof(*dst));
    if (src == NULL)
        return;
    dst->username = xstrdup_or_null(src->username);
    dst->password = xstrdup_or_null(src->password);
    dst->identity_token = xstrdup_or_null(src->identity_token);
    dst->registry_token = xstrdup_or_null(src->registry_token);
}

bool auth_credentials_empty(const struct auth_credentials *creds)
{
    return creds == NULL || (str_empty(creds->username) && str_empty(creds->password) &&
                             str_empty(creds->identity_token) && str_empty(creds->registry_token));
}

bool auth_credentials_have_password(const struct auth_credentials *creds)
{
    return creds != NULL && !str_empty(creds->username) && creds->password != NULL;
}

char *auth_credentials_fingerprint(const struct auth_credentials *creds)
{
    const char *fields[4] = {NULL, NULL, NULL, NULL};
    _cleanup_digest_ctx_ struct digest_ctx *ctx = NULL;
    char digest[DIGEST_STRING_MAX];

    if (auth_credentials_empty(creds))
        return xstrdup("anonymous");
    fields[0] = creds->username;
    fields[1] = creds->password;
    fields[2] = creds->identity_token;
    fields[3] = creds->registry_token;

    ctx = digest_ctx_new(DIGEST_SHA256);
    for (size_t i = 0; i < ARRAY_SIZE(fields); i++) {
        const char *field = fields[i] ? fields[i] : "";

        /* The NUL terminator separates fields, so ("ab","c") and ("a","bc") differ. */
        digest_ctx_update(ctx, field, strlen(field) + 1);
    }
    digest_ctx_final(ctx, digest);
    return xstrdup(strchr(digest, ':') + 1);
}

static void free_secret(char **s)
{
    if (*s != NULL) {
        base64_wipe(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

void auth_credentials_clear(struct auth_credentials *creds)
{
    if (creds == NULL)
        return;
    free_secret(&creds->username);
    free_secret(&creds->password);
    free_secret(&creds->identity_token);
    free_secret(&creds->registry_token);
}

char *auth_basic_header(const struct auth_credentials *creds)
{
    _cleanup_free_ char *plain = xasprintf("%s:%s", creds->username, creds->password);
    _cleanup_free_ char *encoded = base64_encode(plain, strlen(plain));
    char *header = xasprintf("Authorization: Basic %s", encoded);

    base64_wipe(plain, strlen(plain));
    base64_wipe(encoded, strlen(encoded));
    return header;
}

/* Challenge parsing: `scheme param="value", param=token, ... [, scheme ...]` (RFC 7235). */

struct challenge_parser {
    const char *p;
};

static void skip_space(struct challenge_parser *parser)
{
    while (*parser->p == ' ' || *parser->p == '\t')
        parser->p++;
}

static bool is_token_char(char c)
{
    return c != '\0' && (isalnum((unsigned char)c) || strchr("!#$%&'*+-.^_`|~/:", c) != NULL);
}

static char *parse_token(struct challenge_parser *parser)
{
    const char *start = parser->p;

    while (is_token_char(*parser->p))
        parser->p++;
    return parser->p == start ? NULL : xstrndup(start, (size_t)(parser->p - start));
}

static char *parse_quoted(struct challenge_parser *parser)
{
    struct strbuf value = STRBUF_INIT;

    parser->p++; /* the opening quote */
    while (*parser->p != '"') {
        if (*parser->p == '\0') {
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
 * Parses one "name=value" parameter. Returns 1 with *name and *value set, 0 when the next item
 * is not a parameter (the start of another challenge or the end), -1 on a syntax error.
 */
static int parse_param(struct challenge_parser *parser, char **name, char **value)
{
    const char *saved = parser->p;

    skip_space(parser);
    while (*parser->p == ',') {
        parser->p++;
        skip_space(parser);
    }
    *name = parse_token(parser);
    if (*name == NULL)
        return *parser->p == '\0' ? 0 : -1;
    skip_space(parser);
    if (*parser->p != '=') {
        /* A token without '=' is the scheme of the next challenge. */
        free(*name);
        *name = NULL;
        parser->p = saved;
        return 0;
    }
    parser->p++;
    skip_space(parser);
    *value = *parser->p == '"' ? parse_quoted(parser) : parse_token(parser);
    if (*value == NULL) {
        free(*name);
        *name = NULL;
        return -1;
    }
    return 1;
}

static void set_param(struct auth_challenge *challenge, char *name, char *value)
{
    char **slot = NULL;

    if (strcasecmp(name, "realm") == 0)
        slot = &challenge->realm;
    else if (strcasecmp(name, "service") == 0)
        slot = &challenge->service;
    else if (strcasecmp(name, "scope") == 0)
        slot = &challenge->scope;
    free(name);
    if (slot == NULL) {
        free(value);
        return;
    }
    free(*slot);
    *slot = value;
}

/* Parses one challenge at the parser's position into *out. Returns 0, or -1 on a syntax error. */
static int parse_one_challenge(struct challenge_parser *parser, struct auth_challenge *out)
{
    _cleanup_free_ char *scheme = NULL;
    char *name;
    char *value;
    int rc;

    skip_space(parser);
    while (*parser->p == ',') {
        parser->p++;
        skip_space(parser);
    }
    scheme = parse_token(parser);
    if (scheme == NULL)
        return -1;
    if (strcasecmp(scheme, "bearer") == 0)
        out->scheme = AUTH_SCHEME_BEARER;
    else if (strcasecmp(scheme, "basic") == 0)
        out->scheme = AUTH_SCHEME_BASIC;
    else
        out->scheme = AUTH_SCHEME_NONE;

    while ((rc = parse_param(parser, &name, &value)) > 0)
        set_param(out, name, value);
    return rc;
}

int auth_challenge_parse(const char *header, struct auth_challenge *out, struct error *err)
{
    struct challenge_parser parser = {header ? header : ""};
    struct auth_challenge basic = {AUTH_SCHEME_NONE, NULL, NULL, NULL};

    memset(out, 0, sizeof(*out));
    while (*parser.p != '\0') {
        struct auth_challenge current = {AUTH_SCHEME_NONE, NULL, NULL, NULL};

        if (parse_one_challenge(&parser, &current) < 0) {
            auth_challenge_clear(&current);
            break;
        }
        if (current.scheme == AUTH_SCHEME_BEARER) {
            auth_challenge_clear(&basic);
            *out = current;
            if (str_empty(out->realm)) {
                auth_challenge_clear(out);
                return error_set(err, ERROR_UNAUTHENTICATED, "bearer challenge has no realm");
            }
            return 0;
        }
        if (current.scheme == AUTH_SCHEME_BASIC && basic.scheme == AUTH_SCHEME_NONE)
            basic = current;
        else
            auth_challenge_clear(&current);
    }
    if (basic.scheme == AUTH_SCHEME_BASIC) {
        *out = basic;
        return 0;
    }
    return error_set(err, ERROR_UNAUTHENTICATED,
                     "no Basic or Bearer challenge in WWW-Authenticate");
}

void auth_challenge_clear(struct auth_challenge *challenge)
{
    if (challenge == NULL)
        return;
    free(challenge->realm);
    free(challenge->service);
    free(challenge->scope);
    memset(challenge, 0, sizeof(*challenge));
}

char *auth_pull_scope(const char *repository)
{
    return xasprintf("repository:%s:pull", repository);
}

static void append_encoded(struct strbuf *buf, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;

        if (isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~')
            strbuf_append_char(buf, (char)c);
        else
            strbuf_appendf(buf, "%%%02X", c);
    }
}

static void append_form_field(struct strbuf *buf, const char *name, const char *value)
{
    if (value == NULL)
        return;
    if (buf->length > 0 && buf->data[buf->length - 1] != '?')
        strbuf_append_char(buf, '&');
    strbuf_append_str(buf, name);
    strbuf_append_char(buf, '=');
    append_encoded(buf, value);
}

char *auth_token_get_url(const struct auth_challenge *challenge, const char *scope)
{
    struct strbuf url = STRBUF_INIT;

    strbuf_append_str(&url, challenge->realm);
    strbuf_append_char(&url, strchr(challenge->realm, '?') ? '&' : '?');
    append_form_field(&url, "service", challenge->service);
    append_form_field(&url, "scope", scope);
    return strbuf_steal(&url);
}

char *auth_token_post_form(const struct auth_challenge *challenge, const char *scope,
                           const struct auth_credentials *creds)
{
    struct strbuf form = STRBUF_INIT;

    if (creds->identity_token != NULL) {
        append_form_field(&form, "grant_type", "refresh_token");
        append_form_field(&form, "refresh_token", creds->identity_token);
    } else {
        append_form_field(&form, "grant_type", "password");
        append_form_field(&form, "username", creds->username);
        append_form_field(&form, "password", creds->password);
    }
    append_form_field(&form, "service", challenge->service);
    append_form_field(&form, "scope", scope);
    append_form_field(&form, "client_id", "hostcri");
    return strbuf_steal(&form);
}

int auth_token_parse_response(const char *body, size_t length, char **token, int64_t *expires_in_s,
                              struct error *err)
{
    json_t *root = json_loadb(body, length, 0, NULL);
    const char *value;
    json_t *expires;

    *token = NULL;
    *expires_in_s = TOKEN_DEFAULT_EXPIRES_IN_S;
    if (!json_is_object(root)) {
        json_decref(root);
        return error_set(err, ERROR_UNAUTHENTICATED, "token response is not a JSON object");
    }
    value = json_string_value(json_object_get(root, "token"));
    if (str_empty(value))
        value = json_string_value(json_object_get(root, "access_token"));
    if (str_empty(value)) {
        json_decref(root);
        return error_set(err, ERROR_UNAUTHENTICATED, "token response holds no token");
    }
    *token = xstrdup(value);
    expires = json_object_get(root, "expires_in");
    if (json_is_integer(expires) && json_integer_value(expires) > 0)
        *expires_in_s = json_integer_value(expires);
    json_decref(root);
    return 0;
}

/* The token cache: a short linked list, because a node talks to a handful of registries. */

struct token_entry {
    struct token_entry *next;
    char *key;
    char *token;
    uint64_t expires_at_ns;
};

struct auth_token_cache {
    struct token_entry *entries;
};

static char *cache_key(const char *host, const char *scope, const char *fingerprint)
{
    return xasprintf("%s\n%s\n%s", host, scope ? scope : "", fingerprint ? fingerprint : "");
}

static void free_entry(struct token_entry *entry)
{
    free(entry->key);
    free_secret(&entry->token);
    free(entry);
}

struct auth_token_cache *auth_token_cache_new(void)
{
    return xcalloc(1, sizeof(struct auth_token_cache));
}

void auth_token_cache_free(struct auth_token_cache *cache)
{
    if (cache == NULL)
        return;
    while (cache->entries != NULL) {
        struct token_entry *next = cache->entries->next;

        free_entry(cache->entries);
        cache->entries = next;
    }
    free(cache);
}

static struct token_entry **find_entry(struct auth_token_cache *cache, const char *key)
{
    struct token_entry **link = &cache->entries;

    while (*link != NULL && strcmp((*link)->key, key) != 0)
        link = &(*link)->next;
    return link;
}

const char *auth_token_cache_get(struct auth_token_cache *cache, const char *host,
                                 const char *scope, const char *fingerprint, uint64_t now_ns)
{
    _cleanup_free_ char *key = cache_key(host, scope, fingerprint);
    struct token_entry **link = find_entry(cache, key);
    struct token_entry *entry = *link;

    if (entry == NULL)
        return NULL;
    if (entry->expires_at_ns <= now_ns + TOKEN_EXPIRY_MARGIN_NS) {
        *link = entry->next;
        free_entry(entry);
        return NULL;
    }
    return entry->token;
}

void auth_token_cache_put(struct auth_token_cache *cache, const char *host, const char *scope,
                          const char *fingerprint, const char *token, uint64_t expires_at_ns)
{
    char *key = cache_key(host, scope, fingerprint);
    struct token_entry **link = find_entry(cache, key);
    struct token_entry *entry = *link;

    if (entry == NULL) {
        entry = xcalloc(1, sizeof(*entry));
        entry->key = key;
        entry->next = cache->entries;
        cache->entries = entry;
    } else {
        free(key);
        free_secret(&entry->token);
    }
    entry->token = xstrdup(token);
    entry->expires_at_ns = expires_at_ns;
}

void auth_token_cache_drop(struct auth_token_cache *cache, const char *host, const char *scope,
                           const char *fingerprint)
{
    _cleanup_free_ char *key = cache_key(host, scope, fingerprint);
    struct token_entry **link = find_entry(cache, key);
    struct token_entry *entry = *link;

    if (entry != NULL) {
        *link = entry->next;
        free_entry(entry);
    }
}
