#ifndef HOSTCRI_RUNTIME_WINDOWS_WINUSER_WINDOWS_H
#define HOSTCRI_RUNTIME_WINDOWS_WINUSER_WINDOWS_H

/* The real Windows operations of winuser.h (Windows build only). */

#include "common/error.h"
#include "runtime/windows/winuser.h"

/*
 * Fills ops with the Windows account calls (netapi32, LogonUserW, token queries, BCrypt). The
 * temporary user is recorded in the file record_path, which must outlive ops.
 */
void winuser_windows_ops(struct winuser_ops *ops, const char *record_path);

/*
 * Deletes the temporary user named in the file record_path and the file, after the container
 * is gone or a monitor crashed. No file is success.
 */
int winuser_windows_delete_recorded(const char *record_path, struct error *err);

#endif
