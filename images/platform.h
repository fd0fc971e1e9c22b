#ifndef HOSTCRI_IMAGES_PLATFORM_H
#define HOSTCRI_IMAGES_PLATFORM_H

#include <stdbool.h>
#include <stddef.h>

#include "common/error.h"

/*
 * Platforms as the OCI image index describes them ("platform" of a manifest descriptor) and
 * the choice of one manifest of an index for this host.
 *
 * Normalization (platform_normalize), as containerd does it:
 *   os lowercase; "macos" -> "darwin"
 *   x86_64, x86-64 -> amd64 (variant v1 dropped); i386, i486, i586, i686, x86 -> 386
 *   aarch64, arm64 -> arm64 with variant v8 when none is given ("8" -> "v8")
 *   armhf -> arm v7; armel -> arm v6; arm without variant -> arm v7; "7" -> "v7"
 *   armv7l, armv6l (uname machine names) -> arm v7, arm v6
 *
 * Matching (platform_select): the os must be equal, and the architecture and variant must be
 * the host's or one the host also runs, in this order of preference: amd64/vN then lower
 * amd64 variants then 386; arm64 then arm v8, v7, v6, v5; arm vN then lower arm variants.
 *
 * For Windows entries the os.version decides next, independent of the entry order:
 *   1. os.version equal to the host's ("10.0.20348.2227");
 *   2. the same major.minor.build with the highest revision not above the host's, then the
 *      lowest revision above it;
 *   3. no os.version;
 *   4. another build: the highest build below the host's, then the lowest build above it.
 * Tiers 3 and 4 are kept because a host-process container runs on the host's kernel and uses
 * the image only as files, so an image made for another build still works.
 */

struct platform {
    char *os;           /* "linux", "windows" */
    char *architecture; /* "amd64", "arm64", "arm", "386", ... */
    char *variant;      /* "v8", "v7", ... or NULL */
    char *os_version;   /* Windows build "10.0.17763.5830", or NULL */
};

#define PLATFORM_INIT                                                                              \
    {                                                                                              \
        NULL, NULL, NULL, NULL                                                                     \
    }

/* Frees the strings of p and resets it to PLATFORM_INIT. Safe on a cleared platform. */
void platform_clear(struct platform *p);

#define _cleanup_platform_ __attribute__((cleanup(platform_clear)))

/* Deep copy of src into *dst (which must be clear). */
void platform_copy(struct platform *dst, const struct platform *src);

/* Rewrites p in place to the normalized names above. os and architecture must be set. */
void platform_normalize(struct platform *p);

/*
 * Fills *p (clear) with the normalized platform of this host: os and architecture from
 * uname on Linux; on Windows from GetNativeSystemInfo, with os_version from
 * platform_windows_os_version. Implemented per OS (images/linux/platform_linux.c,
 * images/windows/platform_windows.c).
 */
void platform_host(struct platform *p);

/*
 * The os.version of a Windows host, "<major>.<minor>.<build>.<revision>" ("10.0.20348.2227"),
 * from RtlGetVersion and the UBR registry value; without a revision (has_revision false),
 * "<major>.<minor>.<build>", which matches as revision 0. Caller frees.
 */
char *platform_windows_os_version(unsigned long major, unsigned long minor, unsigned long build,
                                  bool has_revision, unsigned long revision);

/*
 * Parses "os/arch[/variant]" ("linux/arm64/v8") into *p (clear), normalized. Returns 0, or
 * -1 with ERROR_INVALID_ARGUMENT naming spec.
 */
int platform_parse(const char *spec, struct platform *p, struct error *err);

/* "os/arch[/variant]" plus " (os.version <v>)" when set, for messages. Caller frees. */
char *platform_format(const struct platform *p);

/*
 * True when entry (normalized or not) can run on host (normalized or not) by the matching
 * rules above; os.version is not considered.
 */
bool platform_matches(const struct platform *host, const struct platform *entry);

/*
 * Chooses the entry that best matches host by the rules above. entries[i] may be NULL for an
 * index entry without a platform (skipped). On success stores the index in *chosen and
 * returns 0; returns -1 with ERROR_NOT_FOUND naming the host platform and the platforms
 * offered when no entry matches. Entries that compare equal keep their order.
 */
int platform_select(const struct platform *host, const struct platform *const *entries,
                    size_t count, size_t *chosen, struct error *err);

#endif
