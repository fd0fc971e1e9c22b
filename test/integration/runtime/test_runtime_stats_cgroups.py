"""ContainerStats and PodSandboxStats against the cgroup files of the containers and the pod.

The daemon and the test read the counters at different moments, so the tests check ordering and
bounds (read before <= reported <= read after), never exact values or wall-clock times."""

import json
import os

import pytest

from runtime_helpers import wait_for

BUSY = ["/hpc/bin/sh", "-c", "while :; do :; done"]
HELD = 64 * 1024 * 1024
# Builds a 64 MiB string in the shell and keeps it: the command after sleep stops the shell from
# replacing itself with sleep, which would free the string.
HOLD = ["/hpc/bin/sh", "-c",
        f"x=$(/hpc/bin/head -c {HELD} /dev/zero | /hpc/bin/tr '\\0' a); "
        "/hpc/bin/sleep 1000; echo ${#x}"]
# The daemon reads the v2 cpu.stat usage_usec on a hybrid host, and the test the v1
# cpuacct.usage: both count the same scheduler time, but the first in microseconds.
CPU_SLACK_NS = 20 * 1000 * 1000
MEMORY_SLACK = 4 * 1024 * 1024


def cgroup_paths(pid):
    """Returns the cgroup of pid in each v1 controller, by controller name."""
    paths = {}
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            for controller in controllers.split(","):
                paths[controller or "unified"] = path
    return paths


def read_number(controller, path, name):
    with open(os.path.join("/sys/fs/cgroup", controller, path.lstrip("/"), name)) as f:
        return int(f.read())


def read_keyed(controller, path, name):
    values = {}
    with open(os.path.join("/sys/fs/cgroup", controller, path.lstrip("/"), name)) as f:
        for line in f:
            key, value = line.split()
            values[key] = int(value)
    return values


def container_cgroups(runtime, container_id):
    """Returns the cgroups of a running container's init process."""
    pid = runtime.info(container_id)["pid"]
    assert pid > 0
    paths = cgroup_paths(pid)
    assert paths["cpuacct"].strip("/") == runtime.info(container_id)["cgroup"].strip("/")
    return paths


def pod_cgroup(runtime, sandbox_id):
    return json.loads(runtime.pod_status(sandbox_id, verbose=True).info["info"])["cgroup"]


def container_stats(rt, container_id):
    return rt.runtime("ContainerStats", container_id=container_id).stats


def cpu_between(rt, container_id, path):
    """Returns the cgroup's CPU time before, the reported CPU time, and the time after."""
    before = read_number("cpuacct", path, "cpuacct.usage")
    stats = container_stats(rt, container_id)
    after = read_number("cpuacct", path, "cpuacct.usage")
    return before, stats, after


def test_cpu_usage_matches_the_cgroup(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="statscpu")
    busy = runtime.run(sandbox_id, "busy", images["busybox:1.0"], command=BUSY)
    path = container_cgroups(runtime, busy)["cpuacct"]

    first = container_stats(rt, busy)
    assert first.cpu.HasField("usage_core_nano_seconds")
    assert not first.cpu.HasField("usage_nano_cores")

    wait_for(lambda: read_number("cpuacct", path, "cpuacct.usage") > 200 * 1000 * 1000,
             what="the busy container to use 200 ms of CPU")
    for _ in range(3):
        before, stats, after = cpu_between(rt, busy, path)
        reported = stats.cpu.usage_core_nano_seconds.value
        assert before - CPU_SLACK_NS <= reported <= after + CPU_SLACK_NS
        assert stats.cpu.timestamp > 0


def test_usage_nano_cores_follows_the_samples(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="statsrate")
    busy = runtime.run(sandbox_id, "busy", images["busybox:1.0"], command=BUSY)
    idle = runtime.run(sandbox_id, "idle", images["busybox:1.0"],
                       command=["/hpc/bin/sleep", "1000"])

    def rated(container_id):
        stats = container_stats(rt, container_id)
        return stats.cpu.HasField("usage_nano_cores") and stats

    previous = container_stats(rt, busy)
    wait_for(lambda: read_number("cpuacct", container_cgroups(runtime, busy)["cpuacct"],
                                 "cpuacct.usage") > previous.cpu.usage_core_nano_seconds.value
             + 100 * 1000 * 1000, what="100 ms of CPU since the first sample")
    stats = wait_for(lambda: rated(busy), timeout=10, what="a CPU rate for the busy container")
    # The rate is the CPU time between the two samples over the time between them.
    used = stats.cpu.usage_core_nano_seconds.value - previous.cpu.usage_core_nano_seconds.value
    elapsed = stats.cpu.timestamp - previous.cpu.timestamp
    assert elapsed > 0
    expected = used * 1e9 / elapsed
    assert abs(stats.cpu.usage_nano_cores.value - expected) <= 0.01 * expected + 1000
    assert 0 < stats.cpu.usage_nano_cores.value <= os.cpu_count() * 1e9 * 1.05

    container_stats(rt, idle)
    idle_stats = wait_for(lambda: rated(idle), timeout=10, what="a CPU rate for the idle one")
    assert idle_stats.cpu.usage_nano_cores.value < 0.2 * 1e9


def test_memory_usage_matches_the_cgroup(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="statsmem")
    holder = runtime.run(sandbox_id, "holder", images["busybox:1.0"], command=HOLD)
    path = container_cgroups(runtime, holder)["memory"]

    def holding():
        return read_keyed("memory", path, "memory.stat")["total_rss"] >= HELD

    wait_for(holding, what="the container to hold 64 MiB")
    before = read_number("memory", path, "memory.usage_in_bytes")
    memory = container_stats(rt, holder).memory
    after = read_number("memory", path, "memory.usage_in_bytes")
    cgroup_stat = read_keyed("memory", path, "memory.stat")

    usage = memory.usage_bytes.value
    assert min(before, after) - MEMORY_SLACK <= usage <= max(before, after) + MEMORY_SLACK
    assert usage >= HELD
    # The working set leaves out the inactive file pages, which this container barely has.
    assert memory.working_set_bytes.value <= usage
    assert memory.working_set_bytes.value >= usage - cgroup_stat["total_inactive_file"] - \
        MEMORY_SLACK
    assert memory.working_set_bytes.value >= HELD
    assert abs(memory.rss_bytes.value - cgroup_stat["total_rss"]) <= MEMORY_SLACK
    assert memory.rss_bytes.value >= HELD
    assert memory.page_faults.value >= HELD // 4096


def test_pod_stats_cover_their_containers(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="statspod")
    busy = runtime.run(sandbox_id, "busy", images["busybox:1.0"], command=BUSY)
    holder = runtime.run(sandbox_id, "holder", images["busybox:1.0"], command=HOLD)
    pod_path = pod_cgroup(runtime, sandbox_id)
    holder_path = container_cgroups(runtime, holder)["memory"]
    wait_for(lambda: read_number("memory", holder_path, "memory.usage_in_bytes") >= HELD,
             what="the holder to hold 64 MiB")

    before = read_number("cpuacct", pod_path, "cpuacct.usage")
    pod = rt.runtime("PodSandboxStats", pod_sandbox_id=sandbox_id).stats.linux
    after = read_number("cpuacct", pod_path, "cpuacct.usage")
    separate = {c: container_stats(rt, c) for c in (busy, holder)}

    assert sorted(c.attributes.id for c in pod.containers) == sorted([busy, holder])
    in_pod = sum(c.cpu.usage_core_nano_seconds.value for c in pod.containers)
    assert in_pod <= pod.cpu.usage_core_nano_seconds.value
    assert pod.cpu.usage_core_nano_seconds.value <= after + CPU_SLACK_NS
    assert before - CPU_SLACK_NS <= pod.cpu.usage_core_nano_seconds.value
    # Each container's own stats, read later, report at least what the pod reported for it.
    for listed in pod.containers:
        later = separate[listed.attributes.id]
        assert listed.cpu.usage_core_nano_seconds.value <= \
            later.cpu.usage_core_nano_seconds.value + CPU_SLACK_NS
    assert pod.memory.usage_bytes.value >= HELD
    assert pod.memory.usage_bytes.value >= sum(c.memory.usage_bytes.value for c in pod.containers)
    assert pod.process.process_count.value >= 2


def test_pod_cpu_time_survives_a_stopped_container(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="statspodstop")
    runtime.run(sandbox_id, "busy", images["busybox:1.0"], command=BUSY)
    short = runtime.run(sandbox_id, "short", images["busybox:1.0"], command=BUSY)
    pod_path = pod_cgroup(runtime, sandbox_id)
    short_path = container_cgroups(runtime, short)["cpuacct"]
    wait_for(lambda: read_number("cpuacct", short_path, "cpuacct.usage") > 300 * 1000 * 1000,
             what="the short container to use 300 ms of CPU")
    runtime.stop(short, 0)

    # The pod cgroup keeps the CPU time of the stopped container: a cumulative counter.
    before = read_number("cpuacct", pod_path, "cpuacct.usage")
    pod = rt.runtime("PodSandboxStats", pod_sandbox_id=sandbox_id).stats.linux
    assert pod.cpu.usage_core_nano_seconds.value >= before - CPU_SLACK_NS
