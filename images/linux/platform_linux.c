/* platform_host for Linux: the machine name from uname, normalized. */
#include "images/platform.h"

#include <sys/utsname.h>

#include "common/util.h"

void platform_host(struct platform *p)
{
    struct utsname name;

    p->os = xstrdup("linux");
    p->architecture = xstrdup(uname(&name) == 0 ? name.machine : "unknown");
    platform_normalize(p);
}
