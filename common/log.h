#ifndef HOSTCRI_COMMON_LOG_H
#define HOSTCRI_COMMON_LOG_H

enum log_level {
    LOG_LEVEL_ERROR = 0,
    LOG_LEVEL_WARN = 1,
    LOG_LEVEL_INFO = 2,
    LOG_LEVEL_DEBUG = 3,
};

enum log_format {
    LOG_FORMAT_TEXT,
    LOG_FORMAT_JSON,
};

/* The most detailed level that is written; the macros below skip everything above it. */
extern enum log_level log_max_level;

/* Sets the level and the output format. Logging goes to stderr, one line per event. */
void log_configure(enum log_level level, enum log_format format);

/* Parses "error", "warn", "info" or "debug". Returns 0, or -1 for an unknown name. */
int log_level_parse(const char *name, enum log_level *level);
int log_format_parse(const char *name, enum log_format *format);
const char *log_level_name(enum log_level level);

/*
 * Writes one line. id_key and id name the object the event is about ("container", "sandbox",
 * "image", ...) and are both NULL when there is none. Safe from any thread. Use the macros.
 */
void log_write(enum log_level level, const char *id_key, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define LOG_AT(level, key, id, ...)                                                                \
    do {                                                                                           \
        if ((level) <= log_max_level)                                                              \
            log_write((level), (key), (id), __VA_ARGS__);                                          \
    } while (0)

#define log_error(...) LOG_AT(LOG_LEVEL_ERROR, NULL, NULL, __VA_ARGS__)
#define log_warn(...) LOG_AT(LOG_LEVEL_WARN, NULL, NULL, __VA_ARGS__)
#define log_info(...) LOG_AT(LOG_LEVEL_INFO, NULL, NULL, __VA_ARGS__)
#define log_debug(...) LOG_AT(LOG_LEVEL_DEBUG, NULL, NULL, __VA_ARGS__)

/* The same with the id of the object the event is about: log_info_id("container", id, ...). */
#define log_error_id(key, id, ...) LOG_AT(LOG_LEVEL_ERROR, key, id, __VA_ARGS__)
#define log_warn_id(key, id, ...) LOG_AT(LOG_LEVEL_WARN, key, id, __VA_ARGS__)
#define log_info_id(key, id, ...) LOG_AT(LOG_LEVEL_INFO, key, id, __VA_ARGS__)
#define log_debug_id(key, id, ...) LOG_AT(LOG_LEVEL_DEBUG, key, id, __VA_ARGS__)

#endif
