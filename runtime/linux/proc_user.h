#ifndef HOSTCRI_RUNTIME_LINUX_PROC_USER_H
#define HOSTCRI_RUNTIME_LINUX_PROC_USER_H

/* The credentials of a running process, as the kernel reports them in /proc/<pid>/status. */

#include <stddef.h>
#include <stdint.h>

#include "common/error.h"

struct proc_user {
    uint32_t uid;     /* real uid */
    uint32_t gid;     /* real gid */
    uint32_t *groups; /* supplemental groups, owned (free) */
    size_t n_groups;
};

/*
 * Reads the "Uid:", "Gid:" and "Groups:" lines of /proc/<pid>/status into *out. Returns 0, or
 * -1 with ERROR_NOT_FOUND when the process is gone and ERROR_INTERNAL when a line is missing.
 * On success out->groups is owned by the caller. Any thread.
 */
int proc_user_read(int pid, struct proc_user *out, struct error *err);

#endif
