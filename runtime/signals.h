#ifndef HOSTCRI_RUNTIME_SIGNALS_H
#define HOSTCRI_RUNTIME_SIGNALS_H

#include "api/api.pb-c.h"

/*
 * Signal names and numbers. The job interface uses POSIX numbering as Linux defines it
 * (SIGTERM 15, SIGKILL 9, SIGUSR1 10, SIGRTMIN 34), on every OS, so these tables do not use
 * the host's <signal.h>.
 */

#define SIGNAL_NUMBER_KILL 9
#define SIGNAL_NUMBER_TERM 15

/* Returns the number of a CRI Signal value, or 0 for SIGNAL_RUNTIME_DEFAULT and unknown values. */
int signal_from_cri(Runtime__V1__Signal signal);

/*
 * Parses an image STOPSIGNAL: a name with or without "SIG" in any case ("SIGTERM", "term"),
 * "RTMIN+n" / "RTMAX-n", or a number in 1..64. Returns the number, or 0 when text is invalid.
 */
int signal_parse(const char *text);

/* Returns the name of a signal number ("SIGTERM"), or NULL when unknown. */
const char *signal_name(int number);

#endif
