/* GetContainerEvents: container lifecycle events for the kubelet's evented PLEG. */

#include <stdlib.h>
#include <string.h>

#include "common/log.h"
#include "common/util.h"
#include "runtime/message.h"
#include "runtime/runtime_internal.h"

struct runtime_event_subscription {
    struct runtime *runtime;
    runtime_event_cb cb;
    void *data;
    bool active;
    struct runtime_event_subscription *next;
};

struct runtime_event_subscription *runtime_events_subscribe(struct runtime *runtime,
                                                            runtime_event_cb cb, void *data)
{
    struct runtime_event_subscription *subscription = xcalloc(1, sizeof(*subscription));

    *subscription =
        (struct runtime_event_subscription){runtime, cb, data, true, runtime->subscriptions};
    runtime->subscriptions = subscription;
    return subscription;
}

void runtime_events_unsubscribe(struct runtime_event_subscription *subscription)
{
    /* Freed by the next emission or by runtime_close, because an emission may be walking the
     * list right now. */
    if (subscription)
        subscription->active = false;
}

/* Frees the subscriptions that were cancelled. */
static void drop_inactive(struct runtime *runtime)
{
    struct runtime_event_subscription **link = &runtime->subscriptions;

    while (*link) {
        struct runtime_event_subscription *subscription = *link;

        if (subscription->active) {
            link = &subscription->next;
            continue;
        }
        *link = subscription->next;
        free(subscription);
    }
}

/* Moves the status out of a status response, which is freed. */
static Runtime__V1__ContainerStatus *take_container_status(struct runtime *runtime, const char *id)
{
    Runtime__V1__ContainerStatusResponse *response = NULL;
    Runtime__V1__ContainerStatus *status;

    if (runtime_container_status(runtime, id, false, &response, NULL) < 0)
        return NULL;
    status = steal_pointer(&response->status);
    runtime_message_free(response);
    return status;
}

static Runtime__V1__ContainerEventResponse *build_event(struct runtime *runtime,
                                                        const char *container_id,
                                                        const char *sandbox_id,
                                                        Runtime__V1__ContainerEventType type)
{
    Runtime__V1__ContainerEventResponse *event =
        message_new(&runtime__v1__container_event_response__descriptor);
    Runtime__V1__PodSandboxStatusResponse *sandbox = NULL;

    event->container_id = xstrdup(container_id);
    event->container_event_type = type;
    event->created_at = time_now_ns();
    if (runtime_sandbox_status(runtime, sandbox_id, false, &sandbox, NULL) == 0) {
        event->pod_sandbox_status = steal_pointer(&sandbox->status);
        runtime_message_free(sandbox);
    }
    event->containers_statuses = xcalloc(runtime->n_containers, sizeof(void *));
    for (size_t i = 0; i < runtime->n_containers; i++) {
        const struct container *container = runtime->containers[i];
        Runtime__V1__ContainerStatus *status;

        if (strcmp(container->record.sandbox_id, sandbox_id) != 0)
            continue;
        status = take_container_status(runtime, container->record.id);
        if (status)
            event->containers_statuses[event->n_containers_statuses++] = status;
    }
    return event;
}

void runtime_emit_container_event(struct runtime *runtime, const char *container_id,
                                  const char *sandbox_id, Runtime__V1__ContainerEventType type)
{
    Runtime__V1__ContainerEventResponse *event;
    bool any = false;

    drop_inactive(runtime);
    for (struct runtime_event_subscription *s = runtime->subscriptions; s; s = s->next)
        any |= s->active;
    if (!any)
        return;
    event = build_event(runtime, container_id, sandbox_id, type);
    for (struct runtime_event_subscription *s = runtime->subscriptions; s; s = s->next) {
        if (s->active)
            s->cb(event, s->data);
    }
    runtime_message_free(event);
}

void runtime_events_close(struct runtime *runtime)
{
    for (struct runtime_event_subscription *s = runtime->subscriptions; s; s = s->next) {
        if (s->active) {
            s->active = false;
            s->cb(NULL, s->data);
        }
    }
    drop_inactive(runtime);
}
