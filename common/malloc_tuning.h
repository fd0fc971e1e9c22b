#ifndef HOSTCRI_COMMON_MALLOC_TUNING_H
#define HOSTCRI_COMMON_MALLOC_TUNING_H

/*
 * Tunes the C library's allocator for the daemon: responses of a few hundred KiB (ListContainers
 * with a thousand containers, HTTP/2 write batches) are built and freed on every call. With
 * glibc's defaults each such buffer is a fresh mmap or a heap top that is trimmed and faulted
 * in again, and page faults then cost more than building the response. This keeps buffers up to
 * 1 MiB on the heap and up to 4 MiB of free heap top, so the daemon's RSS may stay that much
 * above its working set. Does nothing with other C libraries. Call once, after the log is
 * configured and before threads start.
 */
void malloc_tune_for_daemon(void);

#endif
