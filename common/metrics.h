#ifndef HOSTCRI_COMMON_METRICS_H
#define HOSTCRI_COMMON_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "common/strbuf.h"

/*
 * Process-wide Prometheus metrics: counters, gauges and histograms, each a family identified
 * by name with one series per label set. Labels are given pre-rendered in the exposition
 * format, e.g. `method="/runtime.v1.RuntimeService/Version",code="OK"`, or "" for none;
 * label values must already be escaped (metrics_escape_label_value).
 *
 * Recording is a no-op until metrics_enable() is called, so a daemon without a metrics
 * endpoint pays one branch per event. Safe from any thread.
 */

void metrics_enable(void);
bool metrics_enabled(void);

/* Adds amount to a counter. */
void metrics_counter_add(const char *name, const char *help, const char *labels, double amount);

/* Sets a gauge. */
void metrics_gauge_set(const char *name, const char *help, const char *labels, double value);

/* Records one observation, in seconds, in a histogram with latency buckets (100 µs to 60 s). */
void metrics_histogram_observe(const char *name, const char *help, const char *labels,
                               double seconds);

/* A gauge whose value is read at scrape time; the callback runs on the scraping thread. */
typedef double (*metrics_gauge_fn)(void *data);
void metrics_gauge_register(const char *name, const char *help, metrics_gauge_fn fn, void *data);

/* Appends every family in the Prometheus text exposition format (version 0.0.4). */
void metrics_render(struct strbuf *out);

/* Appends value escaped for use inside a label's double quotes. */
void metrics_escape_label_value(struct strbuf *out, const char *value);

/* Forgets every family and disables recording (tests). */
void metrics_reset(void);

#endif
