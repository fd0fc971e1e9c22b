/* The daemon-monitor formats of the Windows backend; portable C (unit-tested on Linux). */
#include "runtime/windows/winmon_spec.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* ---- Spec ------------------------------------------------------------------------------------ */

static void put(struct strbuf *out, const char *key, const char *value)
{
    if (value == NULL)
        return;
    strbuf_append(out, key, strlen(key) + 1);
    strbuf_append(out, value, strlen(value) + 1);
}

static void put_number(struct strbuf *out, const char *key, long long value)
{
    char text[24];

    snprintf(text, sizeof(text), "%lld", value);
    put(out, key, text);
}

static void put_list(struct strbuf *out, const char *key, char *const *values)
{
    for (size_t i = 0; values != NULL && values[i] != NULL; i++)
        put(out, key, values[i]);
}

void winmon_spec_encode(const struct winmon_spec *spec, struct strbuf *out)
{
    put(out, "id", spec->id);
    put(out, "job", spec->job_name);
    put(out, "pod_job", spec->pod_job_name);
    put_list(out, "arg", spec->argv);
    /* An empty environment differs from none: a marker keeps it. */
    if (spec->env != NULL)
        put(out, "env_set", "1");
    put_list(out, "env", spec->env);
    put(out, "cwd", spec->cwd);
    put(out, "user", spec->username);
    put(out, "log_path", spec->log_path);
    put(out, "exit_file", spec->exit_file);
    put_number(out, "grace_ms", spec->grace_ms);
    put_number(out, "tty", spec->tty);
    put_number(out, "stdin", spec->stdin_open);
    put_number(out, "stdin_once", spec->stdin_once);
}

static void list_add(char ***list, const char *value)
{
    size_t n = strv_length(*list);

    *list = xrealloc(*list, (n + 2) * sizeof(char *));
    (*list)[n] = xstrdup(value);
    (*list)[n + 1] = NULL;
}

static void set_string(char **field, const char *value)
{
    free(*field);
    *field = xstrdup(value);
}

/* Stores one key and value. Unknown keys are skipped, so an older monitor reads a newer spec. */
static void spec_set(struct winmon_spec *spec, const char *key, const char *value)
{
    long number = strtol(value, NULL, 10);

    if (strcmp(key, "id") == 0)
        set_string(&spec->id, value);
    else if (strcmp(key, "job") == 0)
        set_string(&spec->job_name, value);
    else if (strcmp(key, "pod_job") == 0)
        set_string(&spec->pod_job_name, value);
    else if (strcmp(key, "arg") == 0)
        list_add(&spec->argv, value);
    else if (strcmp(key, "env_set") == 0 && spec->env == NULL)
        spec->env = xcalloc(1, sizeof(char *));
    else if (strcmp(key, "env") == 0)
        list_add(&spec->env, value);
    else if (strcmp(key, "cwd") == 0)
        set_string(&spec->cwd, value);
    else if (strcmp(key, "user") == 0)
        set_string(&spec->username, value);
    else if (strcmp(key, "log_path") == 0)
        set_string(&spec->log_path, value);
    else if (strcmp(key, "exit_file") == 0)
        set_string(&spec->exit_file, value);
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

    memset(spec, 0, sizeof(*spec));
    while (offset < length) {
        const char *key = data + offset;
        size_t key_length = strnlen(key, length - offset);
        const char *value = key + key_length + 1;
        size_t value_length;

        if (offset + key_length + 1 >= length)
            return error_set(err, ERROR_INVALID_ARGUMENT,
                             "invalid monitor spec: key %.*s has no value", (int)key_length, key);
        value_length = strnlen(value, length - offset - key_length - 1);
        if (offset + key_length + 1 + value_length >= length)
            return error_set(err, ERROR_INVALID_ARGUMENT,
                             "invalid monitor spec: the value of %s has no terminating NUL", key);
        spec_set(spec, key, value);
        offset += key_length + 1 + value_length + 1;
    }
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

static const char *const reason_names[] = {
    [JOB_EXIT_COMPLETED] = "completed",     [JOB_EXIT_OOM_KILLED] = "oom_killed",
    [JOB_EXIT_UNKNOWN] = "unknown",         [JOB_EXIT_START_ERROR] = "start_error",
    [JOB_EXIT_NOT_STARTED] = "not_started",
};

void winmon_exit_encode(const struct job_exit_status *status, struct strbuf *out)
{
    const char *reason = (size_t)status->reason < ARRAY_SIZE(reason_names)
                             ? reason_names[status->reason]
                             : "completed";

    strbuf_appendf(
        out,
        "exit_code=%d\nsignal=%d\nstarted_at=%" PRId64 "\nfinished_at=%" PRId64 "\nreason=%s\n",
        status->exit_code, status->signal, status->started_at_ns, status->finished_at_ns, reason);
    if (status->message == NULL)
        return;
    strbuf_append_str(out, "message=");
    for (const char *c = status->message; *c != '\0'; c++)
        strbuf_append_char(out, *c == '\n' || *c == '\r' ? ' ' : *c);
    strbuf_append_char(out, '\n');
}

static void exit_set(struct job_exit_status *status, const char *key, const char *value)
{
    if (strcmp(key, "exit_code") == 0)
        status->exit_code = atoi(value);
    else if (strcmp(key, "signal") == 0)
        status->signal = atoi(value);
    else if (strcmp(key, "started_at") == 0)
        status->started_at_ns = strtoll(value, NULL, 10);
    else if (strcmp(key, "finished_at") == 0)
        status->finished_at_ns = strtoll(value, NULL, 10);
    else if (strcmp(key, "message") == 0)
        set_string(&status->message, value);
    else if (strcmp(key, "reason") == 0) {
        for (size_t i = 0; i < ARRAY_SIZE(reason_names); i++) {
            if (strcmp(value, reason_names[i]) == 0)
                status->reason = (enum job_exit_reason)i;
        }
    }
}

void winmon_exit_decode(const char *text, struct job_exit_status *status)
{
    memset(status, 0, sizeof(*status));
    while (*text != '\0') {
        size_t length = strcspn(text, "\r\n");
        _cleanup_free_ char *line = xstrndup(text, length);
        char *equals = strchr(line, '=');

        if (equals != NULL) {
            *equals = '\0';
            exit_set(status, line, equals + 1);
        }
        text += length;
        text += strspn(text, "\r\n");
    }
}

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
