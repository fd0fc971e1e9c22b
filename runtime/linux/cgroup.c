#include "runtime/linux/cgroup.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"
#include "common/strbuf.h"
#include "common/util.h"

static const char *const v1_names[CGROUP_V1_COUNT] = {
    [CGROUP_V1_CPU] = "cpu",       [CGROUP_V1_CPUACCT] = "cpuacct", [CGROUP_V1_CPUSET] = "cpuset",
    [CGROUP_V1_MEMORY] = "memory", [CGROUP_V1_PIDS] = "pids",       [CGROUP_V1_FREEZER] = "freezer",
};

/* Controllers enabled for children on v2, when the parent offers them. */
static const char *const v2_controllers[] = {"cpu", "cpuset", "memory", "pids", "io"};

static bool file_exists(const char *dir, const char *name)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);

    return access(path, F_OK) == 0;
}

static bool is_directory(const char *path)
{
    struct stat st;

    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *cgroup_layout_name(enum cgroup_layout layout)
{
    switch (layout) {
    case CGROUP_LAYOUT_V2:
        return "cgroup v2";
    case CGROUP_LAYOUT_HYBRID:
        return "hybrid";
    case CGROUP_LAYOUT_V1:
        return "cgroup v1";
    }
    return "unknown";
}

int cgroup_env_detect(const char *root, struct cgroup_env *env, struct error *err)
{
    _cleanup_free_ char *unified = xasprintf("%s/unified", root);
    bool any_v1 = false;

    memset(env, 0, sizeof(*env));
    env->root = xstrdup(root);
    if (file_exists(root, "cgroup.controllers")) {
        env->layout = CGROUP_LAYOUT_V2;
        env->unified = xstrdup(root);
        return 0;
    }
    for (int i = 0; i < CGROUP_V1_COUNT; i++) {
        _cleanup_free_ char *dir = xasprintf("%s/%s", root, v1_names[i]);

        if (is_directory(dir) && file_exists(dir, "cgroup.procs")) {
            env->v1[i] = steal_pointer(&dir);
            any_v1 = true;
        }
    }
    if (!any_v1) {
        cgroup_env_clear(env);
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "no cgroup hierarchy found under %s: neither cgroup.controllers (v2) "
                         "nor v1 controller directories",
                         root);
    }
    env->layout = CGROUP_LAYOUT_V1;
    if (file_exists(unified, "cgroup.controllers")) {
        env->layout = CGROUP_LAYOUT_HYBRID;
        env->unified = steal_pointer(&unified);
    }
    return 0;
}

void cgroup_env_clear(struct cgroup_env *env)
{
    free(env->root);
    free(env->unified);
    for (int i = 0; i < CGROUP_V1_COUNT; i++)
        free(env->v1[i]);
    memset(env, 0, sizeof(*env));
}

char *cgroup_dir(const char *hierarchy_dir, const char *path)
{
    if (str_empty(path))
        return xstrdup(hierarchy_dir);
    return xasprintf("%s/%s", hierarchy_dir, path);
}

/* ---- Control files ------------------------------------------------------------------------ */

int cgroup_read_file(const char *dir, const char *name, char **text, struct error *err)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
    _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct strbuf buf = STRBUF_INIT;
    char chunk[4096];
    ssize_t n;

    if (fd < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "open %s", path);
    while ((n = read(fd, chunk, sizeof(chunk))) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            strbuf_free(&buf);
            return error_set_errno(err, ERROR_INTERNAL, errno, "read %s", path);
        }
        strbuf_append(&buf, chunk, (size_t)n);
    }
    *text = strbuf_steal(&buf);
    return 0;
}

int cgroup_write_file(const struct cgroup_env *env, const char *dir, const char *name,
                      const char *value, struct error *err)
{
    _cleanup_free_ char *path = xasprintf("%s/%s", dir, name);
    int flags = O_WRONLY | O_CLOEXEC | (env->create_files ? O_CREAT | O_TRUNC : 0);
    _cleanup_close_ int fd = open(path, flags, 0644);
    size_t length = strlen(value);
    ssize_t n;

    if (fd < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "open %s", path);
    do {
        n = write(fd, value, length);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "write \"%s\" to %s", value, path);
    if ((size_t)n != length)
        return error_set(err, ERROR_INTERNAL, "short write of \"%s\" to %s", value, path);
    return 0;
}

int cgroup_parse_keyed(const char *text, const char *key, uint64_t *value)
{
    size_t key_length = strlen(key);
    const char *line = text;

    while (line != NULL && *line != '\0') {
        if (strncmp(line, key, key_length) == 0 && line[key_length] == ' ') {
            *value = strtoull(line + key_length + 1, NULL, 10);
            return 0;
        }
        line = strchr(line, '\n');
        if (line != NULL)
            line++;
    }
    return -1;
}

/* ---- Creating and removing ---------------------------------------------------------------- */

/* Appends a copy of dir to the NULL-terminated array *list. */
static void list_append(char ***list, const char *dir)
{
    size_t n = strv_length(*list);

    *list = xrealloc(*list, (n + 2) * sizeof(char *));
    (*list)[n] = xstrdup(dir);
    (*list)[n + 1] = NULL;
}

/* Enables in dir's subtree_control the v2 controllers that dir offers. */
static void enable_v2_controllers(const struct cgroup_env *env, const char *dir)
{
    _cleanup_free_ char *available = NULL;

    if (cgroup_read_file(dir, "cgroup.controllers", &available, NULL) < 0)
        return;
    for (size_t i = 0; i < ARRAY_SIZE(v2_controllers); i++) {
        _cleanup_free_ char *value = xasprintf("+%s", v2_controllers[i]);
        struct error err = ERROR_INIT;
        const char *found = strstr(available, v2_controllers[i]);
        size_t length = strlen(v2_controllers[i]);

        if (found == NULL || (found != available && found[-1] != ' ') ||
            (found[length] != ' ' && found[length] != '\n' && found[length] != '\0'))
            continue;
        if (cgroup_write_file(env, dir, "cgroup.subtree_control", value, &err) < 0) {
            log_warn("enable the %s controller for children of %s: %s", v2_controllers[i], dir,
                     err.message);
            error_clear(&err);
        }
    }
}

/* Copies a cpuset file from the parent of dir into dir when dir's is empty (v1). */
static int inherit_cpuset(const struct cgroup_env *env, const char *dir, const char *name,
                          struct error *err)
{
    _cleanup_free_ char *own = NULL;
    _cleanup_free_ char *parent = xstrdup(dir);
    _cleanup_free_ char *value = NULL;
    char *slash = strrchr(parent, '/');

    if (cgroup_read_file(dir, name, &own, NULL) == 0 && own[0] != '\n' && own[0] != '\0')
        return 0;
    if (slash != NULL)
        *slash = '\0';
    if (cgroup_read_file(parent, name, &value, err) < 0)
        return -1;
    return cgroup_write_file(env, dir, name, value, err);
}

/* Sets the error for a cgroup file or directory that this user may not write. */
static int not_permitted(const char *path, struct error *err)
{
    return error_set(err, ERROR_FAILED_PRECONDITION,
                     "cannot write %s: %s; run hostcri as root, or set runtime.cgroup_root to a "
                     "cgroup tree that this user may write",
                     path, strerror(errno));
}

/* Creates path below hierarchy_dir one component at a time. */
static int create_in_hierarchy(const struct cgroup_env *env, const char *hierarchy_dir,
                               const char *path, bool v2, bool leaf, bool cpuset, char ***created,
                               struct error *err)
{
    _cleanup_free_ char *dir = xstrdup(hierarchy_dir);
    _cleanup_free_ char *copy = xstrdup(path);
    char *save = NULL;

    if (v2)
        enable_v2_controllers(env, dir);
    for (char *part = strtok_r(copy, "/", &save); part; part = strtok_r(NULL, "/", &save)) {
        char *next = xasprintf("%s/%s", dir, part);

        free(dir);
        dir = next;
        if (mkdir(dir, 0755) == 0)
            list_append(created, dir);
        else if (errno == EACCES || errno == EPERM)
            return not_permitted(dir, err);
        else if (errno != EEXIST)
            return error_set_errno(err, ERROR_INTERNAL, errno, "create cgroup %s", dir);
        if (cpuset && (inherit_cpuset(env, dir, "cpuset.cpus", err) < 0 ||
                       inherit_cpuset(env, dir, "cpuset.mems", err) < 0))
            return -1;
        /* A v2 cgroup with controllers enabled for children cannot hold processes itself. */
        if (v2 && !(leaf && save != NULL && *save == '\0'))
            enable_v2_controllers(env, dir);
    }
    return 0;
}

/* True when hierarchy i is the same directory as an earlier one (a "cpu,cpuacct" mount). */
static bool v1_duplicate(const struct cgroup_env *env, int i)
{
    char real_i[PATH_MAX];

    if (realpath(env->v1[i], real_i) == NULL)
        return false;
    for (int j = 0; j < i; j++) {
        char real_j[PATH_MAX];

        if (env->v1[j] != NULL && realpath(env->v1[j], real_j) != NULL &&
            strcmp(real_i, real_j) == 0)
            return true;
    }
    return false;
}

int cgroup_create(const struct cgroup_env *env, const char *path, bool leaf, char ***created,
                  struct error *err)
{
    if (*created == NULL)
        *created = xcalloc(1, sizeof(char *));
    if (env->unified != NULL &&
        create_in_hierarchy(env, env->unified, path, env->layout == CGROUP_LAYOUT_V2, leaf, false,
                            created, err) < 0)
        return -1;
    for (int i = 0; i < CGROUP_V1_COUNT; i++) {
        if (env->v1[i] == NULL || v1_duplicate(env, i))
            continue;
        if (create_in_hierarchy(env, env->v1[i], path, false, leaf, i == CGROUP_V1_CPUSET, created,
                                err) < 0)
            return -1;
    }
    return 0;
}

int cgroup_check_writable(const struct cgroup_env *env, const char *path, struct error *err)
{
    for (int i = -1; i < CGROUP_V1_COUNT; i++) {
        const char *hierarchy_dir = i < 0 ? env->unified : env->v1[i];
        _cleanup_free_ char *dir = NULL;
        _cleanup_free_ char *procs = NULL;

        if (hierarchy_dir == NULL || (i >= 0 && v1_duplicate(env, i)))
            continue;
        dir = cgroup_dir(hierarchy_dir, path);
        procs = xasprintf("%s/cgroup.procs", dir);
        if (access(procs, W_OK) < 0)
            return not_permitted(procs, err);
    }
    return 0;
}

int cgroup_remove_created(char *const *created, struct error *err)
{
    size_t n = strv_length(created);
    int result = 0;

    for (size_t i = n; i-- > 0;) {
        if (rmdir(created[i]) == 0 || errno == ENOENT)
            continue;
        if (result == 0)
            result =
                error_set_errno(err, errno == EBUSY ? ERROR_FAILED_PRECONDITION : ERROR_INTERNAL,
                                errno, "remove cgroup %s", created[i]);
    }
    return result;
}

/* ---- Membership --------------------------------------------------------------------------- */

static int enter_hierarchies(const struct cgroup_env *env, const char *path, int pid, bool unified,
                             struct error *err)
{
    char value[24];

    snprintf(value, sizeof(value), "%d", pid);
    if (unified && env->unified != NULL) {
        _cleanup_free_ char *dir = cgroup_dir(env->unified, path);

        if (cgroup_write_file(env, dir, "cgroup.procs", value, err) < 0)
            return -1;
    }
    for (int i = 0; i < CGROUP_V1_COUNT; i++) {
        _cleanup_free_ char *dir = NULL;

        if (env->v1[i] == NULL)
            continue;
        dir = cgroup_dir(env->v1[i], path);
        if (cgroup_write_file(env, dir, "cgroup.procs", value, err) < 0)
            return -1;
    }
    return 0;
}

int cgroup_enter(const struct cgroup_env *env, const char *path, int pid, struct error *err)
{
    return enter_hierarchies(env, path, pid, true, err);
}

/* Returns true when /proc/self/cgroup puts the calling process in path on cgroup v2. */
static bool self_in_unified(const char *path)
{
    FILE *file = fopen("/proc/self/cgroup", "re");
    char line[4096];
    bool found = false;

    if (file == NULL)
        return false;
    while (fgets(line, sizeof(line), file) != NULL) {
        const char *current = line + 3;
        const char *wanted = path;

        if (strncmp(line, "0::", 3) != 0)
            continue;
        line[strcspn(line, "\n")] = '\0';
        while (*current == '/')
            current++;
        while (*wanted == '/')
            wanted++;
        found = strcmp(current, wanted) == 0;
        break;
    }
    fclose(file);
    return found;
}

int cgroup_enter_self(const struct cgroup_env *env, const char *path, struct error *err)
{
    bool unified = env->unified != NULL && !self_in_unified(path);

    return enter_hierarchies(env, path, 0, unified, err);
}

int cgroup_open_unified(const struct cgroup_env *env, const char *path, struct error *err)
{
    _cleanup_free_ char *dir = NULL;
    int fd;

    if (env->unified == NULL)
        return error_set(err, ERROR_FAILED_PRECONDITION, "no cgroup v2 hierarchy");
    dir = cgroup_dir(env->unified, path);
    fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return error_set_errno(err, ERROR_INTERNAL, errno, "open cgroup %s", dir);
    return fd;
}

/* The directory whose cgroup.procs lists the job's members. */
static char *membership_dir(const struct cgroup_env *env, const char *path)
{
    if (env->unified != NULL)
        return cgroup_dir(env->unified, path);
    if (env->v1[CGROUP_V1_FREEZER] != NULL)
        return cgroup_dir(env->v1[CGROUP_V1_FREEZER], path);
    for (int i = 0; i < CGROUP_V1_COUNT; i++) {
        if (env->v1[i] != NULL)
            return cgroup_dir(env->v1[i], path);
    }
    return NULL;
}

static int read_pids_in(const char *dir, int **pids, size_t *n_pids, struct error *err)
{
    _cleanup_free_ char *text = NULL;
    size_t count = 0;
    char *cursor;

    if (cgroup_read_file(dir, "cgroup.procs", &text, err) < 0)
        return -1;
    *pids = NULL;
    for (cursor = text; *cursor != '\0';) {
        char *end;
        long pid = strtol(cursor, &end, 10);

        if (end == cursor)
            break;
        *pids = xrealloc(*pids, (count + 1) * sizeof(int));
        (*pids)[count++] = (int)pid;
        cursor = end;
        while (*cursor == '\n')
            cursor++;
    }
    *n_pids = count;
    return 0;
}

int cgroup_read_pids(const struct cgroup_env *env, const char *path, int **pids, size_t *n_pids,
                     struct error *err)
{
    _cleanup_free_ char *dir = membership_dir(env, path);

    return read_pids_in(dir, pids, n_pids, err);
}

int cgroup_populated(const struct cgroup_env *env, const char *path, bool *populated,
                     struct error *err)
{
    _cleanup_free_ char *dir = membership_dir(env, path);
    _cleanup_free_ char *text = NULL;
    _cleanup_free_ int *pids = NULL;
    uint64_t value = 0;
    size_t n_pids = 0;

    if (env->unified != NULL) {
        if (cgroup_read_file(dir, "cgroup.events", &text, err) < 0)
            return -1;
        if (cgroup_parse_keyed(text, "populated", &value) < 0)
            return error_set(err, ERROR_INTERNAL, "no populated key in %s/cgroup.events", dir);
        *populated = value != 0;
        return 0;
    }
    if (read_pids_in(dir, &pids, &n_pids, err) < 0)
        return -1;
    *populated = n_pids > 0;
    return 0;
}

/* ---- Killing ------------------------------------------------------------------------------ */

static void sleep_ms(int ms)
{
    struct timespec delay = {ms / 1000, (long)(ms % 1000) * 1000000};

    nanosleep(&delay, NULL);
}

static int signal_pids_in(const char *dir, int signal, size_t *n_signalled, struct error *err)
{
    _cleanup_free_ int *pids = NULL;
    size_t n_pids = 0;

    if (read_pids_in(dir, &pids, &n_pids, err) < 0)
        return -1;
    for (size_t i = 0; i < n_pids; i++)
        kill(pids[i], signal);
    if (n_signalled != NULL)
        *n_signalled = n_pids;
    return 0;
}

int cgroup_signal_each(const struct cgroup_env *env, const char *path, int signal,
                       struct error *err)
{
    _cleanup_free_ char *dir = membership_dir(env, path);

    return signal_pids_in(dir, signal, NULL, err);
}

/* Freezes the v1 freezer cgroup dir, SIGKILLs every member, thaws it. */
static int kill_frozen_v1(const struct cgroup_env *env, const char *dir, struct error *err)
{
    int result = 0;

    if (cgroup_write_file(env, dir, "freezer.state", "FROZEN", err) < 0)
        return -1;
    for (int attempt = 0; attempt < 1000; attempt++) {
        _cleanup_free_ char *state = NULL;

        if (cgroup_read_file(dir, "freezer.state", &state, err) < 0) {
            result = -1;
            break;
        }
        if (str_has_prefix(state, "FROZEN"))
            break;
        sleep_ms(1);
    }
    if (result == 0)
        result = signal_pids_in(dir, SIGKILL, NULL, err);
    if (cgroup_write_file(env, dir, "freezer.state", "THAWED", result < 0 ? NULL : err) < 0)
        result = -1;
    return result;
}

/* Waits until cgroup.events of dir reports "frozen 1" (v2). */
static int wait_frozen_v2(const char *dir, struct error *err)
{
    for (int attempt = 0; attempt < 1000; attempt++) {
        _cleanup_free_ char *events = NULL;
        uint64_t frozen = 0;

        if (cgroup_read_file(dir, "cgroup.events", &events, err) < 0)
            return -1;
        if (cgroup_parse_keyed(events, "frozen", &frozen) == 0 && frozen == 1)
            return 0;
        sleep_ms(1);
    }
    return error_set(err, ERROR_INTERNAL, "cgroup %s did not freeze", dir);
}

int cgroup_kill_frozen_v2(const struct cgroup_env *env, const char *path, struct error *err)
{
    _cleanup_free_ char *dir = NULL;
    int result;

    if (env->unified == NULL)
        return error_set(err, ERROR_FAILED_PRECONDITION, "no cgroup v2 hierarchy");
    dir = cgroup_dir(env->unified, path);
    if (cgroup_write_file(env, dir, "cgroup.freeze", "1", err) < 0)
        return -1;
    result = wait_frozen_v2(dir, err);
    if (result == 0)
        result = signal_pids_in(dir, SIGKILL, NULL, err);
    /* A frozen process cannot die: thawing lets the SIGKILLs take effect. */
    if (cgroup_write_file(env, dir, "cgroup.freeze", "0", result < 0 ? NULL : err) < 0)
        result = -1;
    return result;
}

/* Without a freezer: kill the members again until none is left (new forks race the kill). */
static int kill_repeatedly(const char *dir, struct error *err)
{
    for (int pass = 0; pass < 100; pass++) {
        size_t n_signalled = 0;

        if (signal_pids_in(dir, SIGKILL, &n_signalled, err) < 0)
            return -1;
        if (n_signalled == 0)
            return 0;
        sleep_ms(10);
    }
    return error_set(err, ERROR_INTERNAL, "processes keep appearing in cgroup %s", dir);
}

int cgroup_kill(const struct cgroup_env *env, const char *path, struct error *err)
{
    if (env->unified != NULL) {
        _cleanup_free_ char *dir = cgroup_dir(env->unified, path);

        if (file_exists(dir, "cgroup.kill"))
            return cgroup_write_file(env, dir, "cgroup.kill", "1", err);
        /* Kernels 5.2 to 5.13 have the v2 freezer but not cgroup.kill. */
        if (file_exists(dir, "cgroup.freeze"))
            return cgroup_kill_frozen_v2(env, path, err);
    }
    if (env->v1[CGROUP_V1_FREEZER] != NULL) {
        _cleanup_free_ char *dir = cgroup_dir(env->v1[CGROUP_V1_FREEZER], path);

        return kill_frozen_v1(env, dir, err);
    }
    {
        _cleanup_free_ char *dir = membership_dir(env, path);

        return kill_repeatedly(dir, err);
    }
}

static int64_t monotonic_ms(void)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int cgroup_wait_empty(const struct cgroup_env *env, const char *path, int timeout_ms, bool *empty,
                      struct error *err)
{
    int64_t deadline = monotonic_ms() + timeout_ms;
    _cleanup_free_ char *events = NULL;
    _cleanup_close_ int fd = -1;

    if (env->unified != NULL) {
        _cleanup_free_ char *dir = cgroup_dir(env->unified, path);

        events = xasprintf("%s/cgroup.events", dir);
        fd = open(events, O_RDONLY | O_CLOEXEC);
    }
    for (;;) {
        bool populated = true;
        int64_t left = deadline - monotonic_ms();

        if (cgroup_populated(env, path, &populated, err) < 0)
            return -1;
        if (!populated || left <= 0) {
            *empty = !populated;
            return 0;
        }
        if (fd >= 0) {
            /* cgroup.events signals a change with POLLPRI; the short cap covers a missed
             * edge between the read above and this poll. */
            struct pollfd pfd = {.fd = fd, .events = POLLPRI};

            poll(&pfd, 1, left < 100 ? (int)left : 100);
        } else {
            sleep_ms(left < 10 ? (int)left : 10);
        }
    }
}
