#ifndef HOSTCRI_DAEMON_CONFIG_H
#define HOSTCRI_DAEMON_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "common/error.h"
#include "common/log.h"
#include "images/hosts.h"

/*
 * The daemon's configuration: built-in defaults, then the YAML file, then command-line flags,
 * each overriding the one before. Every option has one row in config.c's table, which also
 * produces --help and the effective configuration as JSON.
 */
struct hostcri_config {
    char *config_file;
    char *listen;    /* endpoint URL */
    char *root_dir;  /* persistent state: images, layers, databases */
    char *state_dir; /* volatile state: monitor pid and exit files */
    enum log_level log_level;
    enum log_format log_format;
    char *log_file;                 /* NULL: stderr, or the service's default log file */
    uint64_t max_recv_message_size; /* bytes */
    uint64_t max_send_message_size; /* bytes */
    uint64_t max_concurrent_streams;
    uint64_t shutdown_grace_ms;
    char *cgroup_driver; /* "cgroupfs" or "systemd" */

    /* images: see struct images_config for each field's meaning */
    char *certs_dir;
    char *platform; /* NULL: this host's */
    uint64_t max_parallel_downloads;
    uint64_t connect_timeout_ms;
    uint64_t stall_timeout_ms;
    uint64_t request_timeout_ms;
    uint64_t retries;
    uint64_t retry_backoff_ms;
    char **pinned_images; /* NULL-terminated, or NULL */
    struct images_registry_config *registries;
    size_t registry_count;

    /* runtime: see struct runtime_config */
    char *rootfs_mount_point;
    bool accept_non_host_network_pods;
    char **runtime_handlers; /* NULL-terminated, or NULL */
    char *default_cgroup_parent;
    char *cgroup_root;
    char *monitor_path;
    uint64_t sandbox_stop_grace_ms;
    uint64_t kill_timeout_ms;
    uint64_t leftover_grace_ms;
    char *default_path;
    uint64_t cpu_sample_interval_ms;

    /* streaming server for Exec, Attach and PortForward */
    char *streaming_address;
    uint64_t streaming_port;
    char *streaming_tls_cert;
    char *streaming_tls_key;
    uint64_t streaming_token_ttl_ms;

    /* Prometheus metrics endpoint, "IP:PORT"; NULL (default) serves none. */
    char *metrics_address;
};

/* Fills config with the built-in defaults. Free with config_free. */
void config_init_defaults(struct hostcri_config *config);
void config_free(struct hostcri_config *config);

/*
 * Applies the YAML file at path. Unknown keys and invalid values are errors naming the key
 * and the value. Returns 0, or -1 with err set.
 */
int config_load_file(struct hostcri_config *config, const char *path, struct error *err);

/*
 * Parses argv: first finds --config and loads that file, then applies every flag. Sets
 * *exit_now (with *exit_code) for --help and --version, which print and need no daemon.
 * Returns 0, or -1 with err set for an unknown flag or invalid value.
 */
int config_parse_args(struct hostcri_config *config, int argc, char **argv, bool *exit_now,
                      int *exit_code, struct error *err);

/* Prints the usage text with every option, its unit and default. */
void config_print_help(FILE *out, const char *program);

/* Prints every option at its default as commented YAML that config_load_file accepts. */
void config_print_default(FILE *out);

/* Returns the effective configuration as a JSON object; the caller frees it. */
char *config_to_json(const struct hostcri_config *config);

#endif
