"""Restart recovery with 20 containers: the daemon is killed with SIGKILL while they run, some
exit while it is down, and the restarted daemon reports each one's true state."""

import os
import signal
import time

from runtime_helpers import pid_alive, read_log, wait_for
from test_runtime_restart import kill_daemon, restart, shut_down

COUNTERS = 10
# Prints a counter every 50 ms.
COUNT = "i=0; while :; do echo $i; i=$((i+1)); sleep 0.05; done"
GATE_DIR = "/mnt/hostcri-test/restart-gate"


def wait_for_gate(name, code):
    return f"while [ ! -e {GATE_DIR}/{name} ]; do sleep 0.05; done; exit {code}"


def parent_pid(pid):
    with open(f"/proc/{pid}/stat") as f:
        return int(f.read().rsplit(")", 1)[1].split()[1])


def counted(path):
    """Returns the numbers in a counter's log file, in log order."""
    return [int(line) for line in read_log(path)]


def assert_no_gap(numbers, name):
    assert numbers, f"{name}: no output"
    missing = sorted(set(range(numbers[-1] + 1)) - set(numbers))
    assert missing == [], f"{name}: numbers missing from the log: {missing[:20]}"
    assert numbers == list(range(numbers[-1] + 1)), f"{name}: numbers repeated or out of order"


def restart_after(api, runtime, hostcri, tmp_path, registry, down_phase):
    """Kills the daemon, runs down_phase and restarts the daemon. When down_phase fails, the
    daemon is restarted all the same and the pods are removed, so no container outlives the test.
    Returns what down_phase returned, the new daemon and its channel."""
    kill_daemon(hostcri)
    try:
        result = down_phase()
    except BaseException:
        instance, channel = restart(api, runtime, tmp_path, registry)
        shut_down(runtime, instance, channel)
        raise
    instance, channel = restart(api, runtime, tmp_path, registry)
    return result, instance, channel


def test_restart_with_twenty_containers(api, runtime, images, hostcri, tmp_path, registry):
    gate = tmp_path / "gate"
    gate.mkdir()
    busybox = images["busybox:1.0"]
    gate_mount = [api.Mount(container_path=GATE_DIR, host_path=str(gate))]
    sandbox_id = runtime.run_pod(name="restartmany")

    def start(name, script):
        return runtime.run(sandbox_id, name, busybox, command=["sh", "-c", script],
                           mounts=gate_mount)

    counters = {f"count{k}": start(f"count{k}", COUNT) for k in range(COUNTERS)}
    exited_before = {f"before{k}": (start(f"before{k}", wait_for_gate(f"before{k}", 10 + k)),
                                    10 + k) for k in range(4)}
    exit_while_down = {f"down{k}": (start(f"down{k}", wait_for_gate(f"down{k}", 20 + k)), 20 + k)
                       for k in range(4)}
    killed_while_down = start("killed", wait_for_gate("never", 1))
    exit_after = start("after", wait_for_gate("after", 30))
    assert len(counters) + len(exited_before) + len(exit_while_down) + 2 == 20

    for name, (container_id, _) in exited_before.items():
        (gate / name).write_text("")
    before = {}
    for name, (container_id, code) in exited_before.items():
        status = runtime.wait_exited(container_id)
        assert status.exit_code == code
        before[container_id] = status
    for name, container_id in counters.items():
        runtime.wait_log(container_id, "3")

    # The containers that exit while the daemon is down. The test waits for their init processes
    # and their monitors to end before it restarts the daemon.
    down_ids = [container_id for container_id, _ in exit_while_down.values()]
    down_ids.append(killed_while_down)
    started = {container_id: runtime.status(container_id).status.started_at
               for container_id in down_ids + list(counters.values()) + [exit_after]}
    pids = {container_id: runtime.info(container_id)["pid"]
            for container_id in down_ids + list(counters.values()) + [exit_after]}
    monitors = {container_id: parent_pid(pids[container_id]) for container_id in down_ids}
    logs = {container_id: runtime.status(container_id).status.log_path
            for container_id in counters.values()}

    for container_id in down_ids:
        with open(f"/proc/{monitors[container_id]}/comm") as f:
            assert f.read().strip() == "hostcri-monitor"

    def down_phase():
        at_kill = {container_id: counted(logs[container_id])[-1]
                   for container_id in counters.values()}
        opened_at = time.time_ns()
        for name in exit_while_down:
            (gate / name).write_text("")
        os.kill(pids[killed_while_down], signal.SIGKILL)
        for container_id in down_ids:
            wait_for(lambda: not pid_alive(pids[container_id]) and
                     not pid_alive(monitors[container_id]),
                     what=f"container {container_id} and its monitor to end while hostcri is down")
        ended_by = time.time_ns()
        # The counters keep writing while the daemon is down.
        for container_id in counters.values():
            wait_for(lambda: counted(logs[container_id])[-1] >= at_kill[container_id] + 5,
                     what=f"container {container_id} to count while hostcri is down")
        last = {container_id: counted(logs[container_id])[-1]
                for container_id in counters.values()}
        return opened_at, ended_by, last

    (opened_at, ended_by, while_down), instance, channel = restart_after(
        api, runtime, hostcri, tmp_path, registry, down_phase)
    try:
        listed = {c.id: c for c in runtime.cri.runtime("ListContainers").containers}
        assert len(listed) == 20
        for container_id in counters.values():
            assert listed[container_id].state == api.CONTAINER_RUNNING
        for container_id in down_ids + [c for c, _ in exited_before.values()]:
            assert listed[container_id].state == api.CONTAINER_EXITED
        assert listed[exit_after].state == api.CONTAINER_RUNNING

        for container_id, old in before.items():
            status = runtime.status(container_id).status
            assert status.exit_code == old.exit_code
            assert status.reason == "Error"
            assert status.started_at == old.started_at
            assert status.finished_at == old.finished_at

        for name, (container_id, code) in exit_while_down.items():
            status = runtime.status(container_id).status
            assert status.state == api.CONTAINER_EXITED, name
            assert status.exit_code == code, name
            assert status.reason == "Error", name
            assert status.started_at == started[container_id], name
            # The real finish time: after the gate opened and before the exit was seen, not the
            # time of the restart.
            assert opened_at <= status.finished_at <= ended_by, name

        status = runtime.status(killed_while_down).status
        assert status.state == api.CONTAINER_EXITED
        assert status.exit_code == 128 + signal.SIGKILL
        assert status.reason == "Error"
        assert opened_at <= status.finished_at <= ended_by

        for name, container_id in counters.items():
            status = runtime.status(container_id).status
            assert status.state == api.CONTAINER_RUNNING, name
            assert status.started_at == started[container_id], name
            assert runtime.info(container_id)["pid"] == pids[container_id], name
        # Numbers printed after the restart follow those printed before it without a gap.
        for name, container_id in counters.items():
            target = while_down[container_id] + 10
            wait_for(lambda: counted(logs[container_id])[-1] >= target,
                     what=f"{name} to count past {target}")
            assert_no_gap(counted(logs[container_id]), name)

        # The restarted daemon still controls the containers it found.
        (gate / "after").write_text("")
        status = runtime.wait_exited(exit_after)
        assert status.exit_code == 30
        assert status.started_at == started[exit_after]
        stopped = counters["count0"]
        runtime.stop(stopped, 10)
        status = runtime.status(stopped).status
        assert status.exit_code == 128 + signal.SIGTERM
        assert not pid_alive(pids[stopped])
        assert_no_gap(counted(logs[stopped]), "count0")
    finally:
        shut_down(runtime, instance, channel)


def test_restart_then_log_rotation(api, rt, runtime, images, hostcri, tmp_path, registry):
    """ReopenContainerLog after a restart reaches the monitor, and the rotated file and the new
    one together contain every number."""
    sandbox_id = runtime.run_pod(name="restartrotate")
    container_id = runtime.run(sandbox_id, "count", images["busybox:1.0"],
                               command=["sh", "-c", COUNT])
    runtime.wait_log(container_id, "3")
    path = runtime.status(container_id).status.log_path

    kill_daemon(hostcri)
    instance, channel = restart(api, runtime, tmp_path, registry)
    try:
        os.rename(path, path + ".1")
        runtime.cri.runtime("ReopenContainerLog", container_id=container_id)
        wait_for(lambda: len(read_log(path)) >= 10, what="output in the reopened log")
        numbers = [int(line) for line in read_log(path + ".1") + read_log(path)]
        assert_no_gap(numbers, "count")
    finally:
        shut_down(runtime, instance, channel)


def start_with_child(api, runtime, images, tmp_path, name):
    """Starts a container whose init has a child; returns its id, init pid, child pid and
    monitor pid."""
    shared = tmp_path / f"shared-{name}"
    shared.mkdir()
    sandbox_id = runtime.run_pod(name=name)
    script = "sleep 1000 & echo $! > /mnt/hostcri-test/lost/child; exec sleep 1000"
    container_id = runtime.run(sandbox_id, "c", images["busybox:1.0"],
                               command=["sh", "-c", script],
                               mounts=[api.Mount(container_path="/mnt/hostcri-test/lost",
                                                 host_path=str(shared))])
    child_file = shared / "child"
    wait_for(lambda: child_file.exists() and child_file.read_text().strip(),
             what="the child's pid")
    pid = runtime.info(container_id)["pid"]
    return container_id, pid, int(child_file.read_text()), parent_pid(pid)


def test_lost_monitor_kills_job(api, runtime, images, tmp_path):
    """A container whose monitor is killed is reported exited with reason Unknown, and no
    process of it keeps running unwatched."""
    container_id, pid, child, monitor = start_with_child(api, runtime, images, tmp_path,
                                                         "lostmonitor")
    os.kill(monitor, signal.SIGKILL)
    status = runtime.wait_exited(container_id)
    assert status.reason == "Unknown"
    assert status.exit_code == 255
    assert "monitor" in status.message
    wait_for(lambda: not pid_alive(pid) and not pid_alive(child), timeout=10,
             what="the processes of the container to be killed")


def test_monitor_lost_while_down_kills_job(api, runtime, images, hostcri, tmp_path, registry):
    container_id, pid, child, monitor = start_with_child(api, runtime, images, tmp_path,
                                                         "lostwhiledown")
    def down_phase():
        os.kill(monitor, signal.SIGKILL)
        wait_for(lambda: not pid_alive(monitor), what="the monitor to end")

    _, instance, channel = restart_after(api, runtime, hostcri, tmp_path, registry, down_phase)
    try:
        status = runtime.wait_exited(container_id)
        assert status.reason == "Unknown"
        wait_for(lambda: not pid_alive(pid) and not pid_alive(child), timeout=10,
                 what="the processes of the container to be killed")
    finally:
        shut_down(runtime, instance, channel)
