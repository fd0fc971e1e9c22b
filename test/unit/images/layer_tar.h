#ifndef HOSTCRI_TEST_LAYER_TAR_H
#define HOSTCRI_TEST_LAYER_TAR_H

/* Writes small tar layers for the layer tests with libarchive. */

#include <stddef.h>
#include <stdint.h>

enum tar_compression {
    TAR_NONE,
    TAR_GZIP,
    TAR_ZSTD,
};

/* One entry; type is 'f' file, 'd' directory, 'l' symlink, 'h' hard link, 'c' char device,
 * 'b' block device, 'p' FIFO. data is the content of a file or the target of a link. */
struct tar_entry {
    const char *name;
    char type;
    unsigned mode;
    const char *data;
    int64_t uid;
    int64_t gid;
    const char *xattr_name;
    const char *xattr_value;
    size_t xattr_size; /* 0: strlen(xattr_value) */
};

/* Writes the entries up to the one with name NULL to path. Aborts the test on failure. */
void tar_write(const char *path, enum tar_compression compression, const struct tar_entry *entries);

#endif
