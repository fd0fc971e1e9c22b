"""GetContainerEvents: the lifecycle events of containers, streamed as they happen."""

import queue
import threading


def collect_events(rt, events, stop):
    call = rt.stream("RuntimeService", "GetContainerEvents")
    stop.append(call)
    try:
        for event in call:
            events.put(event)
    except Exception:  # the call is cancelled at the end of the test
        pass


def next_event(events, container_id, timeout=30):
    while True:
        event = events.get(timeout=timeout)
        if event.container_id == container_id:
            return event


def test_container_events(api, rt, runtime, images):
    events, calls = queue.Queue(), []
    reader = threading.Thread(target=collect_events, args=(rt, events, calls), daemon=True)
    reader.start()
    sandbox_id = runtime.run_pod(name="events")
    # The subscription starts when the daemon handles the call: create throwaway containers
    # until the first of their events arrives.
    for attempt in range(100):
        warmup = runtime.create(sandbox_id, f"warmup-{attempt}", images["busybox:1.0"],
                                command=["true"])
        try:
            next_event(events, warmup, timeout=0.5)
            break
        except queue.Empty:
            continue

    container_id = runtime.create(sandbox_id, "c", images["busybox:1.0"], command=["true"])
    event = next_event(events, container_id)
    assert event.container_event_type == api.CONTAINER_CREATED_EVENT
    assert event.pod_sandbox_status.id == sandbox_id
    assert container_id in [s.id for s in event.containers_statuses]

    runtime.start(container_id)
    event = next_event(events, container_id)
    assert event.container_event_type == api.CONTAINER_STARTED_EVENT
    event = next_event(events, container_id)
    assert event.container_event_type == api.CONTAINER_STOPPED_EVENT
    status = [s for s in event.containers_statuses if s.id == container_id][0]
    assert status.state == api.CONTAINER_EXITED

    rt.runtime("RemoveContainer", container_id=container_id)
    event = next_event(events, container_id)
    assert event.container_event_type == api.CONTAINER_DELETED_EVENT
    assert container_id not in [s.id for s in event.containers_statuses]
    calls[0].cancel()
    reader.join(timeout=10)
