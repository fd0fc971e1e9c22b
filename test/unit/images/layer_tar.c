#include "layer_tar.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>

#include <archive.h>
#include <archive_entry.h>
#include <cmocka.h>

#define TAR_MTIME 1700000000

static mode_t entry_filetype(char type)
{
    switch (type) {
    case 'd':
        return AE_IFDIR;
    case 'l':
        return AE_IFLNK;
    case 'c':
        return AE_IFCHR;
    case 'b':
        return AE_IFBLK;
    case 'p':
        return AE_IFIFO;
    default:
        return AE_IFREG;
    }
}

static void write_entry(struct archive *a, const struct tar_entry *t)
{
    struct archive_entry *e = archive_entry_new();
    size_t length = (t->type == 'f' && t->data) ? strlen(t->data) : 0;

    archive_entry_set_pathname(e, t->name);
    archive_entry_set_filetype(e, entry_filetype(t->type));
    archive_entry_set_perm(e, t->mode ? t->mode : (t->type == 'd' ? 0755 : 0644));
    archive_entry_set_uid(e, t->uid);
    archive_entry_set_gid(e, t->gid);
    archive_entry_set_mtime(e, TAR_MTIME, 0);
    archive_entry_set_size(e, (la_int64_t)length);
    if (t->type == 'l')
        archive_entry_set_symlink(e, t->data);
    if (t->type == 'h') {
        archive_entry_set_hardlink(e, t->data);
        archive_entry_set_size(e, 0);
    }
    if (t->type == 'c' || t->type == 'b') {
        archive_entry_set_rdevmajor(e, 1);
        archive_entry_set_rdevminor(e, 3);
    }
    if (t->xattr_name)
        archive_entry_xattr_add_entry(e, t->xattr_name, t->xattr_value,
                                      t->xattr_size ? t->xattr_size : strlen(t->xattr_value));
    assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
    if (length > 0)
        assert_int_equal(archive_write_data(a, t->data, length), (la_ssize_t)length);
    archive_entry_free(e);
}

void tar_write(const char *path, enum tar_compression compression, const struct tar_entry *entries)
{
    struct archive *a = archive_write_new();

    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    if (compression == TAR_GZIP)
        assert_int_equal(archive_write_add_filter_gzip(a), ARCHIVE_OK);
    else if (compression == TAR_ZSTD)
        assert_int_equal(archive_write_add_filter_zstd(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_filename(a, path), ARCHIVE_OK);
    for (const struct tar_entry *t = entries; t->name; t++)
        write_entry(a, t);
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
}
