#ifndef HOSTCRI_RUNTIME_MONITOR_FORMAT_H
#define HOSTCRI_RUNTIME_MONITOR_FORMAT_H

/*
 * The byte formats that the daemon and a container's monitor exchange through files, the same
 * on Linux and Windows. Portable C that uses only the C library and common/strbuf, common/util,
 * so both monitor programs compile it in.
 *
 * Spec file: a sequence of key and value strings, each terminated by a NUL byte, so any byte
 * except NUL may appear in arguments and environment values. A key may repeat (one "arg" per
 * argument). Each backend defines its own keys, and its readers skip unknown keys, so that an
 * older monitor reads the spec of a newer daemon.
 *
 * Exit file: "key=value" lines (exit_code, signal, started_at, finished_at in nanoseconds since
 * the Unix epoch, reason, and message when there is one).
 */

#include <stddef.h>
#include <stdint.h>

#include "common/strbuf.h"
#include "runtime/job.h"

/* Appends key and value to a spec, each NUL-terminated. Appends nothing when value is NULL. */
void monitor_format_put(struct strbuf *out, const char *key, const char *value);

/* Appends key and value in decimal to a spec. */
void monitor_format_put_number(struct strbuf *out, const char *key, int64_t value);

/* Appends key once for each string of a NULL-terminated array (nothing for NULL). */
void monitor_format_put_list(struct strbuf *out, const char *key, char *const *values);

/*
 * Reads the pair at *offset of a spec of length bytes and moves *offset past it. Returns 1 with
 * *key and *value pointing into data, 0 at the end of data, or -1 when data ends inside the
 * pair: a key without a value, or a value without its terminating NUL.
 */
int monitor_format_next_pair(const char *data, size_t length, size_t *offset, const char **key,
                             const char **value);

/* Replaces the string in *field (freed) with a copy of value. */
void monitor_format_store_string(char **field, const char *value);

/* Appends a copy of value to the NULL-terminated array in *list (NULL is an empty array). */
void monitor_format_append_string(char ***list, const char *value);

/* Appends the exit file text of status to out. Line breaks in the message become spaces. */
void monitor_format_exit_encode(const struct job_exit_status *status, struct strbuf *out);

/*
 * Parses exit file text into *status, which is zeroed first. The caller owns the message. Lines
 * may end in "\r\n". Unknown keys and lines without '=' are skipped, and an unknown reason reads
 * as completed.
 */
void monitor_format_exit_decode(const char *text, struct job_exit_status *status);

/*
 * Fills *status (zeroed first) with what the daemon reports for a container whose monitor left
 * no readable exit file: reason unknown, exit code 255, finished now, and a message with the
 * container id and cause. The caller owns the message.
 */
void monitor_format_exit_missing(struct job_exit_status *status, const char *container_id,
                                 const char *cause);

#endif
