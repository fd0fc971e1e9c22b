#include "runtime/process.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/util.h"

static json_t *strv_to_json(char *const *strv)
{
    json_t *array = json_array();

    for (size_t i = 0; strv && strv[i]; i++)
        json_array_append_new(array, json_string(strv[i]));
    return array;
}

static json_t *mounts_to_json(const struct container_process *process)
{
    json_t *array = json_array();

    for (size_t i = 0; i < process->n_mounts; i++) {
        const struct process_mount *mount = &process->mounts[i];

        json_t *object = json_pack("{s:s, s:s, s:b, s:i}", "hostPath", mount->host_path,
                                   "containerPath", mount->container_path, "readonly",
                                   mount->readonly, "propagation", mount->propagation);

        if (mount->recursive_readonly)
            json_object_set_new(object, "recursiveReadOnly", json_true());
        json_array_append_new(array, object);
    }
    return array;
}

static json_t *user_to_json(const struct container_process *process)
{
    json_t *user = json_object();
    json_t *groups = json_array();

    if (process->username)
        json_object_set_new(user, "username", json_string(process->username));
    if (process->has_uid)
        json_object_set_new(user, "uid", json_integer(process->uid));
    if (process->has_gid)
        json_object_set_new(user, "gid", json_integer(process->gid));
    for (size_t i = 0; i < process->n_groups; i++)
        json_array_append_new(groups, json_integer(process->groups[i]));
    json_object_set_new(user, "groups", groups);
    if (process->strict_groups)
        json_object_set_new(user, "strictGroups", json_true());
    return user;
}

static json_t *resources_to_json(const struct process_resources *r)
{
    json_t *object =
        json_pack("{s:I, s:I, s:I, s:I}", "cpuPeriodUs", (json_int_t)r->cpu_period_us, "cpuQuotaUs",
                  (json_int_t)r->cpu_quota_us, "cpuShares", (json_int_t)r->cpu_shares,
                  "memoryLimitBytes", (json_int_t)r->memory_limit_bytes);

    if (r->cpu_maximum)
        json_object_set_new(object, "cpuMaximum", json_integer((json_int_t)r->cpu_maximum));
    if (r->cpu_count)
        json_object_set_new(object, "cpuCount", json_integer((json_int_t)r->cpu_count));
    if (r->cpuset_cpus)
        json_object_set_new(object, "cpusetCpus", json_string(r->cpuset_cpus));
    if (r->cpuset_mems)
        json_object_set_new(object, "cpusetMems", json_string(r->cpuset_mems));
    return object;
}

char *process_to_json(const struct container_process *process)
{
    json_t *root = json_object();
    char *text;

    json_object_set_new(root, "argv", strv_to_json(process->argv));
    json_object_set_new(root, "env", strv_to_json(process->env));
    json_object_set_new(root, "workingDir", json_string(process->working_dir));
    if (process->mount_point)
        json_object_set_new(root, "mountPoint", json_string(process->mount_point));
    json_object_set_new(root, "user", user_to_json(process));
    json_object_set_new(root, "mounts", mounts_to_json(process));
    json_object_set_new(root, "layers", strv_to_json(process->layers));
    json_object_set_new(root, "readonlyRootfs", json_boolean(process->readonly_rootfs));
    json_object_set_new(root, "stopSignal", json_integer(process->stop_signal));
    if (process->has_oom_score_adj)
        json_object_set_new(root, "oomScoreAdj", json_integer(process->oom_score_adj));
    json_object_set_new(root, "tty", json_boolean(process->tty));
    json_object_set_new(root, "stdin", json_boolean(process->stdin_open));
    json_object_set_new(root, "stdinOnce", json_boolean(process->stdin_once));
    json_object_set_new(root, "resources", resources_to_json(&process->resources));
    text = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    return text;
}

static int strv_from_json(json_t *array, const char *field, char ***out, struct error *err)
{
    size_t n = json_array_size(array);
    char **strv;

    if (!json_is_array(array))
        return error_set(err, ERROR_DATA_LOSS, "process field %s is not an array", field);
    strv = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(array, i));

        if (s == NULL) {
            strv_free(strv);
            return error_set(err, ERROR_DATA_LOSS, "process field %s[%zu] is not a string", field,
                             i);
        }
        strv[i] = xstrdup(s);
    }
    *out = strv;
    return 0;
}

static int user_from_json(json_t *user, struct container_process *out, struct error *err)
{
    json_t *groups = json_object_get(user, "groups");
    const char *username = json_string_value(json_object_get(user, "username"));

    if (!json_is_object(user) || !json_is_array(groups))
        return error_set(err, ERROR_DATA_LOSS, "process field user is malformed");
    out->username = xstrdup_or_null(username);
    out->has_uid = json_is_integer(json_object_get(user, "uid"));
    out->uid = (uint32_t)json_integer_value(json_object_get(user, "uid"));
    out->has_gid = json_is_integer(json_object_get(user, "gid"));
    out->gid = (uint32_t)json_integer_value(json_object_get(user, "gid"));
    out->n_groups = json_array_size(groups);
    out->groups = xcalloc(out->n_groups, sizeof(uint32_t));
    for (size_t i = 0; i < out->n_groups; i++)
        out->groups[i] = (uint32_t)json_integer_value(json_array_get(groups, i));
    out->strict_groups = json_is_true(json_object_get(user, "strictGroups"));
    return 0;
}

static int mounts_from_json(json_t *mounts, struct container_process *out, struct error *err)
{
    if (!json_is_array(mounts))
        return error_set(err, ERROR_DATA_LOSS, "process field mounts is not an array");
    out->mounts = xcalloc(json_array_size(mounts), sizeof(*out->mounts));
    for (size_t i = 0; i < json_array_size(mounts); i++) {
        json_t *mount = json_array_get(mounts, i);
        const char *host = json_string_value(json_object_get(mount, "hostPath"));
        const char *target = json_string_value(json_object_get(mount, "containerPath"));

        if (host == NULL || target == NULL)
            return error_set(err, ERROR_DATA_LOSS, "process field mounts[%zu] is malformed", i);
        out->mounts[i].host_path = xstrdup(host);
        out->mounts[i].container_path = xstrdup(target);
        out->mounts[i].readonly = json_is_true(json_object_get(mount, "readonly"));
        out->mounts[i].propagation = (int)json_integer_value(json_object_get(mount, "propagation"));
        out->mounts[i].recursive_readonly =
            json_is_true(json_object_get(mount, "recursiveReadOnly"));
        out->n_mounts++;
    }
    return 0;
}

static void resources_from_json(json_t *object, struct process_resources *r)
{
    r->cpu_period_us = json_integer_value(json_object_get(object, "cpuPeriodUs"));
    r->cpu_quota_us = json_integer_value(json_object_get(object, "cpuQuotaUs"));
    r->cpu_shares = json_integer_value(json_object_get(object, "cpuShares"));
    r->memory_limit_bytes = json_integer_value(json_object_get(object, "memoryLimitBytes"));
    r->cpu_maximum = json_integer_value(json_object_get(object, "cpuMaximum"));
    r->cpu_count = json_integer_value(json_object_get(object, "cpuCount"));
    r->cpuset_cpus = xstrdup_or_null(json_string_value(json_object_get(object, "cpusetCpus")));
    r->cpuset_mems = xstrdup_or_null(json_string_value(json_object_get(object, "cpusetMems")));
}

static int fields_from_json(json_t *root, struct container_process *out, struct error *err)
{
    const char *working_dir = json_string_value(json_object_get(root, "workingDir"));
    json_t *oom = json_object_get(root, "oomScoreAdj");

    if (strv_from_json(json_object_get(root, "argv"), "argv", &out->argv, err) < 0 ||
        strv_from_json(json_object_get(root, "env"), "env", &out->env, err) < 0 ||
        strv_from_json(json_object_get(root, "layers"), "layers", &out->layers, err) < 0 ||
        user_from_json(json_object_get(root, "user"), out, err) < 0 ||
        mounts_from_json(json_object_get(root, "mounts"), out, err) < 0)
        return -1;
    if (out->argv[0] == NULL)
        return error_set(err, ERROR_DATA_LOSS, "process field argv is empty");
    out->working_dir = xstrdup_or_null(working_dir);
    out->mount_point = xstrdup_or_null(json_string_value(json_object_get(root, "mountPoint")));
    out->readonly_rootfs = json_is_true(json_object_get(root, "readonlyRootfs"));
    out->stop_signal = (int)json_integer_value(json_object_get(root, "stopSignal"));
    out->has_oom_score_adj = json_is_integer(oom);
    out->oom_score_adj = (int)json_integer_value(oom);
    out->tty = json_is_true(json_object_get(root, "tty"));
    out->stdin_open = json_is_true(json_object_get(root, "stdin"));
    out->stdin_once = json_is_true(json_object_get(root, "stdinOnce"));
    resources_from_json(json_object_get(root, "resources"), &out->resources);
    return 0;
}

int process_from_json(const char *json, struct container_process *out, struct error *err)
{
    json_error_t json_err;
    json_t *root;
    int rc;

    memset(out, 0, sizeof(*out));
    root = json ? json_loads(json, 0, &json_err) : NULL;
    if (root == NULL)
        return error_set(err, ERROR_DATA_LOSS, "the stored process is not valid JSON: %s",
                         json ? json_err.text : "missing");
    rc = fields_from_json(root, out, err);
    json_decref(root);
    if (rc < 0)
        process_clear(out);
    return rc;
}

void process_clear(struct container_process *process)
{
    strv_free(process->argv);
    strv_free(process->env);
    free(process->working_dir);
    free(process->mount_point);
    free(process->username);
    free(process->groups);
    for (size_t i = 0; i < process->n_mounts; i++) {
        free(process->mounts[i].host_path);
        free(process->mounts[i].container_path);
    }
    free(process->mounts);
    strv_free(process->layers);
    free(process->resources.cpuset_cpus);
    free(process->resources.cpuset_mems);
    memset(process, 0, sizeof(*process));
}
