#ifndef HOSTCRI_RUNTIME_CPU_RATE_H
#define HOSTCRI_RUNTIME_CPU_RATE_H

/*
 * CPU rates from samples of a cumulative CPU time: the last two samples of each container or pod,
 * in a table by id. Pure data structures of the CPU sampler (cpu_sampler.c), without locking.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The last two samples of one cumulative CPU time. Zero-initialize. */
struct cpu_history {
    unsigned samples;    /* how many samples were added, up to 2 */
    int64_t previous_ns; /* monotonic clock, nanoseconds */
    uint64_t previous_usage_ns;
    int64_t latest_ns;
    uint64_t latest_usage_ns;
};

/* Adds a sample taken at timestamp_ns (a monotonic clock) and drops the oldest one. */
void cpu_history_add(struct cpu_history *history, int64_t timestamp_ns, uint64_t usage_ns);

/*
 * Stores the CPU rate between the last two samples in *nano_cores (1e9 is one core) and returns
 * true. Returns false, leaving *nano_cores alone, with fewer than two samples, when the time did
 * not advance, or when the CPU time went back (a job that was recreated).
 */
bool cpu_history_rate(const struct cpu_history *history, uint64_t *nano_cores);

struct cpu_table_entry {
    char *id;
    struct cpu_history history;
    uint64_t pass; /* the sampling pass that last updated it */
};

/* Histories by container or sandbox id, sorted by id. Zero-initialize, and free with
 * cpu_table_free. */
struct cpu_table {
    struct cpu_table_entry *entries;
    size_t n_entries;
    size_t capacity;
};

/* Returns the history of id, or NULL when the table has none. Valid until the table changes. */
const struct cpu_history *cpu_table_find(const struct cpu_table *table, const char *id);

/*
 * Returns the history of id, added empty when the table has none, and marks it as updated in
 * pass. The pointer is valid until the table changes.
 */
struct cpu_history *cpu_table_update(struct cpu_table *table, const char *id, uint64_t pass);

/* Removes the histories not updated in pass: containers and pods that no longer run. */
void cpu_table_sweep(struct cpu_table *table, uint64_t pass);

/* Frees every entry; the table is empty and usable afterwards. */
void cpu_table_free(struct cpu_table *table);

#endif
