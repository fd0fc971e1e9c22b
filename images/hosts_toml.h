#ifndef HOSTCRI_IMAGES_HOSTS_TOML_H
#define HOSTCRI_IMAGES_HOSTS_TOML_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

/*
 * containerd's per-host registry file, <certs_dir>/<host[:port]>/hosts.toml, in the subset
 * that a pull needs:
 *
 *   server = "https://registry.example:5000"       # the registry itself
 *   ca = "/path/ca.crt"                             # for server; also skip_verify, client
 *   [host."https://mirror.example"]                 # tried in file order before server
 *     capabilities = ["pull", "resolve"]           # hosts without "pull" are skipped
 *     ca = "/path/ca.crt"                           # a string or an array (first entry used)
 *     client = [["/path/client.cert", "/path/client.key"]]   # or "/path/client.pem"
 *     skip_verify = true
 *
 * Other keys and sub-tables ([host."...".header]) are ignored. Values are TOML basic strings,
 * booleans and arrays of them.
 */

struct hosts_toml_host {
    char *url;
    char *ca_file;
    char *client_cert;
    char *client_key;
    bool skip_verify;
    bool can_pull;
};

struct hosts_toml {
    struct hosts_toml_host server; /* url NULL when the file has no server */
    struct hosts_toml_host *hosts;
    size_t host_count;
};

/*
 * Parses the file at path into *out (cleared first; free with hosts_toml_clear). A missing
 * file gives an empty result and 0. Returns -1 with ERROR_INVALID_ARGUMENT naming the file
 * and line for a syntax error, ERROR_INTERNAL when the file cannot be read.
 */
int hosts_toml_load(const char *path, struct hosts_toml *out, struct error *err);

/* Parses text (the contents of a hosts.toml; path is for messages) into *out. */
int hosts_toml_parse(const char *text, const char *path, struct hosts_toml *out, struct error *err);

/* Frees everything in toml and zeroes it. */
void hosts_toml_clear(struct hosts_toml *toml);

#endif
