"""Real crictl requests from the CRI wire corpus (test/data/cri-wire), replayed against hostcri
with the paths and the registry changed to this test's."""

import os

from cri_client import SOURCE_DIR

CORPUS = os.path.join(SOURCE_DIR, "test", "data", "cri-wire")


def load(api, name, message_type):
    with open(os.path.join(CORPUS, name), "rb") as f:
        return getattr(api, message_type).FromString(f.read())


def test_replay_crictl_pod_and_container(api, rt, runtime, images, tmp_path):
    run = load(api, "022-RunPodSandbox.request.bin", "RunPodSandboxRequest")
    assert run.config.windows.security_context.host_process
    run.config.log_directory = str(tmp_path / "pod-logs")
    # The corpus sets the cgroup parent /wire-corpus/...; keep hostcri's default instead, so
    # that the test leaves no cgroup outside hostcri's own tree.
    run.config.linux.cgroup_parent = ""
    sandbox_id = rt.runtime("RunPodSandbox", run).pod_sandbox_id
    runtime.sandboxes.append((sandbox_id, run.config))

    create = load(api, "029-CreateContainer.request.bin", "CreateContainerRequest")
    create.pod_sandbox_id = sandbox_id
    create.config.image.image = images["busybox:1.0"]
    create.sandbox_config.CopyFrom(run.config)
    for mount in create.config.mounts:
        mount.host_path = str(tmp_path / os.path.basename(mount.host_path))
        os.makedirs(mount.host_path, exist_ok=True)
    container_id = rt.runtime("CreateContainer", create).container_id
    runtime.start(container_id)

    runtime.wait_log(container_id, "started as 1000:1000 in /tmp")
    status = runtime.status(container_id).status
    assert status.state == api.CONTAINER_RUNNING
    assert status.metadata.attempt == 2
    assert status.log_path == str(tmp_path / "pod-logs" / "wire-ctr" / "2.log")
    assert status.resources.linux.memory_limit_in_bytes == 134217728

    runtime.stop(container_id, 10)
    runtime.wait_log(container_id, "got TERM")
    status = runtime.status(container_id).status
    assert status.exit_code == 0
    assert status.reason == "Completed"
