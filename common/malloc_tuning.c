#include "common/malloc_tuning.h"

/* Any C library header defines __GLIBC__ for glibc. */
#include <stdlib.h>

#ifdef __GLIBC__
#include <malloc.h>

#include "common/log.h"

/* Allocations from this size on get their own mapping; glibc's default is 128 KiB and grows
 * only on frees of mapped chunks. */
#define MMAP_THRESHOLD_BYTES (1024 * 1024)
/* Free memory at the top of the heap beyond this is returned to the kernel. */
#define TRIM_THRESHOLD_BYTES (4 * 1024 * 1024)

void malloc_tune_for_daemon(void)
{
    /* mallopt returns 1 on success and 0 on error. */
    if (mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) != 1 ||
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) != 1)
        log_debug("mallopt failed, so the allocator keeps its default thresholds (a sanitizer "
                  "build replaces the allocator)");
}
#else
void malloc_tune_for_daemon(void)
{
}
#endif
