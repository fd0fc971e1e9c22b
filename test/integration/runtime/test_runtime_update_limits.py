"""UpdateContainerResources: a lower CPU quota slows a busy container down, and a memory limit
below the container's usage is rejected without changing anything."""

import os
import time

import grpc
import pytest

from runtime_helpers import rpc_error, wait_for

BUSY = ["/hpc/bin/sh", "-c", "while :; do :; done"]
HELD = 64 * 1024 * 1024
# Keeps a 64 MiB string in the shell (the command after sleep keeps the shell alive).
HOLD = ["/hpc/bin/sh", "-c",
        f"x=$(/hpc/bin/head -c {HELD} /dev/zero | /hpc/bin/tr '\\0' a); "
        "/hpc/bin/sleep 1000; echo ${#x}"]
PERIOD = 100000
QUOTA = 20000


def cgroup_file(controller, cgroup, name):
    return os.path.join("/sys/fs/cgroup", controller, cgroup.strip("/"), name)


def read_number(controller, cgroup, name):
    with open(cgroup_file(controller, cgroup, name)) as f:
        return int(f.read())


def cpu_rate(cgroup, seconds):
    """Returns the cores the cgroup used over about `seconds` of monotonic time."""
    start_time, start_usage = time.monotonic(), read_number("cpuacct", cgroup, "cpuacct.usage")
    time.sleep(seconds)
    end_usage, end_time = read_number("cpuacct", cgroup, "cpuacct.usage"), time.monotonic()
    return (end_usage - start_usage) / ((end_time - start_time) * 1e9)


def update(api, rt, container_id, **limits):
    request = api.UpdateContainerResourcesRequest(
        container_id=container_id, linux=api.LinuxContainerResources(**limits))
    rt.runtime("UpdateContainerResources", request)


def test_lower_cpu_quota_slows_a_busy_container(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="updatecpu")
    busy = runtime.run(sandbox_id, "busy", images["busybox:1.0"], command=BUSY)
    cgroup = runtime.info(busy)["cgroup"]
    wait_for(lambda: read_number("cpuacct", cgroup, "cpuacct.usage") > 100 * 1000 * 1000,
             what="the busy container to use 100 ms of CPU")

    update(api, rt, busy, cpu_period=PERIOD, cpu_quota=QUOTA)
    assert read_number("cpu", cgroup, "cpu.cfs_period_us") == PERIOD
    assert read_number("cpu", cgroup, "cpu.cfs_quota_us") == QUOTA
    resources = runtime.status(busy).status.resources.linux
    assert resources.cpu_period == PERIOD
    assert resources.cpu_quota == QUOTA

    # 20 ms per 100 ms period is 0.2 cores; half a core leaves room for a slow, loaded host.
    assert cpu_rate(cgroup, 2) < 0.5
    assert runtime.state(busy) == api.CONTAINER_RUNNING

    # Lifting the quota again (-1 on cgroup v1) lets the container use a whole core again.
    update(api, rt, busy, cpu_period=PERIOD, cpu_quota=-1)
    assert read_number("cpu", cgroup, "cpu.cfs_quota_us") == -1


@pytest.fixture
def holder(runtime, images):
    """Returns a running container that keeps 64 MiB in use, and its cgroup."""
    sandbox_id = runtime.run_pod(name="updatememory")
    container_id = runtime.run(sandbox_id, "holder", images["busybox:1.0"], command=HOLD)
    cgroup = runtime.info(container_id)["cgroup"]
    wait_for(lambda: read_number("memory", cgroup, "memory.usage_in_bytes") >= HELD,
             what="the container to hold 64 MiB")
    return container_id, cgroup


def test_memory_limit_below_usage_is_rejected(api, rt, runtime, holder):
    container_id, cgroup = holder
    update(api, rt, container_id, memory_limit_in_bytes=512 * 1024 * 1024)
    error = rpc_error(lambda: update(api, rt, container_id, memory_limit_in_bytes=HELD // 4))
    assert error.code() != grpc.StatusCode.OK
    assert container_id in error.details()

    assert runtime.state(container_id) == api.CONTAINER_RUNNING
    assert read_number("memory", cgroup, "memory.limit_in_bytes") == 512 * 1024 * 1024
    assert runtime.status(container_id).status.resources.linux.memory_limit_in_bytes == \
        512 * 1024 * 1024
    assert read_number("memory", cgroup, "memory.usage_in_bytes") >= HELD


def test_memory_limit_error_says_usage_is_higher(api, rt, holder):
    container_id, _ = holder
    error = rpc_error(lambda: update(api, rt, container_id, memory_limit_in_bytes=HELD // 4))
    assert error.code() in (grpc.StatusCode.FAILED_PRECONDITION,
                            grpc.StatusCode.INVALID_ARGUMENT,
                            grpc.StatusCode.RESOURCE_EXHAUSTED)
    assert "usage" in error.details()


def test_rejected_update_changes_no_limit(api, rt, runtime, holder):
    container_id, cgroup = holder
    before = read_number("cpu", cgroup, "cpu.cfs_quota_us")
    error = rpc_error(lambda: update(api, rt, container_id, cpu_period=PERIOD, cpu_quota=QUOTA,
                                     memory_limit_in_bytes=HELD // 4))
    assert error.code() != grpc.StatusCode.OK
    assert runtime.status(container_id).status.resources.linux.cpu_quota != QUOTA
    assert read_number("cpu", cgroup, "cpu.cfs_quota_us") == before
