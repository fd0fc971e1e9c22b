/*
 * service_check: checks the service that "hostcri.exe --register-service" creates, through the
 * service control manager's query API (Wine's sc.exe has no qc, qdescription or qfailure).
 * Prints one "PASS <check>" or "FAIL <check>: <detail>" line per check, and "XFAIL <check>:
 * <reason>" for a check that fails under Wine because Wine lacks the API (on Windows the same
 * check is a PASS or a FAIL). The exit status is the number of failed checks.
 *
 * Usage: service_check.exe registered NAME FLAG   the service exists as --register-service
 *                                                   makes it, and its command line has FLAG
 *        service_check.exe deleted NAME           the service no longer exists
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>

#include "checks.h"

/* The restart delay of the recovery actions, as RestartSec=2 in the systemd unit. */
#define RESTART_DELAY_MS 2000
/* The default shutdown grace period (10 s): the pre-shutdown timeout must cover it. */
#define MIN_PRESHUTDOWN_MS 10000

/* Returns QueryServiceConfig2W's data for level in new memory (free), or NULL with *error. */
static void *query_config2(SC_HANDLE service, DWORD level, DWORD *error)
{
    DWORD needed = 0;
    void *data;

    *error = 0;
    if (!QueryServiceConfig2W(service, level, NULL, 0, &needed) &&
        GetLastError() != ERROR_INSUFFICIENT_BUFFER) {
        *error = GetLastError();
        return NULL;
    }
    data = calloc(1, needed + 16);
    if (!QueryServiceConfig2W(service, level, data, needed + 16, &needed)) {
        *error = GetLastError();
        free(data);
        return NULL;
    }
    return data;
}

static void check_config(SC_HANDLE service, const char *flag)
{
    DWORD needed = 0;
    QUERY_SERVICE_CONFIGA *config;
    char *command_line;

    QueryServiceConfigA(service, NULL, 0, &needed);
    config = calloc(1, needed + 16);
    if (!check(QueryServiceConfigA(service, config, needed + 16, &needed),
               "QueryServiceConfig succeeds", "Windows error %lu", GetLastError())) {
        free(config);
        return;
    }
    command_line = config->lpBinaryPathName ? config->lpBinaryPathName : "";
    check(config->dwServiceType == SERVICE_WIN32_OWN_PROCESS, "service has its own process",
          "type 0x%lx", config->dwServiceType);
    check(config->dwStartType == SERVICE_AUTO_START, "service starts automatically",
          "start type %lu", config->dwStartType);
    check(strstr(command_line, "hostcri.exe") != NULL && strstr(command_line, " --service") != NULL,
          "command line runs hostcri.exe --service", "got %s", command_line);
    check(strstr(command_line, flag) != NULL, "command line keeps the registered flags",
          "%s not in %s", flag, command_line);
    check(config->lpServiceStartName == NULL || config->lpServiceStartName[0] == '\0' ||
              _stricmp(config->lpServiceStartName, "LocalSystem") == 0,
          "service runs as LocalSystem", "account %s", config->lpServiceStartName);
    free(config);
}

static void check_config2(SC_HANDLE service)
{
    SERVICE_DESCRIPTIONW *description;
    SERVICE_FAILURE_ACTIONSW *actions;
    SERVICE_FAILURE_ACTIONS_FLAG *flag;
    SERVICE_PRESHUTDOWN_INFO *preshutdown;
    bool all_restart = true;
    DWORD error;

    description = query_config2(service, SERVICE_CONFIG_DESCRIPTION, &error);
    check(description && description->lpDescription && description->lpDescription[0],
          "service has a description", "Windows error %lu", error);
    free(description);

    actions = query_config2(service, SERVICE_CONFIG_FAILURE_ACTIONS, &error);
    for (DWORD i = 0; actions && i < actions->cActions; i++)
        all_restart = all_restart && actions->lpsaActions[i].Type == SC_ACTION_RESTART &&
                      actions->lpsaActions[i].Delay == RESTART_DELAY_MS;
    check_api(actions && actions->cActions > 0 && all_restart,
              "recovery actions restart the service after 2 s",
              "Wine 8 services.exe accepts but does not store failure actions",
              "Windows error %lu, %lu actions", error, actions ? actions->cActions : 0);
    free(actions);

    flag = query_config2(service, SERVICE_CONFIG_FAILURE_ACTIONS_FLAG, &error);
    check_api(flag && flag->fFailureActionsOnNonCrashFailures,
              "recovery also follows a non-zero exit code",
              "Wine 8 rejects SERVICE_CONFIG_FAILURE_ACTIONS_FLAG (invalid level)",
              "Windows error %lu", error);
    free(flag);

    preshutdown = query_config2(service, SERVICE_CONFIG_PRESHUTDOWN_INFO, &error);
    check(preshutdown && preshutdown->dwPreshutdownTimeout >= MIN_PRESHUTDOWN_MS,
          "pre-shutdown timeout covers the grace period", "Windows error %lu, timeout %lu ms",
          error, preshutdown ? preshutdown->dwPreshutdownTimeout : 0);
    free(preshutdown);
}

int main(int argc, char **argv)
{
    SC_HANDLE manager;
    SC_HANDLE service;

    if (!((argc == 4 && strcmp(argv[1], "registered") == 0) ||
          (argc == 3 && strcmp(argv[1], "deleted") == 0))) {
        fprintf(stderr, "usage: %s registered NAME FLAG | %s deleted NAME\n", argv[0], argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IONBF, 0);
    manager = OpenSCManagerA(NULL, NULL, SC_MANAGER_CONNECT);
    if (!check(manager != NULL, "open the service control manager", "Windows error %lu",
               GetLastError()))
        goto done;
    service = OpenServiceA(manager, argv[2], SERVICE_QUERY_CONFIG | SERVICE_QUERY_STATUS);
    if (strcmp(argv[1], "deleted") == 0) {
        check(service == NULL && GetLastError() == ERROR_SERVICE_DOES_NOT_EXIST,
              "service no longer exists", "OpenService: Windows error %lu", GetLastError());
    } else if (check(service != NULL, "service exists", "OpenService: Windows error %lu",
                     GetLastError())) {
        check_config(service, argv[3]);
        check_config2(service);
    }
    if (service)
        CloseServiceHandle(service);
    CloseServiceHandle(manager);
done:
    return checks_finish();
}
