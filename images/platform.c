#include "images/platform.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/strbuf.h"
#include "common/util.h"

void platform_clear(struct platform *p)
{
    free(p->os);
    free(p->architecture);
    free(p->variant);
    free(p->os_version);
    *p = (struct platform)PLATFORM_INIT;
}

void platform_copy(struct platform *dst, const struct platform *src)
{
    dst->os = xstrdup_or_null(src->os);
    dst->architecture = xstrdup_or_null(src->architecture);
    dst->variant = xstrdup_or_null(src->variant);
    dst->os_version = xstrdup_or_null(src->os_version);
}

static void lowercase(char *s)
{
    for (; s && *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static void replace(char **slot, const char *value)
{
    free(*slot);
    *slot = xstrdup_or_null(value);
}

static bool str_is(const char *s, const char *value)
{
    return s != NULL && strcmp(s, value) == 0;
}

/* "8" -> "v8"; NULL and "" stay NULL. */
static void normalize_variant(struct platform *p)
{
    if (str_empty(p->variant)) {
        replace(&p->variant, NULL);
        return;
    }
    lowercase(p->variant);
    if (isdigit((unsigned char)p->variant[0])) {
        char *prefixed = xasprintf("v%s", p->variant);

        free(p->variant);
        p->variant = prefixed;
    }
}

static void normalize_architecture(struct platform *p)
{
    const char *arch = p->architecture;

    if (str_is(arch, "x86_64") || str_is(arch, "x86-64") || str_is(arch, "amd64")) {
        replace(&p->architecture, "amd64");
        if (str_is(p->variant, "v1"))
            replace(&p->variant, NULL);
    } else if (str_is(arch, "i386") || str_is(arch, "i486") || str_is(arch, "i586") ||
               str_is(arch, "i686") || str_is(arch, "x86")) {
        replace(&p->architecture, "386");
    } else if (str_is(arch, "aarch64") || str_is(arch, "arm64")) {
        replace(&p->architecture, "arm64");
        if (p->variant == NULL)
            replace(&p->variant, "v8");
    } else if (str_is(arch, "armhf")) {
        replace(&p->architecture, "arm");
        replace(&p->variant, "v7");
    } else if (str_is(arch, "armel")) {
        replace(&p->architecture, "arm");
        replace(&p->variant, "v6");
    } else if (str_has_prefix(arch, "armv") && isdigit((unsigned char)arch[4])) {
        /* uname names such as "armv7l" and "armv6l" */
        char variant[3] = {'v', arch[4], '\0'};

        replace(&p->architecture, "arm");
        replace(&p->variant, variant);
    } else if (str_is(arch, "arm") && p->variant == NULL) {
        replace(&p->variant, "v7");
    }
}

void platform_normalize(struct platform *p)
{
    lowercase(p->os);
    lowercase(p->architecture);
    if (str_is(p->os, "macos"))
        replace(&p->os, "darwin");
    normalize_variant(p);
    normalize_architecture(p);
    if (str_empty(p->os_version))
        replace(&p->os_version, NULL);
}

char *platform_windows_os_version(unsigned long major, unsigned long minor, unsigned long build,
                                  bool has_revision, unsigned long revision)
{
    if (!has_revision)
        return xasprintf("%lu.%lu.%lu", major, minor, build);
    return xasprintf("%lu.%lu.%lu.%lu", major, minor, build, revision);
}

int platform_parse(const char *spec, struct platform *p, struct error *err)
{
    _cleanup_free_ char *copy = xstrdup(spec ? spec : "");
    char *fields[4] = {NULL};
    size_t count = 0;
    char *save = NULL;

    for (char *field = strtok_r(copy, "/", &save); field; field = strtok_r(NULL, "/", &save)) {
        if (count == ARRAY_SIZE(fields))
            break;
        fields[count++] = field;
    }
    if (count < 2 || count > 3)
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "invalid platform \"%s\": expected \"os/architecture[/variant]\"",
                         spec ? spec : "");

    p->os = xstrdup(fields[0]);
    p->architecture = xstrdup(fields[1]);
    p->variant = xstrdup_or_null(fields[2]);
    platform_normalize(p);
    return 0;
}

char *platform_format(const struct platform *p)
{
    _cleanup_strbuf_ struct strbuf buf = STRBUF_INIT;

    strbuf_appendf(&buf, "%s/%s", p->os ? p->os : "?", p->architecture ? p->architecture : "?");
    if (p->variant)
        strbuf_appendf(&buf, "/%s", p->variant);
    if (p->os_version)
        strbuf_appendf(&buf, " (os.version %s)", p->os_version);
    return strbuf_steal(&buf);
}

/* The number in "vN", or -1. */
static int variant_number(const char *variant)
{
    if (variant == NULL || variant[0] != 'v' || !isdigit((unsigned char)variant[1]))
        return -1;
    return atoi(variant + 1);
}

/* Position of arm/<variant> in the list of arm variants a host with max_version runs. */
static int arm_rank(int max_version, const char *variant)
{
    int version = variant_number(variant);

    if (version < 5 || version > max_version)
        return -1;
    return max_version - version;
}

/*
 * Preference of entry's architecture and variant on host: 0 is the host's own, higher
 * numbers are older variants the host also runs, -1 means it does not run. Both normalized.
 */
static int architecture_rank(const struct platform *host, const struct platform *entry)
{
    const char *arch = host->architecture;
    bool same_arch = str_is(entry->architecture, arch);

    if (str_is(arch, "amd64")) {
        int host_level = host->variant ? variant_number(host->variant) : 1;
        int entry_level = entry->variant ? variant_number(entry->variant) : 1;

        if (same_arch && entry_level >= 1 && entry_level <= host_level)
            return host_level - entry_level;
        if (str_is(entry->architecture, "386"))
            return host_level;
        return -1;
    }
    if (str_is(arch, "arm64")) {
        if (same_arch)
            return str_is(entry->variant, host->variant) ? 0 : -1;
        if (str_is(entry->architecture, "arm")) {
            int rank = arm_rank(8, entry->variant);

            return rank < 0 ? -1 : 1 + rank;
        }
        return -1;
    }
    if (str_is(arch, "arm") && same_arch)
        return arm_rank(variant_number(host->variant), entry->variant);
    if (same_arch && str_is(entry->variant, host->variant))
        return 0;
    return -1;
}

static void normalized_copy(struct platform *dst, const struct platform *src)
{
    platform_copy(dst, src);
    platform_normalize(dst);
}

bool platform_matches(const struct platform *host, const struct platform *entry)
{
    _cleanup_platform_ struct platform h = PLATFORM_INIT;
    _cleanup_platform_ struct platform e = PLATFORM_INIT;

    if (host->os == NULL || host->architecture == NULL || entry->os == NULL ||
        entry->architecture == NULL)
        return false;
    normalized_copy(&h, host);
    normalized_copy(&e, entry);
    return str_is(h.os, e.os) && architecture_rank(&h, &e) >= 0;
}

/* A Windows version "major.minor.build.revision"; missing parts are 0. */
struct os_version {
    bool valid;
    long part[4];
};

static struct os_version parse_os_version(const char *text)
{
    struct os_version v = {0};
    const char *p = text;

    if (text == NULL)
        return v;
    for (int i = 0; i < 4 && *p; i++) {
        char *end;

        v.part[i] = strtol(p, &end, 10);
        if (end == p || (*end != '.' && *end != '\0'))
            return (struct os_version){0};
        p = *end == '.' ? end + 1 : end;
    }
    v.valid = true;
    return v;
}

/* A sortable key: lower is better. */
struct match_key {
    long long part[5];
};

static bool same_build(const struct os_version *a, const struct os_version *b)
{
    return a->part[0] == b->part[0] && a->part[1] == b->part[1] && a->part[2] == b->part[2];
}

/* Encodes major.minor.build into one comparable number. */
static long long build_number(const struct os_version *v)
{
    return ((long long)v->part[0] * 1000 + v->part[1]) * 10000000LL + v->part[2];
}

/* The os.version tiers of the header comment, for a Windows entry on a host with a version. */
static void windows_version_key(const char *host_version, const char *entry_version,
                                struct match_key *key)
{
    struct os_version host = parse_os_version(host_version);
    struct os_version entry = parse_os_version(entry_version);

    if (!host.valid) {
        /* Without a host version, prefer the newest entry, then one without a version. */
        long long build = entry.valid ? build_number(&entry) : -1;

        key->part[1] = entry.valid ? 0 : 1;
        key->part[2] = -build;
        key->part[3] = -entry.part[3];
        return;
    }
    if (entry_version == NULL) {
        key->part[1] = 2;
    } else if (!entry.valid) {
        key->part[1] = 4;
    } else if (same_build(&host, &entry)) {
        long long rev = entry.part[3], host_rev = host.part[3];

        key->part[1] = rev == host_rev ? 0 : 1;
        key->part[2] = rev <= host_rev ? 0 : 1;
        key->part[3] = rev <= host_rev ? host_rev - rev : rev - host_rev;
    } else {
        long long diff = build_number(&entry) - build_number(&host);

        key->part[1] = 3;
        key->part[2] = diff < 0 ? 0 : 1;
        key->part[3] = diff < 0 ? -diff : diff;
        key->part[4] = -entry.part[3];
    }
}

static int compare_keys(const struct match_key *a, const struct match_key *b)
{
    for (size_t i = 0; i < ARRAY_SIZE(a->part); i++) {
        if (a->part[i] != b->part[i])
            return a->part[i] < b->part[i] ? -1 : 1;
    }
    return 0;
}

/* Fills *key for entry on host (normalized); returns false when entry does not match. */
static bool match_key(const struct platform *host, const struct platform *entry,
                      struct match_key *key)
{
    _cleanup_platform_ struct platform e = PLATFORM_INIT;
    int rank;

    if (entry->os == NULL || entry->architecture == NULL)
        return false;
    normalized_copy(&e, entry);
    if (!str_is(host->os, e.os))
        return false;
    rank = architecture_rank(host, &e);
    if (rank < 0)
        return false;

    *key = (struct match_key){{rank, 0, 0, 0, 0}};
    if (str_is(e.os, "windows"))
        windows_version_key(host->os_version, e.os_version, key);
    return true;
}

static int no_match_error(const struct platform *host, const struct platform *const *entries,
                          size_t count, struct error *err)
{
    _cleanup_strbuf_ struct strbuf offered = STRBUF_INIT;
    _cleanup_free_ char *wanted = platform_format(host);

    for (size_t i = 0; i < count; i++) {
        _cleanup_free_ char *text = NULL;

        if (entries[i] == NULL)
            continue;
        text = platform_format(entries[i]);
        strbuf_appendf(&offered, "%s%s", offered.length ? ", " : "", text);
    }
    return error_set(err, ERROR_NOT_FOUND, "no image for platform %s (offered: %s)", wanted,
                     offered.length ? offered.data : "none");
}

int platform_select(const struct platform *host, const struct platform *const *entries,
                    size_t count, size_t *chosen, struct error *err)
{
    _cleanup_platform_ struct platform h = PLATFORM_INIT;
    struct match_key best = {{0}};
    bool found = false;

    if (host->os == NULL || host->architecture == NULL)
        return error_set(err, ERROR_INVALID_ARGUMENT, "host platform without os or architecture");
    normalized_copy(&h, host);

    for (size_t i = 0; i < count; i++) {
        struct match_key key;

        if (entries[i] == NULL || !match_key(&h, entries[i], &key))
            continue;
        if (!found || compare_keys(&key, &best) < 0) {
            best = key;
            *chosen = i;
            found = true;
        }
    }
    if (!found)
        return no_match_error(&h, entries, count, err);
    return 0;
}
