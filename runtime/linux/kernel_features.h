#ifndef HOSTCRI_RUNTIME_LINUX_KERNEL_FEATURES_H
#define HOSTCRI_RUNTIME_LINUX_KERNEL_FEATURES_H

/* Kernel features that the daemon reports in the CRI Status call. */

#include <stdbool.h>

/*
 * Returns whether the kernel has mount_setattr (Linux 5.12+), which the monitor uses to make a
 * volume read-only together with its submounts. The first call probes the kernel and logs the
 * result, and later calls return the kept result. Loop thread: two threads that make the first
 * call at once may both probe and log.
 */
bool kernel_features_recursive_readonly(void);

#endif
