#ifndef HOSTCRI_COMMON_ERROR_H
#define HOSTCRI_COMMON_ERROR_H

#include <stdarg.h>

/*
 * Error codes. The values are the gRPC status codes, because every error that reaches a
 * client becomes one: the code is chosen where the error is made, and cri/ sends it unchanged.
 */
enum error_code {
    ERROR_OK = 0,
    ERROR_CANCELLED = 1,
    ERROR_UNKNOWN = 2,
    ERROR_INVALID_ARGUMENT = 3,
    ERROR_DEADLINE_EXCEEDED = 4,
    ERROR_NOT_FOUND = 5,
    ERROR_ALREADY_EXISTS = 6,
    ERROR_PERMISSION_DENIED = 7,
    ERROR_RESOURCE_EXHAUSTED = 8,
    ERROR_FAILED_PRECONDITION = 9,
    ERROR_ABORTED = 10,
    ERROR_OUT_OF_RANGE = 11,
    ERROR_UNIMPLEMENTED = 12,
    ERROR_INTERNAL = 13,
    ERROR_UNAVAILABLE = 14,
    ERROR_DATA_LOSS = 15,
    ERROR_UNAUTHENTICATED = 16,
};

/*
 * The error out-parameter of every fallible function: a code and a message that names the
 * value involved. Initialize with ERROR_INIT; free with error_clear (or declare with
 * _cleanup_error_). An error holding ERROR_OK has no message.
 */
struct error {
    enum error_code code;
    char *message;
};

#define ERROR_INIT                                                                                 \
    {                                                                                              \
        ERROR_OK, NULL                                                                             \
    }

/*
 * Sets *err to code and the formatted message and returns -1, so that failing with context
 * is one line: `return error_set(err, ERROR_NOT_FOUND, "container %s not found", id);`.
 * err may be NULL when the caller does not want the details. An error already set is replaced.
 */
int error_set(struct error *err, enum error_code code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Like error_set, with ": <strerror(errnum)>" appended to the message; errnum may be negative. */
int error_set_errno(struct error *err, enum error_code code, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

int error_setv(struct error *err, enum error_code code, const char *fmt, va_list args)
    __attribute__((format(printf, 3, 0)));

/*
 * Puts "<formatted prefix>: " in front of the message of a set error, keeping its code, and
 * returns -1. Used when passing an error up with the context of the caller.
 */
int error_prefix(struct error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Moves the error in *from to *to (which must be clear) and leaves *from clear. */
void error_move(struct error *to, struct error *from);

/* Frees the message and resets the error to ERROR_OK. Safe on a clear error and on NULL. */
void error_clear(struct error *err);

/* The canonical gRPC name of code, for example "NOT_FOUND". */
const char *error_code_name(enum error_code code);

#define _cleanup_error_ __attribute__((cleanup(error_clear)))

#endif
