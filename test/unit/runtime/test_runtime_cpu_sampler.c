/*
 * Unit tests of the CPU sampler (runtime/cpu_sampler.c) on a real libuv loop, over a runtime
 * object built by hand and a fake job_cpu.h whose CPU times the tests set.
 */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "runtime/cpu_sampler.h"
#include "runtime/job_cpu.h"
#include "runtime/runtime_internal.h"

#define JOBS 4

/* The CPU time of each fake job, keyed by the job pointer's value 1 to JOBS. */
static uint64_t job_usage_ns[JOBS + 1];
static int job_reads[JOBS + 1];
static bool pods_unimplemented;

int job_container_cpu_usage(const struct job_container *container, uint64_t *usage_ns,
                            struct error *err)
{
    uintptr_t job = (uintptr_t)container;

    job_reads[job]++;
    *usage_ns = job_usage_ns[job];
    return 0;
}

int job_pod_cpu_usage(const struct job_pod *pod, uint64_t *usage_ns, struct error *err)
{
    uintptr_t job = (uintptr_t)pod;

    if (pods_unimplemented)
        return error_set(err, ERROR_UNIMPLEMENTED, "no pod accounting");
    job_reads[job]++;
    *usage_ns = job_usage_ns[job];
    return 0;
}

struct fixture {
    struct runtime runtime;
    struct container containers[3];
    struct container *container_list[3];
    struct sandbox sandbox;
    struct sandbox *sandbox_list[1];
    uv_timer_t keepalive; /* keeps uv_run running: the sampler's timer does not */
};

static void keepalive_cb(uv_timer_t *timer)
{
}

static void set_container(struct fixture *f, int i, const char *id, uintptr_t job,
                          Runtime__V1__ContainerState state)
{
    f->containers[i].record.id = (char *)id;
    f->containers[i].record.state = state;
    f->containers[i].job = (struct job_container *)job;
    f->container_list[i] = &f->containers[i];
}

static int setup(void **state)
{
    static struct fixture f;

    memset(&f, 0, sizeof(f));
    memset(job_usage_ns, 0, sizeof(job_usage_ns));
    memset(job_reads, 0, sizeof(job_reads));
    pods_unimplemented = false;
    f.runtime.loop = uv_default_loop();
    set_container(&f, 0, "busy", 1, RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING);
    set_container(&f, 1, "idle", 2, RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING);
    set_container(&f, 2, "exited", 3, RUNTIME__V1__CONTAINER_STATE__CONTAINER_EXITED);
    f.runtime.containers = f.container_list;
    f.runtime.n_containers = 3;
    f.sandbox.record.id = "pod";
    f.sandbox.record.state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_READY;
    f.sandbox.pod = (struct job_pod *)(uintptr_t)4;
    f.sandbox_list[0] = &f.sandbox;
    f.runtime.sandboxes = f.sandbox_list;
    f.runtime.n_sandboxes = 1;
    uv_timer_init(uv_default_loop(), &f.keepalive);
    uv_timer_start(&f.keepalive, keepalive_cb, 60000, 0);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    runtime_cpu_sampler_stop(&f->runtime);
    uv_close((uv_handle_t *)&f->keepalive, NULL);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    return 0;
}

/*
 * Runs the loop until the sampler has made passes more passes, counted by the busy container's
 * reads. UV_RUN_NOWAIT runs the due timers once per call, so no pass goes unobserved.
 */
static void run_passes(int passes)
{
    int target = job_reads[1] + passes;
    uint64_t deadline = uv_hrtime() + 10 * 1000 * 1000 * 1000ULL;

    while (job_reads[1] < target) {
        assert_true(uv_hrtime() < deadline);
        uv_run(uv_default_loop(), UV_RUN_NOWAIT);
        if (job_reads[1] < target)
            uv_sleep(1);
    }
    assert_int_equal(job_reads[1], target);
}

static void rates_need_two_passes(void **state)
{
    struct fixture *f = *state;
    uint64_t nano_cores = 7;

    runtime_cpu_sampler_start(&f->runtime, 20);
    assert_false(runtime_cpu_sampler_container_rate(&f->runtime, "busy", &nano_cores));
    run_passes(1);
    assert_false(runtime_cpu_sampler_container_rate(&f->runtime, "busy", &nano_cores));
    assert_false(runtime_cpu_sampler_pod_rate(&f->runtime, "pod", &nano_cores));
    assert_int_equal(nano_cores, 7);

    job_usage_ns[1] += 1000 * 1000 * 1000;
    job_usage_ns[4] += 1000 * 1000 * 1000;
    run_passes(1);
    assert_true(runtime_cpu_sampler_container_rate(&f->runtime, "busy", &nano_cores));
    assert_true(nano_cores > 0);
    assert_true(runtime_cpu_sampler_pod_rate(&f->runtime, "pod", &nano_cores));
    assert_true(nano_cores > 0);
    assert_true(runtime_cpu_sampler_container_rate(&f->runtime, "idle", &nano_cores));
    assert_int_equal(nano_cores, 0);
}

static void only_running_jobs_are_read(void **state)
{
    struct fixture *f = *state;
    uint64_t nano_cores;

    runtime_cpu_sampler_start(&f->runtime, 20);
    run_passes(3);
    assert_int_equal(job_reads[3], 0);
    assert_false(runtime_cpu_sampler_container_rate(&f->runtime, "exited", &nano_cores));
    assert_false(runtime_cpu_sampler_container_rate(&f->runtime, "unknown", &nano_cores));
}

static void removed_containers_are_forgotten(void **state)
{
    struct fixture *f = *state;
    uint64_t nano_cores;

    runtime_cpu_sampler_start(&f->runtime, 20);
    run_passes(2);
    assert_true(runtime_cpu_sampler_container_rate(&f->runtime, "idle", &nano_cores));

    /* RemoveContainer drops the container from the runtime's list. */
    f->runtime.n_containers = 1;
    run_passes(1);
    assert_false(runtime_cpu_sampler_container_rate(&f->runtime, "idle", &nano_cores));
    assert_true(runtime_cpu_sampler_container_rate(&f->runtime, "busy", &nano_cores));

    /* A sandbox that is no longer ready is forgotten too. */
    f->sandbox.record.state = RUNTIME__V1__POD_SANDBOX_STATE__SANDBOX_NOTREADY;
    run_passes(1);
    assert_false(runtime_cpu_sampler_pod_rate(&f->runtime, "pod", &nano_cores));
}

static void pods_without_accounting_have_no_rate(void **state)
{
    struct fixture *f = *state;
    uint64_t nano_cores;

    pods_unimplemented = true;
    runtime_cpu_sampler_start(&f->runtime, 20);
    run_passes(3);
    assert_false(runtime_cpu_sampler_pod_rate(&f->runtime, "pod", &nano_cores));
    assert_true(runtime_cpu_sampler_container_rate(&f->runtime, "busy", &nano_cores));
}

static void stop_ends_the_sampling(void **state)
{
    struct fixture *f = *state;
    uint64_t nano_cores;
    int reads;

    runtime_cpu_sampler_start(&f->runtime, 20);
    run_passes(2);
    runtime_cpu_sampler_stop(&f->runtime);
    assert_null(f->runtime.cpu_sampler);
    assert_false(runtime_cpu_sampler_container_rate(&f->runtime, "busy", &nano_cores));

    /* The timer closes through the loop and never fires again. */
    reads = job_reads[1];
    uv_timer_start(&f->keepalive, keepalive_cb, 100, 0);
    uv_run(uv_default_loop(), UV_RUN_DEFAULT);
    assert_int_equal(job_reads[1], reads);
    runtime_cpu_sampler_stop(&f->runtime);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(rates_need_two_passes, setup, teardown),
        cmocka_unit_test_setup_teardown(only_running_jobs_are_read, setup, teardown),
        cmocka_unit_test_setup_teardown(removed_containers_are_forgotten, setup, teardown),
        cmocka_unit_test_setup_teardown(pods_without_accounting_have_no_rate, setup, teardown),
        cmocka_unit_test_setup_teardown(stop_ends_the_sampling, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
