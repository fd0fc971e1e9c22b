/*
 * StopContainer: the stop signal, the grace period and the kill, and the waiters that more
 * than one stop of the same container share.
 */

#include <stdint.h>
#include <stdlib.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/defer.h"
#include "runtime/runtime_internal.h"
#include "runtime/signals.h"

static void waiter_close_cb(uv_handle_t *handle)
{
    free(handle->data);
}

/* Completes one waiter that is no longer in its container's list, and frees it. */
static void waiter_complete(struct stop_waiter *waiter, const struct error *err)
{
    runtime_done_cb cb = waiter->cb;
    void *data = waiter->data;

    waiter->container = NULL;
    if (waiter->timer_started) {
        uv_timer_stop(&waiter->timer);
        uv_close((uv_handle_t *)&waiter->timer, waiter_close_cb);
    } else {
        free(waiter);
    }
    cb(err, data);
}

static void waiter_unlink(struct stop_waiter *waiter)
{
    struct container *container = waiter->container;

    for (struct stop_waiter **link = &container->waiters; *link; link = &(*link)->next) {
        if (*link == waiter) {
            *link = waiter->next;
            break;
        }
    }
    waiter->next = NULL;
}

void container_complete_waiters(struct container *container, const struct error *err)
{
    struct stop_waiter *waiter = container->waiters;

    /* Detach the whole list first: a callback may remove and free the container. */
    container->waiters = NULL;
    container->stop_signal_sent = false;
    while (waiter) {
        struct stop_waiter *next = waiter->next;

        waiter_complete(waiter, err);
        waiter = next;
    }
}

static void kill_all(struct container *container)
{
    _cleanup_error_ struct error err = ERROR_INIT;

    log_info_id("container", container->record.id, "killing every process of the container");
    if (job_container_kill_all(container->job, &err) < 0)
        log_warn_id("container", container->record.id, "kill failed: %s", err.message);
}

/* Returns true when the job of container has no process left. */
static bool job_is_empty(struct container *container)
{
    _cleanup_error_ struct error err = ERROR_INIT;
    _cleanup_free_ int *pids = NULL;
    size_t n_pids = 0;

    if (job_container_pids(container->job, &pids, &n_pids, &err) < 0) {
        log_warn_id("container", container->record.id, "listing the job's processes failed: %s",
                    err.message);
        return false;
    }
    return n_pids == 0;
}

/*
 * Records the exit of a container whose job is empty although no exit report came, as when
 * its monitor died, so that the container can be removed.
 */
static void record_lost_exit(struct container *container)
{
    struct job_exit_status status = {
        .exit_code = 128 + SIGNAL_NUMBER_KILL,
        .signal = SIGNAL_NUMBER_KILL,
        .finished_at_ns = time_now_ns(),
        .reason = JOB_EXIT_COMPLETED,
        .message = (char *)"the job is empty after SIGKILL, but its monitor reported no exit",
    };

    log_warn_id("container", container->record.id, "%s", status.message);
    container_exit_cb(container->job, &status, container);
}

static void waiter_timer_cb(uv_timer_t *timer)
{
    struct stop_waiter *waiter = timer->data;
    struct container *container = waiter->container;
    struct error err = ERROR_INIT;

    if (!waiter->killed) {
        waiter->killed = true;
        kill_all(container);
        uv_timer_start(&waiter->timer, waiter_timer_cb,
                       (uint64_t)container->runtime->kill_timeout_ms, 0);
        return;
    }
    if (job_is_empty(container)) {
        record_lost_exit(container); /* completes every waiter, this one too */
        return;
    }
    error_set(&err, ERROR_DEADLINE_EXCEEDED,
              "container %s did not exit within %lld ms after SIGKILL", container->record.id,
              (long long)container->runtime->kill_timeout_ms);
    log_error_id("container", container->record.id, "%s", err.message);
    waiter_unlink(waiter);
    waiter_complete(waiter, &err);
    error_clear(&err);
}

static void send_stop_signal(struct container *container)
{
    _cleanup_error_ struct error err = ERROR_INIT;
    const char *name = signal_name(container->stop_signal);

    container->stop_signal_sent = true;
    log_info_id("container", container->record.id, "sending %s to the init process",
                name ? name : "the stop signal");
    /* NOT_FOUND means init has already exited: the exit callback follows. */
    if (job_container_signal(container->job, container->stop_signal, &err) < 0 &&
        err.code != ERROR_NOT_FOUND)
        log_warn_id("container", container->record.id, "sending the stop signal failed: %s",
                    err.message);
}

static void stopped_at_once_cb(void *data)
{
    struct stop_waiter *waiter = data;

    waiter_complete(waiter, NULL);
}

/* Sends the stop signal, or kills at once for a zero timeout, and starts the waiter's timer. */
static void arm_waiter(struct container *container, struct stop_waiter *waiter)
{
    uint64_t wait_ms;

    waiter->awaiting_start = false;
    uv_timer_init(container->runtime->loop, &waiter->timer);
    waiter->timer.data = waiter;
    waiter->timer_started = true;
    if (waiter->timeout_ms <= 0) {
        waiter->killed = true;
        kill_all(container);
        wait_ms = (uint64_t)container->runtime->kill_timeout_ms;
    } else {
        if (!container->stop_signal_sent)
            send_stop_signal(container);
        wait_ms = (uint64_t)waiter->timeout_ms;
    }
    uv_timer_start(&waiter->timer, waiter_timer_cb, wait_ms, 0);
}

void container_arm_waiters(struct container *container)
{
    for (struct stop_waiter *waiter = container->waiters; waiter; waiter = waiter->next) {
        if (waiter->awaiting_start)
            arm_waiter(container, waiter);
    }
}

void container_stop(struct container *container, int64_t timeout_ms, runtime_done_cb cb, void *data)
{
    struct stop_waiter *waiter = xcalloc(1, sizeof(*waiter));

    waiter->container = container;
    waiter->cb = cb;
    waiter->data = data;
    waiter->timeout_ms = timeout_ms;
    if (!container->starting &&
        (container->record.state != RUNTIME__V1__CONTAINER_STATE__CONTAINER_RUNNING ||
         container->job == NULL)) {
        /* Nothing runs: succeed from the loop. A failure to schedule is a broken loop. */
        if (runtime_defer(container->runtime->loop, stopped_at_once_cb, waiter, NULL) < 0)
            abort();
        return;
    }
    if (container->stop_signal <= 0)
        container->stop_signal = SIGNAL_NUMBER_TERM;

    waiter->next = container->waiters;
    container->waiters = waiter;
    /* During a start, the stop waits for the start to end. It then stops the running
     * container, or completes at once when the start failed. */
    if (container->starting)
        waiter->awaiting_start = true;
    else
        arm_waiter(container, waiter);
}

int runtime_container_stop(struct runtime *runtime, const char *id, int64_t timeout_seconds,
                           runtime_done_cb cb, void *data, struct error *err)
{
    struct container *container = runtime_find_container(runtime, id, err);

    if (container == NULL)
        return -1;
    /* CRI timeouts are seconds; a negative one kills at once like 0. Cap it so that the
     * conversion to milliseconds cannot overflow. */
    if (timeout_seconds > INT64_MAX / 1000)
        timeout_seconds = INT64_MAX / 1000;
    container_stop(container, timeout_seconds * 1000, cb, data);
    return 0;
}
