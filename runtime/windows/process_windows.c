/* Command lines, environment blocks and process creation inside a job object. */
#include "runtime/windows/process_windows.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "common/error_windows.h"
#include "common/log.h"
#include "common/strbuf.h"
#include "common/text_windows.h"
#include "common/util.h"
#include "runtime/windows/winenv_windows.h"

#ifndef PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE
/* Windows 10 1809 and later; mingw-w64 declares it only for that target version. */
#define PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE 0x00020016
#endif

const struct process_windows_conpty *process_windows_conpty(void)
{
    static struct process_windows_conpty api;
    static bool looked_up;
    HMODULE kernel32;

    if (!looked_up) {
        looked_up = true;
        kernel32 = GetModuleHandleW(L"kernel32.dll");
        api.create = (void *)(void (*)(void))GetProcAddress(kernel32, "CreatePseudoConsole");
        api.resize = (void *)(void (*)(void))GetProcAddress(kernel32, "ResizePseudoConsole");
        api.close = (void *)(void (*)(void))GetProcAddress(kernel32, "ClosePseudoConsole");
    }
    return api.create && api.resize && api.close ? &api : NULL;
}

static bool argument_needs_quotes(const char *argument)
{
    return argument[0] == '\0' || strpbrk(argument, " \t\n\v\"") != NULL;
}

/* Appends argument in the quoting that CommandLineToArgvW undoes. */
static void append_quoted(struct strbuf *line, const char *argument)
{
    size_t backslashes = 0;

    if (!argument_needs_quotes(argument)) {
        strbuf_append_str(line, argument);
        return;
    }
    strbuf_append_char(line, '"');
    for (const char *p = argument;; p++) {
        if (*p == '\\') {
            backslashes++;
            continue;
        }
        /* Backslashes count literally unless a quote follows them. */
        if (*p == '\0' || *p == '"') {
            for (size_t i = 0; i < backslashes * 2; i++)
                strbuf_append_char(line, '\\');
            if (*p == '\0')
                break;
            strbuf_append_str(line, "\\\"");
        } else {
            for (size_t i = 0; i < backslashes; i++)
                strbuf_append_char(line, '\\');
            strbuf_append_char(line, *p);
        }
        backslashes = 0;
    }
    strbuf_append_char(line, '"');
}

wchar_t *process_windows_command_line(const char *const *argv)
{
    struct strbuf line = STRBUF_INIT;
    wchar_t *wide;

    for (size_t i = 0; argv[i]; i++) {
        if (i > 0)
            strbuf_append_char(&line, ' ');
        append_quoted(&line, argv[i]);
    }
    wide = text_windows_utf8_to_wide(line.data ? line.data : "");
    strbuf_free(&line);
    return wide;
}

wchar_t *process_windows_environment(const char *const *env)
{
    size_t length = 0;
    wchar_t *block = NULL;

    for (size_t i = 0; env[i]; i++) {
        _cleanup_free_ wchar_t *entry = text_windows_utf8_to_wide(env[i]);
        size_t entry_length;

        if (entry == NULL) {
            free(block);
            return NULL;
        }
        entry_length = wcslen(entry) + 1;
        block = xrealloc(block, (length + entry_length + 1) * sizeof(*block));
        memcpy(block + length, entry, entry_length * sizeof(*block));
        length += entry_length;
    }
    /* The block ends with an empty string; an empty block still needs two NULs. */
    block = xrealloc(block, (length + 2) * sizeof(*block));
    block[length] = L'\0';
    block[length + 1] = L'\0';
    return block;
}

/* The handles a child inherits: the standard ones, each once. */
struct inherited_handles {
    HANDLE null_device;
    HANDLE list[4];
    size_t count;
};

static void inherited_add(struct inherited_handles *handles, HANDLE handle)
{
    for (size_t i = 0; i < handles->count; i++) {
        if (handles->list[i] == handle)
            return;
    }
    handles->list[handles->count++] = handle;
}

static int open_null_device(struct inherited_handles *handles, struct error *err)
{
    SECURITY_ATTRIBUTES inheritable = {.nLength = sizeof(inheritable), .bInheritHandle = TRUE};

    handles->null_device =
        CreateFileW(L"NUL", GENERIC_READ | GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE,
                    &inheritable, OPEN_EXISTING, 0, NULL);
    if (handles->null_device == INVALID_HANDLE_VALUE)
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(), "open the NUL device");
    return 0;
}

/*
 * Fills attributes with the inherited handles, the pseudo console when there is one and, when
 * with_jobs is set, the n_jobs jobs of jobs (outermost first). Returns 0, or -1 with err set;
 * *attributes is then NULL.
 */
static int make_attributes(LPPROC_THREAD_ATTRIBUTE_LIST *attributes,
                           struct inherited_handles *handles, void *pseudo_console, HANDLE *jobs,
                           size_t n_jobs, bool with_jobs, struct error *err)
{
    SIZE_T size = 0;
    DWORD count = (with_jobs ? 2 : 1) + (pseudo_console ? 1 : 0);

    InitializeProcThreadAttributeList(NULL, count, 0, &size);
    *attributes = xmalloc(size);
    if (!InitializeProcThreadAttributeList(*attributes, count, 0, &size)) {
        free(*attributes);
        *attributes = NULL;
        return error_set_windows(err, ERROR_INTERNAL, GetLastError(),
                                 "InitializeProcThreadAttributeList");
    }
    if (!UpdateProcThreadAttribute(*attributes, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST, handles->list,
                                   handles->count * sizeof(HANDLE), NULL, NULL) ||
        (with_jobs && !UpdateProcThreadAttribute(*attributes, 0, PROC_THREAD_ATTRIBUTE_JOB_LIST,
                                                 jobs, n_jobs * sizeof(*jobs), NULL, NULL)) ||
        (pseudo_console &&
         !UpdateProcThreadAttribute(*attributes, 0, PROC_THREAD_ATTRIBUTE_PSEUDOCONSOLE,
                                    pseudo_console, sizeof(pseudo_console), NULL, NULL))) {
        DWORD error = GetLastError();

        DeleteProcThreadAttributeList(*attributes);
        free(*attributes);
        *attributes = NULL;
        return error_set_windows(err, ERROR_INTERNAL, error, "UpdateProcThreadAttribute");
    }
    return 0;
}

/* The value of PATH in env (names are case-insensitive on Windows), or NULL. */
static const char *env_path(const char *const *env)
{
    for (size_t i = 0; env && env[i]; i++) {
        if (_strnicmp(env[i], "PATH=", 5) == 0)
            return env[i] + 5;
    }
    return NULL;
}

/*
 * Finds spec's program on the PATH of env, as execvpe does, with ".exe" added when the
 * name has no extension. *program stays NULL when argv[0] names a directory or env has no PATH:
 * CreateProcessW then searches the daemon's directories. Returns -1 with ERROR_NOT_FOUND when
 * the PATH of env does not have the program.
 */
static int find_program(const struct process_windows_spec *spec, const char *const *env,
                        wchar_t **program, struct error *err)
{
    const char *path = env_path(env);
    _cleanup_free_ wchar_t *wide_path = NULL;
    _cleanup_free_ wchar_t *name = NULL;
    DWORD length;

    *program = NULL;
    if (path == NULL || strpbrk(spec->argv[0], "\\/:") != NULL)
        return 0;
    wide_path = text_windows_utf8_to_wide(path);
    name = text_windows_utf8_to_wide(spec->argv[0]);
    if (wide_path == NULL || name == NULL)
        return error_set(err, ERROR_INVALID_ARGUMENT, "start %s: PATH is not UTF-8", spec->argv[0]);
    length = SearchPathW(wide_path, name, L".exe", 0, NULL, NULL);
    if (length > 0) {
        *program = xcalloc(length, sizeof(**program));
        length = SearchPathW(wide_path, name, L".exe", length, *program, NULL);
    }
    if (length == 0) {
        free(*program);
        *program = NULL;
        return error_set(err, ERROR_NOT_FOUND, "start %s: program not found in PATH %s",
                         spec->argv[0], path);
    }
    return 0;
}

static int start_error(DWORD error, const char *program, struct error *err)
{
    if (error == ERROR_FILE_NOT_FOUND || error == ERROR_PATH_NOT_FOUND)
        return error_set(err, ERROR_NOT_FOUND, "start %s: program not found", program);
    if (error == ERROR_DIRECTORY)
        return error_set(err, ERROR_NOT_FOUND, "start %s: working directory not found", program);
    return error_set_windows(err, ERROR_INTERNAL, error, "start %s", program);
}

/*
 * CreateProcessW with the jobs in the attribute list, or assigned while suspended. The process
 * joins parent_job first, which nests job inside it.
 */
static int create_in_job(const struct process_windows_spec *spec, const wchar_t *program,
                         wchar_t *command_line, wchar_t *environment, wchar_t *working_dir,
                         struct inherited_handles *handles, PROCESS_INFORMATION *info,
                         struct error *err)
{
    STARTUPINFOEXW startup = {.StartupInfo.cb = sizeof(startup)};
    DWORD flags = EXTENDED_STARTUPINFO_PRESENT | CREATE_SUSPENDED | CREATE_UNICODE_ENVIRONMENT;
    HANDLE jobs[2];
    size_t n_jobs = 0;
    bool with_jobs = true;
    BOOL created;
    DWORD error;

    startup.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    if (spec->pseudo_console == NULL) {
        flags |= CREATE_NEW_PROCESS_GROUP | (spec->share_console ? 0 : CREATE_NO_WINDOW);
        startup.StartupInfo.hStdInput =
            spec->stdin_handle ? spec->stdin_handle : handles->null_device;
        startup.StartupInfo.hStdOutput =
            spec->stdout_handle ? spec->stdout_handle : handles->null_device;
        startup.StartupInfo.hStdError =
            spec->stderr_handle ? spec->stderr_handle : handles->null_device;
    }
    /* With a pseudo console the standard handles stay NULL, so the process takes them from
     * the pseudo console instead of copies of the caller's redirected ones. */
    if (spec->parent_job)
        jobs[n_jobs++] = spec->parent_job;
    jobs[n_jobs++] = spec->job;
    /* Versions before Windows 10 lack the job-list attribute: assign the jobs before resuming. */
    if (make_attributes(&startup.lpAttributeList, handles, spec->pseudo_console, jobs, n_jobs, true,
                        NULL) < 0) {
        with_jobs = false;
        if (make_attributes(&startup.lpAttributeList, handles, spec->pseudo_console, jobs, n_jobs,
                            false, err) < 0)
            return -1;
    }
    /* Wine 8 has failed this call for cmd.exe with ERROR_INTERNAL_ERROR once, in a test run
     * where the same call succeeded every other time. A failed call leaves no process, so an
     * internal error is tried once more. */
    for (int attempt = 0; attempt < 2; attempt++) {
        if (spec->token != NULL)
            created =
                CreateProcessAsUserW(spec->token, program, command_line, NULL, NULL, TRUE, flags,
                                     environment, working_dir, &startup.StartupInfo, info);
        else
            created = CreateProcessW(program, command_line, NULL, NULL, TRUE, flags, environment,
                                     working_dir, &startup.StartupInfo, info);
        error = GetLastError();
        if (created || error != ERROR_INTERNAL_ERROR)
            break;
        log_warn("start %s: CreateProcess failed with an internal error (Windows error %lu); "
                 "trying once more",
                 spec->argv[0], (unsigned long)error);
    }
    DeleteProcThreadAttributeList(startup.lpAttributeList);
    free(startup.lpAttributeList);
    if (!created)
        return start_error(error, spec->argv[0], err);
    for (size_t i = 0; !with_jobs && i < n_jobs; i++) {
        if (!AssignProcessToJobObject(jobs[i], info->hProcess)) {
            error_set_windows(err, ERROR_INTERNAL, GetLastError(), "put %s in its job",
                              spec->argv[0]);
            TerminateProcess(info->hProcess, 1);
            CloseHandle(info->hThread);
            CloseHandle(info->hProcess);
            return -1;
        }
    }
    return 0;
}

int process_windows_start(const struct process_windows_spec *spec, HANDLE *process, DWORD *pid,
                          struct error *err)
{
    _cleanup_free_ wchar_t *command_line = NULL;
    _cleanup_free_ wchar_t *environment = NULL;
    _cleanup_free_ wchar_t *working_dir = NULL;
    _cleanup_free_ wchar_t *program = NULL;
    _cleanup_strv_ char **merged_env = NULL;
    const char *const *env = spec->env;
    struct inherited_handles handles = {.null_device = INVALID_HANDLE_VALUE};
    PROCESS_INFORMATION info;
    int rc;

    if (spec->argv == NULL || spec->argv[0] == NULL || spec->argv[0][0] == '\0')
        return error_set(err, ERROR_INVALID_ARGUMENT, "start a process: empty command");
    if (spec->env && spec->user_environment) {
        if (winenv_windows_build(spec->token, spec->env, &merged_env, err) < 0)
            return error_prefix(err, "start %s", spec->argv[0]);
        env = (const char *const *)merged_env;
    }
    command_line = process_windows_command_line(spec->argv);
    if (env)
        environment = process_windows_environment(env);
    if (spec->working_dir)
        working_dir = text_windows_utf8_to_wide(spec->working_dir);
    if (command_line == NULL || (env && environment == NULL) ||
        (spec->working_dir && working_dir == NULL))
        return error_set(err, ERROR_INVALID_ARGUMENT,
                         "start %s: the command, environment or working directory is not UTF-8",
                         spec->argv[0]);
    if (find_program(spec, env, &program, err) < 0)
        return -1;

    if (open_null_device(&handles, err) < 0)
        return -1;
    inherited_add(&handles, handles.null_device);
    inherited_add(&handles, spec->stdin_handle ? spec->stdin_handle : handles.null_device);
    inherited_add(&handles, spec->stdout_handle ? spec->stdout_handle : handles.null_device);
    inherited_add(&handles, spec->stderr_handle ? spec->stderr_handle : handles.null_device);
    rc = create_in_job(spec, program, command_line, environment, working_dir, &handles, &info, err);
    CloseHandle(handles.null_device);
    if (rc < 0)
        return -1;

    if (ResumeThread(info.hThread) == (DWORD)-1) {
        error_set_windows(err, ERROR_INTERNAL, GetLastError(), "resume %s", spec->argv[0]);
        TerminateProcess(info.hProcess, 1);
        CloseHandle(info.hThread);
        CloseHandle(info.hProcess);
        return -1;
    }
    CloseHandle(info.hThread);
    *process = info.hProcess;
    *pid = info.dwProcessId;
    return 0;
}
