/* The parts of dir_lock.h that the flock and LockFileEx implementations share. */
#include "common/dir_lock.h"

#include <stdlib.h>

int dir_lock_report_holder(const char *dir, const char *path, const char *holder_text,
                           struct error *err)
{
    char *end;
    long long pid = strtoll(holder_text, &end, 10);

    if (end != holder_text && pid > 0)
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "directory %s is in use by another hostcri daemon (pid %lld holds %s): "
                         "give each daemon its own --root and --state",
                         dir, pid, path);
    return error_set(err, ERROR_FAILED_PRECONDITION,
                     "directory %s is in use by another hostcri daemon (it holds %s): "
                     "give each daemon its own --root and --state",
                     dir, path);
}
