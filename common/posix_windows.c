/* The standard stream variables of posix_windows.h; the Linux build compiles this to nothing. */
#ifdef _WIN32

#include <stdio.h>

FILE *posix_windows_stdin;
FILE *posix_windows_stdout;
FILE *posix_windows_stderr;

/* Runs before main, and before any code of hostcri can print. */
__attribute__((constructor)) static void set_standard_streams(void)
{
    posix_windows_stdin = __acrt_iob_func(0);
    posix_windows_stdout = __acrt_iob_func(1);
    posix_windows_stderr = __acrt_iob_func(2);
}

#endif
