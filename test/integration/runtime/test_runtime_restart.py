"""Restart recovery: the daemon is killed with SIGKILL while containers run, and restarted."""

import glob
import json
import os
import signal

from conftest import RuntimeDaemon
import grpc

from cri_client import CriClient
from runtime_helpers import pid_alive, wait_for


def kill_daemon(instance):
    instance.process.kill()
    instance.process.wait()


def restart(api, runtime, tmp_path, registry, state_dir=None):
    """Starts a new daemon on the same root (and state, unless state_dir is given) and points
    runtime at it. Returns the daemon and its channel."""
    instance = RuntimeDaemon(tmp_path, registry)
    if state_dir:
        instance.state = state_dir
    instance.start()
    # A channel of its own subchannels: grpc shares them between channels to the same target,
    # and the shared one still points at the killed daemon's connection.
    channel = grpc.insecure_channel(f"unix://{instance.socket_path}",
                                    options=[("grpc.use_local_subchannel_pool", 1)])
    runtime.cri = CriClient(api, channel)
    return instance, channel


def shut_down(runtime, instance, channel):
    runtime.remove_all()
    channel.close()
    assert instance.stop() == 0, instance.log()


def test_restart_recovers_running_and_exited(api, runtime, images, hostcri, tmp_path, registry):
    gate = tmp_path / "gate"
    gate.mkdir()
    busybox = images["busybox:1.0"]
    sandbox_id = runtime.run_pod(name="restart")
    running = runtime.run(sandbox_id, "running", busybox, command=["sleep", "1000"])
    exited = runtime.run(sandbox_id, "exited", busybox, command=["sh", "-c", "exit 3"])
    runtime.wait_exited(exited)
    later = runtime.run(sandbox_id, "later", busybox,
                        command=["sh", "-c", "while [ ! -e /mnt/gate/go ]; do sleep 0.05; done; "
                                 "exit 7"],
                        mounts=[api.Mount(container_path="/mnt/gate", host_path=str(gate))])
    running_pid = runtime.info(running)["pid"]
    later_pid = runtime.info(later)["pid"]
    started_later = runtime.status(later).status.started_at

    kill_daemon(hostcri)
    (gate / "go").write_text("")
    wait_for(lambda: not pid_alive(later_pid), what="the container to exit while hostcri is down")

    instance, channel = restart(api, runtime, tmp_path, registry)
    try:
        status = runtime.status(running).status
        assert status.state == api.CONTAINER_RUNNING
        assert runtime.info(running)["pid"] == running_pid

        status = runtime.status(exited).status
        assert status.state == api.CONTAINER_EXITED
        assert status.exit_code == 3

        # The monitor may still be finishing its exit report when the daemon comes back; the
        # reconnected container then exits through the usual exit path.
        status = runtime.wait_exited(later)
        assert status.exit_code == 7
        assert status.reason == "Error"
        assert status.finished_at >= started_later

        assert runtime.pod_status(sandbox_id).status.state == api.SANDBOX_READY
        runtime.stop(running, 10)
        status = runtime.status(running).status
        assert status.state == api.CONTAINER_EXITED
        assert status.exit_code == 128 + signal.SIGTERM
        assert not pid_alive(running_pid)
    finally:
        shut_down(runtime, instance, channel)


def remove_cgroups(paths):
    """Removes the empty cgroup directories that a simulated reboot leaves behind (a real reboot
    loses them), deepest first, in every hierarchy."""
    for path in paths:
        for hierarchy in glob.glob("/sys/fs/cgroup/*/"):
            directory = os.path.join(hierarchy, path.strip("/"))
            if os.path.isdir(directory):
                os.rmdir(directory)


def test_restart_after_reboot_marks_unknown(api, runtime, images, hostcri, tmp_path, registry):
    """A reboot loses the state directory and every process: such containers are EXITED with
    reason Unknown."""
    sandbox_id = runtime.run_pod(name="reboot")
    container_id = runtime.run(sandbox_id, "c", images["busybox:1.0"], command=["sleep", "1000"])
    pid = runtime.info(container_id)["pid"]
    cgroups = [runtime.info(container_id)["cgroup"],
               json.loads(runtime.pod_status(sandbox_id, verbose=True).info["info"])["cgroup"]]

    kill_daemon(hostcri)
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not pid_alive(pid), what="the container's process to end")

    instance, channel = restart(api, runtime, tmp_path, registry,
                                state_dir=str(tmp_path / "state-after-reboot"))
    try:
        status = runtime.status(container_id).status
        assert status.state == api.CONTAINER_EXITED
        assert status.reason == "Unknown"
        assert status.finished_at > 0
        assert runtime.pod_status(sandbox_id).status.state == api.SANDBOX_READY
    finally:
        shut_down(runtime, instance, channel)
        remove_cgroups(cgroups)


def test_restart_keeps_created_container_startable(api, runtime, images, hostcri, tmp_path,
                                                    registry):
    sandbox_id = runtime.run_pod(name="created")
    container_id = runtime.create(sandbox_id, "c", images["busybox:1.0"], command=["echo", "hi"])

    kill_daemon(hostcri)
    instance, channel = restart(api, runtime, tmp_path, registry)
    try:
        assert runtime.state(container_id) == api.CONTAINER_CREATED
        runtime.start(container_id)
        status = runtime.wait_exited(container_id)
        assert status.exit_code == 0
        assert runtime.log(container_id) == ["hi"]
    finally:
        shut_down(runtime, instance, channel)


def test_damaged_store_set_aside(api, runtime, images, hostcri, tmp_path, registry):
    """A damaged runtime.db does not keep the daemon down: it is set aside, and the containers
    it listed, now unknown, are killed."""
    sandbox_id = runtime.run_pod(name="damaged")
    container_id = runtime.run(sandbox_id, "c", images["busybox:1.0"], command=["sleep", "1000"])
    pid = runtime.info(container_id)["pid"]
    container_cgroup = runtime.info(container_id)["cgroup"]
    pod_cgroup = json.loads(runtime.pod_status(sandbox_id, verbose=True).info["info"])["cgroup"]

    kill_daemon(hostcri)
    database = os.path.join(hostcri.root, "runtime.db")
    for suffix in ("-wal", "-shm"):
        if os.path.exists(database + suffix):
            os.remove(database + suffix)
    with open(database, "wb") as f:
        f.write(b"not a database " * 512)

    instance, channel = restart(api, runtime, tmp_path, registry)
    try:
        assert list(runtime.cri.runtime("ListPodSandbox").items) == []
        assert glob.glob(database + ".corrupt-*")
        wait_for(lambda: not pid_alive(pid), what="the unknown container to be killed")
        wait_for(lambda: not glob.glob(f"/sys/fs/cgroup/*/{container_cgroup.strip('/')}"),
                 what="the unknown container's job to be removed")
    finally:
        runtime.sandboxes = []
        shut_down(runtime, instance, channel)
        remove_cgroups([pod_cgroup])
