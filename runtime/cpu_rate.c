#include "runtime/cpu_rate.h"

#include <stdlib.h>
#include <string.h>

#include "common/util.h"

void cpu_history_add(struct cpu_history *history, int64_t timestamp_ns, uint64_t usage_ns)
{
    history->previous_ns = history->latest_ns;
    history->previous_usage_ns = history->latest_usage_ns;
    history->latest_ns = timestamp_ns;
    history->latest_usage_ns = usage_ns;
    if (history->samples < 2)
        history->samples++;
}

bool cpu_history_rate(const struct cpu_history *history, uint64_t *nano_cores)
{
    double used;
    double elapsed;

    if (history->samples < 2 || history->latest_ns <= history->previous_ns ||
        history->latest_usage_ns < history->previous_usage_ns)
        return false;
    used = (double)(history->latest_usage_ns - history->previous_usage_ns);
    elapsed = (double)(history->latest_ns - history->previous_ns);
    *nano_cores = (uint64_t)(used / elapsed * 1e9);
    return true;
}

/* Returns the index of id, or of the entry it would be inserted before, and sets *found. */
static size_t find_index(const struct cpu_table *table, const char *id, bool *found)
{
    size_t low = 0;
    size_t high = table->n_entries;

    while (low < high) {
        size_t middle = low + (high - low) / 2;
        int order = strcmp(table->entries[middle].id, id);

        if (order == 0) {
            *found = true;
            return middle;
        }
        if (order < 0)
            low = middle + 1;
        else
            high = middle;
    }
    *found = false;
    return low;
}

const struct cpu_history *cpu_table_find(const struct cpu_table *table, const char *id)
{
    bool found;
    size_t index = find_index(table, id, &found);

    return found ? &table->entries[index].history : NULL;
}

struct cpu_history *cpu_table_update(struct cpu_table *table, const char *id, uint64_t pass)
{
    bool found;
    size_t index = find_index(table, id, &found);
    struct cpu_table_entry *entry;

    if (!found) {
        if (table->n_entries == table->capacity) {
            table->capacity = table->capacity ? 2 * table->capacity : 16;
            table->entries = xrealloc(table->entries, table->capacity * sizeof(*table->entries));
        }
        memmove(&table->entries[index + 1], &table->entries[index],
                (table->n_entries - index) * sizeof(*table->entries));
        table->n_entries++;
        table->entries[index] = (struct cpu_table_entry){.id = xstrdup(id)};
    }
    entry = &table->entries[index];
    entry->pass = pass;
    return &entry->history;
}

void cpu_table_sweep(struct cpu_table *table, uint64_t pass)
{
    size_t kept = 0;

    for (size_t i = 0; i < table->n_entries; i++) {
        if (table->entries[i].pass != pass) {
            free(table->entries[i].id);
            continue;
        }
        table->entries[kept++] = table->entries[i];
    }
    table->n_entries = kept;
}

void cpu_table_free(struct cpu_table *table)
{
    for (size_t i = 0; i < table->n_entries; i++)
        free(table->entries[i].id);
    free(table->entries);
    memset(table, 0, sizeof(*table));
}
