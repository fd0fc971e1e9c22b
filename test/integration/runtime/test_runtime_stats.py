"""Container and sandbox statistics from the jobs' accounting."""

import grpc

from runtime_helpers import rpc_error, wait_for

BUSY = "while true; do :; done"


def test_container_stats(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="stats", labels={"app": "stats"})
    busy = runtime.run(sandbox_id, "busy", images["busybox:1.0"], command=["sh", "-c", BUSY],
                       labels={"kind": "busy"})
    created = runtime.create(sandbox_id, "idle", images["busybox:1.0"], command=["true"])

    def cpu_used():
        stats = rt.runtime("ContainerStats", container_id=busy).stats
        return stats.cpu.usage_core_nano_seconds.value > 0 and stats

    stats = wait_for(cpu_used, what="CPU time of the busy container")
    assert stats.attributes.id == busy
    assert stats.attributes.metadata.name == "busy"
    assert stats.attributes.labels["kind"] == "busy"
    assert stats.memory.working_set_bytes.value > 0
    second = rt.runtime("ContainerStats", container_id=busy).stats
    assert second.cpu.usage_core_nano_seconds.value >= stats.cpu.usage_core_nano_seconds.value

    # The rate needs two samples of the daemon's CPU sampler, 10 s apart by default.
    def rated():
        cpu = rt.runtime("ContainerStats", container_id=busy).stats.cpu
        return cpu.HasField("usage_nano_cores") and cpu

    assert wait_for(rated, timeout=35, interval=0.5,
                    what="a CPU rate from the default sampler").usage_nano_cores.value > 0

    def layer_measured():
        layer = rt.runtime("ContainerStats", container_id=busy).stats.writable_layer
        return layer.HasField("used_bytes") and layer

    layer = wait_for(layer_measured, what="a measurement of the writable layer")
    assert layer.used_bytes.value > 0
    assert layer.inodes_used.value > 0
    assert layer.fs_id.mountpoint.endswith(busy)

    idle = rt.runtime("ContainerStats", container_id=created).stats
    assert idle.attributes.id == created
    assert not idle.HasField("cpu")

    listed = rt.runtime("ListContainerStats").stats
    assert [s.attributes.id for s in listed] == [busy]
    request = api.ListContainerStatsRequest(
        filter=api.ContainerStatsFilter(label_selector={"kind": "other"}))
    assert list(rt.runtime("ListContainerStats", request).stats) == []


def test_sandbox_stats(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="podstats", labels={"app": "podstats"})
    runtime.run(sandbox_id, "a", images["busybox:1.0"], command=["sh", "-c", BUSY])
    runtime.run(sandbox_id, "b", images["busybox:1.0"], command=["sleep", "1000"])

    def pod_cpu_used():
        stats = rt.runtime("PodSandboxStats", pod_sandbox_id=sandbox_id).stats
        return stats.linux.cpu.usage_core_nano_seconds.value > 0 and stats

    stats = wait_for(pod_cpu_used, what="CPU time of the pod")
    assert stats.attributes.id == sandbox_id
    assert stats.attributes.labels["app"] == "podstats"
    assert len(stats.linux.containers) == 2
    assert stats.linux.memory.working_set_bytes.value > 0
    assert stats.linux.process.process_count.value >= 2
    # The pod's counter is the pod cgroup's, read after the containers': never below their sum.
    total = sum(c.cpu.usage_core_nano_seconds.value for c in stats.linux.containers)
    assert stats.linux.cpu.usage_core_nano_seconds.value >= total

    request = api.ListPodSandboxStatsRequest(
        filter=api.PodSandboxStatsFilter(label_selector={"app": "podstats"}))
    assert [s.attributes.id for s in rt.runtime("ListPodSandboxStats", request).stats] == [
        sandbox_id]

    rt.runtime("StopPodSandbox", pod_sandbox_id=sandbox_id)
    error = rpc_error(lambda: rt.runtime("PodSandboxStats", pod_sandbox_id=sandbox_id))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    assert list(rt.runtime("ListPodSandboxStats", request).stats) == []
