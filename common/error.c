#include "common/error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

int error_setv(struct error *err, enum error_code code, const char *fmt, va_list args)
{
    if (err == NULL)
        return -1;
    free(err->message);
    err->code = code;
    err->message = xvasprintf(fmt, args);
    return -1;
}

int error_set(struct error *err, enum error_code code, const char *fmt, ...)
{
    va_list args;

    va_start(args, fmt);
    error_setv(err, code, fmt, args);
    va_end(args);
    return -1;
}

int error_set_errno(struct error *err, enum error_code code, int errnum, const char *fmt, ...)
{
    va_list args;
    char *context;

    if (err == NULL)
        return -1;
    va_start(args, fmt);
    context = xvasprintf(fmt, args);
    va_end(args);
    error_set(err, code, "%s: %s", context, strerror(errnum < 0 ? -errnum : errnum));
    free(context);
    return -1;
}

int error_prefix(struct error *err, const char *fmt, ...)
{
    va_list args;
    char *prefix;
    char *message;

    if (err == NULL)
        return -1;
    va_start(args, fmt);
    prefix = xvasprintf(fmt, args);
    va_end(args);
    message = xasprintf("%s: %s", prefix, err->message ? err->message : "unknown error");
    free(prefix);
    free(err->message);
    err->message = message;
    if (err->code == ERROR_OK)
        err->code = ERROR_UNKNOWN;
    return -1;
}

void error_move(struct error *to, struct error *from)
{
    free(to->message);
    *to = *from;
    from->code = ERROR_OK;
    from->message = NULL;
}

void error_clear(struct error *err)
{
    if (err == NULL)
        return;
    free(err->message);
    err->message = NULL;
    err->code = ERROR_OK;
}

const char *error_code_name(enum error_code code)
{
    static const char *const names[] = {
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    };

    if ((unsigned)code >= sizeof(names) / sizeof(names[0]))
        return "UNKNOWN";
    return names[code];
}
