#include "runtime/linux/kernel_features.h"

#include <errno.h>
#include <stddef.h>
#include <sys/syscall.h>
#include <unistd.h>

/* Calls mount_setattr with a size of 0, which every kernel that has it rejects with EINVAL or
 * EBADF before it looks at a mount. ENOSYS means the kernel lacks it, and EPERM that a seccomp
 * filter blocks it. */
static bool probe_mount_setattr(void)
{
    long rc = syscall(SYS_mount_setattr, -1, "", 0, NULL, (size_t)0);

    return rc == 0 || (errno != ENOSYS && errno != EPERM);
}

bool kernel_features_recursive_readonly(void)
{
    /* 0: not probed yet, 1: supported, 2: not supported. */
    static _Atomic int state;
    int value = state;

    if (value == 0) {
        value = probe_mount_setattr() ? 1 : 2;
        state = value;
    }
    return value == 1;
}
