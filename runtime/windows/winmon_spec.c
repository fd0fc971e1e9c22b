/* The daemon-monitor formats of the Windows backend; portable C (unit-tested on Linux). */
#include "runtime/windows/winmon_spec.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "runtime/monitor_format.h"

/* ---- Spec ------------------------------------------------------------------------------------ */

void winmon_spec_encode(const struct winmon_spec *spec, struct strbuf *out)
{
    monitor_format_put(out, "id", spec->id);
    monitor_format_put(out, "job", spec->job_name);
    monitor_format_put(out, "pod_job", spec->pod_job_name);
    monitor_format_put_list(out, "arg", spec->argv);
    /* An empty environment differs from none: a marker keeps it. */
    if (spec->env != NULL)
        monitor_format_put(out, "env_set", "1");
    monitor_format_put_list(out, "env", spec->env);
    monitor_format_put(out, "cwd", spec->cwd);
    monitor_format_put(out, "user", spec->username);
    monitor_format_put(out, "log_path", spec->log_path);
    monitor_format_put(out, "exit_file", spec->exit_file);
    monitor_format_put_number(out, "grace_ms", spec->grace_ms);
    monitor_format_put_number(out, "tty", spec->tty);
    monitor_format_put_number(out, "stdin", spec->stdin_open);
    monitor_format_put_number(out, "stdin_once", spec->stdin_once);
}

/* Stores one key and value. Unknown keys are skipped, so an older monitor reads a newer spec. */
static void spec_set(struct winmon_spec *spec, const char *key, const char *value)
{
    long number = strtol(value, NULL, 10);

    if (strcmp(key, "id") == 0)
        monitor_format_store_string(&spec->id, value);
    else if (strcmp(key, "job") == 0)
        monitor_format_store_string(&spec->job_name, value);
    else if (strcmp(key, "pod_job") == 0)
        monitor_format_store_string(&spec->pod_job_name, value);
    else if (strcmp(key, "arg") == 0)
        monitor_format_append_string(&spec->argv, value);
    else if (strcmp(key, "env_set") == 0 && spec->env == NULL)
        spec->env = xcalloc(1, sizeof(char *));
    else if (strcmp(key, "env") == 0)
        monitor_format_append_string(&spec->env, value);
    else if (strcmp(key, "cwd") == 0)
        monitor_format_store_string(&spec->cwd, value);
    else if (strcmp(key, "user") == 0)
        monitor_format_store_string(&spec->username, value);
    else if (strcmp(key, "log_path") == 0)
        monitor_format_store_string(&spec->log_path, value);
    else if (strcmp(key, "exit_file") == 0)
        monitor_format_store_string(&spec->exit_file, value);
    else if (strcmp(key, "grace_ms") == 0)
        spec->grace_ms = (int)number;
    else if (strcmp(key, "tty") == 0)
        spec->tty = number != 0;
    else if (strcmp(key, "stdin") == 0)
        spec->stdin_open = number != 0;
    else if (strcmp(key, "stdin_once") == 0)
        spec->stdin_once = number != 0;
}

int winmon_spec_decode(const char *data, size_t length, struct winmon_spec *spec, struct error *err)
{
    size_t offset = 0;
    const char *key;
    const char *value;
    int found;

    memset(spec, 0, sizeof(*spec));
    while ((found = monitor_format_next_pair(data, length, &offset, &key, &value)) > 0)
        spec_set(spec, key, value);
    if (found < 0)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid monitor spec: the pair at byte %zu (key \"%.*s\") is truncated",
                         offset, (int)(length - offset), key);
    if (spec->id == NULL || spec->job_name == NULL || spec->argv == NULL)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid monitor spec: id, job or arg missing");
    return 0;
}

void winmon_spec_clear(struct winmon_spec *spec)
{
    free(spec->id);
    free(spec->job_name);
    free(spec->pod_job_name);
    strv_free(spec->argv);
    strv_free(spec->env);
    free(spec->cwd);
    free(spec->username);
    free(spec->log_path);
    free(spec->exit_file);
    memset(spec, 0, sizeof(*spec));
}

/* ---- Exit file ------------------------------------------------------------------------------- */

/* ---- Report and replies ---------------------------------------------------------------------- */

/* Sets err from "ERR <code> <message>"; returns -1. */
static int parse_error_line(const char *line, const char *what, struct error *err)
{
    char *end = NULL;
    long code;
    size_t length;

    if (strncmp(line, "ERR ", 4) != 0)
        return error_set(err, ERROR_INTERNAL, "invalid %s from the monitor: \"%.80s\"", what, line);
    code = strtol(line + 4, &end, 10);
    if (end == line + 4 || code <= ERROR_OK || code > ERROR_UNAUTHENTICATED)
        code = ERROR_INTERNAL;
    if (*end == ' ')
        end++;
    length = strcspn(end, "\r\n");
    return error_set(err, (enum error_code)code, "%.*s", (int)length, end);
}

int winmon_report_parse(const char *line, uint32_t *pid, struct error *err)
{
    char *end = NULL;
    unsigned long value;

    *pid = 0;
    if (strncmp(line, "OK ", 3) != 0)
        return parse_error_line(line, "start report", err);
    value = strtoul(line + 3, &end, 10);
    if (end == line + 3 || value == 0 || value > UINT32_MAX ||
        (*end != '\0' && *end != '\n' && *end != '\r'))
        return error_set(err, ERROR_INTERNAL, "invalid start report from the monitor: \"%.80s\"",
                         line);
    *pid = (uint32_t)value;
    return 0;
}

int winmon_reply_parse(const char *line, struct error *err)
{
    if (strncmp(line, "OK", 2) == 0 && strchr(" \r\n", line[2]) != NULL)
        return 0;
    return parse_error_line(line, "reply", err);
}

char *winmon_error_line(const struct error *err)
{
    struct strbuf out = STRBUF_INIT;
    const char *message = err->message ? err->message : "unknown error";

    strbuf_appendf(&out, "ERR %d ", err->code != ERROR_OK ? (int)err->code : ERROR_INTERNAL);
    for (const char *c = message; *c != '\0'; c++)
        strbuf_append_char(&out, *c == '\n' || *c == '\r' ? ' ' : *c);
    strbuf_append_char(&out, '\n');
    return strbuf_steal(&out);
}
