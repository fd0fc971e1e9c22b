/*
 * cri_runtime_client: the end-to-end test of hostcri.exe's RuntimeService on Windows. Over the
 * daemon's named pipe it pulls a Windows image, runs a HostProcess pod and its containers,
 * checks their exit codes, root file systems, mounts, CRI logs and process-tree kills, then
 * removes everything. Prints one "PASS", "FAIL" or "XFAIL" line per check and a summary.
 *
 * Usage:
 *   cri_runtime_client.exe run \\.\pipe\NAME IMAGE TEST_DIR [ROOTFS_ROOT]
 *     TEST_DIR is an empty directory for the logs, mount sources and pid files; ROOTFS_ROOT is
 *     the daemon's rootfs_mount_point (default C:\hpc).
 *   cri_runtime_client.exe crash-setup \\.\pipe\NAME IMAGE TEST_DIR [ROOTFS_ROOT]
 *     creates the containers of the restart check of wine-runtime-checks.sh and prints
 *     "ID <name> <container id>" for each (run_crash_setup).
 *   cri_runtime_client.exe crash-finish \\.\pipe\NAME KEPT_ID TEST_DIR [ROOTFS_ROOT]
 *     checks the daemon after its restart and removes every pod (run_crash_finish).
 *   cri_runtime_client.exe tree PID_FILE
 *     starts "cri_runtime_client.exe sleep", writes "<own pid> <child pid>" to PID_FILE and
 *     sleeps: the process tree that a StopContainer must kill.
 *   cri_runtime_client.exe sleep
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <windows.h>

#include "checks.h"
#include "api/api.pb-c.h"
#include "pipe_grpc.h"
#include "pod_config.h"

#define RUNTIME "/runtime.v1.RuntimeService/"
#define IMAGES "/runtime.v1.ImageService/"

/* How long a container gets to exit on its own, in 100 ms steps (30 s). */
#define EXIT_WAIT_STEPS 300

static const char *pipe_name;
static const char *image;
static const char *test_dir;
static const char *rootfs_root = "C:\\hpc";
static char self_path[MAX_PATH];

#define GRPC_OK 0
#define GRPC_INVALID_ARGUMENT 3
#define GRPC_NOT_FOUND 5
#define GRPC_FAILED_PRECONDITION 9
#define GRPC_UNIMPLEMENTED 12
#define GRPC_UNAVAILABLE 14

/* The outcome of one unary call. */
struct grpc_result {
    int grpc_status; /* -1 when the call did not complete */
    char grpc_message[512];
    uint8_t *message; /* the response message, or NULL */
    size_t message_length;
};

static void grpc_result_clear(struct grpc_result *result)
{
    free(result->message);
    result->message = NULL;
}

/* Calls method with request on a connection of its own and fills *result. */
static void grpc_pipe_call(const char *pipe, const char *method, const ProtobufCMessage *request,
                           struct grpc_result *result)
{
    struct pipe_grpc_call call;
    const uint8_t *message;
    size_t length = 0;
    char error[256] = "";

    memset(result, 0, sizeof(*result));
    pipe_grpc_call_init(&call, method, request);
    if (pipe_grpc_call_once(pipe, &call, error, sizeof(error))) {
        result->grpc_status = call.grpc_status;
        snprintf(result->grpc_message, sizeof(result->grpc_message), "%s", call.grpc_message);
    } else {
        result->grpc_status = -1;
        snprintf(result->grpc_message, sizeof(result->grpc_message), "%s", error);
    }
    message = pipe_grpc_call_message(&call, &length);
    if (message) {
        result->message = malloc(length + 1);
        memcpy(result->message, message, length);
        result->message_length = length;
    }
    pipe_grpc_call_free(&call);
}

/* ---- Helper modes: the process tree ------------------------------------------------------ */

static int run_sleep(void)
{
    Sleep(INFINITE);
    return 0;
}

static int run_tree(const char *pid_file)
{
    STARTUPINFOA startup = {.cb = sizeof(startup)};
    PROCESS_INFORMATION info;
    char command_line[MAX_PATH + 16];
    char temp_file[MAX_PATH + 8];
    FILE *file;

    GetModuleFileNameA(NULL, self_path, sizeof(self_path));
    snprintf(command_line, sizeof(command_line), "\"%s\" sleep", self_path);
    if (!CreateProcessA(NULL, command_line, NULL, NULL, FALSE, 0, NULL, NULL, &startup, &info))
        return 10;
    snprintf(temp_file, sizeof(temp_file), "%s.tmp", pid_file);
    file = fopen(temp_file, "w");
    if (file == NULL)
        return 11;
    fprintf(file, "%lu %lu\n", (unsigned long)GetCurrentProcessId(),
            (unsigned long)info.dwProcessId);
    fclose(file);
    MoveFileExA(temp_file, pid_file, MOVEFILE_REPLACE_EXISTING);
    Sleep(INFINITE);
    return 0;
}

/* ---- Calls ------------------------------------------------------------------------------- */

/* Calls method and unpacks its response with descriptor; NULL when the call fails. */
static void *call(const char *method, const ProtobufCMessage *request,
                  const ProtobufCMessageDescriptor *descriptor, struct grpc_result *result)
{
    grpc_pipe_call(pipe_name, method, request, result);
    if (result->grpc_status != GRPC_OK || result->message == NULL)
        return NULL;
    return protobuf_c_message_unpack(descriptor, NULL, result->message_length, result->message);
}

/* Calls method, expecting grpc-status expected, and checks it under name. */
static bool call_expecting(const char *method, const ProtobufCMessage *request, int expected,
                           const char *name, const char *message_part)
{
    struct grpc_result result;
    bool ok;

    grpc_pipe_call(pipe_name, method, request, &result);
    ok = check(result.grpc_status == expected &&
                   (message_part == NULL || strstr(result.grpc_message, message_part)),
               name, "expected grpc-status %d%s%s, got %d: %s", expected,
               message_part ? " naming " : "", message_part ? message_part : "", result.grpc_status,
               result.grpc_message);
    grpc_result_clear(&result);
    return ok;
}

static void free_message(void *message)
{
    if (message)
        protobuf_c_message_free_unpacked(message, NULL);
}

static bool path_exists(const char *path)
{
    return GetFileAttributesA(path) != INVALID_FILE_ATTRIBUTES;
}

static void write_file(const char *path, const char *text)
{
    FILE *file = fopen(path, "wb");

    if (file) {
        fputs(text, file);
        fclose(file);
    }
}

/* Reads a whole file into a new string, or returns NULL. */
static char *read_file(const char *path)
{
    FILE *file = fopen(path, "rb");
    char *text;
    long size;

    if (file == NULL)
        return NULL;
    fseek(file, 0, SEEK_END);
    size = ftell(file);
    fseek(file, 0, SEEK_SET);
    text = calloc(1, (size_t)size + 1);
    if (fread(text, 1, (size_t)size, file) != (size_t)size) {
        free(text);
        text = NULL;
    }
    fclose(file);
    return text;
}

/* ---- Runtime info and image -------------------------------------------------------------- */

static void test_runtime_ready(void)
{
    Runtime__V1__StatusRequest request = RUNTIME__V1__STATUS_REQUEST__INIT;
    struct grpc_result result;
    Runtime__V1__StatusResponse *response =
        call(RUNTIME "Status", &request.base, &runtime__v1__status_response__descriptor, &result);
    bool ready = false;

    check(response != NULL, "Status succeeds", "grpc-status %d: %s", result.grpc_status,
          result.grpc_message);
    for (size_t i = 0; response && response->status && i < response->status->n_conditions; i++) {
        const Runtime__V1__RuntimeCondition *condition = response->status->conditions[i];

        if (strcmp(condition->type, "RuntimeReady") == 0)
            ready = condition->status;
    }
    check(ready, "Status RuntimeReady is true", "RuntimeReady false or missing");
    free_message(response);
    grpc_result_clear(&result);
}

static bool test_pull(void)
{
    Runtime__V1__PullImageRequest request = RUNTIME__V1__PULL_IMAGE_REQUEST__INIT;
    Runtime__V1__ImageSpec spec = RUNTIME__V1__IMAGE_SPEC__INIT;
    struct grpc_result result;
    Runtime__V1__PullImageResponse *response;

    spec.image = (char *)image;
    request.image = &spec;
    response = call(IMAGES "PullImage", &request.base,
                    &runtime__v1__pull_image_response__descriptor, &result);
    check(response != NULL && response->image_ref[0] != '\0', "PullImage of the Windows image",
          "%s: grpc-status %d: %s", image, result.grpc_status, result.grpc_message);
    free_message(response);
    grpc_result_clear(&result);
    return response != NULL;
}

/* ---- Pods -------------------------------------------------------------------------------- */

/* A pod: its config with one annotation at the most, and its id. */
struct pod {
    struct pod_config sandbox;
    Runtime__V1__PodSandboxConfig__AnnotationsEntry annotation;
    Runtime__V1__PodSandboxConfig__AnnotationsEntry *annotations[1];
    char *id;
};

static void pod_init(struct pod *pod, const char *name, bool host_process)
{
    pod_config_init(&pod->sandbox, name, test_dir, host_process);
    pod->id = NULL;
}

/* Sets the pod's only annotation. */
static void pod_set_annotation(struct pod *pod, const char *key, const char *value)
{
    runtime__v1__pod_sandbox_config__annotations_entry__init(&pod->annotation);
    pod->annotation.key = (char *)key;
    pod->annotation.value = (char *)value;
    pod->annotations[0] = &pod->annotation;
    pod->sandbox.config.annotations = pod->annotations;
    pod->sandbox.config.n_annotations = 1;
}

static void test_non_host_process_pod_rejected(void)
{
    Runtime__V1__RunPodSandboxRequest request = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
    struct pod pod;

    pod_init(&pod, "not-host-process", false);
    request.config = &pod.sandbox.config;
    call_expecting(RUNTIME "RunPodSandbox", &request.base, GRPC_FAILED_PRECONDITION,
                   "RunPodSandbox rejects a pod without host_process", "hostProcess");
}

static bool run_pod(struct pod *pod)
{
    Runtime__V1__RunPodSandboxRequest request = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
    Runtime__V1__RunPodSandboxResponse *response;
    struct grpc_result result;

    request.config = &pod->sandbox.config;
    response = call(RUNTIME "RunPodSandbox", &request.base,
                    &runtime__v1__run_pod_sandbox_response__descriptor, &result);
    check(response != NULL, "RunPodSandbox of a HostProcess pod", "grpc-status %d: %s",
          result.grpc_status, result.grpc_message);
    if (response)
        pod->id = strdup(response->pod_sandbox_id);
    free_message(response);
    grpc_result_clear(&result);
    return pod->id != NULL;
}

static void test_pod_status(const struct pod *pod)
{
    Runtime__V1__PodSandboxStatusRequest request = RUNTIME__V1__POD_SANDBOX_STATUS_REQUEST__INIT;
    Runtime__V1__PodSandboxStatusResponse *response;
    struct grpc_result result;

    request.pod_sandbox_id = pod->id;
    response = call(RUNTIME "PodSandboxStatus", &request.base,
                    &runtime__v1__pod_sandbox_status_response__descriptor, &result);
    check(response && response->status &&
              response->status->state == RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY,
          "PodSandboxStatus is READY", "grpc-status %d: %s", result.grpc_status,
          result.grpc_message);
    free_message(response);
    grpc_result_clear(&result);
}

/* Stops and removes pod, checking the calls as "StopPodSandbox<suffix>" and
 * "RemovePodSandbox<suffix>". */
static void stop_and_remove_pod_as(const struct pod *pod, const char *suffix)
{
    Runtime__V1__StopPodSandboxRequest stop = RUNTIME__V1__STOP_POD_SANDBOX_REQUEST__INIT;
    Runtime__V1__RemovePodSandboxRequest remove = RUNTIME__V1__REMOVE_POD_SANDBOX_REQUEST__INIT;
    char name[160];

    stop.pod_sandbox_id = pod->id;
    remove.pod_sandbox_id = pod->id;
    snprintf(name, sizeof(name), "StopPodSandbox%s", suffix);
    call_expecting(RUNTIME "StopPodSandbox", &stop.base, GRPC_OK, name, NULL);
    snprintf(name, sizeof(name), "RemovePodSandbox%s", suffix);
    call_expecting(RUNTIME "RemovePodSandbox", &remove.base, GRPC_OK, name, NULL);
}

/* Stops and removes a pod that runs beside the main pod, naming it in the checks. */
static void remove_pod(const struct pod *pod)
{
    char suffix[128];

    snprintf(suffix, sizeof(suffix), " %s", pod->sandbox.metadata.name);
    stop_and_remove_pod_as(pod, suffix);
}

/* Stops and removes the main pod and checks that no pod is left. */
static void stop_and_remove_pod(const struct pod *pod)
{
    Runtime__V1__ListPodSandboxRequest list = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
    Runtime__V1__ListPodSandboxResponse *response;
    struct grpc_result result;

    stop_and_remove_pod_as(pod, "");
    response = call(RUNTIME "ListPodSandbox", &list.base,
                    &runtime__v1__list_pod_sandbox_response__descriptor, &result);
    check(response && response->n_items == 0, "ListPodSandbox is empty after the removal",
          "grpc-status %d, %zu items", result.grpc_status, response ? response->n_items : 0);
    free_message(response);
    grpc_result_clear(&result);
}

/* ---- Containers -------------------------------------------------------------------------- */

/* A container: its config with one environment variable and one mount at the most, and its id. */
struct container {
    struct container_config spec;
    Runtime__V1__KeyValue env;
    Runtime__V1__KeyValue *envs[1];
    Runtime__V1__Mount mount;
    Runtime__V1__Mount *mounts[1];
    char *id;
};

static void container_init(struct container *c, const char *name, char **command, size_t n_command)
{
    container_config_init(&c->spec, name, image, command, n_command);
    c->id = NULL;
}

static void container_set_env(struct container *c, const char *key, const char *value)
{
    runtime__v1__key_value__init(&c->env);
    c->env.key = (char *)key;
    c->env.value.data = (uint8_t *)value;
    c->env.value.len = strlen(value);
    c->envs[0] = &c->env;
    c->spec.config.envs = c->envs;
    c->spec.config.n_envs = 1;
}

static void container_set_mount(struct container *c, const char *host_path,
                                const char *container_path)
{
    runtime__v1__mount__init(&c->mount);
    c->mount.host_path = (char *)host_path;
    c->mount.container_path = (char *)container_path;
    c->mounts[0] = &c->mount;
    c->spec.config.mounts = c->mounts;
    c->spec.config.n_mounts = 1;
}

/* CreateContainer with the expected status; on success c->id is the new container's id. */
static bool create_container(const struct pod *pod, struct container *c, int expected,
                             const char *name, const char *message_part)
{
    Runtime__V1__CreateContainerRequest request = RUNTIME__V1__CREATE_CONTAINER_REQUEST__INIT;
    Runtime__V1__CreateContainerResponse *response;
    struct grpc_result result;

    request.pod_sandbox_id = pod->id;
    request.config = &c->spec.config;
    request.sandbox_config = (Runtime__V1__PodSandboxConfig *)&pod->sandbox.config;
    response = call(RUNTIME "CreateContainer", &request.base,
                    &runtime__v1__create_container_response__descriptor, &result);
    check(result.grpc_status == expected &&
              (message_part == NULL || strstr(result.grpc_message, message_part)),
          name, "expected grpc-status %d, got %d: %s", expected, result.grpc_status,
          result.grpc_message);
    if (response)
        c->id = strdup(response->container_id);
    free_message(response);
    grpc_result_clear(&result);
    return c->id != NULL;
}

static bool start_container(const struct container *c, int expected, const char *name,
                            const char *message_part)
{
    Runtime__V1__StartContainerRequest request = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;

    request.container_id = c->id;
    return call_expecting(RUNTIME "StartContainer", &request.base, expected, name, message_part);
}

/* Why Wine fails a StartContainer with a volume mount: the daemon links the mount. */
#define WINE_NO_LINKS "Wine 8 creates neither junctions nor symbolic links"

/*
 * Starts c and checks under name that it started. Under Wine, a failure whose message contains
 * wine_marker is instead the expected failure xfail_name with wine_reason. Returns whether c
 * started.
 */
static bool start_container_unless_wine(const struct container *c, const char *name,
                                        const char *xfail_name, const char *wine_marker,
                                        const char *wine_reason)
{
    Runtime__V1__StartContainerRequest request = RUNTIME__V1__START_CONTAINER_REQUEST__INIT;
    struct grpc_result result;
    bool started;

    request.container_id = c->id;
    grpc_pipe_call(pipe_name, RUNTIME "StartContainer", &request.base, &result);
    started = result.grpc_status == GRPC_OK;
    if (!started && checks_under_wine() && strstr(result.grpc_message, wine_marker))
        expected_failure(xfail_name, wine_reason);
    else
        check(started, name, "grpc-status %d: %s", result.grpc_status, result.grpc_message);
    grpc_result_clear(&result);
    return started;
}

/* Creates the directory <test_dir>\<name> with the file marker.txt, a volume mount's source. */
static void make_mount_source(const char *name, char *data_dir, size_t data_dir_size, char *marker,
                              size_t marker_size)
{
    snprintf(data_dir, data_dir_size, "%s\\%s", test_dir, name);
    snprintf(marker, marker_size, "%s\\marker.txt", data_dir);
    CreateDirectoryA(data_dir, NULL);
    write_file(marker, "kept\r\n");
}

/* ContainerStatus of c, or NULL when the call fails. */
static Runtime__V1__ContainerStatusResponse *container_status(const struct container *c)
{
    Runtime__V1__ContainerStatusRequest request = RUNTIME__V1__CONTAINER_STATUS_REQUEST__INIT;
    struct grpc_result result;
    Runtime__V1__ContainerStatusResponse *response;

    request.container_id = c->id;
    response = call(RUNTIME "ContainerStatus", &request.base,
                    &runtime__v1__container_status_response__descriptor, &result);
    grpc_result_clear(&result);
    return response && response->status ? response : NULL;
}

/* Waits for c to exit on its own. Returns its exit code, or -1000 when it did not exit. */
static int wait_for_exit(const struct container *c, char *reason, size_t reason_size)
{
    for (int step = 0; step < EXIT_WAIT_STEPS; step++) {
        Runtime__V1__ContainerStatusResponse *response = container_status(c);
        bool exited =
            response && response->status->state == RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED;
        int exit_code = exited ? response->status->exit_code : 0;

        if (exited && reason)
            snprintf(reason, reason_size, "%s", response->status->reason);
        free_message(response);
        if (exited)
            return exit_code;
        Sleep(100);
    }
    return -1000;
}

static void stop_container(const struct container *c, int64_t timeout, const char *name)
{
    Runtime__V1__StopContainerRequest request = RUNTIME__V1__STOP_CONTAINER_REQUEST__INIT;

    request.container_id = c->id;
    request.timeout = timeout;
    call_expecting(RUNTIME "StopContainer", &request.base, GRPC_OK, name, NULL);
}

/* Removes c and checks that its root file system directory under root went with it. */
static void remove_container_at(const struct container *c, const char *root)
{
    Runtime__V1__RemoveContainerRequest request = RUNTIME__V1__REMOVE_CONTAINER_REQUEST__INIT;
    char rootfs[MAX_PATH];
    char name[128];

    request.container_id = c->id;
    snprintf(name, sizeof(name), "RemoveContainer %s", c->spec.metadata.name);
    call_expecting(RUNTIME "RemoveContainer", &request.base, GRPC_OK, name, NULL);
    snprintf(rootfs, sizeof(rootfs), "%s\\%s", root, c->id);
    snprintf(name, sizeof(name), "RemoveContainer %s removes its root file system",
             c->spec.metadata.name);
    check(!path_exists(rootfs), name, "%s still exists", rootfs);
}

/* Removes c and checks that its root file system directory in the default root went with it. */
static void remove_container(const struct container *c)
{
    remove_container_at(c, rootfs_root);
}

/* Runs a container to its end and checks its exit code. */
static void run_to_exit(const struct pod *pod, struct container *c, int expected_code,
                        const char *name)
{
    char check_name[160];
    int code;

    snprintf(check_name, sizeof(check_name), "CreateContainer %s", c->spec.metadata.name);
    if (!create_container(pod, c, GRPC_OK, check_name, NULL))
        return;
    snprintf(check_name, sizeof(check_name), "StartContainer %s", c->spec.metadata.name);
    if (!start_container(c, GRPC_OK, check_name, NULL))
        return;
    code = wait_for_exit(c, NULL, 0);
    check(code == expected_code, name, "exit code %d, expected %d", code, expected_code);
}

/* Reads the CRI log of c into a new string, or returns NULL. path gets the log's path. */
static char *read_container_log(const struct pod *pod, const struct container *c, char *path,
                                size_t path_size)
{
    snprintf(path, path_size, "%s\\%s", pod->sandbox.log_directory, c->spec.log_path);
    return read_file(path);
}

/* Checks that the CRI log holds the full stdout record "<time> stdout F <text>". */
static void check_log(const struct pod *pod, const struct container *c, const char *text)
{
    char path[MAX_PATH * 2];
    char expected[256];
    char *log;

    log = read_container_log(pod, c, path, sizeof(path));
    if (!check(log != NULL, "CRI log of cmd /c echo hello exists", "no file %s", path))
        return;
    snprintf(expected, sizeof(expected), " stdout F %s\n", text);
    check(strstr(log, expected) != NULL, "CRI log of cmd /c echo hello", "%s holds \"%s\"", path,
          log);
    free(log);
}

static void test_rejected_containers(const struct pod *pod)
{
    static char *command[] = {"cmd", "/c", "exit 0"};
    struct container plain;
    struct container pipe_mount;

    container_init(&plain, "not-host-process", command, 3);
    plain.spec.security_context.host_process = false;
    create_container(pod, &plain, GRPC_INVALID_ARGUMENT,
                     "CreateContainer rejects a container without host_process", "host_process");
    container_init(&pipe_mount, "pipe-mount", command, 3);
    container_set_mount(&pipe_mount, "\\\\.\\pipe\\docker_engine", "C:\\pipe");
    create_container(pod, &pipe_mount, GRPC_INVALID_ARGUMENT,
                     "CreateContainer rejects a named pipe mount", "named pipe");
}

static void test_hello(const struct pod *pod)
{
    static char *command[] = {"cmd", "/c", "echo hello"};
    struct container c;

    container_init(&c, "hello", command, 3);
    run_to_exit(pod, &c, 0, "cmd /c echo hello exits with 0");
    if (c.id) {
        check_log(pod, &c, "hello");
        remove_container(&c);
    }
}

/* Checks that the log of c has a full stdout record of exactly line. */
static void check_log_line(const struct pod *pod, const struct container *c, const char *line,
                           const char *name)
{
    char path[MAX_PATH * 2];
    char *expected;
    char *log;

    log = read_container_log(pod, c, path, sizeof(path));
    expected = malloc(strlen(line) + 16);
    sprintf(expected, " stdout F %s\n", line);
    check(log && strstr(log, expected), name, "no record \"%s\" in %s: %s", line, path,
          log ? log : "(no file)");
    free(expected);
    free(log);
}

/* Set in the daemon's environment by wine-runtime-checks.sh: no container may see it. */
#define DAEMON_ONLY_VARIABLE "HOSTCRI_WINE_DAEMON_ONLY"

/* Counts the stdout records of log that start with name= in any case; *value gets the last. */
static int count_variable(const char *log, const char *name, char *value, size_t value_size)
{
    size_t name_length = strlen(name);
    int count = 0;

    for (const char *p = log; p && (p = strstr(p, " stdout F ")) != NULL;) {
        const char *entry = p + strlen(" stdout F ");
        const char *end = strchr(entry, '\n');
        size_t length = end ? (size_t)(end - entry) : strlen(entry);

        p = entry;
        if (length <= name_length || _strnicmp(entry, name, name_length) != 0 ||
            entry[name_length] != '=')
            continue;
        count++;
        snprintf(value, value_size, "%.*s", (int)length, entry);
    }
    return count;
}

/*
 * Returns the system Path that CreateEnvironmentBlock starts a user's Path with, from the
 * registry with its variables expanded, or NULL.
 */
static char *system_path(void)
{
    static const char key[] = "SYSTEM\\CurrentControlSet\\Control\\Session Manager\\Environment";
    DWORD size = 0;
    char *value;

    if (RegGetValueA(HKEY_LOCAL_MACHINE, key, "Path", RRF_RT_REG_SZ, NULL, NULL, &size) !=
        ERROR_SUCCESS)
        return NULL;
    value = calloc(1, size + 1);
    if (RegGetValueA(HKEY_LOCAL_MACHINE, key, "Path", RRF_RT_REG_SZ, NULL, value, &size) !=
        ERROR_SUCCESS) {
        free(value);
        return NULL;
    }
    return value;
}

/*
 * Writes what hostcri appends to a container's PATH: ";<root file system>\;" and the system
 * folders for PowerShell and WMI under %SystemRoot%.
 */
static void format_path_suffix(const struct container *c, char *out, size_t size)
{
    const char *system_root = getenv("SystemRoot") ? getenv("SystemRoot") : "C:\\Windows";

    snprintf(out, size, ";%s\\%s\\;%s\\System32\\WindowsPowerShell\\v1.0\\;%s\\System32\\Wbem",
             rootfs_root, c->id, system_root, system_root);
}

/*
 * The environment of a container: CONTAINER_SANDBOX_MOUNT_POINT with its trailing backslash and
 * PATHEXT. The container sets no PATH, so it gets the Path of its user's default environment,
 * which starts with the system Path, followed by the root file system and the system folders.
 */
static void test_environment(const struct pod *pod)
{
    static char *command[] = {"cmd", "/c", "set CONTAINER_SANDBOX_MOUNT_POINT& set PATH"};
    char line[1024];
    char suffix[1024];
    char value[4096] = "";
    char path[MAX_PATH * 2];
    char *system = system_path();
    char *log;
    size_t value_length;
    size_t suffix_length;
    struct container c;

    container_init(&c, "environment", command, 3);
    run_to_exit(pod, &c, 0, "cmd /c set exits with 0");
    if (c.id == NULL) {
        free(system);
        return;
    }
    snprintf(line, sizeof(line), "CONTAINER_SANDBOX_MOUNT_POINT=%s\\%s\\", rootfs_root, c.id);
    check_log_line(pod, &c, line, "CONTAINER_SANDBOX_MOUNT_POINT ends with a backslash");
    check_log_line(pod, &c, "PATHEXT=.COM;.EXE;.BAT;.CMD;",
                   "PATHEXT lets extensionless programs run");
    log = read_container_log(pod, &c, path, sizeof(path));
    check(count_variable(log, "PATH", value, sizeof(value)) == 1, "PATH appears once", "log %s",
          log ? log : "(no file)");
    format_path_suffix(&c, suffix, sizeof(suffix));
    value_length = strlen(value);
    suffix_length = strlen(suffix);
    check(value_length > suffix_length && strcmp(value + value_length - suffix_length, suffix) == 0,
          "PATH ends with the root file system and system folders", "\"%s\" does not end with %s",
          value, suffix);
    check(system && strncmp(value + strlen("PATH="), system, strlen(system)) == 0,
          "PATH starts with the user's default Path",
          "\"%s\" does not start with the system Path %s", value,
          system ? system : "(not in the registry)");
    free(log);
    free(system);
    remove_container(&c);
}

/*
 * The environment of the container's user comes first: a variable that only the user's
 * default environment has (USERPROFILE) appears, one that only the daemon has does not. A
 * name given twice in different case (Path, then PATH) appears once with the later value,
 * extended like any PATH (hcsshim's Test_RunContainer_JobContainer_Environment).
 */
static void test_user_environment(const struct pod *pod)
{
    static char *command[] = {"cmd", "/c", "set"};
    Runtime__V1__KeyValue envs[2];
    Runtime__V1__KeyValue *env_list[2] = {&envs[0], &envs[1]};
    const char *keys[2] = {"Path", "PATH"};
    const char *values[2] = {"C:\\image-path", "C:\\Windows\\system32;C:\\Windows"};
    char suffix[1024];
    char expected[1100];
    char value[4096] = "";
    char path[MAX_PATH * 2];
    struct container c;
    char *log;
    int count;

    container_init(&c, "user-environment", command, 3);
    for (size_t i = 0; i < 2; i++) {
        runtime__v1__key_value__init(&envs[i]);
        envs[i].key = (char *)keys[i];
        envs[i].value.data = (uint8_t *)values[i];
        envs[i].value.len = strlen(values[i]);
    }
    c.spec.config.envs = env_list;
    c.spec.config.n_envs = 2;
    run_to_exit(pod, &c, 0, "cmd /c set with the user's environment exits with 0");
    if (c.id == NULL)
        return;
    log = read_container_log(pod, &c, path, sizeof(path));
    check(count_variable(log, "USERPROFILE", value, sizeof(value)) == 1,
          "the user's default environment gives USERPROFILE", "no USERPROFILE in %s: %s", path,
          log ? log : "(no file)");
    check(count_variable(log, DAEMON_ONLY_VARIABLE, value, sizeof(value)) == 0,
          "the daemon's own environment stays out of the container", "%s", value);
    count = count_variable(log, "PATH", value, sizeof(value));
    format_path_suffix(&c, suffix, sizeof(suffix));
    snprintf(expected, sizeof(expected), "PATH=C:\\Windows\\system32;C:\\Windows%s", suffix);
    check(count == 1 && strcmp(value, expected) == 0,
          "Path and PATH appear once with the later value",
          "%d PATH records, last \"%s\", not \"%s\"", count, value, expected);
    free(log);
    remove_container(&c);
}

static void test_exit_code(const struct pod *pod)
{
    static char *command[] = {"cmd", "/c", "exit 3"};
    struct container c;

    container_init(&c, "exit3", command, 3);
    run_to_exit(pod, &c, 3, "cmd /c exit 3 exits with 3");
    if (c.id)
        remove_container(&c);
}

/*
 * The image's files are under %CONTAINER_SANDBOX_MOUNT_POINT%: found through the substituted
 * command and through an environment value with the $env: form.
 */
static void test_rootfs(const struct pod *pod)
{
    static char *command[] = {"cmd", "/c",
                              "if exist %CONTAINER_SANDBOX_MOUNT_POINT%\\hostcri-test\\hello.txt "
                              "(if exist %FILES%\\hello.cmd (exit 0) else (exit 8)) else (exit 7)"};
    struct container c;

    container_init(&c, "rootfs", command, 3);
    container_set_env(&c, "FILES", "$env:CONTAINER_SANDBOX_MOUNT_POINT\\hostcri-test");
    run_to_exit(pod, &c, 0, "image files are under CONTAINER_SANDBOX_MOUNT_POINT");
    if (c.id)
        remove_container(&c);
}

/* A volume mount appears at <rootfs>\<container path>, linked to its host directory. */
static void test_mount_link(const struct pod *pod)
{
    static char *command[] = {
        "cmd", "/c",
        "if exist %CONTAINER_SANDBOX_MOUNT_POINT%\\data\\marker.txt (exit 0) else (exit 9)"};
    char data_dir[MAX_PATH];
    char marker[MAX_PATH + 16];
    struct container c;
    int code;

    make_mount_source("data", data_dir, sizeof(data_dir), marker, sizeof(marker));
    container_init(&c, "mount", command, 3);
    container_set_mount(&c, data_dir, "C:\\data");
    if (!create_container(pod, &c, GRPC_OK, "CreateContainer mount", NULL))
        return;
    if (start_container_unless_wine(&c, "StartContainer mount",
                                    "mount linked under CONTAINER_SANDBOX_MOUNT_POINT", "link",
                                    WINE_NO_LINKS)) {
        code = wait_for_exit(&c, NULL, 0);
        check(code == 0, "mount linked under CONTAINER_SANDBOX_MOUNT_POINT", "exit code %d", code);
    }
    remove_container(&c);
    check(path_exists(marker), "RemoveContainer leaves the mount source alone", "%s is gone",
          marker);
}

/*
 * The kubelet's Windows limits reach the job: a memory limit alone, then with cpu_maximum, which
 * Wine's job objects reject.
 */
static void test_resources(const struct pod *pod)
{
    static char *command[] = {"cmd", "/c", "exit 0"};
    Runtime__V1__WindowsContainerResources resources =
        RUNTIME__V1__WINDOWS_CONTAINER_RESOURCES__INIT;
    struct container c;
    int code;

    resources.memory_limit_in_bytes = 256 * 1024 * 1024;
    container_init(&c, "memory-limit", command, 3);
    c.spec.windows.resources = &resources;
    run_to_exit(pod, &c, 0, "container with a memory limit exits with 0");
    if (c.id)
        remove_container(&c);

    resources.cpu_maximum = 5000;
    container_init(&c, "cpu-limit", command, 3);
    c.spec.windows.resources = &resources;
    if (!create_container(pod, &c, GRPC_OK, "CreateContainer cpu-limit", NULL))
        return;
    if (start_container_unless_wine(
            &c, "container with cpu_maximum 5000 starts", "container with cpu_maximum 5000 starts",
            "CPU rate",
            "Wine's SetInformationJobObject rejects JobObjectCpuRateControlInformation")) {
        code = wait_for_exit(&c, NULL, 0);
        check(code == 0, "container with cpu_maximum 5000 exits with 0", "exit code %d", code);
    }
    remove_container(&c);
}

static void test_missing_program(const struct pod *pod)
{
    static char *command[] = {"no-such-program.exe"};
    struct container c;
    char reason[64] = "";

    container_init(&c, "missing-program", command, 1);
    if (!create_container(pod, &c, GRPC_OK, "CreateContainer missing-program", NULL))
        return;
    start_container(&c, GRPC_NOT_FOUND, "StartContainer fails for a missing program",
                    "no-such-program.exe");
    wait_for_exit(&c, reason, sizeof(reason));
    check(strcmp(reason, "StartError") == 0, "missing program leaves reason StartError",
          "reason \"%s\"", reason);
    remove_container(&c);
}

/* Reads "<parent pid> <child pid>" from the tree's pid file, waiting for it to appear. */
static bool read_tree_pids(const char *pid_file, unsigned long pids[2])
{
    for (int step = 0; step < EXIT_WAIT_STEPS; step++) {
        char *text = read_file(pid_file);
        bool ok = text && sscanf(text, "%lu %lu", &pids[0], &pids[1]) == 2;

        free(text);
        if (ok)
            return true;
        Sleep(100);
    }
    return false;
}

static bool process_gone(unsigned long pid)
{
    HANDLE process = OpenProcess(SYNCHRONIZE, FALSE, (DWORD)pid);
    bool gone;

    if (process == NULL)
        return true;
    gone = WaitForSingleObject(process, 10000) == WAIT_OBJECT_0;
    CloseHandle(process);
    return gone;
}

/* Runs cmd in c with ExecSync and a 30 s timeout. Returns the response, or NULL when the call
 * failed. *result has the call's status either way. */
static Runtime__V1__ExecSyncResponse *exec_sync(const struct container *c, char **cmd, size_t n_cmd,
                                                struct grpc_result *result)
{
    Runtime__V1__ExecSyncRequest request = RUNTIME__V1__EXEC_SYNC_REQUEST__INIT;

    request.container_id = c->id;
    request.cmd = cmd;
    request.n_cmd = n_cmd;
    request.timeout = 30;
    return call(RUNTIME "ExecSync", &request.base, &runtime__v1__exec_sync_response__descriptor,
                result);
}

static void test_exec_sync(const struct container *c)
{
    Runtime__V1__ExecRequest exec = RUNTIME__V1__EXEC_REQUEST__INIT;
    static char *cmd[] = {"cmd", "/c", "echo exec"};
    struct grpc_result result;
    Runtime__V1__ExecSyncResponse *response = exec_sync(c, cmd, 3, &result);

    if (result.grpc_status == GRPC_UNIMPLEMENTED) {
        expected_failure("ExecSync cmd /c echo exec",
                         "the job-object backend has no exec yet (UNIMPLEMENTED)");
    } else {
        check(response && response->exit_code == 0 && response->stdout.len == 6 &&
                  memcmp(response->stdout.data, "exec\r\n", 6) == 0,
              "ExecSync cmd /c echo exec", "grpc-status %d: %s", result.grpc_status,
              result.grpc_message);
    }
    free_message(response);
    grpc_result_clear(&result);

    exec.container_id = c->id;
    exec.cmd = cmd;
    exec.n_cmd = 3;
    exec.stdout = true;
    /* streaming_client.c speaks to the URL. */
    call_expecting(RUNTIME "Exec", &exec.base, GRPC_OK, "Exec issues a streaming URL", NULL);
}

/* An exec runs with the same user's default environment as the init process. */
static void test_exec_environment(const struct container *c)
{
    static char *cmd[] = {"cmd", "/c", "set"};
    struct grpc_result result;
    Runtime__V1__ExecSyncResponse *response = exec_sync(c, cmd, 3, &result);
    char *output = NULL;
    char line[MAX_PATH + 80];

    if (response && response->exit_code == 0) {
        output = calloc(1, response->stdout.len + 2);
        output[0] = '\n';
        memcpy(output + 1, response->stdout.data, response->stdout.len);
    }
    check(output && strstr(output, "\nUSERPROFILE=") != NULL,
          "ExecSync gets the user's default environment", "grpc-status %d: %s, output %s",
          result.grpc_status, result.grpc_message, output ? output : "(none)");
    snprintf(line, sizeof(line), "\n%s=", DAEMON_ONLY_VARIABLE);
    check(output && strstr(output, line) == NULL,
          "ExecSync does not see the daemon's own environment", "output %s",
          output ? output : "(none)");
    snprintf(line, sizeof(line), ";%s\\%s\\;", rootfs_root, c->id);
    check(output && strstr(output, line) != NULL,
          "ExecSync gets the user's Path with the root file system", "no %s in %s", line,
          output ? output : "(none)");
    free(output);
    free_message(response);
    grpc_result_clear(&result);
}

/* StopContainer ends every process of the container's job, a child process included. */
static void test_tree_kill(const struct pod *pod)
{
    char pid_file[MAX_PATH];
    char *command[] = {self_path, "tree", pid_file};
    unsigned long pids[2];
    struct container c;

    snprintf(pid_file, sizeof(pid_file), "%s\\tree.pid", test_dir);
    container_init(&c, "tree", command, 3);
    if (!create_container(pod, &c, GRPC_OK, "CreateContainer tree", NULL) ||
        !start_container(&c, GRPC_OK, "StartContainer tree", NULL))
        return;
    if (check(read_tree_pids(pid_file, pids), "process tree starts in the container",
              "no pid file %s", pid_file)) {
        test_exec_sync(&c);
        test_exec_environment(&c);
        stop_container(&c, 0, "StopContainer of the process tree");
        check(wait_for_exit(&c, NULL, 0) != -1000, "the process tree's container exits",
              "still running after StopContainer");
        check(process_gone(pids[0]), "StopContainer ends the tree's parent process",
              "pid %lu still runs", pids[0]);
        check(process_gone(pids[1]), "StopContainer ends the tree's child process",
              "pid %lu still runs", pids[1]);
    }
    remove_container(&c);
}

/* ---- Pod annotations --------------------------------------------------------------------- */

#define INHERIT_USER_ANNOTATION "microsoft.com/hostprocess-inherit-user"
#define ROOTFS_LOCATION_ANNOTATION "microsoft.com/hostprocess-rootfs-location"
#define UNKNOWN_USER "hostcri-no-such-user"

/* Runs cmd in c with ExecSync. Returns its stdout as a new string, or NULL when the call
 * failed; *exit_code is the process's exit code. */
static char *exec_sync_output(const struct container *c, char **cmd, size_t n_cmd, int *exit_code)
{
    struct grpc_result result;
    Runtime__V1__ExecSyncResponse *response = exec_sync(c, cmd, n_cmd, &result);
    char *output = NULL;

    *exit_code = response ? response->exit_code : -1000;
    if (response) {
        output = calloc(1, response->stdout.len + 1);
        memcpy(output, response->stdout.data, response->stdout.len);
    }
    free_message(response);
    grpc_result_clear(&result);
    return output;
}

static void test_rootfs_location_rejected(void)
{
    Runtime__V1__RunPodSandboxRequest request = RUNTIME__V1__RUN_POD_SANDBOX_REQUEST__INIT;
    static const char *const values[] = {"relative\\pods", "\\\\server\\share\\pods",
                                         "C:\\pods\\..\\Windows"};
    char name[160];
    struct pod pod;

    for (size_t i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
        pod_init(&pod, "bad-rootfs-location", true);
        pod_set_annotation(&pod, ROOTFS_LOCATION_ANNOTATION, values[i]);
        request.config = &pod.sandbox.config;
        snprintf(name, sizeof(name), "RunPodSandbox rejects rootfs-location %s", values[i]);
        call_expecting(RUNTIME "RunPodSandbox", &request.base, GRPC_INVALID_ARGUMENT, name,
                       ROOTFS_LOCATION_ANNOTATION);
    }
}

/*
 * A container of a pod with rootfs-location gets its files, CONTAINER_SANDBOX_MOUNT_POINT,
 * working directory and PATH under <location>\<id>, and RemoveContainer removes only that
 * folder.
 */
static void test_rootfs_location_container(const struct pod *pod, const char *location)
{
    static char *command[] = {
        "cmd", "/c",
        "echo mount=%CONTAINER_SANDBOX_MOUNT_POINT%& set CONTAINER_SANDBOX_MOUNT_POINT& cd& "
        "set PATH& "
        "if exist %CONTAINER_SANDBOX_MOUNT_POINT%\\hostcri-test\\hello.txt (echo image files "
        "found)"};
    char rootfs[MAX_PATH];
    char line[MAX_PATH + 64];
    char path[MAX_PATH * 2];
    char value[4096] = "";
    char *log;
    struct container c;

    container_init(&c, "location-echo", command, 3);
    run_to_exit(pod, &c, 0, "container under rootfs-location exits with 0");
    if (c.id == NULL)
        return;
    snprintf(rootfs, sizeof(rootfs), "%s\\%s", location, c.id);
    snprintf(line, sizeof(line), "mount=%s", rootfs);
    check_log_line(pod, &c, line, "echo %CONTAINER_SANDBOX_MOUNT_POINT% prints <location>\\<id>");
    check_log_line(pod, &c, rootfs, "working directory is <location>\\<id>");
    snprintf(line, sizeof(line), "CONTAINER_SANDBOX_MOUNT_POINT=%s\\", rootfs);
    check_log_line(pod, &c, line, "CONTAINER_SANDBOX_MOUNT_POINT is <location>\\<id>\\");
    check_log_line(pod, &c, "image files found", "image files are under <location>\\<id>");
    log = read_container_log(pod, &c, path, sizeof(path));
    snprintf(line, sizeof(line), ";%s\\;", rootfs);
    count_variable(log, "PATH", value, sizeof(value));
    check(strstr(value, line) != NULL, "PATH has <location>\\<id>\\", "%s lacks %s", value, line);
    free(log);
    snprintf(path, sizeof(path), "%s\\hostcri-test\\hello.txt", rootfs);
    check(path_exists(path), "rootfs-location folder keeps the files until removal", "no %s", path);

    remove_container_at(&c, location);
    check(path_exists(location), "RemoveContainer keeps the rootfs-location folder", "%s is gone",
          location);
}

/* A <location>\<id> folder that hostcri did not create fails the start and stays. */
static void test_rootfs_location_foreign(const struct pod *pod, const char *location)
{
    static char *command[] = {"cmd", "/c", "exit 0"};
    Runtime__V1__RemoveContainerRequest remove = RUNTIME__V1__REMOVE_CONTAINER_REQUEST__INIT;
    char rootfs[MAX_PATH];
    char marker[MAX_PATH + 16];
    struct container c;

    container_init(&c, "location-foreign", command, 3);
    if (!create_container(pod, &c, GRPC_OK, "CreateContainer location-foreign", NULL))
        return;
    snprintf(rootfs, sizeof(rootfs), "%s\\%s", location, c.id);
    snprintf(marker, sizeof(marker), "%s\\mine.txt", rootfs);
    CreateDirectoryA(rootfs, NULL);
    write_file(marker, "not hostcri's\r\n");
    start_container(&c, GRPC_FAILED_PRECONDITION,
                    "StartContainer fails on a folder hostcri did not create", "already exists");
    remove.container_id = c.id;
    call_expecting(RUNTIME "RemoveContainer", &remove.base, GRPC_OK,
                   "RemoveContainer location-foreign", NULL);
    check(path_exists(marker), "RemoveContainer leaves a folder hostcri did not create",
          "%s is gone", marker);
    DeleteFileA(marker);
    RemoveDirectoryA(rootfs);
}

static void test_rootfs_location(void)
{
    char location[MAX_PATH];
    struct pod pod;

    test_rootfs_location_rejected();
    snprintf(location, sizeof(location), "%s\\pods", test_dir);
    pod_init(&pod, "rootfs-location", true);
    pod_set_annotation(&pod, ROOTFS_LOCATION_ANNOTATION, location);
    if (!run_pod(&pod))
        return;
    check(!path_exists(location), "rootfs-location folder is made only at the first start",
          "%s exists", location);
    test_rootfs_location_container(&pod, location);
    test_rootfs_location_foreign(&pod, location);
    remove_pod(&pod);
    free(pod.id);
}

/* Without the inherit-user annotation, an unknown user fails the start. */
static void test_unknown_user(const struct pod *pod)
{
    static char *command[] = {"cmd", "/c", "exit 0"};
    struct container c;

    container_init(&c, "unknown-user", command, 3);
    c.spec.security_context.run_as_username = UNKNOWN_USER;
    if (!create_container(pod, &c, GRPC_OK, "CreateContainer unknown-user", NULL))
        return;
    start_container(&c, GRPC_NOT_FOUND, "StartContainer fails for an unknown user", UNKNOWN_USER);
    remove_container(&c);
}

/*
 * With inherit-user "true" the same unknown user is ignored: the container and its exec run as
 * the daemon's own user.
 */
static void test_inherit_user(void)
{
    static char *exec_command[] = {"cmd", "/c", "echo exec"};
    char *command[] = {self_path, "sleep"};
    struct container c;
    struct pod pod;
    char *output;
    int code;

    pod_init(&pod, "inherit-user", true);
    pod_set_annotation(&pod, INHERIT_USER_ANNOTATION, "true");
    if (!run_pod(&pod))
        return;
    container_init(&c, "inherit-user", command, 2);
    c.spec.security_context.run_as_username = UNKNOWN_USER;
    if (create_container(&pod, &c, GRPC_OK, "CreateContainer inherit-user", NULL) &&
        start_container(&c, GRPC_OK, "inherit-user ignores the unknown user name", NULL)) {
        output = exec_sync_output(&c, exec_command, 3, &code);
        check(output && code == 0 && strcmp(output, "exec\r\n") == 0,
              "ExecSync runs in an inherit-user container", "exit code %d, output %s", code,
              output ? output : "(none)");
        free(output);
        stop_container(&c, 0, "StopContainer inherit-user");
        wait_for_exit(&c, NULL, 0);
    }
    if (c.id)
        remove_container(&c);
    remove_pod(&pod);
    free(pod.id);
}

/* ---- Root file systems after a daemon was killed ------------------------------------------ */

/*
 * Creates the containers whose folders the daemon must find after wine-runtime-checks.sh killed
 * it, and prints "ID <name> <container id>" for each: in a pod without annotations "lost",
 * "lost-running" (still running when the daemon is killed), "lost-mount" (with a volume mount
 * linked under its root file system) and "kept"; "lost-location" in a pod with rootfs-location
 * <test_dir>\crash-pods.
 */
static int run_crash_setup(void)
{
    static char *exit_command[] = {"cmd", "/c", "exit 0"};
    char *sleep_command[] = {self_path, "sleep"};
    static const char *const exited[] = {"lost", "kept"};
    char location[MAX_PATH];
    char data_dir[MAX_PATH];
    char marker[MAX_PATH + 16];
    char name[64];
    struct pod pod;
    struct pod location_pod;
    struct container c;

    if (!test_pull())
        return checks_finish();
    pod_init(&pod, "crash", true);
    snprintf(location, sizeof(location), "%s\\crash-pods", test_dir);
    pod_init(&location_pod, "crash-location", true);
    pod_set_annotation(&location_pod, ROOTFS_LOCATION_ANNOTATION, location);
    if (!run_pod(&pod) || !run_pod(&location_pod))
        return checks_finish();
    for (size_t i = 0; i < 2; i++) {
        snprintf(name, sizeof(name), "%s exits with 0", exited[i]);
        container_init(&c, exited[i], exit_command, 3);
        run_to_exit(&pod, &c, 0, name);
        if (c.id)
            printf("ID %s %s\n", exited[i], c.id);
    }
    container_init(&c, "lost-location", exit_command, 3);
    run_to_exit(&location_pod, &c, 0, "lost-location exits with 0");
    if (c.id)
        printf("ID lost-location %s\n", c.id);
    container_init(&c, "lost-running", sleep_command, 2);
    if (create_container(&pod, &c, GRPC_OK, "CreateContainer lost-running", NULL) &&
        start_container(&c, GRPC_OK, "StartContainer lost-running", NULL))
        printf("ID lost-running %s\n", c.id);

    make_mount_source("crash-data", data_dir, sizeof(data_dir), marker, sizeof(marker));
    container_init(&c, "lost-mount", exit_command, 3);
    container_set_mount(&c, data_dir, "C:\\data");
    if (!create_container(&pod, &c, GRPC_OK, "CreateContainer lost-mount", NULL))
        return checks_finish();
    start_container_unless_wine(&c, "StartContainer lost-mount links the volume",
                                "StartContainer lost-mount links the volume", "link",
                                WINE_NO_LINKS);
    wait_for_exit(&c, NULL, 0);
    printf("ID lost-mount %s\n", c.id);
    return checks_finish();
}

/*
 * After the restart: the container "kept" (id kept_id) is still listed with its root file
 * system, the volume source of "lost-mount" kept its file, and removing every pod removes the
 * kept folder too.
 */
static int run_crash_finish(const char *kept_id)
{
    Runtime__V1__ListPodSandboxRequest list = RUNTIME__V1__LIST_POD_SANDBOX_REQUEST__INIT;
    Runtime__V1__ListPodSandboxResponse *pods;
    struct grpc_result result;
    struct container kept;
    struct pod pod;
    char rootfs[MAX_PATH];
    char marker[MAX_PATH + 32];
    Runtime__V1__ContainerStatusResponse *status;

    container_init(&kept, "kept", NULL, 0);
    kept.id = (char *)kept_id;
    status = container_status(&kept);
    check(status != NULL, "the container whose record stayed is still listed", "no status for %s",
          kept_id);
    free_message(status);
    snprintf(rootfs, sizeof(rootfs), "%s\\%s", rootfs_root, kept_id);
    check(path_exists(rootfs), "the root file system whose record stayed is kept", "%s is gone",
          rootfs);
    snprintf(marker, sizeof(marker), "%s\\crash-data\\marker.txt", test_dir);
    check(path_exists(marker), "removing a lost root file system keeps the volume's files",
          "%s is gone", marker);

    pods = call(RUNTIME "ListPodSandbox", &list.base,
                &runtime__v1__list_pod_sandbox_response__descriptor, &result);
    grpc_result_clear(&result);
    for (size_t i = 0; pods && i < pods->n_items; i++) {
        pod_init(&pod, pods->items[i]->metadata->name, true);
        pod.id = pods->items[i]->id;
        remove_pod(&pod);
    }
    free_message(pods);
    check(!path_exists(rootfs), "RemovePodSandbox removes the kept root file system",
          "%s still exists", rootfs);
    return checks_finish();
}

static void run_all(void)
{
    struct pod pod;

    test_runtime_ready();
    if (!test_pull())
        return;
    test_non_host_process_pod_rejected();
    pod_init(&pod, "hostprocess", true);
    if (!run_pod(&pod))
        return;
    test_pod_status(&pod);
    test_rejected_containers(&pod);
    test_hello(&pod);
    test_environment(&pod);
    test_user_environment(&pod);
    test_exit_code(&pod);
    test_rootfs(&pod);
    test_mount_link(&pod);
    test_resources(&pod);
    test_missing_program(&pod);
    test_tree_kill(&pod);
    test_unknown_user(&pod);
    test_rootfs_location();
    test_inherit_user();
    stop_and_remove_pod(&pod);
    free(pod.id);
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc == 2 && strcmp(argv[1], "sleep") == 0)
        return run_sleep();
    if (argc == 3 && strcmp(argv[1], "tree") == 0)
        return run_tree(argv[2]);
    if ((argc != 5 && argc != 6) ||
        (strcmp(argv[1], "run") != 0 && strcmp(argv[1], "crash-setup") != 0 &&
         strcmp(argv[1], "crash-finish") != 0)) {
        fprintf(stderr,
                "usage: %s run|crash-setup \\\\.\\pipe\\NAME IMAGE TEST_DIR [ROOTFS_ROOT]\n"
                "       %s crash-finish \\\\.\\pipe\\NAME KEPT_ID TEST_DIR [ROOTFS_ROOT]\n",
                argv[0], argv[0]);
        return 2;
    }
    pipe_name = argv[2];
    image = argv[3];
    test_dir = argv[4];
    if (argc == 6)
        rootfs_root = argv[5];
    GetModuleFileNameA(NULL, self_path, sizeof(self_path));
    if (strcmp(argv[1], "crash-setup") == 0)
        return run_crash_setup();
    if (strcmp(argv[1], "crash-finish") == 0)
        return run_crash_finish(argv[3]);
    run_all();
    return checks_finish();
}
