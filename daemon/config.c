#include "daemon/config.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <yaml.h>

#include "common/strbuf.h"
#include "common/util.h"

enum option_type {
    OPTION_STRING,
    OPTION_PATH,     /* an absolute path */
    OPTION_ENDPOINT, /* unix:///path or npipe:////./pipe/name */
    OPTION_BYTES,    /* integer with an optional KiB/MiB/GiB suffix */
    OPTION_DURATION, /* integer with a ms/s/m/h suffix, stored in milliseconds */
    OPTION_UINT,
    OPTION_LOG_LEVEL,
    OPTION_LOG_FORMAT,
    OPTION_CHOICE, /* a string from the '|'-separated choices */
};

struct option_def {
    const char *key;  /* YAML key; a dot separates a section from its key */
    const char *flag; /* command-line flag without the leading dashes */
    enum option_type type;
    size_t offset;
    const char *default_value;
    const char *choices;
    const char *help;
};

#define FIELD(name) offsetof(struct hostcri_config, name)

static const struct option_def options[] = {
    {"listen", "listen", OPTION_ENDPOINT, FIELD(listen), "unix:///run/hostcri/hostcri.sock", NULL,
     "endpoint the CRI server listens on (unix:///path or npipe:////./pipe/name)"},
    {"root", "root", OPTION_PATH, FIELD(root_dir), "/var/lib/hostcri", NULL,
     "directory for persistent state: images, layers, container data"},
    {"state", "state", OPTION_PATH, FIELD(state_dir), "/run/hostcri", NULL,
     "directory for volatile state: monitor and exit files"},
    {"log_level", "log-level", OPTION_LOG_LEVEL, FIELD(log_level), "info", NULL,
     "log level: error, warn, info or debug"},
    {"log_format", "log-format", OPTION_LOG_FORMAT, FIELD(log_format), "text", NULL,
     "log format on stderr: text or json"},
    {"cgroup_driver", "cgroup-driver", OPTION_CHOICE, FIELD(cgroup_driver), "cgroupfs",
     "cgroupfs|systemd", "cgroup driver reported to the kubelet: cgroupfs or systemd"},
    {"grpc.max_recv_message_size", "max-recv-message-size", OPTION_BYTES,
     FIELD(max_recv_message_size), "16MiB", NULL,
     "largest request message accepted, in bytes (suffixes KiB, MiB, GiB)"},
    {"grpc.max_send_message_size", "max-send-message-size", OPTION_BYTES,
     FIELD(max_send_message_size), "16MiB", NULL,
     "largest response message sent, in bytes (suffixes KiB, MiB, GiB)"},
    {"grpc.max_concurrent_streams", "max-concurrent-streams", OPTION_UINT,
     FIELD(max_concurrent_streams), "1000", NULL, "concurrent calls allowed per connection"},
    {"grpc.shutdown_grace_period", "shutdown-grace-period", OPTION_DURATION,
     FIELD(shutdown_grace_ms), "10s", NULL,
     "time calls in flight get to finish after SIGTERM or SIGINT (suffixes ms, s, m, h)"},
};

static void *field_of(struct hostcri_config *config, const struct option_def *def)
{
    return (char *)config + def->offset;
}

static int parse_uint(const char *value, uint64_t *out, char **end)
{
    unsigned long long parsed;

    if (value[0] < '0' || value[0] > '9')
        return -1;
    errno = 0;
    parsed = strtoull(value, end, 10);
    if (errno != 0)
        return -1;
    *out = parsed;
    return 0;
}

static int parse_with_suffix(const char *value, const char *const *suffixes,
                             const uint64_t *multipliers, size_t count, uint64_t *out)
{
    char *end;
    uint64_t amount;

    if (parse_uint(value, &amount, &end) < 0)
        return -1;
    for (size_t i = 0; i < count; i++) {
        if (strcmp(end, suffixes[i]) != 0)
            continue;
        if (multipliers[i] != 0 && amount > UINT64_MAX / multipliers[i])
            return -1;
        *out = amount * multipliers[i];
        return 0;
    }
    return -1;
}

static int parse_bytes(const char *value, uint64_t *out)
{
    static const char *const suffixes[] = {"", "B", "KiB", "MiB", "GiB", "K", "M", "G"};
    static const uint64_t multipliers[] = {1,       1,       1 << 10, 1 << 20,
                                           1 << 30, 1 << 10, 1 << 20, 1 << 30};

    return parse_with_suffix(value, suffixes, multipliers, ARRAY_SIZE(suffixes), out);
}

static int parse_duration_ms(const char *value, uint64_t *out)
{
    static const char *const suffixes[] = {"ms", "s", "m", "h"};
    static const uint64_t multipliers[] = {1, 1000, 60 * 1000, 3600 * 1000};

    return parse_with_suffix(value, suffixes, multipliers, ARRAY_SIZE(suffixes), out);
}

static int choice_is_valid(const char *choices, const char *value)
{
    size_t length = strlen(value);

    for (const char *p = choices; *p;) {
        const char *bar = strchr(p, '|');
        size_t choice_length = bar ? (size_t)(bar - p) : strlen(p);

        if (choice_length == length && strncmp(p, value, length) == 0)
            return 1;
        p += choice_length + (bar ? 1 : 0);
    }
    return 0;
}

/* What a valid value looks like, for the error message. */
static const char *expected_form(const struct option_def *def)
{
    switch (def->type) {
    case OPTION_PATH:
        return "an absolute path";
    case OPTION_ENDPOINT:
        return "unix:///path/to/socket or npipe:////./pipe/name";
    case OPTION_BYTES:
        return "a number of bytes with an optional KiB, MiB or GiB suffix";
    case OPTION_DURATION:
        return "a number with a ms, s, m or h suffix";
    case OPTION_UINT:
        return "a non-negative integer";
    case OPTION_LOG_LEVEL:
        return "error, warn, info or debug";
    case OPTION_LOG_FORMAT:
        return "text or json";
    case OPTION_CHOICE:
        return def->choices;
    case OPTION_STRING:
        break;
    }
    return "a string";
}

static int parse_value(struct hostcri_config *config, const struct option_def *def,
                       const char *value)
{
    void *field = field_of(config, def);

    switch (def->type) {
    case OPTION_PATH:
        if (value[0] != '/')
            return -1;
        break;
    case OPTION_ENDPOINT:
        if (!str_has_prefix(value, "unix:///") && !str_has_prefix(value, "npipe://") &&
            value[0] != '/')
            return -1;
        break;
    case OPTION_BYTES:
        return parse_bytes(value, field);
    case OPTION_DURATION:
        return parse_duration_ms(value, field);
    case OPTION_UINT: {
        char *end;

        if (parse_uint(value, field, &end) < 0 || *end != '\0')
            return -1;
        return 0;
    }
    case OPTION_LOG_LEVEL:
        return log_level_parse(value, field);
    case OPTION_LOG_FORMAT:
        return log_format_parse(value, field);
    case OPTION_CHOICE:
        if (!choice_is_valid(def->choices, value))
            return -1;
        break;
    case OPTION_STRING:
        break;
    }
    free(*(char **)field);
    *(char **)field = xstrdup(value);
    return 0;
}

/* Applies one value; source names where it came from ("flag --x", "config file F"). */
static int apply_option(struct hostcri_config *config, const struct option_def *def,
                        const char *value, const char *source, struct error *err)
{
    if (parse_value(config, def, value) < 0)
        return error_set(err, ERROR_INVALID_ARGUMENT, "%s: invalid value \"%s\" for %s: use %s",
                         source, value, def->key, expected_form(def));
    return 0;
}

static const struct option_def *find_by_key(const char *key)
{
    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        if (strcmp(options[i].key, key) == 0)
            return &options[i];
    }
    return NULL;
}

static const struct option_def *find_by_flag(const char *flag, size_t length)
{
    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        if (strlen(options[i].flag) == length && strncmp(options[i].flag, flag, length) == 0)
            return &options[i];
    }
    return NULL;
}

void config_init_defaults(struct hostcri_config *config)
{
    memset(config, 0, sizeof(*config));
    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        if (parse_value(config, &options[i], options[i].default_value) < 0)
            abort(); /* a default that does not parse is a bug in the table */
    }
}

void config_free(struct hostcri_config *config)
{
    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        enum option_type type = options[i].type;

        if (type == OPTION_STRING || type == OPTION_PATH || type == OPTION_ENDPOINT ||
            type == OPTION_CHOICE) {
            char **field = field_of(config, &options[i]);

            free(*field);
            *field = NULL;
        }
    }
    free(config->config_file);
    config->config_file = NULL;
}

/* Walks a YAML mapping, applying each scalar under prefix ("" or "section."). */
static int load_mapping(struct hostcri_config *config, yaml_document_t *document,
                        yaml_node_t *mapping, const char *prefix, const char *path,
                        struct error *err)
{
    for (yaml_node_pair_t *pair = mapping->data.mapping.pairs.start;
         pair < mapping->data.mapping.pairs.top; pair++) {
        yaml_node_t *key_node = yaml_document_get_node(document, pair->key);
        yaml_node_t *value_node = yaml_document_get_node(document, pair->value);
        _cleanup_free_ char *key = NULL;
        _cleanup_free_ char *source = NULL;
        const struct option_def *def;

        if (key_node == NULL || key_node->type != YAML_SCALAR_NODE)
            return error_set(err, ERROR_INVALID_ARGUMENT,
                             "config file %s: keys must be plain strings", path);
        key = xasprintf("%s%s", prefix, (const char *)key_node->data.scalar.value);
        if (value_node->type == YAML_MAPPING_NODE && prefix[0] == '\0') {
            _cleanup_free_ char *section = xasprintf("%s.", key);

            if (load_mapping(config, document, value_node, section, path, err) < 0)
                return -1;
            continue;
        }
        def = find_by_key(key);
        if (def == NULL)
            return error_set(err, ERROR_INVALID_ARGUMENT,
                             "config file %s: unknown key \"%s\" (line %lu): see hostcri --help "
                             "for the valid keys",
                             path, key, (unsigned long)key_node->start_mark.line + 1);
        if (value_node->type != YAML_SCALAR_NODE)
            return error_set(err, ERROR_INVALID_ARGUMENT,
                             "config file %s: key \"%s\" (line %lu) takes a single value, not a "
                             "list or a mapping",
                             path, key, (unsigned long)key_node->start_mark.line + 1);
        source = xasprintf("config file %s", path);
        if (apply_option(config, def, (const char *)value_node->data.scalar.value, source, err) < 0)
            return -1;
    }
    return 0;
}

int config_load_file(struct hostcri_config *config, const char *path, struct error *err)
{
    FILE *file = fopen(path, "rb");
    yaml_parser_t parser;
    yaml_document_t document;
    yaml_node_t *root;
    int rc = 0;

    if (file == NULL)
        return error_set_errno(err, ERROR_INVALID_ARGUMENT, errno, "open config file %s", path);
    yaml_parser_initialize(&parser);
    yaml_parser_set_input_file(&parser, file);
    if (!yaml_parser_load(&parser, &document)) {
        rc = error_set(err, ERROR_INVALID_ARGUMENT, "config file %s: invalid YAML at line %lu: %s",
                       path, (unsigned long)parser.problem_mark.line + 1,
                       parser.problem ? parser.problem : "parse error");
        yaml_parser_delete(&parser);
        fclose(file);
        return rc;
    }
    root = yaml_document_get_root_node(&document);
    if (root != NULL && root->type == YAML_MAPPING_NODE)
        rc = load_mapping(config, &document, root, "", path, err);
    else if (root != NULL && !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0))
        rc = error_set(err, ERROR_INVALID_ARGUMENT,
                       "config file %s: the top level must be a mapping of keys to values", path);
    yaml_document_delete(&document);
    yaml_parser_delete(&parser);
    fclose(file);
    return rc;
}

/* Splits "--name=value" or "--name value"; returns the value or NULL when it is missing. */
static const char *flag_value(int argc, char **argv, int *index, const char *arg,
                              size_t *name_length)
{
    const char *equals = strchr(arg, '=');

    if (equals) {
        *name_length = (size_t)(equals - arg);
        return equals + 1;
    }
    *name_length = strlen(arg);
    if (*index + 1 < argc)
        return argv[++*index];
    return NULL;
}

static int find_config_flag(struct hostcri_config *config, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (str_has_prefix(argv[i], "--config=")) {
            config->config_file = xstrdup(argv[i] + strlen("--config="));
        } else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc) {
            config->config_file = xstrdup(argv[i + 1]);
        }
    }
    return 0;
}

int config_parse_args(struct hostcri_config *config, int argc, char **argv, bool *exit_now,
                      int *exit_code, struct error *err)
{
    *exit_now = false;
    find_config_flag(config, argc, argv);
    if (config->config_file && config_load_file(config, config->config_file, err) < 0)
        return -1;

    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        const struct option_def *def;
        const char *value;
        size_t name_length;
        _cleanup_free_ char *source = NULL;

        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            config_print_help(stdout, argv[0]);
            *exit_now = true;
            *exit_code = 0;
            return 0;
        }
        if (strcmp(arg, "--version") == 0) {
            printf("hostcri %s (CRI %s)\n", HOSTCRI_VERSION, "v1");
            *exit_now = true;
            *exit_code = 0;
            return 0;
        }
        if (!str_has_prefix(arg, "--"))
            return error_set(err, ERROR_INVALID_ARGUMENT,
                             "unexpected argument \"%s\": see hostcri --help", arg);
        arg += 2;
        value = flag_value(argc, argv, &i, arg, &name_length);
        if (name_length == strlen("config") && strncmp(arg, "config", name_length) == 0)
            continue; /* loaded above */
        def = find_by_flag(arg, name_length);
        if (def == NULL)
            return error_set(err, ERROR_INVALID_ARGUMENT, "unknown flag --%.*s: see hostcri --help",
                             (int)name_length, arg);
        if (value == NULL)
            return error_set(err, ERROR_INVALID_ARGUMENT, "flag --%s needs a value", def->flag);
        source = xasprintf("flag --%s", def->flag);
        if (apply_option(config, def, value, source, err) < 0)
            return -1;
    }
    return 0;
}

void config_print_help(FILE *out, const char *program)
{
    fprintf(out,
            "Usage: %s [--config FILE] [OPTIONS]\n\n"
            "hostcri serves the Kubernetes CRI v1 (RuntimeService and ImageService) and runs\n"
            "every pod as host processes held in a job (a cgroup on Linux).\n\n"
            "Options (flags override the config file; the YAML key is in brackets):\n"
            "  --config FILE  YAML configuration file (default: none)\n",
            program);
    for (size_t i = 0; i < ARRAY_SIZE(options); i++)
        fprintf(out, "  --%s VALUE  [%s]\n      %s (default: %s)\n", options[i].flag,
                options[i].key, options[i].help, options[i].default_value);
    fprintf(out, "  --help     print this text\n  --version  print the version\n");
}

static json_t *value_to_json(const struct hostcri_config *config, const struct option_def *def)
{
    const void *field = (const char *)config + def->offset;

    switch (def->type) {
    case OPTION_BYTES:
    case OPTION_UINT:
        return json_integer((json_int_t) * (const uint64_t *)field);
    case OPTION_DURATION:
        return json_integer((json_int_t) * (const uint64_t *)field);
    case OPTION_LOG_LEVEL:
        return json_string(log_level_name(*(const enum log_level *)field));
    case OPTION_LOG_FORMAT:
        return json_string(*(const enum log_format *)field == LOG_FORMAT_JSON ? "json" : "text");
    default:
        return json_string(*(char *const *)field ? *(char *const *)field : "");
    }
}

char *config_to_json(const struct hostcri_config *config)
{
    json_t *root = json_object();
    char *text;

    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        const struct option_def *def = &options[i];
        _cleanup_free_ char *key = xstrdup(def->key);

        /* Durations are reported in milliseconds under a key that says so. */
        if (def->type == OPTION_DURATION) {
            free(key);
            key = xasprintf("%s_ms", def->key);
        }
        json_object_set_new(root, key, value_to_json(config, def));
    }
    if (config->config_file)
        json_object_set_new(root, "config_file", json_string(config->config_file));
    text = json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(root);
    return text;
}
