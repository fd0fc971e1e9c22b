"""Out-of-memory kills: a container whose job passes its memory limit is reported OOMKilled.

On this kind of host the memory limit is the v1 memory controller's memory.limit_in_bytes, and
the kill is counted in that cgroup's memory.oom_control (oom_kill)."""

from runtime_helpers import pid_alive, wait_for
from test_runtime_restart import shut_down
from test_runtime_restart_many import restart_after

LIMIT = 32 * 1024 * 1024
# The shell keeps the whole output of the command substitution in memory, so it grows without
# bound until the kernel kills it.
GROW = "x=$(head -c 1073741824 /dev/zero | tr '\\0' a); echo survived"


def run_limited(api, rt, runtime, images, sandbox_id, name, script, limit=LIMIT):
    config = runtime.container_config(name, images["busybox:1.0"], command=["sh", "-c", script])
    config.linux.resources.memory_limit_in_bytes = limit
    container_id = rt.runtime("CreateContainer", pod_sandbox_id=sandbox_id, config=config,
                              sandbox_config=runtime.config_of(sandbox_id)).container_id
    runtime.start(container_id)
    return container_id


def read_limit(cgroup):
    with open(f"/sys/fs/cgroup/memory/{cgroup.strip('/')}/memory.limit_in_bytes") as f:
        return int(f.read())


def test_oom_killed_init_reported(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="oominit")
    container_id = run_limited(api, rt, runtime, images, sandbox_id, "grow",
                               f"echo started; {GROW}")
    status = runtime.wait_exited(container_id, timeout=60)
    assert status.reason == "OOMKilled"
    assert status.exit_code == 137
    assert status.finished_at >= status.started_at
    assert runtime.log(container_id) == ["started"]
    assert runtime.status(container_id).status.resources.linux.memory_limit_in_bytes == LIMIT


def memory_cgroup_of(pid):
    with open(f"/proc/{pid}/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if "memory" in controllers.split(","):
                return path
    return None


def test_oom_limit_in_v1_cgroup(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="oomlimit")
    container_id = run_limited(api, rt, runtime, images, sandbox_id, "idle", "sleep 1000")
    cgroup = runtime.info(container_id)["cgroup"]
    assert read_limit(cgroup) == LIMIT
    pid = runtime.info(container_id)["pid"]
    assert memory_cgroup_of(pid) == "/" + cgroup.strip("/")
    # The monitor stays outside the limit, so the OOM killer never picks it.
    with open(f"/proc/{pid}/stat") as f:
        monitor = int(f.read().rsplit(")", 1)[1].split()[1])
    assert memory_cgroup_of(monitor) != memory_cgroup_of(pid)


def test_oom_killed_child_reported(api, rt, runtime, images):
    """A child killed for memory makes the container OOMKilled even though init itself exits
    with a code of its own."""
    sandbox_id = runtime.run_pod(name="oomchild")
    script = "sh -c 'x=$(head -c 1073741824 /dev/zero | tr \"\\0\" a)'; echo child=$?; exit 3"
    container_id = run_limited(api, rt, runtime, images, sandbox_id, "child", script)
    status = runtime.wait_exited(container_id, timeout=60)
    assert "child=137" in runtime.log(container_id)
    assert status.exit_code == 3
    assert status.reason == "OOMKilled"


def test_no_oom_not_reported(api, rt, runtime, images):
    """A container under its limit and a plain SIGKILL keep their usual reasons."""
    sandbox_id = runtime.run_pod(name="oomnone")
    fits = run_limited(api, rt, runtime, images, sandbox_id, "fits",
                       "x=$(head -c 1048576 /dev/zero | tr '\\0' a); echo ${#x}")
    killed = run_limited(api, rt, runtime, images, sandbox_id, "killed", "kill -9 $$")
    status = runtime.wait_exited(fits, timeout=60)
    assert runtime.log(fits) == ["1048576"]
    assert status.exit_code == 0
    assert status.reason == "Completed"
    status = runtime.wait_exited(killed, timeout=60)
    assert status.exit_code == 137
    assert status.reason == "Error"


def test_oom_while_daemon_down(api, runtime, images, hostcri, tmp_path, registry):
    """The monitor records the OOM kill in its exit file, so a restarted daemon reports it."""
    gate = tmp_path / "gate"
    gate.mkdir()
    sandbox_id = runtime.run_pod(name="oomdown")
    script = f"while [ ! -e /mnt/gate/go ]; do sleep 0.05; done; {GROW}"
    config = runtime.container_config("grow", images["busybox:1.0"],
                                      command=["sh", "-c", script],
                                      mounts=[api.Mount(container_path="/mnt/gate",
                                                        host_path=str(gate))])
    config.linux.resources.memory_limit_in_bytes = LIMIT
    container_id = runtime.cri.runtime("CreateContainer", pod_sandbox_id=sandbox_id,
                                       config=config,
                                       sandbox_config=runtime.config_of(sandbox_id)).container_id
    runtime.start(container_id)
    pid = runtime.info(container_id)["pid"]

    def down_phase():
        (gate / "go").write_text("")
        wait_for(lambda: not pid_alive(pid), timeout=60, what="the container to be OOM-killed")

    _, instance, channel = restart_after(api, runtime, hostcri, tmp_path, registry, down_phase)
    try:
        status = runtime.wait_exited(container_id, timeout=60)
        assert status.reason == "OOMKilled"
        assert status.exit_code == 137
    finally:
        shut_down(runtime, instance, channel)
