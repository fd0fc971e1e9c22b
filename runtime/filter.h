#ifndef HOSTCRI_RUNTIME_FILTER_H
#define HOSTCRI_RUNTIME_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "api/api.pb-c.h"
#include "common/error.h"

/*
 * Pure helpers for the List and lookup RPCs: label selectors, id prefixes and the container
 * and sandbox state machines.
 */

/*
 * The layout shared by every protobuf-c map<string, string> entry (labels, annotations,
 * label selectors), so that one function serves all of them. filter.c checks the layout of
 * each generated type it is used with.
 */
struct filter_map_entry {
    ProtobufCMessage base;
    char *key;
    char *value;
};

/* Views a generated map field (for example config->labels) as filter_map_entry pointers. */
#define FILTER_MAP(entries) ((struct filter_map_entry *const *)(entries))

/*
 * Returns true when every key of selector is present in labels with an equal value (an
 * empty selector matches everything), as the CRI label_selector filters require.
 */
bool filter_labels_match(struct filter_map_entry *const *labels, size_t n_labels,
                         struct filter_map_entry *const *selector, size_t n_selector);

/* Returns the value of key in a map field, or NULL. */
const char *filter_map_get(struct filter_map_entry *const *entries, size_t n, const char *key);

/* Returns a heap copy of a map field as generated entries of the given descriptor's type. */
void **filter_map_copy(struct filter_map_entry *const *entries, size_t n,
                       const ProtobufCMessageDescriptor *descriptor);

/* Frees a map made by filter_map_copy. */
void filter_map_free(void **entries, size_t n);

/* Returns true when id begins with prefix; an empty or NULL prefix matches every id. */
bool filter_id_has_prefix(const char *id, const char *prefix);

/* Returns the id of item; used by filter_find_by_prefix to walk any array of records. */
typedef const char *(*filter_id_getter)(const void *item);

/*
 * Finds the one item of items[0..n) whose id is id or begins with it. kind ("container",
 * "sandbox") names the object in messages. Returns the index, or -1 with NOT_FOUND when no
 * id matches, INVALID_ARGUMENT when id is empty or when more than one id matches.
 */
long filter_find_by_prefix(void *const *items, size_t n, filter_id_getter get_id, const char *id,
                           const char *kind, struct error *err);

#endif
