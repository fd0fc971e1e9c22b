/*
 * Pod jobs of the job-object backend: one job object per pod, named "hostcri-pod-<sandbox id>",
 * in which the container jobs are nested, so that it accounts for every container of the pod.
 * A record under <state_dir>\pods\ lets job_pod_open find it after a daemon restart.
 */
#include "runtime/windows/job_windows.h"

#include <stdlib.h>
#include <string.h>

#include "common/error_windows.h"
#include "common/log.h"
#include "common/text_windows.h"
#include "common/util.h"
#include "runtime/windows/winmon_files.h"

/* Opens the pod's job object, or creates it when it is gone (no process kept it). */
static int pod_job_open(struct job_pod *pod, struct error *err)
{
    _cleanup_free_ wchar_t *name = text_windows_utf8_to_wide(pod->name);

    pod->job = name ? CreateJobObjectW(NULL, name) : NULL;
    if (pod->job == NULL)
        return error_set_windows(err, ERROR_INTERNAL, name ? GetLastError() : ERROR_INVALID_NAME,
                                 "create job object %s", pod->name);
    return 0;
}

static struct job_pod *pod_new(struct job_runtime *runtime, const char *sandbox_id)
{
    struct job_pod *pod = xcalloc(1, sizeof(*pod));
    _cleanup_free_ char *pods = winmon_path(runtime->state_dir, "pods");

    pod->runtime = runtime;
    pod->sandbox_id = xstrdup(sandbox_id);
    pod->name = job_windows_pod_job_name(sandbox_id);
    pod->record_path = winmon_path(pods, sandbox_id);
    return pod;
}

int job_pod_create(struct job_runtime *runtime, const struct job_pod_spec *spec,
                   struct job_pod **out, struct error *err)
{
    struct job_pod *pod;
    _cleanup_free_ char *pods = winmon_path(runtime->state_dir, "pods");

    if (str_empty(spec->sandbox_id))
        return error_set(err, ERROR_INVALID_ARGUMENT, "create a pod job: empty sandbox id");
    pod = pod_new(runtime, spec->sandbox_id);
    if (winmon_make_dirs(pods, err) < 0 ||
        winmon_write_atomic(pod->record_path, pod->name, strlen(pod->name), err) < 0 ||
        pod_job_open(pod, err) < 0) {
        job_pod_release(pod);
        return error_prefix(err, "create the pod job of sandbox %s", spec->sandbox_id);
    }
    *out = pod;
    return 0;
}

int job_pod_open(struct job_runtime *runtime, const char *sandbox_id, struct job_pod **out,
                 struct error *err)
{
    struct job_pod *pod = pod_new(runtime, sandbox_id);

    if (!winmon_exists(pod->record_path)) {
        job_pod_release(pod);
        return error_set(err, ERROR_NOT_FOUND, "pod job of sandbox %s not found", sandbox_id);
    }
    if (pod_job_open(pod, err) < 0) {
        job_pod_release(pod);
        return -1;
    }
    *out = pod;
    return 0;
}

const char *job_pod_cgroup(const struct job_pod *pod)
{
    return pod->name;
}

int job_pod_stats(const struct job_pod *pod, struct job_stats *stats, struct error *err)
{
    return job_windows_read_stats(pod->job, pod->name, stats, err);
}

static bool container_has_processes(const struct job_container *container)
{
    JOBOBJECT_BASIC_ACCOUNTING_INFORMATION accounting;

    return container->job != NULL &&
           QueryInformationJobObject(container->job, JobObjectBasicAccountingInformation,
                                     &accounting, sizeof(accounting), NULL) &&
           accounting.ActiveProcesses > 0;
}

int job_pod_remove(struct job_pod *pod, struct error *err)
{
    struct job_runtime *runtime = pod->runtime;
    JOBOBJECT_BASIC_ACCOUNTING_INFORMATION accounting;

    for (size_t i = 0; i < runtime->n_containers; i++) {
        struct job_container *container = runtime->containers[i];

        if (strcmp(container->sandbox_id, pod->sandbox_id) == 0 &&
            container_has_processes(container))
            return error_set(err, ERROR_FAILED_PRECONDITION,
                             "remove pod job of sandbox %s: container %s still has processes",
                             pod->sandbox_id, container->id);
    }
    /* Containers whose handles are released are counted here, through the nesting. */
    if (QueryInformationJobObject(pod->job, JobObjectBasicAccountingInformation, &accounting,
                                  sizeof(accounting), NULL) &&
        accounting.ActiveProcesses > 0)
        return error_set(err, ERROR_FAILED_PRECONDITION,
                         "remove pod job of sandbox %s: %lu processes still run in it",
                         pod->sandbox_id, (unsigned long)accounting.ActiveProcesses);
    winmon_delete(pod->record_path);
    return 0;
}

void job_pod_release(struct job_pod *pod)
{
    if (pod == NULL)
        return;
    if (pod->job)
        CloseHandle(pod->job);
    free(pod->sandbox_id);
    free(pod->name);
    free(pod->record_path);
    free(pod);
}
