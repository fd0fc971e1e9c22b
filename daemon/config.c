#include "daemon/config.h"

#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <uv.h>
#include <yaml.h>

#include "common/net_address.h"
#include "common/strbuf.h"
#include "common/util.h"

enum option_type {
    OPTION_STRING,
    OPTION_PATH,     /* an absolute path */
    OPTION_ENDPOINT, /* unix:///path or npipe:////./pipe/name */
    OPTION_BYTES,    /* integer with an optional KiB/MiB/GiB suffix */
    OPTION_DURATION, /* integer with a ms/s/m/h suffix, stored in milliseconds */
    OPTION_INTERVAL, /* an OPTION_DURATION above 0 */
    OPTION_UINT,
    OPTION_LOG_LEVEL,
    OPTION_LOG_FORMAT,
    OPTION_CHOICE,  /* a string from the '|'-separated choices */
    OPTION_BOOL,    /* true or false */
    OPTION_PORT,    /* a TCP port, 0 to 65535 (0 picks a free one) */
    OPTION_ADDRESS, /* IP:PORT, or [IPv6]:PORT */
    OPTION_LIST,    /* a YAML sequence of strings, or a comma-separated flag value */
};

struct option_def {
    const char *key;  /* YAML key; a dot separates a section from its key */
    const char *flag; /* command-line flag without the leading dashes */
    enum option_type type;
    size_t offset;
    const char *default_value; /* NULL: unset */
    const char *choices;
    const char *help;
};

#define FIELD(name) offsetof(struct hostcri_config, name)

/* The defaults that differ between Windows and Linux (runtime/runtime.c has the same). */
#ifdef _WIN32
#define DEFAULT_LISTEN "npipe:////./pipe/hostcri"
#define DEFAULT_ROOT "C:\\ProgramData\\hostcri"
#define DEFAULT_STATE DEFAULT_ROOT "\\run"
#define DEFAULT_CERTS_DIR DEFAULT_ROOT "\\certs.d"
#define CGROUP_HELP_SUFFIX " (Linux only)"
#define LOG_FILE_HELP                                                                              \
    "file the log is appended to instead of stderr (default: stderr in a console, "                \
    "<state>\\hostcri.log as a Windows service)"
#define DEFAULT_ROOTFS_MOUNT_POINT "C:\\hpc"
#define DEFAULT_PATH_HELP                                                                          \
    "not used on Windows, where a container whose image and request set no PATH gets the Path "    \
    "of its user's environment"
#define DEFAULT_PATH                                                                               \
    "C:\\Windows\\System32;C:\\Windows;C:\\Windows\\System32\\Wbem;"                               \
    "C:\\Windows\\System32\\WindowsPowerShell\\v1.0"
#else
#define DEFAULT_LISTEN "unix:///run/hostcri/hostcri.sock"
#define DEFAULT_ROOT "/var/lib/hostcri"
#define DEFAULT_STATE "/run/hostcri"
#define DEFAULT_CERTS_DIR "/etc/hostcri/certs.d"
#define CGROUP_HELP_SUFFIX ""
#define LOG_FILE_HELP "file the log is appended to instead of stderr (default: stderr)"
#define DEFAULT_ROOTFS_MOUNT_POINT "/hpc"
#define DEFAULT_PATH_HELP "PATH of a container whose image and request set none"
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
#endif

static const struct option_def options[] = {
    {"listen", "listen", OPTION_ENDPOINT, FIELD(listen), DEFAULT_LISTEN, NULL,
     "endpoint the CRI server listens on (unix:///path, a bare /path, or "
     "npipe:////./pipe/name)"},
    {"root", "root", OPTION_PATH, FIELD(root_dir), DEFAULT_ROOT, NULL,
     "directory for persistent state: images, layers, container data"},
    {"state", "state", OPTION_PATH, FIELD(state_dir), DEFAULT_STATE, NULL,
     "directory for volatile state: monitor and exit files"},
    {"log_level", "log-level", OPTION_LOG_LEVEL, FIELD(log_level), "info", NULL,
     "log level: error, warn, info or debug"},
    {"log_format", "log-format", OPTION_LOG_FORMAT, FIELD(log_format), "text", NULL,
     "log format: text or json"},
    {"log_file", "log-file", OPTION_PATH, FIELD(log_file), NULL, NULL, LOG_FILE_HELP},
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
     "time calls in flight get to finish after SIGTERM, SIGINT or a Windows service stop "
     "(suffixes ms, s, m, h)"},

    {"images.certs_dir", "certs-dir", OPTION_PATH, FIELD(certs_dir), DEFAULT_CERTS_DIR, NULL,
     "per-registry TLS files: <dir>/<host:port>/ca.crt, client.cert, client.key"},
    {"images.platform", "platform", OPTION_STRING, FIELD(platform), NULL, NULL,
     "platform pulled from multi-platform images, os/arch[/variant] (default: this host)"},
    {"images.max_parallel_downloads", "max-parallel-downloads", OPTION_UINT,
     FIELD(max_parallel_downloads), "3", NULL,
     "layers of one image downloaded at the same time (0 means 1)"},
    {"images.connect_timeout", "registry-connect-timeout", OPTION_DURATION,
     FIELD(connect_timeout_ms), "30s", NULL, "limit for a registry connection and TLS handshake"},
    {"images.stall_timeout", "registry-stall-timeout", OPTION_DURATION, FIELD(stall_timeout_ms),
     "60s", NULL, "a download that receives nothing for this long fails"},
    {"images.request_timeout", "registry-request-timeout", OPTION_DURATION,
     FIELD(request_timeout_ms), "120s", NULL, "limit for one manifest or token request"},
    {"images.retries", "registry-retries", OPTION_UINT, FIELD(retries), "3", NULL,
     "retries of a registry request after a connection failure or a 5xx status"},
    {"images.retry_backoff", "registry-retry-backoff", OPTION_DURATION, FIELD(retry_backoff_ms),
     "500ms", NULL, "delay before the first retry, doubled for each next one"},
    {"images.pinned", "pinned-images", OPTION_LIST, FIELD(pinned_images), NULL, NULL,
     "image references reported as pinned, such as the sandbox image (comma-separated flag)"},

    {"runtime.rootfs_mount_point", "rootfs-mount-point", OPTION_PATH, FIELD(rootfs_mount_point),
     DEFAULT_ROOTFS_MOUNT_POINT, NULL,
     "where a container sees its image's files (CONTAINER_SANDBOX_MOUNT_POINT)"},
    {"runtime.accept_non_host_network_pods", "accept-non-host-network-pods", OPTION_BOOL,
     FIELD(accept_non_host_network_pods), "false", NULL,
     "run pods without hostNetwork on the host network instead of rejecting them"},
    {"runtime.runtime_handlers", "runtime-handlers", OPTION_LIST, FIELD(runtime_handlers), NULL,
     NULL, "runtime handler names accepted besides the default \"\" (comma-separated flag)"},
    {"runtime.default_cgroup_parent", "default-cgroup-parent", OPTION_STRING,
     FIELD(default_cgroup_parent), NULL, NULL,
     "parent of pod cgroups when the kubelet sends none (default: /hostcri or "
     "hostcri.slice)" CGROUP_HELP_SUFFIX},
    {"runtime.cgroup_root", "cgroup-root", OPTION_PATH, FIELD(cgroup_root), NULL, NULL,
     "where the cgroup hierarchies are mounted (default: /sys/fs/cgroup)" CGROUP_HELP_SUFFIX},
    {"runtime.monitor_path", "monitor-path", OPTION_PATH, FIELD(monitor_path), NULL, NULL,
     "the hostcri-monitor program (default: next to the hostcri binary)"},
    {"runtime.sandbox_stop_grace_period", "sandbox-stop-grace-period", OPTION_DURATION,
     FIELD(sandbox_stop_grace_ms), "0s", NULL,
     "time containers get between the stop signal and SIGKILL when their pod is stopped"},
    {"runtime.kill_timeout", "kill-timeout", OPTION_DURATION, FIELD(kill_timeout_ms), "10s", NULL,
     "how long a stop waits for the job to empty after SIGKILL before it fails"},
    {"runtime.leftover_grace_period", "leftover-grace-period", OPTION_DURATION,
     FIELD(leftover_grace_ms), "5s", NULL,
     "time between SIGTERM and SIGKILL for processes left in a job after its init exits"},
    {"runtime.default_path", "default-path", OPTION_STRING, FIELD(default_path), DEFAULT_PATH, NULL,
     DEFAULT_PATH_HELP},
    {"runtime.cpu_sample_interval", "cpu-sample-interval", OPTION_INTERVAL,
     FIELD(cpu_sample_interval_ms), "10s", NULL,
     "time between two CPU samples of each container and pod, the span of usage_nano_cores"},

    {"streaming.address", "streaming-address", OPTION_STRING, FIELD(streaming_address), "127.0.0.1",
     NULL, "IP address of the Exec, Attach and PortForward streaming server"},
    {"streaming.port", "streaming-port", OPTION_PORT, FIELD(streaming_port), "0", NULL,
     "TCP port of the streaming server; 0 picks a free one"},
    {"streaming.tls_cert_file", "streaming-tls-cert", OPTION_PATH, FIELD(streaming_tls_cert), NULL,
     NULL, "PEM certificate chain of the streaming server (default: plain HTTP)"},
    {"streaming.tls_key_file", "streaming-tls-key", OPTION_PATH, FIELD(streaming_tls_key), NULL,
     NULL, "PEM private key for streaming.tls_cert_file"},
    {"streaming.token_ttl", "streaming-token-ttl", OPTION_DURATION, FIELD(streaming_token_ttl_ms),
     "1m", NULL, "how long a streaming URL stays valid"},

    {"metrics.address", "metrics-address", OPTION_ADDRESS, FIELD(metrics_address), NULL, NULL,
     "IP:PORT for Prometheus metrics at /metrics, such as 127.0.0.1:9464 (default: off)"},
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

/* The expected form of a value, for the error message. */
static const char *expected_form(const struct option_def *def)
{
    switch (def->type) {
    case OPTION_PATH:
        return "an absolute path";
    case OPTION_ENDPOINT:
        return "unix:///path/to/socket or npipe:////./pipe/name";
    case OPTION_BYTES:
        return "a number of bytes of at least 1KiB, with an optional KiB, MiB or GiB suffix";
    case OPTION_DURATION:
        return "a number with a ms, s, m or h suffix";
    case OPTION_INTERVAL:
        return "a number above 0 with a ms, s, m or h suffix";
    case OPTION_UINT:
        return "a non-negative integer";
    case OPTION_LOG_LEVEL:
        return "error, warn, info or debug";
    case OPTION_LOG_FORMAT:
        return "text or json";
    case OPTION_CHOICE:
        return def->choices;
    case OPTION_BOOL:
        return "true or false";
    case OPTION_PORT:
        return "a port number from 0 to 65535";
    case OPTION_ADDRESS:
        return "IP:PORT, such as 127.0.0.1:9464 or [::1]:9464";
    case OPTION_LIST:
        return "a list of strings";
    case OPTION_STRING:
        break;
    }
    return "a string";
}

/* True for "/x", and on Windows also for "C:/x" and "C:\\x". */
static bool path_is_absolute(const char *path)
{
#ifdef _WIN32
    if (((path[0] >= 'A' && path[0] <= 'Z') || (path[0] >= 'a' && path[0] <= 'z')) &&
        path[1] == ':' && (path[2] == '/' || path[2] == '\\'))
        return true;
#endif
    return path[0] == '/';
}

/* Splits a comma-separated flag value into a NULL-terminated list; "" gives NULL. */
static char **split_list(const char *value)
{
    char **list = NULL;
    size_t count = 0;
    const char *start = value;

    if (value[0] == '\0')
        return NULL;
    for (;;) {
        const char *comma = strchr(start, ',');
        size_t length = comma ? (size_t)(comma - start) : strlen(start);

        list = xrealloc(list, (count + 2) * sizeof(*list));
        list[count++] = xstrndup(start, length);
        list[count] = NULL;
        if (comma == NULL)
            return list;
        start = comma + 1;
    }
}

static int parse_value(struct hostcri_config *config, const struct option_def *def,
                       const char *value)
{
    void *field = field_of(config, def);

    switch (def->type) {
    case OPTION_PATH:
        /* "" unsets an optional path (one whose default is unset). */
        if (!path_is_absolute(value) && !(value[0] == '\0' && def->default_value == NULL))
            return -1;
        break;
    case OPTION_ENDPOINT:
        if (!str_has_prefix(value, "unix:///") && !str_has_prefix(value, "npipe://") &&
            value[0] != '/')
            return -1;
        break;
    case OPTION_BYTES:
        /* A limit under 1 KiB would reject even an empty request's headers and prefix. */
        if (parse_bytes(value, field) < 0 || *(uint64_t *)field < 1024)
            return -1;
        return 0;
    case OPTION_PORT: {
        char *end;

        if (parse_uint(value, field, &end) < 0 || *end != '\0' || *(uint64_t *)field > 65535)
            return -1;
        return 0;
    }
    case OPTION_ADDRESS:
        if (net_address_parse(value, NULL) < 0)
            return -1;
        break;
    case OPTION_DURATION:
        return parse_duration_ms(value, field);
    case OPTION_INTERVAL:
        return parse_duration_ms(value, field) < 0 || *(uint64_t *)field == 0 ? -1 : 0;
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
    case OPTION_BOOL:
        if (strcmp(value, "true") == 0)
            *(bool *)field = true;
        else if (strcmp(value, "false") == 0)
            *(bool *)field = false;
        else
            return -1;
        return 0;
    case OPTION_LIST:
        strv_free(*(char ***)field);
        *(char ***)field = split_list(value);
        return 0;
    case OPTION_STRING:
        break;
    }
    free(*(char **)field);
    *(char **)field = value[0] ? xstrdup(value) : NULL;
    return 0;
}

/* Returns the '|'-separated choices as words: "a|b|c" becomes "a, b or c". */
static char *choices_in_words(const char *choices)
{
    struct strbuf words = STRBUF_INIT;
    const char *last = strrchr(choices, '|');

    for (const char *c = choices; *c != '\0'; c++) {
        if (*c != '|')
            strbuf_append_char(&words, *c);
        else
            strbuf_append_str(&words, c == last ? " or " : ", ");
    }
    return strbuf_steal(&words);
}

/* Applies one value; source names where it came from ("flag --x", "config file F"). */
static int apply_option(struct hostcri_config *config, const struct option_def *def,
                        const char *value, const char *source, struct error *err)
{
    _cleanup_free_ char *form = NULL;

    if (parse_value(config, def, value) == 0)
        return 0;
    form =
        def->type == OPTION_CHOICE ? choices_in_words(def->choices) : xstrdup(expected_form(def));
    return error_set(err, ERROR_INVALID_ARGUMENT, "%s: invalid value \"%s\" for %s: use %s", source,
                     value, def->key, form);
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
        if (options[i].default_value == NULL)
            continue;
        if (parse_value(config, &options[i], options[i].default_value) < 0)
            abort(); /* a default that does not parse is a bug in the table */
    }
}

static void free_registry(struct images_registry_config *registry)
{
    free(registry->host);
    strv_free(registry->mirrors);
    free(registry->username);
    free(registry->password);
    free(registry->identity_token);
}

static void free_registries(struct hostcri_config *config)
{
    for (size_t i = 0; i < config->registry_count; i++)
        free_registry(&config->registries[i]);
    free(config->registries);
    config->registries = NULL;
    config->registry_count = 0;
}

void config_free(struct hostcri_config *config)
{
    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        enum option_type type = options[i].type;

        if (type == OPTION_STRING || type == OPTION_PATH || type == OPTION_ENDPOINT ||
            type == OPTION_CHOICE || type == OPTION_ADDRESS) {
            char **field = field_of(config, &options[i]);

            free(*field);
            *field = NULL;
        } else if (type == OPTION_LIST) {
            char ***field = field_of(config, &options[i]);

            strv_free(*field);
            *field = NULL;
        }
    }
    free(config->config_file);
    config->config_file = NULL;
    free_registries(config);
}

/* Context for the YAML walk: the file (for messages) and its document. */
struct yaml_source {
    const char *path;
    yaml_document_t *document;
};

/* Fails with: config file F: key "K" (line N): problem. */
static int yaml_error(const struct yaml_source *source, const yaml_node_t *node, struct error *err,
                      const char *problem, const char *key)
{
    return error_set(err, ERROR_INVALID_ARGUMENT, "config file %s: key \"%s\" (line %lu): %s",
                     source->path, key, (unsigned long)node->start_mark.line + 1, problem);
}

static const char *scalar_of(const yaml_node_t *node)
{
    return node->type == YAML_SCALAR_NODE ? (const char *)node->data.scalar.value : NULL;
}

/* Reads a YAML sequence of scalars into a NULL-terminated list. */
static int load_string_list(const struct yaml_source *source, yaml_node_t *sequence,
                            const char *key, char ***out, struct error *err)
{
    size_t count = 0;
    char **list = xcalloc(1, sizeof(*list));

    for (yaml_node_item_t *item = sequence->data.sequence.items.start;
         item < sequence->data.sequence.items.top; item++) {
        yaml_node_t *node = yaml_document_get_node(source->document, *item);

        if (scalar_of(node) == NULL) {
            strv_free(list);
            return yaml_error(source, node, err, "list items must be strings", key);
        }
        list = xrealloc(list, (count + 2) * sizeof(*list));
        list[count++] = xstrdup(scalar_of(node));
        list[count] = NULL;
    }
    strv_free(*out);
    *out = list;
    return 0;
}

/* Applies one registry's settings: insecure, mirrors and credentials. */
static int load_registry(const struct yaml_source *source, const char *host, yaml_node_t *mapping,
                         struct images_registry_config *registry, struct error *err)
{
    registry->host = xstrdup(host);
    for (yaml_node_pair_t *pair = mapping->data.mapping.pairs.start;
         pair < mapping->data.mapping.pairs.top; pair++) {
        yaml_node_t *key_node = yaml_document_get_node(source->document, pair->key);
        yaml_node_t *value_node = yaml_document_get_node(source->document, pair->value);
        const char *key = scalar_of(key_node);
        const char *value = scalar_of(value_node);
        _cleanup_free_ char *full_key = xasprintf("registries.%s.%s", host, key ? key : "?");
        char **field = NULL;

        if (key && strcmp(key, "mirrors") != 0 && strcmp(key, "insecure") != 0 &&
            strcmp(key, "username") != 0 && strcmp(key, "password") != 0 &&
            strcmp(key, "identity_token") != 0)
            return yaml_error(source, key_node, err,
                              "unknown key: use mirrors, insecure, username, password or "
                              "identity_token",
                              full_key);
        if (key && strcmp(key, "mirrors") == 0 && value_node->type == YAML_SEQUENCE_NODE) {
            if (load_string_list(source, value_node, full_key, &registry->mirrors, err) < 0)
                return -1;
            continue;
        }
        if (key == NULL || value == NULL)
            return yaml_error(source, key_node, err, "expected a single value", full_key);
        if (strcmp(key, "insecure") == 0) {
            if (strcmp(value, "true") != 0 && strcmp(value, "false") != 0) {
                _cleanup_free_ char *problem =
                    xasprintf("invalid value \"%s\": use true or false", value);

                return yaml_error(source, value_node, err, problem, full_key);
            }
            registry->insecure = strcmp(value, "true") == 0;
            continue;
        }
        if (strcmp(key, "username") == 0)
            field = &registry->username;
        else if (strcmp(key, "password") == 0)
            field = &registry->password;
        else if (strcmp(key, "identity_token") == 0)
            field = &registry->identity_token;
        else
            return yaml_error(source, key_node, err,
                              "unknown key: use mirrors, insecure, username, password or "
                              "identity_token",
                              full_key);
        free(*field);
        *field = xstrdup(value);
    }
    return 0;
}

/*
 * Rejects a registry key with a scheme or a path. Keys are matched against the host[:port] of
 * image references, so such a key never matches and its settings would be ignored silently.
 */
static int check_registry_host(const struct yaml_source *source, yaml_node_t *key_node,
                               const char *host, struct error *err)
{
    const char *scheme_end = strstr(host, "://");
    _cleanup_free_ char *problem = NULL;

    if (scheme_end != NULL)
        problem = xasprintf("invalid registry \"%s\": write host[:port] without the scheme, "
                            "as in \"%s\", and set insecure: true for plain HTTP",
                            host, scheme_end + 3);
    else if (strpbrk(host, "/ \t@?#") != NULL)
        problem = xasprintf("invalid registry \"%s\": write host[:port] only, as in image "
                            "names (no path, user or spaces)",
                            host);
    else
        return 0;
    return yaml_error(source, key_node, err, problem, "registries");
}

/* Reads "registries:", a mapping of registry host to its settings. */
static int load_registries(struct hostcri_config *config, const struct yaml_source *source,
                           yaml_node_t *mapping, struct error *err)
{
    if (mapping->type != YAML_MAPPING_NODE)
        return yaml_error(source, mapping, err, "expected a mapping of registry hosts to settings",
                          "registries");
    for (yaml_node_pair_t *pair = mapping->data.mapping.pairs.start;
         pair < mapping->data.mapping.pairs.top; pair++) {
        yaml_node_t *key_node = yaml_document_get_node(source->document, pair->key);
        yaml_node_t *value_node = yaml_document_get_node(source->document, pair->value);
        const char *host = scalar_of(key_node);
        struct images_registry_config *registry;

        if (host == NULL || host[0] == '\0' || value_node->type != YAML_MAPPING_NODE)
            return yaml_error(source, key_node, err,
                              "expected host[:port] with a mapping of settings", "registries");
        if (check_registry_host(source, key_node, host, err) < 0)
            return -1;
        config->registries = xrealloc(config->registries,
                                      (config->registry_count + 1) * sizeof(*config->registries));
        registry = &config->registries[config->registry_count++];
        memset(registry, 0, sizeof(*registry));
        if (load_registry(source, host, value_node, registry, err) < 0)
            return -1;
    }
    return 0;
}

static int load_value(struct hostcri_config *config, const struct yaml_source *source,
                      const char *key, yaml_node_t *key_node, yaml_node_t *value_node,
                      struct error *err)
{
    const struct option_def *def = find_by_key(key);
    _cleanup_free_ char *where = NULL;

    if (def == NULL)
        return yaml_error(source, key_node, err,
                          "unknown key: see hostcri --help for the valid keys", key);
    if (def->type == OPTION_LIST && value_node->type == YAML_SEQUENCE_NODE)
        return load_string_list(source, value_node, key, field_of(config, def), err);
    if (value_node->type != YAML_SCALAR_NODE)
        return yaml_error(source, key_node, err, "expected a single value, not a list or a mapping",
                          key);
    where = xasprintf("config file %s (line %lu)", source->path,
                      (unsigned long)value_node->start_mark.line + 1);
    return apply_option(config, def, scalar_of(value_node), where, err);
}

/* Walks a YAML mapping, applying each value under prefix ("" or "section."). */
static int load_mapping(struct hostcri_config *config, const struct yaml_source *source,
                        yaml_node_t *mapping, const char *prefix, struct error *err)
{
    for (yaml_node_pair_t *pair = mapping->data.mapping.pairs.start;
         pair < mapping->data.mapping.pairs.top; pair++) {
        yaml_node_t *key_node = yaml_document_get_node(source->document, pair->key);
        yaml_node_t *value_node = yaml_document_get_node(source->document, pair->value);
        _cleanup_free_ char *key = NULL;

        if (scalar_of(key_node) == NULL)
            return error_set(err, ERROR_INVALID_ARGUMENT,
                             "config file %s: keys must be plain strings", source->path);
        key = xasprintf("%s%s", prefix, scalar_of(key_node));
        if (prefix[0] == '\0' && strcmp(key, "registries") == 0) {
            if (load_registries(config, source, value_node, err) < 0)
                return -1;
        } else if (prefix[0] == '\0' && value_node->type == YAML_MAPPING_NODE) {
            _cleanup_free_ char *section = xasprintf("%s.", key);

            if (load_mapping(config, source, value_node, section, err) < 0)
                return -1;
        } else if (load_value(config, source, key, key_node, value_node, err) < 0) {
            return -1;
        }
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
    if (root != NULL && root->type == YAML_MAPPING_NODE) {
        struct yaml_source source = {.path = path, .document = &document};

        rc = load_mapping(config, &source, root, "", err);
    } else if (root != NULL && !(root->type == YAML_SCALAR_NODE && root->data.scalar.length == 0))
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
            "Usage: %s [--config FILE] [OPTIONS]\n"
            "       %s config default       print every option at its default as YAML\n"
            "       %s config check FILE    validate a configuration file\n",
            program, program, program);
#ifdef _WIN32
    fprintf(out,
            "       %s --register-service [--config FILE] [OPTIONS]\n"
            "                               register the Windows service \"hostcri\", which runs\n"
            "                               with these options and starts at boot\n"
            "       %s --unregister-service\n"
            "                               stop and delete the Windows service\n",
            program, program);
#endif
    fprintf(out,
            "\nhostcri serves the Kubernetes CRI v1 (RuntimeService and ImageService) and runs\n"
            "every pod as host processes held in a job (a cgroup on Linux, a job object on\n"
            "Windows).\n\n"
            "Options (flags override the config file; the YAML key is in brackets):\n"
            "  --config FILE  YAML configuration file (default: none)\n");
    for (size_t i = 0; i < ARRAY_SIZE(options); i++)
        if (options[i].default_value != NULL || strstr(options[i].help, "(default:") == NULL)
            fprintf(out, "  --%s VALUE  [%s]\n      %s (default: %s)\n", options[i].flag,
                    options[i].key, options[i].help,
                    options[i].default_value ? options[i].default_value : "none");
        else
            fprintf(out, "  --%s VALUE  [%s]\n      %s\n", options[i].flag, options[i].key,
                    options[i].help);
    fprintf(out, "  --help     print this text\n  --version  print the version\n\n"
                 "Per-registry settings exist in the config file only:\n"
                 "  registries:\n"
                 "    \"registry.example:5000\":\n"
                 "      mirrors: [\"https://mirror.example:5000\"]  # tried in order first\n"
                 "      insecure: false    # true allows plain HTTP and unverified TLS\n"
                 "      username: user     # credentials when a pull request has none\n"
                 "      password: secret\n"
                 "      identity_token: token  # an OAuth2 refresh token, instead of a password\n"
                 "A registry's TLS files go in <images.certs_dir>/<host:port>/ (ca.crt,\n"
                 "client.cert, client.key); a hosts.toml there, as containerd reads it, is\n"
                 "honoured too.\n");
}

/* Writes s as a YAML double-quoted scalar. */
static void print_yaml_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\')
            fputc('\\', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

/* True when some option of the section has a default value, so it is printed uncommented. */
static bool section_has_default(const char *section)
{
    size_t length = strlen(section);

    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        if (strncmp(options[i].key, section, length) == 0 && options[i].key[length] == '.' &&
            options[i].default_value != NULL)
            return true;
    }
    return false;
}

void config_print_default(FILE *out)
{
    char section[32] = "";

    fprintf(out, "# hostcri configuration, with every option at its default.\n"
                 "# Use it with: hostcri --config FILE; check a file with: hostcri config check "
                 "FILE\n");
    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        const struct option_def *def = &options[i];
        const char *dot = strchr(def->key, '.');
        const char *name = dot ? dot + 1 : def->key;
        const char *indent = dot ? "  " : "";
        int section_length = dot ? (int)(dot - def->key) : 0;

        if (section_length != (int)strlen(section) ||
            strncmp(section, def->key, (size_t)section_length) != 0) {
            snprintf(section, sizeof(section), "%.*s", section_length, def->key);
            /* A section with no value set would load as an empty key: comment it out too. */
            if (section_length > 0)
                fprintf(out, "\n%s%s:\n", section_has_default(section) ? "" : "# ", section);
        }
        fprintf(out, "%s%s# %s\n", dot ? "" : "\n", indent, def->help);
        if (def->default_value == NULL) {
            fprintf(out, "%s# %s:\n", indent, name);
        } else if (def->type == OPTION_STRING || def->type == OPTION_PATH ||
                   def->type == OPTION_ENDPOINT) {
            fprintf(out, "%s%s: ", indent, name);
            print_yaml_string(out, def->default_value);
            fputc('\n', out);
        } else {
            fprintf(out, "%s%s: %s\n", indent, name, def->default_value);
        }
    }
    fprintf(out, "\n# Per-registry settings, by host[:port] as written in image references.\n"
                 "registries: {}\n"
                 "#  \"registry.example:5000\":\n"
                 "#    mirrors: [\"https://mirror.example:5000\"]  # tried in order first\n"
                 "#    insecure: false  # true allows plain HTTP and unverified TLS\n"
                 "#    username: user   # credentials when a pull request has none\n"
                 "#    password: secret\n"
                 "#    identity_token: token  # an OAuth2 refresh token, instead of a password\n");
}

static json_t *value_to_json(const struct hostcri_config *config, const struct option_def *def)
{
    const void *field = (const char *)config + def->offset;

    switch (def->type) {
    case OPTION_BYTES:
    case OPTION_UINT:
    case OPTION_PORT:
        return json_integer((json_int_t) * (const uint64_t *)field);
    case OPTION_DURATION:
    case OPTION_INTERVAL:
        return json_integer((json_int_t) * (const uint64_t *)field);
    case OPTION_LOG_LEVEL:
        return json_string(log_level_name(*(const enum log_level *)field));
    case OPTION_LOG_FORMAT:
        return json_string(*(const enum log_format *)field == LOG_FORMAT_JSON ? "json" : "text");
    case OPTION_BOOL:
        return json_boolean(*(const bool *)field);
    case OPTION_LIST: {
        json_t *list = json_array();

        for (char *const *item = *(char **const *)field; item && *item; item++)
            json_array_append_new(list, json_string(*item));
        return list;
    }
    default:
        return json_string(*(char *const *)field ? *(char *const *)field : "");
    }
}

/* Registry settings without their credentials, which never leave the daemon. */
static json_t *registries_to_json(const struct hostcri_config *config)
{
    json_t *registries = json_object();

    for (size_t i = 0; i < config->registry_count; i++) {
        const struct images_registry_config *registry = &config->registries[i];
        json_t *entry = json_object();
        json_t *mirrors = json_array();

        for (char **mirror = registry->mirrors; mirror && *mirror; mirror++)
            json_array_append_new(mirrors, json_string(*mirror));
        json_object_set_new(entry, "mirrors", mirrors);
        json_object_set_new(entry, "insecure", json_boolean(registry->insecure));
        json_object_set_new(entry, "has_credentials",
                            json_boolean(registry->username || registry->identity_token));
        json_object_set_new(registries, registry->host, entry);
    }
    return registries;
}

char *config_to_json(const struct hostcri_config *config)
{
    json_t *root = json_object();
    char *text;

    for (size_t i = 0; i < ARRAY_SIZE(options); i++) {
        const struct option_def *def = &options[i];
        _cleanup_free_ char *key = xstrdup(def->key);

        /* A duration is reported in milliseconds, under its key with an "_ms" suffix. */
        if (def->type == OPTION_DURATION) {
            free(key);
            key = xasprintf("%s_ms", def->key);
        }
        json_object_set_new(root, key, value_to_json(config, def));
    }
    if (config->config_file)
        json_object_set_new(root, "config_file", json_string(config->config_file));
    json_object_set_new(root, "registries", registries_to_json(config));
    text = json_dumps(root, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(root);
    return text;
}
