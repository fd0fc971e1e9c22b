"""Pod sandbox and container lifecycle through the real daemon."""

import os

import grpc

from runtime_helpers import pid_alive, rpc_error, wait_for


def test_full_lifecycle(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="life", labels={"app": "life"})
    assert len(sandbox_id) == 64

    pod = runtime.pod_status(sandbox_id, verbose=True)
    assert pod.status.state == api.SANDBOX_READY
    assert pod.status.metadata.name == "life"
    assert pod.status.network.ip == ""
    assert pod.status.linux.namespaces.options.network == api.NODE
    assert pod.status.linux.namespaces.options.pid == api.NODE
    assert pod.status.labels["app"] == "life"
    assert pod.status.created_at > 0
    assert "info" in pod.info

    container_id = runtime.create(sandbox_id, "main", images["busybox:1.0"],
                                  command=["sh", "-c", "echo hello; exec sleep 1000"],
                                  labels={"role": "main"})
    listed = rt.runtime("ListContainers").containers
    assert [c.id for c in listed] == [container_id]
    assert listed[0].state == api.CONTAINER_CREATED
    assert listed[0].pod_sandbox_id == sandbox_id

    runtime.start(container_id)
    status = runtime.status(container_id).status
    assert status.state == api.CONTAINER_RUNNING
    assert status.started_at >= status.created_at > 0
    assert status.image.image.endswith("test/busybox:1.0")
    assert status.image_id.startswith("sha256:")
    assert "@sha256:" in status.image_ref
    assert status.labels["role"] == "main"
    assert status.log_path.endswith("main/0.log")
    assert runtime.info(container_id)["pid"] > 0
    runtime.wait_log(container_id, "hello")

    runtime.stop(container_id, 10)
    status = runtime.status(container_id).status
    assert status.state == api.CONTAINER_EXITED
    assert status.finished_at >= status.started_at
    assert status.exit_code != 0
    assert status.reason == "Error"

    rt.runtime("RemoveContainer", container_id=container_id)
    assert list(rt.runtime("ListContainers").containers) == []
    rt.runtime("RemoveContainer", container_id=container_id)

    rt.runtime("StopPodSandbox", pod_sandbox_id=sandbox_id)
    assert runtime.pod_status(sandbox_id).status.state == api.SANDBOX_NOTREADY
    rt.runtime("StopPodSandbox", pod_sandbox_id=sandbox_id)
    rt.runtime("RemovePodSandbox", pod_sandbox_id=sandbox_id)
    assert list(rt.runtime("ListPodSandbox").items) == []
    rt.runtime("RemovePodSandbox", pod_sandbox_id=sandbox_id)


def test_completed_container(api, runtime, images):
    sandbox_id = runtime.run_pod(name="done")
    container_id = runtime.run(sandbox_id, "ok", images["busybox:1.0"], command=["true"])
    status = runtime.wait_exited(container_id)
    assert status.exit_code == 0
    assert status.reason == "Completed"

    failing = runtime.run(sandbox_id, "fails", images["busybox:1.0"],
                          command=["sh", "-c", "exit 3"])
    status = runtime.wait_exited(failing)
    assert status.exit_code == 3
    assert status.reason == "Error"


def test_non_host_network_pod_rejected(api, rt, runtime):
    error = rpc_error(lambda: runtime.run_pod(name="isolated", host_network=False))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "hostNetwork: true" in error.details()


def test_duplicate_sandbox_name_rejected(api, rt, runtime):
    config = runtime.pod_config(name="twice")
    first = runtime.run_pod(config)
    error = rpc_error(lambda: rt.runtime("RunPodSandbox", config=config))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert first in error.details()


def test_unknown_runtime_handler_rejected(api, rt, runtime):
    config = runtime.pod_config(name="handler")
    error = rpc_error(lambda: rt.runtime("RunPodSandbox", config=config, runtime_handler="kata"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "kata" in error.details()


def test_duplicate_container_name_rejected(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="dupc")
    first = runtime.create(sandbox_id, "same", images["busybox:1.0"], command=["true"])
    error = rpc_error(lambda: runtime.create(sandbox_id, "same", images["busybox:1.0"]))
    assert error.code() == grpc.StatusCode.ALREADY_EXISTS
    assert first in error.details()


def test_list_filters(api, rt, runtime, images):
    web = runtime.run_pod(name="web", labels={"app": "web"})
    db = runtime.run_pod(name="db", labels={"app": "db"})
    rt.runtime("StopPodSandbox", pod_sandbox_id=db)

    def pods(**fields):
        request = api.ListPodSandboxRequest(filter=api.PodSandboxFilter(**fields))
        return sorted(item.id for item in rt.runtime("ListPodSandbox", request).items)

    assert pods() == sorted([web, db])
    assert pods(label_selector={"app": "web"}) == [web]
    assert pods(label_selector={"app": "none"}) == []
    assert pods(id=web[:12]) == [web]
    assert pods(state=api.PodSandboxStateValue(state=api.SANDBOX_NOTREADY)) == [db]

    running = runtime.run(web, "running", images["busybox:1.0"], command=["sleep", "1000"],
                          labels={"kind": "long"})
    created = runtime.create(web, "created", images["busybox:1.0"], labels={"kind": "short"})

    def containers(**fields):
        request = api.ListContainersRequest(filter=api.ContainerFilter(**fields))
        return sorted(c.id for c in rt.runtime("ListContainers", request).containers)

    assert containers(pod_sandbox_id=web) == sorted([running, created])
    assert containers(pod_sandbox_id=db) == []
    assert containers(label_selector={"kind": "long"}) == [running]
    assert containers(state=api.ContainerStateValue(state=api.CONTAINER_CREATED)) == [created]
    assert containers(id=created[:10]) == [created]


def test_list_item_matches_status(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="listed")
    container_id = runtime.create(sandbox_id, "listed", images["busybox:1.0"],
                                  labels={"kind": "listed", "tier": "a"})

    [item] = rt.runtime("ListContainers", api.ListContainersRequest(
        filter=api.ContainerFilter(id=container_id))).containers
    status = runtime.status(container_id).status

    assert item.pod_sandbox_id == sandbox_id
    assert item.metadata == status.metadata
    assert item.image == status.image
    assert item.image_ref == status.image_ref
    assert item.image_id == status.image_id
    assert item.state == status.state
    assert item.created_at == status.created_at
    assert dict(item.labels) == {"kind": "listed", "tier": "a"}
    assert dict(item.labels) == dict(status.labels)
    assert dict(item.annotations) == dict(status.annotations)


def test_id_prefix_lookup(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="prefix")
    container_id = runtime.create(sandbox_id, "c", images["busybox:1.0"], command=["true"])
    assert runtime.pod_status(sandbox_id[:8]).status.id == sandbox_id
    assert runtime.status(container_id[:8]).status.id == container_id


def test_unknown_and_empty_ids(api, rt, runtime):
    unknown = "0" * 64
    error = rpc_error(lambda: rt.runtime("ContainerStatus", container_id=unknown))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    error = rpc_error(lambda: rt.runtime("PodSandboxStatus", pod_sandbox_id=unknown))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    error = rpc_error(lambda: runtime.stop(unknown, 1))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    error = rpc_error(lambda: rt.runtime("StartContainer", container_id=unknown))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    rt.runtime("RemoveContainer", container_id=unknown)
    rt.runtime("RemovePodSandbox", pod_sandbox_id=unknown)

    error = rpc_error(lambda: rt.runtime("ContainerStatus", container_id=""))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "container_id" in error.details()
    error = rpc_error(lambda: rt.runtime("StopPodSandbox", pod_sandbox_id=""))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    error = rpc_error(lambda: rt.runtime("RunPodSandbox"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "config" in error.details()


def test_create_requires_ready_sandbox(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="stopped")
    rt.runtime("StopPodSandbox", pod_sandbox_id=sandbox_id)
    error = rpc_error(lambda: runtime.create(sandbox_id, "late", images["busybox:1.0"]))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_create_with_unknown_image(api, rt, runtime):
    sandbox_id = runtime.run_pod(name="noimage")
    error = rpc_error(lambda: runtime.create(sandbox_id, "c", "127.0.0.1:1/nothing/here:1.0"))
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_stop_pod_kills_containers(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="stoppod")
    container_id = runtime.run(sandbox_id, "long", images["busybox:1.0"],
                               command=["sleep", "1000"])
    rt.runtime("StopPodSandbox", pod_sandbox_id=sandbox_id)
    status = runtime.status(container_id).status
    assert status.state == api.CONTAINER_EXITED
    assert status.exit_code == 137


def test_remove_pod_removes_running_containers(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="rmpod")
    container_id = runtime.run(sandbox_id, "long", images["busybox:1.0"],
                               command=["sleep", "1000"])
    pid = runtime.info(container_id)["pid"]
    rt.runtime("RemovePodSandbox", pod_sandbox_id=sandbox_id)
    error = rpc_error(lambda: runtime.status(container_id))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    wait_for(lambda: not pid_alive(pid), what=f"pid {pid} to end")


def test_image_in_use_cannot_be_removed(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="inuse")
    container_id = runtime.create(sandbox_id, "c", images["config:1.0"], command=["true"])
    error = rpc_error(lambda: rt.image("RemoveImage", image=api.ImageSpec(
        image=images["config:1.0"])))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert container_id in error.details()


def test_reopen_container_log(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="reopen")
    container_id = runtime.create(sandbox_id, "c", images["busybox:1.0"],
                                  command=["sleep", "1000"])
    error = rpc_error(lambda: rt.runtime("ReopenContainerLog", container_id=container_id))
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    runtime.start(container_id)
    rt.runtime("ReopenContainerLog", container_id=container_id)


def test_create_request_validation(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="validate")
    good = runtime.container_config("c", images["busybox:1.0"])

    def create(**fields):
        return rt.runtime("CreateContainer", api.CreateContainerRequest(**fields))

    cases = [
        ({"config": good}, "pod_sandbox_id"),
        ({"pod_sandbox_id": sandbox_id}, "config"),
        ({"pod_sandbox_id": sandbox_id,
          "config": api.ContainerConfig(image=api.ImageSpec(image=images["busybox:1.0"]))},
         "config.metadata"),
        ({"pod_sandbox_id": sandbox_id,
          "config": api.ContainerConfig(metadata=api.ContainerMetadata(name="c"))},
         "config.image.image"),
    ]
    for fields, named in cases:
        error = rpc_error(lambda: create(**fields))
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, named
        assert named in error.details()

    error = rpc_error(lambda: rt.runtime("RunPodSandbox", config=api.PodSandboxConfig(
        metadata=api.PodSandboxMetadata(name="x", namespace="ns"))))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "config.metadata.uid" in error.details()


def test_log_path_is_joined_under_log_directory(runtime, images):
    """containerd joins log_path under log_directory even when log_path starts with '/'."""
    sandbox_id = runtime.run_pod(name="logjoin")
    log_directory = runtime.config_of(sandbox_id).log_directory
    config = runtime.container_config("abs", images["busybox:1.0"], command=["echo", "joined"])
    config.log_path = "/abs/0.log"
    container_id = runtime.cri.runtime("CreateContainer", pod_sandbox_id=sandbox_id,
                                       config=config,
                                       sandbox_config=runtime.config_of(sandbox_id)).container_id
    runtime.start(container_id)
    status = runtime.wait_exited(container_id)
    assert status.log_path == f"{log_directory}/abs/0.log"
    runtime.wait_log(container_id, "joined")
    assert not os.path.exists("/abs/0.log")
