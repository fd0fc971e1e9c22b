#include "runtime/linux/kernel_features.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common/log.h"

/* Calls mount_setattr with a size of 0, which every kernel that has it rejects with EINVAL or
 * EBADF before it looks at a mount. Returns 0 when the call is there, else the errno: ENOSYS
 * when the kernel lacks it (before Linux 5.12), EPERM when a seccomp filter blocks it. */
static int probe_mount_setattr(void)
{
    if (syscall(SYS_mount_setattr, -1, "", 0, NULL, (size_t)0) == 0)
        return 0;
    return errno == ENOSYS || errno == EPERM ? errno : 0;
}

bool kernel_features_recursive_readonly(void)
{
    /* 0: not probed yet, 1: supported, 2: not supported. */
    static _Atomic int state;
    int value = state;
    int errnum;

    if (value != 0)
        return value == 1;
    errnum = probe_mount_setattr();
    value = errnum == 0 ? 1 : 2;
    state = value;
    if (errnum == 0)
        log_info("recursive read-only mounts are available: the kernel has mount_setattr");
    else
        log_warn("recursive read-only mounts are unavailable: mount_setattr failed (%s)",
                 strerror(errnum));
    return value == 1;
}
