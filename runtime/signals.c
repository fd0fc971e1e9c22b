#include "runtime/signals.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SIGNAL_RTMIN 34
#define SIGNAL_RTMAX 64

static const struct {
    const char *name;
    int number;
} signal_table[] = {
    {"HUP", 1},   {"INT", 2},   {"QUIT", 3},  {"ILL", 4},     {"TRAP", 5},    {"ABRT", 6},
    {"IOT", 6},   {"BUS", 7},   {"FPE", 8},   {"KILL", 9},    {"USR1", 10},   {"SEGV", 11},
    {"USR2", 12}, {"PIPE", 13}, {"ALRM", 14}, {"TERM", 15},   {"STKFLT", 16}, {"CHLD", 17},
    {"CLD", 17},  {"CONT", 18}, {"STOP", 19}, {"TSTP", 20},   {"TTIN", 21},   {"TTOU", 22},
    {"URG", 23},  {"XCPU", 24}, {"XFSZ", 25}, {"VTALRM", 26}, {"PROF", 27},   {"WINCH", 28},
    {"IO", 29},   {"POLL", 29}, {"PWR", 30},  {"SYS", 31},
};

int signal_from_cri(Runtime__V1__Signal signal)
{
    /* The CRI enum lists the classic signals by name, then RTMIN, RTMIN+1..15, RTMAX-14..RTMAX. */
    static const char *const names[] = {
        NULL,   "ABRT", "ALRM",   "BUS",  "CHLD",   "CLD",   "CONT", "FPE",  "HUP",
        "ILL",  "INT",  "IO",     "IOT",  "KILL",   "PIPE",  "POLL", "PROF", "PWR",
        "QUIT", "SEGV", "STKFLT", "STOP", "SYS",    "TERM",  "TRAP", "TSTP", "TTIN",
        "TTOU", "URG",  "USR1",   "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ",
    };
    int value = (int)signal;

    if (value > 0 && value < (int)(sizeof(names) / sizeof(names[0])))
        return signal_parse(names[value]);
    if (value >= RUNTIME__V1__SIGNAL__SIGNAL_SIGRTMIN &&
        value <= RUNTIME__V1__SIGNAL__SIGNAL_SIGRTMAX)
        return SIGNAL_RTMIN + (value - RUNTIME__V1__SIGNAL__SIGNAL_SIGRTMIN);
    return 0;
}

static int parse_number(const char *text, int low, int high)
{
    char *end = NULL;
    long value;

    if (text[0] < '0' || text[0] > '9')
        return 0;
    value = strtol(text, &end, 10);
    if (*end != '\0' || value < low || value > high)
        return 0;
    return (int)value;
}

static int parse_realtime(const char *name)
{
    int offset;

    if (strcasecmp(name, "RTMIN") == 0)
        return SIGNAL_RTMIN;
    if (strcasecmp(name, "RTMAX") == 0)
        return SIGNAL_RTMAX;
    if (strncasecmp(name, "RTMIN+", 6) == 0) {
        offset = parse_number(name + 6, 1, SIGNAL_RTMAX - SIGNAL_RTMIN);
        return offset ? SIGNAL_RTMIN + offset : 0;
    }
    if (strncasecmp(name, "RTMAX-", 6) == 0) {
        offset = parse_number(name + 6, 1, SIGNAL_RTMAX - SIGNAL_RTMIN);
        return offset ? SIGNAL_RTMAX - offset : 0;
    }
    return 0;
}

int signal_parse(const char *text)
{
    const char *name = text;

    if (text == NULL || text[0] == '\0')
        return 0;
    if (text[0] >= '0' && text[0] <= '9')
        return parse_number(text, 1, SIGNAL_RTMAX);
    if (strncasecmp(name, "SIG", 3) == 0)
        name += 3;
    for (size_t i = 0; i < sizeof(signal_table) / sizeof(signal_table[0]); i++) {
        if (strcasecmp(name, signal_table[i].name) == 0)
            return signal_table[i].number;
    }
    return parse_realtime(name);
}

const char *signal_name(int number)
{
    static const char *const names[] = {
        NULL,        "SIGHUP",  "SIGINT",    "SIGQUIT", "SIGILL",   "SIGTRAP", "SIGABRT", "SIGBUS",
        "SIGFPE",    "SIGKILL", "SIGUSR1",   "SIGSEGV", "SIGUSR2",  "SIGPIPE", "SIGALRM", "SIGTERM",
        "SIGSTKFLT", "SIGCHLD", "SIGCONT",   "SIGSTOP", "SIGTSTP",  "SIGTTIN", "SIGTTOU", "SIGURG",
        "SIGXCPU",   "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO",   "SIGPWR",  "SIGSYS",
    };

    if (number > 0 && number < (int)(sizeof(names) / sizeof(names[0])))
        return names[number];
    return NULL;
}
