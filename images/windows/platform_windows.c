/*
 * platform_host on Windows: the architecture from GetNativeSystemInfo and the os.version from
 * RtlGetVersion (GetVersionEx reports the version of the program's manifest, not the host's)
 * plus the update build revision (UBR), which only the registry holds. Image index entries are
 * chosen by this "10.0.<build>.<revision>" as platform.h describes.
 */
#include "images/platform.h"

#include <windows.h>

#include "common/log.h"
#include "common/util.h"

#define CURRENT_VERSION_KEY L"SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion"

typedef LONG(WINAPI *rtl_get_version_fn)(OSVERSIONINFOW *info);

static const char *native_architecture(void)
{
    SYSTEM_INFO info;

    GetNativeSystemInfo(&info);
    switch (info.wProcessorArchitecture) {
    case PROCESSOR_ARCHITECTURE_AMD64:
        return "amd64";
    case PROCESSOR_ARCHITECTURE_ARM64:
        return "arm64";
    case PROCESSOR_ARCHITECTURE_ARM:
        return "arm";
    case PROCESSOR_ARCHITECTURE_INTEL:
        return "386";
    default:
        return "unknown";
    }
}

/* Reads the UBR (update build revision) DWORD; false when the value is missing. */
static bool read_revision(unsigned long *revision)
{
    DWORD value = 0;
    DWORD size = sizeof(value);
    LONG rc = RegGetValueW(HKEY_LOCAL_MACHINE, CURRENT_VERSION_KEY, L"UBR", RRF_RT_REG_DWORD, NULL,
                           &value, &size);

    if (rc != ERROR_SUCCESS)
        return false;
    *revision = value;
    return true;
}

static char *host_os_version(void)
{
    OSVERSIONINFOW info = {.dwOSVersionInfoSize = sizeof(info)};
    HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
    rtl_get_version_fn rtl_get_version =
        ntdll ? (rtl_get_version_fn)(void (*)(void))GetProcAddress(ntdll, "RtlGetVersion") : NULL;
    unsigned long revision = 0;
    bool has_revision;

    if (rtl_get_version == NULL || rtl_get_version(&info) != 0) {
        log_warn("cannot read the Windows version: image entries are chosen without os.version");
        return NULL;
    }
    has_revision = read_revision(&revision);
    return platform_windows_os_version(info.dwMajorVersion, info.dwMinorVersion, info.dwBuildNumber,
                                       has_revision, revision);
}

void platform_host(struct platform *p)
{
    p->os = xstrdup("windows");
    p->architecture = xstrdup(native_architecture());
    p->os_version = host_os_version();
    platform_normalize(p);
}
