"""StopContainer: stop signals, grace periods, kills and escaped children."""

import os
import threading

from runtime_helpers import pid_alive, wait_for

IGNORE_TERM = "trap '' TERM; echo ready; while true; do sleep 0.1; done"


def start_ignoring_term(runtime, images, name):
    sandbox_id = runtime.run_pod(name=name)
    container_id = runtime.run(sandbox_id, "stubborn", images["busybox:1.0"],
                               command=["sh", "-c", IGNORE_TERM])
    runtime.wait_log(container_id, "ready")
    return container_id


def test_stop_timeout_zero_kills(api, runtime, images):
    container_id = start_ignoring_term(runtime, images, "stop0")
    runtime.stop(container_id, 0)
    status = runtime.status(container_id).status
    assert status.state == api.CONTAINER_EXITED
    assert status.exit_code == 137
    assert status.reason == "Error"


def test_stop_timeout_kills_after_grace(api, runtime, images):
    container_id = start_ignoring_term(runtime, images, "stop2")
    runtime.stop(container_id, 2)
    status = runtime.status(container_id).status
    assert status.state == api.CONTAINER_EXITED
    assert status.exit_code == 137


def test_stop_honoured_signal(api, runtime, images):
    sandbox_id = runtime.run_pod(name="graceful")
    container_id = runtime.run(sandbox_id, "graceful", images["busybox:1.0"],
                               command=["sh", "-c", "trap 'exit 0' TERM; echo ready; "
                                        "while true; do sleep 0.1; done"])
    runtime.wait_log(container_id, "ready")
    runtime.stop(container_id, 30)
    status = runtime.status(container_id).status
    assert status.exit_code == 0
    assert status.reason == "Completed"


def test_second_stop_does_not_wait_for_first(api, runtime, images):
    container_id = start_ignoring_term(runtime, images, "stoptwice")
    first = threading.Thread(target=runtime.stop, args=(container_id, 120))
    first.start()
    wait_for(lambda: runtime.state(container_id) == api.CONTAINER_RUNNING)
    runtime.stop(container_id, 0)
    first.join(timeout=60)
    assert not first.is_alive()
    assert runtime.status(container_id).status.exit_code == 137


def test_stop_exited_container_succeeds(api, runtime, images):
    sandbox_id = runtime.run_pod(name="stopdone")
    container_id = runtime.run(sandbox_id, "c", images["busybox:1.0"], command=["true"])
    runtime.wait_exited(container_id)
    runtime.stop(container_id, 10)
    assert runtime.status(container_id).status.exit_code == 0


def test_double_forked_child_killed(api, runtime, images, tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    script = ("(setsid sh -c 'sleep 1000 & echo $! > /mnt/shared/grandchild' &); "
              "echo ready; exec sleep 1000")
    sandbox_id = runtime.run_pod(name="fork")
    container_id = runtime.run(sandbox_id, "fork", images["busybox:1.0"],
                               command=["sh", "-c", script],
                               mounts=[api.Mount(container_path="/mnt/shared",
                                                 host_path=str(shared))])
    pid_file = shared / "grandchild"
    wait_for(lambda: pid_file.exists() and pid_file.read_text().strip(),
             what="the grandchild's pid")
    pid = int(pid_file.read_text())
    assert pid_alive(pid)
    runtime.stop(container_id, 0)
    wait_for(lambda: not pid_alive(pid), timeout=10, what=f"pid {pid} to end")


def test_remove_running_container_kills_it(api, rt, runtime, images):
    sandbox_id = runtime.run_pod(name="rmrunning")
    container_id = runtime.run(sandbox_id, "c", images["busybox:1.0"], command=["sleep", "1000"])
    pid = runtime.info(container_id)["pid"]
    rt.runtime("RemoveContainer", container_id=container_id)
    wait_for(lambda: not pid_alive(pid), timeout=10, what=f"pid {pid} to end")
    assert not os.path.exists(f"/proc/{pid}") or not pid_alive(pid)
