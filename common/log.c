#include "common/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/strbuf.h"

enum log_level log_max_level = LOG_LEVEL_INFO;
static enum log_format log_output_format = LOG_FORMAT_TEXT;

static const char *const level_names[] = {"error", "warn", "info", "debug"};

void log_configure(enum log_level level, enum log_format format)
{
    log_max_level = level;
    log_output_format = format;
}

int log_level_parse(const char *name, enum log_level *level)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (strcmp(name, level_names[i]) == 0) {
            *level = (enum log_level)i;
            return 0;
        }
    }
    if (strcmp(name, "warning") == 0) {
        *level = LOG_LEVEL_WARN;
        return 0;
    }
    return -1;
}

int log_format_parse(const char *name, enum log_format *format)
{
    if (strcmp(name, "text") == 0)
        *format = LOG_FORMAT_TEXT;
    else if (strcmp(name, "json") == 0)
        *format = LOG_FORMAT_JSON;
    else
        return -1;
    return 0;
}

const char *log_level_name(enum log_level level)
{
    return level_names[level];
}

static void append_timestamp(struct strbuf *line)
{
    struct timespec now;
    struct tm utc;
    char text[32];

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &utc);
    strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%S", &utc);
    strbuf_appendf(line, "%s.%06ldZ", text, now.tv_nsec / 1000);
}

/* Appends s as the body of a JSON string (without the quotes). */
static void append_json_escaped(struct strbuf *line, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '"':
            strbuf_append_str(line, "\\\"");
            break;
        case '\\':
            strbuf_append_str(line, "\\\\");
            break;
        case '\n':
            strbuf_append_str(line, "\\n");
            break;
        case '\r':
            strbuf_append_str(line, "\\r");
            break;
        case '\t':
            strbuf_append_str(line, "\\t");
            break;
        default:
            if (*p < 0x20)
                strbuf_appendf(line, "\\u%04x", *p);
            else
                strbuf_append_char(line, (char)*p);
        }
    }
}

static void format_text(struct strbuf *line, enum log_level level, const char *id_key,
                        const char *id, const char *message)
{
    append_timestamp(line);
    strbuf_appendf(line, " %-5s ", level_names[level]);
    if (id_key && id)
        strbuf_appendf(line, "%s=%s ", id_key, id);
    for (const char *p = message; *p; p++)
        strbuf_append_char(line, *p == '\n' ? ' ' : *p);
}

static void format_json(struct strbuf *line, enum log_level level, const char *id_key,
                        const char *id, const char *message)
{
    strbuf_append_str(line, "{\"time\":\"");
    append_timestamp(line);
    strbuf_appendf(line, "\",\"level\":\"%s\"", level_names[level]);
    if (id_key && id) {
        strbuf_append_str(line, ",\"");
        append_json_escaped(line, id_key);
        strbuf_append_str(line, "\":\"");
        append_json_escaped(line, id);
        strbuf_append_char(line, '"');
    }
    strbuf_append_str(line, ",\"msg\":\"");
    append_json_escaped(line, message);
    strbuf_append_str(line, "\"}");
}

void log_write(enum log_level level, const char *id_key, const char *id, const char *fmt, ...)
{
    struct strbuf message = STRBUF_INIT;
    struct strbuf line = STRBUF_INIT;
    va_list args;

    va_start(args, fmt);
    strbuf_appendv(&message, fmt, args);
    va_end(args);

    if (log_output_format == LOG_FORMAT_JSON)
        format_json(&line, level, id_key, id, message.data);
    else
        format_text(&line, level, id_key, id, message.data);
    strbuf_append_char(&line, '\n');

    /* One write per line keeps lines from several threads whole. */
    fwrite(line.data, 1, line.length, stderr);
    fflush(stderr);
    strbuf_free(&message);
    strbuf_free(&line);
}
