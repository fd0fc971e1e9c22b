/*
 * Single-use tokens for issued streaming URLs, kept in a short list: the count is bounded by
 * max_entries and every lookup also drops expired entries.
 */
#include "cri/streaming/token.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "cri/streaming/random.h"
#include "cri/streaming/request.h"

struct token_entry {
    struct token_entry *next;
    char token[TOKEN_LENGTH + 1];
    uint64_t expires;
    struct streaming_request *request;
};

void token_cache_init(struct token_cache *cache, size_t max_entries, uint64_t ttl_ns)
{
    memset(cache, 0, sizeof(*cache));
    cache->max_entries = max_entries;
    cache->ttl_ns = ttl_ns;
}

static void entry_free(struct token_entry *entry)
{
    streaming_request_free(entry->request);
    free(entry);
}

void token_cache_free(struct token_cache *cache)
{
    while (cache->head != NULL) {
        struct token_entry *entry = cache->head;

        cache->head = entry->next;
        entry_free(entry);
    }
    cache->count = 0;
}

static void drop_expired(struct token_cache *cache, uint64_t now)
{
    struct token_entry **link = &cache->head;

    while (*link != NULL) {
        struct token_entry *entry = *link;

        if (entry->expires <= now) {
            *link = entry->next;
            entry_free(entry);
            cache->count--;
        } else {
            link = &entry->next;
        }
    }
}

/* Encodes 6 bytes as 8 characters of the URL-safe base64 alphabet (no padding needed). */
static void encode_token(const unsigned char bytes[6], char token[TOKEN_LENGTH + 1])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    for (int group = 0; group < 2; group++) {
        const unsigned char *b = bytes + 3 * group;
        uint32_t bits = (uint32_t)b[0] << 16 | (uint32_t)b[1] << 8 | b[2];

        for (int i = 0; i < 4; i++)
            token[4 * group + i] = alphabet[(bits >> (18 - 6 * i)) & 0x3f];
    }
    token[TOKEN_LENGTH] = '\0';
}

static bool token_in_use(const struct token_cache *cache, const char *token)
{
    for (const struct token_entry *entry = cache->head; entry != NULL; entry = entry->next) {
        if (strcmp(entry->token, token) == 0)
            return true;
    }
    return false;
}

int token_cache_insert(struct token_cache *cache, struct streaming_request *request, uint64_t now,
                       char token[TOKEN_LENGTH + 1], struct error *err)
{
    unsigned char bytes[6];

    drop_expired(cache, now);
    if (cache->count >= cache->max_entries) {
        streaming_request_free(request);
        return error_set(err, ERROR_RESOURCE_EXHAUSTED,
                         "maximum number of in-flight requests exceeded (%zu)", cache->max_entries);
    }
    do {
        if (streaming_random_bytes(bytes, sizeof(bytes), err) < 0) {
            streaming_request_free(request);
            return error_prefix(err, "generate a streaming token");
        }
        encode_token(bytes, token);
    } while (token_in_use(cache, token));

    struct token_entry *entry = xcalloc(1, sizeof(*entry));
    memcpy(entry->token, token, TOKEN_LENGTH + 1);
    entry->expires = now + cache->ttl_ns;
    entry->request = request;
    entry->next = cache->head;
    cache->head = entry;
    cache->count++;
    return 0;
}

struct streaming_request *token_cache_consume(struct token_cache *cache, const char *token,
                                              uint64_t now)
{
    drop_expired(cache, now);
    for (struct token_entry **link = &cache->head; *link != NULL; link = &(*link)->next) {
        struct token_entry *entry = *link;

        if (strcmp(entry->token, token) == 0) {
            struct streaming_request *request = entry->request;

            *link = entry->next;
            free(entry);
            cache->count--;
            return request;
        }
    }
    return NULL;
}
