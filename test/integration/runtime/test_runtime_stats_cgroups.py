"""ContainerStats and PodSandboxStats against the cgroup files of the containers and the pod.

The daemon and the test read the counters at different moments, so the tests check ordering and
bounds (read before <= reported <= read after), never exact values or wall-clock times."""

import bisect
import json
import os
import threading
import time

import pytest

from conftest import RuntimeDaemon
from cri_client import CriClient, open_channel
from runtime_helpers import Runtime, wait_for

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
# The CPU sampler interval of the daemons started by the rate tests, in seconds.
SAMPLE_INTERVAL = 1.0
ONE_CORE = 1e9


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
    # The sampler (10 s by default) has no two samples of a container that just started.
    assert not first.cpu.HasField("usage_nano_cores")

    wait_for(lambda: read_number("cpuacct", path, "cpuacct.usage") > 200 * 1000 * 1000,
             what="the busy container to use 200 ms of CPU")
    for _ in range(3):
        before, stats, after = cpu_between(rt, busy, path)
        reported = stats.cpu.usage_core_nano_seconds.value
        assert before - CPU_SLACK_NS <= reported <= after + CPU_SLACK_NS
        assert stats.cpu.timestamp > 0


@pytest.fixture
def sampled(api, tmp_path, registry):
    """A daemon whose CPU sampler runs every SAMPLE_INTERVAL, a Runtime helper and the image."""
    instance = RuntimeDaemon(tmp_path, registry,
                             ["--cpu-sample-interval", f"{int(SAMPLE_INTERVAL * 1000)}ms"]).start()
    channel = open_channel(instance.socket_path)
    cri = CriClient(api, channel)
    helper = Runtime(api, cri, tmp_path)
    image = f"{registry['TESTBED_TLS']}/test/busybox:1.0"
    cri.image("PullImage", image=api.ImageSpec(image=image))
    yield helper, image
    helper.remove_all()
    channel.close()
    try:
        code = instance.stop()
    finally:
        instance.kill()
    assert code == 0, instance.log()[-20000:]


class CpuRecorder:
    """Reads a cgroup's cpuacct.usage every 10 ms on a thread, with the monotonic time, so that a
    test can work out the rate over any window, as the daemon's sampler does."""

    def __init__(self, path):
        self.path = path
        self.times, self.usages = [], []
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopped.is_set():
            usage = read_number("cpuacct", self.path, "cpuacct.usage")
            self.times.append(time.monotonic())
            self.usages.append(usage)
            time.sleep(0.01)

    def stop(self):
        self.stopped.set()
        self.thread.join()

    def usage_at(self, moment):
        """The CPU time at moment, interpolated between the two readings around it."""
        i = bisect.bisect_left(self.times, moment)
        if i == 0 or i >= len(self.times):
            return None
        t0, t1 = self.times[i - 1], self.times[i]
        u0, u1 = self.usages[i - 1], self.usages[i]
        return u0 + (u1 - u0) * (moment - t0) / (t1 - t0)

    def window_rates(self, first_end, last_end):
        """The rates (1e9 is one core) over the windows of SAMPLE_INTERVAL to 1.1 times it
        that end between first_end and last_end: those the daemon's last two samples can span."""
        rates = []
        end = first_end
        while end <= last_end:
            for length in (SAMPLE_INTERVAL, SAMPLE_INTERVAL * 1.05, SAMPLE_INTERVAL * 1.1):
                start_usage, end_usage = self.usage_at(end - length), self.usage_at(end)
                if start_usage is not None and end_usage is not None:
                    rates.append((end_usage - start_usage) / length)
            end += 0.02
        return rates


def assert_rate_within(rate, rates):
    """The reported rate lies within the rates of the windows it can span, with a margin for the
    daemon's v2 usage_usec against the test's v1 cpuacct.usage and for the timer's delays."""
    assert rates, "no window of recorded CPU time to compare with"
    margin = 0.1 * max(rates) + 0.05 * ONE_CORE
    assert min(rates) - margin <= rate <= max(rates) + margin, (rate, min(rates), max(rates))


def stats_between(runtime, container_id):
    """Returns the monotonic time before the call, the stats and the time after it."""
    before = time.monotonic()
    stats = runtime.cri.runtime("ContainerStats", container_id=container_id).stats
    return before, stats, time.monotonic()


def test_usage_nano_cores_follows_the_samples(api, sampled):
    """usage_nano_cores is the rate between the sampler's last two samples: it matches the CPU
    time the cgroup gained over one interval before the call, whatever calls came before, and
    it drops to nearly 0 once the container stops burning, with no call in between."""
    runtime, image = sampled
    sandbox_id = runtime.run_pod(name="statsrate")
    # Burns the CPU for 4 s, then sleeps.
    burst = runtime.run(sandbox_id, "burst", image, command=[
        "/hpc/bin/sh", "-c",
        "end=$(($(/hpc/bin/date +%s) + 4)); "
        "while [ $(/hpc/bin/date +%s) -lt $end ]; do :; done; exec /hpc/bin/sleep 1000"])
    idle = runtime.run(sandbox_id, "idle", image, command=["/hpc/bin/sleep", "1000"])
    recorder = CpuRecorder(container_cgroups(runtime, burst)["cpuacct"])
    try:
        stats = wait_for(lambda: container_stats(runtime.cri, burst).cpu.HasField(
            "usage_nano_cores"), timeout=10, what="two samples of the burst container")
        for _ in range(3):
            before, stats, after = stats_between(runtime, burst)
            rate = stats.cpu.usage_nano_cores.value
            assert_rate_within(rate, recorder.window_rates(before - 1.5 * SAMPLE_INTERVAL, after))
            time.sleep(0.3)

        # Once the burst is over, two more samples later, the rate is that of a sleeping process.
        wait_for(lambda: len(recorder.usages) > 50 and
                 recorder.usages[-1] - recorder.usage_at(time.monotonic() - 0.5) < 5e6,
                 timeout=15, what="the burst to end")
        time.sleep(2.5 * SAMPLE_INTERVAL)
        stats = container_stats(runtime.cri, burst)
        assert stats.cpu.usage_nano_cores.value < 0.05 * ONE_CORE
    finally:
        recorder.stop()

    idle_stats = container_stats(runtime.cri, idle)
    assert idle_stats.cpu.HasField("usage_nano_cores")
    assert idle_stats.cpu.usage_nano_cores.value < 0.05 * ONE_CORE


def test_busy_container_reports_one_core(api, sampled):
    """A container that burns one CPU reports about one core at its first stats call: the
    sampler, not the client, provides the two samples. The check compares with the CPU time the
    cgroup gained, because on a machine shared with other work one thread may get less than a
    whole core."""
    runtime, image = sampled
    sandbox_id = runtime.run_pod(name="statscore")
    busy = runtime.run(sandbox_id, "busy", image, command=BUSY)
    recorder = CpuRecorder(container_cgroups(runtime, busy)["cpuacct"])
    try:
        # No stats call until two sampler passes have certainly seen the running container.
        time.sleep(2.5 * SAMPLE_INTERVAL)
        before, stats, after = stats_between(runtime, busy)
        rates = recorder.window_rates(before - 1.5 * SAMPLE_INTERVAL, after)
        pod = runtime.cri.runtime("PodSandboxStats", pod_sandbox_id=sandbox_id).stats.linux
        listed = runtime.cri.runtime("ListContainerStats").stats
        pods_listed = runtime.cri.runtime("ListPodSandboxStats").stats
    finally:
        recorder.stop()

    assert stats.cpu.HasField("usage_nano_cores")
    rate = stats.cpu.usage_nano_cores.value
    assert_rate_within(rate, rates)
    # One thread cannot use more than one core.
    assert 0.05 * ONE_CORE < rate <= 1.05 * ONE_CORE
    print(f"busy container: {rate / ONE_CORE:.3f} cores reported, "
          f"{min(rates) / ONE_CORE:.3f}-{max(rates) / ONE_CORE:.3f} recorded")

    # The pod's rate is its job's, which contains only this container.
    assert pod.cpu.HasField("usage_nano_cores")
    assert_rate_within(pod.cpu.usage_nano_cores.value, rates)
    assert [s.attributes.id for s in listed] == [busy]
    assert listed[0].cpu.HasField("usage_nano_cores")
    assert_rate_within(listed[0].cpu.usage_nano_cores.value, rates)
    assert [s.attributes.id for s in pods_listed] == [sandbox_id]
    assert pods_listed[0].linux.cpu.HasField("usage_nano_cores")


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
