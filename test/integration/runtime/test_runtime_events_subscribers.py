"""GetContainerEvents with several subscribers: the exact event sequence of a pod's lifecycle,
and a subscriber that stops reading, which is disconnected without holding up the others."""

import queue
import threading

import grpc
import pytest

from cri_client import CriClient
from daemon import Daemon
from h2_client import RawH2, grpc_frame
from runtime_helpers import Runtime, wait_for

SLEEP = ["/hpc/bin/sleep", "1000"]
EVENTS_PATH = "/runtime.v1.RuntimeService/GetContainerEvents"


class Subscriber:
    """A gRPC subscriber that reads every event into a queue from a thread."""

    def __init__(self, rt):
        self.events = queue.Queue()
        self.call = rt.stream("RuntimeService", "GetContainerEvents")
        self.error = None
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            for event in self.call:
                self.events.put(event)
        except grpc.RpcError as e:
            self.error = e

    def take(self, ids, count, timeout=30):
        """Returns the next `count` events about any of ids, as (id, type) pairs."""
        matching = []
        while len(matching) < count:
            event = self.events.get(timeout=timeout)
            if event.container_id in ids:
                matching.append((event.container_id, event.container_event_type))
        return matching

    def close(self):
        self.call.cancel()
        self.thread.join(timeout=10)


def warm_up(runtime, images, subscribers):
    """Creates throwaway containers until every subscriber receives an event: the daemon
    subscribes a call only when it handles it."""
    sandbox_id = runtime.run_pod(name="warmup")
    pending = list(subscribers)
    for attempt in range(100):
        container_id = runtime.create(sandbox_id, f"warmup-{attempt}", images["busybox:1.0"],
                                      command=SLEEP)
        for subscriber in list(pending):
            try:
                subscriber.take({container_id}, 1, timeout=0.5)
                pending.remove(subscriber)
            except queue.Empty:
                pass
        if not pending:
            break
    assert not pending, "a subscriber received no event"
    runtime.cri.runtime("RemovePodSandbox", pod_sandbox_id=sandbox_id)
    runtime.sandboxes = [s for s in runtime.sandboxes if s[0] != sandbox_id]


@pytest.fixture
def subscribers(rt, runtime, images):
    """Two gRPC subscribers that both receive events."""
    both = [Subscriber(rt), Subscriber(rt)]
    warm_up(runtime, images, both)
    yield both
    for subscriber in both:
        subscriber.close()


def container_lifecycle(api, runtime, images, sandbox_id):
    """Creates, starts, stops and removes a container, and returns its id."""
    container_id = runtime.create(sandbox_id, "c", images["busybox:1.0"], command=SLEEP)
    runtime.start(container_id)
    wait_for(lambda: runtime.state(container_id) == api.CONTAINER_RUNNING,
             what="the container to run")
    runtime.stop(container_id, 0)
    runtime.cri.runtime("RemoveContainer", container_id=container_id)
    return container_id


def test_container_events_reach_every_subscriber(api, runtime, images, subscribers):
    sandbox_id = runtime.run_pod(name="events")
    container_id = container_lifecycle(api, runtime, images, sandbox_id)
    expected = [(container_id, api.CONTAINER_CREATED_EVENT),
                (container_id, api.CONTAINER_STARTED_EVENT),
                (container_id, api.CONTAINER_STOPPED_EVENT),
                (container_id, api.CONTAINER_DELETED_EVENT)]
    for subscriber in subscribers:
        assert subscriber.take({container_id}, 4) == expected


def test_pod_lifecycle_event_sequence(api, rt, runtime, images, subscribers):
    sandbox_id = runtime.run_pod(name="podevents")
    container_id = container_lifecycle(api, runtime, images, sandbox_id)
    rt.runtime("StopPodSandbox", pod_sandbox_id=sandbox_id)
    rt.runtime("RemovePodSandbox", pod_sandbox_id=sandbox_id)
    runtime.sandboxes = []
    expected = [(sandbox_id, api.CONTAINER_CREATED_EVENT),
                (sandbox_id, api.CONTAINER_STARTED_EVENT),
                (container_id, api.CONTAINER_CREATED_EVENT),
                (container_id, api.CONTAINER_STARTED_EVENT),
                (container_id, api.CONTAINER_STOPPED_EVENT),
                (container_id, api.CONTAINER_DELETED_EVENT),
                (sandbox_id, api.CONTAINER_STOPPED_EVENT),
                (sandbox_id, api.CONTAINER_DELETED_EVENT)]
    for subscriber in subscribers:
        assert subscriber.take({sandbox_id, container_id}, len(expected), timeout=5) == expected


def open_stalled_subscriber(socket_path):
    """Starts GetContainerEvents on a raw HTTP/2 connection that then never reads: its flow
    control window is never reopened, so the daemon has to queue what it cannot send."""
    client = RawH2(socket_path, timeout=30)
    stream_id = client.start(EVENTS_PATH)
    client.send(stream_id, grpc_frame(b""), end_stream=True)
    return client, stream_id


def padded_config(runtime, sandbox_id, name, image):
    """Creates a container whose 8 KiB annotation makes every event of its pod larger, and
    returns its id."""
    config = runtime.container_config(name, image, command=SLEEP)
    config.annotations["test.hostcri.io/padding"] = "x" * 8192
    return runtime.cri.runtime("CreateContainer", pod_sandbox_id=sandbox_id, config=config,
                               sandbox_config=runtime.config_of(sandbox_id)).container_id


def start_own_daemon(api, registry, workdir):
    """Starts a daemon of this test's own, so that a crash of it fails the test and not the
    fixtures. Returns the daemon, a client and a Runtime helper with busybox pulled."""
    instance = Daemon(workdir, ["--certs-dir", registry["TESTBED_CERTS_D"]]).start()
    channel = grpc.insecure_channel(f"unix://{instance.socket_path}",
                                    options=[("grpc.use_local_subchannel_pool", 1)])
    client = CriClient(api, channel)
    busybox = f"{registry['TESTBED_TLS']}/test/busybox:1.0"
    client.image("PullImage", image=api.ImageSpec(image=busybox))
    return instance, channel, Runtime(api, client, workdir), {"busybox:1.0": busybox}


def clean_up_own_daemon(api, registry, workdir, instance, channel, runtime):
    """Removes the pods, through a new daemon on the same directories when this one died, and
    returns the exit code of the first daemon."""
    channel.close()
    code = instance.process.poll()
    if code is None:
        runtime.cri = CriClient(api, grpc.insecure_channel(
            f"unix://{instance.socket_path}", options=[("grpc.use_local_subchannel_pool", 1)]))
        runtime.remove_all()
        runtime.cri.channel.close()
        return instance.stop()
    instance.kill()
    survivor = Daemon(workdir, ["--certs-dir", registry["TESTBED_CERTS_D"]]).start()
    try:
        runtime.cri = CriClient(api, grpc.insecure_channel(
            f"unix://{survivor.socket_path}", options=[("grpc.use_local_subchannel_pool", 1)]))
        runtime.remove_all()
        runtime.cri.channel.close()
    finally:
        survivor.stop()
        survivor.kill()
    return code


def test_stalled_subscriber_is_disconnected(api, registry, tmp_path):
    workdir = tmp_path / "flood"
    workdir.mkdir()
    instance, channel, runtime, images = start_own_daemon(api, registry, workdir)
    rt = runtime.cri
    try:
        flood_events(api, rt, runtime, images, instance)
    finally:
        code = clean_up_own_daemon(api, registry, workdir, instance, channel, runtime)
    assert code == 0, instance.log()[-20000:]


def flood_events(api, rt, runtime, images, hostcri):
    """Opens a stalled and a reading subscriber, then creates and removes containers until the
    daemon disconnects the stalled one. The reader must receive every event in order."""
    stalled, stalled_stream = open_stalled_subscriber(hostcri.socket_path)
    reader = Subscriber(rt)
    try:
        warm_up(runtime, images, [reader])
        sandbox_id = runtime.run_pod(name="eventflood")
        # 30 padded containers make each event of the pod about 250 KiB, so a few dozen events
        # exceed the 8 MiB a call may queue (STREAM_QUEUE_LIMIT in cri/call.c).
        padding = [padded_config(runtime, sandbox_id, f"pad-{i}", images["busybox:1.0"])
                   for i in range(30)]
        reader.take(set(padding), len(padding))

        cycled = []
        for cycle in range(150):
            container_id = runtime.create(sandbox_id, f"cycle-{cycle}", images["busybox:1.0"],
                                          command=SLEEP)
            rt.runtime("RemoveContainer", container_id=container_id)
            cycled.append(container_id)
            if "client is not reading" in hostcri.log() and cycle >= 40:
                break
        assert "client is not reading" in hostcri.log()
        assert rt.runtime("Version").runtime_name

        expected = []
        for container_id in cycled:
            expected += [(container_id, api.CONTAINER_CREATED_EVENT),
                         (container_id, api.CONTAINER_DELETED_EVENT)]
        assert reader.take(set(cycled), len(expected)) == expected
        assert reader.error is None

        # Reading the stalled connection now shows that the daemon reset the call.
        record = stalled.wait(stalled_stream)
        assert record["reset"] == 8  # CANCEL
    finally:
        reader.close()
        stalled.close()
    assert rt.runtime("Version").runtime_name
