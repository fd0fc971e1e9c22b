#ifndef HOSTCRI_COMMON_DIR_LOCK_H
#define HOSTCRI_COMMON_DIR_LOCK_H

#include "common/error.h"

/* Name of the lock file that dir_lock_acquire creates in the directory. */
#define DIR_LOCK_FILE_NAME "hostcri.lock"

/* An exclusive lock on a directory, held until dir_lock_release or the process exits. */
struct dir_lock;

/*
 * Takes an exclusive lock on <dir>/hostcri.lock, creating the file (but not dir), and writes
 * the caller's pid into it. The lock is flock on Linux and LockFileEx on Windows, so the
 * kernel drops it when the process exits, even on SIGKILL, and the file handle is not
 * inherited by child processes. Returns 0 with *out set (free it with dir_lock_release), or -1
 * with ERROR_FAILED_PRECONDITION when another process holds the lock: the message names dir
 * and, when the file holds one, that process's pid.
 */
int dir_lock_acquire(const char *dir, struct dir_lock **out, struct error *err);

/* Releases the lock and frees it; the lock file stays. Safe on NULL. */
void dir_lock_release(struct dir_lock *lock);

/*
 * Sets err to the ERROR_FAILED_PRECONDITION of dir_lock_acquire for a lock file path in dir that
 * another process holds, and returns -1. holder_text is the start of the file, NUL-terminated:
 * the message names the holder's pid when the text starts with a positive decimal number. Used by
 * the OS implementations of dir_lock_acquire.
 */
int dir_lock_report_holder(const char *dir, const char *path, const char *holder_text,
                           struct error *err);

#endif
