#include "runtime/monitor_format.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

/* ---- Spec ------------------------------------------------------------------------------------ */

void monitor_format_put(struct strbuf *out, const char *key, const char *value)
{
    if (value == NULL)
        return;
    strbuf_append(out, key, strlen(key) + 1);
    strbuf_append(out, value, strlen(value) + 1);
}

void monitor_format_put_number(struct strbuf *out, const char *key, int64_t value)
{
    char text[24];

    snprintf(text, sizeof(text), "%" PRId64, value);
    monitor_format_put(out, key, text);
}

void monitor_format_put_list(struct strbuf *out, const char *key, char *const *values)
{
    for (size_t i = 0; values != NULL && values[i] != NULL; i++)
        monitor_format_put(out, key, values[i]);
}

int monitor_format_next_pair(const char *data, size_t length, size_t *offset, const char **key,
                             const char **value)
{
    size_t key_length;
    size_t value_length;

    if (*offset >= length)
        return 0;
    *key = data + *offset;
    *value = NULL;
    key_length = strnlen(*key, length - *offset);
    if (*offset + key_length + 1 >= length)
        return -1;
    *value = *key + key_length + 1;
    value_length = strnlen(*value, length - *offset - key_length - 1);
    if (*offset + key_length + 1 + value_length >= length)
        return -1;
    *offset += key_length + 1 + value_length + 1;
    return 1;
}

void monitor_format_store_string(char **field, const char *value)
{
    free(*field);
    *field = xstrdup(value);
}

void monitor_format_append_string(char ***list, const char *value)
{
    size_t n = strv_length(*list);

    *list = xrealloc(*list, (n + 2) * sizeof(char *));
    (*list)[n] = xstrdup(value);
    (*list)[n + 1] = NULL;
}

/* ---- Exit file ------------------------------------------------------------------------------- */

static const char *const reason_names[] = {
    [JOB_EXIT_COMPLETED] = "completed",     [JOB_EXIT_OOM_KILLED] = "oom_killed",
    [JOB_EXIT_UNKNOWN] = "unknown",         [JOB_EXIT_START_ERROR] = "start_error",
    [JOB_EXIT_NOT_STARTED] = "not_started",
};

void monitor_format_exit_encode(const struct job_exit_status *status, struct strbuf *out)
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
        monitor_format_store_string(&status->message, value);
    else if (strcmp(key, "reason") == 0) {
        for (size_t i = 0; i < ARRAY_SIZE(reason_names); i++) {
            if (strcmp(value, reason_names[i]) == 0)
                status->reason = (enum job_exit_reason)i;
        }
    }
}

void monitor_format_exit_decode(const char *text, struct job_exit_status *status)
{
    memset(status, 0, sizeof(*status));
    while (*text != '\0') {
        size_t length = strcspn(text, "\n");
        _cleanup_free_ char *line = xstrndup(text, length);
        char *equals = strchr(line, '=');

        /* A '\r' ends a line only before the '\n', because older Linux monitors wrote a '\r'
         * inside a message as it was. */
        if (length > 0 && line[length - 1] == '\r')
            line[length - 1] = '\0';
        if (equals != NULL) {
            *equals = '\0';
            exit_set(status, line, equals + 1);
        }
        text += length;
        text += strspn(text, "\n");
    }
}

void monitor_format_exit_missing(struct job_exit_status *status, const char *container_id,
                                 const char *cause)
{
    memset(status, 0, sizeof(*status));
    status->reason = JOB_EXIT_UNKNOWN;
    status->exit_code = 255;
    status->finished_at_ns = time_now_ns();
    status->message = xasprintf("the monitor of container %s ended without an exit status (%s)",
                                container_id, cause);
}
