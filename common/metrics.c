#include "common/metrics.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

enum metric_type {
    METRIC_COUNTER,
    METRIC_GAUGE,
    METRIC_HISTOGRAM,
    METRIC_GAUGE_FN,
};

static const double histogram_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005,
                                           0.01,   0.025,   0.05,   0.1,   0.25,   0.5,
                                           1,      2.5,     5,      10,    30,     60};
#define BUCKET_COUNT (sizeof(histogram_buckets) / sizeof(histogram_buckets[0]))

struct metric_series {
    char *labels;
    double value;                   /* counter or gauge; histogram sum */
    uint64_t count;                 /* histogram observations */
    uint64_t buckets[BUCKET_COUNT]; /* histogram, not cumulative */
};

struct metric_family {
    char *name;
    char *help;
    enum metric_type type;
    struct metric_series *series;
    size_t series_count;
    metrics_gauge_fn fn;
    void *fn_data;
};

static pthread_mutex_t metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static bool recording;
static struct metric_family *families;
static size_t family_count;

void metrics_enable(void)
{
    recording = true;
}

bool metrics_enabled(void)
{
    return recording;
}

/* Finds or adds a family; called with the lock held. */
static struct metric_family *family_for(const char *name, const char *help, enum metric_type type)
{
    struct metric_family *family;

    for (size_t i = 0; i < family_count; i++) {
        if (strcmp(families[i].name, name) == 0)
            return &families[i];
    }
    families = xrealloc(families, (family_count + 1) * sizeof(*families));
    family = &families[family_count++];
    memset(family, 0, sizeof(*family));
    family->name = xstrdup(name);
    family->help = xstrdup(help);
    family->type = type;
    return family;
}

static struct metric_series *series_for(struct metric_family *family, const char *labels)
{
    struct metric_series *series;

    for (size_t i = 0; i < family->series_count; i++) {
        if (strcmp(family->series[i].labels, labels) == 0)
            return &family->series[i];
    }
    family->series = xrealloc(family->series, (family->series_count + 1) * sizeof(*series));
    series = &family->series[family->series_count++];
    memset(series, 0, sizeof(*series));
    series->labels = xstrdup(labels);
    return series;
}

void metrics_counter_add(const char *name, const char *help, const char *labels, double amount)
{
    if (!recording)
        return;
    pthread_mutex_lock(&metrics_lock);
    series_for(family_for(name, help, METRIC_COUNTER), labels)->value += amount;
    pthread_mutex_unlock(&metrics_lock);
}

void metrics_gauge_set(const char *name, const char *help, const char *labels, double value)
{
    if (!recording)
        return;
    pthread_mutex_lock(&metrics_lock);
    series_for(family_for(name, help, METRIC_GAUGE), labels)->value = value;
    pthread_mutex_unlock(&metrics_lock);
}

void metrics_histogram_observe(const char *name, const char *help, const char *labels,
                               double seconds)
{
    struct metric_series *series;

    if (!recording)
        return;
    pthread_mutex_lock(&metrics_lock);
    series = series_for(family_for(name, help, METRIC_HISTOGRAM), labels);
    series->value += seconds;
    series->count++;
    for (size_t i = 0; i < BUCKET_COUNT; i++) {
        if (seconds <= histogram_buckets[i]) {
            series->buckets[i]++;
            break;
        }
    }
    pthread_mutex_unlock(&metrics_lock);
}

void metrics_gauge_register(const char *name, const char *help, metrics_gauge_fn fn, void *data)
{
    struct metric_family *family;

    pthread_mutex_lock(&metrics_lock);
    family = family_for(name, help, METRIC_GAUGE_FN);
    family->fn = fn;
    family->fn_data = data;
    pthread_mutex_unlock(&metrics_lock);
}

static void append_number(struct strbuf *out, double value)
{
    if (isinf(value))
        strbuf_append_str(out, value > 0 ? "+Inf" : "-Inf");
    else if (value == floor(value) && fabs(value) < 1e15)
        strbuf_appendf(out, "%.0f", value);
    else
        strbuf_appendf(out, "%.9g", value);
}

/* Appends name{labels[,extra]} value. */
static void append_sample(struct strbuf *out, const char *name, const char *suffix,
                          const char *labels, const char *extra, double value)
{
    strbuf_appendf(out, "%s%s", name, suffix);
    if (labels[0] || extra[0])
        strbuf_appendf(out, "{%s%s%s}", labels, labels[0] && extra[0] ? "," : "", extra);
    strbuf_append_char(out, ' ');
    append_number(out, value);
    strbuf_append_char(out, '\n');
}

static void render_histogram(struct strbuf *out, const struct metric_family *family,
                             const struct metric_series *series)
{
    uint64_t cumulative = 0;
    char extra[48];

    for (size_t i = 0; i < BUCKET_COUNT; i++) {
        cumulative += series->buckets[i];
        snprintf(extra, sizeof(extra), "le=\"%g\"", histogram_buckets[i]);
        append_sample(out, family->name, "_bucket", series->labels, extra, (double)cumulative);
    }
    append_sample(out, family->name, "_bucket", series->labels, "le=\"+Inf\"",
                  (double)series->count);
    append_sample(out, family->name, "_sum", series->labels, "", series->value);
    append_sample(out, family->name, "_count", series->labels, "", (double)series->count);
}

void metrics_render(struct strbuf *out)
{
    static const char *const type_names[] = {"counter", "gauge", "histogram", "gauge"};

    pthread_mutex_lock(&metrics_lock);
    for (size_t i = 0; i < family_count; i++) {
        const struct metric_family *family = &families[i];

        strbuf_appendf(out, "# HELP %s %s\n# TYPE %s %s\n", family->name, family->help,
                       family->name, type_names[family->type]);
        if (family->type == METRIC_GAUGE_FN) {
            append_sample(out, family->name, "", "", "", family->fn(family->fn_data));
            continue;
        }
        for (size_t j = 0; j < family->series_count; j++) {
            const struct metric_series *series = &family->series[j];

            if (family->type == METRIC_HISTOGRAM)
                render_histogram(out, family, series);
            else
                append_sample(out, family->name, "", series->labels, "", series->value);
        }
    }
    pthread_mutex_unlock(&metrics_lock);
}

void metrics_escape_label_value(struct strbuf *out, const char *value)
{
    for (const char *p = value; *p; p++) {
        if (*p == '\\' || *p == '"')
            strbuf_append_char(out, '\\');
        if (*p == '\n') {
            strbuf_append_str(out, "\\n");
            continue;
        }
        strbuf_append_char(out, *p);
    }
}

void metrics_reset(void)
{
    pthread_mutex_lock(&metrics_lock);
    for (size_t i = 0; i < family_count; i++) {
        for (size_t j = 0; j < families[i].series_count; j++)
            free(families[i].series[j].labels);
        free(families[i].series);
        free(families[i].name);
        free(families[i].help);
    }
    free(families);
    families = NULL;
    family_count = 0;
    recording = false;
    pthread_mutex_unlock(&metrics_lock);
}
