#include "runtime/filter.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* Every generated map entry type used with FILTER_MAP must have the filter_map_entry layout. */
#define CHECK_MAP_LAYOUT(type)                                                                     \
    _Static_assert(offsetof(type, key) == offsetof(struct filter_map_entry, key) &&                \
                       offsetof(type, value) == offsetof(struct filter_map_entry, value) &&        \
                       sizeof(type) == sizeof(struct filter_map_entry),                            \
                   #type " does not have the layout of struct filter_map_entry")

CHECK_MAP_LAYOUT(Runtime__V1__PodSandboxConfig__LabelsEntry);
CHECK_MAP_LAYOUT(Runtime__V1__PodSandboxConfig__AnnotationsEntry);
CHECK_MAP_LAYOUT(Runtime__V1__ContainerConfig__LabelsEntry);
CHECK_MAP_LAYOUT(Runtime__V1__ContainerConfig__AnnotationsEntry);
CHECK_MAP_LAYOUT(Runtime__V1__PodSandboxFilter__LabelSelectorEntry);
CHECK_MAP_LAYOUT(Runtime__V1__ContainerFilter__LabelSelectorEntry);
CHECK_MAP_LAYOUT(Runtime__V1__PodSandbox__LabelsEntry);
CHECK_MAP_LAYOUT(Runtime__V1__PodSandbox__AnnotationsEntry);
CHECK_MAP_LAYOUT(Runtime__V1__PodSandboxStatus__LabelsEntry);
CHECK_MAP_LAYOUT(Runtime__V1__PodSandboxStatus__AnnotationsEntry);
CHECK_MAP_LAYOUT(Runtime__V1__Container__LabelsEntry);
CHECK_MAP_LAYOUT(Runtime__V1__Container__AnnotationsEntry);
CHECK_MAP_LAYOUT(Runtime__V1__ContainerStatus__LabelsEntry);
CHECK_MAP_LAYOUT(Runtime__V1__ContainerStatus__AnnotationsEntry);
CHECK_MAP_LAYOUT(Runtime__V1__PodSandboxStatusResponse__InfoEntry);
CHECK_MAP_LAYOUT(Runtime__V1__ContainerAttributes__LabelsEntry);
CHECK_MAP_LAYOUT(Runtime__V1__ContainerAttributes__AnnotationsEntry);
CHECK_MAP_LAYOUT(Runtime__V1__PodSandboxAttributes__LabelsEntry);
CHECK_MAP_LAYOUT(Runtime__V1__PodSandboxAttributes__AnnotationsEntry);
CHECK_MAP_LAYOUT(Runtime__V1__ContainerStatsFilter__LabelSelectorEntry);
CHECK_MAP_LAYOUT(Runtime__V1__PodSandboxStatsFilter__LabelSelectorEntry);
CHECK_MAP_LAYOUT(Runtime__V1__ContainerStatusResponse__InfoEntry);

const char *filter_map_get(struct filter_map_entry *const *entries, size_t n, const char *key)
{
    /* A later duplicate key wins, as when protobuf parses a map. */
    for (size_t i = n; i > 0; i--) {
        if (entries[i - 1]->key && strcmp(entries[i - 1]->key, key) == 0)
            return entries[i - 1]->value ? entries[i - 1]->value : "";
    }
    return NULL;
}

bool filter_labels_match(struct filter_map_entry *const *labels, size_t n_labels,
                         struct filter_map_entry *const *selector, size_t n_selector)
{
    for (size_t i = 0; i < n_selector; i++) {
        const char *value = filter_map_get(labels, n_labels, selector[i]->key);
        const char *wanted = selector[i]->value ? selector[i]->value : "";

        if (value == NULL || strcmp(value, wanted) != 0)
            return false;
    }
    return true;
}

void **filter_map_copy(struct filter_map_entry *const *entries, size_t n,
                       const ProtobufCMessageDescriptor *descriptor)
{
    void **copy = xcalloc(n, sizeof(void *));

    for (size_t i = 0; i < n; i++) {
        struct filter_map_entry *entry = xcalloc(1, sizeof(*entry));

        protobuf_c_message_init(descriptor, entry);
        entry->key = xstrdup(entries[i]->key ? entries[i]->key : "");
        entry->value = xstrdup(entries[i]->value ? entries[i]->value : "");
        copy[i] = entry;
    }
    return copy;
}

void filter_map_free(void **entries, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct filter_map_entry *entry = entries[i];

        free(entry->key);
        free(entry->value);
        free(entry);
    }
    free(entries);
}

bool filter_id_has_prefix(const char *id, const char *prefix)
{
    return str_empty(prefix) || str_has_prefix(id, prefix);
}

long filter_find_by_prefix(void *const *items, size_t n, filter_id_getter get_id, const char *id,
                           const char *kind, struct error *err)
{
    long found = -1;

    if (str_empty(id))
        return error_set(err, ERROR_INVALID_ARGUMENT, "%s id is empty", kind);
    for (size_t i = 0; i < n; i++) {
        const char *candidate = get_id(items[i]);

        if (strcmp(candidate, id) == 0)
            return (long)i;
        if (!str_has_prefix(candidate, id))
            continue;
        if (found >= 0)
            return error_set(err, ERROR_INVALID_ARGUMENT,
                             "%s id prefix \"%s\" is ambiguous: it matches %s and %s", kind, id,
                             get_id(items[found]), candidate);
        found = (long)i;
    }
    if (found < 0)
        return error_set(err, ERROR_NOT_FOUND, "%s \"%s\" not found", kind, id);
    return found;
}
