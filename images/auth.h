#ifndef HOSTCRI_IMAGES_AUTH_H
#define HOSTCRI_IMAGES_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

/*
 * Registry authentication: credentials, WWW-Authenticate challenges, bearer token requests and
 * responses, and the token cache. Nothing here does I/O; registry.c sends the requests.
 * No function here logs, and no error message contains a password or a token.
 */

/* Credentials for one registry. Every field is NULL or a non-empty string. */
struct auth_credentials {
    char *username;
    char *password;
    char *identity_token; /* OAuth2 refresh token, sent to the token realm with a POST */
    char *registry_token; /* bearer token sent to the registry as it is */
};

/*
 * Fills *out from the fields of a CRI AuthConfig (each may be NULL or ""). `auth` is
 * base64("user:password") and is used when username is empty. All-empty input gives empty
 * credentials (anonymous). Fails with INVALID_ARGUMENT when `auth` does not decode to
 * "user:password"; the message does not contain the value.
 */
int auth_credentials_from_cri(const char *username, const char *password, const char *auth,
                              const char *identity_token, const char *registry_token,
                              struct auth_credentials *out, struct error *err);

/* Deep copy of src into *dst (src may be NULL, giving empty credentials). */
void auth_credentials_copy(struct auth_credentials *dst, const struct auth_credentials *src);

/* True when no field is set (an anonymous pull). */
bool auth_credentials_empty(const struct auth_credentials *creds);

/* True when the credentials hold a username and a password (Basic auth is possible). */
bool auth_credentials_have_password(const struct auth_credentials *creds);

/*
 * A hex SHA-256 of all fields, used to keep cached tokens of different users apart without
 * storing the secrets in the cache key. The caller frees the result.
 */
char *auth_credentials_fingerprint(const struct auth_credentials *creds);

/* Wipes and frees the secrets in creds and zeroes it. Safe on NULL. */
void auth_credentials_clear(struct auth_credentials *creds);

/* "Authorization: Basic <base64(user:password)>"; the caller frees it. Needs a password. */
char *auth_basic_header(const struct auth_credentials *creds);

enum auth_scheme {
    AUTH_SCHEME_NONE,
    AUTH_SCHEME_BASIC,
    AUTH_SCHEME_BEARER,
};

/* One parsed WWW-Authenticate challenge. Parameters missing from the header are NULL. */
struct auth_challenge {
    enum auth_scheme scheme;
    char *realm;
    char *service;
    char *scope;
};

/*
 * Parses a WWW-Authenticate header value such as
 * `Bearer realm="https://auth.example/token",service="registry",scope="repository:a/b:pull"`.
 * When the header lists several challenges, the first Bearer one wins, then the first Basic
 * one. Fails with UNAUTHENTICATED when no Bearer or Basic challenge is present, or when a
 * Bearer challenge has no realm. *out is cleared first and owned by the caller.
 */
int auth_challenge_parse(const char *header, struct auth_challenge *out, struct error *err);

/* Frees the parameters of challenge and zeroes it. Safe on NULL. */
void auth_challenge_clear(struct auth_challenge *challenge);

/* The default scope of a pull: "repository:<repository>:pull". The caller frees it. */
char *auth_pull_scope(const char *repository);

/*
 * The URL of a GET token request: the realm with service and scope added as query parameters
 * (percent-encoded). scope may be NULL. The caller frees it.
 */
char *auth_token_get_url(const struct auth_challenge *challenge, const char *scope);

/*
 * The body of a POST token request (application/x-www-form-urlencoded): the OAuth2
 * refresh_token grant when creds has an identity token, otherwise the password grant.
 * The result contains secrets: the caller must not log it, and frees it.
 */
char *auth_token_post_form(const struct auth_challenge *challenge, const char *scope,
                           const struct auth_credentials *creds);

/*
 * Parses a token response body: {"token": ..., "access_token": ..., "expires_in": seconds}.
 * `token` wins over `access_token`. *expires_in_s is 60 when the field is missing or not
 * positive. *token is owned by the caller. Fails with UNAUTHENTICATED on invalid JSON or a
 * missing token.
 */
int auth_token_parse_response(const char *body, size_t length, char **token, int64_t *expires_in_s,
                              struct error *err);

/* Tokens by (registry host, scope, credentials fingerprint) until they expire. */
struct auth_token_cache;

/* Creates an empty cache; never returns NULL. */
struct auth_token_cache *auth_token_cache_new(void);

/* Wipes and frees every token and the cache. Safe on NULL. */
void auth_token_cache_free(struct auth_token_cache *cache);

/*
 * Returns the cached token for the key, or NULL when there is none or it expires within the
 * next 5 seconds at now_ns (CLOCK_MONOTONIC). The string belongs to the cache and stays valid
 * until the next put or free.
 */
const char *auth_token_cache_get(struct auth_token_cache *cache, const char *host,
                                 const char *scope, const char *fingerprint, uint64_t now_ns);

/* Stores a copy of token for the key until expires_at_ns, replacing an older entry. */
void auth_token_cache_put(struct auth_token_cache *cache, const char *host, const char *scope,
                          const char *fingerprint, const char *token, uint64_t expires_at_ns);

/* Drops the entry for the key (after the registry rejected its token). */
void auth_token_cache_drop(struct auth_token_cache *cache, const char *host, const char *scope,
                           const char *fingerprint);

#endif
