#ifndef HOSTCRI_CRI_STREAMING_TOKEN_H
#define HOSTCRI_CRI_STREAMING_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"
#include "cri/streaming/server.h"

/* 6 random bytes in unpadded base64url. */
#define TOKEN_LENGTH 8

struct token_entry;

/*
 * Issued requests by token. Each token is single use and expires ttl_ns after it was issued;
 * at most max_entries are outstanding. Times are CLOCK_MONOTONIC nanoseconds (uv_hrtime).
 */
struct token_cache {
    struct token_entry *head;
    size_t count;
    size_t max_entries;
    uint64_t ttl_ns;
};

void token_cache_init(struct token_cache *cache, size_t max_entries, uint64_t ttl_ns);

/* Frees every entry and its request. */
void token_cache_free(struct token_cache *cache);

/*
 * Stores request (ownership passes to the cache) under a new token written to token (NUL
 * terminated). Expired entries are dropped first. Returns -1 with ERROR_RESOURCE_EXHAUSTED
 * when the cache is full (request is then freed), or ERROR_INTERNAL when the system random
 * generator fails.
 */
int token_cache_insert(struct token_cache *cache, struct streaming_request *request, uint64_t now,
                       char token[TOKEN_LENGTH + 1], struct error *err);

/*
 * Removes token and returns its request (the caller owns it), or NULL when the token is
 * unknown, already used or expired.
 */
struct streaming_request *token_cache_consume(struct token_cache *cache, const char *token,
                                              uint64_t now);

#endif
