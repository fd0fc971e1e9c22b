"""UpdateContainerResources: new limits reach the container's cgroup and its status."""

import os

import grpc

from runtime_helpers import rpc_error

LIMIT = 256 * 1024 * 1024


def memory_limit_file(cgroup):
    """The memory limit file of a cgroup on a v1, v2 or hybrid host, or None."""
    relative = cgroup.strip("/")
    for path in (f"/sys/fs/cgroup/memory/{relative}/memory.limit_in_bytes",
                 f"/sys/fs/cgroup/{relative}/memory.max"):
        if os.path.exists(path):
            return path
    return None


def test_update_running_container(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="update")
    container_id = runtime.run(sandbox_id, "c", images["busybox:1.0"], command=["sleep", "1000"])
    request = api.UpdateContainerResourcesRequest(
        container_id=container_id,
        linux=api.LinuxContainerResources(memory_limit_in_bytes=LIMIT, cpu_period=100000,
                                          cpu_quota=50000))
    rt.runtime("UpdateContainerResources", request)

    status = runtime.status(container_id).status
    assert status.resources.linux.memory_limit_in_bytes == LIMIT
    assert status.resources.linux.cpu_quota == 50000
    path = memory_limit_file(runtime.info(container_id)["cgroup"])
    assert path is not None
    with open(path) as f:
        assert int(f.read()) == LIMIT


def test_update_exited_container_rejected(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="updatedone")
    container_id = runtime.run(sandbox_id, "c", images["busybox:1.0"], command=["true"])
    runtime.wait_exited(container_id)
    request = api.UpdateContainerResourcesRequest(
        container_id=container_id, linux=api.LinuxContainerResources(memory_limit_in_bytes=LIMIT))
    error = rpc_error(lambda: rt.runtime("UpdateContainerResources", request))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_update_created_container_applies_at_start(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="updatecreated")
    container_id = runtime.create(sandbox_id, "c", images["busybox:1.0"],
                                  command=["sleep", "1000"])
    request = api.UpdateContainerResourcesRequest(
        container_id=container_id, linux=api.LinuxContainerResources(memory_limit_in_bytes=LIMIT))
    rt.runtime("UpdateContainerResources", request)
    runtime.start(container_id)
    path = memory_limit_file(runtime.info(container_id)["cgroup"])
    with open(path) as f:
        assert int(f.read()) == LIMIT
